// Package seq is TCP sequence-number arithmetic (RFC 9293 §3.4).
//
// Sequence numbers live in a space of 2^32 that wraps around, so "less than"
// means "less than by a signed distance under 2^31": a is before b when
// int32(a-b) < 0. Comparisons are only meaningful between numbers less than
// 2^31 apart, which the TCP window rules guarantee (RFC 7323 §2.3 caps the
// window at 2^30).
package seq

// Value is a TCP sequence or acknowledgment number. Arithmetic wraps modulo
// 2^32 (RFC 9293 §3.4).
type Value uint32

// Size is a length in sequence space: a window or a segment length.
type Size uint32

// LessThan reports whether v comes before w (RFC 9293 §3.4: "<" modulo 2^32).
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessEq reports whether v comes before w or equals it.
func (v Value) LessEq(w Value) bool { return int32(v-w) <= 0 }

// GreaterThan reports whether v comes after w.
func (v Value) GreaterThan(w Value) bool { return int32(v-w) > 0 }

// GreaterEq reports whether v comes after w or equals it.
func (v Value) GreaterEq(w Value) bool { return int32(v-w) >= 0 }

// InRange reports whether v lies in the half-open range [a, b): a <= v < b
// modulo 2^32. The range is empty when a == b. Unlike a pair of LessThan
// calls it holds for ranges up to 2^32-1 long, as used by the acceptability
// tests of RFC 9293 §3.10.7.4 ("RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND").
func (v Value) InRange(a, b Value) bool { return uint32(v-a) < uint32(b-a) }

// InWindow reports whether v lies in [first, first+size).
func (v Value) InWindow(first Value, size Size) bool { return uint32(v-first) < uint32(size) }

// Add returns v advanced by n, which may be negative; the result wraps.
func (v Value) Add(n int) Value { return v + Value(uint32(n)) }

// AddSize returns v advanced by s.
func (v Value) AddSize(s Size) Value { return v + Value(s) }

// Sub returns the signed distance v - w: positive when v is after w.
func (v Value) Sub(w Value) int32 { return int32(v - w) }

// Size returns the length of the range [v, end), for end at or after v.
func (v Value) Size(end Value) Size { return Size(end - v) }

// Max returns whichever of a and b comes later.
func Max(a, b Value) Value {
	if a.LessThan(b) {
		return b
	}
	return a
}

// Min returns whichever of a and b comes earlier.
func Min(a, b Value) Value {
	if a.LessThan(b) {
		return a
	}
	return b
}
