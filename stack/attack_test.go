package stack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/wire"
)

// Attacks from the open Internet, one test each: the hostile segments or
// fragments are dropped and counted, the healthy connection goes on and
// every buffer comes back (the harness checks that at cleanup).

var (
	our4  = netip.MustParseAddr("10.0.0.1")
	peer4 = netip.MustParseAddr("10.0.0.9")
)

// tcpHdr builds a TCP header (with raw option bytes, padded to a multiple
// of four) and payload from src to dst with a correct checksum.
func tcpHdr(src, dst netip.Addr, sport, dport uint16, sq, ack uint32, flags wire.TCPFlags, opts, payload []byte) []byte {
	hl := wire.TCPHeaderLen + (len(opts)+3)&^3
	b := make([]byte, hl+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], sq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = byte(hl/4) << 4
	b[13] = byte(flags)
	binary.BigEndian.PutUint16(b[14:], 65535)
	copy(b[wire.TCPHeaderLen:], opts)
	copy(b[hl:], payload)
	wire.TCP(b).SetChecksum(wire.TCP(b).ComputeChecksum(src, dst))
	return b
}

// frag4 builds an Ethernet frame to us with an IPv4 fragment (or a whole
// datagram: off 0 and !more) of protocol proto.
func frag4(src, dst netip.Addr, proto uint8, id uint16, off int, more bool, data []byte) []byte {
	b := make([]byte, wire.EthernetHeaderLen+wire.IPv4HeaderLen+len(data))
	e := wire.Ethernet(b)
	e.SetDst(wire.MAC(ourMAC))
	e.SetSrc(wire.MAC(peerMAC))
	e.SetEtherType(wire.EtherTypeIPv4)
	wire.IPv4Fields{ID: id, MoreFragments: more, FragmentOffset: off, TTL: 64, Protocol: proto, Src: src, Dst: dst, PayloadLen: len(data)}.
		Emit(b[wire.EthernetHeaderLen:])
	copy(b[wire.EthernetHeaderLen+wire.IPv4HeaderLen:], data)
	return b
}

// frag6 builds an Ethernet frame to us with an IPv6 fragment of protocol
// proto.
func frag6(src, dst netip.Addr, proto uint8, id uint32, off int, more bool, data []byte) []byte {
	fh := make([]byte, 8)
	wire.IPv6FragmentFields{NextHeader: proto, Offset: off, More: more, ID: id}.Emit(fh)
	return pkt6(src, dst, wire.IPProtoFragment, append(fh, data...))
}

// estab opens a connection from the peer's port 40000 and returns the
// peer, our SYN-ACK and the accepted socket.
func estab(t *testing.T, h *harness) (*tcpPeer, *layers.TCP, *tcpSock) {
	t.Helper()
	ln := listen80(t, h, 16)
	p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
	require.NotNil(t, s)
	return p, sa, s
}

// stillHealthy checks that the connection takes data and delivers it.
func stillHealthy(t *testing.T, p *tcpPeer, s *tcpSock) {
	t.Helper()
	p.sendData("PA", []byte("healthy"))
	b, err := readNow(t, s, 100)
	require.NoError(t, err)
	assert.Equal(t, "healthy", string(b), "the healthy connection's data, nothing injected")
}

// RFC 5961 §3: a blind attacker sprays RSTs across the sequence space. The
// one that lands in the window but not at RCV.NXT gets a challenge ACK;
// the others are dropped silently; the connection lives.
func TestAttackBlindRST(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, _, s := estab(t, h)
	good := p.seq
	const step = 1 << 20 // larger than the window: one guess in it
	for k := range uint32(1 << 12) {
		p.seq = good + 1 + k*step
		p.send("R", nil)
	}
	p.seq = good
	assert.Len(t, p.segs(), 1, "one challenge ACK")
	c := h.s.Counters().TCP
	assert.Equal(t, uint64(1), c.ChallengeACKs)
	assert.Equal(t, uint64(1<<12-1), c.OutOfWindow)
	assert.Zero(t, c.EstabResets)
	stillHealthy(t, p, s)
}

