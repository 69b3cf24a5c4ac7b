package stack

import (
	"time"

	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/tcp/seq"
	"github.com/ustack/ustack/stack/wire"
)

// output sends what the connection may send now: new data within the
// congestion and receive windows (Nagle and sender-side SWS avoidance
// permitting), a FIN after the last byte, and an ACK if one is owed.
func (c *tcpConn) output() {
	switch c.state {
	case stateEstablished, stateCloseWait, stateFinWait1, stateClosing, stateLastAck:
	default:
		if c.ackNow && c.state.synchronized() {
			c.sendACK()
		}
		return
	}
	c.sendData()
	if c.ackNow {
		c.sendACK()
	}
	if c.sackOK {
		c.armLossTimer()
	}
}

// dataEnd is the sequence number after the last byte the application has
// written (so far).
func (c *tcpConn) dataEnd() seq.Value {
	if c.finSent {
		return c.finSeq
	}
	sb := c.sndBuf.Load()
	if sb == nil {
		return c.sndUna
	}
	return c.sndUna.Add(sb.Len() - c.sndLag)
}

// sendData sends new data and the FIN as the windows allow.
func (c *tcpConn) sendData() {
	for i := 0; i < 1024; i++ {
		end := c.dataEnd()
		remaining := max(int(end.Sub(c.sndNxt)), 0)
		// The FIN takes the sequence number after the data; it is due
		// until this pass has sent past it.
		wantFin := c.closeWrite && c.sndNxt.LessEq(end)
		if remaining == 0 && !wantFin {
			return
		}
		inflight := int(c.sndNxt.Sub(c.sndUna))
		if c.inRecovery && c.sackOK {
			inflight = c.sb.Pipe(c.sndUna, c.sndMax, c.highRxt)
		}
		if inflight == 0 && c.lastSend != 0 {
			// RFC 5681 §4.1: restart slowly after an idle period.
			c.cc.OnIdle(time.Duration(c.q.now-c.lastSend), c.rtt.RTO(), c.q.now)
		}
		cwnd := c.cc.Cwnd()
		rwnd := int(c.sndEdge().Sub(c.sndNxt))
		wnd := min(cwnd-inflight, rwnd)
		c.cwndLimited = cwnd-inflight <= rwnd && cwnd-inflight < remaining
		if c.dupAcks > 0 && c.dupAcks < 3 && !c.inRecovery {
			// RFC 3042 limited transmit: a new segment for each of the
			// first two duplicate ACKs, within the peer's window.
			wnd = min(cwnd+c.dupAcks*c.mss-inflight, rwnd)
		}
		if remaining == 0 {
			// Only the FIN is left: it goes whatever the windows say.
			c.sendSegment(c.sndNxt, 0, wire.TCPFlagFIN|wire.TCPFlagACK)
			return
		}
		if wnd <= 0 {
			c.armPersist()
			return
		}
		mss := c.segMSS()
		limit := mss
		if ifc := c.route.ifc; ifc.tsoMax > 0 {
			l3 := ipHeaderLen(c.key.remote.Addr())
			limit = max(mss, min(ifc.tsoMax-l3-c.hdrLen(), 65535-l3-c.hdrLen())/mss*mss)
		}
		if c.cwrPending || c.dsackSet {
			// CWR and a D-SACK go on one segment, not on all a TSO
			// frame makes.
			limit = mss
		}
		if c.sackOK && c.sndNxt.LessThan(c.sndMax) {
			// Going back over sent data after a timeout: skip what the
			// receiver has SACKed (RFC 6675 §5.1).
			if skip := c.sackedRun(c.sndNxt); skip > 0 {
				c.sndNxt = c.sndNxt.Add(skip)
				continue
			}
			remaining = min(remaining, c.unsackedRun(c.sndNxt))
		}
		n := min(remaining, wnd, limit)
		if !c.worthSending(n, int(end.Sub(c.sndNxt))) {
			c.armPersist()
			return
		}
		flags := wire.TCPFlagACK
		if c.sndNxt.Add(n) == end {
			flags |= wire.TCPFlagPSH
			if c.closeWrite {
				flags |= wire.TCPFlagFIN
			}
		}
		c.sendSegment(c.sndNxt, n, flags)
		if c.inRecovery {
			// RFC 6937 §3: prr_out counts new data as well as
			// retransmissions, or PRR lets the flight grow in recovery.
			c.prr.Sent(n)
		}
	}
}

