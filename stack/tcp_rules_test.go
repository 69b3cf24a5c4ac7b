package stack

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/tcp/isn"
	"github.com/ustack/ustack/stack/tcp/seq"
)

// Tests of TCP below the interface, one per state transition and RFC rule:
// segments built by gopacket go in, the segments that come out are checked
// field by field, at explicit virtual instants. The helpers here serve the
// tcp_*_rules_test.go files.

var peerAddr80 = netip.MustParseAddrPort("10.0.0.9:80")

// newRuleHarness is newTCPHarness with the peer's ARP entry kept reachable
// for a day, so tests that run for minutes of virtual time need not answer
// ARP probes.
func newRuleHarness(t *testing.T, mbuf bool, cfg Config) *harness {
	if cfg.ARP.Reachable == 0 {
		cfg.ARP.Reachable = 24 * time.Hour
	}
	return newTCPHarness(t, mbuf, cfg)
}

// sendW sends a segment with an explicit window field.
func (p *tcpPeer) sendW(flags string, wnd uint16, payload []byte, opts ...layers.TCPOption) {
	tcp := &layers.TCP{SrcPort: p.port, DstPort: p.lport, Seq: p.seq, Ack: p.ack, Window: wnd, Options: opts}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		case 'P':
			tcp.PSH = true
		}
	}
	ip := ip4(peerIP, ourIP, layers.IPProtocolTCP)
	tcp.SetNetworkLayerForChecksum(ip)
	p.h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(payload))
}

// sendData sends payload at p.seq with ACK (and flags), and moves p.seq on.
func (p *tcpPeer) sendData(flags string, payload []byte, opts ...layers.TCPOption) {
	p.send(flags, payload, opts...)
	p.seq += uint32(len(payload))
}

// one returns the single segment sent since the last call, or fails.
func (p *tcpPeer) one(t *testing.T, msg string) *layers.TCP {
	t.Helper()
	out := p.segs()
	require.Len(t, out, 1, msg)
	return out[0]
}

// flagsOf spells a segment's flags in the order S, F, R, P, A.
func flagsOf(s *layers.TCP) string {
	f := ""
	for _, x := range []struct {
		on bool
		c  string
	}{{s.SYN, "S"}, {s.FIN, "F"}, {s.RST, "R"}, {s.PSH, "P"}, {s.ACK, "A"}} {
		if x.on {
			f += x.c
		}
	}
	return f
}

// assertSeg asserts a segment's flags, sequence and acknowledgment numbers.
func assertSeg(t *testing.T, s *layers.TCP, flags string, sq, ack uint32, msg string) {
	t.Helper()
	assert.Equal(t, flags, flagsOf(s), "%s: flags", msg)
	assert.Equal(t, sq, s.Seq, "%s: seq", msg)
	assert.Equal(t, ack, s.Ack, "%s: ack", msg)
}

func wsOpt(shift uint8) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{shift}}
}

func sackPermOpt() layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}
}

func tsOpt(val, ecr uint32) layers.TCPOption {
	d := binary.BigEndian.AppendUint32(nil, val)
	d = binary.BigEndian.AppendUint32(d, ecr)
	return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d}
}

// sackOpt builds a SACK option from [left, right) pairs.
func sackOpt(edges ...uint32) layers.TCPOption {
	var d []byte
	for _, e := range edges {
		d = binary.BigEndian.AppendUint32(d, e)
	}
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(d)), OptionData: d}
}

// tsOf returns a segment's TSval and TSecr; ok is false without the option.
func tsOf(s *layers.TCP) (val, ecr uint32, ok bool) {
	d := optOf(s, layers.TCPOptionKindTimestamps)
	if len(d) != 8 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]), true
}

// sackOf returns a segment's SACK blocks as [left, right) pairs.
func sackOf(s *layers.TCP) [][2]uint32 {
	d := optOf(s, layers.TCPOptionKindSACK)
	var r [][2]uint32
	for i := 0; i+8 <= len(d); i += 8 {
		r = append(r, [2]uint32{binary.BigEndian.Uint32(d[i:]), binary.BigEndian.Uint32(d[i+4:])})
	}
	return r
}

