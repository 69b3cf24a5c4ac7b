package wire

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The scalar loop gives what the vector loop gives, on machines without
// AVX2 and for the buffers too short for it.
func TestSumWithoutAVX2(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	b := randBytes(r, 9001)
	withVector := Sum(b, 0)
	defer func(v bool) { haveAVX2 = v }(haveAVX2)
	haveAVX2 = false
	require.Equal(t, Fold(withVector), Fold(Sum(b, 0)))
	require.Equal(t, naiveChecksum(b), Checksum(b, 0))
}
