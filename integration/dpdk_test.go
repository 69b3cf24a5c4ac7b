//go:build dpdk

package integration

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Built with -tags dpdk (make test-dpdk), the tests run a ustack binary
// with the DPDK backend: `ustack serve --backend dpdk` and `ustack get
// --backend dpdk` on a net_tap virtual device whose kernel side, in a
// network namespace of its own, is the peer.

// dpdkSkip is why the DPDK tests cannot run, or empty.
var dpdkSkip string

func init() {
	if err := exec.Command("pkg-config", "--exists", "libdpdk").Run(); err != nil {
		dpdkSkip = "needs libdpdk-dev and pkg-config (.ci/run installs them)"
		return
	}
	buildTags = "dpdk"
}

func requireDPDK(t testing.TB, tools ...string) {
	t.Helper()
	if dpdkSkip != "" {
		t.Skip(dpdkSkip)
	}
	requireRoot(t, tools...)
}

// dpdkPort is one ustack process's DPDK side: a net_tap device whose
// kernel netdev (iface) appears in namespace ns, and an EAL file prefix of
// its own so that concurrent DPDK processes never share a runtime
// directory.
type dpdkPort struct {
	ns, iface, prefix string
	mac               string // ustack's (--mac); the kernel keeps its own
	lcores            string // the EAL's -l (default 0)
}

func newDPDKPort(ns string) dpdkPort {
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	return dpdkPort{ns: ns, iface: "dk" + id, prefix: "dk" + id,
		mac: "02:dc:" + id[0:2] + ":" + id[2:4] + ":" + id[4:6] + ":02"}
}

// eal is the EAL arguments: no hugepages, PCI or shared config, core 0
// or d.lcores, the TAP device.
func (d dpdkPort) eal() string {
	lcores := cmp.Or(d.lcores, "0")
	return fmt.Sprintf("-l %s --no-huge --no-pci --no-shconf -m 256 --file-prefix %s --vdev=net_tap0,iface=%s", lcores, d.prefix, d.iface)
}

// args are the backend flags of ustack on the port.
func (d dpdkPort) args(addr string) []string {
	return []string{"--backend", "dpdk", "--eal", d.eal(), "--port", "net_tap0", "--addr", addr, "--mac", d.mac}
}

// runtimeDir is the EAL's runtime directory of the port's process.
func (d dpdkPort) runtimeDir() string { return filepath.Join("/var/run/dpdk", d.prefix) }

// configureHost waits for the TAP netdev to appear in the namespace (the
// EAL makes it) and gives the kernel's side hostAddr.
func (d dpdkPort) configureHost(t testing.TB, hostAddr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("ip", "-n", d.ns, "link", "show", d.iface).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the net_tap netdev %s did not appear in namespace %s", d.iface, d.ns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	run(t, "ip", "-n", d.ns, "addr", "add", hostAddr, "dev", d.iface)
	run(t, "ip", "-n", d.ns, "link", "set", d.iface, "up")
}

// addHostIPv6 gives the kernel's side of the port hostAddr.
func (d dpdkPort) addHostIPv6(t testing.TB, hostAddr string) {
	t.Helper()
	run(t, "ip", "-n", d.ns, "addr", "add", hostAddr, "dev", d.iface, "nodad")
}

// newDPDKServe starts `ustack serve --backend dpdk` in a fresh namespace
// with args, waits until it serves and configures the kernel side.
func newDPDKServe(t testing.TB, args ...string) (*netns, dpdkPort) {
	t.Helper()
	return newDPDKServeOn(t, "", args...)
}

// newDPDKServeOn is newDPDKServe with the EAL on lcores (-l; "" for 0).
func newDPDKServeOn(t testing.TB, lcores string, args ...string) (*netns, dpdkPort) {
	t.Helper()
	n := makeNetns(t, "dk-")
	d := newDPDKPort(n.name)
	d.lcores = lcores
	n.start(20*time.Second, append(append([]string{"serve"}, d.args(n.ustack+"/24")...), args...)...)
	d.configureHost(t, n.host+"/24")
	return n, d
}

