package stack

import (
	"errors"
	"net/netip"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/reasm"
	"github.com/ustack/ustack/stack/internal/timer"
	"github.com/ustack/ustack/stack/wire"
)

// defaultTTL is the TTL of datagrams we originate (RFC 1700, Linux's 64).
const defaultTTL = 64

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// ipv4Input checks a received IPv4 datagram (RFC 1122 §3.2.1) and delivers
// it to the transport. f is the frame it came in (for offload flags); b the
// IP packet; l2multicast whether the frame was sent to a group address.
func (q *queue) ipv4Input(ifc *iface, f *backend.Frame, b []byte, l2multicast bool) {
	c := &q.counters.IP
	c.InReceives++
	ip := wire.IPv4(b)
	if err := ip.Check(); err != nil {
		if errors.Is(err, wire.ErrTruncated) {
			c.InTruncatedPkts++
		} else {
			c.InHdrErrors++
		}
		return
	}
	if !verified(f) && !ip.VerifyChecksum() {
		c.InCsumErrors++
		return
	}
	sh := q.shared()
	src, dst := ip.SrcAddr(), ip.DstAddr()
	if martian(sh, ifc, src) {
		c.InMartians++
		return
	}
	switch {
	case ifc.loopback || sh.own.get(dst) != nil:
		if l2multicast {
			// A unicast IP datagram in a link-layer broadcast is
			// discarded (RFC 1122 §3.3.6).
			c.InAddrErrors++
			return
		}
	case dst == limitedBroadcast || sh.bcast.get(dst) == ifc:
		c.InBcastPkts++
	case dst == allHosts || dst.IsMulticast() && sh.member(ifc, dst):
		c.InMcastPkts++
	default:
		// We are a host: datagrams for other addresses are not ours to
		// forward (RFC 1122 §3.3.4.2).
		c.InAddrErrors++
		return
	}
	if ip.HeaderLen() > wire.IPv4HeaderLen && sourceRouted(ip.Options()) {
		c.InSourceRouted++
		return
	}
	payload := ip.Payload()
	if ip.IsFragment() {
		// Queue 0 reassembles: a device may steer the fragments of a
		// datagram apart.
		if q.handOff(0) {
			c.InReceives--
			return
		}
		c.ReasmReqds++
		var ok bool
		payload, ok = q.reassemble(ip)
		if !ok {
			return
		}
		// The datagram is no frame of its own to pass on.
		q.cur = nil
	}
	c.InDelivers++
	switch ip.Protocol() {
	case wire.IPProtoICMP:
		q.icmpInput(ifc, f, ip, payload)
	case wire.IPProtoUDP:
		q.udpInput(ifc, f, ip, payload)
	case wire.IPProtoTCP:
		q.tcpInput(ifc, f, ip, payload)
	case protoIGMP:
		// Queue 0 runs IGMP.
		if q.handOff(0) {
			c.InReceives--
			c.InDelivers--
			return
		}
		q.igmpInput(ifc, ip, payload)
	default:
		c.InDelivers--
		c.InUnknownProtos++
		if !ip.IsFragment() {
			q.icmpError(ip, wire.ICMPv4DestUnreachable, wire.ICMPv4ProtoUnreachable, 0)
		}
	}
}

var allHosts = netip.AddrFrom4([4]byte{224, 0, 0, 1})

// martian reports source addresses no host may send from (RFC 1122
// §3.2.1.3, RFC 1812 §5.3.7): broadcast, multicast, class E, this-network,
// loopback from a wire, and our own addresses from a wire (LAND).
func martian(sh *shared, ifc *iface, src netip.Addr) bool {
	if ifc.loopback {
		return false
	}
	a := src.As4()
	switch {
	case src == limitedBroadcast, src.IsMulticast(), a[0] >= 240:
		return true
	case src.IsLoopback(), a[0] == 0:
		return true
	}
	if sh.own.get(src) != nil {
		return true
	}
	return sh.bcast.get(src) != nil
}

