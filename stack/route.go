package stack

import (
	"cmp"
	"context"
	"math/bits"
	"net/netip"
	"slices"
)

// route is one entry of the routing table.
type route struct {
	prefix netip.Prefix
	via    netip.Addr // zero: on-link
	ifc    *iface
	// local marks routes to the stack's own addresses and to 127.0.0.0/8,
	// delivered over the loopback interface.
	local bool
}

// shared is the state every queue reads and queue 0 owns: interfaces'
// addresses, own addresses and the routing table. It is immutable once
// published; queue 0 publishes a new one by atomic pointer swap.
type shared struct {
	ifaces []*iface
	addrs  [][]netip.Prefix // per interface index
	own    addrTable
	bcast  addrTable // directed broadcast addresses
	routes []route   // longest prefix first
	lo     *iface
	v6     []ifaceV6   // per interface index
	leases []Lease     // DHCP leases in use
	dns    []dnsServer // DNS servers learned: from leases, then routers
	// groups4 are the IPv4 groups each interface joined, by index.
	groups4 [][]netip.Addr
	// next is closed once a newer snapshot replaces this one.
	next chan struct{}
}

// addrTable maps addresses to their interfaces. A host has few: up to
// smallAddrTable of them are a slice, compared in turn, which costs less
// than hashing a netip.Addr on every datagram; beyond, a map.
type addrTable struct {
	small []addrIface
	big   map[netip.Addr]*iface
}

type addrIface struct {
	addr netip.Addr
	ifc  *iface
}

const smallAddrTable = 8

// set makes a's interface ifc (not nil).
func (t *addrTable) set(a netip.Addr, ifc *iface) {
	if t.big != nil {
		t.big[a] = ifc
		return
	}
	for i := range t.small {
		if t.small[i].addr == a {
			t.small[i].ifc = ifc
			return
		}
	}
	if len(t.small) < smallAddrTable {
		t.small = append(t.small, addrIface{a, ifc})
		return
	}
	t.big = make(map[netip.Addr]*iface, 2*smallAddrTable)
	for _, e := range t.small {
		t.big[e.addr] = e.ifc
	}
	t.small = nil
	t.big[a] = ifc
}

// get returns a's interface, or nil when a is not in the table.
func (t *addrTable) get(a netip.Addr) *iface {
	if t.big != nil {
		return t.big[a]
	}
	for i := range t.small {
		if t.small[i].addr == a {
			return t.small[i].ifc
		}
	}
	return nil
}

// nextHop is the outcome of a route lookup.
type nextHop struct {
	ifc   *iface
	addr  netip.Addr // the neighbour to send to: the gateway or the destination
	src   netip.Addr // the preferred source address
	local bool
}

func newShared(ifaces []*iface, lo *iface, addrs [][]netip.Prefix, static []Route) *shared {
	sh := &shared{
		ifaces: ifaces,
		addrs:  addrs,
		lo:     lo,
		next:   make(chan struct{}),
	}
	sh.routes = append(sh.routes, route{prefix: netip.MustParsePrefix("127.0.0.0/8"), ifc: lo, local: true},
		route{prefix: netip.MustParsePrefix("::1/128"), ifc: lo, local: true})
	for i, ps := range addrs {
		ifc := ifaces[i]
		for _, p := range ps {
			sh.own.set(p.Addr(), ifc)
			sh.routes = append(sh.routes, route{prefix: netip.PrefixFrom(p.Addr(), p.Addr().BitLen()), ifc: lo, local: true})
			if p.Bits() < p.Addr().BitLen() {
				sh.routes = append(sh.routes, route{prefix: p.Masked(), ifc: ifc})
			}
			if p.Addr().Is4() && p.Bits() < 31 {
				sh.bcast.set(broadcastOf(p), ifc)
			}
		}
	}
	for _, ifc := range ifaces {
		// IPv6 multicast goes out of the interface (for link-scoped
		// groups, the only ones we use, any interface's link will do).
		sh.routes = append(sh.routes, route{prefix: netip.MustParsePrefix("ff00::/8"), ifc: ifc})
	}
	for _, r := range static {
		ifc := sh.ifaceFor(r)
		if ifc == nil {
			continue
		}
		sh.routes = append(sh.routes, route{prefix: r.Prefix.Masked(), via: r.Via, ifc: ifc})
	}
	// Longest prefix first; among equal prefixes the earlier entry wins,
	// so connected routes beat static ones as in Linux.
	slices.SortStableFunc(sh.routes, func(a, b route) int {
		return cmp.Compare(b.prefix.Bits(), a.prefix.Bits())
	})
	return sh
}

// ifaceFor resolves a static route's interface: by name, or the interface
// on whose prefix the gateway lies.
func (sh *shared) ifaceFor(r Route) *iface {
	for _, ifc := range sh.ifaces {
		if r.Interface != "" {
			if ifc.name == r.Interface {
				return ifc
			}
			continue
		}
		for _, p := range sh.addrs[ifc.idx] {
			if r.Via.IsValid() && p.Contains(r.Via) {
				return ifc
			}
		}
	}
	if r.Interface == "" && len(sh.ifaces) == 1 {
		return sh.ifaces[0]
	}
	return nil
}