// TestDPDKServe runs the services of `ustack serve --backend dpdk` against
// the kernel, then stops it with SIGTERM.
func TestDPDKServe(t *testing.T) {
	requireDPDK(t, "ping", "curl", "nc", "sysctl")
	n, d := newDPDKServe(t, "--addr", "fd7d::2/64", "--http", ":80", "--echo", "7", "--udp-echo", "7", "--metrics", "127.0.0.1:9100")
	d.addHostIPv6(t, "fd7d::1/64")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("ping", func(t *testing.T) {
		n.waitLog(`(msg="queue loop bound to a core" queue=0 lcore=0)`, 5*time.Second) // one queue, one lcore
		out, err := n.exec(ctx, nil, "ping", "-c", "5", "-i", "0.2", "-W", "2", n.ustack)
		require.NoError(t, err)
		assert.Contains(t, string(out), "5 received")
		out, err = n.exec(ctx, nil, "ip", "neigh", "show", n.ustack)
		require.NoError(t, err)
		assert.Contains(t, string(out), d.mac, "the kernel reaches ustack at ustack's own MAC address")
	})

	t.Run("curl 100 MiB down and up", func(t *testing.T) {
		curlDownUp(ctx, t, n, mib100)
	})

	t.Run("nc echo", func(t *testing.T) {
		data := randomBytes(1 << 20)
		out, err := n.exec(ctx, bytes.NewReader(data), "nc", "-N", n.ustack, "7")
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, out), "echoed %d of %d bytes", len(out), len(data))
	})

	// The same services over IPv6: neighbour discovery on the port,
	// fragmented echo requests, TCP and UDP.
	t.Run("IPv6", func(t *testing.T) {
		out, err := n.exec(ctx, nil, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd7d::2")
		require.NoError(t, err, "ping -6:\n%s", out)
		assert.Contains(t, string(out), "3 received")
		out, err = n.exec(ctx, nil, "ping", "-6", "-c", "2", "-s", "3000", "-W", "2", "fd7d::2")
		require.NoError(t, err, "fragmented echo:\n%s", out)
		assert.Contains(t, string(out), "2 received")

		curlChecked(ctx, t, n, "http://[fd7d::2]/bytes/20000000")

		data := randomBytes(1 << 20)
		out, err = n.exec(ctx, bytes.NewReader(data), "nc", "-6", "-N", "fd7d::2", "7")
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, out), "TCP echoed %d of %d bytes", len(out), len(data))
		out, err = n.exec(ctx, strings.NewReader("datagram over IPv6\n"), "nc", "-6", "-u", "-w", "1", "fd7d::2", "7")
		require.NoError(t, err)
		assert.Equal(t, "datagram over IPv6\n", string(out), "UDP echo")
	})

	t.Run("port statistics as metrics", func(t *testing.T) {
		out, err := n.exec(ctx, nil, "curl", "-sS", "--fail", "http://127.0.0.1:9100/metrics")
		require.NoError(t, err)
		m := string(out)
		assert.Contains(t, m, `ustack_dpdk_link_up{iface="eth0"} 1`)
		assert.Regexp(t, `ustack_dpdk_rx_good_packets_total\{iface="eth0"\} [1-9][0-9]{4,}`, m, "100 MiB came in")
		assert.Regexp(t, `ustack_dpdk_tx_good_bytes_total\{iface="eth0"\} [1-9][0-9]{8,}`, m, "100 MiB went out")
		assert.Contains(t, m, `ustack_dpdk_rx_missed_errors_total{iface="eth0"}`)
	})

	t.Run("link down and up logged", func(t *testing.T) {
		n.waitLog(`(msg="link up" iface=eth0 link="up [0-9]+ Mb/s)`, 5*time.Second)
		run(t, "ip", "-n", d.ns, "link", "set", d.iface, "down")
		n.waitLog(`(msg="link down" iface=eth0)`, 5*time.Second)
		run(t, "ip", "-n", d.ns, "link", "set", d.iface, "up")
		n.waitLog(`(?s)msg="link down".*(msg="link up")`, 5*time.Second)
		out, err := n.exec(ctx, nil, "ping", "-c", "1", "-W", "2", n.ustack)
		require.NoError(t, err, "ping after the link came back:\n%s", out)
	})

	t.Run("SIGTERM", func(t *testing.T) {
		require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
		err := waitExit(n.cmd, 5*time.Second)
		n.cmd = nil
		require.NoError(t, err, "exit status after SIGTERM:\n%s", n.stderr.String())
		log := n.stderr.String()
		require.Contains(t, log, "shutting down")
		assert.NotContains(t, log[strings.Index(log, "shutting down"):], `msg="link`, "the port going down with the shutdown is no news")
		assert.NotContains(t, log, "panic")
		assert.NotContains(t, log, "duplicate address")
		assertNoEALLeft(t, d)
	})
}