func hasOpt(s *layers.TCP, kind layers.TCPOptionKind) bool {
	for _, o := range s.Options {
		if o.OptionType == kind {
			return true
		}
	}
	return false
}

// listen80 opens a listener on :80 closed at the end of the test.
func listen80(t *testing.T, h *harness, backlog int) *tcpListener {
	ln, err := h.s.ListenBacklog("tcp", ":80", backlog)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.(*tcpListener)
}

// handshake completes a passive open from the peer's port with the given
// SYN options and returns the peer, its SYN-ACK and the accepted socket
// (nil when the accept queue did not get it).
func handshake(t *testing.T, h *harness, ln *tcpListener, port layers.TCPPort, opts ...layers.TCPOption) (*tcpPeer, *layers.TCP, *tcpSock) {
	t.Helper()
	p := &tcpPeer{h: h, port: port, lport: 80, seq: peerISN}
	p.send("S", nil, opts...)
	sa := p.one(t, "SYN-ACK")
	require.Equal(t, "SA", flagsOf(sa))
	require.Equal(t, uint32(peerISN+1), sa.Ack)
	p.seq, p.ack = peerISN+1, sa.Seq+1
	var ackOpts []layers.TCPOption
	if _, _, ok := tsOf(sa); ok {
		ackOpts = append(ackOpts, tsOpt(peerTS, mustTS(t, sa)))
	}
	p.send("A", nil, ackOpts...)
	assert.Empty(t, p.segs())
	return p, sa, tryAccept(ln)
}

// peerTS is the TSval the peer sends unless a test says otherwise.
const peerTS = 5000

func mustTS(t *testing.T, s *layers.TCP) uint32 {
	t.Helper()
	v, _, ok := tsOf(s)
	require.True(t, ok, "timestamps option")
	return v
}

// openActive dials the peer at 10.0.0.9:80 at time 0 and completes the
// handshake with a SYN-ACK carrying opts at time rtt; it returns the peer,
// our SYN and the socket.
func openActive(t *testing.T, h *harness, rtt time.Duration, opts ...layers.TCPOption) (*tcpPeer, *layers.TCP, *tcpSock) {
	t.Helper()
	s := dialManual(t, h.s, peerAddr80)
	h.poll()
	p := &tcpPeer{h: h, port: 80, lport: layers.TCPPort(s.laddr.Port()), seq: peerISN}
	syn := p.one(t, "SYN")
	require.Equal(t, "S", flagsOf(syn))
	p.ack = syn.Seq + 1
	h.at(rtt)
	p.send("SA", nil, opts...)
	p.seq++
	a := p.one(t, "ACK of the SYN-ACK")
	assertSeg(t, a, "A", syn.Seq+1, peerISN+1, "handshake ACK")
	require.Equal(t, stateEstablished, tcpState(s.c.shState.Load()))
	return p, syn, s
}

// ringLen is what a ring holds; a ring not made yet holds nothing.
func ringLen(r *ring.Bytes) int {
	if r == nil {
		return 0
	}
	return r.Len()
}

// readNow reads what the socket has without blocking, or fails if a Read
// would block.
func readNow(t *testing.T, s *tcpSock, n int) ([]byte, error) {
	t.Helper()
	if ringLen(s.c.rcvBuf.Load()) == 0 && s.c.shErr.Load() == 0 && !s.c.shRcvFin.Load() &&
		tcpState(s.c.shState.Load()) != stateClosed && !s.closed.Load() {
		t.Fatal("a Read would block")
	}
	b := make([]byte, n)
	got, err := s.Read(b)
	return b[:got], err
}

func writeNow(t *testing.T, h *harness, s net.Conn, b []byte) {
	t.Helper()
	n, err := s.Write(b)
	require.NoError(t, err)
	require.Equal(t, len(b), n)
	h.poll()
}

// connTo returns the stack's view of the connection to the peer's port, or
// false when there is none.
func connTo(h *harness, port layers.TCPPort) (TCPInfo, bool) {
	for _, in := range h.s.Connections() {
		if in.Remote.Port() == uint16(port) {
			return in, true
		}
	}
	return TCPInfo{}, false
}

func stateOf(h *harness, port layers.TCPPort) string {
	if in, ok := connTo(h, port); ok {
		return in.State
	}
	return "none"
}

