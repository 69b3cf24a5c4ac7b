package faults_test

import (
	"fmt"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/faults"
	"github.com/ustack/ustack/backend/pipe"
)

func ExampleParse() {
	spec, err := faults.Parse("loss=0.01, rx:delay=10ms~2ms, tx:rate=100M")
	fmt.Println(spec, err)
	_, err = faults.Parse("loss=1.5")
	fmt.Println(err)
	// Output:
	// loss=0.01,rx:delay=10ms~2ms,tx:rate=100M <nil>
	// faults: loss=1.5: probability must be in [0,1]
}

// ExampleWrap delays and thins out what one end of an in-memory link
// sends, on virtual time.
func ExampleWrap() {
	clock := backend.NewVirtualClock(0)
	a, b, _ := pipe.New(pipe.Config{Clock: clock})
	spec, _ := faults.Parse("tx:delay=5ms,tx:loss=0.5")
	fa, _ := faults.Wrap(a, spec, 1, clock)

	frames := make([]*backend.Frame, 100)
	n := fa.Alloc(0, frames, 60)
	for _, f := range frames[:n] {
		f.SetLen(60)
	}
	fa.Send(0, frames[:n])
	at, _ := fa.NextArrival(0)
	clock.Set(at)
	fa.Recv(0, nil) // calling in lets the held frames go

	in := make([]*backend.Frame, 100)
	got, _ := b.Recv(0, in)
	backend.Release(in[:got])
	st := fa.Stats().Tx
	fmt.Printf("due at %v: %d arrived, %d lost\n", time.Duration(at), got, st.Dropped)
	fa.Close()
	b.Close()
	fmt.Println("outstanding:", a.Outstanding()+b.Outstanding())
	// Output:
	// due at 5ms: 53 arrived, 47 lost
	// outstanding: 0
}
