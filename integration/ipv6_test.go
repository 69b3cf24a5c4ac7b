package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// IPv6 and automatic addressing against the Linux kernel and dnsmasq over
// TAP, each test in its own namespace named v6….

// newV6Netns makes a namespace whose kernel skips duplicate address
// detection (the tests need its addresses at once) and returns its name.
func newV6Netns(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	name := "v6" + hex.EncodeToString(b)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
	run(t, "ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	return name
}

// startUstack runs ustack with args in namespace ns until the test ends.
func startUstack(t *testing.T, ns string, args ...string) *netns {
	t.Helper()
	n := &netns{t: t, name: ns}
	n.start(0, args...)
	t.Cleanup(n.stop)
	return n
}

// waitLog waits until ustack logs a line matching re and returns its
// first submatch.
func (n *netns) waitLog(re string, timeout time.Duration) string {
	n.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		if m := rx.FindStringSubmatch(n.stderr.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("no log line matching %s within %v:\n%s", re, timeout, n.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startDnsmasq runs dnsmasq in namespace ns with args until the test ends,
// and returns a function that gives its log so far.
func startDnsmasq(t *testing.T, ns string, args ...string) func() string {
	t.Helper()
	dir := t.TempDir()
	logs := &syncBuffer{}
	base := []string{"netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
		"--pid-file=" + filepath.Join(dir, "pid"), "--dhcp-leasefile=" + filepath.Join(dir, "leases"),
		"--no-resolv", "--no-hosts", "--bind-dynamic", "--interface=tap0", "--log-dhcp"}
	cmd := exec.Command("ip", append(base, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return logs.String
}

// RFC 4861 and RFC 4443 against Linux: ping -6 to ustack's link-local
// address (with the interface's zone) and to its global one, and curl over
// IPv6 with the body checked against the X-Sha256 the server sends.
func TestTAPIPv6PingAndCurl(t *testing.T) {
	requireRoot(t, "ping", "curl")
	ns := newV6Netns(t)
	n := startUstack(t, ns, "serve", "--tap", "tap0", "--host-addr", "fd77::1/64", "--addr", "10.76.0.2/24", "--addr", "fd77::2/64", "--http", ":80")
	ll := n.waitLog(`msg="address up" addr=(fe80::[0-9a-f:]+)/64 source=linklocal`, 10*time.Second)
	n.waitLog(`msg="address up" addr=(fd77::2)/64 source=static`, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, dst := range []string{ll + "%tap0", "fd77::2"} {
		out, err := n.exec(ctx, nil, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", dst)
		require.NoError(t, err, "ping -6 %s", dst)
		assert.Contains(t, string(out), "3 received", dst)
	}
	out, err := n.exec(ctx, nil, "ping", "-6", "-c", "2", "-s", "3000", "-W", "2", "fd77::2")
	require.NoError(t, err, "fragmented echo")
	assert.Contains(t, string(out), "2 received")

	curlChecked(ctx, t, n, "http://[fd77::2]/bytes/10000000")
}

// RFC 4862 §5.5.3 with dnsmasq as the router: its advertisement of a
// prefix for autoconfiguration gives ustack an address, logged as
// DESIGN.md says, on which Linux reaches it; a static address in the same
// prefix does not stop it.
func TestTAPSLAACFromDnsmasq(t *testing.T) {
	requireRoot(t, "dnsmasq", "ping", "curl")
	ns := newV6Netns(t)
	n := startUstack(t, ns, "serve", "--tap", "tap0", "--host-addr", "10.78.0.1/24", "--addr", "10.78.0.2/24", "--addr", "fd78::2/64", "--http", ":80")
	n.waitLog(`(msg=ready)`, 10*time.Second)
	run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", "fd78::1/64", "dev", "tap0", "nodad")
	dnsmasq := startDnsmasq(t, ns, "--port=0", "--enable-ra", "--dhcp-range=::,constructor:tap0,ra-only,64,10m", "--ra-param=tap0,4,600")
	addr := n.waitLog(`msg="address up" addr=(fd78:[0-9a-f:]+)/64 source=slaac`, 15*time.Second)
	a := netip.MustParseAddr(addr)
	assert.NotEqual(t, netip.MustParseAddr("fd78::2"), a, "not the static address")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.exec(ctx, nil, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", addr)
	require.NoError(t, err, "dnsmasq:\n%s\nustack:\n%s", dnsmasq(), n.stderr.String())
	assert.Contains(t, string(out), "3 received")
	curlChecked(ctx, t, n, fmt.Sprintf("http://[%s]/bytes/1000000", addr))

	// With --addr auto, ustack get has no address but what the
	// advertisement gives, and fetches from the kernel with it.
	n.stop()
	data := randomBytes(1 << 20)
	ln := listenIn(t, ns, "[::]:8080")
	clients := make(chan string, 1)
	go serveBytesTo(ln, data, clients)
	out, err = n.exec(ctx, nil, ustackBin, "get", "--tap", "tap0", "--host-addr", "fd78::1/64", "--addr", "auto", "http://[fd78::1]:8080/data")
	require.NoError(t, err, "%s\ndnsmasq:\n%s", out, dnsmasq())
	assert.Contains(t, string(out), "sha256 "+sha256Hex(data))
	from := netip.MustParseAddrPort(<-clients).Addr()
	assert.True(t, netip.MustParsePrefix("fd78::/64").Contains(from), "from %v, a SLAAC address", from)
}

// --addr-gen eui64 makes the SLAAC address from the MAC (RFC 4291
// Appendix A), and --dad-transmits 0 has every address in use at once:
// the static one is up before "ready", and the kernel's side, added
// without duplicate address detection, answers at once too.
func TestTAPSLAACEUI64WithoutDAD(t *testing.T) {
	requireRoot(t, "dnsmasq", "ping")
	ns := newV6Netns(t)
	n := startUstack(t, ns, "serve", "--tap", "tap0", "--mac", "02:00:00:00:00:99", "--addr", "fd79::2/64", "--host-addr", "fd79::1/64",
		"--addr-gen", "eui64", "--dad-transmits", "0", "--http", ":80")
	n.waitLog(`(msg=ready)`, 10*time.Second)
	require.Regexp(t, `msg="address up" addr=fd79::2/64 source=static.*\n.*msg=ready`, n.stderr.String())
	dnsmasq := startDnsmasq(t, ns, "--port=0", "--enable-ra", "--dhcp-range=::,constructor:tap0,ra-only,64,10m", "--ra-param=tap0,4,600")
	addr := n.waitLog(`msg="address up" addr=(fd79:[0-9a-f:]+)/64 source=slaac`, 15*time.Second)
	assert.Equal(t, "fd79::ff:fe00:99", addr, "EUI-64 from 02:00:00:00:00:99")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.exec(ctx, nil, "ping", "-6", "-c", "1", "-W", "2", addr)
	require.NoError(t, err, "dnsmasq:\n%s\nustack:\n%s", dnsmasq(), n.stderr.String())
	assert.Contains(t, string(out), "1 received")
}

// RFC 8415 with dnsmasq as the server: its router advertisement sets the
// M flag, so ustack asks DHCPv6 for an address, is reachable on it,
// takes the DNS server, and gives the address back when it stops. `ustack
// get` of an IPv6 URL waits for such an address rather than find the
// network unreachable.
func TestTAPDHCPv6FromDnsmasq(t *testing.T) {
	requireRoot(t, "dnsmasq", "ping", "curl")
	ns := newV6Netns(t)
	capture := filepath.Join(t.TempDir(), "serve.pcap")
	n := startUstack(t, ns, "serve", "--tap", "tap0", "--host-addr", "10.82.0.1/24", "--host-addr", "fd7a::1/64",
		"--addr", "10.82.0.2/24", "--http", ":80", "--pcap", capture)
	n.waitLog(`(msg=ready)`, 10*time.Second)
	dnsmasq := startDnsmasq(t, ns, "--enable-ra", "--dhcp-range=::100,::1ff,constructor:tap0,64,10m",
		"--dhcp-option=option6:dns-server,[fd7a::1]", "--address=/files6.example/fd7a::1")
	addr := n.waitLog(`msg="address up" addr=(fd7a::[0-9a-f]+)/128 source=dhcpv6`, 20*time.Second)
	a := netip.MustParseAddr(addr)
	assert.True(t, netip.MustParsePrefix("fd7a::100/120").Contains(a), "%v from the range", a)
	n.waitLog(`msg="dns server" addr=(fd7a::1) source=dhcpv6`, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.exec(ctx, nil, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", addr)
	require.NoError(t, err, "dnsmasq:\n%s\nustack:\n%s", dnsmasq(), n.stderr.String())
	assert.Contains(t, string(out), "3 received")
	curlChecked(ctx, t, n, fmt.Sprintf("http://[%s]/bytes/1000000", addr))
	assert.Contains(t, dnsmasq(), "DHCPREPLY(tap0) "+addr)
	n.stop()
	sent := dhcpSent(t, capture)
	require.NotEmpty(t, sent)
	assert.Equal(t, "Solicit", sent[0])
	assert.Contains(t, sent, "Request")
	assert.Equal(t, "Release", sent[len(sent)-1], "released on shutdown: %v", sent)

	data := randomBytes(1 << 20)
	ln := listenIn(t, ns, "[::]:8080")
	clients := make(chan string, 1)
	go serveBytesTo(ln, data, clients)
	// A host name with no --dns: the server DHCPv6 gives resolves it.
	for _, url := range []string{"http://[fd7a::1]:8080/data", "http://files6.example:8080/data"} {
		out, err = n.exec(ctx, nil, ustackBin, "get", "--tap", "tap0", "--host-addr", "10.82.0.1/24", "--host-addr", "fd7a::1/64", "--addr", "10.82.0.2/24", url)
		require.NoError(t, err, "%s: %s\ndnsmasq:\n%s", url, out, dnsmasq())
		assert.Contains(t, string(out), "sha256 "+sha256Hex(data))
		from := netip.MustParseAddrPort(<-clients).Addr()
		assert.True(t, netip.MustParsePrefix("fd7a::100/120").Contains(from), "%s: from %v: the leased address, not the link-local one", url, from)
	}
}

// RFC 2131 with dnsmasq as the server: `ustack serve --addr dhcp` gets a
// lease, is reachable on it, and gives it back when it stops; `ustack get
// --addr dhcp` resolves a name through the DNS server of its lease.
func TestTAPDHCPFromDnsmasq(t *testing.T) {
	requireRoot(t, "dnsmasq", "ping", "curl")
	ns := newV6Netns(t)
	dnsmasq := startDnsmasq(t, ns, "--no-ping", "--dhcp-range=10.79.0.50,10.79.0.60,255.255.255.0,2m",
		"--dhcp-option=option:router,10.79.0.1", "--dhcp-option=option:dns-server,10.79.0.1",
		"--address=/test.example/10.79.0.1", "--listen-address=10.79.0.1")
	capture := filepath.Join(t.TempDir(), "serve.pcap")
	n := startUstack(t, ns, "serve", "--tap", "tap0", "--host-addr", "10.79.0.1/24", "--addr", "dhcp", "--http", ":80", "--pcap", capture)
	addr := n.waitLog(`msg="address up" addr=(10\.79\.0\.[0-9]+)/24 source=dhcp`, 15*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.exec(ctx, nil, "ping", "-c", "3", "-i", "0.2", "-W", "2", addr)
	require.NoError(t, err, "dnsmasq:\n%s", dnsmasq())
	assert.Contains(t, string(out), "3 received")
	curlChecked(ctx, t, n, "http://"+addr+"/bytes/1000000")
	n.stop()
	// The release is the last frame ustack sends; dnsmasq may see it only
	// after the TAP device is gone, so the capture shows it.
	assert.Equal(t, []string{"Discover", "Request", "Release"}, dhcpSent(t, capture), "released on shutdown")

	data := randomBytes(1 << 20)
	ln := listenIn(t, ns, "0.0.0.0:8080")
	go serveBytes(ln, data)
	out, err = n.exec(ctx, nil, ustackBin, "get", "--tap", "tap0", "--host-addr", "10.79.0.1/24", "--addr", "dhcp", "http://test.example:8080/data")
	require.NoError(t, err, "dnsmasq:\n%s", dnsmasq())
	assert.Contains(t, string(out), "sha256 "+sha256Hex(data))
}

// RFC 2131 §4.4.1 with dnsmasq as the server: the one address it can
// lease is the kernel's too, so ustack's ARP probe is answered and the
// lease declined, which dnsmasq logs.
func TestTAPDHCPDeclinesAddressInUse(t *testing.T) {
	requireRoot(t, "dnsmasq")
	ns := newV6Netns(t)
	// The device exists before ustack attaches to it, with both of the
	// kernel's addresses.
	for _, c := range [][]string{
		{"tuntap", "add", "dev", "tap0", "mode", "tap"},
		{"addr", "add", "10.79.1.1/24", "dev", "tap0"},
		{"addr", "add", "10.79.1.50/32", "dev", "tap0"},
		{"link", "set", "tap0", "up"},
	} {
		run(t, "ip", append([]string{"-n", ns}, c...)...)
	}
	dnsmasq := startDnsmasq(t, ns, "--no-ping", "--dhcp-range=10.79.1.50,10.79.1.50,255.255.255.0,2m")
	n := startUstack(t, ns, "serve", "--tap", "tap0", "--addr", "dhcp", "--http", ":80")
	n.waitLog(`msg="dhcp: leased address in use, declined" addr=(10\.79\.1\.50)`, 20*time.Second)
	require.Eventually(t, func() bool { return strings.Contains(dnsmasq(), "DHCPDECLINE(tap0) 10.79.1.50") }, 5*time.Second, 50*time.Millisecond,
		"dnsmasq:\n%s", dnsmasq())
	assert.NotContains(t, n.stderr.String(), `msg="address up" addr=10.79.1.50`)
}

// serveBytes answers GET /data with data on ln until ln is closed.
func serveBytes(ln net.Listener, data []byte) {
	serveBytesTo(ln, data, nil)
}

// serveBytesTo is serveBytes that sends each client's address to clients,
// if it has room.
func serveBytesTo(ln net.Listener, data []byte, clients chan<- string) {
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case clients <- r.RemoteAddr:
		default:
		}
		if r.URL.Path != "/data" {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// dhcpSent lists the DHCP and DHCPv6 messages ustack sent in a capture,
// by type.
func dhcpSent(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	var types []string
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return types
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if d6, ok := p.Layer(layers.LayerTypeDHCPv6).(*layers.DHCPv6); ok && p.Layer(layers.LayerTypeUDP).(*layers.UDP).SrcPort == 546 {
			types = append(types, d6.MsgType.String())
			continue
		}
		d, ok := p.Layer(layers.LayerTypeDHCPv4).(*layers.DHCPv4)
		if !ok || d.Operation != layers.DHCPOpRequest {
			continue
		}
		for _, o := range d.Options {
			if o.Type == layers.DHCPOptMessageType && len(o.Data) == 1 {
				types = append(types, layers.DHCPMsgType(o.Data[0]).String())
			}
		}
	}
}
