package stack

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/timer"
	"github.com/ustack/ustack/stack/wire"
)

// The states of Neighbor Unreachability Detection that ARP does without
// (RFC 4861 §7.3.2).
const (
	neighDelay neighState = neighStatic + 1 + iota // stale and used: waiting for a confirmation before probing
	neighProbe                                     // unicast solicitations out
)

// ndp is IPv6 Neighbor Discovery (RFC 4861) for one queue (queue 0 owns
// it): the neighbour cache with its unreachability detection, each
// interface's addresses with their duplicate address detection (RFC 4862
// §5.4), and what routers advertise. The neighbour cache has the shape of
// the ARP cache; NDP adds the DELAY and PROBE states and the flags of
// advertisements.
type ndp struct {
	q   *queue
	cfg *IPv6Config
	// rng draws NDP's random delays and times from the stack's seed apart
	// from the queue's, so IPv6 chatter leaves IPv4's IDs and ports as
	// they were.
	rng     *rand.Rand
	entries map[neighKey]*ndNeighbor
	order   []*ndNeighbor // by creation, for eviction without map iteration
	seq     uint64
	ifs     []*ndIface // per interface index
	secret  [32]byte   // RFC 7217's secret key
	// bound is closed once every interface that asks DHCP has a lease.
	bound     chan struct{}
	boundDone bool
	// settled is closed once no IPv6 address is tentative any more.
	settled     chan struct{}
	settledDone bool
	// Scratch: the NDP message being sent, and a parsed advertisement.
	msg [wire.NeighborSolicitationLen + wire.NDPLinkAddrLen]byte
	ra  wire.RouterAdvertisementFields
}

// ndIface is an interface's IPv6 state.
type ndIface struct {
	nd  *ndp
	ifc *iface
	// addrs are the interface's IPv6 addresses in every state, the
	// link-local one first.
	addrs    []*addr6
	routers  []*router6
	prefixes []*prefix6
	// redirects are the destinations routers redirected (redirect.go).
	redirects []*redirect
	// What routers said of the link (RFC 4861 §6.3.4); zero: not said.
	mtu       int
	hopLimit  uint8
	retrans   time.Duration
	baseReach time.Duration
	reachable time.Duration // baseReach randomised (§6.3.2)
	// Router solicitation at start (§6.3.7).
	rs     ndTimer
	rsSent int
	gotRA  bool
	// dns are the recursive DNS servers routers advertised (RFC 8106).
	dns  []*rdnss
	mld  memberState
	igmp memberState
	// static4 are the interface's configured IPv4 addresses; dhcp its
	// DHCP client, if it asks for one more.
	static4 []netip.Prefix
	dhcp    *dhcpClient
	// dhcp6 is the DHCPv6 client, once a router's M or O flag started it.
	dhcp6 *dhcp6Client
	// joined are the groups applications joined, of both families, with
	// the number of sockets in each.
	joined map[netip.Addr]int
}

// ndTimer is a timer that calls a function of its owner.
type ndTimer struct {
	timer.Timer
	fn func(now int64)
}

func (t *ndTimer) OnTimer(_ *timer.Timer, now int64) { t.fn(now) }

type addrState uint8

const (
	addrTentative addrState = iota // duplicate address detection under way
	addrPreferred                  // in use
	addrDuplicate                  // another node has it: never used
)

// addr6 is one IPv6 address of an interface.
type addr6 struct {
	timer.Timer
	x      *ndIface
	prefix netip.Prefix
	source string // how it was acquired: "linklocal", "static", "slaac"
	state  addrState
	sent   int // DAD solicitations sent
	// nonce is in this DAD run's solicitations, so that they are known
	// if the link loops them back (RFC 7527).
	nonce [wire.NDPNonceLen]byte
	// An autoconfigured address lives as long as its prefix's lifetimes
	// (RFC 4862 §5.5.3); the instants are 0 when infinite.
	life           ndTimer
	preferredUntil int64
	validUntil     int64
	deprecated     bool
	dadCount       int // RFC 7217's DAD_Counter
}

// router6 is a default router (RFC 4861 §6.3.4), forgotten when its
// lifetime ends.
type router6 struct {
	timer.Timer
	x    *ndIface
	addr netip.Addr
}

// prefix6 is an on-link prefix a router advertised.
type prefix6 struct {
	timer.Timer
	x      *ndIface
	prefix netip.Prefix
}

