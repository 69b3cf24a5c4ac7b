package stack

import (
	"syscall"
	"time"

	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/wire"
)

// schedule arms one of the connection's timers d from now.
func (c *tcpConn) schedule(kind uint8, d time.Duration) {
	c.q.timers.Schedule(&c.timers[kind].Timer, c.q.now+int64(d))
}

func (c *tcpConn) onTimer(kind uint8, now int64) {
	switch kind {
	case timerRTO:
		c.onRTO()
	case timerDelACK:
		if c.state.synchronized() && (c.segsUnacked > 0 || c.ackNow) {
			c.q.counters.TCP.DelayedACKs++
			c.sendACK()
		}
	case timerKeepAlive:
		c.onKeepAlive()
	case timerLoss:
		c.onLossTimer()
	}
	c.q.flushAcks()
}

// onRTO handles a retransmission timeout (RFC 6298 §5): back off, collapse
// the window, and resend from the first unacknowledged byte; or give up.
func (c *tcpConn) onRTO() {
	q := c.q
	cfg := &q.s.cfg.TCP
	switch c.state {
	case stateSynSent, stateSynRcvd:
		if c.backoff >= cfg.SynRetries {
			if c.ln != nil {
				c.destroy()
				return
			}
			c.fail(c.softError(syscall.ETIMEDOUT))
			return
		}
		c.backoff++
		c.rtt.Backoff()
		// RFC 6298 §5.7: after a lost SYN, the RTO once data flows is
		// 3 s (we keep the backed-off value, which is at least that).
		if c.state == stateSynSent {
			c.sendSyn()
		} else {
			c.sendSynAck()
		}
		c.schedule(timerRTO, c.rtt.RTO())
		return
	case stateClosed, stateListen, stateTimeWait:
		return
	}
	if c.sndUna == c.sndMax {
		if c.dataEnd() != c.sndUna {
			c.probeWindow()
		}
		return
	}
	if c.firstRTOAt == 0 {
		// The oldest unacknowledged data has waited at least since the
		// timer was armed, one RTO ago: RFC 5482's user timeout counts
		// from when data was sent, not from its first retransmission.
		c.firstRTOAt = q.now - int64(c.rtt.RTO())
	}
	giveUp := c.backoff >= cfg.Retries
	zeroWnd := c.sndWnd == 0 && !c.orphan
	if zeroWnd {
		// RFC 1122 §4.2.2.17 (MUST): while the peer answers the probes
		// of its closed window the connection stays open, however many
		// there are; it is given up only once the peer has been silent
		// for MaxRTO (as Linux's tcp_retransmit_timer).
		giveUp = q.now-c.lastRecv > int64(cfg.MaxRTO)
	}
	ut := int64(c.userTimeout)
	if giveUp || (ut > 0 && q.now-c.firstRTOAt >= ut) {
		q.counters.TCP.Timeouts++
		c.fail(c.softError(syscall.ETIMEDOUT))
		return
	}
	q.counters.TCP.RTOs++
	c.endTLP()
	q.timers.Cancel(&c.timers[timerLoss].Timer)
	c.backoff++
	c.rtt.Backoff()
	c.cc.OnRTO(int(c.sndMax.Sub(c.sndUna)), q.now)
	c.inRecovery = false
	c.undoArmed = false
	c.dupAcks = 0
	c.recover = c.sndMax
	c.rtTiming = false
	if c.sackOK && c.backoff > 1 {
		// RFC 2018 §8: a timeout may mean the receiver reneged on what
		// it SACKed. The first timeout keeps the marks, so the resend
		// skips data the receiver holds (as Linux does); a second one
		// in a row drops them, in case it did renege.
		c.sb.Reset()
	}
	c.sndNxt = c.sndUna
	c.highRxt = c.sndUna
	q.timers.Cancel(&c.timers[timerRTO].Timer)
	if zeroWnd && c.dataEnd().Sub(c.sndUna) > 0 {
		// A probe of a closed window carries one byte beyond it (RFC
		// 9293 §3.8.6.1), not a full segment.
		c.sendSegment(c.sndUna, 1, wire.TCPFlagACK)
	} else {
		c.retransmitNext(true)
	}
	// The loss window holds one segment: with more to go back over, the
	// sender is cwnd-limited and the next ACK must grow cwnd (RFC 5681
	// §3.1); only sendData updates the flag otherwise, and a stale
	// "application-limited" would hold slow start for a round trip.
	c.cwndLimited = c.sndNxt != c.dataEnd()
	d := c.rtt.RTO()
	if ut > 0 {
		// Fail when the user timeout expires, not at the next RTO after.
		d = min(d, time.Duration(c.firstRTOAt+ut-q.now))
	}
	c.schedule(timerRTO, d)
}

// probeWindow runs when data waits for the peer's window and nothing is in
// flight: what the window allows goes out whatever SWS avoidance says,
// and a closed window is probed with one byte past it (RFC 9293
// §3.8.6.1). The peer's ACK tells whether the window opened.
func (c *tcpConn) probeWindow() {
	q := c.q
	q.counters.TCP.WindowProbes++
	n := min(c.segMSS(), int(c.dataEnd().Sub(c.sndNxt)), max(c.sndWnd, 1))
	c.sendSegment(c.sndNxt, n, wire.TCPFlagACK)
	if c.sndWnd == 0 {
		c.backoff++
		c.rtt.Backoff()
	}
	c.schedule(timerRTO, c.rtt.RTO())
}