// RFC 5961 §4: a SYN on an established connection, in the window or not,
// gets a challenge ACK and never resets it.
func TestAttackSYNInjection(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, sa, s := estab(t, h)
	good := p.seq
	for _, sq := range []uint32{good, good + 100, good - 1<<30} {
		p.seq = sq
		p.send("S", nil, mssOpt(1460))
		assertSeg(t, p.one(t, "challenge ACK"), "A", sa.Seq+1, good, "challenge ACK")
	}
	p.seq = good
	c := h.s.Counters().TCP
	assert.Equal(t, uint64(3), c.ChallengeACKs)
	assert.Zero(t, c.EstabResets)
	stillHealthy(t, p, s)
}

// RFC 5961 §5: injected data whose ACK is beyond what we sent or older
// than the window allows is dropped, as is data outside the window.
func TestAttackDataInjection(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, sa, s := estab(t, h)
	una := sa.Seq + 1
	for _, ack := range []uint32{una + 1, una + 1<<31 - 1, una - 65535 - 1, una - 1<<30} {
		p.ack = ack
		p.send("PA", []byte("forged"))
	}
	p.ack = una
	good := p.seq
	p.seq = good + 1<<20
	p.send("PA", []byte("forged"))
	p.seq = good
	p.segs()
	c := h.s.Counters().TCP
	assert.Equal(t, uint64(2), c.AckOfUnsent)
	assert.Equal(t, uint64(2), c.AckTooOld)
	assert.Equal(t, uint64(1), c.OutOfWindow)
	stillHealthy(t, p, s)
}

// RFC 5961 §5.2: a flood of ACKs of data never sent is counted and never
// moves SND.UNA.
func TestAttackAckOfUnsentData(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, sa, s := estab(t, h)
	writeNow(t, h, s, []byte("reply"))
	p.segs()
	for i := range uint32(100) {
		p.ack = sa.Seq + 1 + 5 + 1 + i*1000
		p.send("A", nil)
	}
	p.ack = sa.Seq + 1
	p.segs()
	assert.Equal(t, uint64(100), h.s.Counters().TCP.AckOfUnsent)
	assert.Equal(t, 5, ringLen(s.c.sndBuf.Load()), "the reply is still unacknowledged")
	stillHealthy(t, p, s)
}

// RFC 9293 §3.8.6: data into a closed window is not taken, only
// acknowledged, and counted.
func TestAttackDataOnZeroWindow(t *testing.T) {
	h := newRuleHarness(t, false, Config{TCP: TCPConfig{RecvBuffer: 4096}})
	p, sa, s := estab(t, h)
	p.sendData("A", bytesOf(1460, 'a'))
	p.sendData("A", bytesOf(1460, 'a'))
	p.sendData("A", bytesOf(1176, 'a'))
	p.segs()
	require.Zero(t, s.c.rcvBuf.Load().Free())
	for range 50 {
		p.send("PA", bytesOf(1000, 'x'))
	}
	for _, a := range p.segs() {
		assertSeg(t, a, "A", sa.Seq+1, p.seq, "nothing taken")
		assert.Zero(t, a.Window)
	}
	assert.Equal(t, uint64(50), h.s.Counters().TCP.OutOfWindow)
	b, err := readNow(t, s, 8192)
	require.NoError(t, err)
	assert.Equal(t, bytesOf(1460, 'a'), b[:1460])
	assert.Len(t, b, 4096)
}