// ndNeighbor is one neighbour cache entry.
type ndNeighbor struct {
	timer.Timer
	nd      *ndp
	key     neighKey
	ifc     *iface
	mac     wire.MAC
	state   neighState
	router  bool  // the IsRouter flag
	probes  int   // solicitations sent in the current resolution or probe
	until   int64 // reachable until
	pending []*backend.Frame
	seq     uint64
	// confirmed is when an upper layer last confirmed the neighbour
	// reachable (confirmReachable); any queue stores it.
	confirmed atomic.Int64
}

func newNDP(q *queue, cfg *IPv6Config, seed uint64, ifaces []*iface, addrs [][]netip.Prefix) *ndp {
	nd := &ndp{q: q, cfg: cfg, rng: rand.New(rand.NewPCG(seed, 0x6e6470)), entries: map[neighKey]*ndNeighbor{}}
	nd.secret = stableSecret(cfg.StableSecret)
	nd.bound = make(chan struct{})
	nd.settled = make(chan struct{})
	for _, ifc := range ifaces {
		x := &ndIface{nd: nd, ifc: ifc, baseReach: cfg.ReachableTime}
		x.rs.fn = x.solicitRouters
		x.rs.Handler = &x.rs
		x.mld.init(x, false)
		x.igmp.init(x, true)
		x.randomiseReachable()
		x.add(linkLocalFor(ifc.mac), "linklocal")
		for _, p := range addrs[ifc.idx] {
			if p.Addr().Is6() {
				x.add(p, "static")
			} else {
				x.static4 = append(x.static4, p)
			}
		}
		if q.s.cfg.Interfaces[ifc.idx].DHCP {
			x.dhcp = newDHCPClient(x)
		}
		nd.ifs = append(nd.ifs, x)
	}
	return nd
}

func (x *ndIface) add(p netip.Prefix, source string) *addr6 {
	for _, a := range x.addrs {
		if a.prefix.Addr() == p.Addr() {
			return nil
		}
	}
	a := &addr6{x: x, prefix: p, source: source}
	a.Handler = a
	a.life.fn = a.lifetimeOver
	a.life.Handler = &a.life
	x.addrs = append(x.addrs, a)
	return a
}

// start begins duplicate address detection on every address, or takes
// them into use at once when it is off, and publishes the interfaces'
// multicast groups.
func (nd *ndp) start() {
	q := nd.q
	for _, x := range nd.ifs {
		for _, a := range x.addrs {
			if nd.cfg.DADTransmits < 0 {
				a.state = addrPreferred
				a.up()
				continue
			}
			q.timers.Schedule(&a.Timer, q.now+nd.startDelay())
		}
		if nd.cfg.DADTransmits < 0 {
			x.startRouterSolicitation()
		}
	}
	nd.publish()
	for _, x := range nd.ifs {
		if x.dhcp != nil {
			x.dhcp.discover()
		}
	}
	nd.leaseBound()
	nd.addrsSettled()
}

// WaitAddresses waits until duplicate address detection (RFC 4862 §5.4)
// has ended on the IPv6 addresses the stack started with, link-local and
// static: until then they are tentative, no source for a connection, and
// a dial to an IPv6 peer finds the network unreachable. It takes about a
// second (IPv6Config.RetransTimer per DADTransmits). IPv4 addresses are
// usable at once; a duplicate address counts as ended, unused.
func (s *Stack) WaitAddresses(ctx context.Context) error {
	select {
	case <-s.queues[0].nd.settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errClosed
	}
}

// addrsSettled closes the channel WaitAddresses waits on once duplicate
// address detection has ended on every address there is.
func (nd *ndp) addrsSettled() {
	for _, x := range nd.ifs {
		for _, a := range x.addrs {
			if a.state == addrTentative {
				return
			}
		}
	}
	if !nd.settledDone {
		nd.settledDone = true
		close(nd.settled)
	}
}

// startDelay is a random delay up to IPv6Config.StartDelay (RFC 4862
// §5.4.2, RFC 4861 §6.3.7).
func (nd *ndp) startDelay() int64 {
	if nd.cfg.StartDelay <= 0 {
		return 0
	}
	return nd.rng.Int64N(int64(nd.cfg.StartDelay))
}

