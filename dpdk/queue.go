//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

// mframe is the backend.Frame every mbuf of the port's mempools carries in
// its private area, filled in C by the burst calls (us_fill): a received
// or allocated frame costs Go nothing per buffer. Its layout is C's struct
// us_mframe (checked in init). Nothing in it points into the Go heap: its
// owner is mbufOwner, a value of no size, and its buffers and chain are C
// memory.
type mframe struct {
	backend.Frame
	lender uint32 // the registry index of the queue that lent or allocated it
}

// asM converts a frame known to be an mframe.
func asM(f *backend.Frame) *mframe { return (*mframe)(unsafe.Pointer(f)) }

// mbuf is the mbuf whose private area holds mf.
func (mf *mframe) mbuf() *C.struct_rte_mbuf {
	return (*C.struct_rte_mbuf)(unsafe.Add(unsafe.Pointer(mf), -int(unsafe.Sizeof(C.struct_rte_mbuf{}))))
}

// mbufOwner owns every frame of every port: the frames are the mbufs', and
// any of the process's queues can free any mbuf. A value of no size, so
// that the owner a frame keeps in C memory is not a pointer into the Go
// heap.
type mbufOwner struct{}

// owner is the backend.Owner of every mbuf frame.
var owner backend.Owner = mbufOwner{}

// ours reports whether f is an mbuf frame.
func ours(f *backend.Frame) bool { return f.OwnedBy(owner) }

// FreeChains implements backend.Owner. A single-buffer frame that the
// lending queue may hand out again (see queue.keep) waits in its stash for
// the queue's next Alloc; the mbufs of other chains are queued on the
// lending queue and go back to their mempools in bulk with its next device
// call (Recv or Alloc, in the same cgo call) or when it is idle in Wait.
func (mbufOwner) FreeChains(heads []*backend.Frame) {
	for len(heads) > 0 {
		heads = heads[lenderOf(asM(heads[0]).lender).freeChains(heads):]
	}
}

// freeChains takes back the leading chains of heads that q lent, and
// returns how many.
func (q *queue) freeChains(heads []*backend.Frame) int {
	n, segs := 0, 0
	foreign := false // an mbuf of another queue's mempool
	q.mu.Lock()
	reuse := !q.p.stopped.Load()
	for _, h := range heads {
		mf := asM(h)
		if mf.lender != q.lender {
			break
		}
		n++
		if q.p.cfg.Poison {
			poison(h)
		}
		if h.Next() == nil {
			segs++
			if m := mf.mbuf(); m.pool != q.mp {
				foreign = true
			} else if reuse && q.keep(m) {
				q.stash = append(q.stash, h)
				continue
			}
		} else {
			for b := h; b != nil; b = b.Next() {
				segs++
				foreign = foreign || asM(b).mbuf().pool != q.mp
			}
		}
		q.queueFree(h)
	}
	q.out.Add(-int64(segs))
	// After the count: Close stops the port, then counts what is out.
	stopped := q.p.stopped.Load()
	waiting := foreign && closedPorts.n.Load() > 0
	if stopped {
		q.flushFree()
	} else if waiting {
		q.freeFr() // some may be a closed port's
	}
	q.mu.Unlock()
	if stopped {
		q.p.maybeFreePools()
	}
	if waiting {
		closedPorts.recheck()
	}
	return n
}

// poison fills the buffers of the released chain h that nobody else holds
// (a device still sending one keeps a reference) with backend.PoisonByte.
func poison(h *backend.Frame) {
	for b := h; b != nil; b = b.Next() {
		if m := asM(b).mbuf(); m.refcnt == 1 {
			backend.Poison(unsafe.Slice((*byte)(m.buf_addr), int(m.buf_len)))
		}
	}
}

// keep reports whether the stash takes m, the mbuf of a released
// single-buffer frame of q's mempool (another port's mempool may be freed
// first): there is room and nobody else holds it (a device still sending
// it keeps a reference). q.mu is held.
func (q *queue) keep(m *C.struct_rte_mbuf) bool {
	return len(q.stash) < cap(q.stash) && m.refcnt == 1
}

