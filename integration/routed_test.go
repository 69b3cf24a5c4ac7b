package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Beyond a Linux router, with a default gateway per family: ustack serves
// a host on another link over IPv4 and IPv6. That link's MTU is 1280, so
// the router's Fragmentation Needed and Packet Too Big lower ustack's path
// MTU (RFC 1191, RFC 8201) and the downloads arrive whole.
func TestTAPThroughARouter(t *testing.T) {
	requireRoot(t, "curl", "sysctl")
	n := makeNetns(t, "rt") // ustack's, whose kernel routes
	far := makeNetns(t, "rf")
	near, remote := "vn"+far.name[2:], "vf"+far.name[2:]
	run(t, "ip", "link", "add", near, "type", "veth", "peer", "name", remote)
	run(t, "ip", "link", "set", near, "netns", n.name)
	run(t, "ip", "link", "set", remote, "netns", far.name)
	// No duplicate address detection: the veths' addresses (nodad below)
	// and tap0's are in use at once.
	run(t, "ip", "netns", "exec", n.name, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	for _, c := range [][]string{
		{n.name, "addr", "add", "10.72.0.1/24", "dev", near},
		{n.name, "addr", "add", "fd72::1/64", "dev", near, "nodad"},
		{n.name, "link", "set", near, "mtu", "1280", "up"},
		{far.name, "addr", "add", "10.72.0.2/24", "dev", remote},
		{far.name, "addr", "add", "fd72::2/64", "dev", remote, "nodad"},
		{far.name, "link", "set", remote, "up"},
		{far.name, "route", "add", "10.77.0.0/24", "via", "10.72.0.1"},
		{far.name, "-6", "route", "add", "fd77::/64", "via", "fd72::1"},
	} {
		run(t, "ip", append([]string{"-n"}, c...)...)
	}
	n.start(10*time.Second, "serve", "--tap", "tap0", "--host-addr", n.host+"/24", "--addr", n.ustack+"/24",
		"--host-addr", "fd77::1/64", "--addr", "fd77::2/64", "--gateway", n.host, "--gateway", "fd77::1",
		"--http", ":80", "--metrics", "127.0.0.1:9100")
	n.waitLog(`msg="address up" addr=(fd77::2)/64`, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, host := range []string{n.ustack, "[fd77::2]"} {
		curlChecked(ctx, t, far, fmt.Sprintf("http://%s/bytes/3000000", host))
	}
	m := scrape(t, n)
	assert.Positive(t, m["ustack_icmp_in_dest_unreachs_total"], "Fragmentation Needed from the router")
	assert.Positive(t, m["ustack_icmpv6_in_pkt_too_bigs_total"], "Packet Too Big from the router")
	assert.GreaterOrEqual(t, m["ustack_tcp_pmtu_updates_total"], 2.0, "a path MTU per family")
}
