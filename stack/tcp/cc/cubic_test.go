package cc

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rfcW is RFC 9438 eq. 1 in floating point, in bytes: C*(t-K)^3 + W_max
// with windows in segments of mss bytes and t, K in seconds.
func rfcW(t, k, wMaxSeg float64) float64 {
	return (0.4*math.Pow(t-k, 3) + wMaxSeg) * mss
}

// rfcK is RFC 9438 eq. 2 in seconds.
func rfcK(wMaxSeg, cwndEpochSeg float64) float64 {
	return math.Cbrt((wMaxSeg - cwndEpochSeg) / 0.4)
}

// cubicAfterLoss returns a CUBIC controller that lost at cwnd = inflight =
// wMax bytes and has finished recovery.
func cubicAfterLoss(t *testing.T, wMax int, cfg Config) *Cubic {
	t.Helper()
	cfg.MSS = mss
	c := NewCubic(cfg)
	c.SetCwnd(wMax)
	c.OnLoss(wMax, 0)
	c.OnRecoveryEnd(0)
	return c
}

func TestCubicK(t *testing.T) {
	tests := []struct {
		name             string
		wMax, cwndEpoch  int64 // bytes, MSS 1000
		wantMs           int64
		exactFromFormula bool
	}{
		// 0.3 * 288 / 0.4 = 216 = 6^3.
		{name: "W_max 288 after beta reduction", wMax: 288000, cwndEpoch: 201600, wantMs: 6000},
		// 10.8 / 0.4 = 27 = 3^3.
		{name: "W_max 36 after beta reduction", wMax: 36000, cwndEpoch: 25200, wantMs: 3000},
		{name: "W_max 100 after beta reduction", wMax: 100000, cwndEpoch: 70000, wantMs: 4217},
		{name: "fast convergence W_max 76.5", wMax: 76500, cwndEpoch: 63000, wantMs: 3231},
		{name: "no gap", wMax: 50000, cwndEpoch: 50000, wantMs: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cubicK(tt.wMax-tt.cwndEpoch, mss)
			assert.Equal(t, tt.wantMs, got)
			want := rfcK(float64(tt.wMax)/mss, float64(tt.cwndEpoch)/mss) * 1000
			assert.InDelta(t, want, float64(got), 1, "within a millisecond of RFC 9438 eq. 2")
		})
	}
}

func TestIcbrt(t *testing.T) {
	for _, x := range []uint64{0, 1, 7, 8, 26, 27, 999, 1000, 1001, 1 << 62, math.MaxUint64} {
		r := icbrt(x)
		assert.LessOrEqual(t, r*r*r, x, "x=%d", x)
		if r < 2642245 {
			assert.Greater(t, (r+1)*(r+1)*(r+1), x, "x=%d", x)
		}
	}
}

func TestCubicLoss(t *testing.T) {
	c := NewCubic(Config{MSS: mss})
	c.SetCwnd(100000)
	// RFC 9438 §4.6: ssthresh = FlightSize * 0.7.
	assert.Equal(t, 70000, c.OnLoss(100000, 0))
	assert.True(t, c.InRecovery())
	assert.Equal(t, int64(100000), c.wMax, "W_max is cwnd at the loss")
	c.OnRecoveryEnd(0)
	assert.Equal(t, 70000, c.Cwnd(), "window after loss is 0.7 * W_max")
	assert.Equal(t, 70000, c.Ssthresh())

	t.Run("never below 2 MSS", func(t *testing.T) {
		c := NewCubic(Config{MSS: mss})
		assert.Equal(t, 2*mss, c.OnLoss(2500, 0))
	})
	t.Run("ssthresh follows the flight, not cwnd", func(t *testing.T) {
		c := NewCubic(Config{MSS: mss})
		c.SetCwnd(100000)
		assert.Equal(t, 42000, c.OnLoss(60000, 0))
	})
	t.Run("once per recovery", func(t *testing.T) {
		c := NewCubic(Config{MSS: mss})
		c.SetCwnd(100000)
		c.OnLoss(100000, 0)
		c.SetCwnd(50000)
		assert.Equal(t, 70000, c.OnLoss(50000, 0))
		assert.Equal(t, int64(100000), c.wMax)
	})
}