// FreeChain implements backend.Owner.
func (o mbufOwner) FreeChain(head *backend.Frame) {
	one := [1]*backend.Frame{head}
	o.FreeChains(one[:])
}

// The registry of queues by lender index, so that a frame (in C memory)
// names the queue that counts it outstanding without a Go pointer. A
// queue leaves it when its mempool is freed, when nothing it lent is out.
var lenders struct {
	mu   sync.Mutex
	tab  atomic.Pointer[[]*queue]
	free []uint32
}

func init() {
	lenders.tab.Store(&[]*queue{nil}) // index 0 is nobody's
}

// register gives q a lender index.
func register(q *queue) uint32 {
	lenders.mu.Lock()
	defer lenders.mu.Unlock()
	tab := append([]*queue(nil), *lenders.tab.Load()...)
	var id uint32
	if n := len(lenders.free); n > 0 {
		id = lenders.free[n-1]
		lenders.free = lenders.free[:n-1]
		tab[id] = q
	} else {
		id = uint32(len(tab))
		tab = append(tab, q)
	}
	lenders.tab.Store(&tab)
	return id
}

// unregister frees q's lender index.
func unregister(q *queue) {
	lenders.mu.Lock()
	defer lenders.mu.Unlock()
	tab := append([]*queue(nil), *lenders.tab.Load()...)
	tab[q.lender] = nil
	lenders.tab.Store(&tab)
	lenders.free = append(lenders.free, q.lender)
}

// lenderOf is the queue with lender index id.
func lenderOf(id uint32) *queue { return (*lenders.tab.Load())[id] }

// queue is one queue pair of a port: its mempool and the C arrays of its
// bursts.
//
// mu guards the device calls on the queue (so Close never stops the port
// under a burst), the array of mbufs to free and the counters. The
// per-queue methods take it once per call; FreeChains once per Release.
type queue struct {
	p        *Port
	id       int
	pid, qid C.uint16_t
	mp       *C.struct_rte_mempool
	burst    int
	lender   uint32
	cq       *C.struct_us_q // what the C frame calls need, in C memory

	mu     sync.Mutex
	closed bool
	// C memory: the mbufs of a burst to send (tx) or of an allocation
	// (al, which the frame calls share as cq.mbufs), the frames the frame
	// calls fill (got, as long as al), offload requests, and the chains
	// waiting to be freed in bulk. Go slices over C memory, never holding
	// Go pointers.
	tx  []*C.struct_rte_mbuf
	al  []*C.struct_rte_mbuf
	got []*backend.Frame
	txo []C.struct_us_txoff
	fr  []*backend.Frame
	nfr int
	// Released single-buffer frames of the queue's mempool, kept whole
	// for its next Alloc: neither the frame nor the mbuf is filled again,
	// and the mempool is not asked (see keep). Like the mempool's
	// per-lcore cache, bounded (stashBursts bursts); flushFree empties it.
	stash []*backend.Frame

	out   atomic.Int64 // mbufs lent or allocated, not back
	stats backend.QueueStats
	// monoClock: the port's clock is a backend.RealClock, which C reads
	// itself (us_recv), and only when frames came.
	monoClock bool

	// Send's scratch, so the data path allocates nothing.
	ents  []txEntry
	skip  []skipped
	slot  []int // batch indices offered to the device, in order
	held  []*C.struct_rte_mbuf
	later []*backend.Frame // chains Send dropped, to free without q.mu
	done  []*backend.Frame // callers' frames sent as copies, to release
	segs  []*backend.Frame // software segmentation
	one   [1]*backend.Frame
	alloc queueAllocator

	// Waiting (see Port.Wait).
	idle     atomic.Int64 // empty polls in a row
	woken    atomic.Bool
	sleeping atomic.Bool
	wakeCh   chan struct{}
	timer    *time.Timer

	lcore  atomic.Int32 // whose CPUs ThreadInit bound the loop to, or -1
	before unix.CPUSet  // the loop thread's CPUs before ThreadInit bound it
}

// freeCap is the size of a queue's array of released chains waiting to be
// freed.
const freeCap = 256

