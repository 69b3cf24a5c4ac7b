package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ECN (RFC 3168) with the Linux kernel over TAP: a Linux client that asks
// for it (tcp_ecn=1) gets it from ustack serve, and ustack get --ecn on gets
// it from a Linux server (tcp_ecn=2, the default, answers). Both ends'
// data then goes out ECN-capable, as ustack's captures show.
func TestTAPECNWithLinux(t *testing.T) {
	requireRoot(t, "curl", "tshark", "sysctl")
	n := makeNetns(t, "ec")
	run(t, "ip", "netns", "exec", n.name, "sysctl", "-qw", "net.ipv4.tcp_ecn=1")
	serveCap := filepath.Join(t.TempDir(), "serve.pcap")
	n.start(10*time.Second, "serve", "--tap", "tap0", "--host-addr", n.host+"/24", "--addr", n.ustack+"/24", "--http", ":80", "--pcap", serveCap)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	curlChecked(ctx, t, n, "http://"+n.ustack+"/bytes/2000000")
	n.stop()
	count := func(capture, filter string) int {
		out, err := n.exec(ctx, nil, "tshark", "-n", "-r", capture, "-Y", filter)
		require.NoError(t, err, "%s", out)
		return strings.Count(string(out), "\n")
	}
	assert.Positive(t, count(serveCap, "tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.flags.ece==1 && tcp.flags.cwr==0"), "an ECN-setup SYN-ACK")
	assert.Positive(t, count(serveCap, "ip.src=="+n.ustack+" && tcp.len>0 && ip.dsfield.ecn==2"), "ustack's data ECT(0)")
	assert.Positive(t, count(serveCap, "ip.src=="+n.host+" && tcp.len>0 && ip.dsfield.ecn==2"), "Linux's data ECT(0)")

	run(t, "ip", "netns", "exec", n.name, "sysctl", "-qw", "net.ipv4.tcp_ecn=2")
	data := randomBytes(1 << 20)
	ln := listenIn(t, n.name, "0.0.0.0:8080")
	go serveBytes(ln, data)
	getCap := filepath.Join(t.TempDir(), "get.pcap")
	out, err := n.exec(ctx, nil, ustackBin, "get", "--tap", "tap0", "--host-addr", n.host+"/24", "--addr", n.ustack+"/24", "--ecn", "on",
		"--pcap", getCap, "http://"+n.host+":8080/data")
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "sha256 "+sha256Hex(data))
	assert.Positive(t, count(getCap, "tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.flags.ece==1 && tcp.flags.cwr==1"), "an ECN-setup SYN")
	assert.Positive(t, count(getCap, "ip.src=="+n.host+" && tcp.len>0 && ip.dsfield.ecn==2"), "Linux's data ECT(0): it agreed")
}
