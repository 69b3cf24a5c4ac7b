package pcapsim

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/ustack/ustack/stack/wire"
)

// FuzzReader feeds arbitrary bytes to the capture reader, to Adopt and to
// the conversations' reassembly, and the frames read to the test for
// checksums left to the NIC:
// they end in a frame, a clean end, a warning or an error, never a panic
// or a hang, and a checksum found lies within its frame.
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(pcapngBytes(f, threeRecords(f)))
	syn4 := ethIPv4(f, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40000, 80, 1))
	f.Add(pcapBytes(f, linkEthernet, false, []rec{{t0, partial(f, syn4, 14, 34, 16), 0}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, _, err := readAll(t, b)
		if err == nil && len(frames) > len(b) {
			t.Fatalf("%d frames from %d bytes", len(frames), len(b))
		}
		for _, fr := range frames {
			if start, off, ok := wire.PartialChecksum(fr); ok && int(start)+int(off)+2 > len(fr) {
				t.Fatalf("a checksum at %d+%d in a frame of %d bytes", start, off, len(fr))
			}
		}
		adopt(bytes.NewReader(b), Config{Seed: 1, Outgoing: true})
		readConversations(bytes.NewReader(b), Config{Seed: 1, Outgoing: true})
	})
}