// onKeepAlive serves three purposes by state: keepalive probes (RFC 1122
// §4.2.3.6), the FIN-WAIT-2 timeout and the end of TIME-WAIT.
func (c *tcpConn) onKeepAlive() {
	q := c.q
	switch c.state {
	case stateTimeWait, stateFinWait2:
		if c.state == stateFinWait2 && !c.orphan {
			return
		}
		c.destroy()
		return
	case stateEstablished, stateCloseWait:
	default:
		return
	}
	if !c.keepAlive {
		return
	}
	idle := time.Duration(q.now - c.lastRecv)
	if idle < c.keepIdle {
		c.schedule(timerKeepAlive, c.keepIdle-idle)
		return
	}
	if c.keepProbes >= c.keepCnt {
		q.counters.TCP.KeepAliveTimeouts++
		c.fail(syscall.ETIMEDOUT)
		return
	}
	c.keepProbes++
	q.counters.TCP.KeepAliveProbes++
	// A probe is an ACK with SEG.SEQ = SND.NXT-1: the peer must answer.
	var opts wire.TCPOptions
	if c.tsOK {
		opts.HasTimestamps, opts.TSVal, opts.TSEcr = true, c.tsNow(), c.tsRecent
	}
	c.emit(c.sndUna.Add(-1), wire.TCPFlagACK, &opts, nil, nil, 0, false)
	c.schedule(timerKeepAlive, c.keepIntvl)
}

// enterTimeWait moves to TIME-WAIT for 2·MSL (RFC 9293 §3.6.1).
func (c *tcpConn) enterTimeWait() {
	q := c.q
	c.setState(stateTimeWait)
	if c.orphan {
		// TIME-WAIT sends nothing more and holds no buffers: it is
		// bounded as a connection (MaxConnections), not as an orphan,
		// as Linux counts it apart (tcp_max_tw_buckets). Otherwise a
		// server that closes first would reset new connections once
		// MaxOrphans of them waited.
		c.orphan = false
		q.tcp.orphans--
	}
	q.timers.Cancel(&c.timers[timerRTO].Timer)
	q.timers.Cancel(&c.timers[timerDelACK].Timer)
	q.timers.Cancel(&c.timers[timerLoss].Timer)
	c.schedule(timerKeepAlive, 2*q.s.cfg.TCP.MSL)
	c.releaseBuffers()
	if c.sock != nil {
		c.sock.wakeAll()
	}
}

// established completes a handshake.
func (c *tcpConn) established() {
	q := c.q
	c.setState(stateEstablished)
	if c.backoff > 0 && !c.rtt.HasSample() {
		// RFC 6298 §5.7 (MUST): the SYN or SYN-ACK timed out and gave no
		// sample, so data starts with an RTO of 3 s, not the initial
		// 1 s nor one backoff's 2 s (Linux's TCP_TIMEOUT_FALLBACK).
		c.rtt.SetRTO(3 * time.Second)
	}
	c.backoff = 0
	q.timers.Cancel(&c.timers[timerRTO].Timer)
	c.confirmPath()
	if c.keepAlive {
		c.schedule(timerKeepAlive, c.keepIdle)
	}
	if c.ln != nil {
		q.counters.TCP.PassiveOpens++
		c.ln.ready(c)
		return
	}
	q.counters.TCP.ActiveOpens++
	if c.sock != nil {
		c.sock.connected()
	}
}

// fail ends the connection with an error the application will see.
func (c *tcpConn) fail(e syscall.Errno) {
	c.err = e
	c.shErr.Store(int32(e))
	if c.state == stateSynSent || c.state == stateSynRcvd {
		c.q.counters.TCP.AttemptFails++
	}
	c.destroy()
}

// abort resets the connection: RST to the peer, ECONNRESET locally is the
// caller's to decide (a close with unread data reports nothing).
func (c *tcpConn) abort() {
	if c.state.synchronized() || c.state == stateSynRcvd {
		c.q.sendRST(c.key, c.ackSeq(), 0, false)
	}
	c.destroy()
}

// destroy removes the connection from its queue and releases everything.
func (c *tcpConn) destroy() {
	q := c.q
	if c.state == stateClosed {
		return
	}
	c.setState(stateClosed)
	for i := range c.timers {
		q.timers.Cancel(&c.timers[i].Timer)
	}
	q.tcp.remove(c)
	if c.ln != nil {
		c.ln.forget(c)
	}
	c.unchargeBuffers()
	c.releaseBuffers()
	if c.sock != nil {
		c.sock.wakeAll()
	}
}

// releaseBuffers gives the rings and their share of the buffer memory
// back to the stack once no more data can move (TIME-WAIT or CLOSED) and
// the application has closed its socket, so that neither side touches
// them again; until the application closes it may still read what they
// hold. A TIME-WAIT connection so holds no buffers, as Linux's.
func (c *tcpConn) releaseBuffers() {
	if !c.appClosed {
		return
	}
	// A Write between the connection's end and the application's Close
	// may have made and charged the send ring since destroy.
	c.unchargeBuffers()
	if sb := c.sndBuf.Swap(nil); sb != nil {
		if c.pins == nil || c.pins.ring != sb || !c.pins.pinned() {
			ring.Put(sb)
		} else {
			// A ring frames still point into is left to the collector.
			ring.Forget(sb)
		}
	}
	c.sndLag = 0
	c.dropHeld()
	if rb := c.rcvBuf.Swap(nil); rb != nil {
		ring.Put(rb)
	}
}