// stashBursts is how many bursts of released frames a queue keeps for
// reuse.
const stashBursts = 2

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

// ownerWords are the two words of owner, which every frame keeps.
func ownerWords() (C.uintptr_t, C.uintptr_t) {
	w := (*[2]uintptr)(unsafe.Pointer(&owner))
	return C.uintptr_t(w[0]), C.uintptr_t(w[1])
}

func newQueue(p *Port, id int, mp *C.struct_rte_mempool) *queue {
	b := p.cfg.Burst
	n := max(2*b, 64)
	q := &queue{
		p:      p,
		id:     id,
		pid:    C.uint16_t(p.id),
		qid:    C.uint16_t(id),
		mp:     mp,
		burst:  b,
		tx:     cArray[*C.struct_rte_mbuf](b),
		al:     cArray[*C.struct_rte_mbuf](n),
		got:    cArray[*backend.Frame](n),
		txo:    cArray[C.struct_us_txoff](b),
		fr:     cArray[*backend.Frame](freeCap),
		stash:  make([]*backend.Frame, 0, stashBursts*b),
		cq:     &cArray[C.struct_us_q](1)[0],
		ents:   make([]txEntry, 0, b),
		slot:   make([]int, 0, b),
		held:   make([]*C.struct_rte_mbuf, 0, b),
		wakeCh: make(chan struct{}, 1),
		timer:  time.NewTimer(time.Hour),
	}
	q.timer.Stop()
	q.lcore.Store(-1)
	q.alloc.q = q
	q.lender = register(q)
	o0, o1 := ownerWords()
	*q.cq = C.struct_us_q{
		port: q.pid, qid: q.qid, lender: C.uint32_t(q.lender), queue: C.int64_t(id), mp: mp,
		owner:  [2]C.uintptr_t{o0, o1},
		mbufs:  &q.al[0],
		frames: (**C.struct_us_frame)(unsafe.Pointer(&q.got[0])),
	}
	if c, ok := p.cfg.Clock.(*backend.RealClock); ok {
		q.monoClock = true
		q.cq.clock_mono = 1
		q.cq.clock_off = C.int64_t(monoOffset(c))
	}
	return q
}

// monoOffset is what turns a CLOCK_MONOTONIC reading into c's time. c
// reads the same clock (Go's runtime does), so the offset is fixed; it is
// taken between two readings, the closest of a few tries.
func monoOffset(c *backend.RealClock) int64 {
	var off, gap int64 = 0, -1
	for range 5 {
		before := int64(C.us_mono_ns())
		now := c.Now()
		after := int64(C.us_mono_ns())
		if gap < 0 || after-before < gap {
			off, gap = now-before-(after-before)/2, after-before
		}
	}
	return off
}

// queueFree queues chain h to be freed with the others, freeing them all
// when the array is full. q.mu is held.
func (q *queue) queueFree(h *backend.Frame) {
	q.fr[q.nfr] = h
	q.nfr++
	if q.nfr == len(q.fr) {
		q.freeFr()
	}
}

// flushFree frees the queued chains and the stash now. q.mu is held.
func (q *queue) flushFree() {
	for _, f := range q.stash {
		q.queueFree(f)
	}
	clear(q.stash)
	q.stash = q.stash[:0]
	q.freeFr()
}

// freeFr frees the queued chains. q.mu is held.
func (q *queue) freeFr() {
	if q.nfr > 0 {
		C.us_free_frames((**C.struct_us_frame)(unsafe.Pointer(&q.fr[0])), C.uint(q.nfr))
		clear(q.fr[:q.nfr])
		q.nfr = 0
	}
}

