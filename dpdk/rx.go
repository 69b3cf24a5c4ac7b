//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import (
	"runtime"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
)

// Recv implements backend.Backend: one rte_eth_rx_burst of up to
// min(len(frames), Config.Burst) frames, lent without a copy; the same cgo
// call fills their frames (us_recv). A frame of several mbufs (nb_segs >
// 1) is a chain of as many buffers. An mbuf of a mempool not the port's
// (another DPDK user's, on a shared ring) is copied into one of the
// queue's, or dropped and counted in RxDrops when the pool is empty. It
// never blocks.
func (p *Port) Recv(q int, frames []*backend.Frame) (int, error) {
	qu, err := p.queue(q)
	if err != nil {
		return 0, err
	}
	want := min(len(frames), qu.burst)
	if want == 0 {
		return 0, nil
	}
	var now int64
	if !qu.monoClock {
		now = p.cfg.Clock.Now()
	}
	qu.mu.Lock()
	if qu.closed {
		qu.mu.Unlock()
		return 0, backend.ErrClosed
	}
	fr, nfr := qu.pendingFree()
	r := uint64(C.us_recv(caddr(qu.cq), C.uint16_t(want), fr, nfr, C.int64_t(now)))
	n := int(r & 0xffff)
	if n == 0 {
		qu.stats.EmptyPolls++
		qu.mu.Unlock()
		qu.idle.Add(1)
		return 0, nil
	}
	copy(frames, qu.got[:n])
	qu.out.Add(int64(r >> 16 & (1<<20 - 1)))
	qu.stats.Bursts++
	qu.stats.RxPackets += uint64(n)
	qu.stats.RxBytes += r >> 36
	qu.mu.Unlock()
	if qu.idle.Load() != 0 {
		qu.idle.Store(0)
	}
	if p.rxPartial {
		for _, f := range frames[:n] {
			offload.MarkPartial(f)
		}
	}
	return n, nil
}

// Wait implements backend.Backend for a busy-polling device: it returns
// at once while the queue is busy. After Config.IdlePolls empty Recv calls
// in a row it backs off on each call: by default it yields the processor
// (runtime.Gosched), so that goroutines sharing the loop's processor, the
// application's among them, run; with Config.IdleSleep it sleeps up to
// that long instead, until the deadline or a Wake. A Recv that finds
// frames, or a Wake, ends the back-off.
func (p *Port) Wait(q int, deadline int64) error {
	qu, err := p.queue(q)
	if err != nil {
		return err
	}
	if p.closing.Load() {
		return backend.ErrClosed
	}
	if qu.woken.Load() {
		qu.woken.Store(false)
		qu.idle.Store(0)
		return nil
	}
	if qu.idle.Load() < int64(p.cfg.IdlePolls) {
		return nil
	}
	// Idle: a good moment to give the mempool what was released.
	qu.mu.Lock()
	if !qu.closed {
		qu.flushFree()
	}
	qu.mu.Unlock()
	closedPorts.recheck()
	d := p.cfg.IdleSleep
	if d <= 0 {
		runtime.Gosched()
		return nil
	}
	if deadline != 0 {
		left := deadline - p.cfg.Clock.Now()
		if left <= 0 {
			return nil
		}
		d = min(d, time.Duration(left))
	}
	qu.sleeping.Store(true)
	if !qu.woken.Load() {
		qu.timer.Reset(d)
		select {
		case <-qu.wakeCh:
		case <-qu.timer.C:
		}
		qu.timer.Stop()
	}
	qu.sleeping.Store(false)
	qu.woken.Store(false)
	return nil
}

// Wake implements backend.Backend: it ends a sleeping Wait and makes the
// next Wait return at once.
func (p *Port) Wake(q int) {
	if qu, err := p.queue(q); err == nil {
		qu.wake()
	}
}

// wake wakes the queue's Wait.
func (q *queue) wake() {
	q.woken.Store(true)
	if q.sleeping.Load() {
		select {
		case q.wakeCh <- struct{}{}:
		default:
		}
	}
}