// sackedRun is how many bytes from s on the peer has SACKed.
func (c *tcpConn) sackedRun(s seq.Value) int {
	for _, b := range c.sb.Ranges() {
		if b.Contains(s) {
			return int(b.End.Sub(s))
		}
	}
	return 0
}

// unsackedRun is how many bytes from s on lie before the next SACKed
// range (or the end of what was sent).
func (c *tcpConn) unsackedRun(s seq.Value) int {
	end := c.sndMax
	for _, b := range c.sb.Ranges() {
		if s.LessThan(b.Start) && b.Start.LessThan(end) {
			end = b.Start
		}
	}
	return int(end.Sub(s))
}

// armPersist starts the persist timer when data waits for the peer's
// window and nothing is in flight to bring an ACK (RFC 9293 §3.8.6.1; a
// lost window update would otherwise deadlock both ends).
func (c *tcpConn) armPersist() {
	if c.sndUna == c.sndNxt && !c.timers[timerRTO].Pending() {
		c.schedule(timerRTO, c.rtt.RTO())
	}
}

// worthSending applies Nagle's algorithm (RFC 896, RFC 1122 §4.2.3.4) and
// sender-side silly window avoidance (RFC 9293 §3.8.6.2.1).
func (c *tcpConn) worthSending(n, remaining int) bool {
	if n >= c.segMSS() {
		return true
	}
	if n == remaining && (c.nodelay || c.sndNxt == c.sndUna || c.closeWrite) {
		return true
	}
	if c.maxWnd > 0 && n >= c.maxWnd/2 {
		return true
	}
	return false
}

// hdrLen is the TCP header length of a data segment sent now: the fixed
// header, timestamps if the connection has them, and the SACK blocks
// sackBlocks adds while out-of-order data is held.
func (c *tcpConn) hdrLen() int {
	n := wire.TCPHeaderLen
	if c.tsOK {
		n += 12
	}
	return n + c.sackLen()
}

// segMSS is the most payload a segment sent now may carry: the MSS less
// the SACK blocks the segment carries, as Linux's tcp_current_mss. The MSS
// leaves room only for the options every segment has (RFC 6691), so a
// full segment with SACK blocks would not fit the path's MTU; a transfer
// with losses both ways sends its data with SACK blocks all along.
func (c *tcpConn) segMSS() int {
	return c.mss - c.sackLen()
}

// sackLen is the option space the SACK blocks of a segment sent now take.
func (c *tcpConn) sackLen() int {
	if k := c.numSACK(); k > 0 {
		return 4 + 8*k // NOP NOP SACK, as wire.TCPOptions lays them out
	}
	return 0
}

// sendSegment sends n bytes of data from sequence number s (0 for a pure
// ACK or FIN) with flags, plus the options the connection uses.
func (c *tcpConn) sendSegment(s seq.Value, n int, flags wire.TCPFlags) {
	q := c.q
	var opts wire.TCPOptions
	if c.tsOK {
		opts.HasTimestamps = true
		opts.TSVal = c.tsNow()
		opts.TSEcr = c.tsRecent
	}
	if c.numSACK() > 0 {
		c.sackBlocks(&opts)
	}
	var a, b []byte
	if n > 0 {
		a, b = c.sndBuf.Load().Slices(int(s.Sub(c.sndUna))+c.sndLag, n)
	}
	fin := flags&wire.TCPFlagFIN != 0
	// New data is ECN-capable; retransmissions and window probes are not
	// (RFC 3168 §6.1.5, §6.1.6).
	ect := c.ecnOK && n > 0 && c.sndMax.LessEq(s) && c.sndWnd > 0
	if ect {
		if c.cwrPending {
			flags |= wire.TCPFlagCWR
			c.cwrPending = false
		}
	}
	c.emit(s, flags, &opts, a, b, n, ect)
	end := s.Add(n)
	if fin {
		if !c.finSent {
			c.finSeq = end
		}
		end = end.Add(1)
		c.finSent = true
		switch c.state {
		case stateEstablished:
			c.setState(stateFinWait1)
		case stateCloseWait:
			c.setState(stateLastAck)
		}
	}
	if n > 0 || fin {
		if c.sndMax.LessThan(end) {
			if !c.rtTiming && !c.tsOK && c.sndMax.LessEq(s) {
				c.rtSeq, c.rtTime, c.rtTiming = s, q.now, true
			}
			c.lossRestart = true
			q.counters.TCP.OutSegs++
		} else {
			q.counters.TCP.RetransSegs++
			c.retrans++
			c.rtxTS = c.tsNow()
			if c.rtTiming && s.LessEq(c.rtSeq) {
				c.rtTiming = false // Karn: no sample from a retransmission
			}
		}
		if c.sndNxt.LessThan(end) {
			c.sndNxt = end
		}
		if c.sndMax.LessThan(end) {
			c.sndMax = end
		}
		if !c.timers[timerRTO].Pending() {
			c.schedule(timerRTO, c.rtt.RTO())
		}
	} else {
		q.counters.TCP.OutSegs++
	}
}