func (x *ndIface) retransTimer() int64 {
	if x.retrans > 0 {
		return int64(x.retrans)
	}
	return int64(x.nd.cfg.RetransTimer)
}

// randomiseReachable draws ReachableTime between 0.5 and 1.5 times the
// base (RFC 4861 §6.3.2), so that neighbours do not probe in step.
func (x *ndIface) randomiseReachable() {
	x.reachable = time.Duration(float64(x.baseReach) * (0.5 + x.nd.rng.Float64()))
}

// OnTimer implements timer.Handler for duplicate address detection: the
// next solicitation, or the address taken into use (RFC 4862 §5.4.2).
func (a *addr6) OnTimer(_ *timer.Timer, now int64) {
	x := a.x
	nd := x.nd
	if a.state != addrTentative {
		return
	}
	if a.sent < nd.cfg.DADTransmits {
		if a.sent == 0 {
			a.nonce = [wire.NDPNonceLen]byte(binary.LittleEndian.AppendUint64(nil, nd.rng.Uint64()))
		}
		a.sent++
		// From the unspecified address, without a link-layer address
		// option, to the address's solicited-node group (§5.4.2), with
		// the run's nonce (RFC 7527 §4.1).
		f := wire.NeighborSolicitationFields{Target: a.prefix.Addr(), Nonce: a.nonce, HasNonce: true}
		m := nd.msg[:f.Len()]
		f.Emit(m)
		nd.send(x.ifc, netip.IPv6Unspecified(), solicitedNode(a.prefix.Addr()), m)
		nd.q.timers.Schedule(&a.Timer, now+x.retransTimer())
		return
	}
	a.state = addrPreferred
	a.up()
	nd.publish()
	nd.addrsSettled()
	if a.source == "linklocal" {
		x.startRouterSolicitation()
	}
}

// up logs an address taken into use.
func (a *addr6) up() {
	a.x.nd.q.log.Info("address up", "addr", a.prefix, "source", a.source, "iface", a.x.ifc.name)
}

// duplicate gives up an address another node has (RFC 4862 §5.4.5).
func (nd *ndp) duplicate(a *addr6) {
	q := nd.q
	q.counters.NDP.DADConflicts++
	q.timers.Cancel(&a.Timer)
	a.state = addrDuplicate
	q.log.Warn("ipv6: duplicate address, not used", "addr", a.prefix, "source", a.source, "iface", a.x.ifc.name)
	if a.source == "slaac" {
		a.x.retryStable(a)
	}
	if a.source == "dhcpv6" && a.x.dhcp6 != nil {
		a.x.dhcp6.declineDuplicate(a)
	}
	nd.publish()
	nd.addrsSettled()
}

// addrOf finds an address of ifc.
func (nd *ndp) addrOf(ifc *iface, a netip.Addr) *addr6 {
	for _, x := range nd.ifs[ifc.idx].addrs {
		if x.prefix.Addr() == a {
			return x
		}
	}
	return nil
}

// startRouterSolicitation schedules the first Router Solicitation, after a
// random delay (RFC 4861 §6.3.7).
func (x *ndIface) startRouterSolicitation() {
	if x.nd.cfg.RouterSolicitations <= 0 || x.gotRA || x.rs.Pending() || x.rsSent > 0 {
		return
	}
	q := x.nd.q
	q.timers.Schedule(&x.rs.Timer, q.now+x.nd.startDelay())
}

// solicitRouters sends a Router Solicitation until a router advertises or
// RouterSolicitations are out (RFC 4861 §6.3.7).
func (x *ndIface) solicitRouters(now int64) {
	nd := x.nd
	if x.gotRA || x.rsSent >= nd.cfg.RouterSolicitations {
		return
	}
	x.rsSent++
	src := nd.q.shared().sourceFor6(x.ifc, allRouters)
	if !src.IsValid() || !src.IsLinkLocalUnicast() {
		src = netip.IPv6Unspecified()
	}
	f := wire.RouterSolicitationFields{SourceLinkAddr: x.ifc.mac, HasSourceLinkAddr: !src.IsUnspecified()}
	m := nd.msg[:f.Len()]
	f.Emit(m)
	nd.send(x.ifc, src, allRouters, m)
	if x.rsSent < nd.cfg.RouterSolicitations {
		nd.q.timers.Schedule(&x.rs.Timer, now+int64(nd.cfg.RouterSolicitationInterval))
	}
}

