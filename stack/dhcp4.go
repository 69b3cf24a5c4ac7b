package stack

import (
	"context"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/ustack/ustack/stack/wire"
)

// A DHCPv4 client (RFC 2131) for interfaces configured with DHCP. It runs
// in queue 0's core on the stack's clock, sends before it has an address
// (from 0.0.0.0 to the limited broadcast) through IPv4 output directly,
// and takes the replies from UDP input before any socket sees them.

// Lease is an IPv4 address leased from a DHCP server.
type Lease struct {
	// Interface is the name of the interface the lease is for.
	Interface string
	// Addr is the leased address with the subnet's prefix length.
	Addr netip.Prefix
	// Router is the default gateway the server gave, if any.
	Router netip.Addr
	// DNS are the DNS servers the server gave.
	DNS []netip.Addr
	// Server is the DHCP server that granted the lease.
	Server netip.Addr
	// Duration is how long the lease lasts from when it was granted.
	Duration time.Duration
}

// DHCP message constants (RFC 2131 §2, §3; RFC 2132).
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
	dhcpFixedLen   = 236
	dhcpMinLen     = 300 // a BOOTP message's minimum (RFC 1542 §2.1)
	dhcpMaxLen     = 576 - wire.IPv4HeaderLen - wire.UDPHeaderLen
	dhcpMagic      = 0x63825363

	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5
	dhcpNak      = 6
	dhcpDecline  = 4
	dhcpRelease  = 7

	optSubnetMask   = 1
	optRouter       = 3
	optDNS          = 6
	optRequestedIP  = 50
	optLeaseTime    = 51
	optMessageType  = 53
	optServerID     = 54
	optParamRequest = 55
	optRenewalTime  = 58
	optRebindTime   = 59
	optClientID     = 61
	optEnd          = 255
	optPad          = 0
)

type dhcpState uint8

const (
	dhcpSelecting  dhcpState = iota // DISCOVER sent, waiting for an offer
	dhcpRequesting                  // REQUEST for an offer sent
	dhcpBound
	dhcpRenewing  // T1 passed: asking the server that granted it
	dhcpRebinding // T2 passed: asking any server
	dhcpChecking  // ACKed: probing whether another host has the address
	dhcpDeclined  // another host had it: waiting to start over
)

// Retransmission (RFC 2131 §4.1): 4 s doubling to 64 s, each ±1 s; a
// renewing or rebinding client waits half the time left, at least 60 s
// (§4.4.5).
const (
	dhcpFirstRetransmit = 4 * time.Second
	dhcpMaxRetransmit   = 64 * time.Second
	dhcpMinRenewWait    = 60 * time.Second
	// dhcpRequestTries bounds the REQUESTs for one offer before starting
	// over with a DISCOVER.
	dhcpRequestTries = 4
	// dhcpDeclineWait is how long after a DECLINE the client starts over
	// (RFC 2131 §3.1 step 5: at least ten seconds).
	dhcpDeclineWait = 10 * time.Second
)

// dhcpClient is the DHCP client of one interface.
type dhcpClient struct {
	x       *ndIface
	state   dhcpState
	xid     uint32
	started int64 // when the current exchange began (the secs field)
	// requested is when the first REQUEST of the exchange went out: the
	// lease's times count from it (§4.4.1).
	requested int64
	tries     int
	retx      ndTimer // the next retransmission
	life      ndTimer // T1, T2, then the lease's end
	// The offer being requested.
	offered netip.Addr
	server  netip.Addr
	// The ACK whose address is being probed, and the probes sent.
	acked  dhcpReply
	probes int
	// The lease and its times, while bound, renewing or rebinding.
	lease      Lease
	has        bool
	t1, t2, to int64
	msg        [dhcpMaxLen]byte
	udp        [wire.UDPHeaderLen]byte
}

func newDHCPClient(x *ndIface) *dhcpClient {
	c := &dhcpClient{x: x}
	c.retx.fn = c.retransmit
	c.retx.Handler = &c.retx
	c.life.fn = c.lifeEvent
	c.life.Handler = &c.life
	return c
}

func (c *dhcpClient) q() *queue { return c.x.nd.q }