// emit builds and sends one segment: the TCP header with options, then
// the payload pieces a and b (of n bytes in all), ECN-capable (ECT(0))
// when ect is set.
func (c *tcpConn) emit(s seq.Value, flags wire.TCPFlags, opts *wire.TCPOptions, a, b []byte, n int, ect bool) {
	q := c.q
	c.segsOut++
	c.lastSend = q.now
	if flags&wire.TCPFlagACK != 0 {
		c.lastAckSent = c.rcvNxt
		c.ackNow = false
		c.segsUnacked = 0
		q.timers.Cancel(&c.timers[timerDelACK].Timer)
	}
	wnd := c.advertise()
	if c.eceSend && flags&wire.TCPFlagSYN == 0 {
		flags |= wire.TCPFlagECE
	}
	if flags&wire.TCPFlagSYN != 0 {
		// RFC 7323 §2.2: the window field of a SYN or SYN-ACK is never
		// scaled.
		wnd = uint16(min(c.rcvWindow(), 65535))
	}
	hdr := q.l4hdr[:wire.TCPHeaderLen+opts.Len()]
	wire.TCPFields{
		SrcPort: c.key.local.Port(),
		DstPort: c.key.remote.Port(),
		Seq:     uint32(s),
		Ack:     uint32(c.rcvNxt),
		Flags:   flags,
		Window:  wnd,
		Options: *opts,
	}.Emit(hdr)
	if flags&wire.TCPFlagACK == 0 {
		wire.TCP(hdr).SetAck(0)
	}
	dg := ipv4Datagram{
		src: c.key.local.Addr(), dst: c.key.remote.Addr(), proto: wire.IPProtoTCP, df: true,
		hdr: hdr, payload: a, payload2: b, csumOff: 16, pseudo: true,
	}
	if ect {
		dg.tos = ecnECT0
	}
	if mss := c.segMSS(); n > mss {
		dg.gsoSize = mss
	}
	if n >= sgMinPayload && c.route.ifc.sg {
		sb := c.sndBuf.Load()
		dg.pins = c.pinsFor(sb)
		dg.pinPos = sb.Pos() + uint64(c.sndLag) + uint64(s.Sub(c.sndUna))
	}
	if sh := q.shared(); sh != c.routeSh {
		c.refreshRoute(sh)
	}
	q.output(c.route, &dg)
}

// refreshRoute takes the next hop the routes of snapshot sh give for the
// peer, a redirect's or a new router's, keeping the interface and the
// source the connection has.
func (c *tcpConn) refreshRoute(sh *shared) {
	c.routeSh = sh
	if nh, ok := sh.lookup(c.key.remote.Addr()); ok && !nh.local && nh.ifc == c.route.ifc {
		c.route.addr = nh.addr
	}
}

// advertise computes the window field to send: the receive buffer's free
// room, moved right only in steps worth announcing (receiver-side SWS
// avoidance, RFC 9293 §3.8.6.2.2) and never shrunk (§3.8.6.2.1).
func (c *tcpConn) advertise() uint16 {
	free := c.rcvFree()
	free = min(free, 65535<<c.rcvScale)
	edge := c.rcvNxt.Add(free &^ (1<<c.rcvScale - 1))
	// A closed window too opens only by a full step: reopening it for a
	// few bytes is the silly window itself (RFC 9293 §3.8.6.2.2, MUST-39).
	step := min(c.rcvCap()/2, c.advMSS)
	if c.rcvAdv.LessThan(edge) && int(edge.Sub(c.rcvAdv)) >= step {
		c.rcvAdv = edge
	}
	if c.rcvAdv.LessThan(c.rcvNxt) {
		c.rcvAdv = c.rcvNxt
	}
	adv := int(c.rcvAdv.Sub(c.rcvNxt))
	if c.sock != nil {
		// As Linux's tcp_cleanup_rbuf: once the window left is at most
		// half the buffer, a read that would let it double (and by at
		// least a step) is announced at once. Otherwise a sender held
		// by the window waits for the delayed ACK, which at a large
		// MSS comes after one segment of a few in flight.
		want := 0
		if 2*adv <= c.rcvCap() {
			want = max(2*adv, step)
		}
		c.sock.wantFree.Store(int64(want))
	}
	return uint16(min(adv>>c.rcvScale, 65535))
}

