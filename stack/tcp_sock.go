package stack

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ustack/ustack/stack/internal/ring"
)

// tcpSock is the application's side of a TCP connection: net.Conn over the
// connection's two rings. Writes copy the application's bytes into the
// send ring, which large segments are then sent from by reference (sg.go);
// reads copy out of the receive ring, or out of the frames large segments
// came in, which the loop held in the ring's place (tcp_hold.go). Either
// way a byte is copied once between the application and the wire.
type tcpSock struct {
	s    *Stack
	q    *queue
	netw string
	c    *tcpConn // read-only here but for the rings and shared fields

	laddr, raddr netip.AddrPort

	rWake, wWake chan struct{}
	done         chan struct{} // closed by Close
	estab        chan struct{} // closed when the handshake completes or fails
	closed       atomic.Bool
	readShut     atomic.Bool
	writeShut    atomic.Bool
	// wantFree, when positive, is the free room in the receive ring at
	// which the window the loop could advertise is worth an update: a
	// read that frees that much tells the loop (see advertise).
	wantFree atomic.Int64
	// sndWaiting says Write waits for room in the send ring (tcp_tune.go).
	sndWaiting atomic.Bool
	nodelay    bool
	rmu, wmu   sync.Mutex
	deadlines
	closeOnce sync.Once
	estabOnce sync.Once
}

func newTCPSock(s *Stack, q *queue, netw string, c *tcpConn) *tcpSock {
	t := &tcpSock{
		s: s, q: q, netw: netw, c: c,
		rWake: make(chan struct{}, 1), wWake: make(chan struct{}, 1),
		done: make(chan struct{}), estab: make(chan struct{}),
		deadlines: makeDeadlines(),
	}
	if c != nil {
		t.laddr, t.raddr = c.key.local, c.key.remote
		t.estabOnce.Do(func() { close(t.estab) })
	}
	return t
}

func (t *tcpSock) wakeReader() { notify(t.rWake) }
func (t *tcpSock) wakeWriter() { notify(t.wWake) }
func (t *tcpSock) wakeAll() {
	notify(t.rWake)
	notify(t.wWake)
	t.estabOnce.Do(func() { close(t.estab) })
}
func (t *tcpSock) connected() { t.estabOnce.Do(func() { close(t.estab) }) }

// onReady runs on the loop when the application wrote, read or closed.
func (c *tcpConn) onReady(q *queue) {
	if c.state == stateClosed {
		return
	}
	if c.sndLag > 0 {
		// A frame sent by reference was released: its bytes can go.
		c.trimSent(c.sndBuf.Load())
	}
	if rb := c.rcvBuf.Load(); rb != nil {
		if c.sock != nil && c.sock.wantFree.Load() == 0 {
			// A read freed room: announce it if that moves the window enough.
			c.announceWindow()
		}
		if c.ooo.n == 0 {
			// A read emptied it: a large store goes back until data comes.
			rb.Shrink()
		}
	}
	c.output()
	q.flushAcks()
}

// announceWindow moves the advertised right edge as advertise would and,
// when it moved, asks for an ACK to carry it; it reports whether it moved.
func (c *tcpConn) announceWindow() bool {
	old := c.rcvAdv
	c.advertise()
	if c.rcvAdv == old {
		return false
	}
	c.ackNow = true
	return true
}

func (t *tcpSock) opError(op string, err error) error {
	var src, dst net.Addr
	if t.laddr.IsValid() {
		src = net.TCPAddrFromAddrPort(t.laddr)
	}
	if t.raddr.IsValid() {
		dst = net.TCPAddrFromAddrPort(t.raddr)
	}
	return &net.OpError{Op: op, Net: t.netw, Source: src, Addr: dst, Err: err}
}

