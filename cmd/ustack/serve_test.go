package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/dpdk"
)

// syncBuffer is a bytes.Buffer the watch's goroutine and the test share.
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

// A shutdown that hangs: past its limit the goroutines are written out
// once, and a second signal exits with status 1.
func TestWatchShutdownStuckThenSecondSignal(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	sig := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	end := watchShutdown(sig, log, 20*time.Millisecond, &out, func(code int) { exited <- code })
	defer end()

	require.Eventually(t, func() bool { return bytes.Contains([]byte(out.String()), []byte("goroutine ")) },
		5*time.Second, 5*time.Millisecond, "the stacks are written once the limit passes")
	assert.Contains(t, out.String(), "shutdown still running")
	assert.Contains(t, out.String(), "TestWatchShutdownStuckThenSecondSignal", "the test's own goroutine is among them")

	sig <- syscall.SIGTERM
	select {
	case code := <-exited:
		assert.Equal(t, 1, code)
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not exit")
	}
	assert.Contains(t, out.String(), "second signal: exiting without finishing the shutdown")
}

// A shutdown that ends in time leaves no trace, and a signal after it is
// not the watch's.
func TestWatchShutdownEndsQuietly(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	sig := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	end := watchShutdown(sig, log, time.Hour, &out, func(code int) { exited <- code })
	end()
	time.Sleep(10 * time.Millisecond)
	sig <- syscall.SIGINT
	time.Sleep(10 * time.Millisecond)
	assert.Empty(t, exited)
	assert.Empty(t, out.String())
	assert.Len(t, sig, 1, "the signal is still in the channel")
}

// watchLink logs the state at the start, each change once, and a link it
// cannot read once.
func TestWatchLinkLogsChanges(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	up := func() (dpdk.Link, error) { return dpdk.Link{Up: true, SpeedMbps: 10000, FullDuplex: true}, nil }
	down := func() (dpdk.Link, error) { return dpdk.Link{}, nil }
	broken := func() (dpdk.Link, error) { return dpdk.Link{}, errors.New("no such port") }
	// Each reading of the link, and the frames received by then.
	states := []struct {
		link func() (dpdk.Link, error)
		rx   uint64
	}{
		{down, 0}, {down, 0}, {up, 0}, {up, 5}, {up, 9}, {down, 9}, {broken, 9}, {broken, 9}, {down, 9}, {up, 9},
		// Down, and frames arrive: said once, until the link is up again.
		{down, 9}, {down, 20}, {down, 30}, {up, 30}, {down, 30}, {down, 40},
	}
	var mu sync.Mutex
	reads := 0
	read := func() (dpdk.Link, error) {
		mu.Lock()
		defer mu.Unlock()
		s := states[min(reads, len(states)-1)] // the last state stays
		reads++
		return s.link()
	}
	rx := func() (uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		return states[min(max(reads-1, 0), len(states)-1)].rx, nil
	}
	stop := watchLink(log, "eth0", read, rx, time.Millisecond)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return reads > len(states) },
		5*time.Second, time.Millisecond)
	stop()
	arrive := `level=WARN msg="link reads down, but frames arrive" iface=eth0 received=%d hint="net_tap reads its link in ustack's network namespace: was its netdev moved to another?"`
	assert.Equal(t, []string{
		`level=WARN msg="link down" iface=eth0`,
		`level=INFO msg="link up" iface=eth0 link="up 10000 Mb/s full-duplex"`,
		`level=WARN msg="link down" iface=eth0`,
		`level=WARN msg="link state unreadable" iface=eth0 err="no such port"`,
		`level=INFO msg="link up" iface=eth0 link="up 10000 Mb/s full-duplex"`,
		`level=WARN msg="link down" iface=eth0`,
		fmt.Sprintf(arrive, 11),
		`level=INFO msg="link up" iface=eth0 link="up 10000 Mb/s full-duplex"`,
		`level=WARN msg="link down" iface=eth0`,
		fmt.Sprintf(arrive, 10),
	}, logLines(out.String()))
}

// devCounts is a device's statistics as a test sets them.
type devCounts struct {
	mu    sync.Mutex
	stats map[string]uint64
	reads uint64
	fail  bool
}

func (k *devCounts) DeviceStats() (string, []backend.DeviceStat, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads++
	if k.fail {
		return "", nil, errors.New("gone")
	}
	var out []backend.DeviceStat
	for _, name := range slices.Sorted(maps.Keys(k.stats)) {
		out = append(out, backend.DeviceStat{Name: name, Value: k.stats[name]})
	}
	return "test", out, nil
}

// set changes a statistic (none: the reading fails) and waits for two
// more reads, so that the watcher has seen it.
func (k *devCounts) set(t *testing.T, name string, v uint64, fail bool) {
	k.mu.Lock()
	k.stats[name], k.fail = v, fail
	seen := k.reads + 2
	k.mu.Unlock()
	require.Eventually(t, func() bool { k.mu.Lock(); defer k.mu.Unlock(); return k.reads >= seen },
		5*time.Second, time.Millisecond)
}

// logLines are the lines of a text log from their level on.
func logLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		lines = append(lines, l[strings.Index(l, "level="):])
	}
	return lines
}

func TestWatchDropsWarnsOfGrowth(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	// Drops before the stack started count for nothing.
	k := &devCounts{stats: map[string]uint64{"kernel_tx_dropped": 7, "kernel_tx_queue_len": 1000}}
	stop := watchDrops(log, "eth0", k, tapDrops("ustack0"), time.Millisecond)
	k.set(t, "kernel_tx_dropped", 7, false)
	k.set(t, "kernel_tx_dropped", 50, false)
	k.set(t, "kernel_tx_dropped", 50, true)
	k.set(t, "kernel_tx_queue_len", 4000, false)
	k.set(t, "kernel_tx_dropped", 60, false)
	stop()
	msg := `level=WARN msg="the kernel dropped frames for the stack: its queue was full" iface=eth0 `
	assert.Equal(t, []string{
		msg + `dropped=43 queue=1000 hint="about as many frames as peers sending at once: ip link set ustack0 txqueuelen 10000"`,
		msg + `dropped=10 queue=4000 hint="about as many frames as peers sending at once: ip link set ustack0 txqueuelen 10000"`,
	}, logLines(out.String()))

	out = syncBuffer{}
	k = &devCounts{stats: map[string]uint64{"rx_missed_errors": 0, "rx_mbuf_allocation_errors": 0}}
	stop = watchDrops(log, "eth0", k, dpdkDrops(1024, 8191), time.Millisecond)
	k.set(t, "rx_missed_errors", 0, false) // the watch has its first reading
	k.set(t, "rx_missed_errors", 5, false)
	k.set(t, "rx_mbuf_allocation_errors", 2, false)
	stop()
	assert.Equal(t, []string{
		`level=WARN msg="the device dropped frames for the stack: its receive ring was full" iface=eth0 dropped=5 hint="a longer receive ring: --rx-desc (now 1024), or --queues"`,
		`level=WARN msg="the device dropped frames for the stack: no mbuf was free" iface=eth0 dropped=2 hint="more mbufs per queue: --mbufs (now 8191)"`,
	}, logLines(out.String()))
}
