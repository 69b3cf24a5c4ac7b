package stack

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ustack/ustack/stack/wire"
)

// Multicast Listener Discovery (RFC 3810, MLDv1 of RFC 2710 while an
// MLDv1 router is heard): the IPv6 side of groups.go. The groups an
// interface joins are all-nodes, the solicited-node groups of its
// addresses and those the applications join.

// MLD constants (RFC 3810 §5.2).
const (
	mldv2Report  = wire.ICMPv6MLDv2Report
	mldRecordLen = 20
	// mldMaxRecords keeps a report within the minimum MTU (RFC 3810
	// §5.2.15).
	mldMaxRecords = (minMTU6 - wire.IPv6HeaderLen - 8 - reportHeaderLen) / mldRecordLen
	// mldv1Len is the length of MLDv1 messages (RFC 2710 §3).
	mldv1Len = 24
)

var mldv2Routers = netip.MustParseAddr("ff02::16")

// queryInput handles a Multicast Listener Query (RFC 3810 §5.1, §6.2): a
// general query is answered with every group after a random delay below
// its maximum response delay, a group-specific one with that group if we
// listen to it. An MLDv1 query (24 bytes) is answered the same way, in
// MLDv1.
func (m *memberState) queryInput(ip wire.IPv6, b []byte) {
	nd := m.x.nd
	q := nd.q
	if nd.cfg.MLDReports < 0 {
		return
	}
	// §5.1.14: only from a link-local source, with hop limit 1.
	if len(b) < 24 || !ip.SrcAddr().IsLinkLocalUnicast() || ip.HopLimit() != 1 {
		q.counters.ICMPv6.InErrors++
		return
	}
	if len(b) < 28 {
		// An MLDv1 router is on the link (§8.2.1).
		m.olderUntil = q.now + int64(olderQuerierTimeout)
	}
	m.query(netip.AddrFrom16([16]byte(b[8:24])), mldMaxResponseDelay(binary.BigEndian.Uint16(b[4:6]), len(b) >= 28))
}

// mldMaxResponseDelay decodes a query's Maximum Response Code in
// milliseconds: MLDv2's floating point form (RFC 3810 §5.1.3) or MLDv1's
// plain one.
func mldMaxResponseDelay(code uint16, v2 bool) time.Duration {
	ms := int64(code)
	if v2 && code >= 0x8000 {
		exp := (code >> 12) & 7
		mant := code & 0x0fff
		ms = int64(mant|0x1000) << (exp + 3)
	}
	return time.Duration(ms) * time.Millisecond
}

// sendMLD sends the records recs: in MLDv2 reports, or, while an MLDv1
// router is present, as MLDv1 reports to each group and Dones to all
// routers for groups left (RFC 3810 §8.2.1).
func (m *memberState) sendMLD(recs []memberChange) {
	if m.x.nd.q.now < m.olderUntil {
		m.sendOlder(recs, mldv1Len, 8, wire.ICMPv6MLDReport, wire.ICMPv6MLDDone, allRouters, m.emitMLD)
		return
	}
	m.sendRecords(recs, mldv2Report, mldRecordLen, mldMaxRecords, func(body []byte) { m.emitMLD(mldv2Routers, body) })
}

// emitMLD sends the MLD message body (its checksum is filled in) to dst,
// from the link-local address or, while it is being checked, from the
// unspecified one (RFC 3810 §5.2.13), with hop limit 1 and a Router Alert
// (§5).
func (m *memberState) emitMLD(dst netip.Addr, body []byte) {
	x := m.x
	q := x.nd.q
	ifc := x.ifc
	src := x.linkLocal()
	if !src.IsValid() {
		src = netip.IPv6Unspecified()
	}
	const hbhLen = 8
	frameLen := wire.EthernetHeaderLen + wire.IPv6HeaderLen + hbhLen + len(body)
	f := q.alloc(ifc, frameLen)
	if f == nil {
		return
	}
	s, d := src.As16(), dst.As16()
	body[2], body[3] = 0, 0
	sum := ^wire.Fold(wire.Sum(body, wire.PseudoHeaderSum(s[:], d[:], protoICMPv6, len(body))))
	binary.BigEndian.PutUint16(body[2:4], sum)
	var hdr [wire.EthernetHeaderLen + wire.IPv6HeaderLen + hbhLen]byte
	eth := wire.Ethernet(hdr[:])
	eth.SetDst(wire.MulticastMAC(dst))
	eth.SetSrc(ifc.mac)
	eth.SetEtherType(wire.EtherTypeIPv6)
	wire.IPv6Fields{
		PayloadLen: hbhLen + len(body),
		NextHeader: wire.IPProtoHopByHop,
		HopLimit:   1,
		Src:        src,
		Dst:        dst,
	}.Emit(hdr[wire.EthernetHeaderLen:])
	// Hop-by-Hop: Router Alert for MLD (RFC 2711, value 0), then PadN.
	copy(hdr[wire.EthernetHeaderLen+wire.IPv6HeaderLen:], []byte{protoICMPv6, 0, wire.IPv6OptRouterAlert, 2, 0, 0, 1, 0})
	f.SetLen(frameLen)
	f.CopyFrom(hdr[:], 0)
	f.CopyFrom(body, len(hdr))
	f.L2Len, f.L3Len = wire.EthernetHeaderLen, uint16(wire.IPv6HeaderLen+hbhLen)
	q.counters.IPv6.OutRequests++
	q.counters.IPv6.OutMcastPkts++
	q.counters.ICMPv6.OutMsgs++
	q.counters.ICMPv6.OutGroupMembResponses++
	q.queueTx(ifc, f)
}
