package stack

import (
	"net/netip"
	"syscall"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// icmpLimiter is a token bucket for ICMP errors (RFC 1812 §4.3.2.8), on the
// queue's own clock so it is deterministic.
type icmpLimiter struct {
	tokens float64
	last   int64
	rate   float64 // tokens per nanosecond
	burst  float64
}

func (l *icmpLimiter) allow(now int64) bool {
	if l.last != 0 {
		l.tokens = min(l.burst, l.tokens+float64(now-l.last)*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// icmpInput handles an ICMPv4 message (RFC 792, RFC 1122 §3.2.2).
func (q *queue) icmpInput(ifc *iface, f *backend.Frame, ip wire.IPv4, b []byte) {
	c := &q.counters.ICMP
	c.InMsgs++
	m := wire.ICMPv4(b)
	if m.Check() != nil {
		c.InErrors++
		return
	}
	if (ip.IsFragment() || !verified(f)) && !m.VerifyChecksum() {
		c.InCsumErrors++
		c.InErrors++
		return
	}
	if q.s.multiQueue() && q.steerICMP(m) {
		c.InMsgs--
		return
	}
	q.deliverRawICMP(ip.SrcAddr(), b)
	switch m.Type() {
	case wire.ICMPv4Echo:
		c.InEchos++
		if ip.DstAddr() == limitedBroadcast || q.shared().bcast.get(ip.DstAddr()) != nil || ip.DstAddr().IsMulticast() {
			// Like Linux's icmp_echo_ignore_broadcasts (RFC 1122
			// §3.2.2.6 allows it): no smurf amplifier here.
			return
		}
		q.echoReply(ip, m)
	case wire.ICMPv4EchoReply:
		c.InEchoReps++
	case wire.ICMPv4DestUnreachable:
		c.InDestUnreachs++
		q.icmpErrorInput(m)
	case wire.ICMPv4TimeExceeded:
		c.InTimeExcds++
		q.icmpErrorInput(m)
	case wire.ICMPv4ParameterProblem:
		c.InParmProbs++
		q.icmpErrorInput(m)
	case wire.ICMPv4Redirect:
		c.InRedirects++
		if q.nd != nil {
			q.nd.redirect4Input(ifc, ip, m)
		}
	default:
		c.InOther++
	}
}

// echoReply answers an echo request with the same identifier, sequence
// number and data (RFC 792), from the address it was sent to, and with its
// record-route and timestamp options (echoOptions).
func (q *queue) echoReply(ip wire.IPv4, m wire.ICMPv4) {
	sh := q.shared()
	nh, ok := sh.lookup(ip.SrcAddr())
	if !ok {
		q.counters.IP.OutNoRoutes++
		return
	}
	hdr := q.l4hdr[:wire.ICMPv4HeaderLen]
	copy(hdr, m[:wire.ICMPv4HeaderLen])
	reply := wire.ICMPv4(hdr)
	reply.SetType(wire.ICMPv4EchoReply)
	reply.SetCode(0)
	dg := ipv4Datagram{
		src: ip.DstAddr(), dst: ip.SrcAddr(), proto: protoICMP, tos: ip.TOS(),
		hdr: hdr, payload: m.Payload(), csumOff: 2,
	}
	if opts := ip.Options(); len(opts) > 0 {
		dg.opts = echoOptions(q.ipOpts[:], opts, ip.DstAddr(), q.now)
	}
	q.counters.ICMP.OutMsgs++
	q.counters.ICMP.OutEchoReps++
	q.output4(nh, &dg)
}

// icmpErrorInput delivers an ICMP error to the socket it concerns, found
// from the quoted header (RFC 1122 §3.2.2.1, 4.1.3.3).
func (q *queue) icmpErrorInput(m wire.ICMPv4) {
	inner := wire.IPv4(m.Payload())
	if len(inner) < wire.IPv4HeaderLen || inner.Version() != 4 || inner.HeaderLen() < wire.IPv4HeaderLen ||
		len(inner) < inner.HeaderLen()+8 {
		q.counters.ICMP.InErrors++
		return
	}
	l4 := inner[inner.HeaderLen():]
	if inner.Protocol() == protoTCP {
		q.tcpICMPError(m, inner, l4)
		return
	}
	if inner.Protocol() != protoUDP {
		return
	}
	u := wire.UDP(l4[:8])
	local := netip.AddrPortFrom(inner.SrcAddr(), u.SrcPort())
	remote := netip.AddrPortFrom(inner.DstAddr(), u.DstPort())
	d := q.udp.lookup(local, remote)
	if d == nil || !d.raddr.IsValid() || d.raddr != remote {
		// Only connected sockets hear of errors, as in Linux without
		// IP_RECVERR.
		return
	}
	if e := icmpErrno(m.Type(), m.Code()); e != 0 {
		d.setSoftError(e)
	}
}

// icmpErrno maps an ICMP error to the errno Linux reports (icmp_err_convert).
func icmpErrno(typ, code uint8) syscall.Errno {
	switch typ {
	case wire.ICMPv4DestUnreachable:
		switch code {
		case wire.ICMPv4NetUnreachable, wire.ICMPv4NetUnknown:
			return syscall.ENETUNREACH
		case wire.ICMPv4ProtoUnreachable:
			return syscall.ENOPROTOOPT
		case wire.ICMPv4PortUnreachable:
			return syscall.ECONNREFUSED
		case wire.ICMPv4FragmentationNeeded:
			return syscall.EMSGSIZE
		case wire.ICMPv4NetProhibited, wire.ICMPv4HostProhibited, wire.ICMPv4AdminProhibited:
			return syscall.EACCES
		}
		return syscall.EHOSTUNREACH
	case wire.ICMPv4TimeExceeded:
		return syscall.EHOSTUNREACH
	case wire.ICMPv4ParameterProblem:
		return syscall.EPROTO
	}
	return 0
}

// icmpError answers the datagram ip with an ICMP error, unless RFC 1122
// §3.2.2 forbids it: never about an ICMP error, a broadcast or multicast,
// a non-initial fragment, or a source that is not a single host.
func (q *queue) icmpError(ip wire.IPv4, typ, code uint8, rest uint32) {
	q.icmpErrorQuote(ip.Header(), ip.Payload(), typ, code, rest)
}

// icmpErrorQuote is icmpError given the offending header and the data
// after it.
func (q *queue) icmpErrorQuote(hdr, data []byte, typ, code uint8, rest uint32) {
	ip := wire.IPv4(hdr)
	src, dst := ip.SrcAddr(), ip.DstAddr()
	sh := q.shared()
	if ip.FragmentOffset() != 0 || dst == limitedBroadcast || dst.IsMulticast() || sh.bcast.get(dst) != nil ||
		src.IsUnspecified() || src.IsMulticast() || src == limitedBroadcast || sh.bcast.get(src) != nil {
		return
	}
	if ip.Protocol() == protoICMP && len(data) > 0 {
		switch data[0] {
		case wire.ICMPv4Echo, wire.ICMPv4EchoReply, wire.ICMPv4Timestamp, wire.ICMPv4TimestampReply:
		default:
			return
		}
	}
	if !q.icmp.allow(q.now) {
		q.counters.ICMP.OutRateLimited++
		return
	}
	nh, ok := sh.lookup(src)
	if !ok {
		return
	}
	from := dst
	if sh.own.get(from) == nil {
		from = nh.src
	}
	// Quote the header and as much data as keeps the error within 576
	// bytes (RFC 1812 §4.3.2.3).
	quote := q.quote[:0]
	quote = append(quote, hdr...)
	room := 576 - wire.IPv4HeaderLen - wire.ICMPv4HeaderLen - len(hdr)
	quote = append(quote, data[:min(len(data), max(room, 8))]...)
	q.quote = quote
	h := q.l4hdr[:wire.ICMPv4HeaderLen]
	wire.ICMPv4Fields{Type: typ, Code: code, Rest: rest}.Emit(h)
	dg := ipv4Datagram{src: from, dst: src, proto: protoICMP, tos: 0xc0, hdr: h, payload: quote, csumOff: 2}
	q.counters.ICMP.OutMsgs++
	q.countICMPOut(h)
	q.output4(nh, &dg)
}

// countICMPOut counts an outgoing ICMP message by type.
func (q *queue) countICMPOut(m []byte) {
	if len(m) == 0 {
		return
	}
	c := &q.counters.ICMP
	switch m[0] {
	case wire.ICMPv4DestUnreachable:
		c.OutDestUnreachs++
	case wire.ICMPv4TimeExceeded:
		c.OutTimeExcds++
	case wire.ICMPv4Echo:
		c.OutEchos++
	case wire.ICMPv4EchoReply:
		c.OutEchoReps++
	}
}

// deliverRawICMP gives a copy of an ICMP message to every raw ICMP socket
// whose local address accepts it, as Linux raw sockets do.
func (q *queue) deliverRawICMP(from netip.Addr, m []byte) {
	for _, d := range q.udp.icmp {
		if d.proto != protoICMP || d.raddr.IsValid() && d.raddr.Addr() != from {
			continue
		}
		if !d.deliver(netip.AddrPortFrom(from, 0), m) {
			q.counters.ICMP.InErrors++
		}
	}
}