func infoOf(t *testing.T, s *tcpSock) TCPInfo {
	t.Helper()
	in, err := s.Info()
	require.NoError(t, err)
	return in
}

func bytesOf(n int, c byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c + byte(i%26)
	}
	return b
}

// assertErrno asserts that err is an *net.OpError wrapping e.
func assertErrno(t *testing.T, err error, e syscall.Errno) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, e)
	var oe *net.OpError
	assert.True(t, errors.As(err, &oe), "a *net.OpError: %v", err)
}

// RFC 9293 §3.10.1 and §3.7.1, RFC 7323, RFC 2018: our SYN announces the MSS
// of the route (MTU 1500 - 40), a window scale for a 256 KiB buffer, SACK
// and timestamps, and its window field is not scaled (RFC 7323 §2.2). It
// is resent at 1 s and doubling intervals (RFC 6298 §5.5), SynRetries (6)
// times, and the connection fails with ETIMEDOUT 127 s after the first.
func TestTCPRuleActiveOpenSynOptionsAndRetransmission(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		s := dialManual(t, h.s, peerAddr80)
		h.poll()
		p := &tcpPeer{h: h, port: 80, lport: layers.TCPPort(s.laddr.Port())}
		syn := p.one(t, "SYN")
		assertSeg(t, syn, "S", syn.Seq, 0, "SYN")
		assert.Equal(t, []byte{0x05, 0xb4}, optOf(syn, layers.TCPOptionKindMSS), "MSS 1460")
		assert.Equal(t, []byte{7}, optOf(syn, layers.TCPOptionKindWindowScale), "65535<<7 covers the 4 MiB the buffer may grow to")
		assert.True(t, hasOpt(syn, layers.TCPOptionKindSACKPermitted))
		ts0, ecr, ok := tsOf(syn)
		require.True(t, ok)
		assert.Zero(t, ecr, "TSecr of a SYN is zero (RFC 7323 §3.2)")
		assert.Equal(t, uint16(65535), syn.Window, "a SYN's window is never scaled (RFC 7323 §2.2)")
		iss := syn.Seq

		prev := time.Duration(0)
		for i, at := range []time.Duration{1, 3, 7, 15, 31, 63} {
			at *= time.Second
			h.at(at - 1)
			assert.Empty(t, p.segs(), "retransmission %d not before %v", i+1, at)
			h.at(at)
			r := p.one(t, "retransmitted SYN")
			assertSeg(t, r, "S", iss, 0, "retransmitted SYN")
			v, _, _ := tsOf(r)
			assert.Equal(t, ts0+uint32(at/time.Millisecond), v, "TSval is our clock in ms")
			assert.Equal(t, stateSynSent, tcpState(s.c.shState.Load()))
			prev = at
		}
		h.at(prev + 64*time.Second - 1)
		assert.Empty(t, p.segs())
		assert.Zero(t, s.c.shErr.Load())
		h.at(prev + 64*time.Second)
		assert.Empty(t, p.segs(), "no seventh retransmission")
		_, err := readNow(t, s, 10)
		assertErrno(t, err, syscall.ETIMEDOUT)
		assert.Equal(t, uint64(1), h.s.Counters().TCP.AttemptFails)
		assert.Empty(t, h.s.Connections())
	})
}

// RFC 9293 §3.10.7.3: in SYN-SENT a SYN-ACK acknowledging something we did
// not send gets <SEQ=SEG.ACK><CTL=RST> and is otherwise ignored; the right
// SYN-ACK still completes the handshake.
func TestTCPRuleSynAckWithBadAckGetsRST(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		s := dialManual(t, h.s, peerAddr80)
		h.poll()
		p := &tcpPeer{h: h, port: 80, lport: layers.TCPPort(s.laddr.Port()), seq: peerISN}
		iss := p.one(t, "SYN").Seq
		for _, bad := range []uint32{iss + 2, iss, iss - 1000} {
			p.ack = bad
			p.send("SA", nil, mssOpt(1460))
			assertSeg(t, p.one(t, "reset"), "R", bad, 0, "RST for a bad ACK")
			assert.Equal(t, stateSynSent, tcpState(s.c.shState.Load()))
		}
		p.ack = iss + 1
		p.send("SA", nil, mssOpt(1460))
		assertSeg(t, p.one(t, "ACK"), "A", iss+1, peerISN+1, "the right SYN-ACK")
		assert.Equal(t, stateEstablished, tcpState(s.c.shState.Load()))
		assert.Equal(t, uint64(1), h.s.Counters().TCP.ActiveOpens)
	})
}

