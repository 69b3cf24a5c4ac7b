package stack

import (
	"time"

	"github.com/ustack/ustack/stack/tcp/sack"
	"github.com/ustack/ustack/stack/tcp/seq"
	"github.com/ustack/ustack/stack/wire"
)

// The loss timer finds losses at the end of a flight, which send no
// duplicate ACKs to count (RFC 8985): with nothing SACKed it is the tail
// loss probe timer (§7), and once the receiver SACKs data above a hole it
// is the reordering window (§6.3), after which the hole is taken as lost.
// Without it such losses wait for the retransmission timeout.

const (
	// tlpMinExtra is added to a PTO of a flight of several segments, as
	// Linux adds TCP_TIMEOUT_MIN, so that a timer's granularity never
	// fires a probe just before the ACK it waits for.
	tlpMinExtra = 2 * time.Millisecond
	// tlpDelAckMax is RFC 8985 §7.2's WCDelAckT: a flight of one
	// segment may meet a delayed ACK.
	tlpDelAckMax = 200 * time.Millisecond
	// minReoWnd is the shortest reordering window.
	minReoWnd = time.Millisecond
)

// armLossTimer arms, moves or cancels the loss timer after an ACK or new
// data went out (c.lossRestart), and whenever the conditions change. output
// calls it in the states that send data.
func (c *tcpConn) armLossTimer() {
	q := c.q
	t := &c.timers[timerLoss]
	// After a timeout (backoff) the sender goes back over the whole
	// flight anyway; the loss timer waits for an ACK of new data.
	if q.s.cfg.TCP.DisableTLP || !c.sackOK || c.backoff > 0 || c.sndUna == c.sndMax {
		q.timers.Cancel(&t.Timer)
		return
	}
	if c.inRecovery {
		// No probes in recovery (RFC 8985 §7.2), but the reordering
		// window still runs (§6.2): a hole below SACKed data that RFC
		// 6675 does not call lost yet is lost once the window has
		// passed, or a small window would have no ACKs left to show it.
		if _, ok := c.unlostHole(); !ok {
			c.lossReorder = false
			q.timers.Cancel(&t.Timer)
		} else if !t.Pending() || !c.lossReorder {
			c.lossReorder = true
			c.schedule(timerLoss, max(c.rtt.SRTT()/4, minReoWnd))
		}
		return
	}
	restart := c.lossRestart
	c.lossRestart = false
	if c.sb.Len() > 0 {
		// A hole below SACKed data: it is lost unless it arrives within
		// the reordering window (RFC 8985 §6.2 step 4: a quarter of the
		// round trip). The window runs from the first SACK that showed
		// it and is not pushed back by later ACKs.
		if !t.Pending() || !c.lossReorder {
			c.lossReorder = true
			c.schedule(timerLoss, max(c.rtt.SRTT()/4, minReoWnd))
		}
		return
	}
	if c.lossReorder {
		c.lossReorder = false
		q.timers.Cancel(&t.Timer)
	}
	if c.tlpOut || !c.rtt.HasSample() {
		q.timers.Cancel(&t.Timer)
		return
	}
	if t.Pending() && !restart {
		return
	}
	// RFC 8985 §7.2: PTO = 2·SRTT, plus the worst delayed ACK when a
	// single segment is in flight; never past the RTO.
	pto := 2 * c.rtt.SRTT()
	if int(c.sndMax.Sub(c.sndUna)) <= c.mss {
		pto += tlpDelAckMax
	} else {
		pto += tlpMinExtra
	}
	if rto := &c.timers[timerRTO]; rto.Pending() && rto.When() <= q.now+int64(pto) {
		q.timers.Cancel(&t.Timer)
		return
	}
	c.schedule(timerLoss, pto)
}

