package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// The README's recipe for the Internet from a laptop: the kernel forwards
// and masquerades what ustack sends through its TAP device, here to
// another namespace standing for the Internet, which has no route back to
// ustack's subnet. `ustack get` resolves a name there over UDP and fetches
// a file over TCP, both through the NAT, and again over TLS.
func TestTAPThroughNAT(t *testing.T) {
	requireRoot(t, "nft", "dnsmasq", "sysctl")
	n := makeNetns(t, "nt") // the laptop
	inet := makeNetns(t, "ni")
	out, in := "vn"+inet.name[2:], "vi"+inet.name[2:]
	run(t, "ip", "link", "add", out, "type", "veth", "peer", "name", in)
	run(t, "ip", "link", "set", out, "netns", n.name)
	run(t, "ip", "link", "set", in, "netns", inet.name)
	for _, c := range [][]string{
		{n.name, "addr", "add", "198.51.100.1/24", "dev", out},
		{n.name, "link", "set", out, "up"},
		{n.name, "route", "add", "default", "via", "198.51.100.2"},
		{inet.name, "addr", "add", "198.51.100.2/24", "dev", in},
		{inet.name, "addr", "add", "203.0.113.1/32", "dev", "lo"},
		{inet.name, "link", "set", in, "up"},
	} {
		run(t, "ip", append([]string{"-n"}, c...)...)
	}
	nft := func(args ...string) { run(t, "ip", append([]string{"netns", "exec", n.name, "nft"}, args...)...) }
	run(t, "ip", "netns", "exec", n.name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nft("add", "table", "ip", "nat")
	nft("add", "chain", "ip", "nat", "post", "{ type nat hook postrouting priority srcnat ; }")
	nft("add", "rule", "ip", "nat", "post", "ip", "saddr", "10.77.0.0/24", "oifname", out, "masquerade")

	dns := startDnsmasq(t, inet.name, "--listen-address=203.0.113.1", "--address=/files.example/203.0.113.1")
	require.Eventually(t, func() bool { return strings.Contains(dns(), "started") }, 10*time.Second, 10*time.Millisecond, "dnsmasq:\n%s", dns())
	data := randomBytes(1 << 20)
	ln := listenIn(t, inet.name, "203.0.113.1:8080")
	clients := make(chan string, 1)
	go serveBytesTo(ln, data, clients)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := n.exec(ctx, nil, ustackBin, "get", "--tap", "tap0", "--host-addr", n.host+"/24", "--addr", n.ustack+"/24",
		"--gateway", n.host, "--dns", "203.0.113.1", "http://files.example:8080/data")
	require.NoError(t, err, "%s\ndnsmasq:\n%s", got, dns())
	assert.Contains(t, string(got), "sha256 "+sha256Hex(data))
	from := netip.MustParseAddrPort(<-clients).Addr()
	assert.Equal(t, netip.MustParseAddr("198.51.100.1"), from, "masqueraded")

	cert, caFile := selfSigned(t, "files.example")
	tln := tls.NewListener(listenIn(t, inet.name, "203.0.113.1:8443"), &tls.Config{Certificates: []tls.Certificate{cert}})
	go serveBytes(tln, data)
	got, err = n.exec(ctx, nil, ustackBin, "get", "--tap", "tap0", "--host-addr", n.host+"/24", "--addr", n.ustack+"/24",
		"--gateway", n.host, "--dns", "203.0.113.1", "--cacert", caFile, "https://files.example:8443/data")
	require.NoError(t, err, "%s", got)
	assert.Contains(t, string(got), "sha256 "+sha256Hex(data))
}

// selfSigned makes a certificate for host that is its own authority, and
// returns it with the PEM file that trusts it.
func selfSigned(t *testing.T, host string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// Two ustacks on VLAN 100 of a Linux bridge (this kernel has no 802.1Q of
// its own to be the peer): serve on one TAP port, get on another fetches a
// file through the bridge; on VLAN 200, or untagged, get reaches nothing.
// serve's capture holds only tagged frames of its own, and tshark reads
// them whole.
func TestTAPVLANThroughABridge(t *testing.T) {
	requireRoot(t, "tshark")
	n := makeNetns(t, "vl")
	run(t, "ip", "-n", n.name, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", n.name, "link", "set", "br0", "up")
	for _, tap := range []string{"tva", "tvb", "tvc"} {
		for _, c := range [][]string{{"tuntap", "add", "dev", tap, "mode", "tap"}, {"link", "set", tap, "master", "br0"}, {"link", "set", tap, "up"}} {
			run(t, "ip", append([]string{"-n", n.name}, c...)...)
		}
	}
	capture := filepath.Join(t.TempDir(), "serve.pcap")
	const mac = "02:00:00:00:85:02"
	n.start(10*time.Second, "serve", "--tap", "tva", "--vlan", "100", "--mac", mac, "--addr", "10.85.0.2/24", "--http", ":80", "--pcap", capture)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := n.exec(ctx, nil, ustackBin, "get", "--tap", "tvb", "--vlan", "100", "--addr", "10.85.0.3/24", "http://10.85.0.2/bytes/3000000")
	require.NoError(t, err, "%s\nserve:\n%s", got, n.stderr.String())
	assert.Contains(t, string(got), "bytes 3000000")
	for _, vlan := range []string{"200", "0"} {
		_, err := n.exec(ctx, nil, ustackBin, "get", "--tap", "tvc", "--vlan", vlan, "--addr", "10.85.0.4/24", "--timeout", "3s", "http://10.85.0.2/bytes/1000")
		assert.Error(t, err, "reached from VLAN %s", vlan)
	}
	n.stop()
	ours, err := n.exec(ctx, nil, "tshark", "-n", "-r", capture, "-Y", "eth.src == "+mac+" && !vlan")
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(string(ours)), "untagged frames sent")
	tagged, err := n.exec(ctx, nil, "tshark", "-n", "-r", capture, "-Y", "vlan.id == 100 && tcp")
	require.NoError(t, err)
	assert.Greater(t, strings.Count(string(tagged), "\n"), 100, "the transfer, tagged")
	bad, err := n.exec(ctx, nil, "tshark", "-n", "-r", capture, "-Y", "_ws.malformed || _ws.expert.severity >= error")
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(string(bad)), "malformed packets")
}
