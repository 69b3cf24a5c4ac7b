// Package rtt estimates round-trip times and the retransmission timeout of a
// TCP connection (RFC 6298), and keeps a windowed minimum RTT for congestion
// control.
//
// The estimator only does arithmetic on the samples it is given; choosing
// samples is the caller's job:
//
//   - Karn's algorithm (RFC 6298 §3): never take a sample from a segment that
//     was retransmitted, because its ACK is ambiguous, unless the sample comes
//     from the TCP timestamp option (RFC 7323 §4), which names the
//     transmission being acknowledged.
//   - Take at most one sample per round trip when timing segments, or one per
//     ACK that advances SND.UNA with timestamps. RFC 7323 (Appendix G)
//     discusses scaling alpha and beta down when there are many samples per
//     round trip; this package keeps the standard gains, as Linux does.
//   - A sample from the SYN/SYN-ACK exchange is an ordinary first sample
//     (RFC 6298 §2.2). If the SYN was retransmitted and no sample was taken,
//     RFC 6298 §5.7 asks for RTO = 3 s when data transfer begins: call SetRTO.
//
// A new sample cancels any backoff (RFC 6298 §5.7 leaves this open; Linux and
// the BSDs do the same).
package rtt

import "time"

// Defaults of Config. MinRTO is Linux's TCP_RTO_MIN, lower than the 1 s that
// RFC 6298 §2.4 recommends; MaxRTO is Linux's TCP_RTO_MAX (RFC 6298 §2.5
// allows any maximum of at least 60 s).
const (
	DefaultMinRTO      = 200 * time.Millisecond
	DefaultMaxRTO      = 120 * time.Second
	DefaultInitialRTO  = time.Second // RFC 6298 §2.1
	DefaultGranularity = time.Millisecond
)

// Config bounds the estimator. A zero field takes its default.
type Config struct {
	MinRTO      time.Duration // lower bound on the RTO
	MaxRTO      time.Duration // upper bound on the RTO, backoff included
	InitialRTO  time.Duration // RTO before the first sample
	Granularity time.Duration // clock granularity G of RFC 6298 §2
}

func (c Config) withDefaults() Config {
	if c.MinRTO <= 0 {
		c.MinRTO = DefaultMinRTO
	}
	if c.MaxRTO <= 0 {
		c.MaxRTO = DefaultMaxRTO
	}
	if c.MaxRTO < c.MinRTO {
		c.MaxRTO = c.MinRTO
	}
	if c.InitialRTO <= 0 {
		c.InitialRTO = DefaultInitialRTO
	}
	if c.Granularity <= 0 {
		c.Granularity = DefaultGranularity
	}
	return c
}

// Estimator is the RFC 6298 RTO estimator of one connection. Its zero value
// is not ready: use New or Init.
type Estimator struct {
	cfg     Config
	srtt    time.Duration
	rttvar  time.Duration
	base    time.Duration // RTO from the estimates, bounded, before backoff
	rto     time.Duration // base doubled once per backoff, bounded
	backoff int
	sampled bool
}

// New returns an estimator with no sample and RTO = cfg.InitialRTO.
func New(cfg Config) Estimator {
	var e Estimator
	e.Init(cfg)
	return e
}

// Init resets e to its state before any sample, with the given bounds.
func (e *Estimator) Init(cfg Config) {
	cfg = cfg.withDefaults()
	*e = Estimator{cfg: cfg}
	// RFC 6298 §2.1: RTO <- 1 second until a sample is made.
	e.base = e.clamp(cfg.InitialRTO)
	e.rto = e.base
}

// Sample feeds one round-trip measurement r and returns the new RTO. A
// negative sample is ignored; zero is valid (a round trip shorter than the
// clock resolves, which the granularity term G then covers).
func (e *Estimator) Sample(r time.Duration) time.Duration {
	if r < 0 {
		return e.rto
	}
	if !e.sampled {
		// RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
		e.srtt = r
		e.rttvar = r / 2
		e.sampled = true
	} else {
		// RFC 6298 §2.3 with alpha = 1/8 and beta = 1/4; RTTVAR is updated
		// first, from the old SRTT:
		//   RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
		//   SRTT <- (1 - alpha) * SRTT + alpha * R'
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	// RFC 6298 §2.2, §2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4, then the
	// bounds of §2.4 and §2.5. A new RTO also ends any backoff.
	e.base = e.clamp(e.srtt + max(e.cfg.Granularity, 4*e.rttvar))
	e.rto = e.base
	e.backoff = 0
	return e.rto
}

// Backoff doubles the RTO after the retransmission timer expired (RFC 6298
// §5.5), up to MaxRTO, and returns it.
func (e *Estimator) Backoff() time.Duration {
	e.backoff++
	if e.rto < e.cfg.MaxRTO {
		e.rto = e.clamp(2 * e.rto)
	}
	return e.rto
}

// SetRTO sets the current RTO to d within the bounds and clears the backoff,
// keeping SRTT and RTTVAR. RFC 6298 §5.7 uses it: RTO = 3 s when data starts
// after a retransmitted SYN gave no sample.
func (e *Estimator) SetRTO(d time.Duration) {
	e.base = e.clamp(d)
	e.rto = e.base
	e.backoff = 0
}

// RTO is the current retransmission timeout, backoff included.
func (e *Estimator) RTO() time.Duration { return e.rto }

// BaseRTO is the retransmission timeout without backoff.
func (e *Estimator) BaseRTO() time.Duration { return e.base }

// Backoffs is the number of times the RTO was doubled since the last sample
// or SetRTO; the caller may use it to give up (RFC 9293 §3.8.3, R2).
func (e *Estimator) Backoffs() int { return e.backoff }

// SRTT is the smoothed round-trip time, zero before the first sample.
func (e *Estimator) SRTT() time.Duration { return e.srtt }

// RTTVar is the round-trip time variation, zero before the first sample.
func (e *Estimator) RTTVar() time.Duration { return e.rttvar }

// HasSample reports whether a sample has been taken.
func (e *Estimator) HasSample() bool { return e.sampled }

func (e *Estimator) clamp(d time.Duration) time.Duration {
	return min(max(d, e.cfg.MinRTO), e.cfg.MaxRTO)
}