// lookup finds the route for dst by longest prefix match and picks the
// source address (RFC 1122 §3.3.4.3: an address of the outgoing interface,
// preferably on the same prefix as the next hop).
//
// An IPv6 destination's zone (fe80::1%eth0) names the interface to use.
func (sh *shared) lookup(dst netip.Addr) (nextHop, bool) {
	zone := dst.Zone()
	dst = dst.WithZone("")
	for i := range sh.routes {
		r := &sh.routes[i]
		if r.prefix.Addr().Is4() != dst.Is4() || !r.prefix.Contains(dst) || zone != "" && !r.local && r.ifc.name != zone {
			continue
		}
		nh := nextHop{ifc: r.ifc, addr: dst, local: r.local}
		if r.via.IsValid() {
			nh.addr = r.via
		}
		if r.local {
			if sh.own.get(dst) != nil {
				nh.src = dst
			} else if dst.Is6() {
				nh.src = netip.IPv6Loopback()
			} else {
				nh.src = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			}
			return nh, true
		}
		if dst.Is6() {
			// RFC 6724: the source suits the destination, not the
			// router's link-local address.
			nh.src = sh.sourceFor(r.ifc, dst)
		} else {
			nh.src = sh.sourceFor(r.ifc, nh.addr)
		}
		if !nh.src.IsValid() {
			continue
		}
		return nh, true
	}
	if dst.IsMulticast() {
		// A group no route covers goes out of the first interface with
		// an address of its family (or the zone's), as from a socket
		// without IP_MULTICAST_IF.
		for _, ifc := range sh.ifaces {
			if ifc.loopback || zone != "" && ifc.name != zone {
				continue
			}
			if src := sh.sourceFor(ifc, dst); src.IsValid() && src.Is4() == dst.Is4() {
				return nextHop{ifc: ifc, addr: dst, src: src}, true
			}
		}
	}
	return nextHop{}, false
}

func (sh *shared) sourceFor(ifc *iface, to netip.Addr) netip.Addr {
	if to.Is6() {
		return sh.sourceFor6(ifc, to)
	}
	var first, best netip.Addr
	bestBits := -1
	for _, p := range sh.addrs[ifc.idx] {
		if p.Addr().Is4() != to.Is4() {
			continue
		}
		if p.Contains(to) && p.Bits() > bestBits {
			best, bestBits = p.Addr(), p.Bits()
		}
		if !first.IsValid() {
			first = p.Addr()
		}
	}
	if best.IsValid() {
		return best
	}
	return first
}

// sourceFor6 picks an IPv6 source address of ifc for dst after RFC 6724
// §5: the destination itself, then an address of the destination's scope
// (link-local for link-local destinations and groups, wider otherwise),
// then the longest matching prefix.
func (sh *shared) sourceFor6(ifc *iface, dst netip.Addr) netip.Addr {
	linkScope := dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() || dst.IsInterfaceLocalMulticast()
	var best netip.Addr
	bestScore := -1
	for _, p := range sh.addrs[ifc.idx] {
		a := p.Addr()
		if a.Is4() {
			continue
		}
		if a == dst {
			return a
		}
		score := commonPrefixLen(a, dst)
		if a.IsLinkLocalUnicast() == linkScope {
			score += 512
		}
		if !sh.deprecated(ifc, a) {
			// Rule 3: avoid deprecated addresses.
			score += 256
		}
		if score > bestScore {
			best, bestScore = a, score
		}
	}
	return best
}

// deprecated says whether a is one of ifc's deprecated addresses.
func (sh *shared) deprecated(ifc *iface, a netip.Addr) bool {
	return ifc.idx < len(sh.v6) && slices.Contains(sh.v6[ifc.idx].deprecated, a)
}

// commonPrefixLen is the number of leading bits a and b share.
func commonPrefixLen(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			return i*8 + bits.LeadingZeros8(d)
		}
	}
	return 128
}

// WaitRoute waits until the stack can send to dst: it has a route there
// and a source address in use for it, of dst's scope (a link-local source
// reaches no further than the link). Some come after New: DHCP leases,
// and what routers advertise (SLAAC and DHCPv6 addresses, default
// routers, on-link prefixes), so that a dial at once finds the network
// unreachable; a client that dials as soon as it starts waits with this,
// under a deadline of its choice.
func (s *Stack) WaitRoute(ctx context.Context, dst netip.Addr) error {
	dst = dst.Unmap()
	return s.waitShared(ctx, func(sh *shared) bool {
		nh, ok := sh.lookup(dst)
		return ok && (nh.local || !nh.src.IsLinkLocalUnicast() || dst.IsLinkLocalUnicast() || dst.IsMulticast())
	})
}

// waitShared waits until ready says yes of the shared state, asking again
// each time queue 0 publishes a new one.
func (s *Stack) waitShared(ctx context.Context, ready func(sh *shared) bool) error {
	for {
		sh := s.shared()
		if ready(sh) {
			return nil
		}
		select {
		case <-sh.next:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return errClosed
		}
	}
}
