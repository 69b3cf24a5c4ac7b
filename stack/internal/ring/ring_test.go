package ring

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRingWrapsAround(t *testing.T) {
	r := New(64)
	require.Equal(t, 64, r.Cap())
	assert.Equal(t, 40, r.Write(bytes.Repeat([]byte{1}, 40)))
	got := make([]byte, 30)
	assert.Equal(t, 30, r.Read(got))
	in := make([]byte, 60)
	for i := range in {
		in[i] = byte(i)
	}
	assert.Equal(t, 54, r.Write(in), "only the free room is taken")
	a, b := r.Slices(10, 54)
	assert.Equal(t, in[:54], append(append([]byte{}, a...), b...))
	out := make([]byte, 64)
	n := r.Peek(out, 10)
	assert.Equal(t, in[:54], out[:n])
	r.Discard(10)
	assert.Equal(t, 54, r.Read(out))
	assert.Equal(t, in[:54], out[:54])
	assert.Zero(t, r.Len())
}

func TestRingWriteAheadThenCommit(t *testing.T) {
	r := New(64)
	assert.Equal(t, 10, r.WriteAt([]byte("0123456789"), 10))
	assert.Zero(t, r.Len(), "not yet published")
	assert.Equal(t, 10, r.WriteAt([]byte("abcdefghij"), 0))
	r.Commit(20)
	out := make([]byte, 20)
	r.Read(out)
	assert.Equal(t, "abcdefghij0123456789", string(out))
	assert.Zero(t, r.WriteAt([]byte("x"), 64))
}

func TestRingConcurrentProducerConsumer(t *testing.T) {
	src := randomBytes(1<<20, 3)
	dst := pump(New(256), src, func(int) int { return 97 }, 113, func(*Bytes) {})
	assert.True(t, bytes.Equal(src, dst))
}

// randomBytes are n bytes from seed.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// pump writes src into r from another goroutine, in writes of the sizes
// size gives (the i-th write's), while it reads r in reads of up to
// readLen bytes, calling after(r) after each, and returns what it read.
func pump(r *Bytes, src []byte, size func(i int) int, readLen int, after func(*Bytes)) []byte {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, off := 0, 0; off < len(src); i++ {
			off += r.Write(src[off:min(off+size(i), len(src))])
		}
	}()
	dst := make([]byte, 0, len(src))
	buf := make([]byte, readLen)
	for len(dst) < len(src) {
		n := r.Read(buf)
		dst = append(dst, buf[:n]...)
		after(r)
	}
	wg.Wait()
	return dst
}

func TestRingGrownKeepsDataAndWriteAhead(t *testing.T) {
	r := New(64)
	r.Write(bytes.Repeat([]byte{1}, 50))
	r.Discard(40)
	r.Write([]byte("abcdefghij"))
	r.WriteAt([]byte("XYZ"), 5)
	g := r.Grown(256, 8)
	assert.Equal(t, 256, g.Cap())
	assert.Equal(t, 20, g.Len())
	assert.Equal(t, r.Pos(), g.Pos(), "positions carry over")
	assert.Equal(t, r.End(), g.End())
	out := make([]byte, 20)
	g.Peek(out, 0)
	assert.Equal(t, append(bytes.Repeat([]byte{1}, 10), "abcdefghij"...), out)
	g.Commit(8)
	out = make([]byte, 8)
	g.Peek(out, 20)
	assert.Equal(t, "XYZ", string(out[5:8]))
}

func TestGetGivesEmptyRingsOfTheSize(t *testing.T) {
	r := Get(1000)
	require.Equal(t, 1024, r.Cap())
	r.Write([]byte("left over"))
	Put(r)
	g := Get(1024)
	assert.Equal(t, 1024, g.Cap())
	assert.Zero(t, g.Len(), "a reused ring is empty")
	assert.Equal(t, 4096, Get(4000).Cap(), "another size is another class")
}

func TestGetRingStoresWhatItHolds(t *testing.T) {
	r := Get(256 << 10)
	assert.Zero(t, r.Stored(), "no memory before the first byte")
	r.Write(bytes.Repeat([]byte{7}, 100))
	assert.Equal(t, MinStore, r.Stored())
	r.Discard(100)
	r.Write(bytes.Repeat([]byte{8}, MinStore))
	assert.Equal(t, MinStore, r.Stored(), "what was consumed makes room")
	r.Write(bytes.Repeat([]byte{9}, 3000))
	assert.Equal(t, 4096, r.Stored(), "doubled as far as the bytes need")
	out := make([]byte, MinStore+3000)
	require.Equal(t, len(out), r.Read(out))
	assert.Equal(t, append(bytes.Repeat([]byte{8}, MinStore), bytes.Repeat([]byte{9}, 3000)...), out)
	assert.Equal(t, 256<<10, r.Write(make([]byte, 300<<10)), "the capacity is the size asked for")
	assert.Equal(t, 256<<10, r.Stored(), "and the store grows no further")
}