// Without --mac, ustack on net_tap takes an address of its own, not the
// kernel netdev's that the device reports: both ends keep IPv6 on from the
// start, their link-local addresses differ, and duplicate address
// detection finds no conflict.
func TestDPDKTapAddressOfItsOwn(t *testing.T) {
	requireDPDK(t, "ping")
	n := makeNetns(t, "dk-")
	d := newDPDKPort(n.name)
	n.start(20*time.Second, "serve", "--backend", "dpdk", "--eal", d.eal(), "--port", "net_tap0",
		"--addr", n.ustack+"/24", "--addr", "fd7c::2/64")
	d.configureHost(t, n.host+"/24")
	d.addHostIPv6(t, "fd7c::1/64")
	n.waitLog(`msg="address up" addr=(fd7c::2)/64`, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, a := range []string{n.ustack, "fd7c::2"} {
		out, err := n.exec(ctx, nil, "ping", "-c", "2", "-i", "0.2", "-W", "2", a)
		require.NoError(t, err, "ping %s:\n%s\nustack:\n%s", a, out, n.stderr.String())
	}
	link, err := n.exec(ctx, nil, "ip", "-br", "link", "show", d.iface)
	require.NoError(t, err)
	kernel := strings.Fields(string(link))[2]
	for _, a := range []string{n.ustack, "fd7c::2"} {
		neigh, err := n.exec(ctx, nil, "ip", "neigh", "show", a)
		require.NoError(t, err)
		f := strings.Fields(string(neigh))
		require.GreaterOrEqual(t, len(f), 5, "neighbour entry of %s: %q", a, neigh)
		assert.NotEqual(t, kernel, f[4], "ustack's address for %s is its own", a)
	}
	// The link-local address may come up after the static one.
	n.waitLog(`msg="address up" addr=(fe80::[0-9a-f:]+)/64 source=linklocal`, 10*time.Second)
	assert.NotContains(t, n.stderr.String(), "duplicate address")
}

// hugepages is how many hugepages the machine has reserved.
func hugepages(t testing.TB) int {
	b, err := os.ReadFile("/proc/meminfo")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "HugePages_Total:" {
			n, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			return n
		}
	}
	return 0
}

// assertNoEALLeft checks that a ustack process left no DPDK state behind:
// no runtime directory (telemetry socket) and no TAP netdev.
func assertNoEALLeft(t testing.TB, d dpdkPort) {
	t.Helper()
	_, err := os.Stat(d.runtimeDir())
	assert.True(t, os.IsNotExist(err), "the EAL's runtime directory %s is left: %v", d.runtimeDir(), err)
	assert.Error(t, exec.Command("ip", "-n", d.ns, "link", "show", d.iface).Run(), "the TAP netdev %s is left", d.iface)
}

