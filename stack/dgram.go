package stack

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ustack/ustack/stack/internal/ring"
)

// dgramSock is a datagram socket: UDP, or raw ICMP ("ip4:icmp",
// "ip6:ipv6-icmp"). The application and the loops share two rings of
// records; neither locks the other out. The socket sends from its queue's
// loop; it is in every queue's table, and whichever queue a datagram
// arrives on delivers it (rxMu orders those producers). It implements
// net.PacketConn and net.Conn.
type dgramSock struct {
	readyNode
	s     *Stack
	q     *queue
	netw  string // "udp", "udp4", "udp6", "ip4:icmp", "ip6:ipv6-icmp"
	proto uint8
	fam   int // 0: both, 4 or 6

	// Fixed once bound, before the loop sees the socket.
	laddr netip.AddrPort // the address may be the zero Addr: any
	raddr netip.AddrPort // valid when connected
	// member: laddr is a group the socket joined on interface member-1
	// (ListenMulticastUDP), which it leaves on Close.
	member int

	rx, tx         *ring.Bytes
	rxWake, txWake chan struct{}
	done           chan struct{}
	closed         atomic.Bool
	broadcast      atomic.Bool
	// Multicast sending: the TTL or hop limit (0: 1) and whether the
	// group's members on the stack do not get a copy.
	mcastTTL    atomic.Uint32
	mcastNoLoop atomic.Bool
	softErr     atomic.Int32 // a pending errno from ICMP, reported once

	rmu, wmu sync.Mutex // serialise application readers and writers
	rxMu     sync.Mutex // serialises the queues delivering to rx
	deadlines
	// The last destination written to, under wmu: wDst has a route in
	// the routing snapshot wSh, and is a broadcast address when wBcast.
	wSh        *shared
	wDst       netip.Addr
	wBcast     bool
	rbuf, wbuf [recHdrLen]byte
	rxHdr      [recHdrLen]byte // under rxMu
	closeOnce  sync.Once

	// The route of the last datagram sent (loop side): to rtDst, valid
	// while the queue's routing snapshot is rtSh.
	rtSh  *shared
	rtDst netip.Addr
	rtNH  nextHop
}

// Records in the rings: a header, then the payload. A record never wraps
// around the end of the ring: the producer skips to the start instead,
// writing a skip header when there is room for one. A record header holds
// the payload length, the port, the address and its family (4 or 6); a
// skip header has family 0, since an IPv6 datagram's length can be 65535.
const (
	recHdrLen = 24
	recSkip   = 0
	// minDgramRing fits the largest datagram even after a skip to the
	// ring's start.
	minDgramRing = 2 * (recHdrLen + 65535)
)

func newDgramSock(s *Stack, q *queue, netw string, proto uint8, fam int) *dgramSock {
	d := &dgramSock{
		s: s, q: q, netw: netw, proto: proto, fam: fam,
		rx:        ring.New(max(s.cfg.UDP.RecvBuffer, minDgramRing)),
		tx:        ring.New(max(s.cfg.UDP.SendBuffer, minDgramRing)),
		rxWake:    make(chan struct{}, 1),
		txWake:    make(chan struct{}, 1),
		done:      make(chan struct{}),
		deadlines: makeDeadlines(),
	}
	d.owner = d
	return d
}

func putRecHdr(h []byte, n int, ap netip.AddrPort) {
	binary.BigEndian.PutUint16(h[0:], uint16(n))
	binary.BigEndian.PutUint16(h[2:], ap.Port())
	a := ap.Addr().As16()
	copy(h[4:20], a[:])
	h[20] = 6
	if ap.Addr().Is4() {
		h[20] = 4
	}
}

func getRecHdr(h []byte) (int, netip.AddrPort) {
	n := int(binary.BigEndian.Uint16(h[0:]))
	a := netip.AddrFrom16([16]byte(h[4:20]))
	if h[20] == 4 {
		a = a.Unmap()
	}
	return n, netip.AddrPortFrom(a, binary.BigEndian.Uint16(h[2:]))
}

// putRecord appends a record to r if it fits, as the producer.
func putRecord(r *ring.Bytes, hdr []byte, ap netip.AddrPort, payload []byte) bool {
	need := recHdrLen + len(payload)
	pad := 0
	if toEnd := r.TailToEnd(); toEnd < need {
		pad = toEnd
	}
	if r.Free() < pad+need {
		return false
	}
	if pad >= recHdrLen {
		hdr[20] = recSkip
		r.WriteAt(hdr[:recHdrLen], 0)
	}
	putRecHdr(hdr, len(payload), ap)
	r.WriteAt(hdr[:recHdrLen], pad)
	r.WriteAt(payload, pad+recHdrLen)
	r.Commit(pad + need)
	return true
}