// discover starts over: a new transaction, DISCOVER broadcast.
func (c *dhcpClient) discover() {
	q := c.q()
	c.state = dhcpSelecting
	c.xid = c.x.nd.rng.Uint32()
	c.started = q.now
	c.tries = 0
	c.send()
}

// send sends the message of the current state and schedules its
// retransmission.
func (c *dhcpClient) send() {
	q := c.q()
	c.tries++
	switch c.state {
	case dhcpSelecting:
		c.transmit(dhcpDiscover, netip.Addr{}, netip.Addr{}, netip.Addr{})
	case dhcpRequesting:
		c.transmit(dhcpRequest, netip.Addr{}, c.offered, c.server)
	case dhcpRenewing:
		c.transmit(dhcpRequest, c.lease.Addr.Addr(), netip.Addr{}, netip.Addr{})
	case dhcpRebinding:
		c.transmit(dhcpRequest, c.lease.Addr.Addr(), netip.Addr{}, netip.Addr{})
	default:
		return
	}
	var wait int64
	switch c.state {
	case dhcpSelecting, dhcpRequesting:
		d := min(dhcpFirstRetransmit<<min(c.tries-1, 4), dhcpMaxRetransmit)
		wait = int64(d) - int64(time.Second) + c.x.nd.rng.Int64N(int64(2*time.Second))
	case dhcpRenewing:
		wait = max((c.t2-q.now)/2, int64(dhcpMinRenewWait))
	case dhcpRebinding:
		wait = max((c.to-q.now)/2, int64(dhcpMinRenewWait))
	}
	q.timers.Schedule(&c.retx.Timer, q.now+wait)
}

func (c *dhcpClient) retransmit(int64) {
	switch {
	case c.state == dhcpChecking:
		c.probe()
	case c.state == dhcpDeclined:
		c.discover()
	case c.state == dhcpRequesting && c.tries >= dhcpRequestTries:
		c.discover()
	default:
		c.send()
	}
}

// transmit builds and sends one message: ciaddr while we hold an address
// (renewing, rebinding, releasing), the requested address and server of
// an offer we take. Renewals go to the server unicast, everything else to
// the limited broadcast with the broadcast flag, since we cannot receive
// unicast before we have the address (§4.1).
func (c *dhcpClient) transmit(typ uint8, ciaddr, requested, server netip.Addr) {
	q := c.q()
	ifc := c.x.ifc
	m := c.msg[:]
	clear(m)
	m[0], m[1], m[2] = 1, 1, 6 // BOOTREQUEST, Ethernet
	binary.BigEndian.PutUint32(m[4:8], c.xid)
	secs := (q.now - c.started) / int64(time.Second)
	binary.BigEndian.PutUint16(m[8:10], uint16(min(secs, 0xffff)))
	if !ciaddr.IsValid() {
		m[10] = 0x80 // broadcast flag
	} else {
		a := ciaddr.As4()
		copy(m[12:16], a[:])
	}
	copy(m[28:34], ifc.mac[:])
	binary.BigEndian.PutUint32(m[dhcpFixedLen:], dhcpMagic)
	o := m[dhcpFixedLen+4:]
	n := 0
	put := func(code uint8, data ...byte) {
		o[n], o[n+1] = code, byte(len(data))
		copy(o[n+2:], data)
		n += 2 + len(data)
	}
	put(optMessageType, typ)
	put(optClientID, append([]byte{1}, ifc.mac[:]...)...)
	if requested.IsValid() {
		a := requested.As4()
		put(optRequestedIP, a[:]...)
	}
	if server.IsValid() {
		a := server.As4()
		put(optServerID, a[:]...)
	}
	if typ != dhcpRelease && typ != dhcpDecline {
		put(optParamRequest, optSubnetMask, optRouter, optDNS, optLeaseTime, optRenewalTime, optRebindTime)
	}
	o[n] = optEnd
	size := max(dhcpFixedLen+4+n+1, dhcpMinLen)

	src, dst := netip.IPv4Unspecified(), limitedBroadcast
	nh := nextHop{ifc: ifc, addr: limitedBroadcast}
	if ciaddr.IsValid() {
		src = ciaddr
	}
	if c.state == dhcpRenewing || typ == dhcpRelease {
		dst = c.lease.Server
		route, ok := q.shared().lookup(dst)
		if !ok {
			q.noRoute(dst)
			return
		}
		nh = route
	}
	nh.src = src
	wire.UDPFields{SrcPort: dhcpClientPort, DstPort: dhcpServerPort, PayloadLen: size}.Emit(c.udp[:])
	dg := ipDatagram{src: src, dst: dst, proto: protoUDP, hdr: c.udp[:], payload: m[:size], csumOff: 6, pseudo: true, zeroIsNone: true}
	q.counters.UDP.OutDatagrams++
	q.output4(nh, &dg)
}

