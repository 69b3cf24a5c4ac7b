package stack

import (
	"net/netip"
	"syscall"

	"github.com/ustack/ustack/stack/wire"
)

const protoICMPv6 = wire.IPProtoICMPv6

// icmp6Input handles an ICMPv6 message (RFC 4443) and the Neighbor
// Discovery messages carried in ICMPv6 (RFC 4861). check says the checksum
// is still to be verified.
func (q *queue) icmp6Input(ifc *iface, ip wire.IPv6, b []byte, check, l2multicast bool) {
	c := &q.counters.ICMPv6
	c.InMsgs++
	m := wire.ICMPv6(b)
	if m.Check() != nil {
		c.InErrors++
		return
	}
	src, dst := ip.SrcAddr(), ip.DstAddr()
	if check && !m.VerifyChecksum(src, dst) {
		c.InCsumErrors++
		c.InErrors++
		return
	}
	if q.s.multiQueue() && q.steerICMPv6(m) {
		c.InMsgs--
		return
	}
	q.deliverRawICMPv6(src, b)
	switch m.Type() {
	case wire.ICMPv6EchoRequest:
		c.InEchos++
		// RFC 4443 §4.1: an echo to a multicast address is answered too,
		// from a unicast address.
		q.echoReply6(ifc, ip, m)
	case wire.ICMPv6EchoReply:
		c.InEchoReplies++
	case wire.ICMPv6DestUnreachable:
		c.InDestUnreachs++
		q.icmp6ErrorInput(m)
	case wire.ICMPv6PacketTooBig:
		c.InPktTooBigs++
		q.icmp6ErrorInput(m)
	case wire.ICMPv6TimeExceeded:
		c.InTimeExcds++
		q.icmp6ErrorInput(m)
	case wire.ICMPv6ParameterProblem:
		c.InParmProblems++
		q.icmp6ErrorInput(m)
	case wire.ICMPv6RouterSolicitation:
		// RFC 4861 §6.2.6: hosts discard them.
		c.InRouterSolicits++
	case wire.ICMPv6RouterAdvertisement:
		c.InRouterAdvertisements++
		q.nd.routerAdvertInput(ifc, ip, m)
	case wire.ICMPv6NeighborSolicitation:
		c.InNeighborSolicits++
		q.nd.solicitInput(ifc, ip, m)
	case wire.ICMPv6NeighborAdvertisement:
		c.InNeighborAdvertisements++
		q.nd.advertInput(ifc, ip, m)
	case wire.ICMPv6Redirect:
		c.InRedirects++
		q.nd.redirectInput(ifc, ip, m)
	case wire.ICMPv6MLDQuery:
		c.InGroupMembQueries++
		if !ifc.loopback {
			q.nd.ifs[ifc.idx].mld.queryInput(ip, m)
		}
	case wire.ICMPv6MLDReport, wire.ICMPv6MLDv2Report:
		c.InGroupMembResponses++
	case wire.ICMPv6MLDDone:
		c.InGroupMembReductions++
	default:
		c.InOther++
	}
}

// echoReply6 answers an echo request with the same identifier, sequence
// number and data (RFC 4443 §4.2), from the address it was sent to when
// that is one of ours.
func (q *queue) echoReply6(ifc *iface, ip wire.IPv6, m wire.ICMPv6) {
	nh, ok := q.route6(ifc, ip.SrcAddr())
	if !ok {
		q.counters.IPv6.OutNoRoutes++
		return
	}
	from := ip.DstAddr()
	if q.shared().own.get(from) == nil {
		from = nh.src
	}
	hdr := q.l4hdr[:wire.ICMPv6HeaderLen]
	copy(hdr, m[:wire.ICMPv6HeaderLen])
	reply := wire.ICMPv6(hdr)
	reply.SetType(wire.ICMPv6EchoReply)
	reply.SetCode(0)
	dg := ipDatagram{
		src: from, dst: ip.SrcAddr(), proto: protoICMPv6, tos: ip.TrafficClass(),
		hdr: hdr, payload: m.Payload(), csumOff: 2, pseudo: true,
	}
	q.counters.ICMPv6.OutMsgs++
	q.counters.ICMPv6.OutEchoReplies++
	q.output6(nh, &dg)
}

// icmp6Error answers the packet ip, which came in on ifc, with an ICMPv6
// error quoting it.
func (q *queue) icmp6Error(ifc *iface, ip wire.IPv6, typ, code uint8, rest uint32, l2multicast, mcastOK bool) {
	q.icmp6ErrorQuote(ifc, ip, nil, typ, code, rest, l2multicast, mcastOK)
}

