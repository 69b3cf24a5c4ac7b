package stack

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/ustack/ustack/stack/wire"
)

// A DHCPv6 client (RFC 8415) that router advertisements start: the M flag
// (managed) has it lease addresses (IA_NA, §18), the O flag alone (other
// configuration) ask only for the DNS servers (Information-Request,
// §18.2.6). Like the DHCPv4 client it runs in queue 0's core on the
// stack's clock; it sends from the link-local address to
// All_DHCP_Relay_Agents_and_Servers and takes the replies from UDP input
// before any socket sees them. Leased addresses are /128 (the prefix's
// on-link state is the router advertisement's business), checked for
// duplicates like any other, declined when another node has one, and
// live as long as their lifetimes.

// DHCPv6 ports, message types, options and status codes (RFC 8415 §7,
// §21; RFC 3646 for DNS servers).
const (
	dhcp6ClientPort = 546
	dhcp6ServerPort = 547

	dhcp6Solicit     = 1
	dhcp6Advertise   = 2
	dhcp6Request     = 3
	dhcp6Renew       = 5
	dhcp6Rebind      = 6
	dhcp6Reply       = 7
	dhcp6Release     = 8
	dhcp6Decline     = 9
	dhcp6InfoRequest = 11

	opt6ClientID    = 1
	opt6ServerID    = 2
	opt6IANA        = 3
	opt6IAAddr      = 5
	opt6ORO         = 6
	opt6Preference  = 7
	opt6ElapsedTime = 8
	opt6StatusCode  = 13
	opt6DNS         = 23
	opt6InfoRefresh = 32
	opt6SolMaxRT    = 82
	opt6InfMaxRT    = 83

	status6Success      = 0
	status6NoAddrsAvail = 2
	status6NoBinding    = 3
	status6NotOnLink    = 4
	status6UseMulticast = 5

	// dhcp6MaxLen bounds the messages the client builds.
	dhcp6MaxLen = 512
	// maxDUID is the longest DUID (§11.1: 128 bytes and the type).
	maxDUID = 130
	// maxIAAddrs bounds the addresses taken from one reply, maxLeased6
	// those held at once, which a server handing out new ones on every
	// renewal would otherwise pile up.
	maxIAAddrs = 4
	maxLeased6 = 8
	// dhcp6MinRenew is the least T1 and T2 in seconds the client chooses.
	dhcp6MinRenew = 60
)

// allDHCPAgents is All_DHCP_Relay_Agents_and_Servers (§7.1).
var allDHCPAgents = netip.MustParseAddr("ff02::1:2")

// Transmission parameters (§7.6): the first timeout, the most, and the
// most transmissions of the messages that have one.
const (
	solTimeout   = time.Second
	solMaxRT     = 3600 * time.Second
	reqTimeout   = time.Second
	reqMaxRT     = 30 * time.Second
	reqMaxRC     = 10
	renTimeout   = 10 * time.Second
	renMaxRT     = 600 * time.Second
	rebTimeout   = 10 * time.Second
	rebMaxRT     = 600 * time.Second
	infTimeout   = time.Second
	infMaxRT     = 3600 * time.Second
	decTimeout   = time.Second
	decMaxRC     = 4
	infoRefresh  = 86400 * time.Second // IRT_DEFAULT
	infoRefreshM = 600 * time.Second   // IRT_MINIMUM
)

type dhcp6State uint8

const (
	dhcp6Soliciting dhcp6State = iota + 1 // Solicit out, gathering advertisements
	dhcp6Requesting                       // Request for the chosen server's addresses
	dhcp6Bound
	dhcp6Renewing  // T1 passed: asking the server that leased them
	dhcp6Rebinding // T2 passed: asking any server
	dhcp6Declining // Decline of a duplicate address out
	dhcp6Informing // Information-Request out
	dhcp6Informed  // stateless: waiting for the refresh time
)

