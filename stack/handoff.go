package stack

import (
	"net/netip"
	"sync/atomic"

	"github.com/ustack/ustack/backend"
)

// handoffLen is the capacity of the ring from one queue to another. A full
// ring drops (counted): frames held there are the receive pool's, and the
// owner catches up within a turn.
const handoffLen = 512

// handoffKind says what the queue that takes a frame does with it.
type handoffKind uint8

const (
	// handInput: a received frame for state the taker owns; it runs the
	// frame through input as if it had received it.
	handInput handoffKind = iota
	// handResolve: a frame built by another queue for a neighbour not in
	// the published snapshot; queue 0 sends it once it resolved addr.
	handResolve
)

// handoff is one frame passed between queues, with what the taker needs.
type handoff struct {
	f    *backend.Frame
	ifc  *iface
	addr netip.Addr
	kind handoffKind
}

// handoffRing is a single-producer single-consumer ring of frames from one
// queue's loop to another's. The producer owns tail and the slots past it;
// the consumer owns head and the slots before tail.
type handoffRing struct {
	head atomic.Uint64
	tail atomic.Uint64
	recs [handoffLen]handoff
}

func (r *handoffRing) push(h handoff) bool {
	t := r.tail.Load()
	if t-r.head.Load() == handoffLen {
		return false
	}
	r.recs[t%handoffLen] = h
	r.tail.Store(t + 1)
	return true
}

func (r *handoffRing) pop() (handoff, bool) {
	h := r.head.Load()
	if h == r.tail.Load() {
		return handoff{}, false
	}
	rec := r.recs[h%handoffLen]
	r.recs[h%handoffLen] = handoff{}
	r.head.Store(h + 1)
	return rec, true
}

func (r *handoffRing) empty() bool { return r.head.Load() == r.tail.Load() }

// pass puts h on the ring to queue to and has that queue woken at the end
// of this turn. It reports false when the ring is full; the frame is still
// the caller's.
func (q *queue) pass(to int, h handoff) bool {
	if !q.s.queues[to].inbox[q.id].push(h) {
		q.counters.Queue.HandoffDrops++
		return false
	}
	q.counters.Queue.Handoffs++
	q.wakeNext[to] = true
	return true
}

// handOff passes the frame being received to queue to, whose loop runs it
// through input again, and reports true; false when to is this queue. A
// packet that is no received frame of this turn cannot be passed and is
// dropped (counted): a reassembled datagram (queue 0 reassembles) for a
// connection of another queue, or a frame another queue passed here whose
// connection has moved meanwhile (a frame never moves twice).
func (q *queue) handOff(to int) bool {
	if to == q.id {
		return false
	}
	if q.cur == nil {
		q.counters.Queue.HandoffDrops++
		return true
	}
	if q.pass(to, handoff{f: q.cur, ifc: q.curIfc, kind: handInput}) {
		q.taken = true
	}
	// A full ring drops the frame, which the burst then releases.
	return true
}

// takeHandoffs runs the frames other queues passed to this one.
func (q *queue) takeHandoffs() {
	for _, r := range q.inbox {
		if r == nil {
			continue
		}
		for range handoffLen {
			h, ok := r.pop()
			if !ok {
				break
			}
			switch h.kind {
			case handInput:
				q.input(h.ifc, h.f)
				backend.ReleaseOne(h.f)
			case handResolve:
				q.resolve(h.ifc, h.addr, h.f)
			}
		}
	}
	q.flushAcks()
}

// handoffsPending says whether another queue passed frames not yet taken.
func (q *queue) handoffsPending() bool {
	for _, r := range q.inbox {
		if r != nil && !r.empty() {
			return true
		}
	}
	return false
}

// wakeOthers wakes the queues this turn passed frames to.
func (q *queue) wakeOthers() {
	for i, w := range q.wakeNext {
		if w {
			q.wakeNext[i] = false
			q.s.wake(q.s.queues[i])
		}
	}
}