// RFC 9293 §3.1: an option of length 0 or 1, or one reaching past the
// header, makes the segment malformed: dropped and counted, whether it is
// a SYN to a listener or data on a connection.
func TestAttackMalformedTCPOptions(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := map[bool]string{false: "ipv4", true: "ipv6"}[v6]
		t.Run(name, func(t *testing.T) {
			h := newHarness6(t, false, Config{}, peerNeighbors...)
			h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
			h.out()
			src, dst := peer4, our4
			if v6 {
				src, dst = peer6, our6
			}
			in := func(seg []byte) {
				if v6 {
					h.inRaw(pkt6(src, dst, wire.IPProtoTCP, seg))
				} else {
					h.inRaw(frag4(src, dst, wire.IPProtoTCP, 1, 0, false, seg))
				}
			}
			ln := listen80(t, h, 16)
			bad := [][]byte{
				{2, 0, 5, 0xb4},             // MSS of length 0
				{2, 1, 5, 0xb4},             // MSS of length 1
				{1, 1, 8, 10, 0, 0, 0, 1},   // timestamps reaching past the header
				{3, 3, 7, 4, 200, 0, 0, 0},  // SACK permitted of length 200
				{8, 0, 0, 0, 0, 0, 0, 0, 0}, // timestamps of length 0, the loop breaker
			}
			for i, o := range bad {
				in(tcpHdr(src, dst, uint16(41000+i), 80, peerISN, 0, wire.TCPFlagSYN, o, nil))
			}
			assert.Empty(t, h.out(), "no SYN-ACK, no RST")
			assert.Empty(t, h.s.Connections())
			assert.Equal(t, uint64(len(bad)), h.s.Counters().TCP.InBadOptions)

			p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
			in(tcpHdr(src, dst, 40000, 80, peerISN, 0, wire.TCPFlagSYN, []byte{2, 4, 5, 0xb4}, nil))
			var sa *layers.TCP
			for _, pk := range h.out() {
				if l, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
					sa = l
				}
			}
			require.NotNil(t, sa)
			p.seq, p.ack = peerISN+1, sa.Seq+1
			in(tcpHdr(src, dst, 40000, 80, p.seq, p.ack, wire.TCPFlagACK, nil, nil))
			s := tryAccept(ln)
			require.NotNil(t, s)
			for _, o := range bad {
				in(tcpHdr(src, dst, 40000, 80, p.seq, p.ack, wire.TCPFlagACK|wire.TCPFlagPSH, o, []byte("forged")))
			}
			assert.Equal(t, uint64(2*len(bad)), h.s.Counters().TCP.InBadOptions)
			assert.Zero(t, ringLen(s.c.rcvBuf.Load()))
			in(tcpHdr(src, dst, 40000, 80, p.seq, p.ack, wire.TCPFlagACK|wire.TCPFlagPSH, nil, []byte("healthy")))
			b, err := readNow(t, s, 100)
			require.NoError(t, err)
			assert.Equal(t, "healthy", string(b))
		})
	}
}

// RFC 5722 and RFC 1858 §4: fragments that overlap, as those rewriting a
// TCP header after a filter passed it, drop their whole datagram, later
// fragments included.
func TestAttackOverlappingFragments(t *testing.T) {
	h := newHarness6(t, false, Config{}, peerNeighbors...)
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	h.out()
	listen80(t, h, 16)
	syn4 := tcpHdr(peer4, our4, 40000, 80, peerISN, 0, wire.TCPFlagSYN, []byte{2, 4, 5, 0xb4}, make([]byte, 8))
	h.inRaw(frag4(peer4, our4, wire.IPProtoTCP, 7, 0, true, syn4[:16]))
	// Offset 8 rewrites the flags and window of the first fragment.
	h.inRaw(frag4(peer4, our4, wire.IPProtoTCP, 7, 8, true, syn4[8:24]))
	h.inRaw(frag4(peer4, our4, wire.IPProtoTCP, 7, 24, false, syn4[24:]))
	syn6 := tcpHdr(peer6, our6, 40001, 80, peerISN, 0, wire.TCPFlagSYN, []byte{2, 4, 5, 0xb4}, make([]byte, 16))
	h.inRaw(frag6(peer6, our6, wire.IPProtoTCP, 7, 0, true, syn6[:32]))
	h.inRaw(frag6(peer6, our6, wire.IPProtoTCP, 7, 8, true, syn6[8:40]))
	h.inRaw(frag6(peer6, our6, wire.IPProtoTCP, 7, 40, false, syn6[40:]))
	assert.Empty(t, h.out())
	assert.Empty(t, h.s.Connections())
	c := h.s.Counters()
	assert.Equal(t, uint64(1), c.IP.ReasmOverlaps)
	assert.Equal(t, uint64(1), c.IP.ReasmFails, "one failure per datagram")
	assert.Equal(t, uint64(1), c.IPv6.ReasmOverlaps)
	assert.Zero(t, c.TCP.InSegs)
}

