package stack

import (
	"math"
	"net/netip"
	"sync/atomic"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// neighUse is a neighbour's link-layer address as any queue may use it,
// until the instant its reachability needs confirming, which is queue 0's
// business (it owns the ARP and NDP caches).
type neighUse struct {
	mac   wire.MAC
	until int64
	// asked: a queue found the entry due and passed a frame to queue 0,
	// whose cache then confirms the neighbour and publishes anew;
	// meanwhile every queue goes on using the address, as a stale entry
	// is used while it is probed (RFC 4861 §7.3.3, RFC 1122 §2.3.2.1).
	asked atomic.Bool
	// confirmed is the cache entry's time of the last upper-layer
	// confirmation, which every queue may store (confirmReachable).
	confirmed *atomic.Int64
}

// neighSnapshot is what queue 0 publishes of its neighbour caches for the
// other queues: immutable once published, but for the asked flags.
type neighSnapshot map[neighKey]*neighUse

// publishNeighbors publishes the neighbours whose address is known, if
// they changed this turn (queue 0 of a stack with several queues).
func (q *queue) publishNeighbors() {
	if !q.neighDirty {
		return
	}
	q.neighDirty = false
	m := make(neighSnapshot, len(q.arp.order)+len(q.nd.order))
	for _, n := range q.arp.order {
		if u, ok := usable(n.state, n.mac, n.until); ok {
			u.confirmed = &n.confirmed
			m[n.key] = u
		}
	}
	for _, n := range q.nd.order {
		if u, ok := usable(n.state, n.mac, n.until); ok {
			u.confirmed = &n.confirmed
			m[n.key] = u
		}
	}
	q.s.neigh.Store(&m)
}

func usable(state neighState, mac wire.MAC, until int64) (*neighUse, bool) {
	switch state {
	case neighStatic:
		return &neighUse{mac: mac, until: math.MaxInt64}, true
	case neighReachable:
		return &neighUse{mac: mac, until: until}, true
	case neighStale, neighDelay, neighProbe:
		// Used while it is confirmed (RFC 4861 §7.3.3), and due at once:
		// the first frame another queue sends has queue 0 start that.
		return &neighUse{mac: mac}, true
	}
	return nil, false
}

// resolve sends f, a frame whose destination MAC is to be filled, to the
// neighbour addr on ifc. Queue 0 owns the neighbour caches; another queue
// uses the published snapshot and passes the frame to queue 0 for what is
// not in it, and the first frame to a neighbour that needs confirming.
func (q *queue) resolve(ifc *iface, addr netip.Addr, f *backend.Frame) {
	if q.id == 0 {
		if addr.Is4() {
			q.arp.resolve(ifc, addr, f)
		} else {
			q.nd.resolve(ifc, addr, f)
		}
		return
	}
	if m := q.s.neigh.Load(); m != nil {
		if n, ok := (*m)[neighKey{ifc.idx, addr}]; ok && (q.now < n.until || !n.asked.CompareAndSwap(false, true)) {
			q.sendTo(ifc, n.mac, f)
			return
		}
	}
	if !q.pass(0, handoff{f: f, ifc: ifc, addr: addr, kind: handResolve}) {
		backend.ReleaseOne(f)
	}
}

// confirmReachable records that an upper layer saw forward progress
// through the neighbour nh leads to: new data of a TCP connection
// acknowledged (RFC 4861 §7.3.1, RFC 1122 §2.3.2.1). Queue 0 then keeps the
// entry REACHABLE, or makes it so again from DELAY, without probing it, as
// Linux's neighbour confirmation does. Any queue may call it.
func (q *queue) confirmReachable(nh nextHop) {
	if nh.local || nh.ifc == nil {
		return
	}
	key := neighKey{nh.ifc.idx, nh.addr}
	if q.id != 0 {
		if m := q.s.neigh.Load(); m != nil {
			if n := (*m)[key]; n != nil && n.confirmed != nil {
				n.confirmed.Store(q.now)
			}
		}
		return
	}
	if key.addr.Is4() {
		if n := q.arp.entries[key]; n != nil {
			n.confirmed.Store(q.now)
		}
	} else if n := q.nd.entries[key]; n != nil {
		n.confirmed.Store(q.now)
	}
}

// reconfirmed extends a REACHABLE entry whose time is up (*until) when an
// upper layer confirmed it within reachable of now, and says whether it
// did.
func reconfirmed(confirmed *atomic.Int64, until *int64, now, reachable int64) bool {
	conf := confirmed.Load()
	if conf == 0 || now >= conf+reachable {
		return false
	}
	*until = conf + reachable
	return true
}