// TestCubicCurve follows the window function after a loss at W_max = 288
// segments with one ACK per RTT covering the whole window: each ACK at t
// makes cwnd = W_cubic(t + RTT) (RFC 9438 §4.2), which the test computes
// from the RFC's formula in floating point.
func TestCubicCurve(t *testing.T) {
	const rtt = 100 * time.Millisecond
	c := cubicAfterLoss(t, 288000, Config{})
	require.Equal(t, 201600, c.Cwnd())
	k := rfcK(288, 201.6)
	require.InDelta(t, 6.0, k, 1e-9)

	epoch := 10 * sec
	// The first ACK starts the epoch. W_cubic(0) = cwnd_epoch is below
	// W_est = cwnd_epoch + 9/17 MSS, so this ACK is in the Reno-friendly
	// region (RFC 9438 §4.3): cwnd = W_est.
	c.OnAck(Ack{Acked: c.Cwnd(), SRTT: rtt}, epoch)
	require.Equal(t, 201600+529, c.Cwnd())

	for i := 1; i <= 100; i++ {
		at := float64(i) / 10 // seconds since the epoch
		c.OnAck(Ack{Acked: c.Cwnd(), SRTT: rtt}, epoch+int64(i)*int64(rtt))
		want := rfcW(at+0.1, k, 288)
		require.InDelta(t, want, float64(c.Cwnd()), 1, "t=%.1fs", at)
		require.Less(t, c.wEst, c.wCubic(int64(i)*100), "not Reno-friendly at t=%.1fs", at)
	}

	// The explicit points: K = 6 s is when the window is back at W_max.
	c = cubicAfterLoss(t, 288000, Config{})
	for _, p := range []struct {
		at   int64 // ms since the epoch; the ACK looks one RTT ahead
		want int
	}{
		{at: 0, want: 202129},    // Reno-friendly first ACK, see above
		{at: 900, want: 238000},  // W(1.0) = 288 - 0.4 * 5^3 (concave)
		{at: 5900, want: 288000}, // W(6.0) = W_max: t = K
		{at: 7900, want: 291200}, // W(8.0) = 288 + 0.4*8 (convex)
		{at: 9900, want: 313600}, // W(10.0) = 288 + 0.4*64
	} {
		c.OnAck(Ack{Acked: c.Cwnd(), SRTT: rtt}, epoch+p.at*ms)
		assert.Equal(t, p.want, c.Cwnd(), "ACK at %d ms", p.at)
	}
}

func TestCubicTargetBound(t *testing.T) {
	c := cubicAfterLoss(t, 288000, Config{})
	c.OnAck(Ack{Acked: c.Cwnd(), SRTT: 100 * time.Millisecond}, 0)
	c.OnAck(Ack{Acked: c.Cwnd(), SRTT: 100 * time.Millisecond}, 100*ms)
	before := c.Cwnd()
	// A minute later W_cubic is far above: the target is 1.5 * cwnd
	// (RFC 9438 §4.2).
	c.OnAck(Ack{Acked: c.Cwnd(), SRTT: 100 * time.Millisecond}, 60*sec)
	assert.Equal(t, before+before/2, c.Cwnd())
}

// TestCubicRenoFriendly: at a 1 ms RTT and a small window, Reno's AIMD
// outgrows the cubic function and CUBIC follows W_est (RFC 9438 §4.3):
// 9/17 MSS per RTT until W_est reaches cwnd_prior, then 1 MSS per RTT.
func TestCubicRenoFriendly(t *testing.T) {
	const rtt = time.Millisecond
	c := cubicAfterLoss(t, 10000, Config{})
	require.Equal(t, 7000, c.Cwnd())
	now := sec
	prev := c.Cwnd()
	for i := 1; i <= 15; i++ {
		c.OnAck(Ack{Acked: c.Cwnd(), SRTT: rtt}, now)
		tMs := (now - c.epochStart) / ms
		require.Less(t, c.wCubic(tMs), c.wEst, "round %d in the Reno-friendly region", i)
		growth := c.Cwnd() - prev
		if prev < 10000 {
			// alpha_cubic = 3 * 0.3 / 1.7 = 0.5294 MSS per RTT.
			assert.InDelta(t, 529.4, float64(growth), 1, "round %d grows by 9/17 MSS", i)
		} else {
			assert.Equal(t, mss, growth, "round %d grows by 1 MSS after cwnd_prior", i)
		}
		prev = c.Cwnd()
		now += int64(rtt)
	}
	assert.Greater(t, c.Cwnd(), 10000)
}

func TestCubicFastConvergence(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantWMax int64
		wantK    int64
	}{
		// RFC 9438 §4.7: a loss below the previous W_max lowers W_max to
		// cwnd * (1 + 0.7) / 2 = 76500; K = cbrt((76.5 - 63) / 0.4).
		{name: "enabled", wantWMax: 76500, wantK: 3231},
		// Without it W_max = cwnd = 90000; K = cbrt((90 - 63) / 0.4).
		{name: "disabled", cfg: Config{NoFastConvergence: true}, wantWMax: 90000, wantK: 4071},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cubicAfterLoss(t, 100000, tt.cfg)
			c.SetCwnd(90000)
			assert.Equal(t, 63000, c.OnLoss(90000, 0))
			assert.Equal(t, tt.wantWMax, c.wMax)
			c.OnRecoveryEnd(0)
			c.OnAck(Ack{Acked: mss, SRTT: 100 * time.Millisecond}, sec)
			assert.Equal(t, tt.wantK, c.kMs)
			assert.InDelta(t, rfcK(float64(tt.wantWMax)/mss, 63)*1000, float64(c.kMs), 1)
		})
	}
}