// rcvFree is the room in the receive buffer from RCV.NXT on.
func (c *tcpConn) rcvFree() int {
	if rb := c.rcvBuf.Load(); rb != nil {
		return rb.Free()
	}
	return ring.Size(c.rcvSize)
}

func (c *tcpConn) rcvCap() int {
	if rb := c.rcvBuf.Load(); rb != nil {
		return rb.Cap()
	}
	return ring.Size(c.rcvSize)
}

// rcvWindow is the window the acceptance test uses: what we advertised.
func (c *tcpConn) rcvWindow() int {
	if c.rcvAdv.LessThan(c.rcvNxt) {
		return 0
	}
	return int(c.rcvAdv.Sub(c.rcvNxt))
}

// sackBlocks fills in SACK blocks for the out-of-order data held, the
// most recently changed first (RFC 2018 §4), three when timestamps leave
// room for no more.
func (c *tcpConn) sackBlocks(o *wire.TCPOptions) {
	limit := c.numSACK()
	add := func(r seqRange) {
		if o.NumSACK < limit {
			o.SACK[o.NumSACK] = wire.SACKBlock{Left: uint32(r.start), Right: uint32(r.end)}
			o.NumSACK++
		}
	}
	// RFC 2883 §4: a duplicate goes first, once, followed by the range
	// held that contains it, if any.
	holding := -1
	if c.dsackSet {
		c.dsackSet = false
		add(c.dsack)
		if holding = c.ooo.holding(c.dsack.start, c.dsack.end); holding >= 0 {
			add(c.ooo.ranges[holding])
		}
	}
	if c.ooo.n == 0 {
		return
	}
	last := min(c.ooo.last, c.ooo.n-1)
	if last != holding {
		add(c.ooo.ranges[last])
	}
	for i := 0; i < c.ooo.n; i++ {
		if i != last && i != holding {
			add(c.ooo.ranges[i])
		}
	}
}

// numSACK is how many SACK blocks a segment sent now carries: one per
// out-of-order range held and one for a duplicate to report, up to what
// the option space leaves.
func (c *tcpConn) numSACK() int {
	if !c.sackOK {
		return 0
	}
	limit := wire.TCPMaxSACKBlocks
	if c.tsOK {
		limit = 3
	}
	n := c.ooo.n
	if c.dsackSet {
		n++
	}
	return min(n, limit)
}

// duplicate notes that the peer sent [start, end) again, to report it
// with a D-SACK block (RFC 2883): the peer learns that its retransmission
// was not needed, and may undo the window reduction it made for it.
func (c *tcpConn) duplicate(start, end seq.Value) {
	if c.sackOK && start.LessThan(end) {
		c.dsack, c.dsackSet = seqRange{start, end}, true
	}
}

// sendACK sends a segment with no data: an acknowledgment and window.
func (c *tcpConn) sendACK() {
	if c.state == stateSynSent || c.state == stateClosed {
		return
	}
	var opts wire.TCPOptions
	if c.tsOK {
		opts.HasTimestamps = true
		opts.TSVal = c.tsNow()
		opts.TSEcr = c.tsRecent
	}
	if c.numSACK() > 0 {
		c.sackBlocks(&opts)
	}
	c.q.counters.TCP.OutSegs++
	c.emit(c.ackSeq(), wire.TCPFlagACK, &opts, nil, nil, 0, false)
}

// ackSeq is the sequence number of a segment that carries neither data
// nor FIN: SND.MAX, not SND.NXT, which a retransmission timeout winds back
// to SND.UNA while the peer may hold data up to SND.MAX. A segment below
// the peer's RCV.NXT is unacceptable to it, acknowledgment and all
// (RFC 9293 §3.10.7.4), so while both ends retransmit after timeouts,
// ACKs at SND.NXT let neither learn what the other has (BSD's tcp_output
// takes snd_max for the same reason). Past the peer's window's right edge
// (after a probe of a closed window), the edge, as Linux's
// tcp_acceptable_seq; but not for less than the window scale's unit,
// which the peer's rounding of an open window may take off the edge we
// see (a closed window's edge is exact).
func (c *tcpConn) ackSeq() seq.Value {
	edge := c.sndEdge()
	if c.sndMax.LessEq(edge) || c.sndWnd > 0 && int(c.sndMax.Sub(edge)) < 1<<c.sndScale {
		return c.sndMax
	}
	return edge
}

