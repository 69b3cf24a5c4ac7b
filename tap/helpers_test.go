package tap

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// requireRoot skips tests that need to create TAP devices where that is not
// possible. CI runs as root and runs them.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating TAP devices needs root (CAP_NET_ADMIN)")
	}
	if _, err := os.Stat(DefaultDevicePath); err != nil {
		t.Skipf("skipping: no TUN/TAP clone device: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: the tests configure the host side with ip(8), which is missing")
	}
}

// uniqueName is a device name no other test or machine interface uses.
func uniqueName(t testing.TB) string {
	var b [4]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "ustk" + hex.EncodeToString(b[:])
}

// run runs a command of the test's setup and fails the test on error.
func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
	return string(out)
}

// rig is a TAP device with a host address in 198.18.N.0/24 (RFC 2544's
// benchmarking range, routed nowhere) and a static neighbour entry for the
// stack's address, so the kernel sends to it without asking ARP.
type rig struct {
	t    testing.TB
	d    *Device
	host netip.Addr // kernel side, 198.18.N.1
	self netip.Addr // the stack's side, 198.18.N.2
	// pending are frames received after the one a recv matched, kept for
	// the next recv on the queue.
	pending map[int][]*backend.Frame
}

func openRig(t testing.TB, cfg Config) *rig {
	t.Helper()
	requireRoot(t)
	var n [1]byte
	_, err := rand.Read(n[:])
	require.NoError(t, err)
	host := netip.AddrFrom4([4]byte{198, 18, n[0], 1})
	if cfg.Name == "" {
		cfg.Name = uniqueName(t)
	}
	cfg.HostAddrs = []netip.Prefix{netip.PrefixFrom(host, 24)}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	d, err := Open(cfg)
	require.NoError(t, err)
	r := &rig{t: t, d: d, host: host, self: netip.AddrFrom4([4]byte{198, 18, n[0], 2}), pending: map[int][]*backend.Frame{}}
	t.Cleanup(func() {
		for q, fs := range r.pending {
			backend.Release(fs)
			delete(r.pending, q)
		}
		assert.NoError(t, d.Close())
		assert.Zero(t, d.Outstanding(), "buffers outstanding after close")
		if !d.Attached() {
			// It should be gone with its descriptors; make sure.
			_ = exec.Command("ip", "link", "del", d.Caps().Name).Run()
		}
	})
	name := d.Caps().Name
	// IPv6 would fill the queue with router and neighbour solicitations.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0)
	run(t, "ip", "neigh", "replace", r.self.String(), "lladdr", d.Caps().MAC.String(), "dev", name, "nud", "permanent")
	return r
}

// send sends one frame holding b on queue q; set adjusts its metadata.
func (r *rig) send(q int, b []byte, set func(*backend.Frame)) {
	r.t.Helper()
	fs := make([]*backend.Frame, 1)
	require.Equal(r.t, 1, r.d.Alloc(q, fs, len(b)))
	require.True(r.t, fs[0].SetLen(len(b)))
	fs[0].CopyFrom(b, 0)
	if set != nil {
		set(fs[0])
	}
	n, err := r.d.Send(q, fs)
	require.NoError(r.t, err)
	require.Equal(r.t, 1, n)
}

// recv waits for a frame on queue q that match accepts and returns it; the
// caller releases it. Frames it does not accept are released.
func (r *rig) recv(q int, match func(*backend.Frame) bool) *backend.Frame {
	r.t.Helper()
	f := r.tryRecv(q, 5*time.Second, match)
	require.NotNil(r.t, f, "no matching frame within 5s")
	return f
}

func (r *rig) tryRecv(q int, timeout time.Duration, match func(*backend.Frame) bool) *backend.Frame {
	clock := r.d.cfg.Clock
	end := clock.Now() + int64(timeout)
	fs := make([]*backend.Frame, 32)
	for {
		for len(r.pending[q]) > 0 {
			f := r.pending[q][0]
			r.pending[q] = r.pending[q][1:]
			if match(f) {
				return f
			}
			backend.ReleaseOne(f)
		}
		if clock.Now() >= end {
			return nil
		}
		require.NoError(r.t, r.d.Wait(q, min(end, clock.Now()+int64(100*time.Millisecond))))
		n, err := r.d.Recv(q, fs)
		require.NoError(r.t, err)
		r.pending[q] = append(r.pending[q], fs[:n]...)
	}
}

// linear is a frame's bytes in one slice.
func linear(f *backend.Frame) []byte { return f.AppendTo(nil) }

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

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// tcpSeg describes a TCP segment for tcpFrame.
type tcpSeg struct {
	sport, dport uint16
	seq, ack     uint32
	flags        uint8
	window       uint16
	mss          uint16 // an MSS option when not zero
	payload      []byte
}

// tcpFrame builds Ethernet/IPv4/TCP. With partial, the checksum field holds
// the pseudo-header sum over the whole segment, as a CsumPartial (and GSO)
// frame does.
func tcpFrame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, s tcpSeg, partial bool) []byte {
	hl := 20
	if s.mss != 0 {
		hl = 24
	}
	b := ethernet(dstMAC, srcMAC, 0x0800)
	b = ipv4(b, src, dst, 6, hl+len(s.payload))
	h := make([]byte, hl, hl+len(s.payload))
	binary.BigEndian.PutUint16(h[0:], s.sport)
	binary.BigEndian.PutUint16(h[2:], s.dport)
	binary.BigEndian.PutUint32(h[4:], s.seq)
	binary.BigEndian.PutUint32(h[8:], s.ack)
	h[12] = byte(hl/4) << 4
	h[13] = s.flags
	binary.BigEndian.PutUint16(h[14:], s.window)
	if s.mss != 0 {
		h[20], h[21] = 2, 4
		binary.BigEndian.PutUint16(h[22:], s.mss)
	}
	h = append(h, s.payload...)
	ph := pseudo(src, dst, 6, len(h))
	if partial {
		binary.BigEndian.PutUint16(h[16:], ph)
	} else {
		binary.BigEndian.PutUint16(h[16:], wire.Checksum(h, ph))
	}
	return append(b, h...)
}

// parsed is what the tests read from a received IPv4 frame.
type parsed struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16 // UDP and TCP
	seq, ack     uint32 // TCP
	flags        uint8  // TCP
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
		p.ack = binary.BigEndian.Uint32(p.l4[8:])
		p.flags = p.l4[13]
		p.payload = p.l4[int(p.l4[12]>>4)*4:]
	case p.proto == 1 && len(p.l4) >= 8:
		p.icmpType = p.l4[0]
		p.payload = p.l4[8:]
	}
	return p, true
}

// pattern is n bytes that differ from their neighbours and from a shifted
// copy, so a misplaced byte shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>8) ^ seed
	}
	return b
}

func (r *rig) String() string { return fmt.Sprintf("tap %s", r.d.Caps().Name) }
