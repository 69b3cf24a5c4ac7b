// Package faults is fault-injection middleware: a backend.Backend that
// wraps another and loses, duplicates, reorders, corrupts, truncates, delays
// and rate-limits the frames that cross it, in either direction, as a
// misbehaving network would. Wrap it around any backend (faults over a
// capture over a pipe, say) and give the stack the result.
//
// Injection is deterministic: every choice comes from a PCG stream per
// direction and queue derived from the seed, so the same seed, the same
// frames and the same clock readings give the same faults on every run.
//
// Faults apply to what a wire would carry. A GSO frame is first cut into
// wire-sized frames (offload.Segment) whenever a fault may pick out single
// frames, and a frame about to be damaged has its partial checksum
// completed and its "verified" mark cleared, so that the receiver checks the
// damaged frame and finds it bad.
//
// Each frame meets the faults of its direction in the order a network
// would: segmentation, loss, duplication (the copy then goes its own way),
// corruption and truncation, reordering, delay with jitter, and last the
// rate limit.
//
// Held frames (delay, reorder, rate) leave later: held transmit frames go
// to the inner backend on the next Send, Recv or Wait of their queue at or
// after their due time, and held receive frames come out of Recv when due.
// NextArrival reports those instants, so that a simulator on virtual time
// knows when to call in.
package faults

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
)

// retryAfter is how soon a queue whose inner backend refused a due frame
// tries again, when nothing else wakes it.
const retryAfter = int64(time.Millisecond)

// burst is the size of the scratch batches exchanged with the inner backend.
const burst = 64

// Backend injects faults into the frames crossing an inner backend. It
// implements backend.Backend, backend.Scheduler, backend.StatsReader and
// backend.DeviceStatsReader (the inner backend's counters). Frames it holds belong to it until it
// delivers them; Close releases them.
type Backend struct {
	inner  backend.Backend
	sched  backend.Scheduler // inner's, or nil
	clock  backend.Clock
	spec   Spec
	queues []*queue
	closed atomic.Bool
}

// queue is the state of one queue, used by that queue's goroutine; the
// mutex lets Stats and Close reach it from others.
type queue struct {
	mu     sync.Mutex
	idx    int
	inner  backend.Backend
	txCsum bool // the inner device completes partial checksums
	// gathers: the inner device carries frames in others' memory (a
	// stack's send buffer): both ways, damage is done to a copy.
	gathers bool
	alloc   offload.BackendAllocator
	rx, tx  path
	in      []*backend.Frame // frames from inner.Recv
	out     []*backend.Frame // frames for inner.Send
	segs    []*backend.Frame // segments of a GSO frame
	one     [1]*backend.Frame
}

// Wrap returns inner with the faults of spec injected. The seed selects the
// random streams; clock is the stack's clock, which times delays and rates
// (a backend.VirtualClock in simulations).
func Wrap(inner backend.Backend, spec Spec, seed uint64, clock backend.Clock) (*Backend, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if inner == nil || clock == nil {
		return nil, errors.New("faults: wrap needs a backend and a clock")
	}
	caps := inner.Caps()
	b := &Backend{inner: inner, clock: clock, spec: spec}
	b.sched, _ = inner.(backend.Scheduler)
	for i := range max(caps.Queues, 1) {
		q := &queue{
			idx:     i,
			inner:   inner,
			txCsum:  caps.Offloads.TxCsum,
			gathers: caps.Offloads.SG,
			alloc:   offload.BackendAllocator{Backend: inner, Queue: i},
			rx:      newPath(spec.Rx, true, seed, i),
			tx:      newPath(spec.Tx, false, seed, i),
			in:      make([]*backend.Frame, burst),
			out:     make([]*backend.Frame, burst),
			segs:    make([]*backend.Frame, burst),
		}
		b.queues = append(b.queues, q)
	}
	return b, nil
}

// Spec is the specification the backend injects.
func (b *Backend) Spec() Spec { return b.spec }

// Inner is the wrapped backend.
func (b *Backend) Inner() backend.Backend { return b.inner }

func (b *Backend) queue(q int) (*queue, error) {
	if q < 0 || q >= len(b.queues) {
		return nil, backend.ErrQueue
	}
	return b.queues[q], nil
}

// Caps implements backend.Backend: the inner backend's.
func (b *Backend) Caps() backend.Caps { return b.inner.Caps() }

// Alloc implements backend.Backend.
func (b *Backend) Alloc(q int, frames []*backend.Frame, size int) int {
	return b.inner.Alloc(q, frames, size)
}

