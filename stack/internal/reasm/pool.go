package reasm

import "math/bits"

// Buffers come in power-of-two size classes from 64 bytes to 128 KiB so that
// a buffer released by one datagram fits the next one of a similar size.
const (
	minClassShift = 6  // smallest class: 64 bytes
	numClasses    = 12 // largest class: 64 << 11 = 128 KiB
	poolDepth     = 16 // free buffers kept per class
)

// pool is a free list of byte slices per size class. It keeps at most
// poolDepth buffers per class, so it never holds more than about 4 MiB
// however large a burst was.
type pool struct {
	free [numClasses][][]byte
}

// classOf returns the size class that holds n bytes; numClasses or more
// means none does.
func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// classCap returns the capacity of the buffer that get(n) returns, which is
// what holding n bytes costs.
func classCap(n int) int {
	if n <= 0 {
		return 0
	}
	c := classOf(n)
	if c >= numClasses {
		return n
	}
	return 1 << (c + minClassShift)
}

// get returns an empty buffer with capacity classCap(n).
func (p *pool) get(n int) []byte {
	c := classOf(n)
	if c >= numClasses {
		return make([]byte, 0, n)
	}
	if l := len(p.free[c]); l > 0 {
		b := p.free[c][l-1]
		p.free[c][l-1] = nil
		p.free[c] = p.free[c][:l-1]
		return b[:0]
	}
	return make([]byte, 0, 1<<(c+minClassShift))
}

// put returns b to the pool. Buffers not of a class size are left to the
// garbage collector.
func (p *pool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	c := classOf(cap(b))
	if c >= numClasses || cap(b) != 1<<(c+minClassShift) || len(p.free[c]) >= poolDepth {
		return
	}
	p.free[c] = append(p.free[c], b[:0])
}