// send sends an NDP message m (with a zero checksum) from src to dst out
// of ifc, with hop limit 255 so that receivers know it came from the link
// (RFC 4861 §7.1).
func (nd *ndp) send(ifc *iface, src, dst netip.Addr, m []byte) {
	q := nd.q
	dg := ipDatagram{src: src, dst: dst, proto: protoICMPv6, ttl: 255, hdr: m, csumOff: 2, pseudo: true}
	q.counters.ICMPv6.OutMsgs++
	q.countICMPv6Out(m)
	q.output6(nextHop{ifc: ifc, addr: dst, src: src}, &dg)
}

// sendNS sends a Neighbor Solicitation for target to dst, with our
// link-layer address.
func (nd *ndp) sendNS(ifc *iface, src, dst, target netip.Addr) {
	f := wire.NeighborSolicitationFields{Target: target, SourceLinkAddr: ifc.mac, HasSourceLinkAddr: true}
	m := nd.msg[:f.Len()]
	f.Emit(m)
	nd.send(ifc, src, dst, m)
}

// resolve sends f (an Ethernet frame whose destination MAC is to be filled)
// to addr on ifc: at once when the neighbour is known, after resolution
// otherwise (RFC 4861 §7.2.2, §7.3.3).
func (nd *ndp) resolve(ifc *iface, addr netip.Addr, f *backend.Frame) {
	q := nd.q
	n := nd.entries[neighKey{ifc.idx, addr}]
	if n == nil {
		n = nd.create(ifc, addr, neighIncomplete)
		if n == nil {
			q.counters.NDP.CacheFull++
			q.limitReached(limitNeighbours)
			backend.ReleaseOne(f)
			return
		}
		nd.solicit(n)
	}
	switch n.state {
	case neighIncomplete:
		if len(n.pending) >= nd.cfg.QueueLen {
			// Keep the newest packets, as Linux does.
			q.counters.NDP.PendingDrops++
			backend.ReleaseOne(n.pending[0])
			copy(n.pending, n.pending[1:])
			n.pending = n.pending[:len(n.pending)-1]
		}
		n.pending = append(n.pending, f)
		return
	case neighReachable:
		if q.now >= n.until {
			if reconfirmed(&n.confirmed, &n.until, q.now, int64(nd.ifs[ifc.idx].reachable)) {
				q.neighDirty = true
			} else {
				n.state = neighStale
			}
		}
	}
	if n.state == neighStale {
		// A stale neighbour in use waits for a confirmation, then is
		// probed (§7.3.3).
		n.state = neighDelay
		q.timers.Schedule(&n.Timer, q.now+int64(nd.cfg.DelayFirstProbe))
	}
	q.sendTo(ifc, n.mac, f)
}

func (nd *ndp) create(ifc *iface, addr netip.Addr, state neighState) *ndNeighbor {
	resolving := 0
	if state == neighIncomplete {
		for _, n := range nd.order {
			if n.state == neighIncomplete {
				resolving++
			}
		}
	}
	if state == neighIncomplete && resolving >= maxResolving(nd.cfg.MaxEntries) || len(nd.entries) >= nd.cfg.MaxEntries && !nd.evict() {
		return nil
	}
	nd.seq++
	n := &ndNeighbor{nd: nd, key: neighKey{ifc.idx, addr}, ifc: ifc, state: state, seq: nd.seq}
	n.Handler = n
	nd.entries[n.key] = n
	nd.order = append(nd.order, n)
	nd.q.neighDirty = true
	return n
}

// addStatic makes a permanent entry.
func (nd *ndp) addStatic(ifc *iface, addr netip.Addr, mac wire.MAC) {
	if n := nd.create(ifc, addr, neighStatic); n != nil {
		n.mac = mac
	}
}

// evict removes the oldest entry that is not resolving or static.
func (nd *ndp) evict() bool {
	for _, n := range nd.order {
		if n.state != neighIncomplete && n.state != neighStatic {
			nd.remove(n)
			return true
		}
	}
	return false
}

