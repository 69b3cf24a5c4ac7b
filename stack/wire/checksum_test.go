package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveChecksum is RFC 1071 §4.1 read literally: 16-bit words, a 32-bit
// accumulator, the odd byte padded with zero, carries folded at the end.
func naiveChecksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestChecksumRFC1071(t *testing.T) {
	// RFC 1071 §3: these bytes sum to ddf2 in ones' complement.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	t.Run("sum", func(t *testing.T) {
		assert.Equal(t, uint16(0xddf2), Fold(Sum(b, 0)))
	})
	t.Run("checksum is the complement", func(t *testing.T) {
		assert.Equal(t, uint16(0x220d), Checksum(b, 0))
	})
	t.Run("data with its checksum verifies to zero", func(t *testing.T) {
		with := append(append([]byte{}, b...), 0x22, 0x0d)
		assert.Equal(t, uint16(0), Checksum(with, 0))
	})
	t.Run("byte order independence", func(t *testing.T) {
		// RFC 1071 §2(B): summing byte-swapped words gives the swapped sum.
		sw := make([]byte, len(b))
		for i := 0; i < len(b); i += 2 {
			sw[i], sw[i+1] = b[i+1], b[i]
		}
		assert.Equal(t, uint16(0xf2dd), Fold(Sum(sw, 0)))
	})
	t.Run("empty", func(t *testing.T) {
		assert.Equal(t, uint16(0xffff), Checksum(nil, 0))
	})
	t.Run("initial is folded in", func(t *testing.T) {
		assert.Equal(t, Checksum(b, 0), Checksum(b[4:], Fold(Sum(b[:4], 0))))
	})
}

func TestChecksumOddLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 99; n += 2 {
		b := randBytes(r, n)
		require.Equal(t, naiveChecksum(b), Checksum(b, 0), "length %d", n)
	}
	t.Run("last byte is the high half", func(t *testing.T) {
		assert.Equal(t, ^uint16(0xab00), Checksum([]byte{0xab}, 0))
	})
}

func TestChecksumDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		n := r.IntN(2100)
		if i < 70 {
			n = i
		}
		b := randBytes(r, n)
		if i%7 == 0 { // stress the carries
			for j := range b {
				b[j] = 0xff
			}
		}
		require.Equal(t, naiveChecksum(b), Checksum(b, 0), "length %d", n)
	}
}

// The vector loop (AVX2 on amd64, from 256 bytes) takes every multiple of
// 64 bytes at any alignment, with its carries, and hands the rest on.
func TestChecksumLongBuffers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	big := randBytes(r, 65536+64+7)
	ones := bytes.Repeat([]byte{0xff}, 65536)
	for _, n := range []int{255, 256, 257, 319, 320, 321, 1500, 4096, 9000, 65535, 65536} {
		for off := range 8 {
			if off+n > len(big) {
				continue
			}
			b := big[off : off+n]
			require.Equal(t, naiveChecksum(b), Checksum(b, 0), "length %d at offset %d", n, off)
		}
		require.Equal(t, naiveChecksum(ones[:n]), Checksum(ones[:n], 0), "all ones, length %d", n)
	}
}

func TestSumAtChaining(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 500; i++ {
		whole := randBytes(r, r.IntN(600))
		// Split at random points, odd lengths included, as a chain of
		// backend buffers would be.
		var acc uint64
		odd := false
		for rest := whole; len(rest) > 0; {
			n := 1 + r.IntN(min(len(rest), 97))
			acc = SumAt(rest[:n], acc, odd)
			odd = odd != (n%2 == 1)
			rest = rest[n:]
		}
		require.Equal(t, Fold(Sum(whole, 0)), Fold(acc), "case %d, length %d", i, len(whole))
	}
	t.Run("even offset is plain Sum", func(t *testing.T) {
		b := []byte{1, 2, 3, 4}
		assert.Equal(t, Sum(b, 7), SumAt(b, 7, false))
	})
}

func TestUpdateChecksum(t *testing.T) {
	t.Run("RFC 1624 §4 example", func(t *testing.T) {
		// Eqn. 3 gives 0x0000 where the older eqn. 2 gave 0xffff.
		assert.Equal(t, uint16(0x0000), UpdateChecksum16(0xdd2f, 0x5555, 0x3285))
	})
	r := rand.New(rand.NewPCG(7, 8))
	t.Run("16-bit equals recomputation", func(t *testing.T) {
		for i := 0; i < 2000; i++ {
			b := randBytes(r, 2+2*r.IntN(40))
			b[len(b)-1] |= 1 // never all zero: then ±0 legitimately differ
			c := Checksum(b, 0)
			off := 2 * r.IntN(len(b)/2)
			old := binary.BigEndian.Uint16(b[off:])
			nw := uint16(r.Uint32())
			if i%5 == 0 {
				nw = old ^ 0xffff
			}
			binary.BigEndian.PutUint16(b[off:], nw)
			require.Equal(t, Checksum(b, 0), UpdateChecksum16(c, old, nw), "case %d", i)
		}
	})
	t.Run("32-bit equals recomputation", func(t *testing.T) {
		for i := 0; i < 2000; i++ {
			b := randBytes(r, 4+2*r.IntN(40))
			b[len(b)-1] |= 1
			c := Checksum(b, 0)
			off := 2 * r.IntN(len(b)/2-1)
			old := binary.BigEndian.Uint32(b[off:])
			nw := r.Uint32()
			binary.BigEndian.PutUint32(b[off:], nw)
			require.Equal(t, Checksum(b, 0), UpdateChecksum32(c, old, nw), "case %d", i)
		}
	})
	t.Run("no change is no change", func(t *testing.T) {
		assert.Equal(t, uint16(0x1234), UpdateChecksum16(0x1234, 0xabcd, 0xabcd))
	})
}

func TestPseudoHeaderSum(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, alen := range []int{4, 16} {
		for i := 0; i < 200; i++ {
			src, dst := randBytes(r, alen), randBytes(r, alen)
			l4 := randBytes(r, r.IntN(300))
			// The pseudo-header spelled out (RFC 9293 §3.1, RFC 8200 §8.1).
			var ph []byte
			ph = append(ph, src...)
			ph = append(ph, dst...)
			if alen == 4 {
				ph = append(ph, 0, IPProtoTCP, byte(len(l4)>>8), byte(len(l4)))
			} else {
				ph = binary.BigEndian.AppendUint32(ph, uint32(len(l4)))
				ph = append(ph, 0, 0, 0, IPProtoTCP)
			}
			want := naiveChecksum(append(ph, l4...))
			got := ^Fold(Sum(l4, PseudoHeaderSum(src, dst, IPProtoTCP, len(l4))))
			require.Equal(t, want, got, "address length %d case %d", alen, i)
		}
	}
}

func BenchmarkSum64KiB(b *testing.B) {
	buf := randBytes(rand.New(rand.NewPCG(7, 8)), 65536)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Sum(buf, 0)
	}
}