// RFC 9293 §3.10.7.3: in SYN-SENT a RST is acceptable only with an
// acceptable ACK; then the connection is refused (ECONNREFUSED). A RST
// without ACK, or with a bad one, is dropped without an answer.
func TestTCPRuleRSTInSynSentRefuses(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		s := dialManual(t, h.s, peerAddr80)
		h.poll()
		p := &tcpPeer{h: h, port: 80, lport: layers.TCPPort(s.laddr.Port()), seq: 0}
		iss := p.one(t, "SYN").Seq
		p.send("R", nil)
		p.ack = iss + 5
		p.send("RA", nil)
		assert.Empty(t, p.segs(), "never a reset for a reset")
		assert.Equal(t, stateSynSent, tcpState(s.c.shState.Load()))
		p.ack = iss + 1
		p.send("RA", nil)
		assert.Empty(t, p.segs())
		_, err := readNow(t, s, 10)
		assertErrno(t, err, syscall.ECONNREFUSED)
		c := h.s.Counters().TCP
		assert.Equal(t, uint64(1), c.AttemptFails)
		assert.Equal(t, uint64(1), c.InRsts)
		h.at(time.Second)
		assert.Empty(t, p.segs(), "no retransmission: the connection is gone")
	})
}

// RFC 9293 §3.5 figure 8: SYNs cross. Our SYN-SENT takes the peer's SYN to
// SYN-RECEIVED and answers <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; the peer's
// SYN-ACK then completes the open, and data flows.
func TestTCPRuleSimultaneousOpen(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		s := dialManual(t, h.s, peerAddr80)
		h.poll()
		p := &tcpPeer{h: h, port: 80, lport: layers.TCPPort(s.laddr.Port()), seq: peerISN}
		iss := p.one(t, "SYN").Seq
		h.at(100 * time.Millisecond)
		p.send("S", nil, mssOpt(1400))
		sa := p.one(t, "SYN-ACK")
		assertSeg(t, sa, "SA", iss, peerISN+1, "simultaneous open")
		assert.Equal(t, []byte{0x05, 0xb4}, optOf(sa, layers.TCPOptionKindMSS))
		assert.Nil(t, optOf(sa, layers.TCPOptionKindWindowScale), "the peer's SYN offered no scaling")
		assert.Equal(t, stateSynRcvd, tcpState(s.c.shState.Load()))
		p.seq, p.ack = peerISN, iss+1
		p.send("SA", nil, mssOpt(1400))
		p.seq++
		assert.Empty(t, p.segs(), "figure 8 line 6: ESTABLISHED, nothing to send")
		assert.Equal(t, stateEstablished, tcpState(s.c.shState.Load()))
		assert.Equal(t, uint64(1), h.s.Counters().TCP.ActiveOpens)
		assert.Equal(t, 1400, infoOf(t, s).MSS)
		h.at(2 * time.Second)
		assert.Empty(t, p.segs(), "no SYN or SYN-ACK retransmission")
		writeNow(t, h, s, []byte("hi"))
		d := p.one(t, "data")
		assertSeg(t, d, "PA", iss+1, peerISN+1, "data")
		assert.Equal(t, []byte("hi"), d.Payload)
	})
}

