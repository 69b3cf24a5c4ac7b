package stack

import (
	"github.com/ustack/ustack/stack/tcp/sack"
	"github.com/ustack/ustack/stack/tcp/seq"
	"github.com/ustack/ustack/stack/wire"
)

// dupThresh is the duplicate ACK threshold of RFC 5681 §3.2.
const dupThresh = 3

// updateSACK feeds the SACK blocks of an ACK to the scoreboard (RFC 2018,
// RFC 6675).
func (c *tcpConn) updateSACK(seg *segment) (dsack bool) {
	var blocks [wire.TCPMaxSACKBlocks]sack.Block
	n := 0
	for i := 0; i < seg.opts.NumSACK; i++ {
		b := seg.opts.SACK[i]
		blocks[n] = sack.Block{Start: seq.Value(b.Left), End: seq.Value(b.Right)}
		n++
	}
	newly, dsack := c.sb.Update(seg.ack, c.sndMax, blocks[:n])
	c.newlySacked += newly
	if dsack {
		c.q.counters.TCP.DSACKs++
		if c.undoArmed && blocks[0].End.LessEq(c.recover) {
			// A duplicate of data sent before the last recovery began: one
			// of its retransmissions (or more, for a longer block) was
			// not needed.
			c.undoRetrans -= int32(max(1, blocks[0].Len()/max(c.mss, 1)))
		}
	}
	return dsack
}

// tryUndo undoes the window reduction of the last recovery once it is
// over and every retransmission it made was reported as a duplicate.
func (c *tcpConn) tryUndo() {
	if c.undoArmed && !c.inRecovery && c.undoRetrans <= 0 {
		c.undoArmed = false
		if c.cc.Undo(c.q.now) {
			c.q.counters.TCP.DSACKUndos++
		}
	}
}

// dupAck counts a duplicate ACK and starts fast retransmit and recovery on
// the third (RFC 5681 §3.2, RFC 6582) or when SACK shows a loss (RFC 6675
// §5).
func (c *tcpConn) dupAck(seg *segment) {
	c.dupAcks++
	if c.inRecovery {
		c.recoveryAck(seg, c.sndUna, 0)
		return
	}
	lost := c.dupAcks >= dupThresh
	if c.sackOK && !lost {
		lost = c.sb.IsLost(c.sndUna)
	}
	if !lost {
		// Limited transmit (RFC 3042) happens in output.
		return
	}
	// RFC 6582 §3.2 step 2: no new recovery until the previous one's data
	// is all acknowledged.
	if !c.sackOK && c.sndUna.LessEq(c.recover) && c.recover != c.iss {
		return
	}
	c.enterRecovery(c.newlySacked)
}

// enterRecovery starts fast recovery: ssthresh from the congestion control,
// PRR from the flight size, and the first retransmission at once. delivered
// is what the ACK that started it SACKed: PRR counts it (RFC 6937 §3, "on
// every ACK starting or during fast recovery"), so that with a small window
// new data follows the retransmission, whose SACK shows whether the
// retransmission arrived.
func (c *tcpConn) enterRecovery(delivered int) {
	c.q.counters.TCP.FastRetrans++
	c.endTLP()
	c.inRecovery = true
	c.recover = c.sndMax
	c.highRxt = c.sndUna
	c.rescued = false
	c.undoRetrans, c.undoArmed = 0, true
	c.nRxts = 0
	flight := int(c.sndMax.Sub(c.sndUna))
	ssthresh := c.cc.OnLoss(flight, c.q.now)
	c.prr.Enter(ssthresh, flight, c.mss)
	c.prrStep(delivered)
	// The fast retransmit goes whatever PRR allows (RFC 6675 §5 step 4).
	c.retransmitNext(true)
}

// prrStep runs PRR for an ACK in recovery that delivered bytes: cwnd
// becomes pipe plus what PRR allows now (RFC 6937 §3).
func (c *tcpConn) prrStep(delivered int) int {
	pipe := int(c.sndMax.Sub(c.sndUna))
	if c.sackOK {
		pipe = c.sb.Pipe(c.sndUna, c.sndMax, c.highRxt)
	}
	sndcnt := c.prr.OnAck(delivered, pipe)
	c.cc.SetCwnd(pipe + sndcnt)
	return sndcnt
}

