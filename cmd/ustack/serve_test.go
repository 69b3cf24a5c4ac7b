package main

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
