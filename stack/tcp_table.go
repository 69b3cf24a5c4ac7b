package stack

import (
	"maps"
	"net/netip"
	"slices"
	"sync/atomic"
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
	conns map[connKey]*tcpConn
	// last is the connection the last segment was for: a burst is mostly
	// one connection's, and comparing keys costs less than hashing one.
	last      *tcpConn
	listeners map[uint16][]*listenQueue
	orphans   int
	// cookieConn is the scratch connection a SYN-ACK with a cookie is
	// built from.
	cookieConn tcpConn
	// behind, shedTurn and shedAcc shed cookie SYNs while the queue is
	// behind (see overload and shedCookie); bare and withMSS count the
	// cookie SYNs of late without an MSS option and with one, halved as
	// they reach synMixWindow.
	behind        bool
	shedTurn      bool
	shedAcc       uint32
	bare, withMSS uint32
}

// synMixWindow is how many recent cookie SYNs shedCookie weighs to tell
// whether a flood's SYNs carry an MSS option.
const synMixWindow = 1024

// overload records whether the queue's last receive turn left frames on
// the device. While it is behind, it answers only every other SYN that
// would get a cookie and drops the rest (shedCookie). Under a flood the
// device drops whatever the queue does not read, established connections'
// segments with the rest, and on TAP the kernel's answers to the queue's
// own writes come exactly while the device's queue is full: a connection
// then loses the ACKs of its retransmissions, one timeout after another. A
// SYN-ACK costs the queue more than reading the SYN (on TAP a write, which
// also runs the kernel's side of it), so answering half of them keeps the
// queue reading, and the SYNs dropped are chosen here. Half and no fewer:
// where a real client's SYN cannot be told from a flood's (shedCookie
// tells them apart by the MSS option while it can), its retransmission
// must get through.
func (t *tcpTable) overload(behind bool) { t.behind = behind }

// shedCookie reports whether a SYN that would be answered with a cookie is
// to be dropped instead: half of them while the queue is behind, without
// randomness, so that shedding is deterministic. While most recent cookie
// SYNs had no MSS option, those with one are all answered and the half is
// made of the others: every operating system's stack sends the option and
// flood tools (hping3's SYNs, most spoofed floods) leave it out, so a real
// client's first SYN gets through rather than waiting a second for its
// retransmission. Otherwise every other one of both goes.
func (t *tcpTable) shedCookie(hasMSS bool) bool {
	if hasMSS {
		t.withMSS++
	} else {
		t.bare++
	}
	if t.bare+t.withMSS >= synMixWindow {
		t.bare, t.withMSS = t.bare/2, t.withMSS/2
	}
	if !t.behind {
		return false
	}
	if t.bare <= t.withMSS {
		t.shedTurn = !t.shedTurn
		return t.shedTurn
	}
	if hasMSS {
		return false
	}
	// Of the bare SYNs, (bare+withMSS)/(2*bare) go: half of all.
	t.shedAcc += t.bare + t.withMSS
	if t.shedAcc >= 2*t.bare {
		t.shedAcc -= 2 * t.bare
		return true
	}
	return false
}

func (t *tcpTable) init() {
	t.conns = map[connKey]*tcpConn{}
	t.listeners = map[uint16][]*listenQueue{}
}