// reassemble adds a fragment and returns the whole datagram's payload
// when it is complete.
func (q *queue) reassemble(ip wire.IPv4) ([]byte, bool) {
	c := &q.counters.IP
	k := reasm.Key{Src: ip.SrcAddr(), Dst: ip.DstAddr(), ID: uint32(ip.ID()), Proto: ip.Protocol()}
	before := evictions(q.reasm)
	res := q.reasm.Add(k, ip.FragmentOffset(), ip.MoreFragments(), ip.Payload(), ip.Header(), q.now)
	c.ReasmFails += q.evicted(q.reasm, before, res)
	switch res.Status {
	case reasm.Complete:
		q.scheduleReasm()
		if len(res.Header)+len(res.Payload) > 65535 {
			// The first fragment's options leave less room than the
			// 20-byte header the reassembler's cap allows for: the
			// datagram would be longer than IPv4 can say (RFC 791).
			c.ReasmFails++
			return nil, false
		}
		c.ReasmOKs++
		return res.Payload, true
	case reasm.Pending:
		q.scheduleReasm()
		return nil, false
	default:
		q.reasmDropped(res, &c.ReasmFails, &c.ReasmOverlaps)
		return nil, false
	}
}

// reasmDropped counts a fragment the reassembler refused, of either
// family: a failure unless its datagram was discarded before (that was
// counted then), an overlap, or the memory limit reached.
func (q *queue) reasmDropped(res reasm.Result, fails, overlaps *uint64) {
	if res.Reason != reasm.Discarded {
		*fails++
	}
	switch res.Reason {
	case reasm.Overlap:
		*overlaps++
	case reasm.MemoryFull:
		q.limitReached(limitReassembly)
	}
}

// reasmTimer expires incomplete datagrams.
type reasmTimer struct{ q *queue }

func (r reasmTimer) OnTimer(_ *timer.Timer, now int64) {
	q := r.q
	q.reasm.Expire(now, func(e reasm.Expired) {
		q.counters.IP.ReasmFails++
		q.counters.IP.ReasmTimeout++
		// RFC 792: time exceeded (fragment reassembly) only when the
		// first fragment arrived, and quoting it.
		if e.First {
			q.icmpErrorQuote(e.Header, e.Data, wire.ICMPv4TimeExceeded, 1, 0)
		}
	})
	q.scheduleReasm()
}

func (q *queue) scheduleReasm() {
	if next, ok := q.reasm.NextDeadline(); ok {
		q.timers.Schedule(&q.reasmT, next)
	} else {
		q.timers.Cancel(&q.reasmT)
	}
}

// ipv4Datagram is what a transport hands to IPv4 output.
type ipv4Datagram struct {
	src, dst netip.Addr
	proto    uint8
	ttl      uint8
	tos      uint8
	df       bool
	// hdr is the transport header and payload the data after it; the
	// datagram is their concatenation.
	hdr      []byte
	payload  []byte
	payload2 []byte // more payload: a ring's bytes can come in two pieces
	// gsoSize, when set, lets a datagram larger than the MTU go out as one
	// TSO frame of gsoSize-byte segments (TCP only).
	gsoSize int
	// pins, when set, say that payload and payload2 lie in a TCP send
	// ring, from position pinPos on: on an interface with scatter-gather
	// the frame may point into the ring rather than copy (sg.go).
	pins   *sendPins
	pinPos uint64
	// csumOff is the offset of the transport checksum in hdr, or -1; the
	// checksum covers the pseudo-header when pseudo is set (UDP, TCP) and
	// only the message otherwise (ICMP). zeroIsNone: a computed 0 is sent
	// as 0xffff (UDP, RFC 768).
	csumOff    int
	pseudo     bool
	zeroIsNone bool
	// opts are IPv4 options, a multiple of 4 bytes long (echoOptions'),
	// sent only on a datagram that goes whole: one that must be
	// fragmented goes without them.
	opts []byte
}

// errMsgSize: the datagram is larger than the path allows and may not be
// fragmented.
var errMsgSize = errors.New("message too long")

