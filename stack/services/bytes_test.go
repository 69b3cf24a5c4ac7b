package services

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBytesAreReproducibleAndDigestMatches(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, patternLen, 3*patternLen + 17} {
		a, err := io.ReadAll(NewBytes(n))
		require.NoError(t, err)
		b, err := io.ReadAll(NewBytes(n))
		require.NoError(t, err)
		require.Len(t, a, int(n))
		assert.True(t, bytes.Equal(a, b))
		sum := sha256.Sum256(a)
		assert.Equal(t, hex.EncodeToString(sum[:]), BytesSHA256(n))
		assert.Equal(t, hex.EncodeToString(sum[:]), BytesSHA256(n), "from the cache")
	}
	x, _ := io.ReadAll(NewBytes(4096))
	y, _ := io.ReadAll(NewBytes(4097))
	assert.NotEqual(t, x, y[:4096], "streams of different sizes differ")
}

// A stream never repeats at a power-of-two distance, where a ring buffer
// bug would misplace data unnoticed.
func TestBytesDoNotRepeatAtPowersOfTwo(t *testing.T) {
	b, _ := io.ReadAll(NewBytes(4 << 20))
	for shift := 10; shift <= 21; shift++ {
		d := 1 << shift
		assert.False(t, bytes.Equal(b[:4096], b[d:d+4096]), "repeats at %d", d)
	}
}

func BenchmarkBytes(b *testing.B) {
	buf := make([]byte, 256<<10)
	b.SetBytes(64 << 20)
	for range b.N {
		io.CopyBuffer(io.Discard, NewBytes(64<<20), buf)
	}
}
