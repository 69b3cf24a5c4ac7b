package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var ustackBin string

// buildTags are the build tags of the ustack binary the tests run: "dpdk"
// when the tests themselves are built with -tags dpdk (dpdk_test.go).
var buildTags string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ustack-integration")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ustackBin = filepath.Join(dir, "ustack")
	out, err := exec.Command("go", "build", "-tags", buildTags, "-o", ustackBin, "../cmd/ustack").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building ustack: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireRoot skips tests that need root, /dev/net/tun and the tools.
func requireRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: TAP devices and network namespaces (CI runs as root)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s on PATH (.ci/run installs it)", tool)
		}
	}
}

// netns is a fresh network namespace with ustack serving in it on a TAP
// device whose kernel side is the peer.
type netns struct {
	t      testing.TB
	name   string
	host   string // the kernel's address
	ustack string // ustack's address
	cmd    *exec.Cmd
	stderr *syncBuffer
}

// newNetns makes a namespace and starts `ustack serve` in it with args.
func newNetns(t testing.TB, args ...string) *netns {
	t.Helper()
	return newNetnsNamed(t, "ustk", args...)
}

// newNetnsNamed is newNetns with the namespace's name starting with prefix.
func newNetnsNamed(t testing.TB, prefix string, args ...string) *netns {
	t.Helper()
	n := makeNetns(t, prefix)
	n.start(10*time.Second, append([]string{"serve", "--tap", "tap0",
		"--host-addr", n.host + "/24", "--addr", n.ustack + "/24"}, args...)...)
	return n
}

// makeNetns makes a namespace named prefix and six random hex digits, with
// its loopback up, removed (and ustack stopped) when the test ends.
func makeNetns(t testing.TB, prefix string) *netns {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	run(t, "ip", "netns", "add", name)
	n := &netns{t: t, name: name, host: "10.77.0.1", ustack: "10.77.0.2"}
	t.Cleanup(func() {
		n.stop()
		exec.Command("ip", "netns", "del", name).Run()
	})
	run(t, "ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
	return n
}

// start runs ustack with args in the namespace, its output in n.stderr,
// and waits up to ready (0: not at all) for its "ready" log line.
func (n *netns) start(ready time.Duration, args ...string) {
	n.t.Helper()
	n.stderr = &syncBuffer{}
	n.cmd = exec.Command("ip", append([]string{"netns", "exec", n.name, ustackBin}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.stderr, n.stderr
	require.NoError(n.t, n.cmd.Start())
	if ready > 0 {
		n.waitLog(`(msg=ready)`, ready)
	}
}

// stop sends SIGTERM and expects a clean exit within the grace period.
func (n *netns) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			n.t.Errorf("ustack serve exited with %v:\n%s", err, n.stderr.String())
		}
	case <-time.After(5 * time.Second):
		n.cmd.Process.Kill()
		n.t.Errorf("ustack serve did not exit within 5 s of SIGTERM:\n%s", n.stderr.String())
	}
	if strings.Contains(n.stderr.String(), "panic") {
		n.t.Errorf("ustack logged a panic:\n%s", n.stderr.String())
	}
	n.cmd = nil
}

// waitExit waits for cmd to exit, killing it after timeout.
func waitExit(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("no exit within %v", timeout)
	}
}

// exec runs a command in the namespace and returns its stdout.
func (n *netns) exec(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}

// listen opens a TCP listener inside the namespace.
func (n *netns) listen(addr string) net.Listener { return listenIn(n.t, n.name, addr) }

// listenIn opens a TCP listener inside namespace ns.
func listenIn(t testing.TB, ns, addr string) net.Listener {
	t.Helper()
	return inNamespace(t, ns, func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// packetIn opens a datagram socket inside namespace ns.
func packetIn(t testing.TB, ns, network, addr string) net.PacketConn {
	t.Helper()
	return inNamespace(t, ns, func() (net.PacketConn, error) { return net.ListenPacket(network, addr) })
}

// inNamespace opens a socket inside namespace ns, closed when the test
// ends: a thread joins the namespace just long enough to create it, and
// the socket stays there.
func inNamespace[T io.Closer](t testing.TB, ns string, open func() (T, error)) T {
	t.Helper()
	type result struct {
		c   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is left locked so it dies with the goroutine rather
		// than return to the pool inside another namespace.
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		c, err := open()
		ch <- result{c, err}
	}()
	r := <-ch
	require.NoError(t, r.err)
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
}

// syncBuffer is a bytes.Buffer safe for a process's writes and our reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// headerValue finds a header in curl -D output.
func headerValue(headers []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(headers))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
