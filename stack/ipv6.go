package stack

import (
	"errors"
	"net/netip"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/reasm"
	"github.com/ustack/ustack/stack/internal/timer"
	"github.com/ustack/ustack/stack/wire"
)

// ipDatagram is what a transport hands to IP output, of either family:
// output4 and output6 take it (ttl is the IPv6 hop limit, tos the traffic
// class; df does not apply to IPv6, where only the source fragments).
type ipDatagram = ipv4Datagram

// minMTU6 is the smallest link MTU IPv6 allows (RFC 8200 §5).
const minMTU6 = 1280

var (
	allNodes   = netip.MustParseAddr("ff02::1")
	allRouters = netip.MustParseAddr("ff02::2")
)

// ifaceV6 is what the shared state knows of an interface's IPv6: the
// multicast groups it has joined and what routers said of the link.
type ifaceV6 struct {
	groups   []netip.Addr // all-nodes and the solicited-node groups of its addresses
	mtu      int          // the link MTU (a router's MTU option may lower it)
	hopLimit uint8        // for datagrams we originate (a router's CurHopLimit)
	// deprecated addresses are still ours but no new communication
	// starts from them (RFC 4862 §5.5.4).
	deprecated []netip.Addr
}

// joined says whether ifc listens to the multicast group g.
func (sh *shared) joined(ifc *iface, g netip.Addr) bool {
	if ifc.idx >= len(sh.v6) {
		return false
	}
	for _, a := range sh.v6[ifc.idx].groups {
		if a == g {
			return true
		}
	}
	return false
}

// output dispatches a datagram to the output of its family.
func (q *queue) output(nh nextHop, d *ipDatagram) error {
	if d.dst.Is4() {
		return q.output4(nh, d)
	}
	return q.output6(nh, d)
}

// noRoute counts a datagram to dst that no route leads to.
func (q *queue) noRoute(dst netip.Addr) {
	if dst.Is4() {
		q.counters.IP.OutNoRoutes++
	} else {
		q.counters.IPv6.OutNoRoutes++
	}
}

// ipHeaderLen is the length of the IP header we put before a transport
// header sent to dst: IPv6 datagrams we send carry no extension headers
// but a Fragment header, and TCP never needs that.
func ipHeaderLen(dst netip.Addr) int {
	if dst.Is4() {
		return wire.IPv4HeaderLen
	}
	return wire.IPv6HeaderLen
}

// linkMTU is the MTU of the link nh leads over, for datagrams to dst: an
// IPv6 router may announce a smaller one than the interface's (RFC 4861
// §6.3.4).
func (q *queue) linkMTU(nh nextHop, dst netip.Addr) int {
	mtu := nh.ifc.mtu
	if dst.Is6() && !nh.ifc.loopback {
		sh := q.shared()
		if nh.ifc.idx < len(sh.v6) && sh.v6[nh.ifc.idx].mtu > 0 {
			mtu = min(mtu, sh.v6[nh.ifc.idx].mtu)
		}
	}
	return mtu
}

