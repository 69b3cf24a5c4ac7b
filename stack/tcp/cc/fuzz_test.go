package cc

import (
	"testing"
	"time"
)

// FuzzControllers drives both controllers with arbitrary events and checks
// that cwnd and ssthresh stay sane.
func FuzzControllers(f *testing.F) {
	f.Add(uint16(1460), []byte{0, 10, 1, 200, 2, 3, 4, 5, 0, 255, 0, 255})
	f.Add(uint16(1), []byte{3, 3, 0, 1, 5, 0, 0, 0})
	f.Fuzz(func(t *testing.T, mssIn uint16, input []byte) {
		m := int(mssIn)
		for _, c := range []Controller{NewReno(Config{MSS: m}), NewCubic(Config{MSS: m})} {
			now := int64(0)
			for events := input; len(events) >= 2; {
				op, arg := events[0], int(events[1])
				events = events[2:]
				now += int64(arg) * int64(time.Millisecond) * 10
				switch op % 7 {
				case 0, 1:
					c.OnAck(Ack{Acked: arg * max(m, 1), RTT: time.Duration(arg) * time.Millisecond, SRTT: time.Duration(arg) * time.Millisecond}, now)
				case 2:
					c.OnLoss(c.Cwnd(), now)
				case 3:
					c.OnRecoveryEnd(now)
				case 4:
					c.OnRTO(c.Cwnd(), now)
				case 5:
					c.OnIdle(time.Duration(arg)*time.Second, time.Second, now)
				case 6:
					c.Undo(now)
				}
				if c.Cwnd() < 0 || c.Cwnd() > maxCwnd || c.Ssthresh() <= 0 {
					t.Fatalf("%s: cwnd %d ssthresh %d", c.Name(), c.Cwnd(), c.Ssthresh())
				}
			}
		}
	})
}
