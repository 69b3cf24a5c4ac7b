package stack

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/tcp/cc"
	"github.com/ustack/ustack/stack/tcp/seq"
	"github.com/ustack/ustack/stack/wire"
)

// segment is a received TCP segment, its payload a view into the frame
// valid for the call only.
type segment struct {
	seq     seq.Value
	ack     seq.Value
	flags   wire.TCPFlags
	wnd     uint16
	opts    wire.TCPOptions
	payload []byte
	ce      bool // the IP header says Congestion Experienced (RFC 3168 §5)
}

// seqLen is the sequence space the segment occupies (RFC 9293 §3.4).
func (s *segment) seqLen() int {
	n := len(s.payload)
	if s.flags&wire.TCPFlagSYN != 0 {
		n++
	}
	if s.flags&wire.TCPFlagFIN != 0 {
		n++
	}
	return n
}

func (s *segment) has(f wire.TCPFlags) bool { return s.flags&f != 0 }

// tcpInput demultiplexes a TCP segment (RFC 9293 §3.10.7).
func (q *queue) tcpInput(ifc *iface, f *backend.Frame, ip wire.IPv4, b []byte) {
	q.tcpSegment(ip.SrcAddr(), ip.DstAddr(), ip.IsFragment() || !verified(f), ip.ECN(), b)
}

// tcpSegment is tcpInput for a segment b from src to dst of either family;
// check says its checksum is still to be verified.
func (q *queue) tcpSegment(src, dst netip.Addr, check bool, ecn uint8, b []byte) {
	c := &q.counters.TCP
	c.InSegs++
	t := wire.TCP(b)
	if t.Check() != nil {
		c.InErrs++
		return
	}
	if check && !t.VerifyChecksum(src, dst) {
		c.InCsumErrors++
		c.InErrs++
		return
	}
	if isBroadcast(q.shared(), dst) || dst.IsMulticast() {
		// TCP is unicast only (RFC 1122 §4.2.3.10).
		c.InErrs++
		return
	}
	seg := &q.seg
	*seg = segment{seq: seq.Value(t.Seq()), ack: seq.Value(t.Ack()), flags: t.Flags(), wnd: t.Window(), payload: t.Payload(), ce: ecn == ecnCE}
	if err := seg.opts.Parse(t.Options()); err != nil {
		// RFC 9293 §3.1: a malformed option is grounds to drop the
		// segment (and a length-0 option would loop forever).
		c.InBadOptions++
		c.InErrs++
		return
	}
	key := connKey{local: netip.AddrPortFrom(dst, t.DstPort()), remote: netip.AddrPortFrom(src, t.SrcPort())}
	if conn := q.tcp.lookup(key); conn != nil {
		conn.input(seg)
		return
	}
	if q.s.multiQueue() && q.toOwner(key) {
		// Counted by the owner.
		c.InSegs--
		return
	}
	if ln := q.tcp.listener(key.local); ln != nil {
		ln.input(key, seg)
		return
	}
	q.tcpReset(key, seg)
}

// tcpReset answers a segment for no connection with a reset (RFC 9293
// §3.10.7.1): never a reset for a reset.
func (q *queue) tcpReset(key connKey, seg *segment) {
	if seg.has(wire.TCPFlagRST) {
		return
	}
	q.counters.TCP.NoPorts++
	if seg.has(wire.TCPFlagACK) {
		q.sendRST(key, seg.ack, 0, false)
		return
	}
	q.sendRST(key, 0, seg.seq.Add(seg.seqLen()), true)
}