// icmp6ErrorQuote sends an ICMPv6 error about the packet hdr+data (a
// header and the data after it, or a whole packet in hdr) unless RFC 4443
// §2.4 (e) forbids it: never about an ICMPv6 error or a redirect, never
// about a packet to a multicast address or in a link-layer multicast
// (unless mcastOK: Packet Too Big, or an option whose action asks for it),
// never to a source that is not one node. Errors share the ICMP rate limit
// (RFC 4443 §2.4 (f)) with ICMPv4, as Linux's icmp_msgs_per_sec.
func (q *queue) icmp6ErrorQuote(ifc *iface, hdr, data []byte, typ, code uint8, rest uint32, l2multicast, mcastOK bool) {
	ip := wire.IPv6(hdr)
	src, dst := ip.SrcAddr(), ip.DstAddr()
	if src.IsUnspecified() || src.IsMulticast() || (dst.IsMulticast() || l2multicast) && !mcastOK {
		return
	}
	if isICMPv6Error(hdr, data) {
		return
	}
	if !q.icmp.allow(q.now) {
		q.counters.ICMPv6.OutRateLimited++
		return
	}
	nh, ok := q.route6(ifc, src)
	if !ok {
		return
	}
	from := dst
	if q.shared().own.get(from) == nil {
		from = nh.src
	}
	// Quote as much as keeps the error within the minimum MTU (RFC 4443
	// §2.4 (c)).
	room := minMTU6 - wire.IPv6HeaderLen - wire.ICMPv6HeaderLen
	quote := append(q.quote[:0], hdr[:min(len(hdr), room)]...)
	quote = append(quote, data[:min(len(data), room-len(quote))]...)
	q.quote = quote
	h := q.l4hdr[:wire.ICMPv6HeaderLen]
	wire.ICMPv6Fields{Type: typ, Code: code, Rest: rest}.Emit(h)
	dg := ipDatagram{src: from, dst: src, proto: protoICMPv6, hdr: h, payload: quote, csumOff: 2, pseudo: true}
	q.counters.ICMPv6.OutMsgs++
	q.countICMPv6Out(h)
	q.output6(nh, &dg)
}

// isICMPv6Error says whether the packet hdr+data is an ICMPv6 error or
// redirect (types below 128 are errors, RFC 4443 §2.1). With data, hdr
// ends with the Fragment header of a first fragment.
func isICMPv6Error(hdr, data []byte) bool {
	var t int
	switch {
	case len(data) > 0:
		if hdr[len(hdr)-wire.IPv6FragmentHeaderLen] != protoICMPv6 {
			return false
		}
		t = int(data[0])
	default:
		ch, err := wire.WalkIPv6(wire.IPv6(hdr))
		if err != nil || ch.Proto != protoICMPv6 || ch.HasFragment && ch.Fragment.Offset != 0 || ch.Offset >= len(hdr) {
			return false
		}
		t = int(hdr[ch.Offset])
	}
	return t < 128 || t == wire.ICMPv6Redirect
}

// countICMPv6Out counts an outgoing ICMPv6 message by type.
func (q *queue) countICMPv6Out(m []byte) {
	if len(m) == 0 {
		return
	}
	c := &q.counters.ICMPv6
	switch m[0] {
	case wire.ICMPv6DestUnreachable:
		c.OutDestUnreachs++
	case wire.ICMPv6PacketTooBig:
		c.OutPktTooBigs++
	case wire.ICMPv6TimeExceeded:
		c.OutTimeExcds++
	case wire.ICMPv6ParameterProblem:
		c.OutParmProblems++
	case wire.ICMPv6EchoRequest:
		c.OutEchos++
	case wire.ICMPv6EchoReply:
		c.OutEchoReplies++
	case wire.ICMPv6RouterSolicitation:
		c.OutRouterSolicits++
	case wire.ICMPv6NeighborSolicitation:
		c.OutNeighborSolicits++
	case wire.ICMPv6NeighborAdvertisement:
		c.OutNeighborAdvertisements++
	}
}

// quotedTransport finds the transport header of the packet an ICMPv6 error
// quotes, which may be cut short anywhere: through the extension headers a
// host sends, to the first 8 bytes of the transport header.
func quotedTransport(b []byte) (src, dst netip.Addr, proto uint8, l4 []byte, ok bool) {
	if len(b) < wire.IPv6HeaderLen || b[0]>>4 != 6 {
		return src, dst, 0, nil, false
	}
	ip := wire.IPv6(b)
	nh, off := ip.NextHeader(), wire.IPv6HeaderLen
	for range wire.MaxIPv6ExtHeaders {
		if nh != wire.IPProtoHopByHop && nh != wire.IPProtoRouting && nh != wire.IPProtoDestOpts && nh != wire.IPProtoFragment {
			break
		}
		if off+8 > len(b) {
			return src, dst, 0, nil, false
		}
		if nh == wire.IPProtoFragment {
			if wire.IPv6Fragment(b[off:]).FragmentOffset() != 0 {
				return src, dst, 0, nil, false
			}
			nh, off = b[off], off+wire.IPv6FragmentHeaderLen
			continue
		}
		nh, off = b[off], off+(int(b[off+1])+1)*8
	}
	if off+8 > len(b) {
		return src, dst, 0, nil, false
	}
	return ip.SrcAddr(), ip.DstAddr(), nh, b[off : off+8], true
}

