package stack

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ustack/ustack/stack/tcp/isn"
	"github.com/ustack/ustack/stack/wire"
)

// tcpListener is a passive open. It is in every queue's table (a
// listenQueue each), so connections arriving on any queue are accepted: the
// half-open ones live in the table of the queue their SYN reached, like any
// other connection; established ones from every queue wait in the one
// accept queue until the application takes them.
type tcpListener struct {
	s       *Stack
	netw    string
	fam     int
	laddr   netip.AddrPort
	backlog int

	// Shared: the accept queue.
	mu       sync.Mutex
	accepted []*tcpSock
	wake     chan struct{}
	done     chan struct{}
	closed   atomic.Bool
	once     sync.Once
}

// listenQueue is a listener's part on one queue, touched by that queue's
// loop only.
type listenQueue struct {
	*tcpListener
	q       *queue
	synRcvd int // half-open connections
}

func (ln *tcpListener) accepts(dst netip.Addr) bool {
	return ln.fam == 0 || (ln.fam == 4) == dst.Is4()
}

// input handles a segment for no connection on a listening port (RFC 9293
// §3.10.7.2).
func (ln *listenQueue) input(key connKey, seg *segment) {
	q := ln.q
	switch {
	case seg.has(wire.TCPFlagRST):
		return
	case seg.has(wire.TCPFlagACK) && !seg.has(wire.TCPFlagSYN):
		if ln.cookieACK(key, seg) {
			return
		}
		q.sendRST(key, seg.ack, 0, false)
		return
	case !seg.has(wire.TCPFlagSYN):
		return
	}
	if seg.has(wire.TCPFlagFIN) || seg.has(wire.TCPFlagACK) {
		// A SYN-ACK or SYN-FIN to a listener is bogus.
		q.counters.TCP.InErrs++
		q.tcpReset(key, seg)
		return
	}
	if key.remote.Addr() == key.local.Addr() && key.remote.Port() == key.local.Port() {
		// LAND: a SYN from ourselves to ourselves.
		q.counters.TCP.LandDrops++
		return
	}
	if ln.acceptQueueFull() {
		// Linux drops the SYN when the accept queue is full, so the
		// client retries once the application catches up.
		q.counters.TCP.ListenOverflows++
		q.limitReached(limitAcceptQueue)
		return
	}
	nh, ok := q.shared().lookup(key.remote.Addr())
	if !ok {
		q.noRoute(key.remote.Addr())
		return
	}
	cfg := &q.s.cfg.TCP
	synFull := ln.synRcvd >= min(ln.backlog, cfg.SynBacklog)
	if synFull {
		q.limitReached(limitSynQueue)
	}
	if cfg.SynCookies == "always" || (synFull && cfg.SynCookies == "auto") {
		if q.tcp.shedCookie(seg.opts.HasMSS) {
			q.counters.TCP.SynCookiesShed++
			return
		}
		ln.sendCookie(key, seg, nh)
		return
	}
	if synFull {
		q.counters.TCP.ListenDrops++
		return
	}
	if len(q.tcp.conns) >= cfg.MaxConnections {
		q.counters.TCP.ConnLimitDrops++
		q.limitReached(limitConnections)
		return
	}
	c := q.newConn(key, nh)
	c.ln = ln
	c.irs = seg.seq
	c.rcvNxt = seg.seq.Add(1)
	c.rcvAdv = c.rcvNxt
	c.negotiate(&seg.opts, false)
	// RFC 3168 §6.1.1: an ECN-setup SYN, answered with ECE alone.
	c.ecnOK = cfg.ECN != "off" && seg.flags&(wire.TCPFlagECE|wire.TCPFlagCWR) == wire.TCPFlagECE|wire.TCPFlagCWR
	c.sndWnd = int(seg.wnd)
	c.maxWnd = c.sndWnd
	c.sndWl1 = seg.seq
	c.setState(stateSynRcvd)
	q.addConn(c)
	ln.synRcvd++
	c.sendSynAck()
}