// onLossTimer runs the loss timer: the end of a reordering window, or a
// tail loss probe.
func (c *tcpConn) onLossTimer() {
	if !c.sackOK || c.sndUna == c.sndMax || !c.state.synchronized() {
		return
	}
	if c.inRecovery {
		if g, ok := c.unlostHole(); ok && c.lossReorder {
			c.q.counters.TCP.ReorderTimeouts++
			c.retransmit(g.Start, min(g.Len, c.segMSS()))
		}
		c.lossReorder = false
		c.armLossTimer()
		return
	}
	if c.lossReorder {
		c.lossReorder = false
		if c.sb.Len() > 0 && !c.sb.Sacked(c.sndUna) {
			c.q.counters.TCP.ReorderTimeouts++
			c.endTLP()
			c.enterRecovery(0)
		}
		return
	}
	if c.tlpOut || c.backoff > 0 {
		return
	}
	c.sendProbe()
}

// unlostHole is, in recovery, the first hole above HighRxt with SACKed
// data above it that RFC 6675 does not count lost yet: fewer than
// DupThresh segments were SACKed above it (NextSeg rule 3's segment).
func (c *tcpConn) unlostHole() (sack.Segment, bool) {
	g, ok := c.sb.NextSeg(c.sndUna, c.sndMax, c.highRxt, 0)
	return g, ok && g.Kind == sack.RetransmitUnsacked
}

// sendProbe sends a tail loss probe (RFC 8985 §7.3): a segment of new
// data if the peer's window takes one, else the last segment again. Its
// ACK, or the SACK of it, shows the loss to the usual recovery. The RTO
// restarts after it.
func (c *tcpConn) sendProbe() {
	q := c.q
	unsent := int(c.dataEnd().Sub(c.sndMax))
	room := int(c.sndEdge().Sub(c.sndMax))
	if unsent > 0 && room > 0 && c.sndNxt == c.sndMax {
		n := min(c.segMSS(), unsent, room)
		flags := wire.TCPFlagACK
		if c.sndMax.Add(n) == c.dataEnd() {
			flags |= wire.TCPFlagPSH
		}
		c.sendSegment(c.sndMax, n, flags)
		c.tlpRxt = false
	} else {
		end, flags := c.sndMax, wire.TCPFlagACK
		if c.finSent && c.finSeq.Add(1) == c.sndMax {
			end, flags = c.finSeq, wire.TCPFlagACK|wire.TCPFlagFIN
		}
		start := seq.Max(c.sndUna, end.Add(-c.segMSS()))
		c.sendSegment(start, int(end.Sub(start)), flags)
		c.tlpRxt = true
	}
	c.tlpOut, c.tlpEnd, c.tlpDSACK = true, c.sndMax, false
	q.counters.TCP.TailLossProbes++
	c.schedule(timerRTO, c.rtt.RTO())
}

// tlpAck ends a probe's episode on the ACK that shows its fate (RFC 8985
// §7.4): a probe of new data needs nothing more; a retransmitted one that
// the receiver reports as a duplicate (D-SACK, or a pure duplicate ACK
// once its range is acknowledged) found no loss; one that the ACK goes
// beyond without a D-SACK repaired a loss, which costs what fast recovery
// would cost: cwnd = ssthresh, once.
func (c *tcpConn) tlpAck(seg *segment, advanced, dsack bool) {
	if !c.tlpOut {
		return
	}
	if dsack {
		c.tlpDSACK = true
	}
	switch {
	case seg.ack.LessThan(c.tlpEnd):
	case !c.tlpRxt || c.tlpDSACK:
		c.endTLP()
	case c.tlpEnd.LessThan(seg.ack):
		c.endTLP()
		c.q.counters.TCP.TLPRecoveries++
		c.cc.OnLoss(int(c.sndMax.Sub(c.sndUna)), c.q.now)
		c.cc.OnRecoveryEnd(c.q.now)
	case !advanced && len(seg.payload) == 0 && c.newlySacked == 0:
		// A pure duplicate ACK at the probe's end: the original and
		// the probe both arrived.
		c.endTLP()
	}
}

// endTLP forgets the probe in flight: recovery or a timeout took over, or
// its episode ended.
func (c *tcpConn) endTLP() { c.tlpOut = false }