// RFC 9293 §3.8.1, RFC 6298 §5: a SYN-ACK not acknowledged is resent at 1 s
// and doubling intervals, SynRetries (6) times; then the half-open
// connection is forgotten and the peer's late ACK is answered with RST.
func TestTCPRulePassiveSynAckRetransmission(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		listen80(t, h, 16)
		p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
		p.send("S", nil, mssOpt(1460))
		sa := p.one(t, "SYN-ACK")
		assertSeg(t, sa, "SA", sa.Seq, peerISN+1, "SYN-ACK")
		assert.Equal(t, "SYN-RECEIVED", stateOf(h, 40000))
		prev := time.Duration(0)
		for _, at := range []time.Duration{1, 3, 7, 15, 31, 63} {
			at *= time.Second
			h.at(at - 1)
			assert.Empty(t, p.segs())
			h.at(at)
			assertSeg(t, p.one(t, "retransmitted SYN-ACK"), "SA", sa.Seq, peerISN+1, "retransmission")
			prev = at
		}
		h.at(prev + 64*time.Second - 1)
		assert.Equal(t, "SYN-RECEIVED", stateOf(h, 40000))
		h.at(prev + 64*time.Second)
		assert.Empty(t, p.segs())
		assert.Equal(t, "none", stateOf(h, 40000), "given up after SynRetries")
		p.seq, p.ack = peerISN+1, sa.Seq+1
		p.send("A", nil)
		assertSeg(t, p.one(t, "reset"), "R", sa.Seq+1, 0, "a late ACK finds no connection")
	})
}

// RFC 9293 §3.10.7.4 (SYN-RECEIVED, second check): a RST at RCV.NXT on a
// passive open returns it to LISTEN: the half-open connection is
// forgotten, its SYN-ACK no longer resent; a RST elsewhere in the window
// earns a challenge ACK (RFC 5961 §3.2).
func TestTCPRuleRSTInSynReceivedForgets(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
		p.send("S", nil, mssOpt(1460))
		sa := p.one(t, "SYN-ACK")
		p.seq = peerISN + 10
		p.send("R", nil)
		assertSeg(t, p.one(t, "challenge ACK"), "A", sa.Seq+1, peerISN+1, "RFC 5961 §3.2")
		assert.Equal(t, "SYN-RECEIVED", stateOf(h, 40000))
		p.seq = peerISN + 1
		p.send("R", nil)
		assert.Empty(t, p.segs())
		assert.Equal(t, "none", stateOf(h, 40000))
		h.at(time.Second)
		assert.Empty(t, p.segs(), "no SYN-ACK retransmission")
		assert.Equal(t, 0, h.s.queues[0].tcp.listener(netip.AddrPortFrom(ln.laddr.Addr(), 80)).synRcvd, "the SYN queue slot is free again")
		// Back in LISTEN: a new SYN from the same port opens anew.
		p.seq = peerISN + 5000
		p.send("S", nil, mssOpt(1460))
		assert.Equal(t, "SA", flagsOf(p.one(t, "SYN-ACK")))
	})
}

// RFC 9293 §3.7.1 (MUST-15): without an MSS option the peer's MSS is 536.
// Our SYN-ACK offers only the options the SYN did, plus the MSS.
func TestTCPRuleMSSAbsentMeans536(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000)
		require.NotNil(t, s)
		require.Len(t, sa.Options, 1, "only the MSS: %v", sa.Options)
		assert.Equal(t, []byte{0x05, 0xb4}, optOf(sa, layers.TCPOptionKindMSS))
		assert.Equal(t, 536, infoOf(t, s).MSS)
		writeNow(t, h, s, bytesOf(1200, 'a'))
		out := p.segs()
		require.Len(t, out, 3)
		for i, n := range []int{536, 536, 128} {
			assert.Len(t, out[i].Payload, n)
			assert.Equal(t, sa.Seq+1+uint32(536*i), out[i].Seq)
		}
	})
}

// RFC 7323 §2.3: a window scale above 14 is used as 14 (MUST); our own
// scale is offered in the SYN-ACK. The SYN's window is taken unscaled
// (§2.2), later windows shifted.
func TestTCPRuleWindowScaleClampedTo14(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
		p.sendW("S", 1000, nil, mssOpt(1460), wsOpt(15))
		sa := p.one(t, "SYN-ACK")
		assert.Equal(t, []byte{7}, optOf(sa, layers.TCPOptionKindWindowScale))
		in, ok := connTo(h, 40000)
		require.True(t, ok)
		assert.Equal(t, 1000, in.SendWindow, "the SYN's window is not scaled")
		p.seq, p.ack = peerISN+1, sa.Seq+1
		p.sendW("A", 1, nil)
		s := tryAccept(ln)
		require.NotNil(t, s)
		assert.Equal(t, 1<<14, infoOf(t, s).SendWindow, "1 << 14, not 1 << 15")
	})
}

