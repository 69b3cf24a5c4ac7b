package cc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ustack/ustack/stack/tcp/seq"
)

func TestNoAllocations(t *testing.T) {
	for _, c := range []Controller{NewReno(Config{MSS: mss}), NewCubic(Config{MSS: mss})} {
		t.Run(c.Name(), func(t *testing.T) {
			var p PRR
			now := int64(0)
			una := seq.Value(0)
			allocs := testing.AllocsPerRun(1000, func() {
				now += ms
				una = una.Add(mss)
				c.OnAck(Ack{Acked: mss, RTT: 50 * time.Millisecond, SRTT: 50 * time.Millisecond, Una: una, Nxt: una.Add(c.Cwnd())}, now)
				if now%(100*ms) == 0 {
					ss := c.OnLoss(c.Cwnd(), now)
					p.Enter(ss, c.Cwnd(), mss)
					p.Sent(p.OnAck(mss, c.Cwnd()-mss))
					c.SetCwnd(ss)
					c.OnRecoveryEnd(now)
				}
				if now%(333*ms) == 0 {
					c.OnRTO(c.Cwnd(), now)
					c.OnIdle(time.Second, 200*time.Millisecond, now)
				}
			})
			assert.Zero(t, allocs)
		})
	}
}

func BenchmarkCubicOnAck(b *testing.B) {
	c := NewCubic(Config{MSS: 1448})
	c.OnLoss(1<<20, 0)
	c.OnRecoveryEnd(0)
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now += 10_000
		c.OnAck(Ack{Acked: 1448, SRTT: 20 * time.Millisecond}, now)
		if c.Cwnd() > 1<<26 {
			c.OnLoss(c.Cwnd(), now)
			c.OnRecoveryEnd(now)
		}
	}
}