func (nd *ndp) remove(n *ndNeighbor) {
	q := nd.q
	q.timers.Cancel(&n.Timer)
	q.neighDirty = true
	delete(nd.entries, n.key)
	if i := slices.Index(nd.order, n); i >= 0 {
		nd.order = slices.Delete(nd.order, i, i+1)
	}
	if len(n.pending) > 0 {
		q.counters.NDP.ResolveFailures += uint64(len(n.pending))
		backend.Release(n.pending)
		n.pending = nil
	}
}

// solicit sends a Neighbor Solicitation for the entry and schedules the
// next: to the solicited-node group while resolving, to the neighbour
// itself while probing (§7.2.2, §7.3.3).
func (nd *ndp) solicit(n *ndNeighbor) {
	q := nd.q
	n.probes++
	target := n.key.addr
	dst := solicitedNode(target)
	if n.state == neighProbe {
		dst = target
	}
	src := q.shared().sourceFor6(n.ifc, target)
	if src.IsValid() {
		nd.sendNS(n.ifc, src, dst, target)
	}
	q.timers.Schedule(&n.Timer, q.now+nd.ifs[n.ifc.idx].retransTimer())
}

// OnTimer implements timer.Handler: the next solicitation, the move from
// DELAY to PROBE, or giving up.
func (n *ndNeighbor) OnTimer(_ *timer.Timer, now int64) {
	nd := n.nd
	switch n.state {
	case neighIncomplete, neighProbe:
		if n.probes >= nd.cfg.Solicits {
			if n.state == neighIncomplete {
				nd.q.log.Debug("ndp resolution failed", "addr", n.key.addr, "iface", n.ifc.name)
			}
			nd.remove(n)
			return
		}
		nd.solicit(n)
	case neighDelay:
		// §7.3.3: confirmed by an upper layer since the entry went to
		// DELAY, it is REACHABLE again without a probe.
		if conf := n.confirmed.Load(); conf != 0 && now-conf <= int64(nd.cfg.DelayFirstProbe) {
			n.state = neighReachable
			n.until = conf + int64(nd.ifs[n.ifc.idx].reachable)
			nd.q.neighDirty = true
			return
		}
		n.state = neighProbe
		n.probes = 0
		nd.solicit(n)
	}
}

// update records mac for the entry and moves it to state; while resolving,
// the packets waiting go out.
func (nd *ndp) update(n *ndNeighbor, mac wire.MAC, state neighState) {
	q := nd.q
	n.mac = mac
	n.state = state
	n.probes = 0
	q.neighDirty = true
	q.timers.Cancel(&n.Timer)
	if state == neighReachable {
		n.until = q.now + int64(nd.ifs[n.ifc.idx].reachable)
	}
	for _, f := range n.pending {
		q.sendTo(n.ifc, mac, f)
	}
	clear(n.pending)
	n.pending = n.pending[:0]
}

// learn records the link-layer address a solicitation or a router
// advertisement came with (RFC 4861 §7.2.3, §6.3.4): a new entry or a
// changed address is STALE, confirmed by nothing yet.
func (nd *ndp) learn(ifc *iface, addr netip.Addr, mac wire.MAC) *ndNeighbor {
	n := nd.entries[neighKey{ifc.idx, addr}]
	if n == nil {
		if n = nd.create(ifc, addr, neighStale); n == nil {
			nd.q.counters.NDP.CacheFull++
			nd.q.limitReached(limitNeighbours)
			return nil
		}
		n.mac = mac
		return n
	}
	if n.state == neighStatic {
		return n
	}
	if n.state == neighIncomplete || n.mac != mac {
		nd.update(n, mac, neighStale)
	}
	return n
}

// close drops every queued packet.
func (nd *ndp) close() {
	for _, n := range nd.order {
		backend.Release(n.pending)
		n.pending = nil
	}
}

// valid applies the checks every NDP message passes (RFC 4861 §6.1,
// §7.1): hop limit 255, so it was not forwarded from off the link; code 0;
// the fixed part and well-formed options (check).
func (nd *ndp) valid(ifc *iface, ip wire.IPv6, m wire.ICMPv6, check error) bool {
	if ifc.loopback || ip.HopLimit() != 255 || m.Code() != 0 || check != nil {
		nd.q.counters.NDP.InInvalid++
		return false
	}
	return true
}

