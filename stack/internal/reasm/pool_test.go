package reasm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestClassCap checks the size classes buffers come in.
func TestClassCap(t *testing.T) {
	tests := []struct{ n, want int }{
		{0, 0}, {1, 64}, {64, 64}, {65, 128}, {1480, 2048}, {4000, 4096},
		{65515, 65536}, {131072, 131072}, {131073, 131073},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, classCap(tt.n), "classCap(%d)", tt.n)
		if tt.n > 0 {
			var p pool
			b := p.get(tt.n)
			assert.Zero(t, len(b))
			assert.Equal(t, tt.want, cap(b), "cap(get(%d))", tt.n)
		}
	}
}

// TestPoolReuse checks that class-sized buffers are reused, others are not,
// and that the pool keeps at most poolDepth per class.
func TestPoolReuse(t *testing.T) {
	var p pool
	b := p.get(100)
	p.put(b[:10])
	c := p.get(120)
	assert.Same(t, &b[:1][0], &c[:1][0])
	assert.Zero(t, len(c))

	p.put(make([]byte, 0, 100)) // not a class size
	assert.Empty(t, p.free[classOf(100)])
	for range poolDepth + 5 {
		p.put(make([]byte, 0, 256))
	}
	assert.Len(t, p.free[classOf(256)], poolDepth)
}
