//go:build dpdk

package dpdk

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// allocFrame allocates one frame on queue q holding b.
func allocFrame(t testing.TB, p *Port, q int, b []byte) *backend.Frame {
	t.Helper()
	var one [1]*backend.Frame
	require.Equal(t, 1, p.Alloc(q, one[:], len(b)), "alloc %d bytes", len(b))
	f := one[0]
	require.True(t, f.SetLen(len(b)))
	require.Equal(t, len(b), f.CopyFrom(b, 0))
	return f
}

// recvFrames polls queue q until n frames arrived or timeout passed.
func recvFrames(t testing.TB, p *Port, q, n int, timeout time.Duration) []*backend.Frame {
	t.Helper()
	var got []*backend.Frame
	buf := make([]*backend.Frame, 64)
	end := time.Now().Add(timeout)
	for len(got) < n && time.Now().Before(end) {
		k, err := p.Recv(q, buf)
		require.NoError(t, err)
		got = append(got, buf[:k]...)
		if k == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	return got
}

// sendRecv sends n frames of size bytes, frame i being pattern(size, i),
// on queue 0 of tx and returns them received on queue 0 of rx.
func sendRecv(t testing.TB, tx, rx *Port, n, size int) []*backend.Frame {
	t.Helper()
	sent := make([]*backend.Frame, n)
	for i := range sent {
		sent[i] = allocFrame(t, tx, 0, pattern(size, byte(i)))
	}
	k, err := tx.Send(0, sent)
	require.NoError(t, err)
	require.Equal(t, n, k)
	got := recvFrames(t, rx, 0, n, time.Second)
	require.Len(t, got, n)
	return got
}

// recvMatch polls queue q until a frame matches, releasing the others.
func recvMatch(t testing.TB, p *Port, q int, timeout time.Duration, match func(*backend.Frame) bool) *backend.Frame {
	t.Helper()
	buf := make([]*backend.Frame, 32)
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		k, err := p.Recv(q, buf)
		require.NoError(t, err)
		var found *backend.Frame
		for _, f := range buf[:k] {
			if found == nil && match(f) {
				found = f
				continue
			}
			backend.ReleaseOne(f)
		}
		if found != nil {
			return found
		}
		if k == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	return nil
}

// linear is a frame's bytes in one slice.
func linear(f *backend.Frame) []byte { return f.AppendTo(nil) }

// pattern is n bytes that differ from their neighbours and from a shifted
// copy, so a misplaced byte shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>8) ^ seed
	}
	return b
}

// Frame builders. They fill checksums in full unless told to leave a
// partial one.

func ethernet(dst, src net.HardwareAddr, etherType uint16) []byte {
	b := make([]byte, 14, 2048)
	copy(b, dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], etherType)
	return b
}

func ipv4(b []byte, src, dst netip.Addr, proto uint8, payloadLen int) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+payloadLen))
	binary.BigEndian.PutUint16(h[4:], 0x1234)
	h[6] = 0x40 // DF
	h[8] = 64
	h[9] = proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], wire.Checksum(h, 0))
	return append(b, h...)
}

// pseudo is the folded pseudo-header sum of an IPv4 transport segment.
func pseudo(src, dst netip.Addr, proto uint8, n int) uint16 {
	s, d := src.As4(), dst.As4()
	return wire.Fold(wire.PseudoHeaderSum(s[:], d[:], proto, n))
}

// udpFrame builds Ethernet/IPv4/UDP. With partial, the checksum field holds
// only the pseudo-header sum, as a CsumPartial frame does.
func udpFrame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16, payload []byte, partial bool) []byte {
	b := ethernet(dstMAC, srcMAC, 0x0800)
	b = ipv4(b, src, dst, 17, 8+len(payload))
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	u = append(u, payload...)
	ph := pseudo(src, dst, 17, len(u))
	if partial {
		binary.BigEndian.PutUint16(u[6:], ph)
	} else {
		binary.BigEndian.PutUint16(u[6:], wire.Checksum(u, ph))
	}
	return append(b, u...)
}

// setPartial marks a frame built with a partial checksum.
func setPartial(f *backend.Frame, csumOffset uint16) {
	f.Csum = backend.CsumPartial
	f.CsumStart = 34
	f.CsumOffset = csumOffset
	f.L2Len, f.L3Len = 14, 20
}

func icmpEcho(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	b := ethernet(dstMAC, srcMAC, 0x0800)
	b = ipv4(b, src, dst, 1, 8+len(payload))
	m := make([]byte, 8, 8+len(payload))
	m[0] = 8 // echo request
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	m = append(m, payload...)
	binary.BigEndian.PutUint16(m[2:], wire.Checksum(m, 0))
	return append(b, m...)
}

// tcpFrame builds Ethernet/IPv4/TCP with an ACK, with the pseudo-header
// sum over the whole segment in the checksum field, as a CsumPartial (and
// GSO) frame has.
func tcpFrame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16, seq uint32, payload []byte) []byte {
	b := ethernet(dstMAC, srcMAC, 0x0800)
	b = ipv4(b, src, dst, 6, 20+len(payload))
	h := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], 1)
	h[12] = 5 << 4
	h[13] = 0x10 // ACK
	binary.BigEndian.PutUint16(h[14:], 65535)
	h = append(h, payload...)
	binary.BigEndian.PutUint16(h[16:], pseudo(src, dst, 6, len(h)))
	return append(b, h...)
}

// parsed is what the tests read from a received IPv4 frame.
type parsed struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16 // UDP and TCP
	seq          uint32 // TCP
	icmpType     uint8
	l4           []byte // transport header and payload
	payload      []byte // after the transport header
}

// parseIPv4 reads b as Ethernet/IPv4 and reports false for anything else.
func parseIPv4(b []byte) (parsed, bool) {
	var p parsed
	if len(b) < 34 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return p, false
	}
	ip := b[14:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total > len(ip) || ihl < 20 || total < ihl {
		return p, false
	}
	p.src = netip.AddrFrom4([4]byte(ip[12:16]))
	p.dst = netip.AddrFrom4([4]byte(ip[16:20]))
	p.proto = ip[9]
	p.l4 = ip[ihl:total]
	switch {
	case p.proto == 17 && len(p.l4) >= 8:
		p.sport = binary.BigEndian.Uint16(p.l4[0:])
		p.dport = binary.BigEndian.Uint16(p.l4[2:])
		p.payload = p.l4[8:]
	case p.proto == 6 && len(p.l4) >= 20:
		p.sport = binary.BigEndian.Uint16(p.l4[0:])
		p.dport = binary.BigEndian.Uint16(p.l4[2:])
		p.seq = binary.BigEndian.Uint32(p.l4[4:])
		p.payload = p.l4[int(p.l4[12]>>4)*4:]
	case p.proto == 1 && len(p.l4) >= 8:
		p.icmpType = p.l4[0]
		p.payload = p.l4[8:]
	}
	return p, true
}
