package stack

import (
	"net/netip"
	"sync"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// flowTable says which queue owns each TCP connection of a stack with
// several queues, so that a segment the device steers to another queue
// (sticky or opaque steering, or a flow whose port could not be chosen to
// steer home) is passed to its owner. Queues consult it only for segments
// that match no connection of their own.
type flowTable struct {
	mu     sync.Mutex
	owners map[connKey]int
}

// claim records q as the owner of key unless another queue owns it, and
// returns the owner.
func (t *flowTable) claim(key connKey, q int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o, ok := t.owners[key]; ok {
		return o
	}
	t.owners[key] = q
	return q
}

// release forgets key if q owns it.
func (t *flowTable) release(key connKey, q int) {
	t.mu.Lock()
	if o, ok := t.owners[key]; ok && o == q {
		delete(t.owners, key)
	}
	t.mu.Unlock()
}

// owner is the queue that owns key, if any does.
func (t *flowTable) owner(key connKey) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.owners[key]
	return o, ok
}

// multiQueue says whether the stack runs more than one queue.
func (s *Stack) multiQueue() bool { return len(s.queues) > 1 }

// rssQueue is the queue ifc's device steers the packets of a flow from
// remote to local to, when it steers by a Toeplitz hash the stack can
// compute (RSS: the hash of source address, destination address, source
// port, destination port, as the packets arrive).
func (s *Stack) rssQueue(ifc *iface, proto uint8, local, remote netip.AddrPort) (int, bool) {
	caps := &ifc.caps
	if len(s.queues) <= 1 || caps.Steering != backend.SteerToeplitz || ifc.loopback {
		return 0, false
	}
	ipField, portField := backend.HashIPv4, backend.HashTCPv4
	if proto == protoUDP {
		portField = backend.HashUDPv4
	}
	if !remote.Addr().Is4() {
		ipField, portField = backend.HashIPv6, backend.HashTCPv6
		if proto == protoUDP {
			portField = backend.HashUDPv6
		}
	}
	if caps.ToeplitzFields&(ipField|portField) == 0 {
		return 0, false
	}
	var buf [36]byte
	in := buf[:0]
	if remote.Addr().Is4() {
		r, l := remote.Addr().As4(), local.Addr().As4()
		in = append(append(in, r[:]...), l[:]...)
	} else {
		r, l := remote.Addr().As16(), local.Addr().As16()
		in = append(append(in, r[:]...), l[:]...)
	}
	if caps.ToeplitzFields&portField != 0 {
		in = append(in, byte(remote.Port()>>8), byte(remote.Port()), byte(local.Port()>>8), byte(local.Port()))
	}
	q := backend.RSSQueue(backend.Toeplitz(caps.ToeplitzKey, in), caps.ToeplitzTable, len(s.queues))
	if q < 0 || q >= len(s.queues) {
		return 0, false
	}
	return q, true
}

// pickQueue chooses the queue that owns a new socket: round robin.
func (s *Stack) pickQueue() *queue {
	if len(s.queues) == 1 {
		return s.queues[0]
	}
	return s.queues[int(s.nextQueue.Add(1)-1)%len(s.queues)]
}

// toOwner passes the frame being received to the queue that owns the TCP
// connection key, when another queue does; it reports whether it did.
func (q *queue) toOwner(key connKey) bool {
	if _, ok := q.tcp.conns[key]; ok {
		return false
	}
	o, ok := q.s.flows.owner(key)
	if !ok || !q.handOff(o) {
		return false
	}
	q.counters.Queue.SteerMisses++
	return true
}

// steerICMP passes an ICMP error to the queue that owns the TCP
// connection it quotes, before anything here sees it; it reports whether
// it did.
func (q *queue) steerICMP(m wire.ICMPv4) bool {
	switch m.Type() {
	case wire.ICMPv4DestUnreachable, wire.ICMPv4TimeExceeded, wire.ICMPv4ParameterProblem:
	case wire.ICMPv4Redirect:
		// Queue 0 owns the routes.
		return q.handOff(0)
	default:
		return false
	}
	inner := wire.IPv4(m.Payload())
	if len(inner) < wire.IPv4HeaderLen || inner.Version() != 4 || inner.HeaderLen() < wire.IPv4HeaderLen ||
		len(inner) < inner.HeaderLen()+4 || inner.Protocol() != protoTCP {
		return false
	}
	l4 := inner[inner.HeaderLen():]
	return q.toOwner(quotedKey(inner.SrcAddr(), inner.DstAddr(), l4))
}

// steerICMPv6 passes Neighbor Discovery and MLD queries to queue 0, which
// owns the neighbour cache, the addresses and the groups, and an error to
// the queue that owns the TCP connection it quotes; it reports whether it
// did.
func (q *queue) steerICMPv6(m wire.ICMPv6) bool {
	switch m.Type() {
	case wire.ICMPv6RouterAdvertisement, wire.ICMPv6NeighborSolicitation, wire.ICMPv6NeighborAdvertisement,
		wire.ICMPv6MLDQuery, wire.ICMPv6Redirect:
		return q.handOff(0)
	case wire.ICMPv6DestUnreachable, wire.ICMPv6PacketTooBig, wire.ICMPv6TimeExceeded, wire.ICMPv6ParameterProblem:
		src, dst, proto, l4, ok := quotedTransport(m.Payload())
		if !ok || proto != protoTCP || len(l4) < 4 {
			return false
		}
		return q.toOwner(quotedKey(src, dst, l4))
	}
	return false
}

// quotedKey is the connection of a segment we sent from src to dst, of
// which l4 quotes the ports.
func quotedKey(src, dst netip.Addr, l4 []byte) connKey {
	return connKey{
		local:  netip.AddrPortFrom(src, uint16(l4[0])<<8|uint16(l4[1])),
		remote: netip.AddrPortFrom(dst, uint16(l4[2])<<8|uint16(l4[3])),
	}
}
