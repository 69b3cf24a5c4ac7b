package stack

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/wire"
)

// Scatter-gather sending (backend.Offloads.SG). A large TCP segment goes
// to such a backend as a chain of a small head buffer, holding the headers
// and the payload's first bytes up to backend.ContiguousHeader, and
// windows onto the connection's send ring for the rest: the payload is
// copied once between the application and the wire, into the ring, rather
// than a second time into a buffer of the backend's. The ring's bytes must
// then stay put until the backend, or whoever it hands the frame to (the
// other stack on a pipe), releases the frame, acknowledged or not: each
// such frame pins the ring position of its first payload byte, and
// acknowledged bytes leave the ring only up to the oldest pin (trimSent).

// sgMinPayload is the least payload sent by reference: below it, copying
// costs less than building and tracking the chain.
const sgMinPayload = 4096

// frameSlots is how many frames of one connection may stand for bytes of
// a ring of size bytes (a power of two) at once: frames sent by reference
// pinning a send ring, frames held in a receive ring's place. Past that,
// bytes are copied. Enough for the whole ring in segments of 8 KiB (so a
// tuned 4 MiB ring full of TSO segments, or of jumbo frames, goes by
// reference all through): a power of two from 64 up to 1024.
func frameSlots(size int) int {
	return min(max(size/8192, 64), 1024)
}

// sendPins are the pins on a connection's send ring. The loop takes slots
// and reads starts; whoever releases a frame frees its slot, from any
// goroutine, and then wakes the loop if it held acknowledged bytes back.
type sendPins struct {
	c       *tcpConn
	ring    *ring.Bytes     // the ring the positions are in
	used    []atomic.Uint64 // a bit per slot taken, 64 slots a word
	start   []uint64        // ring position of each slot's first byte (loop only)
	waiting atomic.Bool     // the loop holds acknowledged bytes for a pin
}

// unpin frees slot; the last pin holding acknowledged bytes back sends the
// loop to drop them (onReady).
func (p *sendPins) unpin(slot int) {
	p.used[slot>>6].And(^(uint64(1) << (slot & 63)))
	if p.waiting.Load() {
		c := p.c
		c.q.ready.push(&c.readyNode)
		c.q.s.wake(c.q)
	}
}

// pinned reports whether a frame still pins the ring.
func (p *sendPins) pinned() bool {
	for i := range p.used {
		if p.used[i].Load() != 0 {
			return true
		}
	}
	return false
}

// pinsFor returns the pins on sb, made on the connection's first segment
// sent by reference from it.
func (c *tcpConn) pinsFor(sb *ring.Bytes) *sendPins {
	if c.pins == nil || c.pins.ring != sb {
		n := frameSlots(sb.Cap())
		c.pins = &sendPins{c: c, ring: sb, used: make([]atomic.Uint64, n/64), start: make([]uint64, n)}
	}
	return c.pins
}

// trimSent drops the acknowledged bytes still in the send ring (sndLag),
// up to the first byte a frame on its way still points into.
func (c *tcpConn) trimSent(sb *ring.Bytes) {
	n := c.sndLag
	if p := c.pins; p != nil && p.ring == sb && p.pinned() {
		// Waiting is announced before the pins are read, so a pin
		// freed meanwhile either shows here or sees the flag.
		p.waiting.Store(true)
		head := sb.Pos()
		for w := range p.used {
			for used := p.used[w].Load(); used != 0; used &= used - 1 {
				n = min(n, int(p.start[w<<6|bits.TrailingZeros64(used)]-head))
			}
		}
		if n == c.sndLag {
			p.waiting.Store(false)
		}
	}
	if n <= 0 {
		return
	}
	sb.Discard(n)
	c.sndLag -= n
	if sb.Len() == 0 {
		// Everything sent is acknowledged and no frame points into the
		// ring: a large store goes back until the application writes.
		sb.Drop()
	}
	if c.sock != nil {
		if c.sock.sndWaiting.Load() {
			c.tuneSnd(sb)
		}
		c.sock.wakeWriter()
	}
}

