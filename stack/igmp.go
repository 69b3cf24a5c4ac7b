package stack

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ustack/ustack/stack/wire"
)

// The Internet Group Management Protocol, host side: IGMPv3 (RFC 3376),
// IGMPv2 (RFC 2236) while a version 2 router is heard, IGMPv1 (RFC 1112)
// while a version 1 one is. The IPv4 side of groups.go: an interface
// joins all-hosts and the groups applications join.

// IGMP constants (RFC 3376 §4, RFC 2236 §2).
const (
	protoIGMP     = 2
	igmpQuery     = 0x11
	igmpv1Report  = 0x12
	igmpv2Report  = 0x16
	igmpv2Leave   = 0x17
	igmpv3Report  = 0x22
	igmpRecordLen = 8
	igmpv2Len     = 8 // IGMPv1 and v2 messages (RFC 2236 §2)
	// igmpMaxRecords keeps a report within 576 bytes, which every IPv4
	// link carries (RFC 791).
	igmpMaxRecords = (576 - igmpHeaderLen - reportHeaderLen) / igmpRecordLen
	// igmpHeaderLen is IGMP's IPv4 header: with the Router Alert option.
	igmpHeaderLen = wire.IPv4HeaderLen + 4
	// igmpv1Delay is the response delay of an IGMPv1 query, which has none
	// (RFC 2236 §4).
	igmpv1Delay = 10 * time.Second
)

var (
	allRouters4   = netip.AddrFrom4([4]byte{224, 0, 0, 2})
	igmpv3Routers = netip.AddrFrom4([4]byte{224, 0, 0, 22})
)

// igmpInput takes an IGMP message for interface ifc (queue 0 runs IGMP):
// a query is answered (RFC 3376 §5.2), other hosts' reports ignored.
func (q *queue) igmpInput(ifc *iface, ip wire.IPv4, b []byte) {
	c := &q.counters.IGMP
	c.InMsgs++
	if len(b) < 8 || wire.Fold(wire.Sum(b, 0)) != 0xffff {
		c.InErrors++
		return
	}
	if b[0] != igmpQuery {
		return
	}
	group := netip.AddrFrom4([4]byte(b[4:8]))
	if !group.IsUnspecified() && !group.IsMulticast() {
		c.InErrors++
		return
	}
	c.InQueries++
	if ifc.loopback || q.nd == nil || q.nd.cfg.MLDReports < 0 {
		return
	}
	m := &q.nd.ifs[ifc.idx].igmp
	var delay time.Duration
	switch {
	case len(b) >= 12:
		delay = igmpMaxResponseDelay(b[1])
	case b[1] == 0:
		// Version 1 (RFC 2236 §4): a version 1 router is on the link.
		m.v1Until = q.now + int64(olderQuerierTimeout)
		delay = igmpv1Delay
	default:
		m.olderUntil = q.now + int64(olderQuerierTimeout)
		delay = time.Duration(b[1]) * 100 * time.Millisecond
	}
	m.query(group, delay)
}

// igmpMaxResponseDelay decodes an IGMPv3 query's Max Resp Code, in tenths
// of a second, in its floating point form from 128 (RFC 3376 §4.1.1).
func igmpMaxResponseDelay(code uint8) time.Duration {
	tenths := int64(code)
	if code >= 0x80 {
		exp, mant := (code>>4)&7, code&0x0f
		tenths = int64(mant|0x10) << (exp + 3)
	}
	return time.Duration(tenths) * 100 * time.Millisecond
}

// sendIGMP sends the records recs: in IGMPv3 reports to the IGMPv3
// routers, or while an older router is present, as IGMPv2 reports to each
// group and Leaves to all routers, or IGMPv1 reports and no Leave at all
// (RFC 3376 §7.2.1).
func (m *memberState) sendIGMP(recs []memberChange) {
	switch now := m.x.nd.q.now; {
	case now < m.v1Until:
		m.sendOlder(recs, igmpv2Len, 4, igmpv1Report, 0, netip.Addr{}, m.emitIGMP)
	case now < m.olderUntil:
		m.sendOlder(recs, igmpv2Len, 4, igmpv2Report, igmpv2Leave, allRouters4, m.emitIGMP)
	default:
		m.sendRecords(recs, igmpv3Report, igmpRecordLen, igmpMaxRecords, func(body []byte) { m.emitIGMP(igmpv3Routers, body) })
	}
}

// emitIGMP sends the IGMP message body (its checksum is filled in) to
// dst, from the interface's IPv4 address or 0.0.0.0 without one (RFC 3376
// §4.2.13), with TTL 1 and a Router Alert option (RFC 2113), as RFC 3376
// §4 and RFC 2236 §2 ask.
func (m *memberState) emitIGMP(dst netip.Addr, body []byte) {
	x := m.x
	q := x.nd.q
	ifc := x.ifc
	src := netip.IPv4Unspecified()
	if a := q.shared().sourceFor(ifc, dst); a.Is4() {
		src = a
	}
	frameLen := wire.EthernetHeaderLen + igmpHeaderLen + len(body)
	f := q.alloc(ifc, frameLen)
	if f == nil {
		return
	}
	binary.BigEndian.PutUint16(body[2:4], 0)
	binary.BigEndian.PutUint16(body[2:4], wire.Checksum(body, 0))
	var hdr [wire.EthernetHeaderLen + igmpHeaderLen]byte
	eth := wire.Ethernet(hdr[:])
	eth.SetDst(wire.MulticastMAC(dst))
	eth.SetSrc(ifc.mac)
	eth.SetEtherType(wire.EtherTypeIPv4)
	ip := wire.IPv4(hdr[wire.EthernetHeaderLen:])
	ip.SetHeaderLen(igmpHeaderLen)
	ip.SetTOS(0xc0) // internetwork control, as Linux sends IGMP
	ip.SetTotalLen(uint16(igmpHeaderLen + len(body)))
	q.ipID++
	ip.SetID(q.ipID)
	ip.SetTTL(1)
	ip.SetProtocol(protoIGMP)
	ip.SetSrcAddr(src)
	ip.SetDstAddr(dst)
	copy(ip[wire.IPv4HeaderLen:], []byte{0x94, 0x04, 0, 0}) // Router Alert
	ip.SetChecksum(ip.ComputeChecksum())
	f.SetLen(frameLen)
	f.CopyFrom(hdr[:], 0)
	f.CopyFrom(body, len(hdr))
	f.L2Len, f.L3Len = wire.EthernetHeaderLen, igmpHeaderLen
	q.counters.IP.OutRequests++
	q.counters.IGMP.OutReports++
	q.queueTx(ifc, f)
}
