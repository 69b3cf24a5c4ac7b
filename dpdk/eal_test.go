//go:build dpdk

package dpdk

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

func TestInitOnlyOnce(t *testing.T) {
	skipWithoutEAL(t)
	err := Init(testEALArgs())
	assert.ErrorIs(t, err, ErrInitialised)
}

// A failed Init happens in a child process: DPDK cannot initialise the EAL
// again in the process where it failed.
func TestInitRefusesBadArguments(t *testing.T) {
	skipWithoutEAL(t)
	for _, tc := range []struct {
		name, args, want string
	}{
		{"unknown option", "--no-huge --no-pci --bogus-option", `dpdk: EAL init ["--no-huge" "--no-pci" "--bogus-option"]: bad EAL arguments`},
		{"unknown device", "--no-huge --no-pci --no-shconf -l 0 --vdev=net_nosuch0", "dpdk: EAL init"},
		{"bad core list", "--no-huge --no-pci --no-shconf -l 999", "dpdk: EAL init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+tc.args)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			var first, second string
			for _, line := range strings.Split(string(out), "\n") {
				if s, ok := strings.CutPrefix(line, "first: "); ok {
					first = s
				}
				if s, ok := strings.CutPrefix(line, "second: "); ok {
					second = s
				}
			}
			assert.Contains(t, first, tc.want)
			assert.NotContains(t, first, "\n")
			assert.Contains(t, second, "cannot be initialised again in this process")
		})
	}
}

func TestThreadInit(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023})
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		assert.Equal(t, ^uint32(0), lcoreID(), "a new thread is no lcore")
		require.NoError(t, p.ThreadInit(0))
		id := lcoreID()
		assert.NotEqual(t, ^uint32(0), id)
		require.NoError(t, p.ThreadInit(0))
		assert.Equal(t, id, lcoreID(), "registering twice keeps the lcore")
		p.ThreadExit(0)
		assert.Equal(t, ^uint32(0), lcoreID(), "the lcore given back")
	}()
	<-done
	assert.ErrorIs(t, p.ThreadInit(1), backend.ErrQueue)
}