// input processes a segment for an existing connection, after the
// "SEGMENT ARRIVES" rules of RFC 9293 §3.10.7.3-4.
func (c *tcpConn) input(seg *segment) {
	c.segsIn++
	c.lastRecv = c.q.now
	// The peer is alive: keepalive probes start counting afresh (RFC
	// 1122 §4.2.3.6; Linux resets icsk_probes_out on every ACK).
	c.keepProbes = 0
	switch c.state {
	case stateSynSent:
		c.inputSynSent(seg)
		return
	case stateClosed, stateListen:
		return
	case stateTimeWait:
		if c.reuseTimeWait(seg) {
			return
		}
		if seg.has(wire.TCPFlagFIN) && !seg.has(wire.TCPFlagRST) && seg.seq.Add(seg.seqLen()) == c.rcvNxt {
			// RFC 9293 §3.10.7.4 (TIME-WAIT): a retransmission of the
			// peer's FIN is acknowledged and restarts 2·MSL. It lies
			// before RCV.NXT, so the acceptance test below would only
			// acknowledge it (Linux's tcp_timewait_state_process
			// restarts the timer too).
			c.sendACK()
			c.enterTimeWait()
			return
		}
	}
	// RFC 7323 §5.3 PAWS: a segment whose timestamp is older than
	// TS.Recent is a duplicate from an earlier incarnation.
	if c.tsOK && seg.opts.HasTimestamps && !seg.has(wire.TCPFlagRST) &&
		int32(seg.opts.TSVal-c.tsRecent) < 0 && c.q.now-c.tsRecentT < pawsIdle {
		c.q.counters.TCP.PAWSDrops++
		c.sendACK()
		return
	}
	if c.state == stateSynRcvd && c.ln == nil && seg.flags&(wire.TCPFlagSYN|wire.TCPFlagACK|wire.TCPFlagRST) == wire.TCPFlagSYN|wire.TCPFlagACK &&
		seg.seq == c.irs && seg.ack == c.sndMax {
		// RFC 9293 §3.5 figure 8 line 6: in a simultaneous open the
		// peer's SYN-ACK acknowledges our SYN and completes the open. Its
		// SYN, taken already, lies before RCV.NXT, so the acceptance test
		// would drop it and the open would wait for a retransmission
		// (Linux's tcp_validate_incoming lets it pass likewise). A SYN's
		// window is not scaled (RFC 7323 §2.2).
		c.sndUna = seg.ack
		c.sndWnd = int(seg.wnd)
		c.maxWnd = max(c.maxWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = seg.seq, seg.ack
		c.established()
		return
	}
	if !c.acceptable(seg) {
		// RFC 5961 §3.2: a RST outside the window is dropped silently.
		switch {
		case seg.has(wire.TCPFlagRST):
			c.q.counters.TCP.OutOfWindow++
		case seg.has(wire.TCPFlagSYN) && c.state.synchronized():
			// RFC 5961 §4.2: a SYN gets a (rate-limited) challenge ACK
			// whatever its sequence number.
			c.challengeACK()
		default:
			c.q.counters.TCP.OutOfWindow++
			if end := seg.seq.Add(len(seg.payload)); end.LessEq(c.rcvNxt) {
				// Data we have: a retransmission the peer did not need.
				c.duplicate(seg.seq, end)
			}
			if c.oowLimited(seg) {
				c.q.counters.TCP.OutOfWindowSkipped++
				return
			}
			c.sendACK()
		}
		return
	}
	if seg.has(wire.TCPFlagRST) {
		c.inputRST(seg)
		return
	}
	if seg.has(wire.TCPFlagSYN) {
		// RFC 5961 §4.2: a SYN in a synchronized state (or in
		// SYN-RECEIVED) gets a challenge ACK whatever its sequence number.
		if c.state == stateSynRcvd && c.ln != nil && seg.seq == c.irs {
			c.sendSynAck()
			return
		}
		c.challengeACK()
		return
	}
	if !seg.has(wire.TCPFlagACK) {
		return
	}
	if c.tsOK && seg.opts.HasTimestamps && int32(seg.opts.TSVal-c.tsRecent) >= 0 && seg.seq.LessEq(c.lastAckSent) {
		// RFC 7323 §4.3: TS.Recent takes the TSval of a segment with
		// SEG.SEQ <= Last.ACK.sent, so that our next ACK echoes the
		// earliest segment it acknowledges; an out-of-order segment
		// does not update it (it would make PAWS drop the older segment
		// that fills the hole).
		c.tsRecent = seg.opts.TSVal
		c.tsRecentT = c.q.now
	}
	if c.ecnOK {
		c.ecnInput(seg)
	}
	if !c.inputACK(seg) {
		return
	}
	if c.state == stateClosed {
		return
	}
	c.inputData(seg)
	if c.state != stateClosed {
		c.output()
	}
}

// reuseTimeWait lets a new SYN take over a connection in TIME-WAIT when it
// is certainly not from the old incarnation: its timestamp is newer, or
// the same (a client that reconnects within its clock's tick) with a
// sequence number beyond the old connection's (RFC 6191 §2); without
// timestamps, its sequence number is beyond the old connection's (RFC 1122
// §4.2.2.13). It reports whether it did.
func (c *tcpConn) reuseTimeWait(seg *segment) bool {
	if !seg.has(wire.TCPFlagSYN) || seg.has(wire.TCPFlagACK) || seg.has(wire.TCPFlagRST) {
		return false
	}
	newer := c.rcvNxt.LessThan(seg.seq)
	if c.tsOK && seg.opts.HasTimestamps {
		d := int32(seg.opts.TSVal - c.tsRecent)
		newer = d > 0 || d == 0 && newer
	}
	if !newer {
		return false
	}
	q := c.q
	key := c.key
	q.counters.TCP.TimeWaitReuses++
	c.destroy()
	if ln := q.tcp.listener(key.local); ln != nil {
		ln.input(key, seg)
	} else {
		q.tcpReset(key, seg)
	}
	return true
}

// pawsIdle: after 24 days idle TS.Recent is invalid (RFC 7323 §5.5).
const pawsIdle = int64(24 * 24 * 3600 * 1e9)

// acceptable is the segment acceptance test of RFC 9293 §3.10.7.4, as
// BSD and Linux apply it. A segment with text is acceptable if any of it
// falls in the window: one that starts before RCV.NXT and ends past the
// right edge has neither end in it, yet brings new data (the RFC's test
// refuses it, and a sender whose retransmissions outgrew the window would
// never get it through). In a zero window, the RFC's "special allowance"
// for ACKs: a segment at RCV.NXT (a window probe) is acceptable, its text
// trimmed away. A segment without text may also sit on the right edge
// itself, where a peer that filled the window sends its ACKs (Linux's
// tcp_sequence and BSD's tcp_input take it); a RST there stays outside
// (RFC 5961 §3.2).
func (c *tcpConn) acceptable(seg *segment) bool {
	wnd := c.rcvWindow()
	right := c.rcvNxt.Add(wnd)
	n := seg.seqLen()
	switch {
	case n == 0 && (wnd == 0 || !seg.has(wire.TCPFlagRST)):
		return seg.seq.InRange(c.rcvNxt, right.Add(1))
	case n == 0:
		return seg.seq.InRange(c.rcvNxt, right)
	case wnd == 0:
		return seg.seq == c.rcvNxt
	}
	return seg.seq.LessThan(right) && c.rcvNxt.LessThan(seg.seq.Add(n))
}

// oowInterval is the least time between two answers to unacceptable ACKs
// without data (Linux's tcp_invalid_ratelimit), in oowAt's units: 500 ms.
const oowInterval = 500_000_000 >> 20

// oowLimited reports whether an unacceptable segment goes unanswered: an
// ACK without data, SYN or FIN within oowInterval of the last one
// answered. Two ends that each find the other's ACKs unacceptable would
// otherwise answer each other forever; a segment with data is no part of
// such a loop, and its answer tells the peer where we are.
func (c *tcpConn) oowLimited(seg *segment) bool {
	if len(seg.payload) > 0 || seg.has(wire.TCPFlagSYN|wire.TCPFlagFIN) {
		return false
	}
	now := max(uint32(c.q.now>>20), 1)
	if c.oowAt != 0 && now-c.oowAt < oowInterval {
		return true
	}
	c.oowAt = now
	return false
}

// inputRST handles a reset in the window (RFC 5961 §3.2): exactly at
// RCV.NXT it closes the connection, elsewhere it earns a challenge ACK.
func (c *tcpConn) inputRST(seg *segment) {
	if seg.seq != c.rcvNxt {
		c.challengeACK()
		return
	}
	c.q.counters.TCP.InRsts++
	switch c.state {
	case stateSynRcvd:
		if c.ln != nil {
			// A passive open goes back to LISTEN: forget it.
			c.destroy()
			return
		}
		c.fail(syscall.ECONNREFUSED)
	case stateEstablished, stateFinWait1, stateFinWait2, stateCloseWait:
		c.q.counters.TCP.EstabResets++
		c.fail(syscall.ECONNRESET)
	default:
		c.destroy()
	}
}

// challengeACK sends an ACK for the current state, rate limited (RFC 5961
// §7), so a blind attacker learns nothing and a real peer resynchronises.
func (c *tcpConn) challengeACK() {
	q := c.q
	if !q.challenge.allow(q.now) {
		q.counters.TCP.ChallengeACKLimited++
		return
	}
	q.counters.TCP.ChallengeACKs++
	c.sendACK()
}

// inputACK processes the ACK field (RFC 9293 §3.10.7.4 fifth check, with
// RFC 5961 §5.2's validation). It reports false when the segment must be
// dropped.
func (c *tcpConn) inputACK(seg *segment) bool {
	ack := seg.ack
	if c.state == stateSynRcvd {
		if !c.sndUna.LessThan(ack) || c.sndMax.LessThan(ack) {
			c.q.sendRST(c.key, ack, 0, false)
			return false
		}
		c.established()
	}
	// RFC 5961 §5.2: an ACK of data never sent, or too old to be from a
	// current peer, is dropped and answered.
	if c.sndMax.LessThan(ack) {
		c.q.counters.TCP.AckOfUnsent++
		c.challengeACK()
		return false
	}
	if ack.LessThan(c.sndUna.Add(-max(c.maxWnd, 1))) {
		c.q.counters.TCP.AckTooOld++
		c.challengeACK()
		return false
	}
	c.newlySacked = 0
	dsack := false
	if c.sackOK {
		dsack = c.updateSACK(seg)
		c.lossRestart = true
	}
	acked := int(ack.Sub(c.sndUna))
	wnd := int(seg.wnd) << c.sndScale
	if acked > 0 {
		c.newAck(seg, acked)
	} else if acked == 0 && len(seg.payload) == 0 && !seg.has(wire.TCPFlagFIN) &&
		(wnd == c.sndWnd || c.newlySacked > 0) && c.sndUna != c.sndMax {
		// RFC 5681 §2 "duplicate acknowledgment", or RFC 6675 §2's: one
		// that SACKs new data counts whatever its window says, as a
		// receiver growing its buffer (Linux) changes the window in
		// every ACK.
		c.dupAck(seg)
	}
	c.tlpAck(seg, acked > 0, dsack)
	c.tryUndo()
	// Window update (RFC 9293 §3.10.7.4): only from a newer segment, or
	// one that acknowledges new data, as Linux's tcp_may_update_window
	// (the peer's acknowledgments only grow, so its window is as new),
	// and never from one whose acknowledgment is older than SND.UNA
	// (Linux ignores those). The RFC's test alone keeps an older ACK's
	// window when a retransmitted segment moves SND.UNA on, and SND.UNA +
	// SND.WND then runs past the edge the peer offered: data sent there
	// is trimmed, and ACKs sent there are old to the peer.
	if acked >= 0 && (acked > 0 || c.sndWl1.LessThan(seg.seq) || (c.sndWl1 == seg.seq && c.sndWl2.LessEq(ack))) {
		c.sndWnd = wnd
		c.maxWnd = max(c.maxWnd, wnd)
		c.sndWl1, c.sndWl2 = seq.Max(c.sndWl1, seg.seq), ack
		if wnd > 0 && c.timers[timerRTO].Pending() && c.sndUna == c.sndMax {
			// The window opened: stop probing.
			c.q.timers.Cancel(&c.timers[timerRTO].Timer)
			c.backoff = 0
		}
	}
	finAcked := c.finSent && ack == c.sndMax
	switch c.state {
	case stateFinWait1:
		if finAcked {
			c.setState(stateFinWait2)
			if c.orphan {
				c.schedule(timerKeepAlive, c.q.s.cfg.TCP.FinTimeout)
			}
		}
	case stateClosing:
		if finAcked {
			c.enterTimeWait()
			return false
		}
	case stateLastAck:
		if finAcked {
			c.destroy()
			return false
		}
	case stateTimeWait:
		if seg.has(wire.TCPFlagFIN) {
			// A retransmitted FIN: acknowledge it and restart 2·MSL.
			c.sendACK()
			c.enterTimeWait()
		}
		return false
	}
	return true
}

// newAck handles an acknowledgment of new data: the buffer shrinks, RTT is
// measured, congestion control grows the window or recovery progresses.
func (c *tcpConn) newAck(seg *segment, acked int) {
	q := c.q
	now := q.now
	prevUna := c.sndUna
	// Data bytes acknowledged: the SYN and the FIN take a sequence number
	// each and no buffer byte.
	dataTo := seg.ack
	if c.finSent && c.finSeq.LessThan(dataTo) {
		dataTo = c.finSeq
	}
	dataAcked := int(dataTo.Sub(seq.Max(prevUna, c.iss.Add(1))))
	if sb := c.sndBuf.Load(); dataAcked > 0 && sb != nil {
		c.sndLag += dataAcked
		c.trimSent(sb)
		c.bytesAcked += uint64(dataAcked)
	}
	c.sndUna = seg.ack
	if c.sndNxt.LessThan(c.sndUna) {
		c.sndNxt = c.sndUna
	}
	c.backoff = 0
	c.confirmPath()
	c.firstRTOAt = 0
	// RTT (RFC 6298 §3, RFC 7323 §4.1): from the echoed timestamp, or
	// from the timed segment if it was not retransmitted (Karn).
	var sample int64
	if c.tsOK && seg.opts.HasTimestamps && seg.opts.TSEcr != 0 && int32(seg.opts.TSEcr-c.rtxTS) >= 0 {
		// An echo older than our last retransmission may answer an
		// earlier copy whose ACK was lost: it would measure the loss,
		// not the path, so it is no sample (Karn's reasoning, applied
		// to timestamps).
		sample = int64(c.tsNow()-seg.opts.TSEcr) * 1e6
	} else if c.rtTiming && c.rtSeq.LessThan(seg.ack) {
		sample = now - c.rtTime
		c.rtTiming = false
	}
	if sample >= 0 && (sample > 0 || c.tsOK) {
		c.rtt.Sample(durationOf(sample))
	} else if c.rtt.Backoffs() > 0 {
		// New data was acknowledged: the path works again, so the
		// backed-off timeout goes even without a sample, as Linux does
		// (strict Karn would keep it, and repeated losses with no clean
		// sample in between then push the RTO to its maximum).
		c.rtt.SetRTO(c.rtt.BaseRTO())
	}
	if c.inRecovery {
		c.recoveryAck(seg, prevUna, acked)
	} else {
		c.dupAcks = 0
		c.cc.OnAck(cc.Ack{
			Acked: acked, RTT: durationOf(max(sample, 0)), SRTT: c.rtt.SRTT(),
			Una: c.sndUna, Nxt: c.sndNxt, AppLimited: !c.cwndLimited,
		}, now)
	}
	if c.sndUna == c.sndMax {
		q.timers.Cancel(&c.timers[timerRTO].Timer)
	} else {
		c.schedule(timerRTO, c.rtt.RTO())
	}
}

func durationOf(ns int64) time.Duration { return time.Duration(ns) }

// inputData accepts the segment's text and FIN (RFC 9293 §3.10.7.4
// seventh and eighth checks).
func (c *tcpConn) inputData(seg *segment) {
	switch c.state {
	case stateEstablished, stateFinWait1, stateFinWait2:
	default:
		if len(seg.payload) > 0 {
			// CLOSE-WAIT and later: the peer already sent its FIN.
			c.q.counters.TCP.DataAfterFin++
		}
		if seg.has(wire.TCPFlagFIN) && c.state != stateCloseWait && c.state != stateLastAck && c.state != stateClosing {
			return
		}
		if seg.has(wire.TCPFlagFIN) {
			c.ackNow = true
			c.scheduleACK()
		}
		return
	}
	start := seg.seq
	data := seg.payload
	if start.LessThan(c.rcvNxt) {
		// Trim what we already have, and report it.
		skip := int(c.rcvNxt.Sub(start))
		c.duplicate(start, start.Add(min(skip, len(data))))
		if skip >= len(data) {
			data = nil
		} else {
			data = data[skip:]
		}
		start = c.rcvNxt
	}
	fin := seg.has(wire.TCPFlagFIN)
	if len(data) > 0 && c.rcvWindow() == 0 {
		// A probe of our closed window, acceptable for its ACK: its text
		// goes (a bare FIN would stay, as Linux takes it), and the ACK
		// that answers at once tells the window.
		c.q.counters.TCP.OutOfWindow++
		data, fin = nil, false
		c.ackNow = true
	}
	if len(data) > 0 {
		if c.sock == nil {
			// Data for a connection the application closed: reset it
			// (RFC 9293 §3.10.4, as Linux does).
			c.q.counters.TCP.DataOnClosed++
			c.abort()
			return
		}
		off := int(start.Sub(c.rcvNxt))
		rb := c.rcvBuf.Load()
		if rb == nil {
			rb = ring.Get(c.rcvSize)
			rb.Count(&c.q.s.stored)
			c.rcvBuf.Store(rb)
		}
		if !c.q.s.chargeRing(&c.rcvMem, c.rcvSize, rb.Len()+off+len(data)) {
			c.abortOnMemory()
			return
		}
		n := -1
		if off == 0 {
			n = c.hold(rb, data)
		}
		if n < 0 {
			n = c.q.rxWrite(rb, data, off)
		}
		if n < len(data) {
			// Beyond the window: keep what fits, the rest is the
			// peer's to resend (RFC 9293 §3.10.7.4: trim to the window).
			c.q.counters.TCP.RcvWindowTrims++
			data = data[:n]
			fin = false
		}
		if off == 0 {
			filled := c.ooo.n > 0
			end := c.ooo.advance(c.rcvNxt.Add(n))
			c.commit(int(end.Sub(c.rcvNxt)))
			// RFC 5681 §4.2: acknowledge at once a segment that fills a
			// hole, or that was partly a retransmission.
			if filled || seg.seq != start {
				c.ackNow = true
			}
		} else if n > 0 {
			if c.ooo.holding(start, start.Add(n)) >= 0 {
				c.duplicate(start, start.Add(n))
			}
			if !c.ooo.add(start, start.Add(n)) {
				c.q.counters.TCP.OfoDrops++
			} else {
				c.q.counters.TCP.OfoQueue++
			}
			// RFC 5681 §4.2: an out-of-order segment is acknowledged at
			// once, so the sender counts duplicate ACKs.
			c.ackNow = true
		}
		if fin && off != 0 {
			c.ooo.finSet, c.ooo.fin = true, start.Add(n)
			fin = false
		}
	} else if len(seg.payload) > 0 {
		// Entirely old data: a retransmission we already have.
		c.ackNow = true
	}
	if fin && start.Add(len(data)) == c.rcvNxt {
		c.receiveFIN()
	} else if c.ooo.finSet && c.ooo.fin == c.rcvNxt && c.ooo.n == 0 {
		c.ooo.finSet = false
		c.receiveFIN()
	}
	if len(seg.payload) > 0 || fin {
		// RFC 5681 §4.2: acknowledge at least every second segment;
		// the rest wait for the delayed-ACK timer or a reply to ride on.
		// A coalesced (GRO) frame counts as the segments it was made of.
		c.segsUnacked += max(1, (len(seg.payload)+c.advMSS-1)/c.advMSS)
		if c.segsUnacked >= 2 {
			c.ackNow = true
		}
		c.scheduleACK()
	}
}

// commit publishes n in-order bytes to the application.
func (c *tcpConn) commit(n int) {
	if n <= 0 {
		return
	}
	rb := c.rcvBuf.Load()
	rb.Commit(n)
	c.rcvNxt = c.rcvNxt.Add(n)
	c.bytesRecv += uint64(n)
	if c.sock != nil {
		c.tuneRcv(rb)
		c.sock.wakeReader()
	}
}

// receiveFIN takes the peer's FIN in order.
func (c *tcpConn) receiveFIN() {
	c.rcvNxt = c.rcvNxt.Add(1)
	c.finRcv = true
	c.shRcvFin.Store(true)
	c.ackNow = true
	if c.sock != nil {
		c.sock.wakeReader()
	}
	switch c.state {
	case stateEstablished:
		c.setState(stateCloseWait)
	case stateFinWait1:
		if c.finSent && c.sndUna == c.sndMax {
			c.enterTimeWait()
		} else {
			c.setState(stateClosing)
		}
	case stateFinWait2:
		c.enterTimeWait()
	}
}

// inputSynSent handles a segment in SYN-SENT (RFC 9293 §3.10.7.3).
func (c *tcpConn) inputSynSent(seg *segment) {
	hasACK := seg.has(wire.TCPFlagACK)
	if hasACK && (seg.ack.LessEq(c.iss) || c.sndMax.LessThan(seg.ack)) {
		if !seg.has(wire.TCPFlagRST) {
			c.q.sendRST(c.key, seg.ack, 0, false)
		}
		return
	}
	if seg.has(wire.TCPFlagRST) {
		if hasACK {
			c.q.counters.TCP.InRsts++
			c.fail(syscall.ECONNREFUSED)
		}
		return
	}
	if !seg.has(wire.TCPFlagSYN) {
		return
	}
	// Our SYN offered a window (unscaled) before RCV.NXT was known: its
	// right edge stands now, for the data of the SYN-ACK and after it.
	synWnd := min(c.rcvWindow(), 65535)
	c.irs = seg.seq
	c.rcvNxt = seg.seq.Add(1)
	c.rcvAdv = c.rcvNxt.Add(synWnd)
	c.negotiate(&seg.opts, true)
	// RFC 3168 §6.1.1: our ECN-setup SYN answered by an ECN-setup SYN-ACK.
	c.ecnOK = c.q.s.cfg.TCP.ECN == "on" && seg.flags&(wire.TCPFlagECE|wire.TCPFlagCWR) == wire.TCPFlagECE
	// Windows in SYN segments are never scaled (RFC 7323 §2.2).
	c.sndWnd = int(seg.wnd)
	c.maxWnd = c.sndWnd
	c.sndWl1 = seg.seq
	if !hasACK {
		// Simultaneous open (RFC 9293 §3.5, figure 8).
		c.setState(stateSynRcvd)
		c.q.timers.Cancel(&c.timers[timerRTO].Timer)
		c.sendSynAck()
		return
	}
	c.sndUna = seg.ack
	c.sndWl2 = seg.ack
	if c.backoff == 0 {
		// The SYN was not retransmitted: its round trip is a sample
		// (Karn).
		c.rtt.Sample(time.Duration(c.q.now - c.lastSend))
	}
	c.established()
	c.ackNow = true
	// The SYN takes the first sequence number; data starts after it
	// (RFC 9293 §3.10.7.3: "Data or controls ... queued for processing").
	seg.seq = seg.seq.Add(1)
	seg.flags &^= wire.TCPFlagSYN
	c.inputData(seg)
	c.output()
}

// confirmPath tells the neighbour cache, at most once a second, that the
// peer acknowledged new data: the neighbour on the way to it is reachable
// (confirmReachable), and needs no probe while the connection makes
// progress.
func (c *tcpConn) confirmPath() {
	if now := c.q.now; now >= c.nextConfirm {
		c.nextConfirm = now + int64(time.Second)
		c.q.confirmReachable(c.route)
	}
}