// connErr is the error that ended the connection, as an errno, or nil.
func (t *tcpSock) connErr() error {
	if e := t.c.shErr.Load(); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// Read implements net.Conn.
func (t *tcpSock) Read(p []byte) (int, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	for {
		if t.closed.Load() {
			return 0, t.opError("read", net.ErrClosed)
		}
		if t.readShut.Load() {
			return 0, io.EOF
		}
		if isClosed(t.rdl.wait()) {
			return 0, t.opError("read", os.ErrDeadlineExceeded)
		}
		if len(p) == 0 {
			return 0, nil
		}
		t.applyRcvGrowth()
		// The end of the stream is read before the ring: the loop puts
		// data in the ring before it publishes the FIN or the close
		// behind it, so an empty ring then means the data is all read.
		// Read the other way round, data and FIN arriving in between
		// would end the stream before its last bytes.
		fin := t.c.shRcvFin.Load()
		err := t.connErr()
		closed := tcpState(t.c.shState.Load()) == stateClosed
		if n := t.readSome(p); n > 0 {
			return n, nil
		}
		// The peer's FIN ends the stream cleanly even if a reset
		// followed it.
		if fin {
			return 0, io.EOF
		}
		if err != nil {
			return 0, t.opError("read", err)
		}
		if closed {
			return 0, io.EOF
		}
		select {
		case <-t.rWake:
		case <-t.done:
		case <-t.rdl.wait():
			return 0, t.opError("read", os.ErrDeadlineExceeded)
		}
	}
}

// applyRcvGrowth and applySndGrowth swap in the larger ring that
// auto-tuning asked for (tcp_tune.go), if it did; the caller holds the
// read or write lock.
func (t *tcpSock) applyRcvGrowth() {
	if t.c.growRcv.Load() > 0 {
		t.resizeRcv(int(t.c.growRcv.Swap(0)), false)
	}
}

func (t *tcpSock) applySndGrowth() {
	if t.c.growSnd.Load() > 0 {
		t.resizeSnd(int(t.c.growSnd.Swap(0)), false)
	}
}

// readSome takes what the receive ring holds, up to len(p), and tells the
// loop when that opened a window it had to advertise small.
func (t *tcpSock) readSome(p []byte) int {
	rb := t.c.rcvBuf.Load()
	if rb == nil {
		return 0
	}
	avail := rb.Len()
	n := readFrom(rb, avail, t.c.held.Load(), p)
	if w := t.wantFree.Load(); n > 0 && w > 0 && int64(rb.Free()) >= w {
		t.wantFree.Store(0)
		t.push()
	}
	return n
}

// readFrom takes up to len(p) bytes from rb, of which avail were
// published when the reader looked, and then h, the connection's held
// frames (nil: none yet). The loop makes the list before it holds the
// first frame, so with none the bytes to read are the avail looked at
// before: those published since may stand for a frame held meanwhile,
// whose bytes are not in the ring.
func readFrom(rb *ring.Bytes, avail int, h *rcvHeld, p []byte) int {
	if h != nil {
		return h.read(rb, p)
	}
	return rb.Read(p[:min(len(p), avail)])
}

// writeSome puts as much of p as fits into the send ring, making the ring
// on the first write, and tells the loop. A ring the stack's buffer
// memory has no room for, once it holds more than ringCharged, fails the
// write with ENOBUFS and resets the connection, as one that would not fit
// when it opened.
func (t *tcpSock) writeSome(p []byte) (int, error) {
	sb := t.c.sndBuf.Load()
	if sb == nil {
		sb = ring.Get(t.c.sndSize)
		sb.Count(&t.s.stored)
		t.c.sndBuf.Store(sb)
	}
	if !t.s.chargeRing(&t.c.sndMem, t.c.sndSize, sb.Len()+len(p)) {
		t.q.post(func(*queue) { t.c.abortOnMemory() })
		return 0, syscall.ENOBUFS
	}
	n := sb.Write(p)
	if n > 0 {
		t.push()
	}
	return n, nil
}

// push asks the loop to look at the connection.
func (t *tcpSock) push() {
	t.q.ready.push(&t.c.readyNode)
	t.s.wake(t.q)
}

// Write implements net.Conn. It returns once all of p is in the send
// buffer.
func (t *tcpSock) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	done := 0
	for {
		if t.closed.Load() {
			return done, t.opError("write", net.ErrClosed)
		}
		if t.writeShut.Load() {
			return done, t.opError("write", syscall.EPIPE)
		}
		if isClosed(t.wdl.wait()) {
			return done, t.opError("write", os.ErrDeadlineExceeded)
		}
		if err := t.connErr(); err != nil {
			return done, t.opError("write", err)
		}
		switch tcpState(t.c.shState.Load()) {
		case stateEstablished, stateCloseWait:
		default:
			return done, t.opError("write", syscall.EPIPE)
		}
		if done == len(p) {
			return done, nil
		}
		t.applySndGrowth()
		n, err := t.writeSome(p[done:])
		if err != nil {
			return done, t.opError("write", err)
		}
		if n > 0 {
			done += n
			continue
		}
		t.sndWaiting.Store(true)
		select {
		case <-t.wWake:
		case <-t.done:
		case <-t.wdl.wait():
			t.sndWaiting.Store(false)
			return done, t.opError("write", os.ErrDeadlineExceeded)
		}
		t.sndWaiting.Store(false)
	}
}

