package stack

import (
	"net/netip"
	"slices"
	"time"

	"github.com/ustack/ustack/stack/internal/timer"
	"github.com/ustack/ustack/stack/wire"
)

// Redirects (RFC 4861 §8, RFC 1122 §3.2.2.2 and RFC 792 for IPv4): a
// router that forwarded a packet back out of the link it came from names a
// better first hop for its destination: another router, or for IPv6 the
// destination itself, which is on the link. The host keeps that as a
// route of the destination alone until it times out.

const (
	// redirectLife is how long a redirect is followed after the last one
	// for its destination (RFC 4861 leaves it open; Linux ages such
	// routes out in minutes).
	redirectLife = 10 * time.Minute
	// maxRedirects bounds the destinations routers can redirect; the
	// oldest goes first.
	maxRedirects = 64
)

// redirect is a destination a router redirected: to target, which is the
// destination itself when it is on the link.
type redirect struct {
	timer.Timer
	x           *ndIface
	dst, target netip.Addr
}

// redirectInput checks a Redirect (RFC 4861 §8.1) and follows it (§8.3):
// the target's link-layer address, when given, goes into the neighbour
// cache, and the destination gets a route of its own.
func (nd *ndp) redirectInput(ifc *iface, ip wire.IPv6, m wire.ICMPv6) {
	q := nd.q
	var r wire.RedirectFields
	if !nd.valid(ifc, ip, m, r.Parse(m)) {
		return
	}
	src, dst, target := ip.SrcAddr(), r.Destination, r.Target
	// From the router we send the destination's packets to, about a
	// unicast destination, naming a router (link-local) or the
	// destination itself.
	nh, ok := q.shared().lookup(dst)
	if !src.IsLinkLocalUnicast() || dst.IsMulticast() || !ok || nh.local || nh.ifc != ifc || nh.addr != src || nh.addr == dst ||
		!target.IsLinkLocalUnicast() && target != dst {
		q.counters.NDP.InInvalid++
		return
	}
	if r.HasTargetLinkAddr {
		nd.learn(ifc, target, r.TargetLinkAddr)
	}
	nd.ifs[ifc.idx].follow(dst, target, src)
}

// redirect4Input checks an ICMP Redirect (RFC 1122 §3.2.2.2: from the
// current first-hop router for the destination, naming a router on the
// same subnet) and follows it; every code counts as a host redirect.
func (nd *ndp) redirect4Input(ifc *iface, ip wire.IPv4, m wire.ICMPv4) {
	q := nd.q
	inner := wire.IPv4(m.Payload())
	if ifc.loopback || m.Code() > 3 || len(inner) < wire.IPv4HeaderLen || inner.Version() != 4 {
		q.counters.ICMP.InErrors++
		return
	}
	sh := q.shared()
	src, dst, gw := ip.SrcAddr(), inner.DstAddr(), m.Gateway()
	nh, ok := sh.lookup(dst)
	gwh, gok := sh.lookup(gw)
	if !ok || nh.local || nh.ifc != ifc || nh.addr != src || nh.addr == dst || dst.IsMulticast() || isBroadcast(sh, dst) ||
		!gok || gwh.local || gwh.ifc != ifc || gwh.addr != gw || gw == src {
		q.counters.ICMP.InErrors++
		return
	}
	nd.ifs[ifc.idx].follow(dst, gw, src)
}

// follow routes dst through target from now on, until redirectLife has
// passed since the last redirect for it.
func (x *ndIface) follow(dst, target, router netip.Addr) {
	q := x.nd.q
	if q.s.cfg.ICMP.IgnoreRedirects {
		return
	}
	i := slices.IndexFunc(x.redirects, func(o *redirect) bool { return o.dst == dst })
	if i < 0 {
		if len(x.redirects) >= maxRedirects {
			x.dropRedirect(x.redirects[0])
		}
		rd := &redirect{x: x, dst: dst}
		rd.Handler = rd
		x.redirects = append(x.redirects, rd)
		i = len(x.redirects) - 1
	}
	rd := x.redirects[i]
	rd.target = target
	q.timers.Schedule(&rd.Timer, q.now+int64(redirectLife))
	q.counters.NDP.RouterChanges++
	q.log.Debug("redirect", "dst", dst, "target", target, "router", router, "iface", x.ifc.name)
	x.nd.publish()
}

// OnTimer implements timer.Handler: the redirect is over.
func (rd *redirect) OnTimer(_ *timer.Timer, _ int64) {
	rd.x.dropRedirect(rd)
	rd.x.nd.publish()
}

func (x *ndIface) dropRedirect(rd *redirect) {
	x.nd.q.timers.Cancel(&rd.Timer)
	x.redirects = slices.DeleteFunc(x.redirects, func(o *redirect) bool { return o == rd })
}

// redirectRoutes are the routes redirects give: the destination alone,
// through the target router or on the link.
func (x *ndIface) redirectRoutes() []Route {
	var rs []Route
	for _, rd := range x.redirects {
		r := Route{Prefix: netip.PrefixFrom(rd.dst, rd.dst.BitLen()), Interface: x.ifc.name}
		if rd.target != rd.dst {
			r.Via = rd.target
		}
		rs = append(rs, r)
	}
	return rs
}
