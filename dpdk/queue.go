//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ustack/ustack/backend"
)

// mframe is a backend.Frame over one mbuf, with what the port needs to know
// about it. The Frame comes first, so a *backend.Frame the port made is
// also a *mframe (own and mine check that before converting).
type mframe struct {
	backend.Frame
	m *C.struct_rte_mbuf
	q *queue // whose free list the struct goes back to

	// Send's state for the frame, cleared before it returns.
	st   sendState
	orig *backend.Frame // the caller's frame, when this is a copy of it
	off  C.struct_us_txoff
}

// sendState is what Send knows of a frame of its batch.
type sendState uint8

const (
	stLast sendState = 1 << iota // Send took the caller's last reference
	stHeld                       // the caller holds it still: mbuf refcnt raised
	stDrop                       // accepted but not sent (too long, malformed)
	stSent                       // the device took it
)

const mframeSize = unsafe.Sizeof(mframe{})

// slab is the address range of a block of mframes.
type slab struct{ lo, hi uintptr }

// queue is one queue pair of a port: its mempool, the C arrays of its
// bursts, and the free list of frame structs.
//
// mu guards the device calls on the queue (so Close never stops the port
// under a burst), the free list and the counters. The per-queue methods
// take it once per call; FreeChains once per Release.
type queue struct {
	p        *Port
	id       int
	pid, qid C.uint16_t
	mp       *C.struct_rte_mempool
	burst    int

	mu     sync.Mutex
	closed bool
	// C memory: burst arrays of mbuf pointers and offload requests, the
	// allocation array and the array of segments to free in bulk. Go
	// slices over C memory, never holding Go pointers.
	rx, tx []*C.struct_rte_mbuf
	txo    []C.struct_us_txoff
	al     []*C.struct_rte_mbuf
	fr     []*C.struct_rte_mbuf
	nfr    int

	free   []*mframe  // frame structs ready for use, last is next
	slabs  [][]mframe // every struct the queue made, kept alive here
	ranges []slab
	out    int // mbufs lent or allocated, not back
	stats  backend.QueueStats

	// Scratch, so the data path allocates nothing.
	chain []*mframe
	batch []*backend.Frame
	slot  []*mframe
	held  []*C.struct_rte_mbuf
	late  []lateFrame       // other queues' frames Send finished with
	orig  []*backend.Frame  // callers' frames Send copied and sent
	segs  []*backend.Frame  // software segmentation
	one   [1]*backend.Frame // copyOf's allocation
	alloc queueAllocator

	// Waiting (see Port.Wait).
	idle     atomic.Int64 // empty polls in a row
	woken    atomic.Bool
	sleeping atomic.Bool
	wakeCh   chan struct{}
	timer    *time.Timer
}

const (
	// freeCap is the size of a queue's array of released mbufs waiting
	// to be freed.
	freeCap = 256
	// growBy is how many frame structs a queue adds when it runs out (a
	// loopback device can lend more mbufs than the queue's own pool has).
	growBy = 256
)

func cArray[T any](n int) []T {
	var zero T
	ptr := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(zero)))
	if ptr == nil {
		panic("dpdk: out of C memory")
	}
	return unsafe.Slice((*T)(ptr), n)
}

// caddr is the address of C memory for the data path's calls, which take
// uintptr_t so that cgo does not check them for Go pointers.
func caddr[T any](p *T) C.uintptr_t { return C.uintptr_t(uintptr(unsafe.Pointer(p))) }

func cFree[T any](s []T) {
	if len(s) > 0 {
		C.free(unsafe.Pointer(&s[0]))
	}
}

func newQueue(p *Port, id int, mp *C.struct_rte_mempool) *queue {
	b := p.cfg.Burst
	q := &queue{
		p:      p,
		id:     id,
		pid:    C.uint16_t(p.id),
		qid:    C.uint16_t(id),
		mp:     mp,
		burst:  b,
		rx:     cArray[*C.struct_rte_mbuf](b),
		tx:     cArray[*C.struct_rte_mbuf](b),
		txo:    cArray[C.struct_us_txoff](b),
		al:     cArray[*C.struct_rte_mbuf](max(2*b, 64)),
		fr:     cArray[*C.struct_rte_mbuf](freeCap),
		batch:  make([]*backend.Frame, 0, b),
		slot:   make([]*mframe, 0, b),
		held:   make([]*C.struct_rte_mbuf, 0, b),
		chain:  make([]*mframe, 0, 64),
		wakeCh: make(chan struct{}, 1),
		timer:  time.NewTimer(time.Hour),
	}
	q.timer.Stop()
	q.alloc.q = q
	// Structs for every mbuf of the pool and a burst of others' (a
	// loopback device returns what any queue sent).
	q.grow(p.cfg.Mbufs + 2*b)
	return q
}