// recoveryAck handles an ACK during recovery: PRR decides how much may
// be sent (RFC 6937), and with SACK the scoreboard says what (RFC 6675
// NextSeg); without SACK a partial ACK retransmits the next hole (RFC
// 6582 §3.2 step 5).
func (c *tcpConn) recoveryAck(seg *segment, prevUna seq.Value, acked int) {
	if c.recover.LessEq(c.sndUna) {
		// Full acknowledgment: recovery is over (RFC 6582 §3.2 step 4).
		c.inRecovery = false
		c.dupAcks = 0
		c.cc.OnRecoveryEnd(c.q.now)
		return
	}
	delivered := acked
	if c.sackOK {
		delivered += c.newlySacked
	}
	sndcnt := c.prrStep(delivered)
	if !c.sackOK {
		if acked > 0 {
			// A partial ACK: the next segment was lost too (RFC 6582
			// §3.2 step 5).
			c.highRxt = c.sndUna
			c.retransmitNext(true)
		}
		return
	}
	// Retransmissions lost in turn first, then RFC 6675 NextSeg: lost
	// segments, within what PRR allows; new data follows in output.
	sent := c.resendLostRetransmits(sndcnt)
	for sent < sndcnt {
		n := c.retransmitNext(false)
		if n == 0 {
			break
		}
		sent += n
	}
}

// maxRxtMarks bounds the retransmissions a connection watches for loss;
// past it the oldest is forgotten and left to the retransmission timer.
const maxRxtMarks = 16

// rxtMark is a retransmitted range of n bytes from start, SND.MAX when it
// went out and when (rxtClock), packed in 12 bytes: a connection keeps
// maxRxtMarks of them.
type rxtMark struct {
	start, sndMax seq.Value
	n, at         uint16
}

func (m rxtMark) end() seq.Value { return m.start.Add(int(m.n)) }

// rxtClock is the time of rxtMark: units of 16.384 us (2^14 ns), wrapping
// after a second, which only makes a mark older than that look recent.
func rxtClock(now int64) uint16 { return uint16(now >> 14) }

// markRxt remembers a retransmission of [s, s+n) made in recovery, after
// the others: the marks are in the order they went out.
func (c *tcpConn) markRxt(s seq.Value, n int) {
	if c.nRxts == maxRxtMarks {
		copy(c.rxts[:], c.rxts[1:])
		c.nRxts--
	}
	c.rxts[c.nRxts] = rxtMark{start: s, sndMax: c.sndMax, n: uint16(n), at: rxtClock(c.q.now)}
	c.nRxts++
}

// resendLostRetransmits finds retransmissions that were lost too and sends
// them again, up to budget bytes. RFC 6675 retransmits a hole once per
// recovery, so a lost retransmission waits for the timer; but one is lost
// (barring reordering) once data sent after it has arrived, as RACK (RFC
// 8985 §6.2) concludes from send order: data first sent after it that the
// receiver SACKs, or a later retransmission acknowledged or SACKed at
// least half a round trip after it went out (sooner, the ACK was the
// original's). It returns the bytes it sent.
func (c *tcpConn) resendLostRetransmits(budget int) int {
	if c.nRxts == 0 {
		return 0
	}
	high, sacked := c.sb.HighestSacked()
	now := rxtClock(c.q.now)
	halfRTT := uint16(min(int64(c.rtt.SRTT()/2)>>14, 1<<16-1))
	// Newest first, so that each mark knows whether a later one arrived.
	var lost [maxRxtMarks]bool
	later := false
	for i := c.nRxts - 1; i >= 0; i-- {
		m := c.rxts[i]
		start := seq.Max(m.start, c.sndUna)
		if !start.LessThan(m.end()) || c.sb.Sacked(start) {
			later = later || now-m.at >= halfRTT
			continue
		}
		lost[i] = later || (sacked && m.sndMax.LessThan(high))
	}
	// Keep the marks in sending order: those resent now go last.
	var resent [maxRxtMarks]rxtMark
	sent, kept, nResent := 0, 0, 0
	for i := 0; i < c.nRxts; i++ {
		m := c.rxts[i]
		start, end := seq.Max(m.start, c.sndUna), m.end()
		if !start.LessThan(end) {
			continue // acknowledged
		}
		if !lost[i] || sent >= budget {
			c.rxts[kept] = m
			kept++
			continue
		}
		n := int(end.Sub(start))
		c.q.counters.TCP.LostRetransmits++
		// The mark was one segment when it went out; the SACK blocks
		// segments carry now may leave room for less (segMSS).
		for s := start; s.LessThan(end); {
			k := min(int(end.Sub(s)), c.segMSS())
			c.resend(s, k, wire.TCPFlagACK)
			s = s.Add(k)
		}
		resent[nResent] = rxtMark{start: start, sndMax: c.sndMax, n: uint16(n), at: now}
		nResent++
		sent += n
	}
	c.nRxts = kept + copy(c.rxts[kept:], resent[:nResent])
	return sent
}

