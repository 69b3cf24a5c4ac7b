//go:build dpdk

package dpdk

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

func TestOpenRefuses(t *testing.T) {
	ensurePort(t, "net_ring0")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no port", Config{}, "dpdk: no port: set Config.Port"},
		{"missing name", Config{Port: "net_nosuch0"}, `dpdk: no port "net_nosuch0" (ports: `},
		{"missing id", Config{Port: "99"}, "dpdk: no port 99 (ports: "},
		{"too few mbufs", Config{Port: "net_ring0", Mbufs: 600, MbufCache: 32}, "dpdk port net_ring0: 600 mbufs per queue are too few: 1024 rx and 1024 tx descriptors, 4 bursts of 32 and a cache of 32 need at least 2208"},
		{"too many queues", Config{Port: "net_ring0", Queues: 17}, "dpdk port net_ring0: 17 queues requested, the device (net_ring) has at most 16"},
		{"burst", Config{Port: "net_ring0", Burst: 1000}, "burst 1000: want 1 to 512"},
		{"cache", Config{Port: "net_ring0", Mbufs: 100, MbufCache: 100}, "mbuf cache 100 is more than two thirds"},
		{"mtu", Config{Port: "net_ring0", MTU: 20}, "mtu 20: want 68 to 65535"},
		{"mac", Config{Port: "net_ring0", MAC: []byte{1, 2, 3, 4, 5, 6}}, "want a unicast Ethernet address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Open(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	// The refusals left the port usable.
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023})
	_, err := Open(Config{Port: "0"})
	assert.ErrorContains(t, err, "dpdk port net_ring0: already open in this process")
	assert.Equal(t, "net_ring0", p.Caps().Name)
}

func TestQueueOutOfRange(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023})
	fs := make([]*backend.Frame, 1)
	_, err := p.Recv(1, fs)
	assert.ErrorIs(t, err, backend.ErrQueue)
	_, err = p.Send(-1, fs)
	assert.ErrorIs(t, err, backend.ErrQueue)
	assert.Zero(t, p.Alloc(1, fs, 10))
	assert.Zero(t, p.Alloc(0, fs, maxFrame+1))
}

// net_null0 is a source and a sink with RSS: several queues.
func TestNullMultiQueue(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_null0", Queues: 2, RxDesc: 128, TxDesc: 128, Mbufs: 1023})
	caps := p.Caps()
	assert.Equal(t, 2, caps.Queues)
	require.Equal(t, backend.SteerToeplitz, caps.Steering)
	assert.Len(t, caps.ToeplitzKey, 40)
	require.Len(t, caps.ToeplitzTable, 128)
	for i, q := range caps.ToeplitzTable {
		assert.Equal(t, uint16(i%2), q, "entry %d spreads over both queues", i)
	}
	assert.NotZero(t, caps.ToeplitzFields&backend.HashTCPv4)
	t.Logf("net_null0: %+v", caps.Offloads)

	rx := make([]*backend.Frame, 32)
	for q := range 2 {
		n, err := p.Recv(q, rx)
		require.NoError(t, err)
		require.Equal(t, 32, n, "net_null fills every burst")
		for _, f := range rx[:n] {
			assert.Equal(t, q, f.Queue)
		}
		backend.Release(rx[:n])
		tx := make([]*backend.Frame, 8)
		require.Equal(t, 8, p.Alloc(q, tx, 60))
		for _, f := range tx {
			f.SetLen(60)
		}
		n, err = p.Send(q, tx)
		require.NoError(t, err)
		assert.Equal(t, 8, n)
		assert.Equal(t, uint64(8), p.QueueStats(q).TxPackets)
	}
	// A frame allocated on one queue and sent on the other goes back to
	// its own queue.
	tx := make([]*backend.Frame, 4)
	require.Equal(t, 4, p.Alloc(0, tx, 60))
	for _, f := range tx {
		f.SetLen(60)
	}
	n, err := p.Send(1, tx)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Zero(t, p.Outstanding())

	// One Release of frames both queues lent, interleaved: each goes back
	// to the queue that lent it.
	var mixed []*backend.Frame
	for q := range 2 {
		n, err := p.Recv(q, rx[:3])
		require.NoError(t, err)
		require.Equal(t, 3, n)
		mixed = append(mixed, rx[:n]...)
	}
	mixed[1], mixed[4] = mixed[4], mixed[1]
	assert.Equal(t, 6, p.Outstanding())
	backend.Release(mixed)
	assert.Zero(t, p.Outstanding())
}

// ThreadInit binds a queue's loop to the CPUs of its lcore when the EAL
// has as many lcores as the port has queues (the tests' EAL has one,
// -l 0), and leaves a loop where it is otherwise.
func TestThreadInitBindsToLcores(t *testing.T) {
	lockThread(t)
	require.Equal(t, 1, Lcores(), "the tests' EAL runs -l 0")
	cpus := func() []int {
		var set unix.CPUSet
		require.NoError(t, unix.SchedGetaffinity(0, &set))
		var cpus []int
		for c := range runtime.NumCPU() {
			if set.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
		return cpus
	}
	// loop runs ThreadInit(q) and ThreadExit(q) on a thread of its own,
	// as a queue loop does, and returns the CPUs the thread may run on
	// before, in between and after, and whether the queue was bound.
	loop := func(p *Port, q int) (before, during, after []int, bound bool) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			before = cpus()
			require.NoError(t, p.ThreadInit(q))
			during = cpus()
			_, bound = p.Pinned(q)
			p.ThreadExit(q)
			after = cpus()
		}()
		<-done
		return
	}

	one := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023})
	before, during, after, bound := loop(one, 0)
	assert.True(t, bound)
	assert.Equal(t, []int{0}, during, "lcore 0 runs on CPU 0")
	assert.Equal(t, before, after, "ThreadExit gives the thread its CPUs back")
	_, bound = one.Pinned(0)
	assert.False(t, bound, "not after ThreadExit")

	two := openPort(t, Config{Port: "net_null0", Queues: 2, RxDesc: 128, TxDesc: 128, Mbufs: 1023})
	before, during, _, bound = loop(two, 1)
	assert.False(t, bound, "two queues on one lcore: not bound")
	assert.Equal(t, before, during)
}

// DPDK has RTE_MAX_LCORE lcores and does not free a registered thread's
// when the thread ends: ThreadExit does, so that loops on threads that
// come and go, more of them than there are lcores, all start.
func TestThreadExitGivesTheLcoreBack(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023})
	for i := range 2 * maxLcores() {
		done := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: Go ends the thread with the goroutine
			err := p.ThreadInit(0)
			if err == nil {
				p.ThreadExit(0)
			}
			done <- err
		}()
		require.NoError(t, <-done, "loop %d", i)
	}
}