// sendCookie answers a SYN without keeping state: the SYN-ACK's sequence
// number encodes what we must remember (RFC 4987 §3.6), and with
// timestamps the window scale and SACK permission ride in our TSval.
func (ln *listenQueue) sendCookie(key connKey, seg *segment, nh nextHop) {
	q := ln.q
	q.counters.TCP.SynCookiesSent++
	mss := 536
	if seg.opts.HasMSS {
		mss = int(seg.opts.MSS)
	}
	co := isn.CookieOptions{MSS: mss, WScale: -1, SACKPermitted: seg.opts.SACKPermitted}
	if seg.opts.HasWindowScale {
		co.WScale = int(seg.opts.WindowScale)
	}
	// The connection only shapes the SYN-ACK and is forgotten: a
	// scratch one per queue keeps a flood from allocating.
	c := &q.tcp.cookieConn
	*c = tcpConn{}
	q.initConn(c, key, nh)
	cookie, tsval := q.isn.EncodeCookie(isn.Tuple{Local: key.local, Remote: key.remote}, q.now, seg.seq, co, seg.opts.HasTimestamps, c.tsNow())
	c.iss = cookie
	c.irs = seg.seq
	c.rcvNxt = seg.seq.Add(1)
	c.negotiate(&seg.opts, false)
	if !c.tsOK {
		// RFC 4987 §3.6: without timestamps the cookie has no room for
		// window scaling and SACK, so the SYN-ACK must not offer what the
		// connection will not use (Linux clears the options likewise).
		c.wsOK, c.sackOK, c.rcvScale = false, false, 0
	}
	var opts wire.TCPOptions
	c.synOptions(&opts, true)
	if c.tsOK {
		opts.TSVal = tsval
	}
	c.emit(c.iss, wire.TCPFlagSYN|wire.TCPFlagACK, &opts, nil, nil, 0, false)
	q.counters.TCP.OutSegs++
}

// cookieACK completes a handshake answered with a SYN cookie: if the ACK
// carries a valid cookie, the connection is made established at once.
func (ln *listenQueue) cookieACK(key connKey, seg *segment) bool {
	q := ln.q
	if q.s.cfg.TCP.SynCookies == "never" {
		return false
	}
	ck, ok := q.isn.DecodeCookie(isn.Tuple{Local: key.local, Remote: key.remote}, q.now,
		seg.ack.Add(-1), seg.seq.Add(-1), seg.opts.HasTimestamps, seg.opts.TSEcr)
	if !ok {
		q.counters.TCP.SynCookiesFailed++
		return false
	}
	if ln.acceptQueueFull() {
		q.counters.TCP.ListenOverflows++
		q.limitReached(limitAcceptQueue)
		return true
	}
	if len(q.tcp.conns) >= q.s.cfg.TCP.MaxConnections {
		q.counters.TCP.ConnLimitDrops++
		q.limitReached(limitConnections)
		return true
	}
	nh, okr := q.shared().lookup(key.remote.Addr())
	if !okr {
		return true
	}
	q.counters.TCP.SynCookiesRecv++
	c := q.newConn(key, nh)
	c.ln = ln
	c.iss = seg.ack.Add(-1)
	c.sndUna, c.sndNxt, c.sndMax = seg.ack, seg.ack, seg.ack
	c.recover = c.sndUna
	c.irs = seg.seq.Add(-1)
	c.rcvNxt = seg.seq
	c.lastAckSent = c.rcvNxt // the SYN-ACK acknowledged the SYN
	// The SYN-ACK offered a window (unscaled, RFC 7323 §2.2) that the
	// peer may already be sending into.
	c.rcvAdv = c.rcvNxt.Add(min(q.s.cfg.TCP.RecvBuffer, 65535))
	opts := wire.TCPOptions{
		HasMSS: true, MSS: uint16(ck.MSS),
		HasWindowScale: ck.WScale >= 0, WindowScale: uint8(max(ck.WScale, 0)),
		SACKPermitted: ck.SACKPermitted, HasTimestamps: seg.opts.HasTimestamps,
		TSVal: seg.opts.TSVal,
	}
	c.negotiate(&opts, false)
	if c.tsOK {
		// The SYN-ACK's TSval was this connection's clock (initConn gave
		// it the tuple's offset) with the options in its low bits, never
		// ahead: the echo times the handshake, at most 31 ms over. That
		// is the first sample (RFC 7323 §4.1; Linux takes it too), so a
		// segment lost early waits a timeout near the path's rather than
		// the initial second, as it does after a handshake with state.
		if r := int32(c.tsNow() - seg.opts.TSEcr); r >= 0 {
			c.rtt.Sample(time.Duration(r) * time.Millisecond)
		}
		// Our clock goes on from the SYN-ACK's TSval, or the peer's PAWS
		// (RFC 7323 §5) would drop everything we send as older.
		c.tsOffset = seg.opts.TSEcr - uint32(q.now/1e6)
		c.rtxTS = c.tsNow()
	}
	c.sndWnd = int(seg.wnd) << c.sndScale
	c.maxWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = seg.seq, seg.ack
	q.addConn(c)
	c.established()
	c.inputData(seg)
	c.output()
	return true
}