// retransmitNext resends the next segment recovery calls for: the first
// unacknowledged one without SACK, the next lost one with SACK (RFC 6675
// NextSeg rule 1). force resends the first unacknowledged segment when
// nothing is known lost (the fast retransmit itself). It returns how many
// bytes it resent.
func (c *tcpConn) retransmitNext(force bool) int {
	s := c.sndUna
	n := 0
	if c.sackOK {
		sendable := max(0, min(int(c.dataEnd().Sub(c.sndMax)), int(c.sndEdge().Sub(c.sndMax))))
		g, ok := c.sb.NextSeg(c.sndUna, c.sndMax, c.highRxt, sendable)
		switch {
		case ok && g.Kind != sack.SendNew:
			s, n = g.Start, min(g.Len, c.segMSS())
		case !ok && !force:
			return c.rescue()
		case !force:
			// New data (rule 2) is output's to send.
			return 0
		}
	} else if c.sndUna.LessThan(c.highRxt) && !force {
		return 0
	}
	if n == 0 {
		// Data sent before may go again whatever the window says now;
		// beyond SND.MAX only what the peer's window takes.
		n = min(c.segMSS(), int(c.dataEnd().Sub(s)), max(int(c.sndMax.Sub(s)), int(c.sndEdge().Sub(s))))
	}
	if n <= 0 {
		if c.finSent && s.Add(1) == c.sndMax {
			c.sendSegment(s, 0, wire.TCPFlagFIN|wire.TCPFlagACK)
			return 1
		}
		return 0
	}
	c.retransmit(s, n)
	return n
}

// rescue is RFC 6675 NextSeg rule 4, once per recovery when no other rule
// gives a segment: the last unSACKed segment goes again (with the FIN if it
// carried it), HighRxt left alone. A lost tail, with nothing sent after it
// to be SACKed, is otherwise left to the retransmission timer. It returns
// the bytes it resent.
func (c *tcpConn) rescue() int {
	if c.rescued {
		return 0
	}
	// Below HighData (SND.MAX, less our FIN): the send buffer may hold
	// data never sent, which is not the rescue's to send, and beyond the
	// peer's window perhaps.
	high := c.sndMax
	if c.finSent && c.finSeq.Add(1) == high {
		high = c.finSeq
	}
	g, ok := c.sb.Rescue(c.sndUna, high)
	if !ok {
		return 0
	}
	c.rescued = true
	// The segment ends at the highest unSACKed octet; the SACK blocks it
	// carries may leave room for less than the scoreboard's SMSS.
	n := min(g.Len, c.segMSS())
	start := g.End().Add(-n)
	flags := wire.TCPFlagACK
	if c.finSent && g.End() == c.finSeq {
		flags |= wire.TCPFlagFIN
	}
	c.resend(start, n, flags)
	c.markRxt(start, n)
	return n
}

// retransmit resends [s, s+n) as loss recovery's next retransmission:
// HighRxt moves past it, and in SACK recovery it is watched for loss.
func (c *tcpConn) retransmit(s seq.Value, n int) {
	c.resend(s, n, wire.TCPFlagACK)
	if c.highRxt.LessThan(s.Add(n)) {
		c.highRxt = s.Add(n)
	}
	if c.inRecovery && c.sackOK {
		c.markRxt(s, n)
	}
}

// resend sends [s, s+n) again with flags; sendSegment leaves SND.NXT
// where new data goes on, unless the segment ends past it.
func (c *tcpConn) resend(s seq.Value, n int, flags wire.TCPFlags) {
	c.sendSegment(s, n, flags)
	c.prr.Sent(n)
	if c.inRecovery {
		c.undoRetrans++
	}
}
