package stack

import (
	"maps"
	"net/netip"
	"slices"
	"syscall"

	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/tcp/cc"
	"github.com/ustack/ustack/stack/tcp/isn"
	"github.com/ustack/ustack/stack/tcp/rtt"
	"github.com/ustack/ustack/stack/tcp/sack"
	"github.com/ustack/ustack/stack/wire"
)

// tcpTable is a queue's TCP state: connections by 4-tuple and listeners by
// port.
type tcpTable struct {
	conns     map[connKey]*tcpConn
	listeners map[uint16][]*tcpListener
	orphans   int
}

func (t *tcpTable) init() {
	t.conns = map[connKey]*tcpConn{}
	t.listeners = map[uint16][]*tcpListener{}
}

// listener finds the listener for a local address: bound to it exactly,
// or to the wildcard.
func (t *tcpTable) listener(local netip.AddrPort) *tcpListener {
	var wild *tcpListener
	for _, ln := range t.listeners[local.Port()] {
		a := ln.laddr.Addr()
		if a == local.Addr() {
			return ln
		}
		if !a.IsValid() && ln.accepts(local.Addr()) {
			wild = ln
		}
	}
	return wild
}

func (t *tcpTable) remove(c *tcpConn) {
	if t.conns[c.key] == c {
		delete(t.conns, c.key)
	}
	if c.orphan {
		c.orphan = false
		t.orphans--
	}
}

// portInUse says whether a local port is taken for connections to remote.
func (t *tcpTable) portInUse(local, remote netip.AddrPort) bool {
	if _, ok := t.conns[connKey{local, remote}]; ok {
		return true
	}
	return len(t.listeners[local.Port()]) > 0
}

// newConn makes a connection control block for key on q.
func (q *queue) newConn(key connKey, nh nextHop) *tcpConn {
	cfg := &q.s.cfg.TCP
	c := &tcpConn{q: q, key: key, route: nh, linger: -1}
	c.owner = c
	for i := range c.timers {
		c.timers[i] = tcpTimer{c: c, kind: uint8(i)}
		c.timers[i].Handler = &c.timers[i]
	}
	c.rtt.Init(rtt.Config{MinRTO: cfg.MinRTO, MaxRTO: cfg.MaxRTO})
	// MSS from the route's MTU (RFC 9293 §3.7.1, RFC 6691).
	mtu := q.linkMTU(nh, key.remote.Addr())
	if p := q.pmtu.get(key.remote.Addr(), q.now); p > 0 && p < mtu {
		mtu = p
	}
	c.advMSS = mtu - ipHeaderLen(key.remote.Addr()) - wire.TCPHeaderLen
	c.mss = 536
	c.peerMSS = 536
	c.keepIdle, c.keepIntvl, c.keepCnt = cfg.KeepAliveIdle, cfg.KeepAliveInterval, cfg.KeepAliveCount
	c.rcvScale = windowScaleFor(cfg.RecvBuffer)
	c.sndSize, c.rcvSize = cfg.SendBuffer, cfg.RecvBuffer
	c.tsOffset = q.rng.Uint32()
	c.rtxTS = c.tsNow()
	c.iss = q.isn.ISN(isn.Tuple{Local: key.local, Remote: key.remote}, q.now)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	c.recover = c.iss
	return c
}

// windowScaleFor is the smallest shift that lets a 16-bit window cover
// a buffer of size bytes (RFC 7323 §2.3, at most 14).
func windowScaleFor(size int) uint {
	s := uint(0)
	for s < 14 && 65535<<s < size {
		s++
	}
	return s
}

// setMSS settles the send MSS once the peer's is known: the smaller of
// its announcement and our route's, less the options every segment
// carries.
func (c *tcpConn) setMSS(peer int) {
	c.peerMSS = peer
	c.mss = min(peer, c.advMSS)
	if c.tsOK {
		c.mss -= 12
	}
	c.mss = max(c.mss, 64)
	c.cc = newController(c.q.s.cfg.TCP.Congestion, c.mss)
	c.sb = sack.New(c.mss)
}

func newController(name string, mss int) cc.Controller {
	if name == "reno" {
		return cc.NewReno(cc.Config{MSS: mss})
	}
	return cc.NewCubic(cc.Config{MSS: mss})
}

// reserveBuffers reserves the connection's buffer memory, made as the
// rings are first used; false, counted and logged, when the stack's
// buffer memory is spent.
func (c *tcpConn) reserveBuffers() bool {
	q := c.q
	n := ring.Size(c.sndSize) + ring.Size(c.rcvSize)
	if !q.s.chargeBuffers(n) {
		q.counters.TCP.AbortOnMemory++
		q.limitReached(limitBufferMemory)
		return false
	}
	c.bufMem = n
	return true
}