// dhcp6Client is the DHCPv6 client of one interface.
type dhcp6Client struct {
	x *ndIface
	// stateful: a router said addresses come from DHCPv6 (M flag);
	// otherwise the client asks only for other configuration.
	stateful bool
	state    dhcp6State
	xid      uint32
	duid     []byte // DUID-LL (§11.4) from the MAC
	iaid     uint32
	// The exchange under way: its first transmission, timeout,
	// transmissions and end (0: none).
	started  int64
	rt       int64
	tries    int
	deadline int64
	retx     ndTimer
	life     ndTimer // T1, T2, the end of the last lease, or the refresh time
	// During a Solicit: the best advertisement yet, and whether the
	// first timeout, within which the best is chosen, is over (§18.2.1).
	best     dhcp6Msg
	hasBest  bool
	firstRT  bool
	maxRT    int64 // SOL_MAX_RT or INF_MAX_RT as a server set it
	server   [maxDUID]byte
	nserver  int
	t1, t2   int64
	declined netip.Addr
	dns      []netip.Addr
	msg      [dhcp6MaxLen]byte
	udp      [wire.UDPHeaderLen]byte
}

// iaAddr is an address of an IA_NA option with its lifetimes in seconds.
type iaAddr struct {
	addr             netip.Addr
	preferred, valid uint32
}

// dhcp6Msg is what the client reads of a server's message.
type dhcp6Msg struct {
	typ      uint8
	xid      uint32
	clientOK bool // a Client Identifier, and ours
	server   [maxDUID]byte
	nserver  int
	pref     uint8
	status   uint16 // the message's status (§21.13), 0 when absent
	hasIA    bool
	iaStatus uint16
	t1, t2   uint32
	addrs    [maxIAAddrs]iaAddr
	naddrs   int
	dns      [maxDNSPerLease]netip.Addr
	ndns     int
	refresh  uint32
	maxRT    uint32
}

func newDHCP6Client(x *ndIface, stateful bool) *dhcp6Client {
	mac := x.ifc.mac
	c := &dhcp6Client{x: x, stateful: stateful,
		duid: append([]byte{0, 3, 0, 1}, mac[:]...),
		iaid: binary.BigEndian.Uint32(mac[2:6])}
	c.retx.fn = c.retransmit
	c.retx.Handler = &c.retx
	c.life.fn = c.lifeEvent
	c.life.Handler = &c.life
	return c
}

func (c *dhcp6Client) q() *queue { return c.x.nd.q }

// dhcp6Advertised starts the interface's DHCPv6 client as a router's M
// and O flags ask: a managed link makes a stateless client stateful.
func (x *ndIface) dhcp6Advertised(managed, other bool) {
	if x.nd.cfg.NoDHCPv6 || !managed && !other {
		return
	}
	switch {
	case x.dhcp6 == nil:
		x.dhcp6 = newDHCP6Client(x, managed)
	case managed && !x.dhcp6.stateful:
		x.dhcp6.stateful = true
	default:
		return
	}
	c := x.dhcp6
	if c.stateful {
		c.x.nd.q.log.Info("dhcpv6: router says addresses are managed", "iface", x.ifc.name)
		c.begin(dhcp6Soliciting)
	} else {
		c.begin(dhcp6Informing)
	}
}

// begin starts a new exchange in state s: a new transaction, its first
// message after the random delay of §18.2.1 and §18.2.6 for a Solicit or
// Information-Request, at once for the others.
func (c *dhcp6Client) begin(s dhcp6State) {
	q := c.q()
	q.timers.Cancel(&c.retx.Timer)
	q.timers.Cancel(&c.life.Timer)
	c.hasBest, c.firstRT = false, false
	c.reset(s, 0)
	switch s {
	case dhcp6Soliciting, dhcp6Informing:
		q.timers.Schedule(&c.retx.Timer, q.now+c.x.nd.startDelay())
	default:
		c.retransmit(q.now)
	}
}

// reset makes a new transaction in state s, which ends at deadline (0:
// when its transmissions do).
func (c *dhcp6Client) reset(s dhcp6State, deadline int64) {
	c.state, c.deadline, c.tries = s, deadline, 0
	c.xid = c.x.nd.rng.Uint32() & 0xffffff
}

