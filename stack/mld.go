package stack

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/ustack/ustack/stack/wire"
)

// Multicast Listener Discovery version 2 (RFC 3810), host side: the groups
// an interface joins (all-nodes and the solicited-node groups of its
// addresses) are reported when joined or left, and again when a router
// asks, so that switches that snoop MLD keep sending them to us.

// MLDv2 constants (RFC 3810 §5.2.12, §9.11).
const (
	mldv2Report          = wire.ICMPv6MLDv2Report
	mldModeIsExclude     = 2
	mldChangeToInclude   = 3
	mldChangeToExclude   = 4
	mldRecordLen         = 20
	mldReportHeaderLen   = 8
	mldUnsolicitedPeriod = time.Second
	// mldMaxRecords keeps a report within the minimum MTU (RFC 3810
	// §5.2.15).
	mldMaxRecords = (minMTU6 - wire.IPv6HeaderLen - 8 - mldReportHeaderLen) / mldRecordLen
	// mldv1Len is the length of MLDv1 messages (RFC 2710 §3).
	mldv1Len = 24
	// mldOlderQuerierTimeout is how long after an MLDv1 query we speak
	// MLDv1: Robustness Variable times the Query Interval, plus the Query
	// Response Interval (RFC 3810 §9.12).
	mldOlderQuerierTimeout = 2*125*time.Second + 10*time.Second
)

var mldv2Routers = netip.MustParseAddr("ff02::16")

// mldState is an interface's MLD: the groups reported, the state changes
// still to be repeated, and the answer to a query still to be sent.
type mldState struct {
	x        *ndIface
	reported []netip.Addr
	// changes are records still to be sent: type and group.
	changes []mldChange
	left    int // retransmissions of the changes still due
	change  ndTimer
	// Answers to queries: everything, or some groups.
	answer       ndTimer
	answerAll    bool
	answerGroups []netip.Addr
	// v1Until is when the last MLDv1 router heard is taken to be gone
	// (§8.2.1): until then, we speak MLDv1.
	v1Until int64
	// body is scratch for a message.
	body [mldReportHeaderLen + mldRecordLen*mldMaxRecords]byte
}

type mldChange struct {
	typ   uint8
	group netip.Addr
}

func (m *mldState) init(x *ndIface) {
	m.x = x
	m.change.fn = m.retransmit
	m.change.Handler = &m.change
	m.answer.fn = m.answerQuery
	m.answer.Handler = &m.answer
}

// reportable says whether MLD speaks of group g: never of all-nodes
// (RFC 3810 §6), nor of groups of interface or reserved scope.
func reportable(g netip.Addr) bool {
	scope := g.As16()[1] & 0x0f
	return g != allNodes && scope > 1
}

// update reports the groups joined and left since the last call (RFC
// 3810 §6.1): a state change report now, repeated MLDReports-1 times at
// random within a second.
func (m *mldState) update(groups []netip.Addr) {
	nd := m.x.nd
	if nd.cfg.MLDReports < 0 || m.x.ifc.loopback {
		return
	}
	var changed bool
	for _, g := range groups {
		if reportable(g) && !slices.Contains(m.reported, g) {
			m.reported = append(m.reported, g)
			m.addChange(mldChangeToExclude, g)
			changed = true
		}
	}
	for _, g := range slices.Clone(m.reported) {
		if !slices.Contains(groups, g) {
			m.reported = slices.DeleteFunc(m.reported, func(o netip.Addr) bool { return o == g })
			m.addChange(mldChangeToInclude, g)
			changed = true
		}
	}
	if !changed {
		return
	}
	m.left = nd.cfg.MLDReports - 1
	m.send(m.changes)
	m.scheduleChange()
}

// addChange replaces any pending record of g with one of type typ.
func (m *mldState) addChange(typ uint8, g netip.Addr) {
	m.changes = slices.DeleteFunc(m.changes, func(c mldChange) bool { return c.group == g })
	m.changes = append(m.changes, mldChange{typ, g})
}