// solicitInput handles a Neighbor Solicitation (RFC 4861 §7.1.1, §7.2.3;
// RFC 4862 §5.4.3 for our tentative addresses).
func (nd *ndp) solicitInput(ifc *iface, ip wire.IPv6, m wire.ICMPv6) {
	q := nd.q
	ns := wire.NeighborSolicitation(m)
	if !nd.valid(ifc, ip, m, ns.Check()) {
		return
	}
	var f wire.NeighborSolicitationFields
	f.Parse(ns)
	src, dst := ip.SrcAddr(), ip.DstAddr()
	dad := src.IsUnspecified()
	if f.Target.IsMulticast() || dad && (dst != solicitedNode(f.Target) || f.HasSourceLinkAddr) {
		q.counters.NDP.InInvalid++
		return
	}
	a := nd.addrOf(ifc, f.Target)
	if a == nil || a.state == addrDuplicate {
		q.counters.NDP.InNotForUs++
		return
	}
	if a.state == addrTentative {
		// Another node checks the same address: it is not ours to take,
		// unless the probe is our own, looped back by the link with our
		// nonce (RFC 7527 §4.2). A solicitation from a node that uses
		// the address for resolution is not answered (RFC 4862 §5.4.3).
		switch {
		case dad && f.HasNonce && f.Nonce == a.nonce && a.sent > 0:
			q.counters.NDP.DADLoopedBack++
		case dad:
			nd.duplicate(a)
		}
		return
	}
	if !dad && f.HasSourceLinkAddr {
		nd.learn(ifc, src, f.SourceLinkAddr)
	}
	// Answer with our link-layer address: solicited and overriding, to
	// the solicitor, or to all nodes when it was checking for duplicates
	// (§7.2.4).
	to := src
	if dad {
		to = allNodes
	}
	na := wire.NeighborAdvertisementFields{Solicited: !dad, Override: true, Target: f.Target, TargetLinkAddr: ifc.mac, HasTargetLinkAddr: true}
	b := nd.msg[:na.Len()]
	na.Emit(b)
	nd.send(ifc, f.Target, to, b)
}

// advertInput handles a Neighbor Advertisement (RFC 4861 §7.1.2, §7.2.5;
// RFC 4862 §5.4.4 for our tentative addresses).
func (nd *ndp) advertInput(ifc *iface, ip wire.IPv6, m wire.ICMPv6) {
	q := nd.q
	na := wire.NeighborAdvertisement(m)
	if !nd.valid(ifc, ip, m, na.Check()) {
		return
	}
	var f wire.NeighborAdvertisementFields
	f.Parse(na)
	if f.Target.IsMulticast() || ip.DstAddr().IsMulticast() && f.Solicited {
		q.counters.NDP.InInvalid++
		return
	}
	if a := nd.addrOf(ifc, f.Target); a != nil {
		if a.state == addrTentative {
			nd.duplicate(a)
		}
		return
	}
	n := nd.entries[neighKey{ifc.idx, f.Target}]
	if n == nil || n.state == neighStatic {
		// Advertisements do not create entries (§7.2.5).
		return
	}
	if n.router && !f.Router {
		nd.removeRouter(ifc, f.Target)
	}
	n.router = f.Router
	if n.state == neighIncomplete {
		if !f.HasTargetLinkAddr {
			return
		}
		state := neighStale
		if f.Solicited {
			state = neighReachable
		}
		nd.update(n, f.TargetLinkAddr, state)
		return
	}
	changed := f.HasTargetLinkAddr && f.TargetLinkAddr != n.mac
	if !f.Override && changed {
		// Not overriding a known address: only a hint that it may be
		// stale.
		if n.state == neighReachable {
			n.state = neighStale
		}
		return
	}
	mac := n.mac
	if changed {
		mac = f.TargetLinkAddr
	}
	switch {
	case f.Solicited:
		nd.update(n, mac, neighReachable)
	case changed:
		nd.update(n, mac, neighStale)
	}
}