// RFC 1858 §3 and RFC 7112: tiny fragments. An IPv4 TCP header cut into
// 8-byte fragments reassembles like any datagram (a host has no filter to
// evade); a flood of them for one datagram stops at 128 pieces; an IPv6
// first fragment without the whole header chain is refused.
func TestAttackTinyFragments(t *testing.T) {
	h := newHarness6(t, false, Config{}, peerNeighbors...)
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	h.out()
	listen80(t, h, 16)
	syn := tcpHdr(peer4, our4, 40000, 80, peerISN, 0, wire.TCPFlagSYN, []byte{2, 4, 5, 0xb4}, nil)
	for off := 0; off < len(syn); off += 8 {
		h.inRaw(frag4(peer4, our4, wire.IPProtoTCP, 1, off, off+8 < len(syn), syn[off:off+8]))
	}
	require.Len(t, h.out(), 1, "the SYN-ACK")
	assert.Equal(t, uint64(1), h.s.Counters().IP.ReasmOKs)

	for i := range 200 {
		h.inRaw(frag4(peer4, our4, wire.IPProtoTCP, 2, i*8, true, make([]byte, 8)))
	}
	c := h.s.Counters().IP
	assert.Equal(t, uint64(1), c.ReasmFails, "too many fragments: the datagram is dropped once")
	assert.Zero(t, h.s.queues[0].reasm.Bytes(), "nothing held")

	syn6 := tcpHdr(peer6, our6, 40001, 80, peerISN, 0, wire.TCPFlagSYN, []byte{2, 4, 5, 0xb4}, nil)
	h.inRaw(frag6(peer6, our6, wire.IPProtoTCP, 3, 0, true, syn6[:8]))
	h.inRaw(frag6(peer6, our6, wire.IPProtoTCP, 3, 8, false, syn6[8:]))
	assert.Equal(t, uint64(1), h.s.Counters().IPv6.InHdrErrors, "RFC 7112")
	assert.Len(t, h.s.Connections(), 1, "only the IPv4 SYN made a connection")
}

// RFC 791 and RFC 8200 §4.5: fragments reaching past 65,535 bytes drop
// their datagram; IPv6 says so with a parameter problem.
func TestAttackReassembledOver65535(t *testing.T) {
	h := newHarness6(t, false, Config{}, peerNeighbors...)
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	h.out()
	h.inRaw(frag4(peer4, our4, wire.IPProtoICMP, 1, 0, true, echoBody(1472)))
	h.inRaw(frag4(peer4, our4, wire.IPProtoICMP, 1, 65528, false, make([]byte, 16)))
	h.inRaw(frag6(peer6, our6, wire.IPProtoICMPv6, 1, 0, true, make([]byte, 1232)))
	h.inRaw(frag6(peer6, our6, wire.IPProtoICMPv6, 1, 65528, false, make([]byte, 16)))
	c := h.s.Counters()
	assert.Equal(t, uint64(1), c.IP.ReasmFails)
	assert.Zero(t, c.IP.ReasmOKs)
	assert.Equal(t, uint64(1), c.IPv6.ReasmFails)
	out := ofType(h.out(), layers.ICMPv6TypeParameterProblem)
	assert.Len(t, out, 1, "RFC 8200 §4.5: a parameter problem at the fragment offset")
	assert.Zero(t, h.s.queues[0].reasm.Bytes()+h.s.queues[0].reasm6.Bytes(), "nothing held")
}

// RFC 791: a datagram whose first fragment carries options has less room
// for data than one with a 20-byte header; fragments that fit the latter
// but not the former reassemble to more than 65,535 bytes and are dropped.
func TestAttackReassembledOver65535WithOptions(t *testing.T) {
	h := newHarness(t, false, Config{})
	first := make([]byte, wire.EthernetHeaderLen+60+1480)
	e := wire.Ethernet(first)
	e.SetDst(wire.MAC(ourMAC))
	e.SetSrc(wire.MAC(peerMAC))
	e.SetEtherType(wire.EtherTypeIPv4)
	opts := make([]byte, 40)
	for i := range opts {
		opts[i] = 1 // NOP
	}
	wire.IPv4Fields{ID: 9, MoreFragments: true, TTL: 64, Protocol: wire.IPProtoUDP, Src: peer4, Dst: our4, PayloadLen: 1480, Options: opts}.
		Emit(first[wire.EthernetHeaderLen:])
	h.inRaw(first)
	for off := 1480; off < 65515; off += 1480 {
		n := min(1480, 65515-off)
		h.inRaw(frag4(peer4, our4, wire.IPProtoUDP, 9, off, off+n < 65515, make([]byte, n)))
	}
	c := h.s.Counters().IP
	assert.Zero(t, c.ReasmOKs, "60 + 65,515 bytes is no IPv4 datagram")
	assert.Equal(t, uint64(1), c.ReasmFails)
	assert.Zero(t, h.s.queues[0].reasm.Bytes(), "nothing held")
}