// Send implements backend.Backend. It takes frames as long as it can hold
// them and hands them, with the transmit faults applied, to the inner
// backend when due. When the inner backend refuses a due frame, Send takes
// no more until it has gone.
func (b *Backend) Send(qi int, frames []*backend.Frame) (int, error) {
	q, err := b.queue(qi)
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if b.closed.Load() {
		return 0, backend.ErrClosed
	}
	p := &q.tx
	if !p.active {
		return b.inner.Send(qi, frames)
	}
	now := b.clock.Now()
	if err := q.flush(now); err != nil || p.blocked {
		return 0, err
	}
	n := 0
	for n < len(frames) && p.ring.n < maxHeld/2 {
		f := frames[n]
		frames[n] = nil
		n++
		q.admit(p, f, now)
	}
	return n, q.flush(now)
}

// Recv implements backend.Backend. It receives from the inner backend,
// applies the receive faults and returns the frames that are due; a frame
// that was held has its Timestamp set to when it became due.
func (b *Backend) Recv(qi int, frames []*backend.Frame) (int, error) {
	q, err := b.queue(qi)
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if b.closed.Load() {
		return 0, backend.ErrClosed
	}
	now := b.clock.Now()
	// Transmit errors are Send's to report.
	_ = q.flush(now)
	p := &q.rx
	if !p.active {
		return b.inner.Recv(qi, frames)
	}
	p.expire(now)
	// Take from the inner backend only what the caller has room for
	// beyond the frames already due, so that duplicates and segments do not
	// pile up.
	if want := len(frames) - p.ring.due(now, len(frames)); want > 0 {
		if len(q.in) < want {
			q.in = make([]*backend.Frame, want)
		}
		var m int
		m, err = b.inner.Recv(qi, q.in[:want])
		for i, f := range q.in[:m] {
			q.in[i] = nil
			q.admit(p, f, now)
		}
	}
	n := 0
	for n < len(frames) && p.ring.n > 0 && p.ring.at(0).due <= now {
		e := p.ring.pop()
		if e.held {
			e.f.Timestamp = e.due
		}
		frames[n] = e.f
		n++
	}
	if n > 0 {
		return n, nil
	}
	return 0, err
}

// Wait implements backend.Backend: it sends due transmit frames, returns at
// once when received frames are due, and otherwise waits on the inner
// backend no later than the next instant a held frame falls due.
func (b *Backend) Wait(qi int, deadline int64) error {
	q, err := b.queue(qi)
	if err != nil {
		return err
	}
	q.mu.Lock()
	if b.closed.Load() {
		q.mu.Unlock()
		return backend.ErrClosed
	}
	now := b.clock.Now()
	_ = q.flush(now)
	q.rx.expire(now)
	if q.rx.ring.n > 0 && q.rx.ring.at(0).due <= now {
		q.mu.Unlock()
		return nil
	}
	next, ok := q.next(now)
	q.mu.Unlock()
	if ok && (deadline == 0 || next < deadline) {
		deadline = next
	}
	return b.inner.Wait(qi, deadline)
}

// Wake implements backend.Backend.
func (b *Backend) Wake(q int) { b.inner.Wake(q) }

// NextArrival implements backend.Scheduler: the earliest of the inner
// backend's next arrival and the instants at which this queue's held
// frames, received or sent, fall due. Held transmit frames count because
// they leave only when the queue calls in at or after their due time.
func (b *Backend) NextArrival(qi int) (int64, bool) {
	q, err := b.queue(qi)
	if err != nil {
		return 0, false
	}
	q.mu.Lock()
	at, ok := q.next(b.clock.Now())
	q.mu.Unlock()
	if b.sched != nil {
		if t, tok := b.sched.NextArrival(qi); tok && (!ok || t < at) {
			at, ok = t, true
		}
	}
	return at, ok
}

// Outstanding implements backend.Backend: the inner backend's count, which
// includes the frames held here.
func (b *Backend) Outstanding() int { return b.inner.Outstanding() }

// QueueStats implements backend.StatsReader with the inner backend's
// counters, or zeros when it keeps none.
func (b *Backend) QueueStats(q int) backend.QueueStats {
	if sr, ok := b.inner.(backend.StatsReader); ok {
		return sr.QueueStats(q)
	}
	return backend.QueueStats{}
}

// DeviceStats implements backend.DeviceStatsReader with the inner
// backend's, or none when it has none.
func (b *Backend) DeviceStats() (string, []backend.DeviceStat, error) {
	if dr, ok := b.inner.(backend.DeviceStatsReader); ok {
		return dr.DeviceStats()
	}
	return "", nil, nil
}

