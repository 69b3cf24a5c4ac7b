// Package sack is TCP selective acknowledgment: the sender's scoreboard for
// SACK-based loss recovery (RFC 6675, RFC 2018, D-SACK detection of RFC
// 2883) and the receiver's choice of SACK blocks (RFC 2018 §4, RFC 2883 §4).
//
// # Sender: Scoreboard
//
// A Scoreboard remembers which ranges above SND.UNA the receiver has
// SACKed, in a fixed array of MaxRanges ranges, so it never allocates. The
// TCP sender, per connection:
//
//  1. On every ACK, before anything else uses the board: newly, dsack :=
//     board.Update(SND.UNA after the ACK, SND.NXT, the ACK's SACK blocks).
//     Update also forgets what the cumulative ACK now covers. DeliveredData
//     for PRR (RFC 6937 §3) is the advance of SND.UNA plus the change in
//     SackedBytes across the Update. A dsack result reports a duplicate
//     (RFC 2883), for spurious-retransmission detection.
//  2. Outside recovery, loss is detected when board.IsLost(SND.UNA) (RFC 6675
//     §5: DupThresh discontiguous SACKed ranges, or more than
//     (DupThresh-1)*SMSS bytes, above it), or on the DupThresh-th duplicate
//     ACK. Enter recovery then (RFC 6675 §5 steps 4.1-4.3; the congestion
//     side is package cc).
//  3. In recovery, pipe := board.Pipe(SND.UNA, SND.NXT, HighRxt) (RFC 6675
//     §4 SetPipe). While cwnd - pipe >= 1 SMSS (or while PRR's sndcnt
//     allows): seg, ok := board.NextSeg(SND.UNA, SND.NXT, HighRxt, sendable)
//     with sendable the new bytes that the send buffer and peer window allow;
//     send it; for a retransmission set HighRxt = seg.End() (RFC 6675 §5
//     step C.2). HighRxt is exclusive, one past the highest retransmitted
//     octet; pass SND.UNA when nothing was retransmitted in this recovery.
//  4. RFC 6675 §4 NextSeg rule 4 (the rescue retransmission) is Rescue: once
//     per recovery, when NextSeg finds nothing, SND.UNA is above RescueRxt (or
//     RescueRxt is unset) and data is outstanding, send board.Rescue(...) and
//     set RescueRxt = RecoveryPoint, leaving HighRxt as it is.
//  5. On a retransmission timeout call Reset: the receiver may have reneged,
//     and RFC 2018 §8 / RFC 6675 §5.1 ask the sender to stop trusting old
//     SACK information.
//
// # Receiver: Reporter
//
// A Reporter remembers which out-of-order blocks were reported most
// recently, so that each ACK leads with the block holding the segment that
// triggered it and repeats the most recently reported blocks after it (RFC
// 2018 §4); a duplicate segment is reported once as a D-SACK block (RFC 2883
// §4). The receiver's reassembly queue keeps the out-of-order ranges; the
// Reporter only orders them.
package sack
