// Package ring is a single-producer single-consumer byte ring: the buffer
// between an application goroutine and a stack loop. Neither side locks or
// blocks; each publishes its progress with one atomic store, so the stack
// core stays lock-free while applications read and write concurrently.
//
// The producer may also write ahead of the published end (WriteAt) and
// publish later (Commit): TCP places out-of-order data straight into the
// receive buffer this way, so data is copied once.
//
// A ring from Get holds memory for the bytes it holds, not for its
// capacity: its store starts small and the producer grows it, by doubling,
// as bytes need room, so that ten thousand connections that each moved a
// request and an answer hold kilobytes each, not their buffer sizes. The
// consumer goes on reading the store it loaded, whose bytes the producer
// never changes again, and the collector frees it. Once the ring is empty,
// either side may give a large store back (Shrink, Drop) until bytes come
// again.
package ring

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Bytes is the ring. Head and tail count bytes ever consumed and produced;
// the ring holds tail-head bytes.
type Bytes struct {
	size int                   // the capacity, a power of two
	mem  atomic.Pointer[store] // nil until the first byte is written
	head atomic.Uint64         // consumer
	tail atomic.Uint64         // producer
	// busy is set while Write runs, and own is the store the producer
	// last made, so that the consumer can give an empty ring's store
	// back under a Write (Drop).
	busy atomic.Bool
	own  atomic.Pointer[store]
	// peak is the most bytes the ring has held (published, or written
	// ahead) since its store was last given back, and gave what that came
	// to when it was (Shrink, Drop): the next store is made as large, so
	// that a busy connection whose ring often empties takes a store of the
	// size it uses from the pool rather than growing one again, copying,
	// and one that moved much once and little since takes a small one.
	peak, gave atomic.Int64
	// stored, when set (Count), adds up the sizes of the stores of rings
	// that share it; counted is this ring's part.
	stored  *atomic.Int64
	counted atomic.Int64
}

// store is where a ring's bytes are: the byte at position pos is at
// buf[pos&mask]. Its length is a power of two, at most the ring's size.
type store struct {
	buf  []byte
	mask uint64
}

// MinStore is the smallest store a ring grows: an HTTP request, or a
// small answer, fits.
const MinStore = 512

// New makes a ring holding at least size bytes (rounded up to a power of
// two, at least 64), with all its memory from the start, so that its store
// never changes (TailToEnd and HeadToEnd rely on that).
func New(size int) *Bytes {
	n := Size(size)
	r := &Bytes{size: n}
	r.mem.Store(newStore(n))
	return r
}

func newStore(n int) *store { return &store{buf: make([]byte, n), mask: uint64(n - 1)} }

// Size is the capacity New(size) has: size rounded up to a power of two,
// at least 64. A ring made on first use is promised at this size before.
func Size(size int) int {
	n := 64
	for n < size {
		n <<= 1
	}
	return n
}

// Cap is the ring's capacity.
func (r *Bytes) Cap() int { return r.size }

// Stored is how many bytes of memory the ring's store holds now: at most
// its capacity for a ring from Get, which grows it as bytes need room.
func (r *Bytes) Stored() int {
	if m := r.mem.Load(); m != nil {
		return len(m.buf)
	}
	return 0
}

// Len is the number of bytes published and not yet consumed.
func (r *Bytes) Len() int { return int(r.tail.Load() - r.head.Load()) }

// Free is the room left for the producer.
func (r *Bytes) Free() int { return r.size - r.Len() }

// Write appends as much of p as fits, publishes it, and returns how much.
// Producer only.
func (r *Bytes) Write(p []byte) int {
	r.busy.Store(true)
	n := r.WriteAt(p, 0)
	r.Commit(n)
	r.busy.Store(false)
	return n
}

// WriteAt writes p at offset off past the published end without publishing
// it, clipped to the free room, and returns how many bytes it wrote.
// Producer only.
func (r *Bytes) WriteAt(p []byte, off int) int {
	free := r.Free() - off
	if free <= 0 {
		return 0
	}
	if len(p) > free {
		p = p[:free]
	}
	if len(p) == 0 {
		return 0
	}
	at := r.tail.Load() + uint64(off)
	r.room(at+uint64(len(p))).copyIn(at, p)
	return len(p)
}

