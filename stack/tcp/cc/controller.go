package cc

import (
	"math"
	"time"

	"github.com/ustack/ustack/stack/tcp/seq"
)

// InfiniteSsthresh is the initial slow-start threshold: "arbitrarily high"
// (RFC 5681 §3.1).
const InfiniteSsthresh = math.MaxInt32

// maxCwnd bounds cwnd so that byte arithmetic never overflows; it is far
// beyond any window TCP can use (RFC 7323 caps the window at 2^30).
const maxCwnd = 1 << 30

// InitialWindow is the RFC 6928 §2 initial window for an MSS:
// min(10*MSS, max(2*MSS, 14600)) bytes.
func InitialWindow(mss int) int {
	return min(10*mss, max(2*mss, 14600))
}

var (
	_ Controller = (*Reno)(nil)
	_ Controller = (*Cubic)(nil)
)

// Controller sizes the congestion window of one connection. See the package
// documentation for the order in which the sender calls it.
type Controller interface {
	// Name identifies the algorithm ("newreno", "cubic").
	Name() string
	// Cwnd is the congestion window in bytes.
	Cwnd() int
	// Ssthresh is the slow-start threshold in bytes.
	Ssthresh() int
	// InSlowStart reports whether cwnd < ssthresh (RFC 5681 §3.1).
	InSlowStart() bool
	// InRecovery reports whether OnLoss was called and neither
	// OnRecoveryEnd nor OnRTO has been since.
	InRecovery() bool
	// OnAck grows cwnd for an ACK that advanced SND.UNA outside recovery
	// (slow start, congestion avoidance). It does nothing in recovery.
	OnAck(a Ack, now int64)
	// OnLoss starts fast recovery with inflight bytes outstanding
	// (FlightSize): it sets ssthresh and returns it. cwnd is then the
	// caller's to drive with PRR and SetCwnd until OnRecoveryEnd.
	OnLoss(inflight int, now int64) int
	// OnRecoveryEnd ends fast recovery: cwnd = ssthresh.
	OnRecoveryEnd(now int64)
	// OnRTO responds to a retransmission timeout with inflight bytes
	// outstanding: cwnd = 1 MSS (the loss window of RFC 5681 §3.1) and
	// ssthresh reduced, unless this is a repeated timeout with no ACK in
	// between, when ssthresh is held.
	OnRTO(inflight int, now int64)
	// OnIdle is called before sending when nothing is in flight; idle is
	// the time since the last transmission and rto the current RTO.
	OnIdle(idle, rto time.Duration, now int64)
	// SetMSS changes the sender MSS used for increments and floors.
	SetMSS(mss int)
	// SetCwnd sets cwnd; the caller uses it during recovery (PRR).
	SetCwnd(cwnd int)
	// Undo reverses the reduction of the last OnLoss, once its recovery
	// is over and the receiver has reported every retransmission of it as
	// a duplicate (D-SACK, RFC 3708): cwnd and ssthresh no less than
	// before it, and CUBIC's W_max as it was (RFC 9438 §4.9). A timeout
	// since is not undone. It reports whether there was a reduction to
	// undo.
	Undo(now int64) bool
}

// Ack describes an ACK that advanced SND.UNA.
type Ack struct {
	// Acked is the number of bytes newly acknowledged cumulatively.
	Acked int
	// RTT is the round-trip sample this ACK gave, zero if none (Karn's
	// rule, RFC 6298 §3). HyStart++ watches it.
	RTT time.Duration
	// SRTT is the smoothed round-trip time after this ACK, zero if
	// unknown. CUBIC looks one SRTT ahead (RFC 9438 §4.2).
	SRTT time.Duration
	// Una is SND.UNA after the ACK and Nxt is SND.NXT; HyStart++ uses them
	// to tell rounds apart (RFC 9406 §4.2).
	Una, Nxt seq.Value
	// AppLimited is true when the sender did not fill cwnd over the flight
	// this ACK covers (for example the most bytes in flight in the last
	// round stayed below cwnd in congestion avoidance, or below cwnd/2 in
	// slow start, as Linux decides). cwnd does not grow then (RFC 7661,
	// RFC 9438 §5.8).
	AppLimited bool
}

// Config configures a Controller. Only MSS is required.
type Config struct {
	// MSS is the sender maximum segment size (SMSS) in bytes.
	MSS int
	// InitialWindow overrides the RFC 6928 initial window, in bytes.
	InitialWindow int
	// ABCLimit is L of RFC 3465 §2.2 in segments: the most cwnd grows
	// for one ACK in slow start. Zero means 2. After a retransmission
	// timeout L is 1 until slow start ends (RFC 3465 §2.3).
	ABCLimit int
	// NoHyStart makes CUBIC use the slow start of RFC 5681 rather than
	// HyStart++ (RFC 9438 §4.10 says SHOULD use HyStart++).
	NoHyStart bool
	// NoFastConvergence turns off CUBIC fast convergence (RFC 9438 §4.7).
	NoFastConvergence bool
}
