package pcapsim

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the capture reader, to Adopt and to
// the conversations' reassembly:
// they end in a frame, a clean end, a warning or an error, never a panic
// or a hang.
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(pcapngBytes(f, threeRecords(f)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if frames, _, err := readAll(t, b); err == nil && len(frames) > len(b) {
			t.Fatalf("%d frames from %d bytes", len(frames), len(b))
		}
		adopt(bytes.NewReader(b), Config{Seed: 1, Outgoing: true})
		readConversations(bytes.NewReader(b), Config{Seed: 1, Outgoing: true})
	})
}