// room returns the store, grown first when the bytes up to position end
// do not fit in it. Producer only.
//
// Every byte written and not consumed lies in [head, head+len(buf)): the
// producer writes no further (it checks here, and the consumer only moves
// head on), so a new store that copies that stretch holds them all at the
// same positions. The store is published before the bytes written into it
// (tail, by Commit), and the consumer loads it after tail, so it reads a
// byte from a store that holds it.
//
// A nil store with bytes in the ring is one Drop is giving back and will
// find in use: the producer puts it back itself.
func (r *Bytes) room(end uint64) *store {
	m := r.mem.Load()
	if m == nil && r.Len() > 0 {
		r.mem.CompareAndSwap(nil, r.own.Load())
		m = r.mem.Load()
		r.recount()
	}
	head := r.head.Load()
	need := int(end - head)
	r.reach(need)
	if m != nil && need <= len(m.buf) {
		return m
	}
	n := max(MinStore, int(r.gave.Load()))
	if m != nil {
		n = 2 * len(m.buf)
	}
	for n < need {
		n <<= 1
	}
	nm := getStore(min(n, r.size))
	if m != nil {
		i := head & m.mask
		nm.copyIn(head, m.buf[i:])
		nm.copyIn(head+uint64(len(m.buf))-i, m.buf[:i])
	}
	r.mem.Store(nm)
	r.own.Store(nm)
	r.recount()
	return nm
}

// Count makes the ring add the size of its store, as it changes, to
// stored, which other rings may share. Before the first write only.
func (r *Bytes) Count(stored *atomic.Int64) { r.stored = stored }

// recount brings the ring's part of stored to the size of its store,
// after whoever changed the store. Two recounts at once may leave the
// older size until the next; the last, when the ring is put away, is
// exact.
func (r *Bytes) recount() {
	if r.stored == nil {
		return
	}
	n := int64(r.Stored())
	r.stored.Add(n - r.counted.Swap(n))
}

// Shrink gives back the store of an empty ring when it is larger than the
// smallest, so that a connection idle after moving much holds little; the
// next write takes one as large from the pool. Nothing may be written
// ahead (WriteAt without Commit). Producer only, on a ring from Get: the
// consumer, having consumed everything, reads no byte of the store again.
func (r *Bytes) Shrink() {
	if m := r.spare(); m != nil {
		r.mem.Store(nil)
		r.release(m)
	}
}

// reach notes that the ring holds, or is about to, n bytes. Producer only.
func (r *Bytes) reach(n int) {
	if int64(n) > r.peak.Load() {
		r.peak.Store(int64(n))
	}
}

// spare is the store of an empty ring when it is larger than the
// smallest: one worth giving back. Nil otherwise.
func (r *Bytes) spare() *store {
	m := r.mem.Load()
	if m == nil || len(m.buf) <= MinStore || r.Len() != 0 {
		return nil
	}
	return m
}

// release finishes giving back m, taken from the ring: the next store is
// as large as the ring held at the most while m was its, and m goes to
// the pool.
func (r *Bytes) release(m *store) {
	r.own.CompareAndSwap(m, nil)
	r.gave.Store(int64(Size(max(MinStore, int(r.peak.Swap(0))))))
	r.recount()
	putStore(m)
}

// Drop gives back the store of an empty ring when it is larger than the
// smallest, as Shrink does, from the consumer's side while the producer
// may be writing, if it writes with Write only (not WriteAt): a Write
// that may have loaded the store (busy), or bytes published meanwhile,
// make it put the store back. Consumer only, on a ring from Get.
func (r *Bytes) Drop() {
	m := r.spare()
	if m == nil || !r.mem.CompareAndSwap(m, nil) {
		return
	}
	// A Write sets busy before it loads the store, and this loads busy
	// after taking the store away: one of them sees the other.
	if r.busy.Load() || r.Len() != 0 {
		r.mem.CompareAndSwap(nil, m)
		r.recount()
		return
	}
	r.release(m)
}

// Commit publishes n bytes written with WriteAt. Producer only. Bytes
// published without being written (TCP publishes the place of bytes it
// keeps in frames so) read as whatever the ring holds there, zeros where
// it has no store yet.
func (r *Bytes) Commit(n int) {
	if n > 0 {
		r.reach(int(r.tail.Add(uint64(n)) - r.head.Load()))
	}
}

// Read consumes up to len(p) bytes into p. Consumer only.
func (r *Bytes) Read(p []byte) int {
	n := r.Peek(p, 0)
	r.Discard(n)
	return n
}

// Peek copies bytes starting off bytes past the head into p without
// consuming them. Consumer only (or the producer, for bytes it published
// and the consumer has not yet discarded: TCP retransmits that way).
func (r *Bytes) Peek(p []byte, off int) int {
	avail := r.Len() - off
	if avail <= 0 || len(p) == 0 {
		return 0
	}
	if len(p) > avail {
		p = p[:avail]
	}
	if m := r.mem.Load(); m != nil {
		m.copyOut(p, r.head.Load()+uint64(off))
	} else {
		clear(p) // published, never written: no store yet (see Commit)
	}
	return len(p)
}

// Pos is the consumer's position: the bytes ever consumed. The byte off
// bytes past the head is at position Pos()+off until it is consumed.
func (r *Bytes) Pos() uint64 { return r.head.Load() }

