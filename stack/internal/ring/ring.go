// Package ring is a single-producer single-consumer byte ring: the buffer
// between an application goroutine and a stack loop. Neither side locks or
// blocks; each publishes its progress with one atomic store, so the stack
// core stays lock-free while applications read and write concurrently.
//
// The producer may also write ahead of the published end (WriteAt) and
// publish later (Commit): TCP places out-of-order data straight into the
// receive buffer this way, so data is copied once.
package ring

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Bytes is the ring. Head and tail count bytes ever consumed and produced;
// the ring holds tail-head bytes.
type Bytes struct {
	buf  []byte
	mask uint64
	head atomic.Uint64 // consumer
	tail atomic.Uint64 // producer
}

// New makes a ring holding at least size bytes (rounded up to a power of
// two, at least 64).
func New(size int) *Bytes {
	n := Size(size)
	return &Bytes{buf: make([]byte, n), mask: uint64(n - 1)}
}

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
func (r *Bytes) Cap() int { return len(r.buf) }

// Len is the number of bytes published and not yet consumed.
func (r *Bytes) Len() int { return int(r.tail.Load() - r.head.Load()) }

// Free is the room left for the producer.
func (r *Bytes) Free() int { return len(r.buf) - r.Len() }

// Write appends as much of p as fits, publishes it, and returns how much.
// Producer only.
func (r *Bytes) Write(p []byte) int {
	n := r.WriteAt(p, 0)
	r.Commit(n)
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
	r.copyIn(r.tail.Load()+uint64(off), p)
	return len(p)
}

// Commit publishes n bytes written with WriteAt. Producer only.
func (r *Bytes) Commit(n int) {
	if n > 0 {
		r.tail.Add(uint64(n))
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
	if avail <= 0 {
		return 0
	}
	if len(p) > avail {
		p = p[:avail]
	}
	r.copyOut(p, r.head.Load()+uint64(off))
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
	start := (r.head.Load() + uint64(off)) & r.mask
	end := start + uint64(n)
	if end <= uint64(len(r.buf)) {
		return r.buf[start:end], nil
	}
	return r.buf[start:], r.buf[:end-uint64(len(r.buf))]
}

func (r *Bytes) copyIn(pos uint64, p []byte) {
	i := pos & r.mask
	n := copy(r.buf[i:], p)
	copy(r.buf, p[n:])
}

func (r *Bytes) copyOut(p []byte, pos uint64) {
	i := pos & r.mask
	n := copy(p, r.buf[i:])
	copy(p[n:], r.buf)
}

// HeadToEnd is how many bytes lie between the consumer's position and the
// end of the underlying buffer: a record longer than that wraps.
func (r *Bytes) HeadToEnd() int { return len(r.buf) - int(r.head.Load()&r.mask) }

// TailToEnd is how many bytes lie between the producer's position and the
// end of the underlying buffer.
func (r *Bytes) TailToEnd() int { return len(r.buf) - int(r.tail.Load()&r.mask) }

// Grown returns a new ring of at least size bytes holding r's published
// bytes and the ahead bytes written past them with WriteAt, at the same
// positions (Pos, End). Neither side may use r meanwhile: the caller holds
// both still (a socket resized between reads and writes).
func (r *Bytes) Grown(size, ahead int) *Bytes {
	n := r.Len()
	nr := New(max(size, n+ahead))
	buf := make([]byte, n+ahead)
	head := r.head.Load()
	r.copyOut(buf, head)
	nr.copyIn(head, buf)
	nr.head.Store(head)
	nr.tail.Store(head + uint64(n))
	return nr
}

// pools keep rings for reuse by capacity (log2), so a stack that opens
// and closes connections all the time does not allocate (and clear) their
// rings every time. They are the process's, as sync.Pool is meant to be:
// a sync.Pool inside each stack would keep a closed stack reachable until
// two collections had passed.
var pools [64]sync.Pool

// Get returns an empty ring of Size(size) bytes, reused if one is free.
func Get(size int) *Bytes {
	n := Size(size)
	if r, ok := pools[bits.TrailingZeros(uint(n))].Get().(*Bytes); ok {
		r.head.Store(0)
		r.tail.Store(0)
		return r
	}
	return New(n)
}

// Put gives r back for reuse; its owners must not touch it again.
func Put(r *Bytes) {
	pools[bits.TrailingZeros(uint(len(r.buf)))].Put(r)
}