// RFC 7323 §2.2: the window of a SYN or SYN-ACK is not scaled, on either
// side; windows after it are shifted by the peer's scale.
func TestTCPRuleWindowScaleNotAppliedToSyn(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		s := dialManual(t, h.s, peerAddr80)
		h.poll()
		p := &tcpPeer{h: h, port: 80, lport: layers.TCPPort(s.laddr.Port()), seq: peerISN}
		p.ack = p.one(t, "SYN").Seq + 1
		p.sendW("SA", 3000, nil, mssOpt(1460), wsOpt(4))
		p.seq++
		assertSeg(t, p.one(t, "ACK"), "A", p.ack, p.seq, "handshake")
		assert.Equal(t, 3000, infoOf(t, s).SendWindow, "SYN-ACK window as is")
		p.sendW("A", 3000, nil)
		assert.Equal(t, 3000<<4, infoOf(t, s).SendWindow, "then scaled")
		// Our windows after the SYN are scaled by 7: 256 KiB >> 7.
		writeNow(t, h, s, []byte("x"))
		d := p.one(t, "data")
		assert.Equal(t, uint16(256<<10>>7), d.Window, "free space >> 7")
	})
}

// RFC 9293 §3.10.7.2: data in a SYN may be kept for after the handshake; we
// do not keep it (as Linux without Fast Open), so the SYN-ACK acknowledges
// only the SYN, and the peer's retransmission delivers it. In SYN-SENT the
// data of a SYN-ACK is accepted, starting after the SYN's sequence number.
func TestTCPRuleSynWithData(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("passive", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			ln := listen80(t, h, 16)
			p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
			p.send("S", []byte("hello"), mssOpt(1460))
			sa := p.one(t, "SYN-ACK")
			assertSeg(t, sa, "SA", sa.Seq, peerISN+1, "the SYN only")
			p.seq, p.ack = peerISN+1, sa.Seq+1
			p.sendData("PA", []byte("hello"))
			s := tryAccept(ln)
			require.NotNil(t, s)
			b, err := readNow(t, s, 10)
			require.NoError(t, err)
			assert.Equal(t, "hello", string(b))
		})
		t.Run("active", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			s := dialManual(t, h.s, peerAddr80)
			h.poll()
			p := &tcpPeer{h: h, port: 80, lport: layers.TCPPort(s.laddr.Port()), seq: peerISN}
			p.ack = p.one(t, "SYN").Seq + 1
			p.send("SA", []byte("world"), mssOpt(1460))
			assertSeg(t, p.one(t, "ACK"), "A", p.ack, peerISN+1+5, "the SYN and five bytes")
			b, err := readNow(t, s, 10)
			require.NoError(t, err)
			assert.Equal(t, "world", string(b))
		})
	})
}

// listen(2)'s backlog: with the accept queue full a SYN is dropped without
// an answer (as Linux), counted in ListenOverflows; once the application
// accepts, the peer's retry succeeds.
func TestTCPRuleListenBacklogFullDropsSyn(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 1)
		p1 := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
		p1.send("S", nil, mssOpt(1460))
		sa := p1.one(t, "SYN-ACK")
		p1.seq, p1.ack = peerISN+1, sa.Seq+1
		p1.send("A", nil)
		p2 := &tcpPeer{h: h, port: 40001, lport: 80, seq: peerISN}
		p2.send("S", nil, mssOpt(1460))
		assert.Empty(t, p2.segs(), "dropped")
		assert.Equal(t, uint64(1), h.s.Counters().TCP.ListenOverflows)
		assert.Equal(t, "none", stateOf(h, 40001))
		require.NotNil(t, tryAccept(ln))
		h.at(time.Second)
		p2.send("S", nil, mssOpt(1460))
		assert.Equal(t, "SA", flagsOf(p2.one(t, "SYN-ACK")))
	})
}

