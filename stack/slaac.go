package stack

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/ustack/ustack/stack/wire"
)

// Stateless address autoconfiguration (RFC 4862 §5.5.3): a router
// advertises a prefix with the A flag, the host adds an interface
// identifier, checks the address is unique and uses it for the prefix's
// lifetimes.

// Bounds and constants of autoconfiguration.
const (
	// maxAutoAddrs bounds the addresses routers can make us form.
	maxAutoAddrs = 16
	// twoHours is RFC 4862 §5.5.3 (e)'s floor: an unauthenticated
	// advertisement cannot cut a valid lifetime below it.
	twoHours = 2 * time.Hour
	// idgenRetries is RFC 7217 §6's IDGEN_RETRIES: new identifiers tried
	// after duplicates.
	idgenRetries = 3
	// infiniteLifetime is the all-ones lifetime that never ends.
	infiniteLifetime = 0xffffffff
)

// stableSecret is RFC 7217's secret key: the configured one, or a fixed
// one, so that addresses stay the same across restarts as the RFC wants
// (§5), though whoever knows the MAC can then compute them.
func stableSecret(configured string) [32]byte {
	if configured != "" {
		return sha256.Sum256([]byte(configured))
	}
	return sha256.Sum256([]byte("ustack rfc7217 default key"))
}

// autoconfigure applies a Prefix Information option with the A flag
// (RFC 4862 §5.5.3); it reports whether the addresses in use changed.
func (x *ndIface) autoconfigure(p netip.Prefix, valid, preferred uint32) bool {
	nd := x.nd
	if nd.cfg.NoSLAAC || preferred > valid {
		// (c): a preferred lifetime beyond the valid one is nonsense.
		return false
	}
	for _, a := range x.addrs {
		if a.source == "slaac" && a.prefix.Masked() == p {
			return x.refresh(a, valid, preferred)
		}
	}
	// (d): a new prefix makes an address when it leaves 64 bits for the
	// interface identifier (RFC 4291 §2.5.1).
	if valid == 0 || p.Bits() != 64 || x.countFrom("slaac") >= maxAutoAddrs {
		return false
	}
	a := x.add(netip.PrefixFrom(x.interfaceAddr(p, 0), 64), "slaac")
	if a == nil {
		// A static address has that identifier already.
		return false
	}
	now := x.nd.q.now
	x.setLifetimes(a, lifetimeEnd(now, valid), lifetimeEnd(now, preferred))
	x.probe(a)
	return true
}

// countFrom is the number of the interface's addresses acquired by
// source ("slaac", "dhcpv6", ...).
func (x *ndIface) countFrom(source string) int {
	n := 0
	for _, a := range x.addrs {
		if a.source == source {
			n++
		}
	}
	return n
}

// refresh applies a new advertisement of an address's prefix (RFC 4862
// §5.5.3 (e)): the preferred lifetime is reset; the valid one only as the
// two-hour rule allows, so that a forged advertisement cannot end an
// address at once.
func (x *ndIface) refresh(a *addr6, valid, preferred uint32) bool {
	q := x.nd.q
	remaining := time.Duration(1<<63 - 1)
	if a.validUntil != 0 {
		remaining = time.Duration(a.validUntil - q.now)
	}
	received := time.Duration(valid) * time.Second
	validUntil := a.validUntil
	switch {
	case valid == infiniteLifetime:
		validUntil = 0
	case received > twoHours || received > remaining:
		validUntil = q.now + int64(received)
	case remaining <= twoHours:
		// The valid lifetime stays as it is.
	default:
		validUntil = q.now + int64(twoHours)
	}
	wasDeprecated := a.deprecated
	x.setLifetimes(a, validUntil, lifetimeEnd(q.now, preferred))
	return a.deprecated != wasDeprecated
}

// lifetimeEnd is the instant a lifetime of l seconds from now ends; 0 for
// the infinite lifetime.
func lifetimeEnd(now int64, l uint32) int64 {
	if l == infiniteLifetime {
		return 0
	}
	return now + int64(l)*int64(time.Second)
}

// setLifetimes sets an autoconfigured address's lifetimes and schedules
// the next end.
func (x *ndIface) setLifetimes(a *addr6, validUntil, preferredUntil int64) {
	a.validUntil, a.preferredUntil = validUntil, preferredUntil
	a.deprecated = a.preferredUntil != 0 && a.preferredUntil <= x.nd.q.now
	x.scheduleLife(a)
}

func (x *ndIface) scheduleLife(a *addr6) {
	q := x.nd.q
	next := a.validUntil
	if !a.deprecated && a.preferredUntil != 0 {
		next = a.preferredUntil
	}
	if next == 0 {
		q.timers.Cancel(&a.life.Timer)
		return
	}
	q.timers.Schedule(&a.life.Timer, next)
}