// timeouts are the first and the most retransmission timeout of a
// state, and its most transmissions (0: unbounded).
func (c *dhcp6Client) timeouts() (irt, mrt int64, mrc int) {
	switch c.state {
	case dhcp6Soliciting:
		return int64(solTimeout), orDefault(c.maxRT, int64(solMaxRT)), 0
	case dhcp6Requesting:
		return int64(reqTimeout), int64(reqMaxRT), reqMaxRC
	case dhcp6Renewing:
		return int64(renTimeout), int64(renMaxRT), 0
	case dhcp6Rebinding:
		return int64(rebTimeout), int64(rebMaxRT), 0
	case dhcp6Declining:
		return int64(decTimeout), 0, decMaxRC
	default:
		return int64(infTimeout), orDefault(c.maxRT, int64(infMaxRT)), 0
	}
}

// orDefault is v, or def when v is 0.
func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// retransmit sends the exchange's next message, or ends the exchange when
// it ran out of transmissions or time (§15).
func (c *dhcp6Client) retransmit(now int64) {
	q := c.q()
	if c.state == dhcp6Soliciting && c.tries > 0 {
		c.firstRT = true
		if c.hasBest {
			c.request()
			return
		}
	}
	irt, mrt, mrc := c.timeouts()
	if mrc > 0 && c.tries >= mrc || c.deadline != 0 && now >= c.deadline {
		c.exhausted()
		return
	}
	rand := func(rt int64) int64 { return c.x.nd.rng.Int64N(rt/5+1) - rt/10 }
	if c.tries == 0 {
		c.started = now
		c.rt = irt + rand(irt)
		if c.state == dhcp6Soliciting {
			// §18.2.1: the first timeout of a Solicit is longer than
			// IRT, so that advertisements have it whole.
			c.rt = irt + c.x.nd.rng.Int64N(irt/10) + 1
		}
	} else {
		c.rt = 2*c.rt + rand(c.rt)
		if mrt > 0 && c.rt > mrt {
			c.rt = mrt + rand(mrt)
		}
	}
	c.tries++
	c.transmit()
	next := now + c.rt
	if c.deadline != 0 {
		next = min(next, c.deadline)
	}
	q.timers.Schedule(&c.retx.Timer, next)
}

// exhausted ends an exchange that got no answer: a Request or Decline
// starts over with a Solicit; Renew runs into Rebind at T2; Rebind ends
// with the leases, and so does the client, which solicits anew.
func (c *dhcp6Client) exhausted() {
	switch c.state {
	case dhcp6Renewing:
		c.rebind()
	case dhcp6Rebinding:
		c.q().log.Warn("dhcpv6: leases expired", "iface", c.x.ifc.name)
		c.dropAddrs()
		c.begin(dhcp6Soliciting)
	default:
		c.begin(dhcp6Soliciting)
	}
}

// request asks the server of the best advertisement for its addresses.
func (c *dhcp6Client) request() {
	c.nserver = copy(c.server[:], c.best.server[:c.best.nserver])
	c.reset(dhcp6Requesting, 0)
	c.retransmit(c.q().now)
}

// rebind asks any server to extend the leases, until the last ends.
func (c *dhcp6Client) rebind() {
	c.reset(dhcp6Rebinding, c.leaseEnd())
	c.retransmit(c.q().now)
}

// transmit builds and sends the current state's message (§18.2).
func (c *dhcp6Client) transmit() {
	src := c.x.linkLocal()
	if !src.IsValid() {
		// Not yet: the link-local address is still being checked.
		return
	}
	var typ uint8
	switch c.state {
	case dhcp6Soliciting:
		typ = dhcp6Solicit
	case dhcp6Requesting:
		typ = dhcp6Request
	case dhcp6Renewing:
		typ = dhcp6Renew
	case dhcp6Rebinding:
		typ = dhcp6Rebind
	case dhcp6Declining:
		typ = dhcp6Decline
	case dhcp6Informing:
		typ = dhcp6InfoRequest
	default:
		return
	}
	c.send(typ, src)
}

