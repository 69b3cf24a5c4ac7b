package ring

import (
	"sync/atomic"
	"testing"
)

// model is what a ring holds, as FuzzRing keeps it: the published bytes
// not yet consumed, and the bytes written ahead by offset past them. A
// published byte nobody wrote (TCP publishes held stretches so) is -1: its
// value is the ring's to choose.
type model struct {
	pub   []int
	ahead map[int]byte
}

// commit publishes n bytes: what was written ahead of them, and the rest
// written ahead moves n closer.
func (m *model) commit(n int) {
	for i := range n {
		v, ok := m.ahead[i]
		if ok {
			m.pub = append(m.pub, int(v))
		} else {
			m.pub = append(m.pub, -1)
		}
	}
	next := make(map[int]byte, len(m.ahead))
	for off, v := range m.ahead {
		if off >= n {
			next[off-n] = v
		}
	}
	m.ahead = next
}

// reach is one past the farthest offset written ahead.
func (m *model) reach() int {
	r := 0
	for off := range m.ahead {
		r = max(r, off+1)
	}
	return r
}

// FuzzRing runs a ring from Get through the operations the input spells,
// one goroutine playing both sides, against a model of what it holds:
// every byte read, peeked or sliced is the one written there, and the
// stores stay within the capacity and counted.
func FuzzRing(f *testing.F) {
	f.Add([]byte{3, 0, 200, 1, 40, 3, 9, 2, 50, 6, 7, 0, 255, 3, 255, 8, 9, 4, 10, 5, 3, 20})
	f.Add([]byte{7, 1, 10, 30, 0, 5, 2, 40, 3, 45, 7, 0, 1, 8, 250, 3, 0, 100, 3, 100})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		var stored atomic.Int64
		r := Get(64 << (in[0] % 8))
		r.Count(&stored)
		m := &model{ahead: map[int]byte{}}
		var seq byte
		data := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				seq++
				b[i] = seq
			}
			return b
		}
		check := func(what string, got []byte, from int) {
			for i, v := range got {
				if want := m.pub[from+i]; want >= 0 && int(v) != want {
					t.Fatalf("%s: byte %d is %d, want %d", what, from+i, v, want)
				}
			}
		}
		for i := 1; i+2 < len(in); i += 3 {
			// Sizes up to a little past the largest ring, most of them small.
			op, a, b := in[i]%10, min(int(in[i+1])*int(in[i+1]), 9000), int(in[i+2])
			free := r.Cap() - len(m.pub)
			switch op {
			case 0: // Write
				n := min(a, free)
				got := r.Write(data(a))
				if got != n {
					t.Fatalf("Write of %d with %d free took %d", a, free, got)
				}
				seq -= byte(a - n)
				for j := range n {
					m.ahead[j] = seq - byte(n-1-j)
				}
				m.commit(n)
			case 1: // WriteAt
				n := max(0, min(a, free-b))
				if got := r.WriteAt(data(a), b); got != n {
					t.Fatalf("WriteAt of %d at %d with %d free took %d", a, b, free, got)
				}
				seq -= byte(a - n)
				for j := range n {
					m.ahead[b+j] = seq - byte(n-1-j)
				}
			case 2: // Commit
				n := min(a, free)
				r.Commit(n)
				m.commit(n)
			case 3: // Read
				p := make([]byte, a)
				n := r.Read(p)
				if n != min(a, len(m.pub)) {
					t.Fatalf("Read of %d from %d took %d", a, len(m.pub), n)
				}
				check("Read", p[:n], 0)
				m.pub = m.pub[n:]
			case 4: // Discard
				n := min(a, len(m.pub))
				r.Discard(a)
				m.pub = m.pub[n:]
			case 5: // Peek
				p := make([]byte, a)
				n := r.Peek(p, b)
				if want := max(0, min(a, len(m.pub)-b)); n != want {
					t.Fatalf("Peek of %d at %d from %d took %d", a, b, len(m.pub), n)
				}
				check("Peek", p[:n], b)
			case 6: // Slices
				x, y := r.Slices(b, a)
				got := append(append([]byte(nil), x...), y...)
				if want := max(0, min(a, len(m.pub)-b)); len(got) != want {
					t.Fatalf("Slices of %d at %d from %d gave %d", a, b, len(m.pub), len(got))
				}
				check("Slices", got, b)
			case 7: // Shrink: the producer's, with nothing written ahead
				if len(m.ahead) == 0 {
					r.Shrink()
				}
			case 8: // Drop: the consumer's, the producer writing with Write only
				if len(m.ahead) == 0 {
					r.Drop()
				}
			case 9: // Grown, keeping what was written ahead
				old := r
				r = r.Grown(a, m.reach())
				Forget(old)
			}
			if r.Len() != len(m.pub) {
				t.Fatalf("Len %d, want %d", r.Len(), len(m.pub))
			}
			if s := r.Stored(); s > r.Cap() || s&(s-1) != 0 {
				t.Fatalf("a store of %d bytes in a ring of %d", s, r.Cap())
			}
			if int(stored.Load()) != r.Stored() {
				t.Fatalf("counted %d, stored %d", stored.Load(), r.Stored())
			}
		}
		Put(r)
		if stored.Load() != 0 {
			t.Fatalf("counted %d once put away", stored.Load())
		}
	})
}