// dhcpReply is what the client reads of a server's message.
type dhcpReply struct {
	typ          uint8
	yiaddr       netip.Addr
	server       netip.Addr
	mask         int
	router       netip.Addr
	dns          []netip.Addr
	lease        uint32
	t1, t2       uint32
	hasLease     bool
	hasT1, hasT2 bool
}

// dhcpInput takes a datagram to the DHCP client port, if it is a reply to
// one of our clients; it reports whether it was.
func (nd *ndp) dhcpInput(b []byte) bool {
	if len(b) < dhcpFixedLen+4 || b[0] != 2 || b[1] != 1 || b[2] != 6 ||
		binary.BigEndian.Uint32(b[dhcpFixedLen:]) != dhcpMagic {
		return false
	}
	xid := binary.BigEndian.Uint32(b[4:8])
	for _, x := range nd.ifs {
		c := x.dhcp
		if c == nil || c.xid != xid || wire.MAC(b[28:34]) != x.ifc.mac {
			continue
		}
		var r dhcpReply
		if !parseDHCP(b, &r) {
			nd.q.counters.UDP.InErrors++
			return true
		}
		c.input(&r)
		return true
	}
	return false
}

// parseDHCP reads a server's reply; false if it is malformed.
func parseDHCP(b []byte, r *dhcpReply) bool {
	r.yiaddr = netip.AddrFrom4([4]byte(b[16:20]))
	o := b[dhcpFixedLen+4:]
	for len(o) > 0 {
		code := o[0]
		if code == optEnd {
			break
		}
		if code == optPad {
			o = o[1:]
			continue
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return false
		}
		d := o[2 : 2+int(o[1])]
		o = o[2+len(d):]
		switch {
		case code == optMessageType && len(d) == 1:
			r.typ = d[0]
		case code == optServerID && len(d) == 4:
			r.server = netip.AddrFrom4([4]byte(d))
		case code == optSubnetMask && len(d) == 4:
			m := binary.BigEndian.Uint32(d)
			bits := 0
			for m&0x80000000 != 0 {
				bits++
				m <<= 1
			}
			if m != 0 {
				return false
			}
			r.mask = bits
		case code == optRouter && len(d) >= 4 && len(d)%4 == 0:
			r.router = netip.AddrFrom4([4]byte(d[:4]))
		case code == optDNS && len(d) >= 4 && len(d)%4 == 0:
			for i := 0; i+4 <= len(d) && len(r.dns) < maxDNSPerLease; i += 4 {
				r.dns = append(r.dns, netip.AddrFrom4([4]byte(d[i:i+4])))
			}
		case code == optLeaseTime && len(d) == 4:
			r.lease, r.hasLease = binary.BigEndian.Uint32(d), true
		case code == optRenewalTime && len(d) == 4:
			r.t1, r.hasT1 = binary.BigEndian.Uint32(d), true
		case code == optRebindTime && len(d) == 4:
			r.t2, r.hasT2 = binary.BigEndian.Uint32(d), true
		}
	}
	return r.typ != 0
}

// maxDNSPerLease bounds the DNS servers kept from one lease.
const maxDNSPerLease = 3