// echoBody is an ICMP echo request of n bytes (its checksum is not right:
// it never reassembles).
func echoBody(n int) []byte {
	b := make([]byte, n)
	b[0] = 8
	return b
}

// LAND: a SYN from our own address and port to it. From a wire it is an
// impossible IPv4 source; over IPv6 the listener refuses it.
func TestAttackLAND(t *testing.T) {
	h := newHarness6(t, false, Config{}, peerNeighbors...)
	listen80(t, h, 16)
	h.inRaw(frag4(our4, our4, wire.IPProtoTCP, 1, 0, false, tcpHdr(our4, our4, 80, 80, peerISN, 0, wire.TCPFlagSYN, nil, nil)))
	h.inRaw(pkt6(our6, our6, wire.IPProtoTCP, tcpHdr(our6, our6, 80, 80, peerISN, 0, wire.TCPFlagSYN, nil, nil)))
	assert.Empty(t, h.out())
	assert.Empty(t, h.s.Connections())
	c := h.s.Counters()
	assert.Equal(t, uint64(1), c.IP.InMartians)
	assert.Equal(t, uint64(1), c.TCP.LandDrops)
}

// RFC 1122 §3.2.1.3 and §4.2.3.10, RFC 4291 §2.7: SYNs from broadcast,
// multicast, loopback, this-network and reserved sources, and SYNs to
// broadcast or multicast destinations, are dropped and counted.
func TestAttackMartianAddresses(t *testing.T) {
	h := newHarness6(t, false, Config{}, peerNeighbors...)
	listen80(t, h, 16)
	srcs := []string{"255.255.255.255", "10.0.0.255", "224.0.0.5", "127.0.0.1", "0.0.0.0", "240.0.0.1"}
	for _, a := range srcs {
		src := netip.MustParseAddr(a)
		h.inRaw(frag4(src, our4, wire.IPProtoTCP, 1, 0, false, tcpHdr(src, our4, 40000, 80, peerISN, 0, wire.TCPFlagSYN, nil, nil)))
	}
	for _, a := range []string{"10.0.0.255", "224.0.0.1"} {
		dst := netip.MustParseAddr(a)
		b := frag4(peer4, dst, wire.IPProtoTCP, 1, 0, false, tcpHdr(peer4, dst, 40000, 80, peerISN, 0, wire.TCPFlagSYN, nil, nil))
		copy(b, bcastMAC)
		h.inRaw(b)
	}
	for _, a := range []string{"ff02::1", "::1"} {
		src := netip.MustParseAddr(a)
		h.inRaw(pkt6(src, our6, wire.IPProtoTCP, tcpHdr(src, our6, 40000, 80, peerISN, 0, wire.TCPFlagSYN, nil, nil)))
	}
	b := pkt6(peer6, netip.MustParseAddr("ff02::1"), wire.IPProtoTCP, tcpHdr(peer6, netip.MustParseAddr("ff02::1"), 40000, 80, peerISN, 0, wire.TCPFlagSYN, nil, nil))
	h.inRaw(b)
	assert.Empty(t, h.out(), "no SYN-ACK, no RST")
	assert.Empty(t, h.s.Connections())
	c := h.s.Counters()
	assert.Equal(t, uint64(len(srcs)), c.IP.InMartians)
	assert.Equal(t, uint64(3), c.TCP.InErrs, "TCP is unicast only")
	assert.Equal(t, uint64(2), c.IPv6.InHdrErrors)
}

