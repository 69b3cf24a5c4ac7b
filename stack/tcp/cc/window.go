package cc

// window is what NewReno and CUBIC share: cwnd, ssthresh, slow start and
// the bookkeeping of recovery and timeouts.
type window struct {
	mss      int
	iw       int // initial window, also the restart window bound
	abc      int // RFC 3465 L, segments
	cwnd     int
	ssthresh int

	// caBytes counts bytes acknowledged in congestion avoidance towards the
	// next one-MSS increase (RFC 3465 §2.1 bytes_acked).
	caBytes int

	inRecovery bool
	// rtoHeld is set by a timeout and cleared by an ACK: a timeout while it
	// is set re-times the same segment, and ssthresh is held (RFC 5681 §3.1).
	rtoHeld bool
	// afterRTO is set during the slow start that follows a timeout, when
	// L is one segment (RFC 3465 §2.3).
	afterRTO bool
	// priorCwnd and priorSsthresh are what the last fast recovery
	// reduced, for Undo while undoable.
	priorCwnd, priorSsthresh int
	undoable                 bool
}

func (w *window) init(cfg Config) {
	mss := clampMSS(cfg.MSS)
	*w = window{mss: mss, ssthresh: InfiniteSsthresh}
	w.iw = cfg.InitialWindow
	if w.iw <= 0 {
		w.iw = InitialWindow(mss)
	}
	abc := cfg.ABCLimit
	if abc <= 0 {
		abc = 2
	}
	w.abc = abc
	w.cwnd = w.iw
}

// Cwnd is the congestion window in bytes.
func (w *window) Cwnd() int { return w.cwnd }

// Ssthresh is the slow-start threshold in bytes.
func (w *window) Ssthresh() int { return w.ssthresh }

// InSlowStart reports whether cwnd < ssthresh (RFC 5681 §3.1).
func (w *window) InSlowStart() bool { return w.cwnd < w.ssthresh }

// InRecovery reports whether fast recovery is in progress.
func (w *window) InRecovery() bool { return w.inRecovery }

// SetMSS changes the sender MSS. cwnd keeps its size in bytes.
func (w *window) SetMSS(mss int) { w.mss = clampMSS(mss) }

// clampMSS keeps the MSS within what the byte arithmetic is sized for.
func clampMSS(mss int) int { return min(max(mss, 1), 1<<20) }

// SetCwnd sets cwnd in bytes, as PRR does during recovery.
func (w *window) SetCwnd(cwnd int) { w.cwnd = min(max(cwnd, 0), maxCwnd) }

// slowStart grows cwnd for acked bytes in slow start and returns the bytes
// left over once cwnd reaches ssthresh, for congestion avoidance.
func (w *window) slowStart(acked int) int {
	// RFC 5681 §3.1 and RFC 3465 §2.2: cwnd += min(N, L*SMSS), with L = 1
	// after a timeout (RFC 3465 §2.3).
	limit := w.abc * w.mss
	if w.afterRTO {
		limit = w.mss
	}
	inc := min(acked, limit)
	if w.cwnd+inc < w.ssthresh {
		w.cwnd = min(w.cwnd+inc, maxCwnd)
		return 0
	}
	used := w.ssthresh - w.cwnd
	w.cwnd = w.ssthresh
	w.afterRTO = false
	return acked - used
}

// renoIncrease is congestion avoidance by byte counting (RFC 3465 §2.1,
// RFC 5681 §3.1 eq. 3): one SMSS for each cwnd bytes acknowledged, that is
// one SMSS per round trip.
func (w *window) renoIncrease(acked int) {
	w.caBytes += acked
	if w.caBytes >= w.cwnd {
		w.caBytes -= w.cwnd
		w.cwnd = min(w.cwnd+w.mss, maxCwnd)
		// A large ACK cannot give more than one SMSS: RFC 5681 §3.1 grows
		// cwnd by at most one SMSS per RTT.
		w.caBytes = min(w.caBytes, w.cwnd-1)
	}
}

// noteAck records that an ACK advanced SND.UNA.
func (w *window) noteAck() { w.rtoHeld = false }

// enterRecovery sets the reduced ssthresh at the start of fast recovery.
func (w *window) enterRecovery(ssthresh int) int {
	w.priorCwnd, w.priorSsthresh, w.undoable = w.cwnd, w.ssthresh, true
	w.ssthresh = max(ssthresh, 2*w.mss)
	w.inRecovery = true
	w.caBytes = 0
	w.afterRTO = false
	return w.ssthresh
}

// OnRecoveryEnd ends fast recovery: cwnd = ssthresh (RFC 6937 §3, RFC
// 6582 §3.2 step 3 option 2).
func (w *window) OnRecoveryEnd(now int64) {
	if !w.inRecovery {
		return
	}
	w.inRecovery = false
	w.cwnd = w.ssthresh
	w.caBytes = 0
}

// timeout applies a retransmission timeout with the given new ssthresh:
// RFC 5681 §3.1, cwnd = LW = 1 SMSS, and ssthresh unless held.
func (w *window) timeout(ssthresh int) {
	w.undoable = false
	if !w.rtoHeld {
		w.ssthresh = max(ssthresh, 2*w.mss)
	}
	w.rtoHeld = true
	w.afterRTO = true
	w.inRecovery = false
	w.cwnd = w.mss
	w.caBytes = 0
}

// undo restores cwnd and ssthresh from before the last fast recovery,
// once it is over, and reports whether it did.
func (w *window) undo() bool {
	if !w.undoable || w.inRecovery {
		return false
	}
	w.undoable = false
	w.cwnd = min(max(w.cwnd, w.priorCwnd), maxCwnd)
	w.ssthresh = max(w.ssthresh, w.priorSsthresh)
	w.caBytes = 0
	return true
}

// restart applies RFC 5681 §4.1 after idle: cwnd = min(IW, cwnd) when no
// data was sent for more than one RTO. It reports whether cwnd shrank.
func (w *window) restart(idle, rto int64) bool {
	if idle <= rto || w.cwnd <= w.iw {
		return false
	}
	w.cwnd = w.iw
	w.caBytes = 0
	return true
}