// send builds and sends one message of type typ from src.
func (c *dhcp6Client) send(typ uint8, src netip.Addr) {
	q := c.q()
	m := c.msg[:0]
	m = append(m, typ, byte(c.xid>>16), byte(c.xid>>8), byte(c.xid))
	opt := func(code uint16, n int) []byte {
		m = binary.BigEndian.AppendUint16(m, code)
		m = binary.BigEndian.AppendUint16(m, uint16(n))
		return m
	}
	m = append(opt(opt6ClientID, len(c.duid)), c.duid...)
	if typ != dhcp6Solicit && typ != dhcp6Rebind && typ != dhcp6InfoRequest {
		m = append(opt(opt6ServerID, c.nserver), c.server[:c.nserver]...)
	}
	// Elapsed time in hundredths of a second since the exchange began
	// (§21.9), 0 in its first message.
	elapsed := (q.now - c.started) / int64(10*time.Millisecond)
	if c.tries <= 1 {
		elapsed = 0
	}
	m = binary.BigEndian.AppendUint16(opt(opt6ElapsedTime, 2), uint16(min(elapsed, 0xffff)))
	if typ == dhcp6InfoRequest {
		m = binary.BigEndian.AppendUint16(opt(opt6ORO, 6), opt6DNS)
		m = binary.BigEndian.AppendUint16(m, opt6InfoRefresh)
		m = binary.BigEndian.AppendUint16(m, opt6InfMaxRT)
	} else if typ != dhcp6Release && typ != dhcp6Decline {
		m = binary.BigEndian.AppendUint16(opt(opt6ORO, 4), opt6DNS)
		m = binary.BigEndian.AppendUint16(m, opt6SolMaxRT)
	}
	if typ != dhcp6InfoRequest {
		m = c.appendIA(m, typ)
	}
	wire.UDPFields{SrcPort: dhcp6ClientPort, DstPort: dhcp6ServerPort, PayloadLen: len(m)}.Emit(c.udp[:])
	dg := ipDatagram{src: src, dst: allDHCPAgents, proto: protoUDP, hdr: c.udp[:], payload: m, csumOff: 6, pseudo: true}
	q.counters.UDP.OutDatagrams++
	q.output6(nextHop{ifc: c.x.ifc, addr: allDHCPAgents, src: src}, &dg)
}

// appendIA appends the IA_NA option (§21.4): empty in a Solicit, with the
// addresses advertised in a Request, those leased in a Renew, Rebind or
// Release, the duplicate one in a Decline; T1 and T2 are the server's
// choice (0).
func (c *dhcp6Client) appendIA(m []byte, typ uint8) []byte {
	start := len(m)
	m = binary.BigEndian.AppendUint16(m, opt6IANA)
	m = binary.BigEndian.AppendUint16(m, 0)
	m = binary.BigEndian.AppendUint32(m, c.iaid)
	m = append(m, make([]byte, 8)...)
	addr := func(a netip.Addr) {
		m = binary.BigEndian.AppendUint16(m, opt6IAAddr)
		m = binary.BigEndian.AppendUint16(m, 24)
		b := a.As16()
		m = append(m, b[:]...)
		m = append(m, make([]byte, 8)...) // lifetimes: the server's choice
	}
	switch typ {
	case dhcp6Request:
		for _, a := range c.best.addrs[:c.best.naddrs] {
			addr(a.addr)
		}
	case dhcp6Renew, dhcp6Rebind, dhcp6Release:
		for _, a := range c.x.addrs {
			if a.source == "dhcpv6" && a.state != addrDuplicate {
				addr(a.prefix.Addr())
			}
		}
	case dhcp6Decline:
		addr(c.declined)
	}
	binary.BigEndian.PutUint16(m[start+2:], uint16(len(m)-start-4))
	return m
}

// linkLocal is the interface's link-local address once it is in use.
func (x *ndIface) linkLocal() netip.Addr {
	for _, a := range x.addrs {
		if a.source == "linklocal" && a.state == addrPreferred {
			return a.prefix.Addr()
		}
	}
	return netip.Addr{}
}

// dhcp6Input takes a datagram to the DHCPv6 client port, if it answers
// one of our clients; it reports whether it did.
func (nd *ndp) dhcp6Input(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	xid := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	for _, x := range nd.ifs {
		c := x.dhcp6
		if c == nil || c.xid != xid || c.state == dhcp6Bound || c.state == dhcp6Informed {
			continue
		}
		var r dhcp6Msg
		if !c.parse(b, &r) {
			nd.q.counters.UDP.InErrors++
			return true
		}
		c.input(&r)
		return true
	}
	return false
}