// nextRecord finds the next record in r as the consumer: its payload (a
// slice into the ring, valid until discard) and address. ok is false when
// r is empty.
func nextRecord(r *ring.Bytes, hdr []byte) (payload []byte, ap netip.AddrPort, ok bool) {
	for r.Len() > 0 {
		if toEnd := r.HeadToEnd(); toEnd < recHdrLen {
			r.Discard(toEnd)
			continue
		}
		r.Peek(hdr[:recHdrLen], 0)
		if hdr[20] == recSkip {
			r.Discard(r.HeadToEnd())
			continue
		}
		n, ap := getRecHdr(hdr)
		p, _ := r.Slices(recHdrLen, n)
		return p, ap, true
	}
	return nil, netip.AddrPort{}, false
}

func discardRecord(r *ring.Bytes, payloadLen int) { r.Discard(recHdrLen + payloadLen) }

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// deliver queues a received datagram for the application (loop side, any
// queue). It reports false when the receive buffer is full.
func (d *dgramSock) deliver(from netip.AddrPort, payload []byte) bool {
	d.rxMu.Lock()
	ok := putRecord(d.rx, d.rxHdr[:], from, payload)
	d.rxMu.Unlock()
	if !ok {
		return false
	}
	notify(d.rxWake)
	return true
}

// setSoftError records an asynchronous error (ICMP) for the next call.
func (d *dgramSock) setSoftError(e syscall.Errno) {
	d.softErr.Store(int32(e))
	notify(d.rxWake)
	notify(d.txWake)
}

func (d *dgramSock) takeSoftError() error {
	if e := d.softErr.Swap(0); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// onReady sends what the application queued (loop side).
func (d *dgramSock) onReady(q *queue) {
	for {
		payload, to, ok := nextRecord(d.tx, q.txHdr[:])
		if !ok {
			break
		}
		q.sendDatagram(d, to, payload)
		discardRecord(d.tx, len(payload))
	}
	notify(d.txWake)
}

func (d *dgramSock) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: d.netw, Source: d.LocalAddr(), Addr: addr, Err: err}
}

func (d *dgramSock) netAddr(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() {
		return nil
	}
	if d.proto != protoUDP {
		return &net.IPAddr{IP: ap.Addr().AsSlice()}
	}
	return net.UDPAddrFromAddrPort(ap)
}

// ReadFrom implements net.PacketConn. A datagram longer than p is
// truncated to len(p), as recvfrom does.
func (d *dgramSock) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := d.read(p)
	if err != nil {
		return n, nil, d.opError("read", d.netAddr(d.raddr), err)
	}
	return n, d.netAddr(from), nil
}

// ReadFromUDPAddrPort is ReadFrom without allocating an address.
func (d *dgramSock) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	n, from, err := d.read(p)
	if err != nil {
		return n, from, d.opError("read", d.netAddr(d.raddr), err)
	}
	return n, from, nil
}

// Read implements net.Conn.
func (d *dgramSock) Read(p []byte) (int, error) {
	n, _, err := d.ReadFrom(p)
	return n, err
}

func (d *dgramSock) read(p []byte) (int, netip.AddrPort, error) {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	for {
		if d.closed.Load() {
			return 0, netip.AddrPort{}, net.ErrClosed
		}
		if isClosed(d.rdl.wait()) {
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
		if payload, from, ok := nextRecord(d.rx, d.rbuf[:]); ok {
			n := copy(p, payload)
			discardRecord(d.rx, len(payload))
			return n, from, nil
		}
		if err := d.takeSoftError(); err != nil {
			return 0, netip.AddrPort{}, err
		}
		select {
		case <-d.rxWake:
		case <-d.done:
		case <-d.rdl.wait():
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
	}
}

// WriteTo implements net.PacketConn.
func (d *dgramSock) WriteTo(p []byte, addr net.Addr) (int, error) {
	ap, err := d.addrPortOf(addr)
	if err != nil {
		return 0, d.opError("write", addr, err)
	}
	if d.raddr.IsValid() {
		return 0, d.opError("write", addr, syscall.EISCONN)
	}
	return d.write(p, ap, addr)
}

// WriteToUDPAddrPort is WriteTo without an address allocation.
func (d *dgramSock) WriteToUDPAddrPort(p []byte, ap netip.AddrPort) (int, error) {
	if d.raddr.IsValid() {
		return 0, d.opError("write", d.netAddr(ap), syscall.EISCONN)
	}
	return d.write(p, ap, nil)
}

// Write implements net.Conn: a datagram to the connected peer.
func (d *dgramSock) Write(p []byte) (int, error) {
	if !d.raddr.IsValid() {
		return 0, d.opError("write", nil, syscall.EDESTADDRREQ)
	}
	return d.write(p, d.raddr, nil)
}

func (d *dgramSock) addrPortOf(addr net.Addr) (netip.AddrPort, error) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		if d.proto == protoUDP {
			return a.AddrPort(), nil
		}
	case *net.IPAddr:
		if d.proto != protoUDP {
			ip, ok := netip.AddrFromSlice(a.IP)
			if ok {
				return netip.AddrPortFrom(ip.Unmap(), 0), nil
			}
		}
	}
	return netip.AddrPort{}, syscall.EINVAL
}