// TestGetRingGrowsAroundWriteAhead grows a ring whose bytes wrap around
// its store while some are written ahead of the published end.
func TestGetRingGrowsAroundWriteAhead(t *testing.T) {
	r := Get(64 << 10)
	r.Write(make([]byte, 505))
	r.Discard(505)
	r.Write([]byte("0123456789")) // across the 512-byte store's end
	r.WriteAt([]byte("ahead"), 20)
	require.Equal(t, MinStore, r.Stored())
	r.WriteAt(bytes.Repeat([]byte{2}, 1000), 100)
	assert.Equal(t, 2048, r.Stored())
	r.Commit(1100)
	digits, ahead, twos := make([]byte, 10), make([]byte, 5), make([]byte, 1000)
	r.Peek(digits, 0)
	r.Peek(ahead, 30)
	r.Peek(twos, 110)
	assert.Equal(t, "0123456789", string(digits))
	assert.Equal(t, "ahead", string(ahead), "bytes written ahead move with the store")
	assert.True(t, bytes.Equal(bytes.Repeat([]byte{2}, 1000), twos), "the bytes that made it grow")
}

// Shrink (the producer's) and Drop (the consumer's) give back the store
// of an empty ring, and the next store is as large as the ring had to
// hold while the one given back was its.
func TestGiveBackTheStoreOfAnEmptyRing(t *testing.T) {
	for _, give := range []struct {
		name string
		back func(*Bytes)
	}{{"Shrink", (*Bytes).Shrink}, {"Drop", (*Bytes).Drop}} {
		t.Run(give.name, func(t *testing.T) {
			r := Get(64 << 10)
			r.Write(make([]byte, 10000))
			give.back(r)
			assert.Equal(t, 16384, r.Stored(), "not while it holds bytes")
			r.Discard(10000)
			give.back(r)
			assert.Zero(t, r.Stored())
			r.Write([]byte("again"))
			assert.Equal(t, 16384, r.Stored(), "the next store is as large as the last had to be")
			out := make([]byte, 5)
			r.Read(out)
			assert.Equal(t, "again", string(out))
			give.back(r)
			r.Write([]byte("small"))
			assert.Equal(t, MinStore, r.Stored(), "and after little, a small one")
			r.Read(out)

			small := Get(64 << 10)
			small.Write([]byte("small"))
			small.Read(out)
			give.back(small)
			assert.Equal(t, MinStore, small.Stored(), "the smallest store stays")
		})
	}
}

func TestGrownCopiesIntoAStoreOfItsOwn(t *testing.T) {
	var stored atomic.Int64
	r := Get(1024)
	r.Count(&stored)
	r.Write([]byte("abc"))
	a, _ := r.Slices(0, 3)
	g := r.Grown(4096, 0)
	g.Discard(3)
	g.Write(bytes.Repeat([]byte{'x'}, 4000))
	assert.Equal(t, "abc", string(a), "bytes sent by reference from the old store stay")
	assert.Equal(t, 4096, g.Cap())
	assert.EqualValues(t, 4096, stored.Load(), "the new store counted, the old one no longer")
	Forget(g)
	assert.Zero(t, stored.Load())
	assert.Zero(t, Get(1024).Grown(2048, 0).Stored(), "an empty ring stays without memory")
}

// TestGetRingConcurrentGrowth has a producer grow the store while the
// consumer reads from it (go test -race checks the hand-over).
func TestGetRingConcurrentGrowth(t *testing.T) {
	src := randomBytes(4<<20, 5)
	for round := range 20 {
		r := Get(1 << 20)
		size := func(i int) int { return 1<<min(i, 18) + round }
		dst := pump(r, src, size, 7919, func(*Bytes) {})
		require.True(t, bytes.Equal(src, dst), "round %d: the bytes read differ", round)
		Put(r)
	}
}

// TestDropUnderConcurrentWrites has the consumer give the store back
// whenever it empties the ring while the producer writes in bursts of
// every size (go test -race checks the hand-over).
func TestDropUnderConcurrentWrites(t *testing.T) {
	src := randomBytes(4<<20, 7)
	var stored atomic.Int64
	for round := range 20 {
		r := Get(256 << 10)
		r.Count(&stored)
		sizes := rand.New(rand.NewPCG(uint64(round), 9))
		drops := 0
		dst := pump(r, src, func(int) int { return 1 + sizes.IntN(70000) }, 6007, func(r *Bytes) {
			if r.Len() == 0 && r.Stored() > MinStore {
				r.Drop()
				drops++
			}
		})
		require.True(t, bytes.Equal(src, dst), "round %d: the bytes read differ", round)
		t.Logf("round %d: %d drops tried", round, drops)
		Put(r)
		assert.Zero(t, stored.Load(), "round %d: nothing counted once put away", round)
	}
}

// Bytes published without being written (TCP's held stretches) count in
// what the ring held, so that the next store is sized for them too.
func TestGiveBackCountsBytesPublishedUnwritten(t *testing.T) {
	r := Get(256 << 10)
	r.Write(make([]byte, 2000))
	r.Commit(100000)
	r.Discard(102000)
	r.Shrink()
	r.Write([]byte("next"))
	assert.Equal(t, 128<<10, r.Stored())
}
