package isn

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// sipVectors are the first outputs of the SipHash-2-4 reference test vectors
// (the paper's reference implementation): key 00 01 .. 0f, message 00 01 ..
// n-1 for n = 0, 1, 2, ... The one for n = 15 is the worked example of the
// paper's Appendix A.
var sipVectors = []uint64{
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
	0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
	0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
	0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
	0xde4daaaca71dc9a5,
}

func TestSipHash24Vectors(t *testing.T) {
	const k0, k1 = 0x0706050403020100, 0x0f0e0d0c0b0a0908
	msg := make([]byte, len(sipVectors))
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, want := range sipVectors {
		assert.Equal(t, want, SipHash24(k0, k1, msg[:n]), "message length %d", n)
	}
}

func TestSipHash24Key(t *testing.T) {
	// The same message under another key differs.
	assert.NotEqual(t, SipHash24(0, 0, nil), SipHash24(0x0706050403020100, 0x0f0e0d0c0b0a0908, nil))
	assert.Equal(t, uint64(0x1e924b9d737700d7), SipHash24(0, 0, nil))
}

func BenchmarkSipHash24Tuple(b *testing.B) {
	var msg [tupleLen]byte
	b.ReportAllocs()
	for b.Loop() {
		SipHash24(1, 2, msg[:])
	}
}
