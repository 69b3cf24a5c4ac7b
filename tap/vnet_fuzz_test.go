package tap

import (
	"bytes"
	"testing"

	"github.com/ustack/ustack/backend"
)

// FuzzVnetHdr decodes arbitrary virtio-net headers, as the kernel hands
// them with every received frame: decoding never panics, the metadata
// keeps the kernel's checksum offsets, and encoding gives the bytes back
// but num_buffers, which TAP neither reads nor writes.
func FuzzVnetHdr(f *testing.F) {
	f.Add([]byte{1, 4, 74, 0, 0xa0, 0x05, 54, 0, 16, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0x85, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < vnetHdrLen {
			return
		}
		var h vnetHdr
		h.decode(b)
		var m backend.Meta
		h.toMeta(&m)
		if m.Csum == backend.CsumPartial && (m.CsumStart != h.csumStart || m.CsumOffset != h.csumOffset) {
			t.Fatalf("offsets %d+%d became %d+%d", h.csumStart, h.csumOffset, m.CsumStart, m.CsumOffset)
		}
		out := make([]byte, vnetHdrLen)
		h.encode(out)
		if !bytes.Equal(out[:10], b[:10]) {
			t.Fatalf("encode(decode(%x)) = %x", b[:vnetHdrLen], out)
		}
	})
}