// routerAdvertInput handles a Router Advertisement (RFC 4861 §6.1.2,
// §6.3.4): default routers, on-link prefixes, the link's MTU, hop limit
// and timers, addresses from prefixes for autoconfiguration (RFC 4862
// §5.5.3) and DNS servers (RFC 8106).
func (nd *ndp) routerAdvertInput(ifc *iface, ip wire.IPv6, m wire.ICMPv6) {
	q := nd.q
	ram := wire.RouterAdvertisement(m)
	src := ip.SrcAddr()
	if !nd.valid(ifc, ip, m, ram.Check()) {
		return
	}
	if !src.IsLinkLocalUnicast() {
		q.counters.NDP.InInvalid++
		return
	}
	ra := &nd.ra
	ra.Parse(ram)
	x := nd.ifs[ifc.idx]
	x.gotRA = true
	q.timers.Cancel(&x.rs.Timer)
	changed := false
	if ra.CurHopLimit != 0 && ra.CurHopLimit != x.hopLimit {
		x.hopLimit, changed = ra.CurHopLimit, true
	}
	if ra.ReachableTime != 0 {
		if d := time.Duration(ra.ReachableTime) * time.Millisecond; d != x.baseReach {
			x.baseReach = d
			x.randomiseReachable()
		}
	}
	if ra.RetransTimer != 0 {
		x.retrans = time.Duration(ra.RetransTimer) * time.Millisecond
	}
	if ra.HasSourceLinkAddr {
		if n := nd.learn(ifc, src, ra.SourceLinkAddr); n != nil {
			n.router = true
		}
	}
	if ra.HasMTU && ra.MTU >= minMTU6 && int(ra.MTU) <= ifc.mtu && int(ra.MTU) != x.mtu {
		x.mtu, changed = int(ra.MTU), true
	}
	if nd.defaultRouter(x, src, time.Duration(ra.RouterLifetime)*time.Second) {
		changed = true
	}
	for _, p := range ra.Prefixes {
		if p.PrefixLen > 128 || p.Prefix.IsLinkLocalUnicast() || p.Prefix.IsMulticast() {
			continue
		}
		pfx := netip.PrefixFrom(p.Prefix, int(p.PrefixLen)).Masked()
		if p.OnLink && nd.onLinkPrefix(x, pfx, p.ValidLifetime) {
			changed = true
		}
		if p.Autonomous && x.autoconfigure(pfx, p.ValidLifetime, p.PreferredLifetime) {
			changed = true
		}
	}
	if x.rdnssInput(ram.Options()) {
		changed = true
	}
	if changed {
		nd.publish()
	}
	x.dhcp6Advertised(ra.Managed, ra.Other)
}

// defaultRouter adds, refreshes or (with a zero lifetime) removes a
// default router; it reports whether the routes changed.
func (nd *ndp) defaultRouter(x *ndIface, addr netip.Addr, lifetime time.Duration) bool {
	q := nd.q
	i := slices.IndexFunc(x.routers, func(r *router6) bool { return r.addr == addr })
	if lifetime == 0 {
		if i < 0 {
			return false
		}
		q.timers.Cancel(&x.routers[i].Timer)
		x.routers = slices.Delete(x.routers, i, i+1)
		q.counters.NDP.RouterChanges++
		return true
	}
	added := false
	if i < 0 {
		if len(x.routers) >= maxRouters {
			return false
		}
		r := &router6{x: x, addr: addr}
		r.Handler = r
		x.routers = append(x.routers, r)
		i = len(x.routers) - 1
		added = true
		q.counters.NDP.RouterChanges++
	}
	q.timers.Schedule(&x.routers[i].Timer, q.now+int64(lifetime))
	return added
}

var (
	defaultRoute6 = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	defaultRoute4 = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
)

// Bounds on what routers can make us keep.
const (
	maxRouters  = 8
	maxPrefixes = 16
)

// OnTimer implements timer.Handler: the router's lifetime is over.
func (r *router6) OnTimer(_ *timer.Timer, _ int64) {
	r.x.nd.defaultRouter(r.x, r.addr, 0)
	r.x.nd.publish()
}

// removeRouter forgets a default router that says it is no longer one
// (RFC 4861 §7.2.5). An unreachable one stays on the list (§6.3.6).
func (nd *ndp) removeRouter(ifc *iface, addr netip.Addr) {
	if ifc.idx < len(nd.ifs) && nd.defaultRouter(nd.ifs[ifc.idx], addr, 0) {
		nd.publish()
	}
}

