//go:build dpdk

package dpdk

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The EAL can be initialised once per process, so TestMain does it for
// every test, with all the virtual devices they use.
var (
	// ealErr is why Init failed; the tests that need the EAL skip then.
	ealErr error
	// tapSkip is why there is no net_tap0, or empty.
	tapSkip string
)

// tapIface is the kernel netdev of net_tap0.
const tapIface = "dtap0"

// vdevs are the devargs of the test devices by port name: Close detaches
// a device, and openPort probes it again.
var vdevs = map[string]string{
	"net_ring0": "net_ring0",
	"net_null0": "net_null0",
	"net_tap0":  "net_tap0,iface=" + tapIface,
}

// testEALArgs are the EAL arguments of the tests: no hugepages, no PCI
// scan, no shared config, 256 MB, one core; a loopback ring, a null
// source/sink and, as root with /dev/net/tun, a TAP device.
func testEALArgs() []string {
	args := []string{"--no-huge", "--no-pci", "--no-shconf", "-m", "256", "-l", "0",
		"--vdev=" + vdevs["net_ring0"], "--vdev=" + vdevs["net_null0"]}
	switch {
	case os.Geteuid() != 0:
		tapSkip = "net_tap needs root"
	default:
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			tapSkip = fmt.Sprintf("net_tap needs /dev/net/tun: %v", err)
		} else if _, err := exec.LookPath("ip"); err != nil {
			tapSkip = "the tests configure the kernel side with ip(8), which is missing"
		}
	}
	if tapSkip == "" {
		args = append(args, "--vdev="+vdevs["net_tap0"])
	}
	return args
}

// childEnv makes the test binary a child that tries Init with the
// arguments in the variable (separated by spaces) and reports, for
// TestInitRefusesBadArguments: a failed Init must be tested in a process
// of its own.
const childEnv = "USTACK_DPDK_INIT_CHILD"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childEnv); ok {
		fmt.Printf("first: %v\n", Init(strings.Fields(args)))
		fmt.Printf("second: %v\n", Init(testEALArgs()))
		os.Exit(0)
	}
	ealErr = Init(testEALArgs())
	code := m.Run()
	if ealErr == nil {
		if err := Cleanup(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// skipWithoutEAL skips a test when the EAL is not up.
func skipWithoutEAL(t testing.TB) {
	t.Helper()
	if ealErr != nil {
		t.Skipf("skipping: the DPDK EAL did not initialise (needs root on most machines): %v", ealErr)
	}
}

// lockThread locks the test's goroutine to its thread and makes that an
// lcore, as a queue loop does.
func lockThread(t testing.TB) {
	t.Helper()
	skipWithoutEAL(t)
	runtime.LockOSThread()
	require.NoError(t, RegisterThread())
	t.Cleanup(func() {
		UnregisterThread()
		runtime.UnlockOSThread()
	})
}

// ensurePort probes a test device again if an earlier test's Close
// detached it.
func ensurePort(t testing.TB, name string) {
	t.Helper()
	skipWithoutEAL(t)
	if _, _, err := findPort(name); err != nil {
		require.NoError(t, Probe(vdevs[name]))
	}
}

// openPort opens a port for one test, probing its device again if an
// earlier test's Close detached it, and closes it at the end after
// checking that every frame came back.
func openPort(t testing.TB, cfg Config) *Port {
	t.Helper()
	skipWithoutEAL(t)
	if cfg.Port == "net_tap0" && tapSkip != "" {
		t.Skip("skipping: " + tapSkip)
	}
	if vdevs[cfg.Port] != "" {
		ensurePort(t, cfg.Port)
	}
	p, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Zero(t, p.Outstanding(), "mbufs outstanding at the end of the test")
		assert.NoError(t, p.Close())
		assert.True(t, p.poolsFreed(), "every mbuf is home after Close")
	})
	return p
}