// icmp6ErrorInput delivers an ICMPv6 error to the socket it concerns,
// found from the quoted packet (RFC 4443 §3, §2.4 (a)), and learns path
// MTUs from Packet Too Big (RFC 8201 §4).
func (q *queue) icmp6ErrorInput(m wire.ICMPv6) {
	src, dst, proto, l4, ok := quotedTransport(m.Payload())
	if !ok {
		q.counters.ICMPv6.InErrors++
		return
	}
	sh := q.shared()
	if sh.own.get(src) == nil {
		// Not about a packet of ours.
		return
	}
	if m.Type() == wire.ICMPv6PacketTooBig && proto != protoTCP {
		// RFC 8201 §4: never below the IPv6 minimum MTU; only lower. (TCP
		// checks the quoted sequence number first.)
		mtu := max(int(min(m.MTU(), 65535)), minMTU6)
		if cur := q.pmtu.get(dst, q.now); cur == 0 || mtu < cur {
			q.learnPMTU(dst, mtu)
		}
	}
	switch proto {
	case protoTCP:
		q.tcpICMPv6Error(m, src, dst, l4)
	case protoUDP:
		u := wire.UDP(l4)
		local := netip.AddrPortFrom(src, u.SrcPort())
		remote := netip.AddrPortFrom(dst, u.DstPort())
		d := q.udp.lookup(local, remote)
		if d == nil || !d.raddr.IsValid() || d.raddr != remote {
			// Only connected sockets hear of errors, as in Linux.
			return
		}
		if e, _ := icmp6Errno(m.Type(), m.Code()); e != 0 {
			d.setSoftError(e)
		}
	}
}

// tcpICMPv6Error delivers an ICMPv6 error about one of our segments to its
// connection, with the checks of tcpICMPError.
func (q *queue) tcpICMPv6Error(m wire.ICMPv6, src, dst netip.Addr, l4 []byte) {
	conn := q.tcpErrorConn(src, dst, l4)
	if conn == nil {
		return
	}
	if m.Type() == wire.ICMPv6PacketTooBig {
		conn.pathMTU(int(min(m.MTU(), 65535)), 0)
		return
	}
	conn.icmpError(icmp6Errno(m.Type(), m.Code()))
}

// icmp6Errno maps an ICMPv6 error to the errno Linux reports
// (icmpv6_err_convert), and says whether it aborts a connection being
// opened: port unreachable and an unrecognised next header, the ICMPv6
// forms of RFC 1122 §4.2.3.9's port and protocol unreachable.
func icmp6Errno(typ, code uint8) (syscall.Errno, bool) {
	switch typ {
	case wire.ICMPv6DestUnreachable:
		switch code {
		case wire.ICMPv6NoRoute:
			return syscall.ENETUNREACH, false
		case wire.ICMPv6AdminProhibited, wire.ICMPv6SourcePolicyFailed, wire.ICMPv6RejectRoute:
			return syscall.EACCES, false
		case wire.ICMPv6PortUnreachable:
			return syscall.ECONNREFUSED, true
		}
		return syscall.EHOSTUNREACH, false
	case wire.ICMPv6PacketTooBig:
		return syscall.EMSGSIZE, false
	case wire.ICMPv6TimeExceeded:
		return syscall.EHOSTUNREACH, false
	case wire.ICMPv6ParameterProblem:
		return syscall.EPROTO, code == wire.ICMPv6UnrecognizedNextHeader
	}
	return 0, false
}

// deliverRawICMPv6 gives a copy of an ICMPv6 message to every raw ICMPv6
// socket ("ip6:ipv6-icmp") that accepts it, as Linux raw sockets do.
func (q *queue) deliverRawICMPv6(from netip.Addr, m []byte) {
	for _, d := range q.udp.icmp {
		if d.proto != protoICMPv6 || d.raddr.IsValid() && d.raddr.Addr() != from {
			continue
		}
		if !d.deliver(netip.AddrPortFrom(from, 0), m) {
			q.counters.ICMPv6.InErrors++
		}
	}
}