// ustack as the HTTP client (`ustack get --backend dpdk`) of a Go server in
// the namespace.
func TestDPDKGetFromLinuxServer(t *testing.T) {
	requireDPDK(t, "sysctl")
	n := makeNetns(t, "dk-")
	d := newDPDKPort(n.name)
	data := randomBytes(32 << 20)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/data" {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	})}
	ln := n.listen("0.0.0.0:8080")
	go srv.Serve(ln)
	defer srv.Close()

	get := func(path string) (string, error) { return dpdkGet(t, n, d, "http://"+n.host+":8080"+path) }
	out, err := get("/data")
	require.NoError(t, err, out)
	sum := sha256.Sum256(data)
	assert.Contains(t, out, "sha256 "+hex.EncodeToString(sum[:]))
	assert.Contains(t, out, fmt.Sprintf("bytes %d", len(data)))
	out, err = get("/missing")
	require.Error(t, err, "a 404 is a failure:\n%s", out)
}

// dpdkGet runs `ustack get` with extra flags then url on port d from
// namespace n, and returns its output and how it ended, having checked that
// it left no EAL state behind.
func dpdkGet(t *testing.T, n *netns, d dpdkPort, url string, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append(append(append([]string{"netns", "exec", n.name, ustackBin, "get"}, extra...), d.args(n.ustack+"/24")...), url)
	cmd := exec.CommandContext(ctx, "ip", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	// The kernel side exists once the EAL made it; ustack's ARP and SYN
	// retries cover the moments before it is configured.
	d.configureHost(t, n.host+"/24")
	err := cmd.Wait()
	assertNoEALLeft(t, d)
	return out.String(), err
}

// A signal never leaves DPDK state behind: a second SIGTERM during serve's
// shutdown exits at once with status 1, and SIGINT during a fetch ends
// `ustack get`; both remove the EAL's runtime files on the way out.
func TestDPDKSignalsLeaveNoEALState(t *testing.T) {
	requireDPDK(t, "nc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("second SIGTERM during the shutdown", func(t *testing.T) {
		n, d := newDPDKServe(t, "--echo", "7", "--grace", "30s")
		// An idle echo connection holds the shutdown for the grace period.
		stdin, hold := io.Pipe()
		nc := exec.CommandContext(ctx, "ip", "netns", "exec", n.name, "nc", n.ustack, "7")
		nc.Stdin = stdin
		echoed, err := nc.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, nc.Start())
		defer func() {
			hold.Close()
			nc.Process.Kill() // its peer is gone with ustack
			nc.Wait()
		}()
		_, err = hold.Write([]byte("held\n"))
		require.NoError(t, err)
		line, err := bufio.NewReader(echoed).ReadString('\n')
		require.NoError(t, err, "the echo connection:\n%s", n.stderr.String())
		require.Equal(t, "held\n", line)
		require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
		n.waitLog(`(msg="shutting down")`, 5*time.Second)
		require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
		err = waitExit(n.cmd, 5*time.Second)
		n.cmd = nil
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "a forced exit:\n%s", n.stderr.String())
		assert.Equal(t, 1, exit.ExitCode())
		assert.Contains(t, n.stderr.String(), "second signal")
		assertNoEALLeft(t, d)
	})

	t.Run("SIGINT during get", func(t *testing.T) {
		n := makeNetns(t, "dk-")
		d := newDPDKPort(n.name)
		started := make(chan struct{}, 1)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(make([]byte, 64<<10))
			w.(http.Flusher).Flush()
			started <- struct{}{}
			<-r.Context().Done() // the rest never comes
		})}
		ln := n.listen("0.0.0.0:8080")
		go srv.Serve(ln)
		defer srv.Close()
		args := append(append([]string{"netns", "exec", n.name, ustackBin, "get"}, d.args(n.ustack+"/24")...), "http://"+n.host+":8080/")
		get := exec.CommandContext(ctx, "ip", args...)
		var out syncBuffer
		get.Stdout, get.Stderr = &out, &out
		require.NoError(t, get.Start())
		d.configureHost(t, n.host+"/24")
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatalf("the fetch did not start:\n%s", out.String())
		}
		require.NoError(t, get.Process.Signal(syscall.SIGINT))
		err := waitExit(get, 10*time.Second)
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "get interrupted:\n%s", out.String())
		assert.Contains(t, out.String(), "interrupted by interrupt")
		assertNoEALLeft(t, d)
	})
}