// sgFrame returns a frame for d, an unfragmented datagram with an l3-byte
// IP header, that points into d's send ring past the first k bytes of
// payload, which go in the head with the headers; nil when d is not in a
// ring, ifc does not gather, or the ring has no pin left.
func (q *queue) sgFrame(ifc *iface, d *ipDatagram, l3 int) (f *backend.Frame, k int) {
	if d.pins == nil || !ifc.sg {
		return nil, 0
	}
	k = backend.ContiguousHeader - wire.EthernetHeaderLen - l3 - len(d.hdr)
	if k < 0 || len(d.payload) < k {
		return nil, 0
	}
	f = q.sg.frame(d.pins, d.pinPos, d.payload[k:], d.payload2, q.id)
	if f != nil {
		q.counters.TCP.SentByReference++
	}
	return f, k
}

// sgFrames makes the frames a queue sends by reference and is their
// Owner. They come back from whoever released them, on any goroutine.
type sgFrames struct {
	mu    sync.Mutex
	all   []*sgHead        // by a head's Handle
	heads []*sgHead        // free
	exts  []*backend.Frame // free
	out   int              // heads lent and not back
}

// sgHead is a head buffer: the headers and the payload's first bytes, and
// the pin its frame holds.
type sgHead struct {
	f    backend.Frame
	buf  [backend.Headroom + backend.ContiguousHeader]byte
	pins *sendPins
	slot int
}

// frame returns a frame for a segment whose first headLen bytes (headers,
// then payload) go into its head, followed by windows onto a and b, the
// rest of the payload, which starts at position pos of the ring p pins.
// It returns nil when every pin slot is taken.
func (o *sgFrames) frame(p *sendPins, pos uint64, a, b []byte, queue int) *backend.Frame {
	slot := -1
	for w := range p.used {
		if used := p.used[w].Load(); used != ^uint64(0) {
			slot = w<<6 | bits.TrailingZeros64(^used)
			break
		}
	}
	if slot < 0 {
		return nil
	}
	p.start[slot] = pos
	o.mu.Lock()
	var h *sgHead
	if n := len(o.heads); n > 0 {
		h = o.heads[n-1]
		o.heads = o.heads[:n-1]
	} else {
		h = &sgHead{}
		h.f.Handle = uintptr(len(o.all))
		o.all = append(o.all, h)
	}
	h.f.Init(h.buf[:], backend.Headroom, o)
	h.pins, h.slot = p, slot
	o.chainExt(&h.f, a)
	o.chainExt(&h.f, b)
	o.out++
	o.mu.Unlock()
	p.used[slot>>6].Or(1 << (slot & 63))
	h.f.Queue = queue
	return &h.f
}

// chainExt appends a window onto p to head. Called with o.mu held.
func (o *sgFrames) chainExt(head *backend.Frame, p []byte) {
	if len(p) == 0 {
		return
	}
	var e *backend.Frame
	if n := len(o.exts); n > 0 {
		e = o.exts[n-1]
		o.exts = o.exts[:n-1]
	} else {
		e = new(backend.Frame)
	}
	e.InitData(p, 0, len(p), o)
	head.Chain(e)
}

// FreeChains implements backend.Owner.
func (o *sgFrames) FreeChains(heads []*backend.Frame) {
	for _, f := range heads {
		o.FreeChain(f)
	}
}

// FreeChain implements backend.Owner. The pin goes after the lock: unpin
// may wake the queue through its device, whatever locks that takes.
func (o *sgFrames) FreeChain(head *backend.Frame) {
	o.mu.Lock()
	p, slot := o.free(head)
	o.mu.Unlock()
	p.unpin(slot)
}

// free takes a chain back and returns the pin it held. Called with o.mu
// held.
func (o *sgFrames) free(f *backend.Frame) (*sendPins, int) {
	for e := f.Next(); e != nil; {
		next := e.Next()
		e.Init(nil, 0, o) // forget the ring, so it can go
		o.exts = append(o.exts, e)
		e = next
	}
	h := o.all[f.Handle]
	p := h.pins
	h.pins = nil
	o.heads = append(o.heads, h)
	o.out--
	return p, h.slot
}

// outstanding is the number of frames lent and not back.
func (o *sgFrames) outstanding() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out
}