// Close implements backend.Backend: it releases every frame held and closes
// the inner backend.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	for _, q := range b.queues {
		q.mu.Lock()
		q.rx.release()
		q.tx.release()
		q.mu.Unlock()
	}
	return b.inner.Close()
}

// Stats are the fault counters of both directions, summed over queues.
type Stats struct {
	Rx, Tx DirStats
}

// Stats returns the fault counters.
func (b *Backend) Stats() Stats {
	var s Stats
	for _, q := range b.queues {
		q.mu.Lock()
		s.Rx.add(&q.rx.stats)
		s.Tx.add(&q.tx.stats)
		q.mu.Unlock()
	}
	return s
}

// FaultStats implements backend.FaultStatsReader: Stats by direction.
func (b *Backend) FaultStats() (rx, tx []backend.DeviceStat) {
	s := b.Stats()
	return s.Rx.list(), s.Tx.list()
}

// admit takes a frame into path p at now: a GSO frame is cut into segments
// first when a per-frame fault may apply, so that faults hit what a wire
// carries.
func (q *queue) admit(p *path, f *backend.Frame, now int64) {
	if f.GSO != backend.GSONone && p.cfg.perFrame() {
		if n := q.segment(p, f); n > 0 {
			for i, s := range q.segs[:n] {
				q.segs[i] = nil
				p.frame(q, s, now)
			}
			return
		}
	}
	p.frame(q, f, now)
}

// segment cuts GSO frame f into q.segs and releases it, returning the
// number of segments, or leaves it alone and returns 0.
func (q *queue) segment(p *path, f *backend.Frame) int {
	trusted := f.Csum == backend.CsumVerified || f.Csum == backend.CsumPartial
	// Segment recomputes checksums: on a frame no one has checked, that
	// would launder damage done before it reached us.
	if p.isRx && !trusted && offload.VerifyChecksums(f) != backend.CsumVerified {
		p.stats.SegmentFailed++
		return 0
	}
	n, err := offload.SegmentCount(f)
	if err == nil {
		if len(q.segs) < n {
			q.segs = make([]*backend.Frame, n)
		}
		// A device that completes checksums can do it for the segments.
		keep := !p.isRx && f.Csum == backend.CsumPartial && q.txCsum
		n, err = offload.Segment(q.segs[:n], f, &q.alloc, offload.SegmentOptions{KeepPartial: keep})
	}
	if err != nil {
		p.stats.SegmentFailed++
		return 0
	}
	if p.isRx {
		for _, s := range q.segs[:n] {
			s.Csum = backend.CsumVerified
		}
	}
	p.stats.Segmented++
	backend.ReleaseOne(f)
	return n
}

// clone copies f into a new frame from the inner backend, or returns nil
// when it has none.
func (q *queue) clone(f *backend.Frame) *backend.Frame {
	if q.inner.Alloc(q.idx, q.one[:], f.Len()) != 1 {
		return nil
	}
	c := q.one[0]
	q.one[0] = nil
	if !c.SetLen(f.Len()) {
		backend.ReleaseOne(c)
		return nil
	}
	off := 0
	for s := f; s != nil && off < f.Len(); s = s.Next() {
		p := s.Bytes()
		p = p[:min(len(p), f.Len()-off)]
		c.CopyFrom(p, off)
		off += len(p)
	}
	c.Meta = f.Meta
	c.Queue = f.Queue
	return c
}

// flush hands the due transmit frames to the inner backend, in order,
// until it refuses one.
func (q *queue) flush(now int64) error {
	p := &q.tx
	if !p.active {
		return nil
	}
	p.expire(now)
	p.blocked = false
	for p.ring.n > 0 && p.ring.at(0).due <= now {
		k := 0
		for k < len(q.out) && k < p.ring.n && p.ring.at(k).due <= now {
			q.out[k] = p.ring.at(k).f
			k++
		}
		n, err := q.inner.Send(q.idx, q.out[:k])
		for range n {
			p.ring.pop()
		}
		clear(q.out[:k])
		if err != nil {
			return err
		}
		if n < k {
			p.blocked = true
			return nil
		}
	}
	return nil
}

// next is the earliest instant at which the queue has something to do: a
// held frame falls due, a reordered frame stops waiting, or a transmit
// frame the inner backend refused is tried again.
func (q *queue) next(now int64) (int64, bool) {
	at, ok := q.rx.next()
	t, tok := q.tx.next()
	if tok && q.tx.blocked {
		t = max(t, now+retryAfter)
	}
	if tok && (!ok || t < at) {
		at, ok = t, true
	}
	return at, ok
}