// End is the producer's position: the bytes ever published. The byte
// WriteAt writes at offset 0 lands at position End().
func (r *Bytes) End() uint64 { return r.tail.Load() }

// Discard consumes n bytes (at most Len). Consumer only.
func (r *Bytes) Discard(n int) {
	if l := r.Len(); n > l {
		n = l
	}
	if n > 0 {
		r.head.Add(uint64(n))
	}
}

// Slices returns the published bytes from off as up to two slices into
// the ring, for writing them to a wire without an intermediate copy. The
// slices are valid until the consumer discards them.
func (r *Bytes) Slices(off, n int) (a, b []byte) {
	avail := r.Len() - off
	if avail <= 0 || n <= 0 {
		return nil, nil
	}
	n = min(n, avail)
	m := r.mem.Load()
	if m == nil || n > len(m.buf) {
		// Bytes published, never written (see Commit), lie past the store.
		p := make([]byte, n)
		return p[:r.Peek(p, off)], nil
	}
	start := (r.head.Load() + uint64(off)) & m.mask
	end := start + uint64(n)
	if end <= uint64(len(m.buf)) {
		return m.buf[start:end], nil
	}
	return m.buf[start:], m.buf[:end-uint64(len(m.buf))]
}

func (m *store) copyIn(pos uint64, p []byte) {
	i := pos & m.mask
	n := copy(m.buf[i:], p)
	copy(m.buf, p[n:])
}

func (m *store) copyOut(p []byte, pos uint64) {
	i := pos & m.mask
	n := copy(p, m.buf[i:])
	copy(p[n:], m.buf)
}

// HeadToEnd is how many bytes lie between the consumer's position and the
// end of the underlying buffer: a record longer than that wraps. Rings
// from New only, whose store never changes.
func (r *Bytes) HeadToEnd() int { return r.size - int(r.head.Load()&uint64(r.size-1)) }

// TailToEnd is how many bytes lie between the producer's position and the
// end of the underlying buffer. Rings from New only.
func (r *Bytes) TailToEnd() int { return r.size - int(r.tail.Load()&uint64(r.size-1)) }

// Grown returns a ring of at least size bytes holding r's published bytes
// and the ahead bytes written past them with WriteAt, at the same
// positions (Pos, End), in a store of its own: nobody writes r's again, so
// frames sent from it by reference stay as they were. Neither side may
// use r meanwhile: the caller holds both still (a socket resized between
// reads and writes).
func (r *Bytes) Grown(size, ahead int) *Bytes {
	n := r.Len()
	nr := &Bytes{size: Size(max(size, n+ahead)), stored: r.stored}
	head := r.head.Load()
	nr.head.Store(head)
	nr.tail.Store(head + uint64(n))
	if m := r.mem.Swap(nil); m != nil {
		if n+ahead > 0 {
			buf := make([]byte, n+ahead)
			m.copyOut(buf, head)
			nr.room(head+uint64(len(buf))).copyIn(head, buf)
		}
		r.recount()
	}
	return nr
}

// pools keep stores for reuse by size (log2), so a stack that opens and
// closes connections all the time does not allocate (and clear) their
// memory every time. They are the process's, as sync.Pool is meant to be:
// a sync.Pool inside each stack would keep a closed stack reachable until
// two collections had passed.
var pools [64]sync.Pool

// getStore returns a store of n bytes (a power of two), reused if one is
// free.
func getStore(n int) *store {
	if m, ok := pools[bits.TrailingZeros(uint(n))].Get().(*store); ok {
		return m
	}
	return newStore(n)
}

// rings keeps the rings Put gave back, without their stores.
var rings sync.Pool

// Get returns an empty ring of Size(size) bytes whose store grows as bytes
// need room, from stores reused where some are free.
func Get(size int) *Bytes {
	r, ok := rings.Get().(*Bytes)
	if !ok {
		r = new(Bytes)
	}
	r.size = Size(size)
	r.head.Store(0)
	r.tail.Store(0)
	return r
}

// Put gives r and its store back for reuse; its owners must not touch r
// again, and nothing may still point into its bytes.
func Put(r *Bytes) {
	if m := r.mem.Swap(nil); m != nil {
		putStore(m)
	}
	r.recount()
	r.own.Store(nil)
	r.peak.Store(0)
	r.gave.Store(0)
	r.stored = nil
	rings.Put(r)
}

// Forget is Put for a ring whose bytes something may still point into:
// its store is left to the collector, and no longer counted.
func Forget(r *Bytes) {
	r.mem.Store(nil)
	r.recount()
}

func putStore(m *store) { pools[bits.TrailingZeros(uint(len(m.buf)))].Put(m) }
