package cc

import "time"

// Reno is NewReno congestion control: slow start with
// Appropriate Byte Counting (RFC 3465, L = 2 SMSS by default), congestion
// avoidance of one SMSS per round trip (RFC 5681 §3.1), ssthresh =
// max(FlightSize/2, 2*SMSS) on loss (RFC 5681 eq. 4). The fast-recovery
// mechanics of RFC 6582 (recovery point, partial ACKs, retransmissions) are
// the caller's; cwnd during recovery comes from PRR.
type Reno struct {
	window
}

// NewReno returns a NewReno controller with cwnd at the initial window.
func NewReno(cfg Config) *Reno {
	r := new(Reno)
	r.Init(cfg)
	return r
}

// Init resets r to a new connection's state; it lets a connection embed the
// controller rather than allocate it.
func (r *Reno) Init(cfg Config) { r.window.init(cfg) }

// Name is "newreno".
func (r *Reno) Name() string { return "newreno" }

// OnAck grows cwnd: slow start below ssthresh, then one SMSS per cwnd bytes
// acknowledged.
func (r *Reno) OnAck(a Ack, now int64) {
	if a.Acked <= 0 {
		return
	}
	r.noteAck()
	if r.inRecovery || a.AppLimited {
		return
	}
	rest := a.Acked
	if r.cwnd < r.ssthresh {
		rest = r.slowStart(rest)
	}
	if rest > 0 {
		r.renoIncrease(rest)
	}
}

// OnLoss sets ssthresh = max(FlightSize/2, 2*SMSS) (RFC 5681 §3.1 eq. 4)
// and returns it. A call during recovery changes nothing: one reduction per
// recovery episode (RFC 6582 §3.2).
func (r *Reno) OnLoss(inflight int, now int64) int {
	if r.inRecovery {
		return r.ssthresh
	}
	return r.enterRecovery(inflight / 2)
}

// Undo reverses the last fast recovery's reduction (see Controller).
func (r *Reno) Undo(now int64) bool { return r.undo() }

// OnRTO sets ssthresh = max(FlightSize/2, 2*SMSS) unless the timeout
// repeats with no ACK in between, and cwnd = 1 SMSS (RFC 5681 §3.1).
func (r *Reno) OnRTO(inflight int, now int64) {
	r.timeout(inflight / 2)
}

// OnIdle restarts from min(cwnd, IW) after more than one RTO without
// sending (RFC 5681 §4.1).
func (r *Reno) OnIdle(idle, rto time.Duration, now int64) {
	r.restart(int64(idle), int64(rto))
}