// RFC 4987 §3.6: with SynCookies "always" the SYN-ACK's ISN is a cookie and
// no state is kept; the final ACK that echoes it makes the connection
// (PassiveOpens, SynCookiesRecv); an ACK with a forged cookie gets a RST
// (SynCookiesFailed). Without timestamps the cookie cannot keep window
// scaling or SACK, so the SYN-ACK does not offer them; with timestamps
// they ride in TSval and survive.
func TestTCPRuleSynCookies(t *testing.T) {
	cfg := Config{TCP: TCPConfig{SynCookies: "always"}}
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("no timestamps", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, cfg)
			ln := listen80(t, h, 16)
			p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
			p.send("S", nil, mssOpt(1460), wsOpt(7), sackPermOpt())
			sa := p.one(t, "SYN-ACK")
			assertSeg(t, sa, "SA", sa.Seq, peerISN+1, "SYN-ACK")
			assert.Equal(t, []byte{0x05, 0xb4}, optOf(sa, layers.TCPOptionKindMSS))
			assert.False(t, hasOpt(sa, layers.TCPOptionKindWindowScale), "the cookie cannot remember scaling")
			assert.False(t, hasOpt(sa, layers.TCPOptionKindSACKPermitted), "the cookie cannot remember SACK")
			assert.Equal(t, uint16(65535), sa.Window)
			q := h.s.queues[0]
			tuple := isn.Tuple{Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.9:40000")}
			co, ok := q.isn.DecodeCookie(tuple, q.now, seq.Value(sa.Seq), peerISN, false, 0)
			require.True(t, ok, "the ISN is a cookie")
			assert.Equal(t, 1460, co.MSS)
			assert.Empty(t, h.s.Connections(), "no state kept")
			c := h.s.Counters().TCP
			assert.Equal(t, uint64(1), c.SynCookiesSent)

			// A forged cookie from another port.
			f := &tcpPeer{h: h, port: 40001, lport: 80, seq: peerISN + 1, ack: sa.Seq + 1}
			f.send("A", nil)
			assertSeg(t, f.one(t, "reset"), "R", sa.Seq+1, 0, "forged cookie")
			// The real one, a second later.
			h.at(time.Second)
			p.seq, p.ack = peerISN+1, sa.Seq+1
			p.send("A", nil)
			assert.Empty(t, p.segs())
			s := tryAccept(ln)
			require.NotNil(t, s)
			in := infoOf(t, s)
			assert.Equal(t, "ESTABLISHED", in.State)
			assert.Equal(t, 1460, in.MSS)
			assert.False(t, in.WindowScale)
			assert.False(t, in.SACK)
			assert.Equal(t, 65535, in.SendWindow, "unscaled")
			c = h.s.Counters().TCP
			assert.Equal(t, uint64(1), c.PassiveOpens)
			assert.Equal(t, uint64(1), c.SynCookiesRecv)
			assert.Equal(t, uint64(1), c.SynCookiesFailed)
			p.sendData("PA", []byte("ping"))
			b, err := readNow(t, s, 10)
			require.NoError(t, err)
			assert.Equal(t, "ping", string(b))
		})
		t.Run("timestamps", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, cfg)
			ln := listen80(t, h, 16)
			p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
			p.send("S", nil, mssOpt(1460), wsOpt(7), sackPermOpt(), tsOpt(100, 0))
			sa := p.one(t, "SYN-ACK")
			assert.Equal(t, []byte{7}, optOf(sa, layers.TCPOptionKindWindowScale))
			assert.True(t, hasOpt(sa, layers.TCPOptionKindSACKPermitted))
			v, ecr, ok := tsOf(sa)
			require.True(t, ok)
			assert.Equal(t, uint32(100), ecr)
			assert.Equal(t, uint32(7|0x10), v&0x1f, "scale 7 and SACK in TSval's low bits")
			assert.Empty(t, h.s.Connections())
			p.seq, p.ack = peerISN+1, sa.Seq+1
			p.send("A", nil, tsOpt(101, v))
			s := tryAccept(ln)
			require.NotNil(t, s)
			in := infoOf(t, s)
			assert.True(t, in.WindowScale)
			assert.True(t, in.SACK)
			assert.True(t, in.Timestamps)
			assert.Equal(t, 1460-12, in.MSS)
			assert.Equal(t, 65535<<7, in.SendWindow, "the peer's scale survived")
			h.at(5 * time.Millisecond)
			writeNow(t, h, s, []byte("x"))
			d := p.one(t, "data")
			assert.Equal(t, uint16(256<<10>>7), d.Window, "our scale survived too")
			dv, e, _ := tsOf(d)
			assert.Equal(t, uint32(101), e)
			assert.Equal(t, v+5, dv, "our clock goes on from the SYN-ACK's, or the peer's PAWS drops it")
		})
		// The final ACK's echo of the SYN-ACK's TSval, which is our clock
		// with the options in its five low bits, times the handshake:
		// data starts with an RTO from that round trip, not the initial
		// second.
		t.Run("timestamps time the handshake", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, cfg)
			ln := listen80(t, h, 16)
			p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
			p.send("S", nil, mssOpt(1460), sackPermOpt(), tsOpt(100, 0))
			sa := p.one(t, "SYN-ACK")
			v, _, ok := tsOf(sa)
			require.True(t, ok)
			h.at(40 * time.Millisecond)
			p.seq, p.ack = peerISN+1, sa.Seq+1
			p.send("A", nil, tsOpt(140, v))
			s := tryAccept(ln)
			require.NotNil(t, s)
			in := infoOf(t, s)
			assert.GreaterOrEqual(t, in.RTT, 40*time.Millisecond)
			assert.Less(t, in.RTT, 72*time.Millisecond, "at most 31 ms over")
			assert.Equal(t, in.RTT/2, in.RTTVar)
			assert.Equal(t, max(200*time.Millisecond, 3*in.RTT), in.RTO)
		})
	})
}

