package stack

import (
	"net/netip"
	"syscall"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

const (
	protoICMP = wire.IPProtoICMP
	protoUDP  = wire.IPProtoUDP
	protoTCP  = wire.IPProtoTCP
)

// Ephemeral ports, Linux's default ip_local_port_range.
const (
	ephemeralLow  = 32768
	ephemeralHigh = 60999
)

// udpTable finds the datagram sockets of a queue by local port. Raw ICMP
// sockets are kept apart: they have no ports.
type udpTable struct {
	ports map[uint16][]*dgramSock
	icmp  []*dgramSock
}

// bind registers d at its local address, choosing an ephemeral port
// (RFC 6056 §3.3.1: random) when it asks for port 0. Queue 0 binds; the
// other queues then add d to their tables (addDgram).
func (q *queue) bind(d *dgramSock) error {
	t := &q.udp
	if d.proto != protoUDP {
		t.icmp = append(t.icmp, d)
		return nil
	}
	if t.ports == nil {
		t.ports = map[uint16][]*dgramSock{}
	}
	port := d.laddr.Port()
	if port == 0 {
		span := ephemeralHigh - ephemeralLow + 1
		start := q.rng.IntN(span)
		for i := 0; i < span; i++ {
			p := uint16(ephemeralLow + (start+i)%span)
			if !t.conflicts(p, d) {
				port = p
				break
			}
		}
		if port == 0 {
			return syscall.EADDRINUSE
		}
	} else if t.conflicts(port, d) {
		return syscall.EADDRINUSE
	}
	d.laddr = netip.AddrPortFrom(d.laddr.Addr(), port)
	t.ports[port] = append(t.ports[port], d)
	return nil
}

// addDgram puts d, bound on queue 0, in this queue's table too.
func (q *queue) addDgram(d *dgramSock) {
	t := &q.udp
	if d.proto != protoUDP {
		t.icmp = append(t.icmp, d)
		return
	}
	if t.ports == nil {
		t.ports = map[uint16][]*dgramSock{}
	}
	t.ports[d.laddr.Port()] = append(t.ports[d.laddr.Port()], d)
}

// conflicts says whether binding d to port would overlap a bound socket:
// the same address, or either on the wildcard address, of one family.
func (t *udpTable) conflicts(port uint16, d *dgramSock) bool {
	for _, o := range t.ports[port] {
		if d.fam != 0 && o.fam != 0 && d.fam != o.fam {
			continue
		}
		a, b := d.laddr.Addr(), o.laddr.Addr()
		if a.IsMulticast() || b.IsMulticast() {
			// Group members share the port with each other and with
			// unicast sockets, as with SO_REUSEADDR.
			continue
		}
		if !a.IsValid() || !b.IsValid() || a == b {
			return true
		}
	}
	return false
}

func (q *queue) unbind(d *dgramSock) {
	t := &q.udp
	if d.proto != protoUDP {
		t.icmp = removeSock(t.icmp, d)
		return
	}
	port := d.laddr.Port()
	if l := removeSock(t.ports[port], d); len(l) > 0 {
		t.ports[port] = l
	} else {
		delete(t.ports, port)
	}
}

func removeSock(l []*dgramSock, d *dgramSock) []*dgramSock {
	for i, o := range l {
		if o == d {
			return append(l[:i], l[i+1:]...)
		}
	}
	return l
}

// lookup finds the socket for a datagram from src to dst: connected
// sockets first, then sockets bound to dst, then wildcard ones.
func (t *udpTable) lookup(dst, src netip.AddrPort) *dgramSock {
	var best *dgramSock
	bestScore := -1
	for _, d := range t.ports[dst.Port()] {
		if !d.accepts(dst.Addr()) {
			continue
		}
		score := 0
		if d.laddr.Addr().IsValid() {
			score++
		}
		if d.raddr.IsValid() {
			if d.raddr != src {
				continue
			}
			score += 2
		}
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	return best
}

// accepts says whether a socket bound to its local address takes datagrams
// for dst.
func (d *dgramSock) accepts(dst netip.Addr) bool {
	if d.fam == 4 && !dst.Is4() || d.fam == 6 && dst.Is4() {
		return false
	}
	a := d.laddr.Addr()
	return !a.IsValid() || a == dst
}

func (t *udpTable) closeAll(q *queue) {
	for _, p := range sortedPorts(t.ports) {
		for _, d := range t.ports[p] {
			d.shutdown()
		}
	}
	for _, d := range t.icmp {
		d.shutdown()
	}
	t.ports, t.icmp = nil, nil
}

// udpInput delivers a UDP datagram (RFC 768, RFC 1122 §4.1.3).
func (q *queue) udpInput(ifc *iface, f *backend.Frame, ip wire.IPv4, b []byte) {
	if !q.udpReceive(ip.SrcAddr(), ip.DstAddr(), ip.IsFragment() || !verified(f), b) &&
		(!ip.IsFragment() || ip.FragmentOffset() == 0) {
		q.icmpError(ip, wire.ICMPv4DestUnreachable, wire.ICMPv4PortUnreachable, 0)
	}
}

// udpReceive delivers a UDP datagram b from src to dst of either family;
// check says its checksum is still to be verified (a reassembled datagram
// is checked whatever the device said). It reports false when no socket
// has the port of a unicast datagram: the caller answers port unreachable.
func (q *queue) udpReceive(src, dst netip.Addr, check bool, b []byte) bool {
	c := &q.counters.UDP
	u := wire.UDP(b)
	if u.Check() != nil {
		c.InErrors++
		return true
	}
	from := netip.AddrPortFrom(src, u.SrcPort())
	to := netip.AddrPortFrom(dst, u.DstPort())
	// A zero checksum means the sender computed none (RFC 768); over
	// IPv6 the checksum is mandatory and a zero one is dropped (RFC 8200
	// §8.1).
	if u.Checksum() == 0 && src.Is6() || u.Checksum() != 0 && check && !u.VerifyChecksum(src, dst) {
		c.InCsumErrors++
		c.InErrors++
		return true
	}
	if u.DstPort() == dhcpClientPort && dst.Is4() {
		// Queue 0 runs the DHCP client.
		if q.handOff(0) {
			return true
		}
		if q.nd != nil && q.nd.dhcpInput(u.Payload()) {
			c.InDatagrams++
			return true
		}
	}
	if u.DstPort() == dhcp6ClientPort && dst.Is6() && dst.IsLinkLocalUnicast() {
		// Queue 0 runs the DHCPv6 client.
		if q.handOff(0) {
			return true
		}
		if q.nd != nil && q.nd.dhcp6Input(u.Payload()) {
			c.InDatagrams++
			return true
		}
	}
	if isBroadcast(q.shared(), dst) || dst.IsMulticast() {
		q.udpBroadcast(from, to, u.Payload())
		return true
	}
	d := q.udp.lookup(to, from)
	if d == nil {
		c.NoPorts++
		return false
	}
	if !d.deliver(from, u.Payload()) {
		c.RcvbufErrors++
		return true
	}
	c.InDatagrams++
	return true
}

// udpBroadcast delivers a broadcast or multicast datagram to every socket
// bound to its port; no ICMP error answers it (RFC 1122 §3.2.2).
func (q *queue) udpBroadcast(src, dst netip.AddrPort, payload []byte) {
	c := &q.counters.UDP
	delivered := false
	for _, d := range q.udp.ports[dst.Port()] {
		if d.laddr.Addr().IsValid() && d.laddr.Addr() != dst.Addr() {
			continue
		}
		if d.raddr.IsValid() && d.raddr != src {
			continue
		}
		if !d.deliver(src, payload) {
			c.RcvbufErrors++
			continue
		}
		delivered = true
	}
	if delivered {
		c.InDatagrams++
	} else {
		c.NoPorts++
	}
}

// sendDatagram sends one datagram a socket queued.
func (q *queue) sendDatagram(d *dgramSock, to netip.AddrPort, payload []byte) {
	sh, dst := q.shared(), to.Addr()
	if d.rtSh != sh || d.rtDst != dst {
		nh, ok := sh.lookup(dst)
		if !ok {
			q.noRoute(dst)
			return
		}
		d.rtSh, d.rtDst, d.rtNH = sh, dst, nh
	}
	nh := d.rtNH
	src := nh.src
	if a := d.laddr.Addr(); a.IsValid() && !a.IsMulticast() {
		src = a
	}
	dg := ipDatagram{src: src, dst: to.Addr(), proto: d.proto, csumOff: -1, payload: payload}
	if to.Addr().IsMulticast() {
		// The group's members on this link, unless the socket says
		// otherwise (SetMulticastTTL).
		dg.ttl = uint8(max(d.mcastTTL.Load(), 1))
	}
	switch d.proto {
	case protoUDP:
		hdr := q.l4hdr[:wire.UDPHeaderLen]
		wire.UDPFields{SrcPort: d.laddr.Port(), DstPort: to.Port(), PayloadLen: len(payload)}.Emit(hdr)
		dg.hdr, dg.csumOff, dg.pseudo, dg.zeroIsNone = hdr, 6, true, true
		q.counters.UDP.OutDatagrams++
	case protoICMPv6:
		// The stack computes ICMPv6 checksums for raw sockets, as the
		// kernel must (RFC 3542 §3.1); the header goes apart so that
		// fragmentation can write the checksum into it.
		hdr := q.l4hdr[:min(len(payload), wire.ICMPv6HeaderLen)]
		copy(hdr, payload)
		dg.hdr, dg.payload, dg.csumOff, dg.pseudo = hdr, payload[len(hdr):], 2, true
		q.counters.ICMPv6.OutMsgs++
		q.countICMPv6Out(payload)
	default:
		q.counters.ICMP.OutMsgs++
		q.countICMPOut(payload)
	}
	if err := q.output(nh, &dg); err != nil {
		q.counters.UDP.SndbufErrors++
	}
	if d.proto == protoUDP && dst.IsMulticast() && !d.mcastNoLoop.Load() && sh.member(nh.ifc, dst) {
		// The group's members here get it too, as with IP_MULTICAST_LOOP
		// (on by default).
		q.udpBroadcast(netip.AddrPortFrom(src, d.laddr.Port()), to, payload)
	}
}