// grow adds n frame structs to the free list.
func (q *queue) grow(n int) {
	s := make([]mframe, n)
	if cap(q.free)-len(q.free) < n {
		free := make([]*mframe, len(q.free), len(q.free)+n+len(q.slabs)*growBy)
		copy(free, q.free)
		q.free = free
	}
	for i := range s {
		s[i].q = q
		q.free = append(q.free, &s[i])
	}
	q.slabs = append(q.slabs, s)
	r := slab{lo: uintptr(unsafe.Pointer(&s[0]))}
	r.hi = r.lo + uintptr(n)*mframeSize
	q.ranges = append(q.ranges, r)
	p := q.p
	p.slabMu.Lock()
	all := append(append([]slab(nil), *p.slabs.Load()...), r)
	p.slabs.Store(&all)
	p.slabMu.Unlock()
}

// own returns f as one of the port's mframes (slabs are the port's), or
// nil when another backend made it.
func own(slabs []slab, f *backend.Frame) *mframe {
	a := uintptr(unsafe.Pointer(f))
	for _, s := range slabs {
		if a >= s.lo && a < s.hi && (a-s.lo)%mframeSize == 0 {
			return (*mframe)(unsafe.Pointer(f))
		}
	}
	return nil
}

// mine converts a buffer of one of q's chains. A buffer another backend
// made cannot be in a chain q made (backend.Frame.Chain is for backends),
// so that is a bug worth stopping at.
func (q *queue) mine(f *backend.Frame) *mframe {
	a := uintptr(unsafe.Pointer(f))
	for _, s := range q.ranges {
		if a >= s.lo && a < s.hi {
			return (*mframe)(unsafe.Pointer(f))
		}
	}
	panic("dpdk: a buffer of another backend is chained to an mbuf frame")
}

// frameFor takes a free struct and makes it a frame over mbuf m, with a
// data window of n bytes at off. q.mu is held.
func (q *queue) frameFor(m *C.struct_rte_mbuf, off, n int) *mframe {
	if len(q.free) == 0 {
		q.grow(growBy)
	}
	mf := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	mf.m = m
	mf.InitData(unsafe.Slice((*byte)(m.buf_addr), int(m.buf_len)), off, n, q)
	mf.Handle = uintptr(unsafe.Pointer(m))
	mf.Queue = q.id
	return mf
}

// link chains q.chain (head first) into one frame, from the tail so that
// each Chain is O(1).
func (q *queue) link() *mframe {
	c := q.chain
	for i := len(c) - 1; i > 0; i-- {
		c[i-1].Chain(&c[i].Frame)
	}
	head := c[0]
	q.chain = c[:0]
	return head
}

// FreeChains implements backend.Owner. The chains' mbufs are queued and
// go back to their mempools in bulk with the queue's next device call
// (Recv or Alloc, in the same cgo call) or when the queue is idle in Wait;
// the frame structs go back to the free list at once.
func (q *queue) FreeChains(heads []*backend.Frame) {
	q.mu.Lock()
	for _, h := range heads {
		if h.Next() != nil {
			q.freeChainLocked(h)
			continue
		}
		mf := asM(h) // a head q.FreeChains gets is q's own
		q.queueFree(mf.m)
		q.recycle(mf)
	}
	stopped := q.p.stopped.Load()
	if stopped {
		q.flushFree()
	}
	q.mu.Unlock()
	if stopped {
		q.p.maybeFreePools()
	}
}

// FreeChain implements backend.Owner.
func (q *queue) FreeChain(head *backend.Frame) {
	var one [1]*backend.Frame
	one[0] = head
	q.FreeChains(one[:])
}

// freeChainLocked queues the chain's mbufs for freeing and returns its
// structs. q.mu is held.
func (q *queue) freeChainLocked(h *backend.Frame) {
	for b := h; b != nil; {
		mf := q.mine(b)
		b = b.Next()
		q.queueFree(mf.m)
		q.recycle(mf)
	}
}

