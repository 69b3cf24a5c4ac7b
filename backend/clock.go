package backend

import (
	"sync/atomic"
	"time"
)

// Clock tells the time in nanoseconds. The stack core never reads the wall
// clock: the runtime and the backends share a Clock, real or virtual, so
// that a simulation and a capture see the stack's own notion of time.
type Clock interface {
	Now() int64
}

// RealClock is the wall clock as Unix nanoseconds, read through the
// monotonic clock so it never goes back.
type RealClock struct {
	start time.Time
	base  int64
}

// NewRealClock returns a clock that starts at the current wall time.
func NewRealClock() *RealClock {
	now := time.Now()
	return &RealClock{start: now, base: now.UnixNano()}
}

// Now implements Clock.
func (c *RealClock) Now() int64 { return c.base + int64(time.Since(c.start)) }

// VirtualClock is a clock that moves only when told to: simulations and
// capture replays advance it to the next event.
type VirtualClock struct {
	now atomic.Int64
}

// NewVirtualClock returns a virtual clock reading start.
func NewVirtualClock(start int64) *VirtualClock {
	c := &VirtualClock{}
	c.now.Store(start)
	return c
}

// Now implements Clock.
func (c *VirtualClock) Now() int64 { return c.now.Load() }

// Set moves the clock to t; it never moves backwards.
func (c *VirtualClock) Set(t int64) {
	for {
		cur := c.now.Load()
		if t <= cur || c.now.CompareAndSwap(cur, t) {
			return
		}
	}
}

// Advance moves the clock forward by d.
func (c *VirtualClock) Advance(d time.Duration) { c.Set(c.Now() + int64(d)) }
