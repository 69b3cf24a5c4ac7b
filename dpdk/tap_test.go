//go:build dpdk

package dpdk

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// tapRig is net_tap0 with the kernel side (dtap0) in 198.18.N.0/24 (RFC
// 2544's benchmarking range, routed nowhere): the kernel at .1, us at .2
// behind a static neighbour entry, so the kernel never asks ARP.
type tapRig struct {
	p       *Port
	mac     net.HardwareAddr // ours
	hostMAC net.HardwareAddr // the kernel's
	host    netip.Addr
	self    netip.Addr
	ifindex int
}

// tapMAC is the stack's address on the port; the kernel netdev keeps its
// own.
var tapMAC = net.HardwareAddr{0x02, 0x75, 0x73, 0x74, 0x6b, 0x01}

func run(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
}

func openTap(t testing.TB) *tapRig {
	t.Helper()
	lockThread(t)
	p := openPort(t, Config{Port: "net_tap0", MAC: tapMAC, RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	require.Equal(t, tapMAC, p.Caps().MAC)
	ifi, err := net.InterfaceByName(tapIface)
	require.NoError(t, err)
	require.NotEqual(t, tapMAC.String(), ifi.HardwareAddr.String(), "the kernel netdev keeps an address of its own")
	var n [1]byte
	_, err = rand.Read(n[:])
	require.NoError(t, err)
	r := &tapRig{
		p:       p,
		mac:     tapMAC,
		hostMAC: ifi.HardwareAddr,
		host:    netip.AddrFrom4([4]byte{198, 18, n[0], 1}),
		self:    netip.AddrFrom4([4]byte{198, 18, n[0], 2}),
		ifindex: ifi.Index,
	}
	// Less noise from the kernel side: no IPv6 (router solicitations,
	// MLD reports).
	exec.Command("sysctl", "-qw", "net.ipv6.conf."+tapIface+".disable_ipv6=1").Run()
	run(t, "ip", "addr", "add", r.host.String()+"/24", "dev", tapIface)
	run(t, "ip", "link", "set", tapIface, "up")
	run(t, "ip", "neigh", "replace", r.self.String(), "lladdr", tapMAC.String(), "dev", tapIface, "nud", "permanent")
	return r
}

// Without a configured address the stack takes one of its own on net_tap,
// derived from the kernel netdev's, which the port leaves as it was.
func TestTapStackAddressOfItsOwn(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_tap0", RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	ifi, err := net.InterfaceByName(tapIface)
	require.NoError(t, err)
	mac := p.Caps().MAC
	t.Logf("kernel %v, stack %v", ifi.HardwareAddr, mac)
	require.Len(t, mac, 6)
	assert.NotEqual(t, ifi.HardwareAddr.String(), mac.String())
	assert.Zero(t, mac[0]&0x01, "unicast")
	assert.NotZero(t, mac[0]&0x02, "locally administered")
	assert.Equal(t, ifi.HardwareAddr[1:5], mac[1:5], "derived from the kernel's")
}

// An MTU whose frames the device cannot receive is refused in the
// device's terms (the EAL would say "invalid argument"), and the port
// opens afterwards.
func TestTapRefusesJumboMTU(t *testing.T) {
	lockThread(t)
	if tapSkip != "" {
		t.Skip("skipping: " + tapSkip)
	}
	ensurePort(t, "net_tap0")
	p, err := Open(Config{Port: "net_tap0", MTU: 9000, RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	require.Error(t, err)
	assert.Nil(t, p)
	assert.Contains(t, err.Error(), "mtu 9000: the device (net_tap) receives frames of at most 1522 bytes, an MTU of at most 1504")
	openPort(t, Config{Port: "net_tap0", RxDesc: 256, TxDesc: 256, Mbufs: 2047})
}

func TestTapCaps(t *testing.T) {
	r := openTap(t)
	caps := r.p.Caps()
	t.Logf("net_tap0: %+v", caps)
	assert.Equal(t, 1500, caps.MTU)
	assert.True(t, caps.Offloads.RxCsum)
	assert.True(t, caps.Offloads.TxCsum)
	assert.True(t, caps.Offloads.TSO)
	assert.Equal(t, backend.SteerNone, caps.Steering)
	l, err := r.p.Link()
	require.NoError(t, err)
	assert.True(t, l.Up, "link %v", l)
	assert.True(t, r.p.allMulticast(), "all-multicast mode, for IPv6's groups")
	out, err := exec.Command("ip", "link", "show", tapIface).CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), "ALLMULTI", "net_tap passed the mode to its netdev")
}

// The kernel sends a UDP datagram to our address; it arrives on the port
// with its checksum verified by the device.
func TestTapReceivesKernelUDP(t *testing.T) {
	r := openTap(t)
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.self, 7777)))
	require.NoError(t, err)
	defer c.Close()
	payload := []byte("hello from the kernel")
	_, err = c.Write(payload)
	require.NoError(t, err)
	f := recvMatch(t, r.p, 0, 5*time.Second, func(f *backend.Frame) bool {
		pk, ok := parseIPv4(linear(f))
		return ok && pk.proto == 17 && pk.dport == 7777
	})
	require.NotNil(t, f, "the kernel's datagram did not arrive")
	defer backend.ReleaseOne(f)
	b := linear(f)
	pk, _ := parseIPv4(b)
	assert.Equal(t, payload, pk.payload)
	assert.Equal(t, r.host, pk.src)
	assert.Equal(t, net.HardwareAddr(b[0:6]), r.mac)
	assert.Equal(t, backend.CsumVerified, f.Csum)
	assert.True(t, wire.VerifyTransportChecksum(pk.src, pk.dst, 17, pk.l4))
}

