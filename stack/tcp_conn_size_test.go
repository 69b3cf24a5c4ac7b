package stack

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// A connection control block fits the heap's 1408-byte size class: with
// the 8-byte header the allocator puts before objects over 512 bytes that
// hold pointers, at most 1400 bytes. One byte more and every connection
// takes 1536, 256 bytes per connection both ends counted (10,000 idle
// connections, 2.5 MB). Make room (fieldalignment shows the padding)
// before raising the bound.
func TestTCPConnFitsItsSizeClass(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(tcpConn{}), uintptr(1400))
}