// input handles a reply to our transaction (RFC 2131 §4.4).
func (c *dhcpClient) input(r *dhcpReply) {
	q := c.q()
	switch {
	case r.typ == dhcpOffer && c.state == dhcpSelecting:
		if !r.server.IsValid() || !usableLeaseAddr(r.yiaddr) {
			q.counters.UDP.InErrors++
			return
		}
		// The first offer is taken (§4.4.1 lets the client choose).
		c.offered, c.server = r.yiaddr, r.server
		c.state, c.tries = dhcpRequesting, 0
		c.requested = q.now
		c.send()
	case r.typ == dhcpAck && (c.state == dhcpRequesting || c.state == dhcpRenewing || c.state == dhcpRebinding):
		if !r.hasLease || !usableLeaseAddr(r.yiaddr) {
			q.counters.UDP.InErrors++
			return
		}
		if c.has && r.yiaddr == c.lease.Addr.Addr() || q.s.cfg.ARP.Probes < 0 {
			c.bind(r)
			return
		}
		// §4.4.1: a new address is checked first.
		c.acked, c.probes, c.state = *r, 0, dhcpChecking
		c.probe()
	case r.typ == dhcpNak && (c.state == dhcpRequesting || c.state == dhcpRenewing || c.state == dhcpRebinding):
		q.log.Warn("dhcp: server refused", "server", r.server, "iface", c.x.ifc.name)
		c.drop()
		c.discover()
	}
}

// probe sends the next ARP probe for the ACKed address, or binds it once
// ARPConfig.Probes have gone unanswered for RetryInterval each (RFC 5227
// §2.1.1).
func (c *dhcpClient) probe() {
	q := c.q()
	if c.probes >= q.s.cfg.ARP.Probes {
		c.bind(&c.acked)
		return
	}
	c.probes++
	q.arpProbe(c.x.ifc, c.acked.yiaddr)
	q.timers.Schedule(&c.retx.Timer, q.now+int64(q.s.cfg.ARP.RetryInterval))
}

// checkARP looks at an ARP packet from another host while the ACKed
// address is probed: one from the address, or a probe for it, means
// another host has it or wants it (RFC 5227 §2.1.1). The lease is then
// declined (RFC 2131 §4.4.1) and the client starts over ten seconds
// later. It reports whether the packet was such a conflict.
func (c *dhcpClient) checkARP(sender, target netip.Addr) bool {
	a := c.acked.yiaddr
	if c.state != dhcpChecking || sender != a && !(sender.IsUnspecified() && target == a) {
		return false
	}
	q := c.q()
	q.counters.ARP.Conflicts++
	q.log.Warn("dhcp: leased address in use, declined", "addr", a, "server", c.acked.server, "iface", c.x.ifc.name)
	c.transmit(dhcpDecline, netip.Addr{}, a, c.acked.server)
	c.state = dhcpDeclined
	q.timers.Schedule(&c.retx.Timer, q.now+int64(dhcpDeclineWait))
	return true
}

func usableLeaseAddr(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() && a != limitedBroadcast
}

// bind takes the lease of an ACK into use: the address, its subnet, the
// default route and the DNS servers, with T1 and T2 (§4.4.5: by default
// half and seven eighths of the lease).
func (c *dhcpClient) bind(r *dhcpReply) {
	q := c.q()
	nd := c.x.nd
	q.timers.Cancel(&c.retx.Timer)
	bits := r.mask
	if bits == 0 {
		bits = 24
	}
	server := r.server
	if !server.IsValid() {
		server = c.lease.Server
	}
	l := Lease{
		Interface: c.x.ifc.name,
		Addr:      netip.PrefixFrom(r.yiaddr, bits),
		Router:    r.router,
		DNS:       r.dns,
		Server:    server,
		Duration:  time.Duration(r.lease) * time.Second,
	}
	renewed := c.has && l.Addr == c.lease.Addr
	if c.has && !renewed {
		c.drop()
	}
	c.lease, c.has, c.state = l, true, dhcpBound
	lease := int64(l.Duration)
	t1, t2 := lease/2, lease*7/8
	if r.hasT1 && int64(r.t1)*int64(time.Second) < lease {
		t1 = int64(r.t1) * int64(time.Second)
	}
	if r.hasT2 && int64(r.t2)*int64(time.Second) < lease && int64(r.t2)*int64(time.Second) > t1 {
		t2 = int64(r.t2) * int64(time.Second)
	}
	c.t1, c.t2 = c.requested+t1, c.requested+t2
	c.to = c.requested + lease
	if r.lease == infiniteLifetime {
		c.t1, c.t2, c.to = 0, 0, 0
		q.timers.Cancel(&c.life.Timer)
	} else {
		q.timers.Schedule(&c.life.Timer, c.t1)
	}
	if renewed {
		nd.publish()
		return
	}
	q.log.Info("address up", "addr", l.Addr, "source", "dhcp", "iface", l.Interface)
	q.log.Info("dhcp lease", "addr", l.Addr, "router", l.Router, "dns", l.DNS, "server", l.Server, "lease", l.Duration, "iface", l.Interface)
	nd.publish()
	q.announce(c.x.ifc)
	nd.leaseBound()
}

