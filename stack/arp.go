package stack

import (
	"net/netip"
	"sync/atomic"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/timer"
	"github.com/ustack/ustack/stack/wire"
)

// neighState is the state of a neighbour cache entry, after RFC 4861 §7.3.2's
// model, which Linux uses for ARP too.
type neighState uint8

const (
	neighIncomplete neighState = iota // resolving: requests out, packets queued
	neighReachable                    // confirmed within ARPConfig.Reachable
	neighStale                        // unconfirmed: still used, being re-probed
	neighStatic                       // configured: never probed, never expired
)

type neighKey struct {
	ifc  int
	addr netip.Addr
}

// neighbor is one ARP cache entry.
type neighbor struct {
	timer.Timer
	c       *arpCache
	key     neighKey
	ifc     *iface
	mac     wire.MAC
	state   neighState
	probes  int   // requests sent in the current resolution or probe
	until   int64 // reachable until
	pending []*backend.Frame
	seq     uint64 // creation order, for deterministic eviction
	// confirmed is when an upper layer last confirmed the neighbour
	// reachable (confirmReachable); any queue stores it.
	confirmed atomic.Int64
}

// arpCache is the IPv4 neighbour cache of RFC 826 with the timers of
// RFC 1122 §2.3.2.1: requests are rate limited to one per RetryInterval per
// address, resolution gives up after Retries, and a bounded number of
// packets waits for each resolution.
type arpCache struct {
	q       *queue
	cfg     *ARPConfig
	entries map[neighKey]*neighbor
	order   []*neighbor // by creation, for eviction without map iteration
	seq     uint64
}

func newARPCache(q *queue, cfg *ARPConfig) *arpCache {
	return &arpCache{q: q, cfg: cfg, entries: map[neighKey]*neighbor{}}
}

// resolve sends f (an Ethernet frame whose destination MAC is to be filled)
// to addr on ifc: at once when the neighbour is known, after resolution
// otherwise.
func (c *arpCache) resolve(ifc *iface, addr netip.Addr, f *backend.Frame) {
	n := c.entries[neighKey{ifc.idx, addr}]
	if n == nil {
		n = c.create(ifc, addr)
		if n == nil {
			c.q.counters.ARP.CacheFull++
			c.q.limitReached(limitNeighbours)
			backend.ReleaseOne(f)
			return
		}
	}
	if n.state != neighIncomplete {
		if n.state == neighStatic {
			c.q.sendTo(ifc, n.mac, f)
			return
		}
		if n.state == neighReachable && c.q.now >= n.until {
			if reconfirmed(&n.confirmed, &n.until, c.q.now, int64(c.cfg.Reachable)) {
				c.q.neighDirty = true
			} else {
				n.state = neighStale
			}
		}
		if n.state == neighStale && !n.Pending() {
			// Re-probe, still using the old address meanwhile.
			n.probes = 0
			c.probe(n)
		}
		c.q.sendTo(ifc, n.mac, f)
		return
	}
	if len(n.pending) >= c.cfg.QueueLen {
		// Keep the newest packets, as Linux does.
		c.q.counters.ARP.PendingDrops++
		backend.ReleaseOne(n.pending[0])
		copy(n.pending, n.pending[1:])
		n.pending = n.pending[:len(n.pending)-1]
	}
	n.pending = append(n.pending, f)
}

func (c *arpCache) create(ifc *iface, addr netip.Addr) *neighbor {
	resolving := 0
	for _, n := range c.order {
		if n.state == neighIncomplete {
			resolving++
		}
	}
	if resolving >= maxResolving(c.cfg.MaxEntries) || len(c.entries) >= c.cfg.MaxEntries && !c.evict() {
		return nil
	}
	c.seq++
	n := &neighbor{c: c, key: neighKey{ifc.idx, addr}, ifc: ifc, state: neighIncomplete, seq: c.seq}
	n.Handler = n
	c.entries[n.key] = n
	c.order = append(c.order, n)
	c.q.neighDirty = true
	c.probe(n)
	return n
}