// ipv6Input checks a received IPv6 packet (RFC 8200), walks its extension
// headers, reassembles fragments and delivers it to the transport. f is the
// frame it came in; b the IPv6 packet; l2multicast whether the frame was
// sent to a group address.
func (q *queue) ipv6Input(ifc *iface, f *backend.Frame, b []byte, l2multicast bool) {
	c := &q.counters.IPv6
	c.InReceives++
	ip := wire.IPv6(b)
	if err := ip.Check(); err != nil {
		if errors.Is(err, wire.ErrTruncated) {
			c.InTruncatedPkts++
		} else {
			c.InHdrErrors++
		}
		return
	}
	ip = ip[:wire.IPv6HeaderLen+int(ip.PayloadLen())] // without link padding
	sh := q.shared()
	src, dst := ip.SrcAddr(), ip.DstAddr()
	if !ifc.loopback && (src.IsMulticast() || src.IsLoopback() || dst.IsLoopback() || dst.IsUnspecified()) {
		// RFC 4291 §2.5.3, §2.7: no multicast source, and the loopback
		// address never on a wire (Linux counts these as header errors).
		c.InHdrErrors++
		return
	}
	switch {
	case ifc.loopback:
	case dst.IsMulticast():
		if !sh.joined(ifc, dst) {
			c.InAddrErrors++
			return
		}
		c.InMcastPkts++
	case sh.own.get(dst) != nil:
		// A unicast packet in a link-layer multicast is taken, as by
		// Linux (drop_unicast_in_l2_multicast is off): IPv6 has no rule
		// like RFC 1122 §3.3.6; ICMPv6 errors about it are never sent
		// (RFC 4443 §2.4 (e.4)).
		if dst.IsLinkLocalUnicast() && sh.own.get(dst) != ifc {
			// Another link's link-local address.
			c.InAddrErrors++
			return
		}
	default:
		// We are a host: not ours to forward (RFC 8200 §4 note 2 aside).
		c.InAddrErrors++
		return
	}
	ch, err := wire.WalkIPv6(ip)
	if err != nil {
		c.InHdrErrors++
		return
	}
	if !ch.HasFragment || ch.Fragment.Offset == 0 && !ch.Fragment.More {
		// An atomic fragment is a datagram of its own (RFC 6946 §4): its
		// headers are walked through the Fragment header.
		if ch.HasFragment {
			c.ReasmReqds++
			c.ReasmOKs++
		}
		if q.ipv6Headers(ifc, ip, &ch, 0, len(ip), l2multicast) {
			q.ipv6Deliver(ifc, f, ip, &ch, false, l2multicast)
		}
		return
	}
	// The headers before the Fragment header are in every fragment and
	// processed in each; those after it only once the datagram is whole
	// (RFC 8200 §4.5).
	// Queue 0 reassembles: a device may steer the fragments of a
	// datagram apart.
	if q.handOff(0) {
		c.InReceives--
		return
	}
	fo := ch.Fragment.HeaderOffset
	if !q.ipv6Headers(ifc, ip, &ch, 0, fo, l2multicast) {
		return
	}
	if ch.Fragment.Offset == 0 && wire.IPv6HeaderLen+int(ip.PayloadLen())-ch.Offset < upperHeaderLen(ch.Proto) {
		// RFC 7112 §5: a first fragment must hold the upper-layer header
		// too, or tiny fragments hide it from filters.
		c.InHdrErrors++
		q.icmp6Error(ifc, ip, wire.ICMPv6ParameterProblem, wire.ICMPv6IncompleteChain, 0, l2multicast, false)
		return
	}
	whole, ok := q.reassemble6(ifc, ip, &ch, l2multicast)
	if !ok {
		return
	}
	q.cur = nil
	ch, err = wire.WalkIPv6(whole)
	if err != nil || ch.HasFragment {
		// RFC 7112: the first fragment must hold the whole header chain.
		c.InHdrErrors++
		return
	}
	if q.ipv6Headers(ifc, whole, &ch, fo, len(whole), l2multicast) {
		q.ipv6Deliver(ifc, nil, whole, &ch, true, l2multicast)
	}
}

// ipv6Headers processes the extension headers of ip that start in
// [from, to): options by their action bits and routing headers (RFC 8200
// §4.2, §4.4). It reports whether the packet goes on.
func (q *queue) ipv6Headers(ifc *iface, ip wire.IPv6, ch *wire.IPv6Chain, from, to int, l2multicast bool) bool {
	for i := range ch.NumExt {
		e := ch.Ext[i]
		if e.Offset < from || e.Offset >= to {
			continue
		}
		switch e.Type {
		case wire.IPProtoHopByHop, wire.IPProtoDestOpts:
			if !q.ipv6Options(ifc, ip, e, l2multicast) {
				return false
			}
		case wire.IPProtoRouting:
			if ip[e.Offset+3] != 0 {
				// Segments left: a host forwards nothing, so every type
				// is unrecognised, and type 0 is deprecated anyway (RFC
				// 5095 §3): Parameter Problem at the Routing Type.
				q.counters.IPv6.InHdrErrors++
				q.icmp6Error(ifc, ip, wire.ICMPv6ParameterProblem, wire.ICMPv6ErroneousHeader, uint32(e.Offset+2), l2multicast, false)
				return false
			}
			// RFC 8200 §4.4: with no segments left the header is ignored.
		}
	}
	return true
}

