// Package cc is TCP congestion control: the Controller interface, NewReno
// (RFC 5681 with Appropriate Byte Counting, RFC 3465), CUBIC (RFC 9438) with
// HyStart++ (RFC 9406), the initial window (RFC 6928) and Proportional Rate
// Reduction for fast recovery (RFC 6937, PRR-SSRB).
//
// Windows are in bytes, time is now in nanoseconds from the caller's clock,
// and nothing here reads a clock, allocates after construction, or depends
// on anything but the calls it is given: the same calls give the same
// windows on every run and every architecture (all arithmetic is integer).
//
// # How the TCP sender drives a Controller
//
// A Controller only sizes the window; loss detection (RFC 6675 with package
// sack, or three duplicate ACKs), retransmission and the recovery point
// (RFC 6582) belong to the caller. Per connection:
//
//  1. Construct with the sender MSS (SMSS, RFC 5681 §2) once the handshake
//     has settled it: NewReno(Config{MSS: mss}) or NewCubic(...). cwnd starts
//     at the RFC 6928 initial window, ssthresh at InfiniteSsthresh. Call SetMSS
//     when path MTU discovery changes the MSS.
//
//  2. On an ACK that advances SND.UNA outside recovery: take the RTT sample
//     first (rtt.Estimator.Sample, Karn's rule), then call OnAck with the
//     bytes newly acknowledged, the sample (0 if none), the smoothed RTT,
//     SND.UNA after the ACK, SND.NXT, and whether the sender was
//     application-limited. OnAck calls made during recovery (between OnLoss
//     and OnRecoveryEnd) change nothing, so the caller may call OnAck on every
//     ACK that advances SND.UNA.
//
//  3. On detecting loss outside recovery (RFC 6675 §5: the scoreboard says
//     IsLost(SND.UNA), or DupThresh duplicate ACKs without SACK): set
//     RecoveryPoint = SND.NXT, call ssthresh := OnLoss(FlightSize, now) with
//     FlightSize = SND.NXT - SND.UNA, then PRR.Enter(ssthresh, FlightSize,
//     MSS). Then, for this ACK and every later ACK in recovery:
//     sndcnt := PRR.OnAck(DeliveredData, pipe); SetCwnd(pipe + sndcnt);
//     send up to sndcnt bytes (retransmissions first, RFC 6675 NextSeg) and
//     report each transmission with PRR.Sent. DeliveredData is the advance of
//     SND.UNA plus the change in SACKed bytes (RFC 6937 §3).
//
//  4. When an ACK covers RecoveryPoint (RFC 6582 §3.2 step 3, a full
//     acknowledgment), call OnRecoveryEnd: cwnd = ssthresh.
//
//  5. When the retransmission timer expires, call OnRTO(FlightSize, now) on
//     every expiry (it holds ssthresh on a repeated timeout of the same
//     segment, RFC 5681 §3.1), and leave recovery without OnRecoveryEnd:
//     OnRTO ends it, and cwnd is one segment.
//
//  6. Before sending data when nothing is in flight, call OnIdle with the time
//     since the last transmission and the current RTO: after an idle period
//     longer than the RTO cwnd restarts from min(cwnd, IW) (RFC 5681 §4.1),
//     and CUBIC does not count idle time as growth time (RFC 9438 §5.8).
//
//  7. When the receiver has reported every retransmission of a finished
//     recovery as a duplicate (D-SACK), call Undo: the reduction was not
//     needed (RFC 3708, RFC 9438 §4.9).
//
// Not done here: undoing a reduction on other evidence (F-RTO RFC 5682
// after a timeout, Eifel RFC 3522 from timestamps), ECN responses (RFC 3168,
// RFC 9438 §4.6 reduction on ECE: the caller may use OnLoss and PRR the same
// way), pacing, and congestion window validation beyond "do not grow while
// application-limited" (RFC 7661).
package cc