// parse reads a server's message; false when it is malformed or not for
// this client (§16: a Client Identifier that is not ours).
func (c *dhcp6Client) parse(b []byte, r *dhcp6Msg) bool {
	r.typ = b[0]
	r.xid = uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return eachOpt6(b[4:], func(code uint16, d []byte) bool {
		switch code {
		case opt6ClientID:
			r.clientOK = bytes.Equal(d, c.duid)
			return r.clientOK
		case opt6ServerID:
			if len(d) < 2 || len(d) > maxDUID {
				return false
			}
			r.nserver = copy(r.server[:], d)
		case opt6Preference:
			if len(d) != 1 {
				return false
			}
			r.pref = d[0]
		case opt6StatusCode:
			if len(d) < 2 {
				return false
			}
			r.status = binary.BigEndian.Uint16(d)
		case opt6DNS:
			if len(d)%16 != 0 {
				return false
			}
			for i := 0; i+16 <= len(d) && r.ndns < len(r.dns); i += 16 {
				r.dns[r.ndns] = netip.AddrFrom16([16]byte(d[i : i+16]))
				r.ndns++
			}
		case opt6InfoRefresh:
			if len(d) != 4 {
				return false
			}
			r.refresh = binary.BigEndian.Uint32(d)
		case opt6SolMaxRT, opt6InfMaxRT:
			if len(d) != 4 {
				return false
			}
			if code == opt6SolMaxRT && c.stateful || code == opt6InfMaxRT && !c.stateful {
				r.maxRT = binary.BigEndian.Uint32(d)
			}
		case opt6IANA:
			if len(d) < 12 {
				return false
			}
			if binary.BigEndian.Uint32(d) != c.iaid {
				return true // another IA, not ours
			}
			return r.parseIA(d)
		}
		return true
	}) && r.nserver > 0
}

// parseIA reads our IA_NA option (§21.4): T1, T2, its status and the
// addresses with their lifetimes.
func (r *dhcp6Msg) parseIA(d []byte) bool {
	r.hasIA = true
	r.t1, r.t2 = binary.BigEndian.Uint32(d[4:]), binary.BigEndian.Uint32(d[8:])
	return eachOpt6(d[12:], func(code uint16, d []byte) bool {
		switch code {
		case opt6StatusCode:
			if len(d) < 2 {
				return false
			}
			r.iaStatus = binary.BigEndian.Uint16(d)
		case opt6IAAddr:
			if len(d) < 24 {
				return false
			}
			a := iaAddr{addr: netip.AddrFrom16([16]byte(d[:16])), preferred: binary.BigEndian.Uint32(d[16:]), valid: binary.BigEndian.Uint32(d[20:])}
			status := uint16(status6Success)
			if !eachOpt6(d[24:], func(code uint16, d []byte) bool {
				if code == opt6StatusCode && len(d) >= 2 {
					status = binary.BigEndian.Uint16(d)
				}
				return true
			}) {
				return false
			}
			// §18.2.10.1: lifetimes the wrong way round are ignored, and
			// so is an address no peer could reach.
			if status == status6Success && a.preferred <= a.valid && usableLease6(a.addr) && r.naddrs < len(r.addrs) {
				r.addrs[r.naddrs] = a
				r.naddrs++
			}
		}
		return true
	})
}

// eachOpt6 calls fn on every option of b, and reports false when b is
// malformed or fn does.
func eachOpt6(b []byte, fn func(code uint16, d []byte) bool) bool {
	for len(b) > 0 {
		if len(b) < 4 {
			return false
		}
		code, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			return false
		}
		if !fn(code, b[4:4+n]) {
			return false
		}
		b = b[4+n:]
	}
	return true
}

func usableLease6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast()
}