// sndEdge is the right edge of the peer's window: SND.UNA + SND.WND.
func (c *tcpConn) sndEdge() seq.Value { return c.sndUna.Add(c.sndWnd) }

// synOptions are the options of our SYN or SYN-ACK: all we support on a
// SYN; on a SYN-ACK only those the peer offered (RFC 7323 §1.3, RFC 2018).
func (c *tcpConn) synOptions(o *wire.TCPOptions, synack bool) {
	o.HasMSS, o.MSS = true, uint16(c.advMSS)
	if !synack || c.wsOK {
		o.HasWindowScale, o.WindowScale = true, uint8(c.rcvScale)
	}
	if !synack || c.sackOK {
		o.SACKPermitted = true
	}
	if !synack || c.tsOK {
		o.HasTimestamps = true
		o.TSVal = c.tsNow()
		o.TSEcr = c.tsRecent
	}
}

// sendSyn sends (or resends) our SYN.
func (c *tcpConn) sendSyn() {
	var opts wire.TCPOptions
	c.synOptions(&opts, false)
	c.q.counters.TCP.OutSegs++
	flags := wire.TCPFlagSYN
	if c.q.s.cfg.TCP.ECN == "on" {
		flags |= wire.TCPFlagECE | wire.TCPFlagCWR
	}
	c.emit(c.iss, flags, &opts, nil, nil, 0, false)
	c.sndNxt = c.iss.Add(1)
	c.sndMax = c.sndNxt
	if !c.timers[timerRTO].Pending() {
		c.schedule(timerRTO, c.rtt.RTO())
	}
}

// sendSynAck sends (or resends) our SYN-ACK.
func (c *tcpConn) sendSynAck() {
	var opts wire.TCPOptions
	c.synOptions(&opts, true)
	c.q.counters.TCP.OutSegs++
	flags := wire.TCPFlagSYN | wire.TCPFlagACK
	if c.ecnOK {
		flags |= wire.TCPFlagECE
	}
	c.emit(c.iss, flags, &opts, nil, nil, 0, false)
	c.sndNxt = c.iss.Add(1)
	c.sndMax = c.sndNxt
	if !c.timers[timerRTO].Pending() {
		c.schedule(timerRTO, c.rtt.RTO())
	}
}

// sendRST sends a reset for key. With ack set it acknowledges ackNum
// (RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>).
func (q *queue) sendRST(key connKey, seqNum, ackNum seq.Value, ack bool) {
	nh, ok := q.shared().lookup(key.remote.Addr())
	if !ok {
		return
	}
	flags := wire.TCPFlagRST
	if ack {
		flags |= wire.TCPFlagACK
	}
	hdr := q.l4hdr[:wire.TCPHeaderLen]
	wire.TCPFields{SrcPort: key.local.Port(), DstPort: key.remote.Port(), Seq: uint32(seqNum), Ack: uint32(ackNum), Flags: flags}.Emit(hdr)
	dg := ipv4Datagram{src: key.local.Addr(), dst: key.remote.Addr(), proto: wire.IPProtoTCP, df: true, hdr: hdr, csumOff: 16, pseudo: true}
	q.counters.TCP.OutRsts++
	q.counters.TCP.OutSegs++
	q.output(nh, &dg)
}

// tsNow is our timestamp clock: milliseconds (RFC 7323 §5.4 allows 1 ms
// to 1 s ticks) plus the connection's random offset (RFC 7323 §5.4).
func (c *tcpConn) tsNow() uint32 {
	return uint32(c.q.now/1e6) + c.tsOffset
}

// scheduleACK arranges for an ACK: at the end of this burst when one is
// due now, otherwise within the delayed-ACK time.
func (c *tcpConn) scheduleACK() {
	if c.ackNow {
		if !c.onAckList {
			c.onAckList = true
			c.q.ackList = append(c.q.ackList, c)
		}
		return
	}
	if !c.timers[timerDelACK].Pending() {
		c.schedule(timerDelACK, c.q.s.cfg.TCP.DelayedACK)
	}
}

// flushAcks sends the ACKs owed at the end of a burst: one per
// connection however many segments it received (ACK coalescing).
func (q *queue) flushAcks() {
	for i, c := range q.ackList {
		c.onAckList = false
		if c.ackNow && c.state != stateClosed {
			c.output()
			if c.ackNow {
				c.sendACK()
			}
		}
		q.ackList[i] = nil
	}
	q.ackList = q.ackList[:0]
}
