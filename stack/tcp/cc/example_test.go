package cc_test

import (
	"fmt"
	"time"

	"github.com/ustack/ustack/stack/tcp/cc"
	"github.com/ustack/ustack/stack/tcp/seq"
)

// A sender's view of one loss episode with CUBIC and PRR, in segments of
// 1000 bytes.
func Example() {
	const mss = 1000
	c := cc.NewCubic(cc.Config{MSS: mss})
	fmt.Println("initial window", c.Cwnd())

	// An ACK outside recovery: slow start.
	c.OnAck(cc.Ack{Acked: 2 * mss, RTT: 50 * time.Millisecond, SRTT: 50 * time.Millisecond,
		Una: seq.Value(2000), Nxt: seq.Value(12000)}, 0)
	fmt.Println("after an ACK of 2 segments", c.Cwnd())

	// Loss detected with 12 segments in flight: enter recovery.
	flight := c.Cwnd()
	ssthresh := c.OnLoss(flight, 0)
	var prr cc.PRR
	prr.Enter(ssthresh, flight, mss)
	fmt.Println("ssthresh", ssthresh)

	// Each ACK in recovery: sndcnt from PRR, cwnd = pipe + sndcnt.
	pipe := flight - 4*mss // 3 segments SACKed, 1 lost
	sndcnt := prr.OnAck(mss, pipe)
	c.SetCwnd(pipe + sndcnt)
	prr.Sent(sndcnt) // the fast retransmit
	fmt.Println("first sndcnt", sndcnt)

	// The ACK covering the recovery point ends recovery.
	c.OnRecoveryEnd(0)
	fmt.Println("cwnd after recovery", c.Cwnd())
	// Output:
	// initial window 10000
	// after an ACK of 2 segments 12000
	// ssthresh 8400
	// first sndcnt 1000
	// cwnd after recovery 8400
}