// A flood of first fragments that never complete, each of its own
// datagram, over both families: reassembly holds at most its memory,
// the oldest datagrams make room for new ones and count as failures, and
// a datagram sent whole in the middle of it still reassembles.
func TestAttackFragmentFloodMemoryBounded(t *testing.T) {
	var logs logBuffer
	h := newHarness6(t, false, Config{Reassembly: ReassemblyConfig{MaxBytes: 64 << 10}, Logger: logTo(&logs)}, peerNeighbors...)
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	h.out()
	q := h.s.queues[0]
	for i := range 1000 {
		h.inRaw(frag4(peer4, our4, wire.IPProtoUDP, uint16(i), 0, true, make([]byte, 1024)))
		h.inRaw(frag6(peer6, our6, wire.IPProtoUDP, uint32(i), 0, true, make([]byte, 1024)))
		require.LessOrEqual(t, q.reasm.Bytes(), 64<<10)
		require.LessOrEqual(t, q.reasm6.Bytes(), 64<<10)
		if i == 500 {
			h.inRaw(frag4(peer4, our4, wire.IPProtoICMP, 60000, 0, true, echoBody(24)[:16]))
			h.inRaw(frag4(peer4, our4, wire.IPProtoICMP, 60000, 16, false, echoBody(24)[16:]))
		}
	}
	c := h.s.Counters()
	assert.Equal(t, uint64(1), c.IP.ReasmOKs, "the datagram sent whole")
	assert.Greater(t, c.IP.ReasmFails, uint64(900), "the oldest made room")
	assert.Greater(t, c.IPv6.ReasmFails, uint64(900))
	assert.Equal(t, 1, limitLogs(&logs, "reassembly memory"), "logged once")
}

// RFC 8200 §4 and RFC 8504 §5.3: IPv6 extension header chains built to
// cost a receiver: more headers than a valid chain has, a Hop-by-Hop
// header out of place, a header of nothing but padding. Each is dropped
// and counted; none reaches TCP.
func TestAttackIPv6ExtensionHeaders(t *testing.T) {
	h := newHarness6(t, false, Config{}, peerNeighbors...)
	listen80(t, h, 16)
	syn := tcpHdr(peer6, our6, 40000, 80, peerISN, 0, wire.TCPFlagSYN, nil, nil)
	var chain []byte
	for i := range wire.MaxIPv6ExtHeaders + 1 {
		nh := uint8(wire.IPProtoDestOpts)
		if i == wire.MaxIPv6ExtHeaders {
			nh = wire.IPProtoTCP
		}
		chain = append(chain, extHdr(nh, 1, 4, 0, 0, 0, 0)...)
	}
	h.inRaw(pkt6(peer6, our6, wire.IPProtoDestOpts, append(chain, syn...)))
	assert.Empty(t, h.out(), "too long a chain")
	assert.Equal(t, uint64(1), h.s.Counters().IPv6.InHdrErrors)

	h.inRaw(pkt6(peer6, our6, wire.IPProtoDestOpts, cat6(extHdr(wire.IPProtoHopByHop, 1, 4, 0, 0, 0, 0), extHdr(wire.IPProtoTCP, 1, 4, 0, 0, 0, 0), syn)))
	code, _ := paramProblem(t, h)
	assert.Equal(t, uint8(wire.ICMPv6UnrecognizedNextHeader), code, "Hop-by-Hop only first")

	// Three PadN of 255 bytes and Pad1 to the end: 1 KiB of nothing
	// (Linux refuses padding beyond 7 bytes likewise).
	pad := make([]byte, 1022)
	for i := 0; i+257 <= len(pad); i += 257 {
		pad[i], pad[i+1] = 1, 255
	}
	h.inRaw(pkt6(peer6, our6, wire.IPProtoDestOpts, append(extHdr(wire.IPProtoTCP, pad...), syn...)))
	assert.Empty(t, h.out(), "a header of padding")
	c := h.s.Counters()
	assert.Equal(t, uint64(2), c.IPv6.InHdrErrors)
	assert.Zero(t, c.TCP.InSegs)
	assert.Empty(t, h.s.Connections())
}

func cat6(bs ...[]byte) []byte {
	var r []byte
	for _, b := range bs {
		r = append(r, b...)
	}
	return r
}
