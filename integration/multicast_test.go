package integration

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Multicast against the Linux kernel over TAP: `ustack serve --udp-echo
// 5000 --join GROUP` joins a group of each family, and a datagram the
// kernel sends to the group comes back from ustack's address. ustack's
// capture holds an IGMPv3 and an MLDv2 report of the groups, which tshark
// reads as such.
func TestTAPMulticastEcho(t *testing.T) {
	requireRoot(t, "tshark")
	n := makeNetns(t, "mc")
	capture := filepath.Join(t.TempDir(), "serve.pcap")
	n.start(10*time.Second, "serve", "--tap", "tap0", "--host-addr", "10.84.0.1/24", "--addr", "10.84.0.2/24",
		"--host-addr", "fd84::1/64", "--addr", "fd84::2/64", "--dad-transmits", "0",
		"--udp-echo", "5000", "--join", "239.1.2.3", "--join", "ff05::1:3", "--pcap", capture)
	// The kernel sends IPv4 groups out of tap0 by this route; IPv6 ones
	// by the interface's own multicast route.
	run(t, "ip", "-n", n.name, "route", "add", "239.0.0.0/8", "dev", "tap0")
	for _, c := range []struct{ from, group, reply string }{
		{"10.84.0.1:0", "239.1.2.3:5000", "10.84.0.2"},
		{"[fd84::1]:0", "[ff05::1:3]:5000", "fd84::2"},
	} {
		pc := packetIn(t, n.name, "udp", c.from)
		to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(c.group))
		buf := make([]byte, 100)
		var got string
		var from net.Addr
		// The first datagrams may go out before the kernel knows
		// ustack's MAC for the reply; send until one comes back.
		for i := 0; i < 20 && got == ""; i++ {
			_, err := pc.WriteTo([]byte("to the group "+c.group), to)
			require.NoError(t, err)
			require.NoError(t, pc.SetReadDeadline(time.Now().Add(250*time.Millisecond)))
			if k, a, err := pc.ReadFrom(buf); err == nil {
				got, from = string(buf[:k]), a
			}
		}
		require.Equal(t, "to the group "+c.group, got, "ustack:\n%s", n.stderr.String())
		assert.Equal(t, c.reply, netip.MustParseAddrPort(from.String()).Addr().String(), "the echo comes from ustack's address")
	}
	n.stop()
	out, err := n.exec(t.Context(), nil, "tshark", "-n", "-r", capture, "-Y", "igmp.type == 0x22 || icmpv6.type == 143", "-T", "fields",
		"-e", "igmp.maddr", "-e", "icmpv6.mldr.mar.multicast_address")
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "239.1.2.3", "an IGMPv3 report")
	assert.Contains(t, string(out), "ff05::1:3", "an MLDv2 report")
	bad, err := n.exec(t.Context(), nil, "tshark", "-n", "-r", capture, "-Y", "_ws.malformed || _ws.expert.severity >= error")
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(string(bad)), "malformed packets")
}