// pendingFree hands the queued chains to a device call that frees them
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
	if segs == 1 && len(q.stash) > 0 {
		done = min(len(frames), len(q.stash))
		kept := q.stash[len(q.stash)-done:]
		for i, f := range kept {
			f.Reuse(C.RTE_PKTMBUF_HEADROOM)
			f.Queue = q.id
			frames[i] = f
		}
		clear(kept)
		q.stash = q.stash[:len(q.stash)-done]
		q.out.Add(int64(done))
	}
	for done < len(frames) {
		k := min(len(frames)-done, per)
		fr, nfr := q.pendingFree()
		if C.us_alloc_frames(caddr(q.cq), C.uint(k), C.uint(segs), fr, nfr) != 0 {
			// Short: as many single frames as there are.
			k = 1
			if C.us_alloc_frames(caddr(q.cq), 1, C.uint(segs), 0, 0) != 0 {
				q.stats.AllocFails++
				break
			}
		}
		copy(frames[done:], q.got[:k])
		q.out.Add(int64(k * segs))
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
	if q.al == nil {
		return
	}
	q.flushFree()
	for done := 0; done < limit; {
		n := int(C.us_rx(q.pid, q.qid, caddr(&q.al[0]), C.uint16_t(q.burst), 0, 0))
		if n == 0 {
			return
		}
		C.us_free_pkts(&q.al[0], C.uint(n))
		done += n
	}
}

// freeArrays frees the burst arrays once the device is stopped; the free
// array and cq stay for frames released after Close. q.mu is held.
func (q *queue) freeArrays() {
	cFree(q.tx)
	cFree(q.txo)
	cFree(q.al)
	cFree(q.got)
	q.tx, q.txo, q.al, q.got = nil, nil, nil, nil
}

// freePool frees the mempool and the last C memory, and leaves the
// registry. q.mu is held.
func (q *queue) freePool() {
	q.flushFree()
	if q.mp != nil {
		C.rte_mempool_free(q.mp)
		q.mp = nil
	}
	cFree(q.fr)
	q.fr = nil
	if q.cq != nil {
		C.free(unsafe.Pointer(q.cq))
		q.cq = nil
		unregister(q)
	}
}

// The C declaration of the frames must be Go's.
func init() {
	l := backend.FrameLayout()
	var f backend.Frame
	var mf mframe
	check := []struct {
		name   string
		go_, c uintptr
	}{
		{"end of Meta", l.Store, C.US_FO_META_END},
		{"Csum", unsafe.Offsetof(f.Csum), C.US_FO_CSUM},
		{"GSO", unsafe.Offsetof(f.GSO), C.US_FO_GSO},
		{"VLAN", unsafe.Offsetof(f.VLAN), C.US_FO_VLAN},
		{"HasVLAN", unsafe.Offsetof(f.HasVLAN), C.US_FO_HAS_VLAN},
		{"RSSHash", unsafe.Offsetof(f.RSSHash), C.US_FO_RSS},
		{"HasRSS", unsafe.Offsetof(f.HasRSS), C.US_FO_HAS_RSS},
		{"Timestamp", unsafe.Offsetof(f.Timestamp), C.US_FO_TS},
		{"store", l.Store, C.US_FO_STORE},
		{"off", l.Off, C.US_FO_OFF},
		{"n", l.N, C.US_FO_N},
		{"total", l.Total, C.US_FO_TOTAL},
		{"next", l.Next, C.US_FO_NEXT},
		{"refs", l.Refs, C.US_FO_REFS},
		{"owner", l.Own, C.US_FO_OWNER},
		{"Handle", l.Handle, C.US_FO_HANDLE},
		{"Queue", l.Queue, C.US_FO_QUEUE},
		{"size", l.Size, C.US_FO_SIZE},
		{"mframe.lender", unsafe.Offsetof(mf.lender), C.US_FO_LENDER},
		{"mframe size", unsafe.Sizeof(mf), C.US_MFRAME_SIZE},
		{"CsumPartial", uintptr(backend.CsumPartial), C.US_CSUM_PARTIAL},
		{"CsumVerified", uintptr(backend.CsumVerified), C.US_CSUM_VERIFIED},
		{"CsumBad", uintptr(backend.CsumBad), C.US_CSUM_BAD},
	}
	for _, c := range check {
		if c.go_ != c.c {
			panic(fmt.Sprintf("dpdk: ustack_dpdk.h's us_frame does not match backend.Frame: %s at %d in Go, %d in C", c.name, c.go_, c.c))
		}
	}
}