// maxUDPPayload is the largest UDP payload over IPv4: 65535 less the IP
// and UDP headers.
const maxUDPPayload = 65535 - 20 - 8

// maxPayload is the largest datagram a socket of protocol proto sends to
// a: over IPv6 the payload length (65535) counts no IP header.
func maxPayload(a netip.Addr, proto uint8) int {
	switch {
	case a.Is4():
		return maxUDPPayload
	case proto == protoUDP:
		return 65535 - 8
	}
	return 65535
}

func (d *dgramSock) write(p []byte, to netip.AddrPort, addr net.Addr) (int, error) {
	n, err := d.send(p, to)
	if err != nil {
		if addr == nil {
			addr = d.netAddr(to)
		}
		return n, d.opError("write", addr, err)
	}
	return n, nil
}

func (d *dgramSock) send(p []byte, to netip.AddrPort) (int, error) {
	to = netip.AddrPortFrom(to.Addr().Unmap().WithZone(""), to.Port())
	a := to.Addr()
	if !a.IsValid() || d.fam == 4 && !a.Is4() || d.fam == 6 && a.Is4() ||
		d.laddr.Addr().IsValid() && d.laddr.Addr().Is4() != a.Is4() {
		return 0, syscall.EAFNOSUPPORT
	}
	if len(p) > maxPayload(a, d.proto) {
		return 0, syscall.EMSGSIZE
	}
	if d.proto == protoUDP && to.Port() == 0 || d.proto == protoICMPv6 && len(p) < 4 {
		// ICMPv6 needs room for the checksum the stack fills in.
		return 0, syscall.EINVAL
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if sh := d.s.shared(); sh != d.wSh || a != d.wDst {
		if _, ok := sh.lookup(a); !ok {
			return 0, syscall.ENETUNREACH
		}
		d.wSh, d.wDst, d.wBcast = sh, a, isBroadcast(sh, a)
	}
	if d.wBcast && !d.broadcast.Load() {
		return 0, syscall.EACCES
	}
	for {
		if d.closed.Load() {
			return 0, net.ErrClosed
		}
		if isClosed(d.wdl.wait()) {
			return 0, os.ErrDeadlineExceeded
		}
		if d.raddr.IsValid() {
			if err := d.takeSoftError(); err != nil {
				return 0, err
			}
		}
		if putRecord(d.tx, d.wbuf[:], to, p) {
			d.q.ready.push(&d.readyNode)
			d.s.wake(d.q)
			return len(p), nil
		}
		if recHdrLen+len(p) > d.tx.Cap()/2 {
			return 0, syscall.ENOBUFS
		}
		select {
		case <-d.txWake:
		case <-d.done:
		case <-d.wdl.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func isBroadcast(sh *shared, a netip.Addr) bool {
	return a == limitedBroadcast || sh.bcast.get(a) != nil
}

// SetBroadcast allows sending to broadcast addresses (SO_BROADCAST).
func (d *dgramSock) SetBroadcast(on bool) { d.broadcast.Store(on) }

// SetMulticastTTL sets the TTL or hop limit of the datagrams the socket
// sends to groups: 1 (the link) by default, up to 255 to cross multicast
// routers (IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS).
func (d *dgramSock) SetMulticastTTL(ttl int) error {
	if ttl < 1 || ttl > 255 {
		return d.opError("set", nil, syscall.EINVAL)
	}
	d.mcastTTL.Store(uint32(ttl))
	return nil
}

// SetMulticastLoopback sets whether the group's members on this stack get
// a copy of what the socket sends to a group (IP_MULTICAST_LOOP), as they
// do by default.
func (d *dgramSock) SetMulticastLoopback(on bool) { d.mcastNoLoop.Store(!on) }

// Close implements net.PacketConn.
func (d *dgramSock) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return d.opError("close", nil, net.ErrClosed)
	}
	d.closeOnce.Do(func() { close(d.done) })
	for _, q := range d.s.queues {
		q.post(func(q *queue) { q.unbind(d) })
	}
	if d.member > 0 {
		d.s.queues[0].post(func(q *queue) { q.nd.ifs[d.member-1].join(d.laddr.Addr(), -1) })
	}
	return nil
}

// LocalAddr implements net.PacketConn.
func (d *dgramSock) LocalAddr() net.Addr {
	ap := d.laddr
	if !ap.Addr().IsValid() {
		ap = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
		if d.fam != 4 {
			ap = netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())
		}
	}
	return d.netAddr(ap)
}

// RemoteAddr implements net.Conn.
func (d *dgramSock) RemoteAddr() net.Addr { return d.netAddr(d.raddr) }