// ready moves an established passive connection to the accept queue.
func (ln *listenQueue) ready(c *tcpConn) {
	ln.synRcvd--
	c.ln = nil
	if !c.buffersFit() {
		c.abort()
		return
	}
	// Under the lock: Close takes the accept queue after marking the
	// listener closed, so a connection is either taken or aborted here.
	ln.mu.Lock()
	if ln.closed.Load() {
		ln.mu.Unlock()
		c.abort()
		return
	}
	sock := newTCPSock(ln.s, ln.q, ln.netw, c)
	// TCP_NODELAY is Go's default for accepted connections as for dialled
	// ones (net.newTCPConn); SetNoDelay(false) brings Nagle back.
	sock.nodelay, c.nodelay = true, true
	c.sock = sock
	ln.accepted = append(ln.accepted, sock)
	ln.mu.Unlock()
	notify(ln.wake)
}

// forget drops a half-open connection that failed.
func (ln *listenQueue) forget(c *tcpConn) {
	if c.state == stateClosed && c.ln == ln {
		ln.synRcvd--
		c.ln = nil
	}
}

func (ln *tcpListener) acceptQueueFull() bool {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return len(ln.accepted) >= ln.backlog
}

// Accept implements net.Listener.
func (ln *tcpListener) Accept() (net.Conn, error) {
	for {
		ln.mu.Lock()
		if len(ln.accepted) > 0 {
			s := ln.accepted[0]
			ln.accepted[0] = nil
			ln.accepted = ln.accepted[1:]
			ln.mu.Unlock()
			return s, nil
		}
		ln.mu.Unlock()
		if ln.closed.Load() {
			return nil, &net.OpError{Op: "accept", Net: ln.netw, Addr: ln.Addr(), Err: net.ErrClosed}
		}
		select {
		case <-ln.wake:
		case <-ln.done:
		}
	}
}

// Close implements net.Listener: the port is free again and connections
// not yet accepted are reset.
func (ln *tcpListener) Close() error {
	if !ln.closed.CompareAndSwap(false, true) {
		return &net.OpError{Op: "close", Net: ln.netw, Addr: ln.Addr(), Err: net.ErrClosed}
	}
	ln.once.Do(func() { close(ln.done) })
	ln.mu.Lock()
	pending := ln.accepted
	ln.accepted = nil
	ln.mu.Unlock()
	for _, q := range ln.s.queues {
		q.post(func(q *queue) {
			lq := q.tcp.removeListener(ln)
			for _, s := range pending {
				if s.q == q {
					s.c.abort()
				}
			}
			for _, c := range q.tcp.sortedConns() {
				if lq != nil && c.ln == lq {
					c.abort()
				}
			}
		})
	}
	return nil
}

// removeListener takes ln out of the table and returns its part on this
// queue, if it was there.
func (t *tcpTable) removeListener(ln *tcpListener) *listenQueue {
	port := ln.laddr.Port()
	l := t.listeners[port]
	for i, o := range l {
		if o.tcpListener == ln {
			l = append(l[:i], l[i+1:]...)
			if len(l) == 0 {
				delete(t.listeners, port)
			} else {
				t.listeners[port] = l
			}
			return o
		}
	}
	return nil
}

// Addr implements net.Listener.
func (ln *tcpListener) Addr() net.Addr {
	ap := ln.laddr
	if !ap.Addr().IsValid() {
		ap = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
		if ln.fam != 4 {
			ap = netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())
		}
	}
	return net.TCPAddrFromAddrPort(ap)
}

// bindListener registers ln, refusing a port in use (EADDRINUSE). Queue 0
// binds, so that concurrent binds meet in one table; then every other
// queue adds the listener to its own.
func (q *queue) bindListener(ln *tcpListener) error {
	t := &q.tcp
	port := ln.laddr.Port()
	if port == 0 {
		span := ephemeralHigh - ephemeralLow + 1
		start := q.rng.IntN(span)
		for i := 0; i < span; i++ {
			p := uint16(ephemeralLow + (start+i)%span)
			if len(t.listeners[p]) == 0 {
				port = p
				break
			}
		}
		if port == 0 {
			return syscall.EADDRINUSE
		}
		ln.laddr = netip.AddrPortFrom(ln.laddr.Addr(), port)
	}
	for _, o := range t.listeners[port] {
		a, b := o.laddr.Addr(), ln.laddr.Addr()
		if (o.fam == 0 || ln.fam == 0 || o.fam == ln.fam) && (!a.IsValid() || !b.IsValid() || a == b) {
			return syscall.EADDRINUSE
		}
	}
	t.listeners[port] = append(t.listeners[port], &listenQueue{tcpListener: ln, q: q})
	return nil
}

// addListener puts ln, bound on queue 0, in this queue's table too.
func (q *queue) addListener(ln *tcpListener) {
	port := ln.laddr.Port()
	q.tcp.listeners[port] = append(q.tcp.listeners[port], &listenQueue{tcpListener: ln, q: q})
}
