package seq

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name                 string
		a, b                 Value
		lt, le, gt, ge, same bool
	}{
		{name: "equal", a: 5, b: 5, le: true, ge: true, same: true},
		{name: "plain less", a: 5, b: 6, lt: true, le: true},
		{name: "plain greater", a: 6, b: 5, gt: true, ge: true},
		{name: "wrap: max before zero", a: math.MaxUint32, b: 0, lt: true, le: true},
		{name: "wrap: zero after max", a: 0, b: math.MaxUint32, gt: true, ge: true},
		{name: "wrap: across by 100", a: math.MaxUint32 - 49, b: 50, lt: true, le: true},
		{name: "distance 2^31-1 is less", a: 0, b: 1<<31 - 1, lt: true, le: true},
		{name: "distance 2^31+1 wraps to greater", a: 0, b: 1<<31 + 1, gt: true, ge: true},
		{name: "high half before low half across wrap", a: 0xF000_0000, b: 0x1000_0000, lt: true, le: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.lt, tt.a.LessThan(tt.b), "LessThan")
			assert.Equal(t, tt.le, tt.a.LessEq(tt.b), "LessEq")
			assert.Equal(t, tt.gt, tt.a.GreaterThan(tt.b), "GreaterThan")
			assert.Equal(t, tt.ge, tt.a.GreaterEq(tt.b), "GreaterEq")
		})
	}
}

func TestInRange(t *testing.T) {
	tests := []struct {
		name    string
		v, a, b Value
		want    bool
	}{
		{name: "first is inside", v: 10, a: 10, b: 20, want: true},
		{name: "last inside", v: 19, a: 10, b: 20, want: true},
		{name: "end is outside", v: 20, a: 10, b: 20},
		{name: "below", v: 9, a: 10, b: 20},
		{name: "empty range", v: 10, a: 10, b: 10},
		{name: "wrapping range start", v: math.MaxUint32 - 5, a: math.MaxUint32 - 5, b: 5, want: true},
		{name: "wrapping range middle", v: 0, a: math.MaxUint32 - 5, b: 5, want: true},
		{name: "wrapping range end", v: 5, a: math.MaxUint32 - 5, b: 5},
		{name: "wrapping range below", v: math.MaxUint32 - 6, a: math.MaxUint32 - 5, b: 5},
		{name: "range longer than 2^31", v: 0xC000_0000, a: 0, b: 0xF000_0000, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.v.InRange(tt.a, tt.b))
			assert.Equal(t, tt.want, tt.v.InWindow(tt.a, tt.a.Size(tt.b)))
		})
	}
}

func TestArithmetic(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		n    int
		want Value
	}{
		{name: "add", v: 100, n: 50, want: 150},
		{name: "add wraps", v: math.MaxUint32 - 9, n: 20, want: 10},
		{name: "negative", v: 100, n: -50, want: 50},
		{name: "negative wraps", v: 10, n: -20, want: math.MaxUint32 - 9},
		{name: "zero", v: 7, n: 0, want: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.v.Add(tt.n)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, int32(tt.n), got.Sub(tt.v), "Sub inverts Add")
			if tt.n >= 0 {
				assert.Equal(t, tt.want, tt.v.AddSize(Size(tt.n)))
				assert.Equal(t, Size(tt.n), tt.v.Size(got))
			}
		})
	}
}

func TestMinMax(t *testing.T) {
	a, b := Value(math.MaxUint32-1), Value(3) // a is before b across the wrap
	assert.Equal(t, b, Max(a, b))
	assert.Equal(t, b, Max(b, a))
	assert.Equal(t, a, Min(a, b))
	assert.Equal(t, a, Min(b, a))
}
