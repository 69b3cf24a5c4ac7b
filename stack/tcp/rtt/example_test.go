package rtt_test

import (
	"fmt"
	"time"

	"github.com/ustack/ustack/stack/tcp/rtt"
)

func ExampleEstimator() {
	e := rtt.New(rtt.Config{})
	fmt.Println("before a sample:", e.RTO())
	e.Sample(100 * time.Millisecond) // from a segment never retransmitted (Karn)
	fmt.Println("after 100ms:", e.SRTT(), e.RTTVar(), e.RTO())
	e.Backoff() // the retransmission timer expired
	fmt.Println("backed off:", e.RTO())
	// Output:
	// before a sample: 1s
	// after 100ms: 100ms 50ms 300ms
	// backed off: 600ms
}
