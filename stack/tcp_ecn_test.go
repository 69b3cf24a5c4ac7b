package stack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ECN (RFC 3168) below the interface: crafted segments in, our segments
// and their IP ECN field out.

// ecnSeg is a segment we sent with its IP header's ECN field.
type ecnSeg struct {
	tcp *layers.TCP
	ecn uint8
}

func ecnOut(h *harness) []ecnSeg {
	var r []ecnSeg
	for _, p := range h.out() {
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			r = append(r, ecnSeg{tcp, p.Layer(layers.LayerTypeIPv4).(*layers.IPv4).TOS & 3})
		}
	}
	return r
}

// ecnHandshake completes a passive open whose SYN asks for ECN when ask is
// set, and returns the peer, our SYN-ACK and the socket.
func ecnHandshake(t *testing.T, h *harness, ask bool) (*tcpPeer, *layers.TCP, *tcpSock) {
	t.Helper()
	ln := listen80(t, h, 16)
	p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
	flags := "S"
	if ask {
		flags = "SEC"
	}
	p.send(flags, nil, mssOpt(1460))
	sa := p.one(t, "SYN-ACK")
	p.seq, p.ack = peerISN+1, sa.Seq+1
	p.send("A", nil)
	s := tryAccept(ln)
	require.NotNil(t, s)
	return p, sa, s
}

// §6.1.1: an ECN-setup SYN gets an ECN-setup SYN-ACK (ECE, not CWR) and
// our new data is ECT(0); §6.1.3: a CE mark on the peer's data is echoed
// with ECE, on every ACK, until the peer's CWR.
func TestECNPassiveOpenAndEcho(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, sa, s := ecnHandshake(t, h, true)
	assert.True(t, sa.ECE)
	assert.False(t, sa.CWR)

	writeNow(t, h, s, []byte("hello"))
	out := ecnOut(h)
	require.Len(t, out, 1)
	assert.Equal(t, uint8(ecnECT0), out[0].ecn, "new data is ECN-capable")
	assert.False(t, out[0].tcp.ECE)
	p.ack += 5

	p.ecn = ecnCE
	p.send("PA", []byte("marked"))
	out = ecnOut(h)
	require.Len(t, out, 1, "a CE mark is acknowledged at once")
	assert.True(t, out[0].tcp.ECE)
	assert.Zero(t, out[0].ecn, "a pure ACK is not ECN-capable")
	p.seq += 6
	p.ecn = 0
	p.send("PA", []byte("more"))
	p.seq += 4
	h.after(time.Second)
	out = ecnOut(h)
	require.NotEmpty(t, out)
	assert.True(t, out[len(out)-1].tcp.ECE, "echoed until CWR")
	p.send("PAC", []byte("cwr"))
	p.seq += 3
	h.after(time.Second)
	out = ecnOut(h)
	require.NotEmpty(t, out)
	assert.False(t, out[len(out)-1].tcp.ECE, "CWR ends the echo")
	assert.Equal(t, uint64(1), h.s.Counters().TCP.InCEMarked)
}

// §6.1.2: the peer's ECE halves our window once per round trip, and the
// next new data carries CWR, alone in its segment.
func TestECNSenderReduces(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, _, s := ecnHandshake(t, h, true)
	c := s.c
	writeNow(t, h, s, bytes.Repeat([]byte("x"), 20000))
	first := ecnOut(h)
	require.NotEmpty(t, first)
	before := c.cc.Cwnd()
	p.ack += uint32(len(first[0].tcp.Payload))
	p.send("AE", nil)
	assert.Equal(t, uint64(1), h.s.Counters().TCP.ECNReductions)
	assert.Less(t, c.cc.Cwnd(), before, "the window is reduced")
	p.ack += uint32(len(first[1].tcp.Payload))
	p.send("AE", nil)
	assert.Equal(t, uint64(1), h.s.Counters().TCP.ECNReductions, "once per round trip")

	var cwr []ecnSeg
	for range 20 {
		h.after(100 * time.Millisecond)
		for _, o := range ecnOut(h) {
			if o.tcp.CWR {
				cwr = append(cwr, o)
			}
		}
		if len(cwr) > 0 {
			break
		}
		p.ack = uint32(c.sndMax)
		p.send("A", nil)
	}
	require.Len(t, cwr, 1, "CWR on the next new data")
	assert.LessOrEqual(t, len(cwr[0].tcp.Payload), 1460, "in a segment of its own")
	assert.Equal(t, uint8(ecnECT0), cwr[0].ecn)
}

// Without an ECN-setup SYN, or with ECN off, there is no ECN.
func TestECNNotNegotiated(t *testing.T) {
	for _, c := range []struct {
		name string
		ask  bool
		ecn  string
	}{{"not asked", false, ""}, {"off", true, "off"}} {
		t.Run(c.name, func(t *testing.T) {
			h := newRuleHarness(t, false, Config{TCP: TCPConfig{ECN: c.ecn}})
			_, sa, s := ecnHandshake(t, h, c.ask)
			assert.False(t, sa.ECE)
			writeNow(t, h, s, []byte("hello"))
			out := ecnOut(h)
			require.Len(t, out, 1)
			assert.Zero(t, out[0].ecn)
		})
	}
}

// TCPConfig.ECN "on" asks in our SYN (ECE and CWR); an ECN-setup SYN-ACK
// makes the connection use it.
func TestECNActiveOpen(t *testing.T) {
	h := newRuleHarness(t, false, Config{TCP: TCPConfig{ECN: "on"}})
	sock := dialManual(t, h.s, netip.AddrPortFrom(netip.AddrFrom4([4]byte(peerIP)), 80))
	h.poll()
	syn := ecnOut(h)
	require.Len(t, syn, 1)
	assert.True(t, syn[0].tcp.SYN && syn[0].tcp.ECE && syn[0].tcp.CWR, "an ECN-setup SYN")
	p := &tcpPeer{h: h, port: 80, lport: syn[0].tcp.SrcPort, seq: peerISN, ack: syn[0].tcp.Seq + 1}
	p.send("SAE", nil, mssOpt(1460))
	p.seq++
	h.out()
	_, err := sock.Write([]byte("hello"))
	require.NoError(t, err)
	h.poll()
	out := ecnOut(h)
	require.Len(t, out, 1)
	assert.Equal(t, uint8(ecnECT0), out[0].ecn)
}
