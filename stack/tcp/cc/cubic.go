package cc

import (
	"math/bits"
	"time"
)

// Cubic is CUBIC congestion control (RFC 9438) with C = 0.4 and beta_cubic
// = 0.7, the Reno-friendly region, fast convergence, and HyStart++ (RFC
// 9406) in the initial slow start. Windows are bytes; the cubic function
// runs in integer milliseconds and bytes so results are exact and the same
// on every architecture.
type Cubic struct {
	window
	fastConvergence bool
	useHyStart      bool
	hs              hystart

	wMax       int64 // W_max in bytes
	cwndPrior  int64 // cwnd when ssthresh was last set by a congestion event
	epochValid bool  // a congestion avoidance stage is in progress
	epochStart int64 // t_epoch, nanoseconds
	kMs        int64 // K in milliseconds
	wEst       int64 // W_est in bytes
	wEstAcc    int64 // W_est growth not yet a whole byte, scaled by 17*cwnd
	caAcc      int64 // cwnd growth not yet a whole byte, scaled by cwnd
	// priorWMax and priorCwndPrior are what the last OnLoss replaced.
	priorWMax, priorCwndPrior int64
}

// NewCubic returns a CUBIC controller with cwnd at the initial window.
func NewCubic(cfg Config) *Cubic {
	c := new(Cubic)
	c.Init(cfg)
	return c
}

// Init resets c to a new connection's state; it lets a connection embed the
// controller rather than allocate it.
func (c *Cubic) Init(cfg Config) {
	*c = Cubic{
		fastConvergence: !cfg.NoFastConvergence,
		useHyStart:      !cfg.NoHyStart,
	}
	c.window.init(cfg)
	c.hs.reset()
}

// Name is "cubic".
func (c *Cubic) Name() string { return "cubic" }

// OnAck grows cwnd: HyStart++ or standard slow start below ssthresh, the
// CUBIC window function above (RFC 9438 §4.2-§4.5).
func (c *Cubic) OnAck(a Ack, now int64) {
	if a.Acked <= 0 {
		return
	}
	c.noteAck()
	if c.inRecovery {
		return
	}
	// RFC 9406 §4.2: HyStart++ RECOMMENDED only for the initial slow start,
	// while ssthresh is still at its initial value.
	hyStart := c.useHyStart && c.ssthresh == InfiniteSsthresh
	if hyStart && c.hs.onAck(a) {
		// CSS_ROUNDS of CSS done: enter congestion avoidance.
		c.ssthresh = c.cwnd
		hyStart = false
	}
	if a.AppLimited {
		return // RFC 9438 §5.8
	}
	rest := a.Acked
	if c.cwnd < c.ssthresh {
		if hyStart {
			c.cwnd = min(c.cwnd+c.hs.increase(rest, c.mss), maxCwnd)
			return
		}
		rest = c.slowStart(rest)
	}
	if rest > 0 {
		c.congestionAvoidance(int64(rest), a.SRTT, now)
	}
}

// congestionAvoidance is one ACK of RFC 9438 §4.2-§4.5.
func (c *Cubic) congestionAvoidance(acked int64, srtt time.Duration, now int64) {
	if !c.epochValid {
		c.startEpoch(now)
	}
	mss, cwnd := int64(c.mss), int64(c.cwnd)
	t := (now - c.epochStart) / int64(time.Millisecond)
	rtt := int64(srtt / time.Millisecond)

	// RFC 9438 §4.2: target = W_cubic(t + RTT), bounded by cwnd and
	// 1.5 * cwnd.
	target := min(max(c.wCubic(t+rtt), cwnd), cwnd+cwnd/2)

	// RFC 9438 §4.3: W_est += alpha_cubic * segments_acked / cwnd, with
	// alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic) = 9/17 until
	// W_est reaches cwnd_prior and 1 (17/17) after. In bytes:
	// W_est += alpha * acked * SMSS / cwnd.
	alpha := int64(9)
	if c.wEst >= c.cwndPrior {
		alpha = 17
	}
	c.wEstAcc += alpha * acked * mss
	if d := 17 * cwnd; c.wEstAcc >= d {
		inc := c.wEstAcc / d
		c.wEst += inc
		c.wEstAcc -= inc * d
	}
	if c.wCubic(t) < c.wEst {
		// Reno-friendly region: cwnd = W_est.
		c.cwnd = int(min(c.wEst, maxCwnd))
		c.caAcc = 0
		return
	}
	// RFC 9438 §4.4, §4.5 (concave and convex regions): cwnd grows by
	// (target - cwnd) / cwnd per segment acknowledged, in bytes
	// (target - cwnd) * acked / cwnd.
	c.caAcc += (target - cwnd) * acked
	if c.caAcc >= cwnd {
		inc := c.caAcc / cwnd
		c.cwnd = int(min(cwnd+inc, maxCwnd))
		c.caAcc -= inc * cwnd
	}
}