// lifeEvent moves through the lease's times: at T1 renew with the server,
// at T2 rebind with any, at the end give the address up (§4.4.5).
func (c *dhcpClient) lifeEvent(now int64) {
	q := c.q()
	switch {
	case now >= c.to:
		q.log.Warn("dhcp: lease expired", "addr", c.lease.Addr, "iface", c.x.ifc.name)
		c.drop()
		c.discover()
		return
	case now >= c.t2:
		c.state = dhcpRebinding
		q.timers.Schedule(&c.life.Timer, c.to)
	default:
		c.state = dhcpRenewing
		q.timers.Schedule(&c.life.Timer, c.t2)
	}
	// A new transaction, whose start the lease's times count from.
	c.xid = c.x.nd.rng.Uint32()
	c.started, c.requested = now, now
	c.tries = 0
	c.send()
}

// drop gives the lease up: the address leaves the interface.
func (c *dhcpClient) drop() {
	if !c.has {
		return
	}
	q := c.q()
	q.log.Info("address down", "addr", c.lease.Addr, "source", "dhcp", "iface", c.x.ifc.name)
	c.has = false
	q.timers.Cancel(&c.life.Timer)
	q.timers.Cancel(&c.retx.Timer)
	c.x.nd.publish()
}

// release gives the lease back to its server (§4.4.6), as the stack
// closes.
func (c *dhcpClient) release() {
	if !c.has {
		return
	}
	c.state = dhcpBound
	c.transmit(dhcpRelease, c.lease.Addr.Addr(), netip.Addr{}, c.lease.Server)
	c.drop()
}

// leaseBound closes the channel WaitLease waits on once every interface
// that asks DHCP has had a lease.
func (nd *ndp) leaseBound() {
	for _, x := range nd.ifs {
		if x.dhcp != nil && !x.dhcp.has {
			return
		}
	}
	if !nd.boundDone {
		nd.boundDone = true
		close(nd.bound)
	}
}

// leases are the leases in use, for the shared state.
func (nd *ndp) leases() []Lease {
	var ls []Lease
	for _, x := range nd.ifs {
		if x.dhcp != nil && x.dhcp.has {
			ls = append(ls, x.dhcp.lease)
		}
	}
	return ls
}

// WaitLease waits until every interface configured with DHCP has had a
// lease, and returns the leases in use.
func (s *Stack) WaitLease(ctx context.Context) ([]Lease, error) {
	select {
	case <-s.queues[0].nd.bound:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, errClosed
	}
	return slices.Clone(s.shared().leases), nil
}

// Leases returns the DHCP leases in use.
func (s *Stack) Leases() []Lease { return slices.Clone(s.shared().leases) }

// releaseLeases gives every lease back before the stack closes.
func (s *Stack) releaseLeases() {
	q := s.queues[0]
	if s.closing.Load() || !slices.ContainsFunc(q.nd.ifs, func(x *ndIface) bool { return x.dhcp != nil || x.dhcp6 != nil }) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.call(ctx, q, func(q *queue) error {
		for _, x := range q.nd.ifs {
			if x.dhcp != nil {
				x.dhcp.release()
			}
			if x.dhcp6 != nil {
				x.dhcp6.release()
			}
		}
		q.flush()
		return nil
	})
}