func TestCubicRTO(t *testing.T) {
	c := NewCubic(Config{MSS: mss, NoHyStart: true})
	c.SetCwnd(100000)
	c.OnRTO(100000, 0)
	assert.Equal(t, mss, c.Cwnd())
	assert.Equal(t, 70000, c.Ssthresh(), "RFC 9438 §4.8: ssthresh with beta_cubic")
	c.OnRTO(mss, 0)
	assert.Equal(t, 70000, c.Ssthresh(), "held on a repeated timeout")

	// Slow start back to ssthresh, 1 MSS per ACK after a timeout.
	c.OnAck(Ack{Acked: 5000}, 0)
	assert.Equal(t, 2000, c.Cwnd())
	c.SetCwnd(70000)

	// The first congestion avoidance stage: K = 0, W_max = cwnd at its
	// start, so the window is convex from the start: W(t) = 70 + 0.4 t^3.
	c.OnAck(Ack{Acked: c.Cwnd(), SRTT: 100 * time.Millisecond}, 10*sec)
	assert.Zero(t, c.kMs)
	assert.Equal(t, int64(70000), c.wMax)
	c.OnAck(Ack{Acked: c.Cwnd(), SRTT: 100 * time.Millisecond}, 10*sec+1900*ms)
	// The first ACK was Reno-friendly (W_est = 70529 > W(0) = 70000); at
	// 1.9 s W(1.9) = 72743 > W_est = 71058, so cwnd = W(2.0) = 70 + 0.4 * 8
	// segments.
	assert.Equal(t, 73200, c.Cwnd())
}

func TestCubicIdle(t *testing.T) {
	const rtt = 100 * time.Millisecond
	// Two identical flows; one pauses for 5 s (less than the RTO) between
	// its ACKs. The pause does not count as growth time (RFC 9438 §5.8).
	a := cubicAfterLoss(t, 288000, Config{})
	b := cubicAfterLoss(t, 288000, Config{})
	a.OnAck(Ack{Acked: a.Cwnd(), SRTT: rtt}, 0)
	b.OnAck(Ack{Acked: b.Cwnd(), SRTT: rtt}, 0)
	b.OnIdle(5*time.Second, 10*time.Second, 5*sec)
	a.OnAck(Ack{Acked: a.Cwnd(), SRTT: rtt}, 1*sec)
	b.OnAck(Ack{Acked: b.Cwnd(), SRTT: rtt}, 6*sec)
	assert.Equal(t, a.Cwnd(), b.Cwnd())

	// Idle for longer than the RTO: restart from IW (RFC 5681 §4.1).
	b.OnIdle(20*time.Second, 10*time.Second, 30*sec)
	assert.Equal(t, 10000, b.Cwnd())
	assert.False(t, b.epochValid)
}

func TestCubicAppLimited(t *testing.T) {
	c := cubicAfterLoss(t, 100000, Config{})
	c.OnAck(Ack{Acked: 70000, SRTT: 100 * time.Millisecond, AppLimited: true}, 5*sec)
	assert.Equal(t, 70000, c.Cwnd())
	assert.Equal(t, "cubic", c.Name())
}

func TestCubicSlowStartWithoutHyStart(t *testing.T) {
	c := NewCubic(Config{MSS: mss, NoHyStart: true})
	f := newFlow(c)
	for i, want := range []int{20000, 40000, 80000} {
		f.round(100*time.Millisecond, mss)
		assert.Equal(t, want, c.Cwnd(), "round %d", i+1)
	}
}

// RFC 3708, RFC 9438 §4.9: a recovery found spurious is undone once over:
// cwnd, ssthresh and W_max as before the loss; not during recovery, not
// twice, not after a timeout.
func TestUndo(t *testing.T) {
	for _, mk := range []func() Controller{
		func() Controller { return NewCubic(Config{MSS: mss}) },
		func() Controller { return NewReno(Config{MSS: mss}) },
	} {
		c := mk()
		t.Run(c.Name(), func(t *testing.T) {
			c.SetCwnd(100000)
			before := c.Ssthresh()
			c.OnLoss(100000, 0)
			assert.False(t, c.Undo(0), "not in recovery")
			c.OnRecoveryEnd(0)
			assert.Less(t, c.Cwnd(), 100000)
			assert.True(t, c.Undo(0))
			assert.Equal(t, 100000, c.Cwnd())
			assert.Equal(t, before, c.Ssthresh())
			if cu, ok := c.(*Cubic); ok {
				assert.Equal(t, int64(100000), cu.wMax)
			}
			assert.False(t, c.Undo(0), "once")

			c.OnLoss(100000, 0)
			c.OnRecoveryEnd(0)
			c.OnRTO(50000, 0)
			assert.False(t, c.Undo(0), "a timeout since")
			assert.Equal(t, mss, c.Cwnd())
		})
	}
}