// RFC 6298 §2.2 and §3: the round trip of a SYN sent once is the first RTT
// sample (SRTT = R, RTTVAR = R/2), so data starts with RTO = max(SRTT +
// 4·RTTVAR, MinRTO).
func TestTCPRuleHandshakeRTTSample(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, syn, s := openActive(t, h, 30*time.Millisecond, mssOpt(1460))
		in := infoOf(t, s)
		assert.Equal(t, 30*time.Millisecond, in.RTT)
		assert.Equal(t, 15*time.Millisecond, in.RTTVar)
		assert.Equal(t, 200*time.Millisecond, in.RTO, "90 ms, raised to MinRTO")
		writeNow(t, h, s, []byte("x"))
		p.one(t, "data")
		h.at(230*time.Millisecond - 1)
		assert.Empty(t, p.segs())
		h.at(230 * time.Millisecond)
		assertSeg(t, p.one(t, "RTO"), "A", syn.Seq+1, p.seq, "retransmission after 200 ms")
	})
}

// RFC 6298 §5.7 (MUST): when the SYN (or SYN-ACK) was retransmitted and the
// RTO is below 3 s, it is re-initialized to 3 s when data transmission
// begins; the handshake gave no sample (Karn).
func TestTCPRuleRTOIs3sAfterLostSYN(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("active", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			s := dialManual(t, h.s, peerAddr80)
			h.poll()
			p := &tcpPeer{h: h, port: 80, lport: layers.TCPPort(s.laddr.Port()), seq: peerISN}
			iss := p.one(t, "SYN").Seq
			h.at(time.Second)
			p.one(t, "SYN again")
			h.at(1100 * time.Millisecond)
			p.ack = iss + 1
			p.send("SA", nil, mssOpt(1460))
			p.seq++
			p.one(t, "ACK")
			assert.Zero(t, infoOf(t, s).RTT, "no sample")
			writeNow(t, h, s, []byte("x"))
			p.one(t, "data")
			h.at(4100*time.Millisecond - 1)
			assert.Empty(t, p.segs())
			h.at(4100 * time.Millisecond)
			p.one(t, "retransmission 3 s after the data")
		})
		t.Run("passive", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			ln := listen80(t, h, 16)
			p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
			p.send("S", nil, mssOpt(1460))
			sa := p.one(t, "SYN-ACK")
			h.at(time.Second)
			p.one(t, "SYN-ACK again")
			h.at(1100 * time.Millisecond)
			p.seq, p.ack = peerISN+1, sa.Seq+1
			p.send("A", nil)
			s := tryAccept(ln)
			require.NotNil(t, s)
			writeNow(t, h, s, []byte("x"))
			p.one(t, "data")
			h.at(4100*time.Millisecond - 1)
			assert.Empty(t, p.segs())
			h.at(4100 * time.Millisecond)
			p.one(t, "retransmission 3 s after the data")
		})
	})
}
