package services

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A copy's buffer grows from 2 KiB while reads fill it, and the bytes
// come through whole and in order.
func TestCopyGrowing(t *testing.T) {
	data := make([]byte, 1<<20+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var out strings.Builder
	r := &countingReader{r: strings.NewReader(string(data))}
	copyGrowing(&out, r)
	assert.Equal(t, string(data), out.String())
	assert.Equal(t, 64<<10, r.largest, "the buffer grew to 64 KiB")
	assert.Less(t, r.reads, 30, "and the copy read in long reads")
}

type countingReader struct {
	r              io.Reader
	reads, largest int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	c.largest = max(c.largest, len(p))
	return c.r.Read(p)
}