// queueFree queues an mbuf segment for freeing. q.mu is held.
func (q *queue) queueFree(m *C.struct_rte_mbuf) {
	q.fr[q.nfr] = m
	q.nfr++
	if q.nfr == len(q.fr) {
		q.flushFree()
	}
}

// recycle returns a struct whose mbuf is gone to the free list.
func (q *queue) recycle(mf *mframe) {
	mf.m = nil
	mf.Handle = 0
	q.free = append(q.free, mf)
	q.out--
}

// flushFree frees the queued mbufs now. q.mu is held.
func (q *queue) flushFree() {
	if q.nfr > 0 {
		C.us_free_segs(&q.fr[0], C.uint(q.nfr))
		q.nfr = 0
	}
}

// pendingFree hands the queued mbufs to a device call that frees them
// first. q.mu is held.
func (q *queue) pendingFree() (C.uintptr_t, C.uint) {
	n := q.nfr
	q.nfr = 0
	return caddr(&q.fr[0]), C.uint(n)
}

// segsFor is how many mbufs a frame of size bytes takes: the first with
// its headroom, the rest without.
func (p *Port) segsFor(size int) int {
	if size <= p.dataRoom {
		return 1
	}
	return 1 + (size-p.dataRoom+p.bufLen-1)/p.bufLen
}

// allocLocked implements Alloc; q.mu is held.
func (q *queue) allocLocked(frames []*backend.Frame, size int) int {
	if size < 0 || size > maxFrame || q.closed {
		return 0
	}
	segs := q.p.segsFor(size)
	per := len(q.al) / segs
	done := 0
	for done < len(frames) {
		k := min(len(frames)-done, per)
		fr, nfr := q.pendingFree()
		if C.us_alloc(caddr(q.mp), caddr(&q.al[0]), C.uint(k*segs), fr, nfr) != 0 {
			// Short: as many single frames as there are.
			k = 1
			if C.us_alloc(caddr(q.mp), caddr(&q.al[0]), C.uint(segs), 0, 0) != 0 {
				q.stats.AllocFails++
				break
			}
		}
		if segs == 1 {
			for i, m := range q.al[:k] {
				frames[done+i] = &q.frameFor(m, int(m.data_off), 0).Frame
			}
			q.out += k
			done += k
			continue
		}
		for i := range k {
			for j := range segs {
				m := q.al[i*segs+j]
				off := int(m.data_off)
				if j > 0 {
					off = 0 // later buffers are all data room
				}
				q.chain = append(q.chain, q.frameFor(m, off, 0))
			}
			frames[done+i] = &q.link().Frame
		}
		q.out += k * segs
		done += k
	}
	return done
}

// queueAllocator lets the offload package allocate from the queue.
type queueAllocator struct{ q *queue }

// Alloc implements offload.Allocator.
func (a *queueAllocator) Alloc(frames []*backend.Frame, size int) int {
	a.q.mu.Lock()
	defer a.q.mu.Unlock()
	return a.q.allocLocked(frames, size)
}

// drain frees what waits in the receive ring, at most limit frames (a
// source such as net_null never runs dry). q.mu is held.
func (q *queue) drain(limit int) {
	if q.rx == nil {
		return
	}
	q.flushFree()
	for done := 0; done < limit; {
		n := int(C.us_rx(q.pid, q.qid, caddr(&q.rx[0]), C.uint16_t(q.burst), 0, 0))
		if n == 0 {
			return
		}
		C.us_free_pkts(&q.rx[0], C.uint(n))
		done += n
	}
}

// freeArrays frees the burst arrays once the device is stopped; the free
// array stays for frames released after Close. q.mu is held.
func (q *queue) freeArrays() {
	cFree(q.rx)
	cFree(q.tx)
	cFree(q.txo)
	cFree(q.al)
	q.rx, q.tx, q.txo, q.al = nil, nil, nil, nil
}

// freePool frees the mempool and the last C array. q.mu is held.
func (q *queue) freePool() {
	q.flushFree()
	if q.mp != nil {
		C.rte_mempool_free(q.mp)
		q.mp = nil
	}
	cFree(q.fr)
	q.fr = nil
	q.free = nil
}
