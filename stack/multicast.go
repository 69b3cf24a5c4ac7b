package stack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
)

// Multicast groups that applications join (RFC 1112 §6.1, RFC 3493 §5.2
// for the API's shape): datagrams to a group reach the sockets bound to
// it, and the interface reports the membership with IGMP or MLD.

// ListenMulticastUDP joins the group gaddr's IP on the interface named
// ifname (empty: the first that is not loopback) and returns a socket
// bound to the group and gaddr's port, as net.ListenMulticastUDP: it
// receives the datagrams sent to the group on that port, and leaves the
// group on Close. Sockets of the same group and port share them, and
// share the port with unicast sockets. It sends like any UDP socket, from
// the interface's address; to a group, with TTL or hop limit 1 and out
// of the interface the routes give (else the first with an address of
// the family). The group's members on this stack get them too, the
// sender among them, as with IP_MULTICAST_LOOP. The socket's
// SetMulticastTTL and SetMulticastLoopback change both, as the methods
// of this interface:
//
//	c.(interface{ SetMulticastTTL(int) error }).SetMulticastTTL(16)
func (s *Stack) ListenMulticastUDP(network, ifname string, gaddr *net.UDPAddr) (net.PacketConn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: gaddr, Err: err}
	}
	proto, fam, ok := family(network)
	if !ok || proto != protoUDP {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	if gaddr == nil {
		return nil, opErr(errors.New("no group address"))
	}
	g, ok := netip.AddrFromSlice(gaddr.IP)
	g = g.Unmap()
	if !ok || !g.IsMulticast() {
		return nil, opErr(&net.AddrError{Err: "not a multicast address", Addr: gaddr.IP.String()})
	}
	if fam == 4 && !g.Is4() || fam == 6 && g.Is4() {
		return nil, opErr(&net.AddrError{Err: "address family mismatch", Addr: gaddr.IP.String()})
	}
	if g.Is4() {
		fam = 4
	}
	ifc := s.multicastIface(ifname)
	if ifc == nil {
		return nil, opErr(&net.AddrError{Err: "no such interface", Addr: ifname})
	}
	ctx := context.Background()
	if err := s.call(ctx, s.queues[0], func(q *queue) error { q.nd.ifs[ifc.idx].join(g, 1); return nil }); err != nil {
		return nil, opErr(err)
	}
	d, err := s.openDgram(ctx, network, proto, fam, netip.AddrPortFrom(g, uint16(gaddr.Port)), netip.AddrPort{})
	if err != nil {
		s.call(ctx, s.queues[0], func(q *queue) error { q.nd.ifs[ifc.idx].join(g, -1); return nil })
		return nil, opErr(err)
	}
	d.member = ifc.idx + 1
	return d, nil
}

// multicastIface is the interface named name, or with no name the first
// that is not loopback.
func (s *Stack) multicastIface(name string) *iface {
	for _, ifc := range s.ifaces {
		if !ifc.loopback && (name == "" || ifc.name == name) {
			return ifc
		}
	}
	return nil
}

// join adds n (1 or -1) sockets to group g's members on the interface; the
// group is joined with the first and left with the last, and reported so
// (publish runs IGMP and MLD).
func (x *ndIface) join(g netip.Addr, n int) {
	if x.joined == nil {
		x.joined = map[netip.Addr]int{}
	}
	was := x.joined[g]
	if x.joined[g] = was + n; x.joined[g] <= 0 {
		delete(x.joined, g)
	}
	if was == 0 || x.joined[g] == 0 {
		x.nd.q.log.Debug("multicast group", "group", g, "joined", x.joined[g] > 0, "iface", x.ifc.name)
		x.nd.publish()
	}
}

// joinedGroups are the groups applications joined, in order.
func (x *ndIface) joinedGroups() []netip.Addr {
	gs := make([]netip.Addr, 0, len(x.joined))
	for g := range x.joined {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b netip.Addr) int { return a.Compare(b) })
	return gs
}

// member says whether ifc has joined group g, of either family.
func (sh *shared) member(ifc *iface, g netip.Addr) bool {
	if g.Is4() {
		return ifc.idx < len(sh.groups4) && slices.Contains(sh.groups4[ifc.idx], g)
	}
	return sh.joined(ifc, g)
}
