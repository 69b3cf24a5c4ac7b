package capture_test

import (
	"bytes"
	"fmt"

	"github.com/google/gopacket/pcapgo"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/capture"
	"github.com/ustack/ustack/backend/pipe"
)

// ExampleWrap records what one end of an in-memory link sends and
// receives, in the link's virtual time. A file capture would come from
// capture.Create(path, capture.Options{MaxBytes: 100 << 20, MaxFiles: 5}).
func ExampleWrap() {
	clock := backend.NewVirtualClock(1_700_000_000_000_000_000)
	a, b, _ := pipe.New(pipe.Config{Clock: clock})
	var file bytes.Buffer
	w, _ := capture.NewWriter(&file)
	ca := capture.Wrap(a, w, clock)

	frames := make([]*backend.Frame, 2)
	n := ca.Alloc(0, frames, 60)
	for _, f := range frames[:n] {
		f.SetLen(60)
	}
	ca.Send(0, frames[:n])
	in := make([]*backend.Frame, 2)
	got, _ := b.Recv(0, in)
	backend.Release(in[:got])
	ca.Close()
	b.Close()
	w.Close()

	r, _ := pcapgo.NewReader(&file)
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		fmt.Println(ci.Timestamp.UTC().Format("2006-01-02 15:04:05.000000000"), len(data), "bytes")
	}
	// Output:
	// 2023-11-14 22:13:20.000000000 60 bytes
	// 2023-11-14 22:13:20.000000000 60 bytes
}