// ipv6Options applies the options of a Hop-by-Hop or Destination Options
// header. We recognise none but padding (the iterator skips it) and Router
// Alert (for MLD, RFC 2711), so every other option is unrecognised and its
// type's two high bits say what to do (RFC 8200 §4.2).
func (q *queue) ipv6Options(ifc *iface, ip wire.IPv6, e wire.IPv6Ext, l2multicast bool) bool {
	c := &q.counters.IPv6
	opts := wire.IPv6ExtHeader(ip[e.Offset : e.Offset+e.Len]).Options()
	it := opts.Iter()
	end := 0 // of the last option that was not padding
	for {
		o, ok := it.Next()
		if !ok {
			break
		}
		if o.Offset-end > maxIPv6Padding {
			c.InHdrErrors++
			return false
		}
		end = o.Offset + 2 + len(o.Data)
		if o.Type == wire.IPv6OptRouterAlert && e.Type == wire.IPProtoHopByHop {
			continue
		}
		ptr := uint32(e.Offset + 2 + o.Offset)
		switch wire.IPv6OptionAction(o.Type) {
		case wire.IPv6OptActionSkip:
			continue
		case wire.IPv6OptActionDiscard:
		case wire.IPv6OptActionDiscardICMP:
			q.icmp6Error(ifc, ip, wire.ICMPv6ParameterProblem, wire.ICMPv6UnrecognizedOption, ptr, l2multicast, true)
		case wire.IPv6OptActionDiscardICMPUnicast:
			if !ip.DstAddr().IsMulticast() {
				q.icmp6Error(ifc, ip, wire.ICMPv6ParameterProblem, wire.ICMPv6UnrecognizedOption, ptr, l2multicast, false)
			}
		}
		c.InHdrErrors++
		return false
	}
	if it.Err() != nil || len(opts)-end > maxIPv6Padding {
		c.InHdrErrors++
		return false
	}
	return true
}

// maxIPv6Padding is the most padding options need between them: 8-byte
// alignment never takes more than 7 bytes. Runs of padding beyond it only
// cost the receiver (RFC 8504 §5.3); Linux drops them likewise.
const maxIPv6Padding = 7

// ipv6Deliver hands a datagram whose headers were processed to its upper
// layer. reassembled says ip was put together from fragments, so its
// transport checksum is checked whatever the device said.
func (q *queue) ipv6Deliver(ifc *iface, f *backend.Frame, ip wire.IPv6, ch *wire.IPv6Chain, reassembled, l2multicast bool) {
	c := &q.counters.IPv6
	check := reassembled || !verified(f)
	b := ip[ch.Offset:]
	switch ch.Proto {
	case wire.IPProtoICMPv6:
		c.InDelivers++
		q.icmp6Input(ifc, ip, b, check, l2multicast)
	case wire.IPProtoUDP:
		c.InDelivers++
		if !q.udpReceive(ip.SrcAddr(), ip.DstAddr(), check, b) && !l2multicast {
			q.icmp6Error(ifc, ip, wire.ICMPv6DestUnreachable, wire.ICMPv6PortUnreachable, 0, l2multicast, false)
		}
	case wire.IPProtoTCP:
		c.InDelivers++
		q.tcpSegment(ip.SrcAddr(), ip.DstAddr(), check, ip.ECN(), b)
	case wire.IPProtoNoNextHeader:
		// RFC 8200 §4.7: nothing follows; what is left is ignored.
	default:
		c.InUnknownProtos++
		q.icmp6Error(ifc, ip, wire.ICMPv6ParameterProblem, wire.ICMPv6UnrecognizedNextHeader, uint32(ch.ProtoPointer), l2multicast, false)
	}
}

