package faults

import "github.com/ustack/ustack/backend"

// entry is a frame held until due.
type entry struct {
	f   *backend.Frame
	due int64
	// held: the frame was kept past the instant it was offered, so that a
	// received frame's timestamp becomes the instant it is delivered.
	held bool
}

// ring is a FIFO of held frames, in order of due time. It grows by
// doubling up to maxHeld entries, so that a steady flow stops allocating
// once the ring has reached the size the flow needs.
type ring struct {
	buf  []entry
	head int
	n    int
}

const (
	initialHeld = 256
	maxHeld     = 1 << 16
)

func (r *ring) push(e entry) bool {
	if r.n == len(r.buf) {
		if len(r.buf) >= maxHeld {
			return false
		}
		grown := make([]entry, max(initialHeld, 2*len(r.buf)))
		for i := range r.n {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	return true
}

// at is the i-th entry from the front.
func (r *ring) at(i int) *entry { return &r.buf[(r.head+i)%len(r.buf)] }

// pop removes and returns the front entry.
func (r *ring) pop() entry {
	e := r.buf[r.head]
	r.buf[r.head] = entry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return e
}

// due counts the entries due at now, up to limit.
func (r *ring) due(now int64, limit int) int {
	k := 0
	for k < r.n && k < limit && r.at(k).due <= now {
		k++
	}
	return k
}

// release releases every held frame.
func (r *ring) release() {
	for r.n > 0 {
		backend.ReleaseOne(r.pop().f)
	}
}
