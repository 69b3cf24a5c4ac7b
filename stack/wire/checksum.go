package wire

import (
	"encoding/binary"
	"math/bits"
)

// Checksum is the Internet checksum (RFC 1071) of b, folded into initial: the
// ones' complement of the ones'-complement sum. To check a received header,
// sum it with its checksum field in place: the result is 0 when it is good.
func Checksum(b []byte, initial uint16) uint16 {
	return ^Fold(Sum(b, uint64(initial)))
}

// Sum adds b to a running 64-bit ones'-complement accumulator. An
// odd-length b must be the last piece of a sum (as a frame's payload is),
// because its last byte is padded with zero.
//
// The ones'-complement sum does not depend on byte order (RFC 1071 §2B):
// the bytes are added as little-endian words, without a byte swap per
// word, and the folded result is swapped once. That and 64 bytes per
// iteration make it run at close to memory speed.
func Sum(b []byte, acc uint64) uint64 {
	le, n := sumVector(b)
	b = b[n:]
	var carry uint64
	for len(b) >= 64 {
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b[0:8]), carry)
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b[8:16]), carry)
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b[16:24]), carry)
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b[24:32]), carry)
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b[32:40]), carry)
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b[40:48]), carry)
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b[48:56]), carry)
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b[56:64]), carry)
		b = b[64:]
	}
	for len(b) >= 8 {
		le, carry = bits.Add64(le, binary.LittleEndian.Uint64(b), carry)
		b = b[8:]
	}
	if len(b) >= 4 {
		le, carry = bits.Add64(le, uint64(binary.LittleEndian.Uint32(b)), carry)
		b = b[4:]
	}
	if len(b) >= 2 {
		le, carry = bits.Add64(le, uint64(binary.LittleEndian.Uint16(b)), carry)
		b = b[2:]
	}
	if len(b) == 1 {
		le, carry = bits.Add64(le, uint64(b[0]), carry)
	}
	le, _ = bits.Add64(le, 0, carry)
	acc, carry = bits.Add64(acc, uint64(bits.ReverseBytes16(Fold(le))), 0)
	acc, _ = bits.Add64(acc, 0, carry)
	return acc
}

// Fold folds a 64-bit ones'-complement accumulator to 16 bits (not
// complemented).
func Fold(acc uint64) uint16 {
	t := (acc >> 32) + (acc & 0xffffffff)
	t = (t >> 32) + (t & 0xffffffff)
	t = (t >> 16) + (t & 0xffff)
	t = (t >> 16) + (t & 0xffff)
	return uint16(t)
}

// SumAt adds b to acc as if b started at an odd offset of the summed data
// when odd is true: the bytes are swapped in the 16-bit sum (RFC 1071 §2B).
// It lets a sum run over the buffers of a chain whose lengths are odd.
func SumAt(b []byte, acc uint64, odd bool) uint64 {
	if !odd {
		return Sum(b, acc)
	}
	s := uint64(bits.ReverseBytes16(Fold(Sum(b, 0))))
	acc, carry := bits.Add64(acc, s, 0)
	acc, _ = bits.Add64(acc, 0, carry)
	return acc
}

// PseudoHeaderSum is the accumulator of the IPv4 or IPv6 pseudo-header
// (RFC 793 §3.1, RFC 8200 §8.1): source and destination addresses (4 or 16
// bytes each), protocol and upper-layer length.
func PseudoHeaderSum(src, dst []byte, proto uint8, length int) uint64 {
	acc := Sum(src, 0)
	acc = Sum(dst, acc)
	var carry uint64
	acc, carry = bits.Add64(acc, uint64(proto)+uint64(length), 0)
	acc, _ = bits.Add64(acc, 0, carry)
	return acc
}

// UpdateChecksum16 returns checksum sum updated for a 16-bit field changing
// from old to new (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
func UpdateChecksum16(sum, old, new uint16) uint16 {
	acc := uint64(^sum) + uint64(^old) + uint64(new)
	return ^Fold(acc)
}

// UpdateChecksum32 is UpdateChecksum16 for a 32-bit field (an IPv4 address,
// a sequence number).
func UpdateChecksum32(sum uint16, old, new uint32) uint16 {
	acc := uint64(^sum) + uint64(^uint16(old>>16)) + uint64(^uint16(old)) +
		uint64(uint16(new>>16)) + uint64(uint16(new))
	return ^Fold(acc)
}