// output4 routes and sends an IPv4 datagram, fragmenting it when it does
// not fit the interface's MTU (RFC 791 §3.2, RFC 1122 §3.3.3).
func (q *queue) output4(nh nextHop, d *ipv4Datagram) error {
	c := &q.counters.IP
	c.OutRequests++
	ifc := nh.ifc
	l4len := len(d.hdr) + len(d.payload) + len(d.payload2)
	if wire.IPv4HeaderLen+l4len > 65535 {
		c.OutDiscards++
		return errMsgSize
	}
	if d.ttl == 0 {
		d.ttl = defaultTTL
	}
	q.ipID++
	id := q.ipID
	if wire.IPv4HeaderLen+len(d.opts)+l4len > ifc.mtu {
		d.opts = nil
	}
	hl := wire.IPv4HeaderLen + len(d.opts)
	tso := d.gsoSize > 0 && ifc.tsoMax >= hl+l4len && ifc.txCsum
	if hl+l4len <= ifc.mtu || tso {
		f, payload, extra := q.l4Frame(ifc, d, hl)
		if f == nil {
			c.OutDiscards++
			return nil
		}
		q.fillIPv4(f, ifc, d, id, 0, false, d.hdr, payload, extra)
		if hl+l4len > ifc.mtu {
			f.GSO, f.GSOSize = backend.GSOTCPv4, uint16(d.gsoSize)
			f.L4Len = uint16(len(d.hdr))
		}
		q.checksumL4(f, ifc, d, l4len)
		q.deliver(nh, d.dst, f)
		return nil
	}
	if d.df {
		c.FragFails++
		return errMsgSize
	}
	return q.fragment4(nh, d, id, l4len)
}

// l4Frame returns the frame for d, a datagram sent whole behind an l3-byte
// IP header, with the bytes the IP fill does not copy already in it, and
// what that fill is to copy after d.hdr and how many bytes follow. On an
// interface that gathers, a datagram from a TCP send ring gets a head for
// the headers and the payload's first bytes and windows onto the rest
// (sgFrame); otherwise a buffer of the device's with d.payload2 copied in.
// It returns nil when the device has no buffer.
func (q *queue) l4Frame(ifc *iface, d *ipDatagram, l3 int) (f *backend.Frame, payload []byte, extra int) {
	if f, k := q.sgFrame(ifc, d, l3); f != nil {
		return f, d.payload[:k], len(d.payload) - k + len(d.payload2)
	}
	start := wire.EthernetHeaderLen + l3 + len(d.hdr) + len(d.payload)
	if f = q.alloc(ifc, start+len(d.payload2)); f == nil {
		return nil, nil, 0
	}
	if len(d.payload2) > 0 {
		f.SetLen(start + len(d.payload2))
		f.CopyFrom(d.payload2, start)
	}
	return f, d.payload, len(d.payload2)
}

// fillIPv4 writes Ethernet and IPv4 headers and then the transport bytes
// hdr and payload into f, sized for extra bytes more after them. The
// destination MAC is filled later.
func (q *queue) fillIPv4(f *backend.Frame, ifc *iface, d *ipv4Datagram, id uint16, off int, mf bool, hdr, payload []byte, extra int) {
	hl := wire.IPv4HeaderLen + len(d.opts)
	total := wire.EthernetHeaderLen + hl + len(hdr) + len(payload) + extra
	f.SetLen(total)
	b := f.Bytes()
	eth := wire.Ethernet(b)
	eth.SetSrc(ifc.mac)
	eth.SetEtherType(wire.EtherTypeIPv4)
	wire.IPv4Fields{
		TOS:            d.tos,
		ID:             id,
		DontFragment:   d.df,
		MoreFragments:  mf,
		FragmentOffset: off,
		TTL:            d.ttl,
		Protocol:       d.proto,
		Src:            d.src,
		Dst:            d.dst,
		Options:        d.opts,
		PayloadLen:     total - wire.EthernetHeaderLen - hl,
	}.Emit(b[wire.EthernetHeaderLen:]) // with the header checksum
	start := wire.EthernetHeaderLen + hl
	f.CopyFrom(hdr, start)
	f.CopyFrom(payload, start+len(hdr))
	f.L2Len, f.L3Len = wire.EthernetHeaderLen, uint16(hl)
}