// listener finds the listener for a local address: bound to it exactly,
// or to the wildcard.
func (t *tcpTable) listener(local netip.AddrPort) *listenQueue {
	var wild *listenQueue
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

// lookup finds the connection of key, or nil.
func (t *tcpTable) lookup(key connKey) *tcpConn {
	if c := t.last; c != nil && c.key == key {
		return c
	}
	c := t.conns[key]
	if c != nil {
		t.last = c
	}
	return c
}

func (t *tcpTable) remove(c *tcpConn) {
	if t.last == c {
		t.last = nil
	}
	if t.conns[c.key] == c {
		delete(t.conns, c.key)
		if c.q.s.multiQueue() {
			c.q.s.flows.release(c.key, c.q.id)
		}
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

// addConn puts c in the queue's table and, when there are several queues,
// records the queue as its owner.
func (q *queue) addConn(c *tcpConn) {
	q.tcp.conns[c.key] = c
	q.tcp.last = c
	if q.s.multiQueue() {
		q.s.flows.claim(c.key, q.id)
	}
}

// newConn makes a connection control block for key on q.
func (q *queue) newConn(key connKey, nh nextHop) *tcpConn {
	c := new(tcpConn)
	q.initConn(c, key, nh)
	return c
}

// initConn sets up the zero connection c for key over nh.
func (q *queue) initConn(c *tcpConn, key connKey, nh nextHop) {
	cfg := &q.s.cfg.TCP
	c.q, c.key, c.route, c.linger = q, key, nh, -1
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
	c.rcvScale = windowScaleFor(cfg.RecvBufferMax)
	c.sndSize, c.rcvSize = cfg.SendBuffer, cfg.RecvBuffer
	tuple := isn.Tuple{Local: key.local, Remote: key.remote}
	c.tsOffset = q.isn.TSOffset(tuple)
	c.rtxTS = c.tsNow()
	c.iss = q.isn.ISN(tuple, q.now)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	c.recover = c.iss
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

// buffersFit says whether the stack's buffer memory has room for the
// rings of a new connection, which it charges only as they are made;
// false, counted and logged, when it has not.
func (c *tcpConn) buffersFit() bool {
	q := c.q
	n := ring.Size(c.sndSize) + ring.Size(c.rcvSize)
	if int64(n) > q.s.bufferRoom() {
		q.counters.TCP.AbortOnMemory++
		q.limitReached(limitBufferMemory)
		return false
	}
	return true
}

// ringCharged is how much a ring may hold before it counts against
// Limits.BufferMemory, at its size: its smallest store. A connection that
// only ever carried small requests and answers (a keep-alive HTTP
// connection between them) so counts nothing, as an idle one, and any
// ring that can hold more counts as before.
const ringCharged = ring.MinStore

// chargeRing charges a ring of size bytes about to hold holds bytes to mem
// (the connection's sndMem or rcvMem) and the stack, once, when that is
// more than ringCharged; false when the stack's buffer memory has no room
// for it.
func (s *Stack) chargeRing(mem *atomic.Int64, size, holds int) bool {
	if mem.Load() > 0 || holds <= ringCharged {
		return true
	}
	n := ring.Size(size)
	if !s.chargeBuffers(n) {
		return false
	}
	mem.Add(int64(n))
	return true
}

// resizeBuffer charges the change of a made ring's size from one size to
// another to mem and the stack, and says whether it fits the stack's
// buffer memory. (A ring not made yet is charged at its size when made.)
func (c *tcpConn) resizeBuffer(mem *atomic.Int64, from, to int) bool {
	d := ring.Size(to) - ring.Size(from)
	if d > 0 && !c.q.s.chargeBuffers(d) {
		c.q.limitReached(limitBufferMemory)
		return false
	}
	if d < 0 {
		c.q.s.bufMem.Add(int64(d))
	}
	mem.Add(int64(d))
	return true
}

// abortOnMemory resets a connection whose ring Limits.BufferMemory has no
// room for when its first data comes, as one that would not fit when it
// opened is.
func (c *tcpConn) abortOnMemory() {
	c.q.counters.TCP.AbortOnMemory++
	c.q.limitReached(limitBufferMemory)
	c.abort()
}

// unchargeBuffers gives back what the connection's rings charged.
func (c *tcpConn) unchargeBuffers() {
	c.q.s.bufMem.Add(-(c.sndMem.Swap(0) + c.rcvMem.Swap(0)))
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
		port, ok := q.ephemeralPort(local.Addr(), remote, nh.ifc)
		if !ok {
			return nil, syscall.EADDRNOTAVAIL
		}
		local = netip.AddrPortFrom(local.Addr(), port)
	} else if !q.reservePort(local, remote) {
		return nil, syscall.EADDRINUSE
	}
	key := connKey{local, remote}
	c := q.newConn(key, nh)
	c.sock = sock
	c.nodelay = sock.nodelay
	c.setMSS(c.advMSS)
	if !c.buffersFit() {
		if q.s.multiQueue() {
			q.s.flows.release(key, q.id)
		}
		return nil, syscall.ENOBUFS
	}
	c.setState(stateSynSent)
	q.addConn(c)
	c.sendSyn()
	return c, nil
}

// ephemeralPort picks a local port for a connection to remote over ifc:
// RFC 6056 §3.3.3's double-hash algorithm, so consecutive connections to
// one peer do not reuse a port soon and an observer cannot predict them.
// When ifc's device steers by a Toeplitz hash, the port is also one whose
// replies the device steers to this queue; only when there is none is any
// free port taken, and its segments pass from the queue they reach to
// this one (counted as steering misses).
func (q *queue) ephemeralPort(local netip.Addr, remote netip.AddrPort, ifc *iface) (uint16, bool) {
	span := uint32(ephemeralHigh - ephemeralLow + 1)
	// F(local, remote, secret) of RFC 6056 is the keyed hash of the ISN
	// generator with the port left out and no clock.
	offset := uint32(q.isn.ISN(isn.Tuple{Local: netip.AddrPortFrom(local, 0), Remote: remote}, 0))
	steered := false
	for i := uint32(0); i < 2*span; i++ {
		if i == span {
			if !steered {
				break
			}
			// No free port steers home: take any.
			steered = false
		}
		q.portCounter++
		p := uint16(ephemeralLow + (offset+q.portCounter)%span)
		lp := netip.AddrPortFrom(local, p)
		if i < span {
			if to, ok := q.s.rssQueue(ifc, protoTCP, lp, remote); ok && to != q.id {
				steered = true
				continue
			}
		}
		if q.reservePort(lp, remote) {
			return p, true
		}
	}
	return 0, false
}

// reservePort takes a local port for a connection to remote unless it is
// in use: on this queue, or with several queues on any (the flow table
// records the reservation, so two queues cannot take one 4-tuple).
func (q *queue) reservePort(local, remote netip.AddrPort) bool {
	if q.tcp.portInUse(local, remote) {
		return false
	}
	return !q.s.multiQueue() || q.s.flows.claim(connKey{local, remote}, q.id) == q.id
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
		if c.state == stateTimeWait {
			// Its peer is done with it: leave quietly, as Linux does.
			c.destroy()
		} else {
			c.abort()
		}
		// The device's buffers go back with the stack, read or not.
		c.dropHeld()
		if c.sock != nil {
			c.sock.wakeAll()
		}
	}
	for _, ln := range t.sortedListeners() {
		ln.closed.Store(true)
		ln.once.Do(func() { close(ln.done) })
	}
	t.listeners = map[uint16][]*listenQueue{}
}

// sortedListeners lists the listeners in port order.
func (t *tcpTable) sortedListeners() []*listenQueue {
	var ls []*listenQueue
	for _, p := range slices.Sorted(maps.Keys(t.listeners)) {
		ls = append(ls, t.listeners[p]...)
	}
	return ls
}