// reassemble6 adds a fragment (ch.HasFragment, not atomic) and returns the
// whole packet, without its Fragment header, once every fragment is in.
// The packet is in the queue's scratch buffer until the next call.
func (q *queue) reassemble6(ifc *iface, ip wire.IPv6, ch *wire.IPv6Chain, l2multicast bool) (wire.IPv6, bool) {
	c := &q.counters.IPv6
	c.ReasmReqds++
	fr := ch.Fragment
	// The header kept is the unfragmentable part with the Fragment header,
	// so that a timeout can quote the first fragment as it came.
	hdr := ip[:fr.HeaderOffset+wire.IPv6FragmentHeaderLen]
	k := reasm.Key{Src: ip.SrcAddr(), Dst: ip.DstAddr(), ID: fr.ID}
	before := evictions(q.reasm6)
	res := q.reasm6.Add(k, fr.Offset, fr.More, ip[len(hdr):], hdr, q.now)
	c.ReasmFails += q.evicted(q.reasm6, before, res)
	switch res.Status {
	case reasm.Pending:
		q.scheduleReasm6()
		return nil, false
	case reasm.Dropped:
		q.reasmDropped(res, &c.ReasmFails, &c.ReasmOverlaps)
		switch res.Reason {
		case reasm.BadLength:
			// RFC 8200 §4.5: Parameter Problem at the Payload Length.
			q.icmp6Error(ifc, ip, wire.ICMPv6ParameterProblem, wire.ICMPv6ErroneousHeader, 4, l2multicast, false)
		case reasm.TooBig:
			// RFC 8200 §4.5: Parameter Problem at the Fragment Offset.
			q.icmp6Error(ifc, ip, wire.ICMPv6ParameterProblem, wire.ICMPv6ErroneousHeader, uint32(fr.HeaderOffset+2), l2multicast, false)
		}
		q.scheduleReasm6()
		return nil, false
	}
	q.scheduleReasm6()
	h := res.Header
	fo := len(h) - wire.IPv6FragmentHeaderLen
	// Find the Next Header field that names the Fragment header in the
	// first fragment's unfragmentable part, to name what followed it.
	ptr, off := 6, wire.IPv6HeaderLen
	for off < fo {
		ptr = off
		off += (int(h[off+1]) + 1) * 8
	}
	n := fo + len(res.Payload)
	if off != fo || n-wire.IPv6HeaderLen > 65535 {
		c.ReasmFails++
		return nil, false
	}
	buf := append(q.whole6[:0], h[:fo]...)
	buf = append(buf, res.Payload...)
	q.whole6 = buf
	buf[ptr] = h[fo]
	whole := wire.IPv6(buf)
	whole.SetPayloadLen(uint16(n - wire.IPv6HeaderLen))
	c.ReasmOKs++
	return whole, true
}

// reasm6Timer expires incomplete IPv6 datagrams.
type reasm6Timer struct{ q *queue }

func (r reasm6Timer) OnTimer(_ *timer.Timer, now int64) {
	q := r.q
	q.reasm6.Expire(now, func(e reasm.Expired) {
		q.counters.IPv6.ReasmFails++
		q.counters.IPv6.ReasmTimeout++
		// RFC 8200 §4.5: Time Exceeded (reassembly) only when the first
		// fragment came, quoting it.
		if e.First {
			q.icmp6ErrorQuote(nil, e.Header, e.Data, wire.ICMPv6TimeExceeded, wire.ICMPv6ReassemblyExceeded, 0, false, false)
		}
	})
	q.scheduleReasm6()
}

func (q *queue) scheduleReasm6() {
	if next, ok := q.reasm6.NextDeadline(); ok {
		q.timers.Schedule(&q.reasm6T, next)
	} else {
		q.timers.Cancel(&q.reasm6T)
	}
}

