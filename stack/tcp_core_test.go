package stack

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests drive TCP below the interface: crafted segments in (built
// by gopacket), expected segments out, at explicit times.

const peerISN = 1000

type tcpPeer struct {
	h     *harness
	port  layers.TCPPort
	lport layers.TCPPort
	seq   uint32 // our next sequence number
	ack   uint32 // what we acknowledge
	wnd   uint16 // the window we advertise; 0 means 65535
	ecn   uint8  // the ECN field of our IP headers
}

func newTCPHarness(t *testing.T, mbuf bool, cfg Config) *harness {
	h := newHarness(t, mbuf, cfg)
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	h.out()
	return h
}

func (p *tcpPeer) send(flags string, payload []byte, opts ...layers.TCPOption) {
	tcp := &layers.TCP{SrcPort: p.port, DstPort: p.lport, Seq: p.seq, Ack: p.ack, Window: 65535, Options: opts}
	if p.wnd != 0 {
		tcp.Window = p.wnd
	}
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
		case 'E':
			tcp.ECE = true
		case 'C':
			tcp.CWR = true
		}
	}
	ip := ip4(peerIP, ourIP, layers.IPProtocolTCP)
	ip.TOS = p.ecn
	tcp.SetNetworkLayerForChecksum(ip)
	p.h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(payload))
}

// segs returns the TCP segments sent since the last call.
func (p *tcpPeer) segs() []*layers.TCP {
	var r []*layers.TCP
	for _, pk := range p.h.out() {
		if l, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			r = append(r, l)
		}
	}
	return r
}

func mssOpt(mss uint16) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: binary.BigEndian.AppendUint16(nil, mss)}
}

func optOf(t *layers.TCP, kind layers.TCPOptionKind) []byte {
	for _, o := range t.Options {
		if o.OptionType == kind {
			return o.OptionData
		}
	}
	return nil
}

// open performs a passive open: SYN from the peer, SYN-ACK back, ACK; it
// returns the accepted connection.
func openPassive(t *testing.T, h *harness, opts ...layers.TCPOption) (*tcpPeer, net.Conn) {
	ln, err := h.s.Listen("tcp", ":80")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
	if len(opts) == 0 {
		opts = []layers.TCPOption{mssOpt(1460)}
	}
	p.send("S", nil, opts...)
	out := p.segs()
	require.Len(t, out, 1)
	sa := out[0]
	require.True(t, sa.SYN && sa.ACK, "SYN-ACK")
	assert.Equal(t, uint32(peerISN+1), sa.Ack)
	p.seq = peerISN + 1
	p.ack = sa.Seq + 1
	p.send("A", nil)
	assert.Empty(t, p.segs())
	c, err := ln.Accept()
	require.NoError(t, err)
	return p, c
}

func TestTCPPassiveOpenSynAckOptions(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newTCPHarness(t, mbuf, Config{})
		ln, err := h.s.Listen("tcp", ":80")
		require.NoError(t, err)
		defer ln.Close()
		p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
		p.send("S", nil, mssOpt(1400),
			layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
			layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
		out := p.segs()
		require.Len(t, out, 1)
		sa := out[0]
		assert.True(t, sa.SYN && sa.ACK)
		assert.Equal(t, []byte{0x05, 0xb4}, optOf(sa, layers.TCPOptionKindMSS), "MSS 1460 from the MTU")
		assert.NotNil(t, optOf(sa, layers.TCPOptionKindWindowScale), "window scale, as offered")
		assert.NotNil(t, sa.Options, "SACK permitted")
		assert.Nil(t, optOf(sa, layers.TCPOptionKindTimestamps), "no timestamps: not offered")
	})
}

func TestTCPClosedPortAnswersRST(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newTCPHarness(t, mbuf, Config{})
		p := &tcpPeer{h: h, port: 40000, lport: 81, seq: peerISN}
		p.send("S", nil)
		out := p.segs()
		require.Len(t, out, 1)
		assert.True(t, out[0].RST && out[0].ACK)
		assert.Equal(t, uint32(0), out[0].Seq)
		assert.Equal(t, uint32(peerISN+1), out[0].Ack)
		p.ack = 5555
		p.send("A", nil)
		out = p.segs()
		require.Len(t, out, 1)
		assert.True(t, out[0].RST && !out[0].ACK)
		assert.Equal(t, uint32(5555), out[0].Seq, "RFC 9293: SEQ=SEG.ACK")
		p.send("R", nil)
		assert.Empty(t, p.segs(), "never a reset for a reset")
	})
}