// startEpoch begins a congestion avoidance stage at now.
func (c *Cubic) startEpoch(now int64) {
	c.epochValid = true
	c.epochStart = now
	cwnd := int64(c.cwnd)
	if c.cwndPrior == 0 {
		// RFC 9438 §4.10: slow start ended without a loss (HyStart++).
		c.cwndPrior = cwnd
	}
	if c.wMax <= cwnd {
		// RFC 9438 §4.8, §4.10: with no W_max above cwnd (after a timeout,
		// after HyStart++, or cwnd already past it), W_max = cwnd at the
		// start of the stage and K = 0.
		c.wMax = cwnd
		c.kMs = 0
	} else {
		// RFC 9438 §4.2 eq. 2: K = cubic_root((W_max - cwnd_epoch) / C).
		c.kMs = cubicK(c.wMax-cwnd, int64(c.mss))
	}
	// RFC 9438 §4.3: W_est = cwnd_epoch.
	c.wEst = cwnd
	c.wEstAcc = 0
	c.caAcc = 0
}

// wCubic is RFC 9438 §4.2 eq. 1, W_cubic(t) = C * (t - K)^3 + W_max, for t
// in milliseconds since the epoch, in bytes.
func (c *Cubic) wCubic(tMs int64) int64 {
	d := tMs - c.kMs
	if d >= 0 {
		return c.wMax + cubeBytes(d, int64(c.mss))
	}
	return c.wMax - cubeBytes(-d, int64(c.mss))
}

// OnLoss records W_max with fast convergence (RFC 9438 §4.7), sets
// ssthresh = max(FlightSize * beta_cubic, 2 * SMSS) (RFC 9438 §4.6) and
// returns it. A call during recovery changes nothing.
func (c *Cubic) OnLoss(inflight int, now int64) int {
	if c.inRecovery {
		return c.ssthresh
	}
	cwnd := int64(c.cwnd)
	c.priorWMax, c.priorCwndPrior = c.wMax, c.cwndPrior
	if c.fastConvergence && cwnd < c.wMax {
		// RFC 9438 §4.7: W_max = cwnd * (1 + beta_cubic) / 2.
		c.wMax = cwnd * 17 / 20
	} else {
		c.wMax = cwnd
	}
	c.cwndPrior = cwnd
	c.epochValid = false
	return c.enterRecovery(int(int64(inflight) * 7 / 10))
}

// Undo reverses the last fast recovery's reduction (RFC 9438 §4.9): cwnd
// and ssthresh as Reno's, W_max and cwnd_prior as before it; the next ACK
// starts a congestion avoidance stage from there.
func (c *Cubic) Undo(now int64) bool {
	if !c.undo() {
		return false
	}
	c.wMax, c.cwndPrior = max(c.wMax, c.priorWMax), max(c.cwndPrior, c.priorCwndPrior)
	c.epochValid = false
	return true
}

// OnRecoveryEnd ends fast recovery: cwnd = ssthresh (RFC 9438 §4.6 with
// PRR, RFC 6937); the next ACK starts a congestion avoidance stage.
func (c *Cubic) OnRecoveryEnd(now int64) {
	if !c.inRecovery {
		return
	}
	c.window.OnRecoveryEnd(now)
	c.epochValid = false
}

// OnRTO follows Reno for cwnd (1 SMSS) but sets ssthresh with beta_cubic
// (RFC 9438 §4.8); the first congestion avoidance stage after it starts
// with K = 0 and W_max = cwnd.
func (c *Cubic) OnRTO(inflight int, now int64) {
	if !c.rtoHeld {
		c.cwndPrior = int64(c.cwnd)
	}
	c.timeout(int(int64(inflight) * 7 / 10))
	c.wMax = 0
	c.epochValid = false
}

// OnIdle restarts from min(cwnd, IW) after more than one RTO without
// sending (RFC 5681 §4.1); after a shorter pause it moves the epoch forward
// by the idle time so that the window function does not count it (RFC 9438
// §5.8).
func (c *Cubic) OnIdle(idle, rto time.Duration, now int64) {
	if c.restart(int64(idle), int64(rto)) {
		c.epochValid = false
		return
	}
	if c.epochValid && idle > 0 {
		c.epochStart = min(c.epochStart+int64(idle), now)
	}
}

// cubicMaxMs bounds |t - K| so the cube fits in 64 bits; beyond it the
// target is bounded by 1.5 * cwnd anyway.
const cubicMaxMs = 1 << 20

// cubeBytes is C * (d / 1000)^3 segments of mss bytes, d in milliseconds:
// 0.4 * d^3 / 10^9 * mss = 2 * mss * d^3 / (5 * 10^9).
func cubeBytes(dMs, mss int64) int64 {
	d := uint64(min(dMs, cubicMaxMs))
	hi, lo := bits.Mul64(d*d*d, uint64(2*mss))
	q, _ := bits.Div64(hi, lo, 5_000_000_000) // hi < 2^28 with mss < 2^21
	return int64(min(q, maxCwnd<<8))
}

// cubicK is K in milliseconds for W_max - cwnd_epoch = diff bytes:
// cbrt(diff / mss / C) seconds = cbrt(diff * 2.5 * 10^9 / mss) ms.
func cubicK(diff, mss int64) int64 {
	x := uint64(min(diff, 1<<32)) * 2_500_000_000 / uint64(mss)
	return int64(icbrt(x))
}

// icbrt is the integer cube root: the largest r with r^3 <= x.
func icbrt(x uint64) uint64 {
	lo, hi := uint64(0), uint64(2642245) // 2642245^3 < 2^64 < 2642246^3
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if mid*mid*mid <= x {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