// resizeBuffer charges the change of a ring's size from one size to
// another and says whether it fits the stack's buffer memory.
func (c *tcpConn) resizeBuffer(from, to int) bool {
	d := ring.Size(to) - ring.Size(from)
	if d > 0 && !c.q.s.chargeBuffers(d) {
		c.q.limitReached(limitBufferMemory)
		return false
	}
	if d < 0 {
		c.q.s.bufMem.Add(int64(d))
	}
	c.bufMem += d
	return true
}

// negotiate applies the options of the peer's SYN (RFC 7323, RFC 2018).
func (c *tcpConn) negotiate(o *wire.TCPOptions, ourSYN bool) {
	if o.HasWindowScale {
		c.wsOK = true
		c.sndScale = uint(min(o.WindowScale, 14))
	} else {
		c.wsOK = false
		c.sndScale = 0
		c.rcvScale = 0
	}
	c.sackOK = o.SACKPermitted
	c.tsOK = o.HasTimestamps
	if c.tsOK {
		c.tsRecent = o.TSVal
		c.tsRecentT = c.q.now
	}
	mss := 536
	if o.HasMSS && o.MSS > 0 {
		mss = int(o.MSS)
	}
	c.setMSS(mss)
	_ = ourSYN
}

// connect opens a connection from local (port 0: an ephemeral port) to
// remote for sock, and sends the SYN.
func (q *queue) connect(sock *tcpSock, local, remote netip.AddrPort, nh nextHop) (*tcpConn, error) {
	t := &q.tcp
	if len(t.conns) >= q.s.cfg.TCP.MaxConnections {
		q.counters.TCP.ConnLimitDrops++
		q.limitReached(limitConnections)
		return nil, syscall.EAGAIN
	}
	if local.Port() == 0 {
		port, ok := q.ephemeralPort(local.Addr(), remote)
		if !ok {
			return nil, syscall.EADDRNOTAVAIL
		}
		local = netip.AddrPortFrom(local.Addr(), port)
	} else if t.portInUse(local, remote) {
		return nil, syscall.EADDRINUSE
	}
	key := connKey{local, remote}
	c := q.newConn(key, nh)
	c.sock = sock
	c.nodelay = sock.nodelay
	c.setMSS(c.advMSS)
	if !c.reserveBuffers() {
		return nil, syscall.ENOBUFS
	}
	c.setState(stateSynSent)
	t.conns[key] = c
	c.sendSyn()
	return c, nil
}

// ephemeralPort picks a local port for a connection to remote: RFC 6056
// §3.3.3's double-hash algorithm, so consecutive connections to one peer
// do not reuse a port soon and an observer cannot predict them.
func (q *queue) ephemeralPort(local netip.Addr, remote netip.AddrPort) (uint16, bool) {
	span := uint32(ephemeralHigh - ephemeralLow + 1)
	// F(local, remote, secret) of RFC 6056 is the keyed hash of the ISN
	// generator with the port left out and no clock.
	offset := uint32(q.isn.ISN(isn.Tuple{Local: netip.AddrPortFrom(local, 0), Remote: remote}, 0))
	for i := uint32(0); i < span; i++ {
		q.portCounter++
		p := uint16(ephemeralLow + (offset+q.portCounter)%span)
		if !q.tcp.portInUse(netip.AddrPortFrom(local, p), remote) {
			return p, true
		}
	}
	return 0, false
}

// sortedConns lists the connections in key order, for deterministic walks.
func (t *tcpTable) sortedConns() []*tcpConn {
	cs := make([]*tcpConn, 0, len(t.conns))
	for _, c := range t.conns {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *tcpConn) int {
		if r := a.key.local.Compare(b.key.local); r != 0 {
			return r
		}
		return a.key.remote.Compare(b.key.remote)
	})
	return cs
}

// closeAll resets every connection and closes every listener: the stack
// is shutting down.
func (t *tcpTable) closeAll(q *queue) {
	for _, c := range t.sortedConns() {
		c.abort()
		if c.sock != nil {
			c.sock.wakeAll()
		}
	}
	for _, ln := range t.sortedListeners() {
		ln.closed.Store(true)
		ln.once.Do(func() { close(ln.done) })
	}
	t.listeners = map[uint16][]*tcpListener{}
}

// sortedListeners lists the listeners in port order.
func (t *tcpTable) sortedListeners() []*tcpListener {
	var ls []*tcpListener
	for _, p := range slices.Sorted(maps.Keys(t.listeners)) {
		ls = append(ls, t.listeners[p]...)
	}
	return ls
}