// lifetimeOver deprecates the address when its preferred lifetime ends
// and removes it when its valid lifetime does (RFC 4862 §5.5.4).
func (a *addr6) lifetimeOver(now int64) {
	x := a.x
	if a.validUntil != 0 && now >= a.validUntil {
		x.remove(a)
		x.nd.publish()
		return
	}
	a.deprecated = true
	x.nd.q.log.Info("address deprecated", "addr", a.prefix, "source", a.source, "iface", x.ifc.name)
	x.scheduleLife(a)
	x.nd.publish()
}

// remove forgets an address.
func (x *ndIface) remove(a *addr6) {
	q := x.nd.q
	q.timers.Cancel(&a.Timer)
	q.timers.Cancel(&a.life.Timer)
	x.addrs = slices.DeleteFunc(x.addrs, func(o *addr6) bool { return o == a })
	if a.state == addrPreferred {
		q.log.Info("address down", "addr", a.prefix, "source", a.source, "iface", x.ifc.name)
	}
}

// probe starts duplicate address detection on a new address, or takes it
// into use at once when that is off.
func (x *ndIface) probe(a *addr6) {
	nd := x.nd
	if nd.cfg.DADTransmits < 0 {
		a.state = addrPreferred
		a.up()
		return
	}
	a.state, a.sent = addrTentative, 0
	nd.q.timers.Schedule(&a.Timer, nd.q.now)
}

// retryStable gives a duplicate autoconfigured address a new stable
// identifier (RFC 7217 §6), up to idgenRetries times; an EUI-64 one has no
// other.
func (x *ndIface) retryStable(a *addr6) {
	if x.nd.cfg.AddrGen != "stable" || a.dadCount >= idgenRetries {
		return
	}
	a.dadCount++
	p := a.prefix.Masked()
	a.prefix = netip.PrefixFrom(x.interfaceAddr(p, a.dadCount), 64)
	x.probe(a)
}

// interfaceAddr is the address of prefix p (a /64) for this interface:
// with RFC 7217's identifier F(Prefix, Net_Iface, Network_ID, DAD_Counter,
// secret_key), or the modified EUI-64 one.
func (x *ndIface) interfaceAddr(p netip.Prefix, dadCount int) netip.Addr {
	b := p.Addr().As16()
	if x.nd.cfg.AddrGen == "eui64" {
		ll := linkLocalFor(x.ifc.mac).Addr().As16()
		copy(b[8:], ll[8:])
		return netip.AddrFrom16(b)
	}
	for {
		h := sha256.New()
		h.Write(b[:8])
		h.Write([]byte(x.ifc.name))
		h.Write(x.ifc.mac[:])
		h.Write([]byte{byte(dadCount)})
		h.Write(x.nd.secret[:])
		sum := h.Sum(nil)
		copy(b[8:], sum[:8])
		if !reservedIID(b[8:]) {
			return netip.AddrFrom16(b)
		}
		// RFC 7217 §5: a reserved identifier counts as a collision.
		dadCount++
	}
}

// reservedIID says whether an interface identifier is reserved (RFC 5453):
// the subnet-router anycast one, the subnet anycast range and the proxy
// mobile IPv6 range.
func reservedIID(id []byte) bool {
	v := binary.BigEndian.Uint64(id)
	return v == 0 || v >= 0xfdffffffffffff80 || v&^0xffff == 0x02005efffe000000 && v&0xffff <= 0x5213
}

// rdnss is a recursive DNS server a router advertised, until its lifetime
// ends.
type rdnss struct {
	addr  netip.Addr
	until int64 // 0: infinite
}

// maxRDNSS bounds the DNS servers routers can make us keep.
const maxRDNSS = 4

// rdnssInput learns the DNS servers of Recursive DNS Server options (RFC
// 8106 §5.1): a lifetime of 0 removes one. It reports whether the list
// changed.
func (x *ndIface) rdnssInput(opts wire.NDPOptions) bool {
	q := x.nd.q
	n := len(x.dns)
	x.dns = slices.DeleteFunc(x.dns, func(r *rdnss) bool { return r.until != 0 && r.until <= q.now })
	changed := len(x.dns) != n
	for it := opts.Iter(); ; {
		o, ok := it.Next()
		if !ok {
			return changed
		}
		if o.Type() != wire.NDPOptRDNSS || len(o) < 24 || (len(o)-8)%16 != 0 {
			continue
		}
		life := binary.BigEndian.Uint32(o[4:8])
		until := lifetimeEnd(q.now, life)
		for off := 8; off+16 <= len(o); off += 16 {
			a := netip.AddrFrom16([16]byte(o[off : off+16]))
			i := slices.IndexFunc(x.dns, func(r *rdnss) bool { return r.addr == a })
			switch {
			case life == 0 && i >= 0:
				x.dns = slices.Delete(x.dns, i, i+1)
			case life == 0:
				continue
			case i >= 0:
				x.dns[i].until = until
			case len(x.dns) < maxRDNSS:
				x.dns = append(x.dns, &rdnss{addr: a, until: until})
				q.log.Info("dns server", "addr", a, "source", "ra", "iface", x.ifc.name)
			default:
				continue
			}
			changed = true
		}
	}
}
