package benchmark

import (
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets: exact below 128ns,
// then 64 buckets per power of two, so a percentile is within 1/64 of the
// true value. Recording allocates nothing, so it does not disturb the
// allocation count of the path it measures.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

const (
	histSub     = 64 // buckets per power of two
	histMaxBits = 40 // values up to 2^40ns (18 minutes)
	histBuckets = 2*histSub + (histMaxBits-7)*histSub
)

// bucket is the index of v's bucket.
func bucket(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	shift := bits.Len64(v) - 7 // v>>shift is in [64, 128)
	return 2*histSub + (shift-1)*histSub + int(v>>shift) - histSub
}

// bounds are the smallest value of bucket i and its width.
func bounds(i int) (lo, width uint64) {
	if i < 2*histSub {
		return uint64(i), 1
	}
	shift := (i-2*histSub)/histSub + 1
	m := uint64((i-2*histSub)%histSub + histSub)
	return m << shift, 1 << shift
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	h.n++
}

// quantile is the q-quantile (0 < q ≤ 1), the middle of its bucket.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bounds(i)
			return time.Duration(lo + (w-1)/2)
		}
	}
	return 0
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
