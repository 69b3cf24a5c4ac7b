package cc

import (
	"time"

	"github.com/ustack/ustack/stack/tcp/seq"
)

const (
	mss = 1000
	ms  = int64(time.Millisecond)
	sec = int64(time.Second)
)

// flow is a bulk sender that keeps cwnd full and gets one ACK per segment.
type flow struct {
	c        Controller
	una, nxt seq.Value
	now      int64
}

func newFlow(c Controller) *flow {
	f := &flow{c: c, una: 1_000_000, now: sec}
	f.nxt = f.una
	return f
}

// round sends a window and receives the ACKs for it, one per perSeg bytes,
// each with an RTT sample of rtt; the round lasts rtt.
func (f *flow) round(rtt time.Duration, perSeg int) {
	f.nxt = seq.Max(f.nxt, f.una.Add(f.c.Cwnd()))
	end := f.nxt
	for f.una.LessThan(end) {
		n := min(perSeg, int(end.Sub(f.una)))
		f.una = f.una.Add(n)
		f.c.OnAck(Ack{Acked: n, RTT: rtt, SRTT: rtt, Una: f.una, Nxt: f.nxt}, f.now)
		// Keep the window full: send what the new cwnd allows.
		f.nxt = seq.Max(f.nxt, f.una.Add(f.c.Cwnd()))
	}
	f.now += int64(rtt)
}