// An ICMP echo request built by hand gets the kernel's reply.
func TestTapEchoReply(t *testing.T) {
	r := openTap(t)
	payload := pattern(56, 9)
	f := allocFrame(t, r.p, 0, icmpEcho(r.hostMAC, r.mac, r.self, r.host, 0x4242, 1, payload))
	n, err := r.p.Send(0, []*backend.Frame{f})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	reply := recvMatch(t, r.p, 0, 5*time.Second, func(f *backend.Frame) bool {
		pk, ok := parseIPv4(linear(f))
		return ok && pk.proto == 1 && pk.icmpType == 0 && binary.BigEndian.Uint16(pk.l4[4:]) == 0x4242
	})
	require.NotNil(t, reply, "no echo reply from the kernel")
	defer backend.ReleaseOne(reply)
	pk, _ := parseIPv4(linear(reply))
	assert.Equal(t, r.host, pk.src)
	assert.Equal(t, r.self, pk.dst)
	assert.Equal(t, payload, pk.payload)
}

// A datagram with a partial checksum reaches a kernel socket: the kernel
// drops bad checksums, so the device completed it.
func TestTapChecksumOffload(t *testing.T) {
	r := openTap(t)
	l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.host, 0)))
	require.NoError(t, err)
	defer l.Close()
	port := uint16(l.LocalAddr().(*net.UDPAddr).Port)
	payload := pattern(1000, 4)
	f := allocFrame(t, r.p, 0, udpFrame(r.hostMAC, r.mac, r.self, r.host, 5555, port, payload, true))
	setPartial(f, 6)
	n, err := r.p.Send(0, []*backend.Frame{f})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, l.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 2048)
	k, from, err := l.ReadFromUDPAddrPort(buf)
	require.NoError(t, err, "the kernel did not deliver the datagram")
	assert.Equal(t, payload, buf[:k])
	assert.Equal(t, r.self, from.Addr())
	assert.Zero(t, r.p.QueueStats(0).TxDrops)
}

// A 64 KiB-style TCP frame with TSO leaves the port as MSS-sized segments
// with good checksums, as the kernel sees them on dtap0: segments of 1000
// bytes by the device, full-sized ones (which net_tap refuses to segment)
// in software.
func TestTapTSO(t *testing.T) {
	for _, mss := range []uint16{1000, 1460} {
		t.Run(fmt.Sprint(mss), func(t *testing.T) {
			r := openTap(t)
			c := openCapture(t, r.ifindex)
			payload := pattern(4000, 5)
			f := allocFrame(t, r.p, 0, tcpFrame(r.hostMAC, r.mac, r.self, r.host, 40000, 9, 1000, payload))
			require.Equal(t, 2, f.Segments(), "a 4054-byte frame is a chain of two mbufs")
			setPartial(f, 16)
			f.GSO, f.GSOSize, f.L4Len = backend.GSOTCPv4, mss, 20
			n, err := r.p.Send(0, []*backend.Frame{f})
			require.NoError(t, err)
			require.Equal(t, 1, n)
			var joined []byte
			for len(joined) < len(payload) {
				b := c.next(t, 5*time.Second, func(pk parsed) bool { return pk.proto == 6 && pk.sport == 40000 })
				require.NotNil(t, b, "segments missing after %d bytes", len(joined))
				pk, _ := parseIPv4(b)
				assert.LessOrEqual(t, len(pk.payload), int(mss))
				assert.Equal(t, uint32(1000+len(joined)), pk.seq)
				assert.True(t, wire.VerifyTransportChecksum(pk.src, pk.dst, 6, pk.l4), "TCP checksum of the segment at %d", len(joined))
				ip := b[14:34]
				assert.Zero(t, wire.Checksum(ip, 0), "IPv4 header checksum of the segment at %d", len(joined))
				joined = append(joined, pk.payload...)
			}
			assert.Equal(t, payload, joined)
		})
	}
}

// capture is an AF_PACKET socket on the kernel side of the TAP device: it
// sees what the port sent.
type capture struct{ fd int }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openCapture(t testing.TB, ifindex int) *capture {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	require.NoError(t, unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}))
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	require.NoError(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
	return &capture{fd}
}

// next returns the next captured IPv4 frame that matches, or nil after
// timeout.
func (c *capture) next(t testing.TB, timeout time.Duration, match func(parsed) bool) []byte {
	t.Helper()
	buf := make([]byte, 65536)
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		if pk, ok := parseIPv4(buf[:n]); ok && match(pk) {
			return append([]byte(nil), buf[:n]...)
		}
	}
	return nil
}
