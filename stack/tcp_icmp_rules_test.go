package stack

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ICMP errors for TCP (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191) and local
// ports (RFC 6056).

// sentFrames returns the raw frames sent from index from on.
func sentFrames(h *harness, from int) [][]byte { return h.fd.out[from:] }

// icmpAbout injects an ICMP destination unreachable with the given code
// and next-hop MTU, quoting the IP header and first 8 TCP bytes of frame,
// or of a copy of it with the sequence number replaced when seqNum is
// not nil.
func icmpAbout(h *harness, frame []byte, code uint8, mtu uint16, seqNum *uint32) {
	quote := append([]byte(nil), frame[14:14+20+8]...)
	if seqNum != nil {
		quote[20+4], quote[20+5], quote[20+6], quote[20+7] = byte(*seqNum>>24), byte(*seqNum>>16), byte(*seqNum>>8), byte(*seqNum)
	}
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, code), Seq: mtu},
		gopacket.Payload(quote))
}

// RFC 1191 §6 and RFC 5927 §4.1: a fragmentation-needed message quoting a
// segment in flight lowers the segment size to the next-hop MTU less the
// headers, and what is unacknowledged goes again in segments that fit,
// with DF; the congestion window is left alone (not congestion).
func TestTCPRuleICMPFragmentationNeeded(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		mark := len(h.fd.out)
		writeNow(t, h, s, bytesOf(3000, 'a'))
		frames := sentFrames(h, mark)
		require.Len(t, frames, 3)
		p.segs()
		cwnd := infoOf(t, s).Cwnd
		icmpAbout(h, frames[0], layers.ICMPv4CodeFragmentationNeeded, 1000, nil)
		var sizes []int
		for _, pk := range h.out() {
			ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
			assert.LessOrEqual(t, int(ip.Length), 1000)
			assert.Equal(t, layers.IPv4DontFragment, ip.Flags&layers.IPv4DontFragment)
			assert.Equal(t, sa.Seq+1+uint32(960*len(sizes)), tcp.Seq)
			sizes = append(sizes, len(tcp.Payload))
		}
		assert.Equal(t, []int{960, 960, 960, 120}, sizes, "1000 - 40 bytes a segment")
		in := infoOf(t, s)
		assert.Equal(t, 960, in.MSS)
		assert.Equal(t, cwnd, in.Cwnd)
		c := h.s.Counters().TCP
		assert.Equal(t, uint64(1), c.PMTUUpdates)
		assert.Zero(t, c.ICMPOutOfWindow)
	})
}

// RFC 5927 §4.1: an ICMP error quoting a sequence number not in flight
// (outside SND.UNA..SND.MAX) is ignored and counted.
func TestTCPRuleICMPOutOfWindowIgnored(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		mark := len(h.fd.out)
		writeNow(t, h, s, bytesOf(3000, 'a'))
		frame := sentFrames(h, mark)[0]
		p.segs()
		for _, bad := range []uint32{sa.Seq, sa.Seq + 1 + 3000, sa.Seq + 1 + 1<<20} {
			icmpAbout(h, frame, layers.ICMPv4CodeFragmentationNeeded, 1000, &bad)
		}
		assert.Empty(t, p.segs(), "nothing resent")
		assert.Equal(t, 1460, infoOf(t, s).MSS)
		c := h.s.Counters().TCP
		assert.Equal(t, uint64(3), c.ICMPOutOfWindow)
		assert.Zero(t, c.PMTUUpdates)
	})
}

// RFC 1122 §4.2.3.9: port (or protocol) unreachable aborts a connection
// being opened: ECONNREFUSED.
func TestTCPRuleICMPPortUnreachableInSynSent(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		mark := len(h.fd.out)
		s := dialManual(t, h.s, peerAddr80)
		h.poll()
		frames := sentFrames(h, mark)
		require.Len(t, frames, 1)
		h.out()
		icmpAbout(h, frames[0], layers.ICMPv4CodePort, 0, nil)
		_, err := readNow(t, s, 10)
		assertErrno(t, err, syscall.ECONNREFUSED)
		assert.Equal(t, uint64(1), h.s.Counters().TCP.AttemptFails)
		h.at(time.Second)
		assert.Empty(t, h.out(), "no SYN retransmission")
	})
}

// RFC 1122 §4.2.3.9 and RFC 5461 §4: host unreachable on an established
// connection is a soft error: it changes nothing at once, and if the
// connection later times out it is the error reported (EHOSTUNREACH).
func TestTCPRuleICMPHostUnreachableIsSoft(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{Retries: 2}})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		mark := len(h.fd.out)
		writeNow(t, h, s, []byte("data"))
		frame := sentFrames(h, mark)[0]
		p.segs()
		icmpAbout(h, frame, layers.ICMPv4CodeHost, 0, nil)
		assert.Empty(t, p.segs())
		assert.Equal(t, "ESTABLISHED", stateOf(h, 40000))
		h.at(time.Second)
		assertSeg(t, p.one(t, "retransmission"), "A", sa.Seq+1, p.seq, "still trying")
		h.at(3 * time.Second)
		p.one(t, "retransmission")
		h.at(7*time.Second - 1)
		assert.Zero(t, s.c.shErr.Load())
		h.at(7 * time.Second)
		_, err := readNow(t, s, 10)
		assertErrno(t, err, syscall.EHOSTUNREACH)
	})
}

// RFC 6056 §3.3.3: ephemeral ports come from 32768-60999 (Linux's
// ip_local_port_range) and differ between connections to one peer.
func TestTCPRuleEphemeralPorts(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		seen := map[uint16]bool{}
		for i := range 8 {
			s := dialManual(t, h.s, peerAddr80)
			port := s.laddr.Port()
			assert.GreaterOrEqual(t, port, uint16(32768))
			assert.LessOrEqual(t, port, uint16(60999))
			assert.False(t, seen[port], "connection %d reuses port %d", i, port)
			seen[port] = true
		}
		other := dialManual(t, h.s, netip.MustParseAddrPort("10.0.0.9:443"))
		assert.GreaterOrEqual(t, other.laddr.Port(), uint16(32768))
	})
}