// Bad input: one line from ustack naming the problem, a non-zero exit and
// no DPDK state left behind.
func TestDPDKBadInput(t *testing.T) {
	requireDPDK(t, "sysctl")
	n := makeNetns(t, "dk-")
	for _, tc := range []struct {
		name string
		args func(d dpdkPort) []string
		want string // in ustack's error line
	}{
		{"bad EAL argument", func(d dpdkPort) []string {
			return []string{"--eal", d.eal() + " --no-such-eal-flag"}
		}, "bad EAL arguments"},
		{"missing port", func(d dpdkPort) []string {
			return []string{"--eal", d.eal(), "--port", "net_tap7"}
		}, `no port "net_tap7" (ports: 0 net_tap0)`},
		{"missing port id", func(d dpdkPort) []string {
			return []string{"--eal", d.eal(), "--port", "3"}
		}, `no port 3 (ports: 0 net_tap0)`},
		{"too few mbufs", func(d dpdkPort) []string {
			return []string{"--eal", d.eal(), "--port", "net_tap0", "--mbufs", "100"}
		}, "100 mbufs per queue are too few"},
		{"negative mbufs", func(d dpdkPort) []string {
			return []string{"--eal", d.eal(), "--port", "net_tap0", "--mbufs", "-1"}
		}, "--mbufs -1"},
		// Hugepages asked for (no --no-huge) where there are none: the EAL
		// fails after it made its shared configuration, which goes too.
		{"no hugepages", func(d dpdkPort) []string {
			if hugepages(t) > 0 {
				t.Skip("this machine has hugepages reserved")
			}
			return []string{"--eal", strings.Replace(d.eal(), "--no-huge --no-pci --no-shconf -m 256", "--no-pci", 1)}
		}, "no usable hugepages (reserve some"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDPDKPort(n.name)
			args := append([]string{"netns", "exec", n.name, ustackBin, "serve", "--backend", "dpdk", "--addr", "10.77.0.2/24"}, tc.args(d)...)
			cmd := exec.Command("ip", args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			err := waitExit(cmd, 20*time.Second)
			require.Error(t, err, "ustack exits non-zero")
			var ours []string
			for _, l := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(l, "ustack serve: ") {
					ours = append(ours, l)
				}
			}
			require.Len(t, ours, 1, "one error line from ustack:\n%s", stderr.String())
			assert.Contains(t, ours[0], tc.want)
			last := strings.TrimSpace(stderr.String())
			assert.True(t, strings.HasSuffix(last, ours[0]), "the error line is the last: %q", last[max(0, len(last)-300):])
			assertNoEALLeft(t, d)
		})
	}
}

// A DPDK port on VLAN 100 of a Linux bridge (this kernel has no 802.1Q of
// its own) serves a ustack on a TAP port of the same bridge and VLAN, over
// two queues.
func TestDPDKVLANThroughABridge(t *testing.T) {
	requireDPDK(t)
	n := makeNetns(t, "dk-")
	d := newDPDKPort(n.name)
	run(t, "ip", "-n", n.name, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", n.name, "link", "set", "br0", "up")
	for _, c := range [][]string{{"tuntap", "add", "dev", "tvb", "mode", "tap"}, {"link", "set", "tvb", "master", "br0"}, {"link", "set", "tvb", "up"}} {
		run(t, "ip", append([]string{"-n", n.name}, c...)...)
	}
	n.start(20*time.Second, append(append([]string{"serve"}, d.args("10.87.0.2/24")...), "--queues", "2", "--vlan", "100", "--http", ":80")...)
	// The port's netdev joins the bridge; its address, which the bridge
	// keeps for itself, is the kernel's, not ustack's.
	d.configureHost(t, "10.87.0.1/24")
	run(t, "ip", "-n", n.name, "link", "set", d.iface, "master", "br0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.exec(ctx, nil, ustackBin, "get", "--tap", "tvb", "--vlan", "100", "--addr", "10.87.0.3/24", "http://10.87.0.2/bytes/5000000")
	require.NoError(t, err, "%s\nserve:\n%s", out, n.stderr.String())
	assert.Contains(t, string(out), "bytes 5000000")
}
