package ring

import (
	"bytes"
	"math/rand/v2"
	"sync"
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
	r := New(256)
	const total = 1 << 20
	src := make([]byte, total)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for off := 0; off < total; {
			off += r.Write(src[off:min(off+97, total)])
		}
	}()
	dst := make([]byte, 0, total)
	buf := make([]byte, 113)
	for len(dst) < total {
		n := r.Read(buf)
		dst = append(dst, buf[:n]...)
	}
	wg.Wait()
	assert.True(t, bytes.Equal(src, dst))
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
