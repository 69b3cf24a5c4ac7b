package stack

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/pipe"
)

// vanishing is a backend whose device goes away when told: from then on
// Wait and Recv return errors wrapping backend.ErrGone, as TAP's do once
// the device is deleted, and Wait does so at once. It counts the Waits.
type vanishing struct {
	backend.Backend
	gone  atomic.Bool
	waits atomic.Int64
}

func (v *vanishing) Wait(q int, deadline int64) error {
	v.waits.Add(1)
	if v.gone.Load() {
		return errors.Join(errors.New("poll"), backend.ErrGone)
	}
	return v.Backend.Wait(q, deadline)
}

func (v *vanishing) Recv(q int, frames []*backend.Frame) (int, error) {
	if v.gone.Load() {
		return 0, backend.ErrGone
	}
	return v.Backend.Recv(q, frames)
}

// A device that goes away is reported once, by Failed and Err, and the
// loop stops asking it instead of spinning on its error; the API still
// answers and Close works.
func TestDeviceGoneStopsTheLoopSpinning(t *testing.T) {
	ea, eb, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	defer eb.Close()
	v := &vanishing{Backend: ea}
	s, err := New(Config{Interfaces: []InterfaceConfig{{Name: "eth0", Backend: v, Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/24")}}},
		Logger: quietLogger()})
	require.NoError(t, err)
	assert.Nil(t, s.Err())

	v.gone.Store(true)
	v.Backend.Wake(0) // as the kernel ends a blocked poll
	select {
	case <-s.Failed():
	case <-time.After(5 * time.Second):
		t.Fatal("Failed not closed")
	}
	require.ErrorIs(t, s.Err(), backend.ErrGone)
	assert.ErrorContains(t, s.Err(), "eth0: ")

	before := v.waits.Load()
	time.Sleep(100 * time.Millisecond)
	assert.LessOrEqual(t, v.waits.Load()-before, int64(2), "the loop does not spin on the dead device")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = s.DialContext(ctx, "tcp", "10.9.0.1:80")
	assert.Error(t, err, "a dial goes nowhere and times out")
	assert.NotEmpty(t, s.Counters(), "the loop still answers")
	require.NoError(t, s.Close())
}

// LoopEnd runs once per queue when the stack closes, on the thread
// LoopStart ran on.
func TestLoopEndRunsOnTheLoopThread(t *testing.T) {
	ea, eb, err := pipe.New(pipe.Config{Queues: 2})
	require.NoError(t, err)
	defer eb.Close()
	var mu sync.Mutex
	started, ended := map[int]int{}, map[int][]int{}
	s, err := New(Config{Interfaces: []InterfaceConfig{{Name: "eth0", Backend: ea, Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/24")}}},
		Logger: quietLogger(),
		LoopStart: func(q int) error {
			mu.Lock()
			defer mu.Unlock()
			started[q] = unix.Gettid()
			return nil
		},
		LoopEnd: func(q int) {
			mu.Lock()
			defer mu.Unlock()
			ended[q] = append(ended[q], unix.Gettid())
		}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(started) == 2 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	assert.Empty(t, ended, "not before Close")
	mu.Unlock()
	require.NoError(t, s.Close())
	for q := range 2 {
		assert.Equal(t, []int{started[q]}, ended[q], "queue %d", q)
	}
}
