package offload

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

// tso64k is a 64 KiB TSO frame in pool, as a stack hands it to a device.
func tso64k(t testing.TB, pool *backend.Pool) *backend.Frame {
	p := pkt{seq: 1, flags: flagACK | flagPSH, tcpOpts: tsOpt(1, 2), payload: pattern(65535-20-32, 1)}
	data := p.partial(p.build())
	f := pool.AllocOne(len(data))
	require.NotNil(t, f)
	require.True(t, f.SetLen(len(data)))
	f.CopyFrom(data, 0)
	f.GSO, f.GSOSize = backend.GSOTCPv4, 1448
	f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 16
	return f
}

func TestNoAllocations(t *testing.T) {
	for _, tp := range testPools(t) {
		t.Run(tp.name, func(t *testing.T) {
			f := tso64k(t, tp.pool)
			dst := make([]*backend.Frame, 64)
			var n int
			allocs := testing.AllocsPerRun(20, func() {
				var err error
				n, err = Segment(dst, f, tp.pool, SegmentOptions{})
				if err != nil {
					panic(err)
				}
				n = Coalesce(dst[:n], tp.pool, 0)
				if n != 1 || VerifyChecksums(dst[0]) != backend.CsumVerified {
					panic("no round trip")
				}
				backend.Release(dst[:n])
			})
			assert.Zero(t, allocs, "segment, coalesce and verify")
			allocs = testing.AllocsPerRun(20, func() {
				f.Csum = backend.CsumPartial
				if err := CompleteChecksum(f); err != nil {
					panic(err)
				}
				f.CopyFrom([]byte{0, 0}, 50) // back to a zero pseudo-header
			})
			assert.Zero(t, allocs, "complete checksum")
			p := pkt{payload: pattern(1000, 1)}
			g := load(t, tp.pool, p.partial(p.build()), false)
			allocs = testing.AllocsPerRun(20, func() {
				g.Csum = backend.CsumNone
				if !MarkPartial(g) {
					panic("not marked")
				}
			})
			assert.Zero(t, allocs, "mark partial")
			backend.ReleaseOne(g)
			backend.ReleaseOne(f)
			assert.Zero(t, tp.pool.Outstanding())
		})
	}
}

func BenchmarkSegment64K(b *testing.B) {
	for _, mbuf := range []bool{false, true} {
		name := "plain"
		if mbuf {
			name = "mbuf"
		}
		b.Run(name, func(b *testing.B) {
			pool, err := backend.NewPool(backend.PoolConfig{Mbuf: mbuf, Count: 1024})
			require.NoError(b, err)
			f := tso64k(b, pool)
			dst := make([]*backend.Frame, 64)
			b.SetBytes(int64(f.Len()))
			b.ReportAllocs()
			for b.Loop() {
				n, err := Segment(dst, f, pool, SegmentOptions{})
				if err != nil {
					b.Fatal(err)
				}
				backend.Release(dst[:n])
			}
			backend.ReleaseOne(f)
		})
	}
}

func BenchmarkCoalesce64K(b *testing.B) {
	pool, err := backend.NewPool(backend.PoolConfig{Count: 1024})
	require.NoError(b, err)
	f := tso64k(b, pool)
	dst := make([]*backend.Frame, 64)
	b.SetBytes(int64(f.Len()))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		n, err := Segment(dst, f, pool, SegmentOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n = Coalesce(dst[:n], pool, 0)
		backend.Release(dst[:n])
	}
	backend.ReleaseOne(f)
}

func BenchmarkVerifyChecksums1500(b *testing.B) {
	pool, err := backend.NewPool(backend.PoolConfig{Count: 8})
	require.NoError(b, err)
	p := pkt{payload: pattern(1448, 1), tcpOpts: tsOpt(1, 2)}
	data := p.build()
	f := pool.AllocOne(len(data))
	f.SetLen(len(data))
	f.CopyFrom(data, 0)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if VerifyChecksums(f) != backend.CsumVerified {
			b.Fatal("bad")
		}
	}
	backend.ReleaseOne(f)
}
