// Package timer is the stack core's timer queue: a binary heap of timers
// embedded in their owners, driven by explicit time. Timers due at the same
// instant fire in the order they were scheduled, so a run is deterministic.
package timer

// Handler is told when its timer fires.
type Handler interface {
	OnTimer(t *Timer, now int64)
}

// Timer is one timer. Embed it in its owner and set its Handler once; a
// Timer is scheduled in at most one Heap at a time.
type Timer struct {
	Handler Handler
	when    int64
	seq     uint64
	index   int // position in the heap, or -1 when not scheduled
	heap    *Heap
}

// Pending reports whether the timer is scheduled.
func (t *Timer) Pending() bool { return t.heap != nil }

// When is the instant a pending timer fires.
func (t *Timer) When() int64 { return t.when }

// Heap holds pending timers ordered by due time, then by scheduling order.
type Heap struct {
	timers []*Timer
	seq    uint64
}

// Len is the number of pending timers.
func (h *Heap) Len() int { return len(h.timers) }

// Schedule makes t fire at when, rescheduling it if pending.
func (h *Heap) Schedule(t *Timer, when int64) {
	if t.heap != nil && t.heap != h {
		t.heap.Cancel(t)
	}
	h.seq++
	t.when, t.seq = when, h.seq
	if t.heap == h {
		h.fix(t.index)
		return
	}
	t.heap = h
	t.index = len(h.timers)
	h.timers = append(h.timers, t)
	h.up(t.index)
}

// Cancel unschedules t; it does nothing when t is not pending.
func (h *Heap) Cancel(t *Timer) {
	if t.heap != h {
		return
	}
	i := t.index
	last := len(h.timers) - 1
	if i != last {
		h.swap(i, last)
	}
	h.timers[last] = nil
	h.timers = h.timers[:last]
	if i != last {
		h.fix(i)
	}
	t.heap, t.index = nil, -1
}

// Next is the earliest due time, if any timer is pending.
func (h *Heap) Next() (int64, bool) {
	if len(h.timers) == 0 {
		return 0, false
	}
	return h.timers[0].when, true
}

// Run fires every timer due at or before now, earliest first, and returns
// how many fired. A handler may schedule timers, including its own; those
// due at or before now fire in the same Run.
func (h *Heap) Run(now int64) int {
	n := 0
	for len(h.timers) > 0 && h.timers[0].when <= now {
		t := h.timers[0]
		h.Cancel(t)
		t.Handler.OnTimer(t, now)
		n++
	}
	return n
}

func (h *Heap) less(i, j int) bool {
	a, b := h.timers[i], h.timers[j]
	if a.when != b.when {
		return a.when < b.when
	}
	return a.seq < b.seq
}

func (h *Heap) swap(i, j int) {
	h.timers[i], h.timers[j] = h.timers[j], h.timers[i]
	h.timers[i].index = i
	h.timers[j].index = j
}

func (h *Heap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *Heap) down(i int) bool {
	start := i
	n := len(h.timers)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}

func (h *Heap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}