// Close implements net.Conn. Unread data makes it a reset (RFC 9293
// §3.10.4, RFC 2525 §2.17), as does SetLinger(0); otherwise the
// connection finishes in the background with FIN.
func (t *tcpSock) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return t.opError("close", net.ErrClosed)
	}
	t.closeOnce.Do(func() { close(t.done) })
	// A Read or Write under way returns at done. Once it has, no call of
	// this socket touches the rings again, and the loop may reuse them
	// after appClose.
	t.rmu.Lock()
	defer t.rmu.Unlock()
	t.wmu.Lock()
	defer t.wmu.Unlock()
	c := t.c
	t.q.post(func(q *queue) { c.appClose() })
	return nil
}

// appClose is the CLOSE call of RFC 9293 §3.10.4, on the loop.
func (c *tcpConn) appClose() {
	q := c.q
	c.appClosed = true
	if c.state == stateClosed {
		c.releaseBuffers()
		return
	}
	rb := c.rcvBuf.Load()
	unread := rb != nil && rb.Len() > 0
	if unread || c.linger == 0 {
		q.counters.TCP.AbortOnClose++
		c.abort()
		return
	}
	switch c.state {
	case stateSynSent:
		c.destroy()
		return
	case stateTimeWait:
		c.sock = nil
		c.releaseBuffers()
		return
	}
	if q.tcp.orphans >= q.s.cfg.TCP.MaxOrphans {
		q.counters.TCP.OrphanDrops++
		q.limitReached(limitOrphans)
		c.abort()
		return
	}
	c.orphan = true
	q.tcp.orphans++
	c.sock = nil
	c.closeWrite = true
	if c.state == stateFinWait2 {
		c.schedule(timerKeepAlive, q.s.cfg.TCP.FinTimeout)
	}
	c.output()
	q.flushAcks()
}

// CloseWrite shuts down the sending side: FIN after the buffered data.
func (t *tcpSock) CloseWrite() error {
	if t.closed.Load() {
		return t.opError("close", net.ErrClosed)
	}
	if !t.writeShut.CompareAndSwap(false, true) {
		return nil
	}
	c := t.c
	t.q.post(func(q *queue) {
		c.closeWrite = true
		c.output()
		q.flushAcks()
	})
	return nil
}

// CloseRead shuts down the receiving side: reads return io.EOF.
func (t *tcpSock) CloseRead() error {
	if t.closed.Load() {
		return t.opError("close", net.ErrClosed)
	}
	t.readShut.Store(true)
	notify(t.rWake)
	return nil
}

// LocalAddr implements net.Conn.
func (t *tcpSock) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(t.laddr) }

// RemoteAddr implements net.Conn.
func (t *tcpSock) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(t.raddr) }

// setOpt runs fn on the connection in its loop.
func (t *tcpSock) setOpt(fn func(c *tcpConn)) error {
	if t.closed.Load() {
		return t.opError("set", net.ErrClosed)
	}
	c := t.c
	return t.s.call(context.Background(), t.q, func(q *queue) error {
		fn(c)
		return nil
	})
}

// SetNoDelay turns Nagle's algorithm off (true, Go's default) or on.
func (t *tcpSock) SetNoDelay(on bool) error {
	return t.setOpt(func(c *tcpConn) {
		c.nodelay = on
		if on {
			c.output()
		}
	})
}

// SetKeepAlive turns keepalive probes on or off.
func (t *tcpSock) SetKeepAlive(on bool) error {
	return t.setOpt(func(c *tcpConn) {
		c.keepAlive = on
		if on && c.keepAliveState() {
			c.schedule(timerKeepAlive, c.keepIdle)
		}
	})
}

// SetKeepAlivePeriod sets the idle time and interval of keepalive probes,
// as Go's net does.
func (t *tcpSock) SetKeepAlivePeriod(d time.Duration) error {
	if d <= 0 {
		return t.opError("set", syscall.EINVAL)
	}
	return t.setOpt(func(c *tcpConn) {
		c.keepIdle, c.keepIntvl = d, d
		if c.keepAlive && c.keepAliveState() {
			// A new idle time applies at once, as Linux's TCP_KEEPIDLE
			// (Go's net.Dialer sets it after SO_KEEPALIVE).
			c.schedule(timerKeepAlive, c.keepIdle)
		}
	})
}

