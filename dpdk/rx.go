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
	"unsafe"

	"github.com/ustack/ustack/backend"
)

// Receive flags of an mbuf, as Go values.
const (
	rxL4Mask   = uint64(C.RTE_MBUF_F_RX_L4_CKSUM_MASK)
	rxL4Good   = uint64(C.RTE_MBUF_F_RX_L4_CKSUM_GOOD)
	rxL4Bad    = uint64(C.RTE_MBUF_F_RX_L4_CKSUM_BAD)
	rxIPMask   = uint64(C.RTE_MBUF_F_RX_IP_CKSUM_MASK)
	rxIPBad    = uint64(C.RTE_MBUF_F_RX_IP_CKSUM_BAD)
	rxRSSHash  = uint64(C.RTE_MBUF_F_RX_RSS_HASH)
	rxVLANStrp = uint64(C.RTE_MBUF_F_RX_VLAN_STRIPPED)
	offRSS     = uintptr(C.US_OFF_RSS)
)

// Recv implements backend.Backend: one rte_eth_rx_burst of up to
// min(len(frames), Config.Burst) frames, lent without a copy. A frame of
// several mbufs (nb_segs > 1) is a chain of as many buffers. It never
// blocks.
func (p *Port) Recv(q int, frames []*backend.Frame) (int, error) {
	qu, err := p.queue(q)
	if err != nil {
		return 0, err
	}
	want := min(len(frames), qu.burst)
	if want == 0 {
		return 0, nil
	}
	qu.mu.Lock()
	if qu.closed {
		qu.mu.Unlock()
		return 0, backend.ErrClosed
	}
	fr, nfr := qu.pendingFree()
	n := int(C.us_rx(qu.pid, qu.qid, caddr(&qu.rx[0]), C.uint16_t(want), fr, nfr))
	if n == 0 {
		qu.stats.EmptyPolls++
		qu.mu.Unlock()
		qu.idle.Add(1)
		return 0, nil
	}
	now := p.cfg.Clock.Now()
	bytes, segs := 0, 0
	for i, m := range qu.rx[:n] {
		var f *mframe
		if m.nb_segs == 1 {
			f = qu.frameFor(m, int(m.data_off), int(m.data_len))
			segs++
		} else {
			for s := m; s != nil; s = s.next {
				qu.chain = append(qu.chain, qu.frameFor(s, int(s.data_off), int(s.data_len)))
			}
			segs += len(qu.chain)
			f = qu.link()
		}
		f.Timestamp = now
		if m.ol_flags != 0 {
			rxMeta(f, m)
		}
		bytes += f.Len()
		frames[i] = &f.Frame
	}
	qu.out += segs
	qu.stats.Bursts++
	qu.stats.RxPackets += uint64(n)
	qu.stats.RxBytes += uint64(bytes)
	qu.mu.Unlock()
	if qu.idle.Load() != 0 {
		qu.idle.Store(0)
	}
	return n, nil
}

// rxMeta fills the frame's metadata from the mbuf's receive flags.
func rxMeta(f *mframe, m *C.struct_rte_mbuf) {
	fl := uint64(m.ol_flags)
	switch {
	case fl&rxL4Mask == rxL4Bad || fl&rxIPMask == rxIPBad:
		f.Csum = backend.CsumBad
	case fl&rxL4Mask == rxL4Good:
		f.Csum = backend.CsumVerified
	}
	if fl&rxRSSHash != 0 {
		f.RSSHash = *(*uint32)(unsafe.Add(unsafe.Pointer(m), offRSS))
		f.HasRSS = true
	}
	if fl&rxVLANStrp != 0 {
		f.VLAN = uint16(m.vlan_tci)
		f.HasVLAN = true
	}
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
