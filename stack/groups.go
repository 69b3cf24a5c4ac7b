package stack

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"
)

// Group membership reports, host side, of both families: MLDv2 (RFC 3810)
// for IPv6 and IGMPv3 (RFC 3376) for IPv4, which share their state
// machine. The groups an interface joins are reported when joined or
// left, again when a router asks, and in the older versions while an
// older router is heard, so that switches that snoop keep sending them
// to us. mld.go and igmp.go read the queries and write the reports.

// Record types, the same in MLDv2 and IGMPv3 (RFC 3810 §5.2.12, RFC 3376
// §4.2.12).
const (
	modeIsExclude     = 2
	changeToInclude   = 3
	changeToExclude   = 4
	unsolicitedPeriod = time.Second // RFC 3810 §9.11, RFC 3376 §8.11
	reportHeaderLen   = 8
	// olderQuerierTimeout is how long after an older version's query we
	// speak that version: Robustness Variable times the Query Interval,
	// plus the Query Response Interval (RFC 3810 §9.12, RFC 3376 §8.12).
	olderQuerierTimeout = 2*125*time.Second + 10*time.Second
)

// memberState is an interface's reports of one family: the groups
// reported, the state changes still to be repeated, and the answer to a
// query still to be sent.
type memberState struct {
	x  *ndIface
	v4 bool // IGMP; MLD otherwise
	// reported are the groups joined and reported.
	reported []netip.Addr
	// changes are records still to be sent: type and group.
	changes []memberChange
	left    int // retransmissions of the changes still due
	change  ndTimer
	// Answers to queries: everything, or some groups.
	answer       ndTimer
	answerAll    bool
	answerGroups []netip.Addr
	// olderUntil is when the last router of the older version heard
	// (MLDv1, IGMPv2) is taken to be gone; v1Until the same for IGMPv1.
	// Until then, we speak that version.
	olderUntil int64
	v1Until    int64
	// body is scratch for a message.
	body [reportHeaderLen + mldRecordLen*mldMaxRecords]byte
}

type memberChange struct {
	typ   uint8
	group netip.Addr
}

func (m *memberState) init(x *ndIface, v4 bool) {
	m.x, m.v4 = x, v4
	m.change.fn = m.retransmit
	m.change.Handler = &m.change
	m.answer.fn = m.answerQuery
	m.answer.Handler = &m.answer
}

// reportable says whether a report speaks of group g: never of all-nodes
// or all-hosts (RFC 3810 §6, RFC 3376 §5), nor of IPv6 groups of
// interface or reserved scope.
func (m *memberState) reportable(g netip.Addr) bool {
	if m.v4 {
		return g != allHosts
	}
	scope := g.As16()[1] & 0x0f
	return g != allNodes && scope > 1
}

// update reports the groups joined and left since the last call (RFC
// 3810 §6.1, RFC 3376 §5.1): a state change report now, repeated
// MLDReports-1 times at random within a second.
func (m *memberState) update(groups []netip.Addr) {
	nd := m.x.nd
	if nd.cfg.MLDReports < 0 || m.x.ifc.loopback {
		return
	}
	var changed bool
	for _, g := range groups {
		if m.reportable(g) && !slices.Contains(m.reported, g) {
			m.reported = append(m.reported, g)
			m.addChange(changeToExclude, g)
			changed = true
		}
	}
	for _, g := range slices.Clone(m.reported) {
		if !slices.Contains(groups, g) {
			m.reported = slices.DeleteFunc(m.reported, func(o netip.Addr) bool { return o == g })
			m.addChange(changeToInclude, g)
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
func (m *memberState) addChange(typ uint8, g netip.Addr) {
	m.changes = slices.DeleteFunc(m.changes, func(c memberChange) bool { return c.group == g })
	m.changes = append(m.changes, memberChange{typ, g})
}

func (m *memberState) scheduleChange() {
	q := m.x.nd.q
	if m.left <= 0 {
		m.changes = m.changes[:0]
		q.timers.Cancel(&m.change.Timer)
		return
	}
	q.timers.Schedule(&m.change.Timer, q.now+m.x.nd.rng.Int64N(int64(unsolicitedPeriod))+1)
}

func (m *memberState) retransmit(int64) {
	m.left--
	m.send(m.changes)
	m.scheduleChange()
}

// query schedules the answer to a query for group (unspecified: a general
// query) within delay, its maximum response delay: nothing when we do
// not listen to the group; the earlier time when an answer is pending
// (RFC 3810 §6.2, RFC 3376 §5.2).
func (m *memberState) query(group netip.Addr, delay time.Duration) {
	nd := m.x.nd
	q := nd.q
	if !group.IsUnspecified() && !slices.Contains(m.reported, group) {
		return
	}
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

// answerQuery sends the current state of the groups queried.
func (m *memberState) answerQuery(int64) {
	var recs []memberChange
	for _, g := range m.reported {
		if m.answerAll || slices.Contains(m.answerGroups, g) {
			recs = append(recs, memberChange{modeIsExclude, g})
		}
	}
	m.answerAll, m.answerGroups = false, m.answerGroups[:0]
	m.send(recs)
}

// sendRecords sends recs in reports of type typ, at most max records of
// recLen bytes each behind the 8-byte header: the layout MLDv2 and IGMPv3
// share but for the sizes (RFC 3810 §5.2, RFC 3376 §4.2). The records
// name no sources: they say include none, or exclude none.
func (m *memberState) sendRecords(recs []memberChange, typ uint8, recLen, max int, emit func(body []byte)) {
	for len(recs) > 0 {
		n := min(len(recs), max)
		body := m.body[:reportHeaderLen+recLen*n]
		clear(body)
		body[0] = typ
		binary.BigEndian.PutUint16(body[6:8], uint16(n))
		for i, c := range recs[:n] {
			rec := body[reportHeaderLen+i*recLen:]
			rec[0] = c.typ
			copy(rec[4:recLen], c.group.AsSlice())
		}
		emit(body)
		recs = recs[n:]
	}
}

// sendOlder sends recs one message each, as MLDv1 and IGMPv2 and v1 do:
// a report of type report to a group joined, a message of type leave to
// routers for a group left, or nothing for it when leave is 0 (IGMPv1).
// Messages are bodyLen bytes long, with the group at groupOff.
func (m *memberState) sendOlder(recs []memberChange, bodyLen, groupOff int, report, leave uint8, routers netip.Addr, emit func(dst netip.Addr, body []byte)) {
	for _, c := range recs {
		body := m.body[:bodyLen]
		clear(body)
		copy(body[groupOff:], c.group.AsSlice())
		body[0] = report
		dst := c.group
		if c.typ == changeToInclude {
			if leave == 0 {
				continue
			}
			body[0], dst = leave, routers
		}
		emit(dst, body)
	}
}

// send sends the records recs in the family's messages.
func (m *memberState) send(recs []memberChange) {
	if m.v4 {
		m.sendIGMP(recs)
	} else {
		m.sendMLD(recs)
	}
}