// input handles a server's answer to the exchange under way (§18.2.9,
// §18.2.10).
func (c *dhcp6Client) input(r *dhcp6Msg) {
	q := c.q()
	if !r.clientOK {
		q.counters.UDP.InErrors++
		return
	}
	if r.maxRT != 0 {
		// §21.24, §21.25: 60 to 86400 s, else ignored.
		if rt := time.Duration(r.maxRT) * time.Second; rt >= time.Minute && rt <= 24*time.Hour {
			c.maxRT = int64(rt)
		}
	}
	switch {
	case r.typ == dhcp6Advertise && c.state == dhcp6Soliciting:
		// §18.2.9: an advertisement without addresses is no offer.
		if r.status != status6Success || !r.hasIA || r.iaStatus != status6Success || r.naddrs == 0 {
			return
		}
		if !c.hasBest || r.pref > c.best.pref {
			c.best, c.hasBest = *r, true
		}
		// The first timeout is for gathering; after it, or with the
		// highest preference, the advertisement is taken at once.
		if r.pref == 255 || c.firstRT {
			c.request()
		}
	case r.typ == dhcp6Reply && c.state == dhcp6Informing:
		c.informed(r)
	case r.typ == dhcp6Reply && c.state == dhcp6Declining:
		c.begin(dhcp6Soliciting)
	case r.typ == dhcp6Reply && (c.state == dhcp6Requesting || c.state == dhcp6Renewing || c.state == dhcp6Rebinding):
		switch {
		case r.status == status6UseMulticast:
			// We always do: wait for another server's answer.
		case r.status == status6NotOnLink || r.status != status6Success && c.state == dhcp6Requesting:
			c.begin(dhcp6Soliciting)
		case r.status != status6Success:
			// A server's failure: the retransmissions go on.
		case r.iaStatus == status6NoBinding && c.state != dhcp6Requesting:
			// §18.2.10.1: the server lost our binding; ask it for the
			// addresses we hold.
			c.best = *r
			c.best.naddrs = 0
			for _, a := range c.x.addrs {
				if a.source == "dhcpv6" && c.best.naddrs < len(c.best.addrs) {
					c.best.addrs[c.best.naddrs] = iaAddr{addr: a.prefix.Addr()}
					c.best.naddrs++
				}
			}
			c.request()
		case !r.hasIA || r.iaStatus != status6Success || r.naddrs == 0:
			if c.state == dhcp6Requesting {
				c.begin(dhcp6Soliciting)
			}
		default:
			c.bind(r)
		}
	}
}

// bind takes the addresses of a Reply into use, or refreshes their
// lifetimes, and schedules the renewal (§18.2.10.1).
func (c *dhcp6Client) bind(r *dhcp6Msg) {
	q := c.q()
	x := c.x
	q.timers.Cancel(&c.retx.Timer)
	c.nserver = copy(c.server[:], r.server[:r.nserver])
	c.state = dhcp6Bound
	changed := c.setDNS(r)
	minPref := uint32(infiniteLifetime)
	for _, l := range r.addrs[:r.naddrs] {
		minPref = min(minPref, l.preferred)
		a := x.nd.addrOf(x.ifc, l.addr)
		if a == nil {
			if l.valid == 0 || c.leased() >= maxLeased6 {
				continue
			}
			if a = x.add(netip.PrefixFrom(l.addr, 128), "dhcpv6"); a == nil {
				continue
			}
			x.setLifetimes(a, lifetimeEnd(q.now, l.valid), lifetimeEnd(q.now, l.preferred))
			x.probe(a)
			changed = true
			continue
		}
		if a.source != "dhcpv6" {
			continue
		}
		wasDeprecated := a.deprecated
		x.setLifetimes(a, lifetimeEnd(q.now, l.valid), lifetimeEnd(q.now, l.preferred))
		if l.valid == 0 {
			x.remove(a)
		}
		changed = changed || l.valid == 0 || a.deprecated != wasDeprecated
	}
	t1, t2 := renewTimes(r.t1, r.t2, minPref)
	c.t1, c.t2 = lifetimeEnd(q.now, t1), lifetimeEnd(q.now, t2)
	if c.t1 == 0 {
		q.timers.Cancel(&c.life.Timer)
	} else {
		q.timers.Schedule(&c.life.Timer, c.t1)
	}
	if changed {
		x.nd.publish()
		x.nd.addrsSettled()
	}
}