// checksumL4 fills the transport checksum of an unfragmented datagram: a
// partial sum for the device to complete when it offers that, the full sum
// otherwise.
func (q *queue) checksumL4(f *backend.Frame, ifc *iface, d *ipv4Datagram, l4len int) {
	if d.csumOff < 0 {
		return
	}
	start := wire.EthernetHeaderLen + wire.IPv4HeaderLen + len(d.opts)
	b := f.Bytes()
	field := b[start+d.csumOff : start+d.csumOff+2]
	field[0], field[1] = 0, 0
	var acc uint64
	if d.pseudo {
		ip := wire.IPv4(b[wire.EthernetHeaderLen:])
		acc = wire.PseudoHeaderSum(ip.Src(), ip.Dst(), d.proto, l4len)
		if ifc.txCsum {
			sum := wire.Fold(acc)
			field[0], field[1] = byte(sum>>8), byte(sum)
			f.Csum = backend.CsumPartial
			f.CsumStart = uint16(start)
			f.CsumOffset = uint16(d.csumOff)
			return
		}
	}
	sum := ^wire.Fold(frameSum(f, start, acc))
	if sum == 0 && d.zeroIsNone {
		sum = 0xffff
	}
	field[0], field[1] = byte(sum>>8), byte(sum)
}

// fragment4 cuts a datagram into fragments of the interface's MTU, each
// carrying a multiple of 8 bytes but the last (RFC 791 §3.2).
func (q *queue) fragment4(nh nextHop, d *ipv4Datagram, id uint16, l4len int) error {
	c := &q.counters.IP
	ifc := nh.ifc
	// The transport checksum covers the whole datagram: compute it before
	// cutting.
	if d.csumOff >= 0 {
		hdr := d.hdr
		hdr[d.csumOff], hdr[d.csumOff+1] = 0, 0
		var acc uint64
		if d.pseudo {
			s4, d4 := d.src.As4(), d.dst.As4()
			acc = wire.PseudoHeaderSum(s4[:], d4[:], d.proto, l4len)
		}
		acc = wire.Sum(hdr, acc)
		acc = wire.SumAt(d.payload, acc, len(hdr)%2 == 1)
		sum := ^wire.Fold(acc)
		if sum == 0 && d.zeroIsNone {
			sum = 0xffff
		}
		hdr[d.csumOff], hdr[d.csumOff+1] = byte(sum>>8), byte(sum)
	}
	per := (ifc.mtu - wire.IPv4HeaderLen) &^ 7
	if per <= 0 {
		c.FragFails++
		return errMsgSize
	}
	for off := 0; off < l4len; off += per {
		n := min(per, l4len-off)
		f := q.alloc(ifc, wire.EthernetHeaderLen+wire.IPv4HeaderLen+n)
		if f == nil {
			c.FragFails++
			return nil
		}
		hdr, payload := sliceConcat(d.hdr, d.payload, off, n)
		q.fillIPv4(f, ifc, d, id, off, off+n < l4len, hdr, payload, 0)
		c.FragCreates++
		q.deliver(nh, d.dst, f)
	}
	c.FragOKs++
	return nil
}

// sliceConcat returns the n bytes at offset off of the concatenation a+b,
// as a part of a and a part of b.
func sliceConcat(a, b []byte, off, n int) ([]byte, []byte) {
	var x []byte
	if off < len(a) {
		x = a[off:min(len(a), off+n)]
		n -= len(x)
		off = 0
	} else {
		off -= len(a)
	}
	return x, b[off : off+n]
}

// deliver hands a built frame to the link: loopback, broadcast, or the
// neighbour cache.
func (q *queue) deliver(nh nextHop, dst netip.Addr, f *backend.Frame) {
	ifc := nh.ifc
	switch {
	case nh.local:
		q.sendTo(ifc, wire.MAC{}, f)
	case dst == limitedBroadcast || q.shared().bcast.get(dst) == ifc:
		q.sendTo(ifc, wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, f)
	case dst.IsMulticast():
		q.sendTo(ifc, wire.MulticastMAC(dst), f)
	default:
		q.resolve(ifc, nh.addr, f)
	}
}