func TestTCPDelayedAckAndEverySecondSegment(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newTCPHarness(t, mbuf, Config{})
		p, c := openPassive(t, h)
		defer c.Close()
		p.send("A", make([]byte, 100))
		assert.Empty(t, p.segs(), "held back")
		h.at(40*time.Millisecond - 1)
		assert.Empty(t, p.segs())
		h.at(40 * time.Millisecond)
		out := p.segs()
		require.Len(t, out, 1)
		assert.Equal(t, p.seq+100, out[0].Ack)
		p.seq += 100
		p.send("A", make([]byte, 1460))
		p.seq += 1460
		assert.Empty(t, p.segs())
		p.send("A", make([]byte, 1460))
		p.seq += 1460
		out = p.segs()
		require.Len(t, out, 1, "every second segment is acknowledged at once")
		assert.Equal(t, p.seq, out[0].Ack)
	})
}

func TestTCPOutOfOrderGetsImmediateSACK(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newTCPHarness(t, mbuf, Config{})
		p, c := openPassive(t, h, mssOpt(1460), layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
		defer c.Close()
		base := p.seq
		p.seq = base + 1000
		p.send("A", make([]byte, 500))
		out := p.segs()
		require.Len(t, out, 1, "a duplicate ACK at once")
		assert.Equal(t, base, out[0].Ack)
		sack := optOf(out[0], layers.TCPOptionKindSACK)
		require.Len(t, sack, 8)
		assert.Equal(t, base+1000, binary.BigEndian.Uint32(sack[0:]))
		assert.Equal(t, base+1500, binary.BigEndian.Uint32(sack[4:]))
		p.seq = base
		p.send("A", make([]byte, 1000))
		out = p.segs()
		require.Len(t, out, 1, "the hole filled: acknowledged at once")
		assert.Equal(t, base+1500, out[0].Ack)
		buf := make([]byte, 2000)
		n, err := c.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, 1500, n)
	})
}

func TestTCPRSTInWindowGetsChallengeACK(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newTCPHarness(t, mbuf, Config{})
		p, c := openPassive(t, h)
		defer c.Close()
		good := p.seq
		p.seq = good + 100
		p.send("R", nil)
		out := p.segs()
		require.Len(t, out, 1, "RFC 5961 §3.2: challenge ACK")
		assert.True(t, out[0].ACK && !out[0].RST)
		assert.Equal(t, good, out[0].Ack)
		p.seq = good + 1<<30
		p.send("R", nil)
		assert.Empty(t, p.segs(), "outside the window: dropped silently")
		p.seq = good
		p.send("S", nil)
		out = p.segs()
		require.Len(t, out, 1, "RFC 5961 §4: a SYN gets a challenge ACK")
		p.send("R", nil)
		assert.Empty(t, p.segs())
		_, err := c.Read(make([]byte, 1))
		require.Error(t, err)
		c2 := h.s.Counters().TCP
		assert.Equal(t, uint64(2), c2.ChallengeACKs)
		assert.Equal(t, uint64(1), c2.EstabResets)
	})
}

func TestTCPRetransmitsOnRTOWithBackoff(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newTCPHarness(t, mbuf, Config{})
		p, c := openPassive(t, h)
		defer c.Close()
		_, err := c.Write([]byte("hello"))
		require.NoError(t, err)
		h.poll()
		out := p.segs()
		require.Len(t, out, 1)
		assert.Equal(t, []byte("hello"), out[0].Payload)
		h.at(time.Second - 1)
		assert.Empty(t, p.segs(), "initial RTO is 1 s (RFC 6298 §2.1)")
		h.at(time.Second)
		out = p.segs()
		require.Len(t, out, 1)
		assert.Equal(t, []byte("hello"), out[0].Payload)
		h.at(3*time.Second - 1)
		assert.Empty(t, p.segs())
		h.at(3 * time.Second)
		assert.Len(t, p.segs(), 1, "backed off to 2 s")
		assert.Equal(t, uint64(2), h.s.Counters().TCP.RTOs)
	})
}

func TestTCPActiveCloseTimeWait(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newTCPHarness(t, mbuf, Config{})
		p, c := openPassive(t, h)
		require.NoError(t, c.Close())
		h.poll()
		out := p.segs()
		require.Len(t, out, 1)
		assert.True(t, out[0].FIN)
		p.ack = out[0].Seq + 1
		p.send("FA", nil)
		p.seq++
		out = p.segs()
		require.Len(t, out, 1)
		assert.Equal(t, p.seq, out[0].Ack)
		h.at(60*time.Second - 1)
		p.seq--
		p.send("FA", nil)
		p.seq++
		assert.Len(t, p.segs(), 1, "TIME-WAIT acknowledges a retransmitted FIN")
		h.at(120 * time.Second)
		p.send("A", nil)
		out = p.segs()
		require.Len(t, out, 1)
		assert.True(t, out[0].RST, "2·MSL later the connection is gone")
	})
}