// renewTimes are T1 and T2 in seconds (§21.4): the server's, or where it
// leaves one to the client (0) or gives them the wrong way round, half and
// four fifths of the shortest preferred lifetime, at least
// dhcp6MinRenew, so that deprecated addresses (preferred 0) are not
// renewed over and over.
func renewTimes(t1, t2, minPref uint32) (uint32, uint32) {
	own1, own2 := minPref, minPref
	if minPref != infiniteLifetime {
		own1, own2 = max(minPref/2, dhcp6MinRenew), max(minPref/5*4, dhcp6MinRenew)
	}
	if t1 > t2 && t2 != 0 {
		return own1, own2
	}
	if t1 == 0 {
		t1 = own1
	}
	if t2 == 0 {
		t2 = max(own2, t1)
	}
	return t1, t2
}

// informed takes a stateless Reply's DNS servers and schedules the
// refresh (§18.2.6, §21.23).
func (c *dhcp6Client) informed(r *dhcp6Msg) {
	q := c.q()
	q.timers.Cancel(&c.retx.Timer)
	c.state = dhcp6Informed
	refresh := infoRefresh
	if r.refresh != 0 {
		refresh = max(time.Duration(r.refresh)*time.Second, infoRefreshM)
	}
	if r.refresh != infiniteLifetime {
		q.timers.Schedule(&c.life.Timer, q.now+int64(refresh))
	}
	if c.setDNS(r) {
		c.x.nd.publish()
	}
}

// setDNS keeps the reply's DNS servers; it reports whether they changed.
func (c *dhcp6Client) setDNS(r *dhcp6Msg) bool {
	dns := r.dns[:r.ndns]
	if slices.Equal(dns, c.dns) {
		return false
	}
	c.dns = append(c.dns[:0], dns...)
	for _, a := range c.dns {
		c.q().log.Info("dns server", "addr", a, "source", "dhcpv6", "iface", c.x.ifc.name)
	}
	return true
}

// lifeEvent renews at T1, rebinds at T2 (§18.2.4, §18.2.5) and refreshes
// a stateless client's information.
func (c *dhcp6Client) lifeEvent(now int64) {
	switch {
	case c.state == dhcp6Informed:
		c.begin(dhcp6Informing)
	case c.state != dhcp6Bound:
	case c.t2 != 0 && now >= c.t2 || c.t2 == c.t1:
		c.rebind()
	default:
		c.reset(dhcp6Renewing, c.t2)
		c.retransmit(now)
	}
}

// leaseEnd is when the last leased address's valid lifetime ends; 0 if
// one never does.
func (c *dhcp6Client) leaseEnd() int64 {
	end := c.q().now
	for _, a := range c.x.addrs {
		if a.source == "dhcpv6" {
			if a.validUntil == 0 {
				return 0
			}
			end = max(end, a.validUntil)
		}
	}
	return end
}

// declineDuplicate tells the server that another node has the address it
// leased (§18.2.8), then solicits anew.
func (c *dhcp6Client) declineDuplicate(a *addr6) {
	c.x.remove(a)
	c.declined = a.prefix.Addr()
	c.begin(dhcp6Declining)
}

// dropAddrs gives every leased address up.
func (c *dhcp6Client) dropAddrs() {
	x := c.x
	for _, a := range append([]*addr6(nil), x.addrs...) {
		if a.source == "dhcpv6" {
			x.remove(a)
		}
	}
	x.nd.publish()
}

// release gives the leased addresses back (§18.2.7), once, as the stack
// closes.
func (c *dhcp6Client) release() {
	q := c.q()
	q.timers.Cancel(&c.retx.Timer)
	q.timers.Cancel(&c.life.Timer)
	src := c.x.linkLocal()
	if c.nserver == 0 || !src.IsValid() || c.leased() == 0 {
		return
	}
	c.reset(c.state, 0)
	c.started, c.tries = q.now, 1
	c.send(dhcp6Release, src)
	c.dropAddrs()
}

// leased is the number of leased addresses.
func (c *dhcp6Client) leased() int { return c.x.countFrom("dhcpv6") }
