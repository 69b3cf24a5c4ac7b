package reasm

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// threeFragments is a 4000-byte datagram on a 1500-byte MTU path.
func threeFragments() []frag { return split(fill(40, 4000), 1480) }

// orders of the three fragments.
var orders = map[string][]int{
	"in-order": {0, 1, 2},
	"reverse":  {2, 1, 0},
	"middle":   {1, 0, 2},
}

// reassemble3 adds the fragments in order and returns the last result.
func reassemble3(r *Reassembler, k Key, fs []frag, order []int, hdr []byte) Result {
	var res Result
	for _, i := range order {
		f := fs[i]
		res = r.Add(k, f.off, f.more, f.data, hdr, 0)
	}
	return res
}

// TestSteadyStateAllocs checks that reassembly allocates nothing once its
// buffers and maps have warmed up (DESIGN.md, Performance rules).
func TestSteadyStateAllocs(t *testing.T) {
	fs := threeFragments()
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			r := New(IPv4Config())
			hdr := make([]byte, 20)
			id := uint32(0)
			run := func() {
				id++
				res := reassemble3(r, key4(id%64), fs, order, hdr)
				if res.Status != Complete {
					panic(res.Status)
				}
			}
			for range 1000 {
				run()
			}
			require.Zero(t, testing.AllocsPerRun(1000, run))
		})
	}
	t.Run("expiry", func(t *testing.T) {
		r := New(IPv4Config())
		now := int64(0)
		run := func() {
			now += 31 * sec
			r.Add(key6(uint32(now)), 0, true, fs[0].data, fs[0].data[:40], now)
			r.Expire(now+30*sec, func(Expired) {})
		}
		for range 1000 {
			run()
		}
		require.Zero(t, testing.AllocsPerRun(1000, run))
	})
}

// BenchmarkReassemble3 reassembles a 4000-byte datagram from three
// fragments.
func BenchmarkReassemble3(b *testing.B) {
	fs := threeFragments()
	hdr := make([]byte, 20)
	for _, name := range []string{"in-order", "reverse", "middle"} {
		b.Run(name, func(b *testing.B) {
			r := New(IPv4Config())
			b.ReportAllocs()
			b.SetBytes(4000)
			id := uint32(0)
			for b.Loop() {
				id++
				if res := reassemble3(r, key4(id%64), fs, orders[name], hdr); res.Status != Complete {
					b.Fatal(res.Status)
				}
			}
		})
	}
}

// BenchmarkReassembleInterleaved keeps n datagrams in progress at once.
func BenchmarkReassembleInterleaved(b *testing.B) {
	fs := threeFragments()
	hdr := make([]byte, 20)
	for _, n := range []int{16, 256} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := New(IPv4Config())
			b.ReportAllocs()
			b.SetBytes(4000)
			i := 0
			for b.Loop() {
				// Fragment j of datagram i-j, so n datagrams overlap in time.
				for j, f := range fs {
					id := uint32(i - j*n/2)
					r.Add(key4(id), f.off, f.more, f.data, hdr, 0)
				}
				i++
			}
			if ok := r.Stats().ReasmOKs; ok+uint64(n)+1 < uint64(i) {
				b.Fatalf("%d datagrams reassembled of %d", ok, i)
			}
		})
	}
}

// BenchmarkAtomic measures the atomic-fragment fast path.
func BenchmarkAtomic(b *testing.B) {
	r := New(IPv6Config())
	data := make([]byte, 1232)
	b.ReportAllocs()
	for b.Loop() {
		r.Add(key6(1), 0, false, data, nil, 0)
	}
}
