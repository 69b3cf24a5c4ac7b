package wire

import "golang.org/x/sys/cpu"

// haveAVX2 selects sumAVX2 for long buffers.
var haveAVX2 = cpu.X86.HasAVX2

// sumVector adds the longest prefix of b that is a multiple of 64 bytes, when
// b is long enough for vectors to pay, as 32-bit little-endian words into an
// exact 64-bit sum, and returns it and how many bytes it took. A sum of
// 32-bit words folds to the same 16-bit ones'-complement sum as the 16-bit
// words do (2^16 and 2^32 are both 1 modulo 2^16-1).
func sumVector(b []byte) (sum uint64, n int) {
	if !haveAVX2 || len(b) < 256 {
		return 0, 0
	}
	n = len(b) &^ 63
	return sumAVX2(&b[0], n), n
}

// sumAVX2 is sumVector's loop: n, a positive multiple of 64, bytes at p.
//
//go:noescape
func sumAVX2(p *byte, n int) uint64