// onLinkPrefix adds, refreshes or (with a zero valid lifetime) removes an
// on-link prefix; an infinite lifetime (all ones) never expires. It
// reports whether the routes changed.
func (nd *ndp) onLinkPrefix(x *ndIface, p netip.Prefix, valid uint32) bool {
	q := nd.q
	i := slices.IndexFunc(x.prefixes, func(o *prefix6) bool { return o.prefix == p })
	if valid == 0 {
		if i < 0 {
			return false
		}
		q.timers.Cancel(&x.prefixes[i].Timer)
		x.prefixes = slices.Delete(x.prefixes, i, i+1)
		q.counters.NDP.RouterChanges++
		return true
	}
	added := false
	if i < 0 {
		if len(x.prefixes) >= maxPrefixes {
			return false
		}
		o := &prefix6{x: x, prefix: p}
		o.Handler = o
		x.prefixes = append(x.prefixes, o)
		i = len(x.prefixes) - 1
		added = true
		q.counters.NDP.RouterChanges++
	}
	if valid == 0xffffffff {
		q.timers.Cancel(&x.prefixes[i].Timer)
	} else {
		q.timers.Schedule(&x.prefixes[i].Timer, q.now+int64(valid)*int64(time.Second))
	}
	return added
}

// OnTimer implements timer.Handler: the prefix's valid lifetime is over.
func (p *prefix6) OnTimer(_ *timer.Timer, _ int64) {
	if p.x.nd.onLinkPrefix(p.x, p.prefix, 0) {
		p.x.nd.publish()
	}
}

// publish makes a new snapshot of the shared state with the addresses in
// use, the routes routers gave and the multicast groups joined, for every
// queue to read (queue 0 owns the shared state).
func (nd *ndp) publish() {
	q := nd.q
	old := q.shared()
	addrs := make([][]netip.Prefix, len(old.ifaces))
	routes := slices.Clone(q.s.cfg.Routes)
	v6 := make([]ifaceV6, len(old.ifaces))
	groups4 := make([][]netip.Addr, len(old.ifaces))
	var dns []dnsServer
	for i, x := range nd.ifs {
		addrs[i] = append(addrs[i], x.static4...)
		if c := x.dhcp; c != nil && c.has {
			addrs[i] = append(addrs[i], c.lease.Addr)
			if c.lease.Router.IsValid() {
				routes = append(routes, Route{Prefix: defaultRoute4, Via: c.lease.Router, Interface: x.ifc.name})
			}
			for _, a := range c.lease.DNS {
				dns = append(dns, dnsServer{addr: a})
			}
		}
		if c := x.dhcp6; c != nil {
			for _, a := range c.dns {
				dns = append(dns, dnsServer{addr: a})
			}
		}
		for _, r := range x.dns {
			if !slices.ContainsFunc(dns, func(d dnsServer) bool { return d.addr == r.addr }) {
				dns = append(dns, dnsServer{addr: r.addr, until: r.until})
			}
		}
		v6[i] = ifaceV6{groups: []netip.Addr{allNodes}, mtu: x.mtu, hopLimit: x.hopLimit}
		groups4[i] = []netip.Addr{allHosts}
		for _, g := range x.joinedGroups() {
			if g.Is4() {
				groups4[i] = append(groups4[i], g)
			} else {
				v6[i].groups = append(v6[i].groups, g)
			}
		}
		for _, a := range x.addrs {
			switch a.state {
			case addrPreferred:
				addrs[i] = append(addrs[i], a.prefix)
				if a.deprecated {
					v6[i].deprecated = append(v6[i].deprecated, a.prefix.Addr())
				}
				fallthrough
			case addrTentative:
				// RFC 4862 §5.4.2: the group is joined before the
				// address is checked, to hear other nodes check it.
				if g := solicitedNode(a.prefix.Addr()); !slices.Contains(v6[i].groups, g) {
					v6[i].groups = append(v6[i].groups, g)
				}
			}
		}
		for _, r := range x.routers {
			routes = append(routes, Route{Prefix: defaultRoute6, Via: r.addr, Interface: x.ifc.name})
		}
		for _, p := range x.prefixes {
			routes = append(routes, Route{Prefix: p.prefix, Interface: x.ifc.name})
		}
		routes = append(routes, x.redirectRoutes()...)
	}
	sh := newShared(old.ifaces, old.lo, addrs, routes)
	sh.v6 = v6
	sh.groups4 = groups4
	sh.leases = nd.leases()
	sh.dns = dns
	for _, qq := range q.s.queues {
		qq.sh.Store(sh)
	}
	close(old.next)
	for i, x := range nd.ifs {
		x.mld.update(v6[i].groups)
		x.igmp.update(groups4[i])
	}
}