func (m *mldState) scheduleChange() {
	q := m.x.nd.q
	if m.left <= 0 {
		m.changes = m.changes[:0]
		q.timers.Cancel(&m.change.Timer)
		return
	}
	q.timers.Schedule(&m.change.Timer, q.now+m.x.nd.rng.Int64N(int64(mldUnsolicitedPeriod))+1)
}

func (m *mldState) retransmit(int64) {
	m.left--
	m.send(m.changes)
	m.scheduleChange()
}

// queryInput handles a Multicast Listener Query (RFC 3810 §5.1, §6.2): a
// general query is answered with every group after a random delay below
// its maximum response delay, a group-specific one with that group if we
// listen to it. An MLDv1 query (24 bytes) is answered the same way, in
// MLDv1.
func (m *mldState) queryInput(ip wire.IPv6, b []byte) {
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
		m.v1Until = q.now + int64(mldOlderQuerierTimeout)
	}
	group := netip.AddrFrom16([16]byte(b[8:24]))
	if !group.IsUnspecified() && !slices.Contains(m.reported, group) {
		return
	}
	delay := mldMaxResponseDelay(binary.BigEndian.Uint16(b[4:6]), len(b) >= 28)
	at := q.now
	if delay > 0 {
		at += nd.rng.Int64N(int64(delay))
	}
	if group.IsUnspecified() {
		m.answerAll = true
	} else if !slices.Contains(m.answerGroups, group) {
		m.answerGroups = append(m.answerGroups, group)
	}
	if !m.answer.Pending() || at < m.answer.When() {
		q.timers.Schedule(&m.answer.Timer, at)
	}
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

// answerQuery sends the current state of the groups queried.
func (m *mldState) answerQuery(int64) {
	var recs []mldChange
	for _, g := range m.reported {
		if m.answerAll || slices.Contains(m.answerGroups, g) {
			recs = append(recs, mldChange{mldModeIsExclude, g})
		}
	}
	m.answerAll, m.answerGroups = false, m.answerGroups[:0]
	m.send(recs)
}

// send sends the records recs: in MLDv2 reports, or, while an MLDv1
// router is present, as MLDv1 reports to each group and Dones to all
// routers for groups left (RFC 3810 §8.2.1).
func (m *mldState) send(recs []mldChange) {
	if m.x.nd.q.now < m.v1Until {
		for _, c := range recs {
			body := m.body[:mldv1Len]
			clear(body)
			g := c.group.As16()
			copy(body[8:24], g[:])
			var dst netip.Addr
			body[0], dst = wire.ICMPv6MLDReport, c.group
			if c.typ == mldChangeToInclude {
				body[0], dst = wire.ICMPv6MLDDone, allRouters
			}
			m.emit(dst, body)
		}
		return
	}
	for len(recs) > 0 {
		n := min(len(recs), mldMaxRecords)
		body := m.body[:mldReportHeaderLen+mldRecordLen*n]
		clear(body)
		body[0] = mldv2Report
		binary.BigEndian.PutUint16(body[6:8], uint16(n))
		for i, c := range recs[:n] {
			rec := body[mldReportHeaderLen+i*mldRecordLen:]
			rec[0] = c.typ
			g := c.group.As16()
			copy(rec[4:20], g[:])
		}
		m.emit(mldv2Routers, body)
		recs = recs[n:]
	}
}

// emit sends the MLD message body (its checksum is filled in) to dst,
// from the link-local address or, while it is being checked, from the
// unspecified one (RFC 3810 §5.2.13), with hop limit 1 and a Router Alert
// (§5).
func (m *mldState) emit(dst netip.Addr, body []byte) {
	x := m.x
	q := x.nd.q
	ifc := x.ifc
	src := netip.IPv6Unspecified()
	if len(x.addrs) > 0 && x.addrs[0].source == "linklocal" && x.addrs[0].state == addrPreferred {
		src = x.addrs[0].prefix.Addr()
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
