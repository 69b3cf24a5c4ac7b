//go:build dpdk

package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ustack on a veth through DPDK's net_af_packet, the kernel on the other
// end with a veth's default offloads: it leaves TCP and UDP checksums to a
// NIC that never comes (CHECKSUM_PARTIAL), and the packet socket under
// net_af_packet passes them up as they are. ustack takes them as the
// kernel's own receivers do. A veth also hands the packet socket TSO
// super-frames, which net_af_packet cuts at its frame size: uploads need
// the peer's segmentation offloads off, as the README says.
func TestDPDKAFPacketOnVeth(t *testing.T) {
	requireDPDK(t, "ping", "curl", "nc", "ethtool")
	n := makeNetns(t, "dk-")
	d := newDPDKPort(n.name)
	run(t, "ip", "-n", n.name, "link", "add", "va", "type", "veth", "peer", "name", "vb")
	run(t, "ip", "-n", n.name, "link", "set", "va", "up")
	run(t, "ip", "-n", n.name, "addr", "add", n.host+"/24", "dev", "vb")
	run(t, "ip", "-n", n.name, "link", "set", "vb", "up")
	offloads, err := exec.Command("ip", "netns", "exec", n.name, "ethtool", "-k", "vb").CombinedOutput()
	require.NoError(t, err, "%s", offloads)
	require.Contains(t, string(offloads), "tx-checksumming: on", "the veth leaves checksums to a NIC")

	eal := fmt.Sprintf("-l 0 --no-huge --no-pci --no-shconf -m 256 --file-prefix %s --vdev=net_af_packet0,iface=va", d.prefix)
	n.start(20*time.Second, "serve", "--backend", "dpdk", "--eal", eal, "--port", "net_af_packet0",
		"--addr", n.ustack+"/24", "--http", ":80", "--echo", "7", "--udp-echo", "7", "--metrics", "127.0.0.1:9100")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	out, err := n.exec(ctx, nil, "ping", "-c", "3", "-i", "0.2", "-W", "2", n.ustack)
	require.NoError(t, err, "ping:\n%s\nustack:\n%s", out, n.stderr.String())
	curlChecked(ctx, t, n, fmt.Sprintf("http://%s/bytes/%d", n.ustack, 20<<20))
	out, err = n.exec(ctx, strings.NewReader("a datagram\n"), "nc", "-u", "-w", "1", n.ustack, "7")
	require.NoError(t, err)
	assert.Equal(t, "a datagram\n", string(out), "UDP echo")
	m, err := n.exec(ctx, nil, "curl", "-sS", "--fail", "http://127.0.0.1:9100/metrics")
	require.NoError(t, err)
	assert.Contains(t, string(m), "ustack_tcp_in_csum_errors_total 0\n", "no segment of the kernel's taken for corrupt")
	assert.Contains(t, string(m), "ustack_udp_in_csum_errors_total 0\n")

	run(t, "ip", "netns", "exec", n.name, "ethtool", "-K", "vb", "tso", "off", "gso", "off")
	curlDownUp(ctx, t, n, 20<<20)
	assert.NotContains(t, n.stderr.String(), "panic")
}