// addStatic makes a permanent entry.
func (c *arpCache) addStatic(ifc *iface, addr netip.Addr, mac wire.MAC) {
	c.seq++
	n := &neighbor{c: c, key: neighKey{ifc.idx, addr}, ifc: ifc, mac: mac, state: neighStatic, seq: c.seq}
	n.Handler = n
	c.entries[n.key] = n
	c.order = append(c.order, n)
	c.q.neighDirty = true
}

// evict removes the oldest entry that is not resolving or static.
func (c *arpCache) evict() bool {
	for _, n := range c.order {
		if n.state != neighIncomplete && n.state != neighStatic {
			c.remove(n)
			return true
		}
	}
	return false
}

func (c *arpCache) remove(n *neighbor) {
	c.q.timers.Cancel(&n.Timer)
	c.q.neighDirty = true
	delete(c.entries, n.key)
	for i, m := range c.order {
		if m == n {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	if len(n.pending) > 0 {
		c.q.counters.ARP.ResolveFailures += uint64(len(n.pending))
		backend.Release(n.pending)
		n.pending = nil
	}
}

// probe sends a request and schedules the next one.
func (c *arpCache) probe(n *neighbor) {
	n.probes++
	target := wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if n.state == neighStale {
		// RFC 1122 §2.3.2.1: unicast polls confirm a known neighbour.
		target = n.mac
	}
	c.q.sendARP(n.ifc, wire.ARPRequest, target, wire.MAC{}, n.key.addr)
	c.q.timers.Schedule(&n.Timer, c.q.now+int64(c.cfg.RetryInterval))
}

// OnTimer implements timer.Handler: the next probe, or giving up.
func (n *neighbor) OnTimer(_ *timer.Timer, now int64) {
	c := n.c
	if n.state == neighReachable {
		return
	}
	if n.probes >= c.cfg.Retries {
		if n.state == neighIncomplete {
			c.q.log.Debug("arp resolution failed", "addr", n.key.addr, "iface", n.ifc.name)
		}
		c.remove(n)
		return
	}
	c.probe(n)
}

// learn records addr at mac on ifc. create says whether a missing entry
// is made (RFC 826: only when the packet was for us).
func (c *arpCache) learn(ifc *iface, addr netip.Addr, mac wire.MAC, create bool) {
	n := c.entries[neighKey{ifc.idx, addr}]
	if n != nil && n.state == neighStatic {
		return
	}
	if n == nil {
		if !create {
			return
		}
		if len(c.entries) >= c.cfg.MaxEntries && !c.evict() {
			c.q.counters.ARP.CacheFull++
			c.q.limitReached(limitNeighbours)
			return
		}
		c.seq++
		n = &neighbor{c: c, key: neighKey{ifc.idx, addr}, ifc: ifc, seq: c.seq}
		n.Handler = n
		c.entries[n.key] = n
		c.order = append(c.order, n)
	}
	n.mac = mac
	n.state = neighReachable
	n.until = c.q.now + int64(c.cfg.Reachable)
	c.q.neighDirty = true
	n.probes = 0
	c.q.timers.Cancel(&n.Timer)
	for _, f := range n.pending {
		c.q.sendTo(ifc, mac, f)
	}
	clear(n.pending)
	n.pending = n.pending[:0]
}

// close drops every queued packet.
func (c *arpCache) close() {
	for _, n := range c.order {
		backend.Release(n.pending)
		n.pending = nil
	}
}

// arpInput handles an ARP packet (RFC 826 "Packet Reception").
func (q *queue) arpInput(ifc *iface, b []byte) {
	a := wire.ARP(b)
	if a.Check() != nil {
		q.counters.ARP.InMalformed++
		return
	}
	sh := q.shared()
	sender, target := a.SenderAddr(), a.TargetAddr()
	smac := a.SenderMAC()
	op := a.Op()
	switch op {
	case wire.ARPRequest:
		q.counters.ARP.InRequests++
	case wire.ARPReply:
		q.counters.ARP.InReplies++
	default:
		q.counters.ARP.InMalformed++
		return
	}
	if smac.IsMulticast() || sender.IsMulticast() || sender == netip.IPv4Unspecified() && op == wire.ARPReply {
		q.counters.ARP.InMalformed++
		return
	}
	if q.nd != nil && ifc.idx < len(q.nd.ifs) && smac != ifc.mac {
		if c := q.nd.ifs[ifc.idx].dhcp; c != nil && c.checkARP(sender, target) {
			return
		}
	}
	if owner, ok := sh.ownerOf(sender); ok && owner == ifc && smac != ifc.mac {
		q.counters.ARP.Conflicts++
		q.log.Warn("arp: address conflict", "addr", sender, "mac", smac, "iface", ifc.name)
		return
	}
	if sender == target {
		q.counters.ARP.InGratuitous++
	}
	owner, forUs := sh.ownerOf(target)
	forUs = forUs && owner == ifc
	if sender.IsValid() && !sender.IsUnspecified() {
		q.arp.learn(ifc, sender, smac, forUs && sender != target)
	}
	if op != wire.ARPRequest {
		return
	}
	if !forUs {
		q.counters.ARP.InNotForUs++
		return
	}
	q.sendARP(ifc, wire.ARPReply, smac, smac, sender)
}

// sendARP sends an ARP packet from ifc: to the Ethernet address dst, asking
// for or answering about addr (target hardware address tmac).
func (q *queue) sendARP(ifc *iface, op uint16, dst, tmac wire.MAC, addr netip.Addr) {
	src, ok := q.shared().addr4(ifc)
	if !ok {
		return
	}
	q.emitARP(ifc, op, dst, tmac, src.Addr(), addr)
}

// arpProbe asks whether another host has addr, from no address (RFC 5227
// §2.1.1), to the broadcast address.
func (q *queue) arpProbe(ifc *iface, addr netip.Addr) {
	q.emitARP(ifc, wire.ARPRequest, wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, wire.MAC{}, netip.IPv4Unspecified(), addr)
}

// emitARP sends an ARP packet from ifc with sender address src.
func (q *queue) emitARP(ifc *iface, op uint16, dst, tmac wire.MAC, src, addr netip.Addr) {
	f := q.alloc(ifc, wire.EthernetHeaderLen+wire.ARPLen)
	if f == nil {
		return
	}
	f.SetLen(wire.EthernetMinFrameLen)
	b := f.Bytes()
	clear(b)
	eth := wire.Ethernet(b)
	eth.SetDst(dst)
	eth.SetSrc(ifc.mac)
	eth.SetEtherType(wire.EtherTypeARP)
	wire.ARPFields{
		Op:         op,
		SenderMAC:  ifc.mac,
		SenderAddr: src,
		TargetMAC:  tmac,
		TargetAddr: addr,
	}.Emit(b[wire.EthernetHeaderLen:])
	if op == wire.ARPRequest {
		q.counters.ARP.OutRequests++
	} else {
		q.counters.ARP.OutReplies++
	}
	q.queueTx(ifc, f)
}

// announce sends a gratuitous ARP request for each IPv4 address of ifc
// (RFC 5227 §3), so neighbours update stale entries when we start.
func (q *queue) announce(ifc *iface) {
	sh := q.shared()
	for _, p := range sh.addrs[ifc.idx] {
		if !p.Addr().Is4() {
			continue
		}
		f := q.alloc(ifc, wire.EthernetMinFrameLen)
		if f == nil {
			return
		}
		f.SetLen(wire.EthernetMinFrameLen)
		b := f.Bytes()
		clear(b)
		eth := wire.Ethernet(b)
		eth.SetDst(wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		eth.SetSrc(ifc.mac)
		eth.SetEtherType(wire.EtherTypeARP)
		wire.ARPFields{Op: wire.ARPRequest, SenderMAC: ifc.mac, SenderAddr: p.Addr(), TargetAddr: p.Addr()}.Emit(b[wire.EthernetHeaderLen:])
		q.counters.ARP.OutRequests++
		q.queueTx(ifc, f)
	}
}
