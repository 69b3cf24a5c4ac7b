package stack

import (
	"sync"
	"sync/atomic"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/ring"
)

// Receiving by reference. In-order payload of a large segment is not
// copied into the receive ring: the loop keeps the frame it came in and
// publishes its bytes' place in the ring without writing them; the
// application's Read copies them from the frame, skips that stretch of the
// ring and releases the frame. The ring still orders everything (positions
// are sequence numbers, out-of-order data is written ahead as before) and
// still counts the window, so only the copy moves: from the loop's turn to
// the read, where it is the only one. The frames held stay under a quarter
// of the device's buffers per queue (iface.holdMax), so that a reader who
// does not read cannot starve the receive pool; past that, bytes are
// copied.

// holdMin is the least payload kept by reference: below it, copying costs
// less than holding the frame.
const holdMin = 4096

// holdUnbounded is how many buffers a queue holds when the device does not
// say how many it has.
const holdUnbounded = 1024

// holdLimit is how many buffers of a device with buffers of them (0:
// unknown) a queue may hold: a quarter.
func holdLimit(buffers int) int {
	if buffers <= 0 {
		return holdUnbounded
	}
	return buffers / 4
}

// heldSeg is a stretch of the receive ring whose bytes are in a frame.
type heldSeg struct {
	f   *backend.Frame
	pos uint64 // ring position of the first byte
	off int    // where the bytes start in f
	n   int
	buf int // buffers of f, for the queue's count
}

// rcvHeld is a connection's held frames, in ring order: the loop adds at
// the tail, the reader takes from the head. mu is the reader's while it
// copies from a frame and the loop's when it lets go of them all (drop).
type rcvHeld struct {
	q          *queue
	segs       []heldSeg // frameSlots of the largest ring the connection may get
	mask       uint64    // len(segs)-1
	head, tail atomic.Uint64
	mu         sync.Mutex
	used       int  // bytes of the head segment read (reader, under mu)
	dropped    bool // under mu
}

// hold keeps the in-order bytes data of the frame being received in the
// receive ring rb in place of a copy, and returns how many it took (as
// rxWrite does), or -1 when it does not hold them: a small or chained and
// copied segment, a queue at its limit, a full list.
func (c *tcpConn) hold(rb *ring.Bytes, data []byte) int {
	q := c.q
	f := q.cur
	if len(data) < holdMin || f == nil || q.taken {
		return -1
	}
	var base []byte // the bytes data is a view into
	switch {
	case q.gather != nil:
		base = q.lin
	case f.Next() == nil:
		base = f.Bytes()
	default:
		return -1
	}
	off := offsetIn(base, data)
	if off < 0 || off+len(data) > len(base) {
		return -1
	}
	h := c.held.Load()
	if h == nil {
		n := frameSlots(max(rb.Cap(), ring.Size(q.s.cfg.TCP.RecvBufferMax)))
		h = &rcvHeld{q: q, segs: make([]heldSeg, n), mask: uint64(n - 1)}
		c.held.Store(h)
	}
	bufs := f.Segments()
	if h.tail.Load()-h.head.Load() == uint64(len(h.segs)) {
		return -1
	}
	if q.held.Load()+int64(bufs) > int64(q.curIfc.holdMax) {
		q.counters.TCP.HoldCapped++
		return -1
	}
	n := min(len(data), rb.Free())
	if n <= 0 {
		return 0
	}
	t := h.tail.Load()
	h.segs[t&h.mask] = heldSeg{f: f, pos: rb.End(), off: off, n: n, buf: bufs}
	h.tail.Store(t + 1)
	q.held.Add(int64(bufs))
	q.taken = true
	q.counters.TCP.HeldSegments++
	return n
}

// dropHeld lets go of the frames the connection holds, if any; a read
// after that finds nothing (rcvHeld.read).
func (c *tcpConn) dropHeld() {
	if h := c.held.Load(); h != nil {
		h.drop()
	}
}

// read copies up to len(p) bytes from the receive ring rb into p, taking
// held stretches from their frames, and returns how many. The reader's.
func (h *rcvHeld) read(rb *ring.Bytes, p []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dropped {
		return 0
	}
	done := 0
	for done < len(p) {
		avail := rb.Len()
		if avail == 0 {
			break
		}
		want := min(len(p)-done, avail)
		head := h.head.Load()
		if head == h.tail.Load() {
			done += rb.Read(p[done : done+want])
			break
		}
		s := &h.segs[head&h.mask]
		at := s.pos + uint64(h.used)
		if pos := rb.Pos(); pos != at {
			// Copied bytes before the held stretch.
			done += rb.Read(p[done : done+min(want, int(at-pos))])
			continue
		}
		k := s.f.CopyTo(p[done:done+min(want, s.n-h.used)], s.off+h.used)
		rb.Discard(k)
		done += k
		h.used += k
		if h.used == s.n {
			h.pop(s, head)
		}
	}
	return done
}

// pop releases the head segment s, at index head. Called with mu held.
func (h *rcvHeld) pop(s *heldSeg, head uint64) {
	f, bufs := s.f, s.buf
	*s = heldSeg{}
	h.used = 0
	h.head.Store(head + 1)
	h.q.held.Add(-int64(bufs))
	backend.ReleaseOne(f)
}

// drop releases every held frame, for good: the connection's buffers are
// going (the application closed it, or the stack is closing). The loop's.
func (h *rcvHeld) drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropped = true
	for head := h.head.Load(); head != h.tail.Load(); head++ {
		h.pop(&h.segs[head&h.mask], head)
	}
}
