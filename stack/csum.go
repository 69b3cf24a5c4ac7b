package stack

import (
	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// frameSum adds the frame's bytes from offset off to acc, across the
// buffers of a chain.
func frameSum(f *backend.Frame, off int, acc uint64) uint64 {
	odd := false
	for b := f; b != nil; b = b.Next() {
		d := b.Bytes()
		if off >= len(d) {
			off -= len(d)
			continue
		}
		d = d[off:]
		off = 0
		acc = wire.SumAt(d, acc, odd)
		if len(d)%2 == 1 {
			odd = !odd
		}
	}
	return acc
}

// verified says whether the device vouched for a received frame's
// checksums: checked and good, or never on a wire (a partial checksum
// from a local sender, as virtio's NEEDS_CSUM).
func verified(f *backend.Frame) bool {
	return f.Csum == backend.CsumVerified || f.Csum == backend.CsumPartial
}