// keepAliveState says whether the keepalive timer is the keepalive's: in
// FIN-WAIT-2 and TIME-WAIT it times the state itself.
func (c *tcpConn) keepAliveState() bool {
	return c.state == stateEstablished || c.state == stateCloseWait
}

// SetLinger sets the behaviour of Close: sec < 0 finishes in the
// background (default), 0 resets the connection.
func (t *tcpSock) SetLinger(sec int) error {
	return t.setOpt(func(c *tcpConn) { c.linger = max(sec, -1) })
}

// SetReadBuffer sets the receive buffer size (SO_RCVBUF) and turns its
// auto-tuning off. It never shrinks the buffer below what it holds or
// below the window already advertised, and the window scale chosen at the
// handshake (for TCPConfig.RecvBufferMax) bounds how much of a larger
// buffer can be advertised.
func (t *tcpSock) SetReadBuffer(n int) error {
	if n <= 0 {
		return t.opError("set", syscall.EINVAL)
	}
	n = min(n, t.s.cfg.Limits.SocketBuffer)
	t.rmu.Lock()
	defer t.rmu.Unlock()
	return t.resizeRcv(n, true)
}

// resizeRcv makes the receive buffer n bytes: the application's choice
// (app), which ends auto-tuning, or auto-tuning's, which gives way to it.
// t.rmu is held, so Read does not use the ring meanwhile.
func (t *tcpSock) resizeRcv(n int, app bool) error {
	return t.setOpt(func(c *tcpConn) {
		if app {
			c.tune.rcvLocked = true
		} else if c.tune.rcvLocked {
			return
		}
		rb := c.rcvBuf.Load()
		if rb == nil {
			// Not made yet: it will be made, and charged, at n, but
			// never below the window already advertised.
			c.rcvSize = max(n, int(c.rcvAdv.Sub(c.rcvNxt)))
			return
		}
		charged := c.rcvMem.Load() > 0
		ahead := int(c.rcvAdv.Sub(c.rcvNxt))
		if c.ooo.n > 0 {
			ahead = max(ahead, int(c.ooo.ranges[c.ooo.n-1].end.Sub(c.rcvNxt)))
		}
		want := max(n, rb.Len()+max(ahead, 0))
		if charged && !c.resizeBuffer(&c.rcvMem, c.rcvSize, want) {
			return
		}
		nb := rb.Grown(want, max(ahead, 0))
		c.rcvSize = nb.Cap()
		c.rcvBuf.Store(nb)
		// A sender the window held learns of the room now.
		if c.announceWindow() {
			c.q.ready.push(&c.readyNode)
		}
	})
}

// SetWriteBuffer sets the send buffer size (SO_SNDBUF), never below the
// unacknowledged data it holds, and turns its auto-tuning off.
func (t *tcpSock) SetWriteBuffer(n int) error {
	if n <= 0 {
		return t.opError("set", syscall.EINVAL)
	}
	n = min(n, t.s.cfg.Limits.SocketBuffer)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	return t.resizeSnd(n, true)
}

// resizeSnd makes the send buffer n bytes, as resizeRcv does the receive
// buffer. t.wmu is held, so Write does not use the ring meanwhile.
func (t *tcpSock) resizeSnd(n int, app bool) error {
	return t.setOpt(func(c *tcpConn) {
		if app {
			c.tune.sndLocked = true
		} else if c.tune.sndLocked {
			return
		}
		sb := c.sndBuf.Load()
		if sb == nil {
			// Not made yet: it will be made, and charged, at n.
			c.sndSize = n
			return
		}
		if c.sndMem.Load() > 0 && !c.resizeBuffer(&c.sndMem, c.sndSize, max(n, sb.Len()-c.sndLag)) {
			return
		}
		// Acknowledged bytes frames still point into stay in the old
		// ring, which nobody writes again.
		sb.Discard(c.sndLag)
		c.sndLag = 0
		nb := sb.Grown(n, 0)
		c.sndSize = nb.Cap()
		c.sndBuf.Store(nb)
	})
}

// SetUserTimeout bounds how long sent data may stay unacknowledged before
// the connection fails with ETIMEDOUT (TCP_USER_TIMEOUT, RFC 5482).
func (t *tcpSock) SetUserTimeout(d time.Duration) error {
	return t.setOpt(func(c *tcpConn) { c.userTimeout = d })
}