// output6 sends an IPv6 datagram we originate, cutting it into fragments
// with a Fragment header when it does not fit the path (RFC 8200 §4.5, §5):
// routers do not fragment IPv6, so the path MTU learned from Packet Too
// Big messages applies to every datagram, not just TCP's.
func (q *queue) output6(nh nextHop, d *ipDatagram) error {
	c := &q.counters.IPv6
	c.OutRequests++
	ifc := nh.ifc
	l4len := len(d.hdr) + len(d.payload) + len(d.payload2)
	if l4len > 65535 {
		c.OutDiscards++
		return errMsgSize
	}
	if d.ttl == 0 {
		d.ttl = defaultTTL
		if sh := q.shared(); ifc.idx < len(sh.v6) && sh.v6[ifc.idx].hopLimit > 0 {
			d.ttl = sh.v6[ifc.idx].hopLimit
		}
	}
	if d.dst.IsMulticast() {
		c.OutMcastPkts++
	}
	mtu := q.linkMTU(nh, d.dst)
	if p := q.pmtu.get(d.dst, q.now); p > 0 && p < mtu {
		mtu = p
	}
	tso := d.gsoSize > 0 && ifc.tsoMax >= wire.IPv6HeaderLen+l4len && ifc.txCsum
	if wire.IPv6HeaderLen+l4len <= mtu || tso {
		f, payload, extra := q.l4Frame(ifc, d, wire.IPv6HeaderLen)
		if f == nil {
			c.OutDiscards++
			return nil
		}
		q.fillIPv6(f, ifc, d, nil, d.hdr, payload, extra)
		if wire.IPv6HeaderLen+l4len > mtu {
			f.GSO, f.GSOSize = backend.GSOTCPv6, uint16(d.gsoSize)
			f.L4Len = uint16(len(d.hdr))
		}
		q.checksum6(f, ifc, d, l4len)
		q.deliver6(nh, d.dst, f)
		return nil
	}
	return q.fragment6(nh, d, mtu, l4len)
}

// fillIPv6 writes the Ethernet and IPv6 headers, a Fragment header when
// frag is not nil, then the transport bytes hdr and payload into f, sized
// for extra bytes more after them. The destination MAC is filled later.
func (q *queue) fillIPv6(f *backend.Frame, ifc *iface, d *ipDatagram, frag *wire.IPv6FragmentFields, hdr, payload []byte, extra int) {
	l3 := wire.IPv6HeaderLen
	next := d.proto
	if frag != nil {
		l3 += wire.IPv6FragmentHeaderLen
		next = wire.IPProtoFragment
	}
	total := wire.EthernetHeaderLen + l3 + len(hdr) + len(payload) + extra
	f.SetLen(total)
	b := f.Bytes()
	eth := wire.Ethernet(b)
	eth.SetSrc(ifc.mac)
	eth.SetEtherType(wire.EtherTypeIPv6)
	wire.IPv6Fields{
		TrafficClass: d.tos,
		PayloadLen:   total - wire.EthernetHeaderLen - wire.IPv6HeaderLen,
		NextHeader:   next,
		HopLimit:     d.ttl,
		Src:          d.src,
		Dst:          d.dst,
	}.Emit(b[wire.EthernetHeaderLen:])
	if frag != nil {
		frag.Emit(b[wire.EthernetHeaderLen+wire.IPv6HeaderLen:])
	}
	start := wire.EthernetHeaderLen + l3
	f.CopyFrom(hdr, start)
	f.CopyFrom(payload, start+len(hdr))
	f.L2Len, f.L3Len = wire.EthernetHeaderLen, uint16(l3)
}

// checksum6 fills the transport checksum of an unfragmented IPv6 datagram:
// always over the pseudo-header (RFC 8200 §8.1, ICMPv6 included), partial
// for the device to complete when it offers that.
func (q *queue) checksum6(f *backend.Frame, ifc *iface, d *ipDatagram, l4len int) {
	if d.csumOff < 0 {
		return
	}
	start := wire.EthernetHeaderLen + wire.IPv6HeaderLen
	b := f.Bytes()
	field := b[start+d.csumOff : start+d.csumOff+2]
	field[0], field[1] = 0, 0
	ip := wire.IPv6(b[wire.EthernetHeaderLen:])
	acc := wire.PseudoHeaderSum(ip.Src(), ip.Dst(), d.proto, l4len)
	if ifc.txCsum {
		sum := wire.Fold(acc)
		field[0], field[1] = byte(sum>>8), byte(sum)
		f.Csum = backend.CsumPartial
		f.CsumStart = uint16(start)
		f.CsumOffset = uint16(d.csumOff)
		return
	}
	sum := ^wire.Fold(frameSum(f, start, acc))
	if sum == 0 && d.zeroIsNone {
		sum = 0xffff
	}
	field[0], field[1] = byte(sum>>8), byte(sum)
}

