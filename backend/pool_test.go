package backend

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pools(t *testing.T) map[string]*Pool {
	t.Helper()
	plain, err := NewPool(PoolConfig{Count: 64, Poison: true})
	require.NoError(t, err)
	mbuf, err := NewPool(PoolConfig{Mbuf: true, Count: 64})
	require.NoError(t, err)
	return map[string]*Pool{"plain": plain, "mbuf": mbuf}
}

func TestFrameChainCopyRoundTrip(t *testing.T) {
	for name, p := range pools(t) {
		t.Run(name, func(t *testing.T) {
			data := make([]byte, 9000)
			for i := range data {
				data[i] = byte(i * 7)
			}
			f := p.AllocOne(len(data))
			require.NotNil(t, f)
			require.True(t, f.SetLen(len(data)))
			assert.Equal(t, len(data), f.Len())
			assert.Equal(t, len(data), f.CopyFrom(data, 0))
			got := make([]byte, len(data))
			assert.Equal(t, len(data), f.CopyTo(got, 0))
			assert.Equal(t, data, got)
			assert.Equal(t, data, f.AppendTo(nil))
			assert.GreaterOrEqual(t, len(f.Bytes()), ContiguousHeader)
			part := make([]byte, 100)
			assert.Equal(t, 100, f.CopyTo(part, 4000))
			assert.Equal(t, data[4000:4100], part)
			if name == "mbuf" {
				assert.Equal(t, 5, f.Segments())
			}
			ReleaseOne(f)
			assert.Zero(t, p.Outstanding())
		})
	}
}

func TestFramePrependAndTrim(t *testing.T) {
	for name, p := range pools(t) {
		t.Run(name, func(t *testing.T) {
			f := p.AllocOne(100)
			require.NotNil(t, f)
			assert.Equal(t, Headroom, f.Headroom())
			require.True(t, f.SetLen(10))
			h := f.Prepend(14)
			require.Len(t, h, 14)
			assert.Equal(t, 24, f.Len())
			assert.Nil(t, f.Prepend(Headroom))
			assert.True(t, f.TrimFront(14))
			assert.Equal(t, 10, f.Len())
			assert.False(t, f.TrimFront(11))
			assert.True(t, f.Extend(20))
			assert.Equal(t, 30, f.Len())
			f.Truncate(5)
			assert.Equal(t, 5, f.Len())
			ReleaseOne(f)
			assert.Zero(t, p.Outstanding())
		})
	}
}

func TestReleaseCountsReferences(t *testing.T) {
	p, err := NewPool(PoolConfig{Mbuf: true, Count: 4})
	require.NoError(t, err)
	f := p.AllocOne(10)
	f.Ref()
	ReleaseOne(f)
	assert.Equal(t, 1, p.Outstanding())
	ReleaseOne(f)
	assert.Zero(t, p.Outstanding())
	assert.Panics(t, func() { ReleaseOne(f) })
}

func TestPoolBoundedAndPoisoned(t *testing.T) {
	p, err := NewPool(PoolConfig{Mbuf: true, Count: 4, Poison: true})
	require.NoError(t, err)
	fs := make([]*Frame, 8)
	assert.Equal(t, 4, p.Alloc(fs, 100))
	assert.Equal(t, uint64(1), p.AllocFailures())
	b := fs[0]
	require.True(t, b.SetLen(50))
	copy(b.Bytes(), bytes.Repeat([]byte{1}, 50))
	view := b.store
	Release(fs[:4])
	assert.Zero(t, p.Outstanding())
	for _, c := range view {
		require.Equal(t, byte(PoisonByte), c)
	}
	assert.Nil(t, p.AllocOne(4*MbufDataRoom+4*Headroom+1), "a chain longer than the pool")
}

func TestPoolConfigRefused(t *testing.T) {
	_, err := NewPool(PoolConfig{Mbuf: true})
	assert.ErrorContains(t, err, "buffer count")
	_, err = NewPool(PoolConfig{Mbuf: true, Count: 1, DataRoom: 64})
	assert.ErrorContains(t, err, "data room 64")
	_, err = NewPool(PoolConfig{Count: -1})
	assert.ErrorContains(t, err, "negative")
}

func TestPoolAllocReleaseNoAllocs(t *testing.T) {
	for name, p := range pools(t) {
		t.Run(name, func(t *testing.T) {
			fs := make([]*Frame, 32)
			allocs := testing.AllocsPerRun(100, func() {
				n := p.Alloc(fs, 1500)
				Release(fs[:n])
			})
			assert.Zero(t, allocs)
		})
	}
}