// fragment6 cuts a datagram into fragments that fit mtu, each with a
// Fragment header and a multiple of 8 bytes of data but the last
// (RFC 8200 §4.5).
func (q *queue) fragment6(nh nextHop, d *ipDatagram, mtu, l4len int) error {
	c := &q.counters.IPv6
	ifc := nh.ifc
	if len(d.payload2) > 0 || d.csumOff >= len(d.hdr) {
		// Only TCP sends two pieces, and it never needs fragments.
		c.FragFails++
		return errMsgSize
	}
	if d.csumOff >= 0 {
		hdr := d.hdr
		hdr[d.csumOff], hdr[d.csumOff+1] = 0, 0
		s, t := d.src.As16(), d.dst.As16()
		acc := wire.PseudoHeaderSum(s[:], t[:], d.proto, l4len)
		acc = wire.Sum(hdr, acc)
		acc = wire.SumAt(d.payload, acc, len(hdr)%2 == 1)
		sum := ^wire.Fold(acc)
		if sum == 0 && d.zeroIsNone {
			sum = 0xffff
		}
		hdr[d.csumOff], hdr[d.csumOff+1] = byte(sum>>8), byte(sum)
	}
	per := (mtu - wire.IPv6HeaderLen - wire.IPv6FragmentHeaderLen) &^ 7
	if per <= 0 {
		c.FragFails++
		return errMsgSize
	}
	// RFC 7739: identifications that an observer cannot predict.
	frag := wire.IPv6FragmentFields{NextHeader: d.proto, ID: q.rng.Uint32()}
	for off := 0; off < l4len; off += per {
		n := min(per, l4len-off)
		f := q.alloc(ifc, wire.EthernetHeaderLen+wire.IPv6HeaderLen+wire.IPv6FragmentHeaderLen+n)
		if f == nil {
			c.FragFails++
			return nil
		}
		frag.Offset, frag.More = off, off+n < l4len
		hdr, payload := sliceConcat(d.hdr, d.payload, off, n)
		q.fillIPv6(f, ifc, d, &frag, hdr, payload, 0)
		c.FragCreates++
		q.deliver6(nh, d.dst, f)
	}
	c.FragOKs++
	return nil
}

// deliver6 hands a built frame to the link: loopback, a multicast group's
// MAC (RFC 2464 §7), or the neighbour cache.
func (q *queue) deliver6(nh nextHop, dst netip.Addr, f *backend.Frame) {
	switch {
	case nh.local:
		q.sendTo(nh.ifc, wire.MAC{}, f)
	case dst.IsMulticast():
		q.sendTo(nh.ifc, wire.MulticastMAC(dst), f)
	default:
		q.resolve(nh.ifc, nh.addr, f)
	}
}

// route6 finds how to answer src, which sent us a packet on ifc: a
// link-local or multicast-scoped peer is on that very link (RFC 4291
// §2.5.6), others by the routing table.
func (q *queue) route6(ifc *iface, src netip.Addr) (nextHop, bool) {
	sh := q.shared()
	if ifc != nil && !ifc.loopback && (src.IsLinkLocalUnicast() || src.IsLinkLocalMulticast()) {
		from := sh.sourceFor(ifc, src)
		if !from.IsValid() {
			return nextHop{}, false
		}
		return nextHop{ifc: ifc, addr: src, src: from}, true
	}
	return sh.lookup(src)
}

// solicitedNode is the solicited-node multicast group of a (RFC 4291
// §2.7.1): ff02::1:ff and its low 24 bits.
func solicitedNode(a netip.Addr) netip.Addr {
	v := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: v[13], 14: v[14], 15: v[15]})
}

// linkLocalFor is the link-local address of an interface with MAC mac: its
// modified EUI-64 interface identifier (RFC 4291 §2.5.1, Appendix A).
func linkLocalFor(mac wire.MAC) netip.Prefix {
	a := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
	return netip.PrefixFrom(a, 64)
}

// upperHeaderLen is the fixed header length of an upper-layer protocol
// (RFC 7112 §5), 0 for those the stack does not speak.
func upperHeaderLen(proto uint8) int {
	switch proto {
	case wire.IPProtoTCP:
		return wire.TCPHeaderLen
	case wire.IPProtoUDP:
		return wire.UDPHeaderLen
	case wire.IPProtoICMPv6:
		return wire.ICMPv6HeaderLen
	}
	return 0
}
