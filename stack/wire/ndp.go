package wire

import "net/netip"

// Lengths of the fixed parts of NDP messages, ICMPv6 header included
// (RFC 4861 §4.1-4.5); options follow.
const (
	RouterSolicitationLen    = 8
	RouterAdvertisementLen   = 16
	NeighborSolicitationLen  = 24
	NeighborAdvertisementLen = 24
	RedirectLen              = 40
)

// checkNDP checks that m holds the fixed part of an NDP message of length
// fixed and that its options are well formed (RFC 4861 §6.1, §7.1.1, §8.1:
// "all included options have a length that is greater than zero").
func checkNDP(m []byte, fixed int) error {
	if len(m) < fixed {
		return errNDPShort
	}
	return NDPOptions(m[fixed:]).Check()
}

// emitICMPv6Head writes type typ, code 0 and a zero checksum.
func emitICMPv6Head(b []byte, typ uint8) { b[0], b[1], b[2], b[3] = typ, 0, 0, 0 }

// linkAddrOption finds the last Ethernet link-layer address option of type
// typ in o, which Check has accepted.
func linkAddrOption(o NDPOptions, typ uint8) (MAC, bool) {
	return lastOption(o, typ, NDPOption.LinkAddr)
}

// lastOption finds the last option of type typ in o, which Check has
// accepted, that value reads.
func lastOption[T any](o NDPOptions, typ uint8, value func(NDPOption) (T, bool)) (T, bool) {
	var v T
	found := false
	for it := o.Iter(); ; {
		opt, ok := it.Next()
		if !ok {
			return v, found
		}
		if opt.Type() == typ {
			if x, ok := value(opt); ok {
				v, found = x, true
			}
		}
	}
}

// emitLinkAddr writes a link-layer address option if has; it returns its length.
func emitLinkAddr(b []byte, typ uint8, mac MAC, has bool) int {
	if !has {
		return 0
	}
	NDPLinkAddr{Type: typ, Addr: mac}.Emit(b)
	return NDPLinkAddrLen
}

func linkAddrLen(has bool) int {
	if has {
		return NDPLinkAddrLen
	}
	return 0
}

// RouterSolicitation is a view of a Router Solicitation message, ICMPv6
// header included (RFC 4861 §4.1).
type RouterSolicitation []byte

// Check reports whether m holds the fixed part and well-formed options.
func (m RouterSolicitation) Check() error { return checkNDP(m, RouterSolicitationLen) }

// Options returns the options.
func (m RouterSolicitation) Options() NDPOptions { return NDPOptions(m[RouterSolicitationLen:]) }

// RouterSolicitationFields is the value of a Router Solicitation.
type RouterSolicitationFields struct {
	SourceLinkAddr    MAC
	HasSourceLinkAddr bool
}

// Parse checks b and reads the Router Solicitation in it.
func (f *RouterSolicitationFields) Parse(b []byte) error {
	m := RouterSolicitation(b)
	if err := m.Check(); err != nil {
		return err
	}
	f.SourceLinkAddr, f.HasSourceLinkAddr = linkAddrOption(m.Options(), NDPOptSourceLinkAddr)
	return nil
}

// Len is the message length Emit writes.
func (f RouterSolicitationFields) Len() int {
	return RouterSolicitationLen + linkAddrLen(f.HasSourceLinkAddr)
}

// Emit writes the message into b, which must hold at least Len bytes, with a
// zero checksum (see ICMPv6.ComputeChecksum).
func (f RouterSolicitationFields) Emit(b []byte) {
	b = b[:f.Len()]
	emitICMPv6Head(b, ICMPv6RouterSolicitation)
	clear(b[4:8])
	emitLinkAddr(b[RouterSolicitationLen:], NDPOptSourceLinkAddr, f.SourceLinkAddr, f.HasSourceLinkAddr)
}

// RouterAdvertisement is a view of a Router Advertisement message, ICMPv6
// header included (RFC 4861 §4.2).
type RouterAdvertisement []byte

// Check reports whether m holds the fixed part and well-formed options.
func (m RouterAdvertisement) Check() error { return checkNDP(m, RouterAdvertisementLen) }

// CurHopLimit returns the hop limit hosts should use; 0 means unspecified.
func (m RouterAdvertisement) CurHopLimit() uint8 { return m[4] }

// Managed returns the M flag: addresses are available from DHCPv6.
func (m RouterAdvertisement) Managed() bool { return m[5]&0x80 != 0 }

// Other returns the O flag: other configuration is available from DHCPv6.
func (m RouterAdvertisement) Other() bool { return m[5]&0x40 != 0 }

// RouterLifetime returns the default router lifetime in seconds; 0 means
// not a default router.
func (m RouterAdvertisement) RouterLifetime() uint16 { return be16(m[6:8]) }

// ReachableTime returns the reachable time in milliseconds; 0 means
// unspecified.
func (m RouterAdvertisement) ReachableTime() uint32 { return be32(m[8:12]) }

// RetransTimer returns the retransmission timer in milliseconds; 0 means
// unspecified.
func (m RouterAdvertisement) RetransTimer() uint32 { return be32(m[12:16]) }

// Options returns the options.
func (m RouterAdvertisement) Options() NDPOptions { return NDPOptions(m[RouterAdvertisementLen:]) }

// RouterAdvertisementFields is the value of a Router Advertisement with its
// usual options. Other options (RDNSS, ...) are read through the view's
// Options.
type RouterAdvertisementFields struct {
	CurHopLimit       uint8
	Managed, Other    bool
	RouterLifetime    uint16
	ReachableTime     uint32
	RetransTimer      uint32
	SourceLinkAddr    MAC
	HasSourceLinkAddr bool
	MTU               uint32
	HasMTU            bool
	// Prefixes are the well-formed Prefix Information options. Parse appends
	// to Prefixes[:0], so a caller that keeps the value parses without
	// allocating once it has grown.
	Prefixes []NDPPrefixInfo
}

// Parse checks b and reads the Router Advertisement in it. Options of a known
// type but the wrong length are skipped, as unknown ones are.
func (f *RouterAdvertisementFields) Parse(b []byte) error {
	m := RouterAdvertisement(b)
	if err := m.Check(); err != nil {
		return err
	}
	*f = RouterAdvertisementFields{
		CurHopLimit:    m.CurHopLimit(),
		Managed:        m.Managed(),
		Other:          m.Other(),
		RouterLifetime: m.RouterLifetime(),
		ReachableTime:  m.ReachableTime(),
		RetransTimer:   m.RetransTimer(),
		Prefixes:       f.Prefixes[:0],
	}
	for it := m.Options().Iter(); ; {
		opt, ok := it.Next()
		if !ok {
			break
		}
		switch opt.Type() {
		case NDPOptSourceLinkAddr:
			if a, ok := opt.LinkAddr(); ok {
				f.SourceLinkAddr, f.HasSourceLinkAddr = a, true
			}
		case NDPOptMTU:
			var mtu NDPMTU
			if mtu.Parse(opt) == nil {
				f.MTU, f.HasMTU = mtu.MTU, true
			}
		case NDPOptPrefixInfo:
			var p NDPPrefixInfo
			if p.Parse(opt) == nil {
				f.Prefixes = append(f.Prefixes, p)
			}
		}
	}
	return nil
}

// Len is the message length Emit writes.
func (f RouterAdvertisementFields) Len() int {
	n := RouterAdvertisementLen + linkAddrLen(f.HasSourceLinkAddr) + NDPPrefixInfoLen*len(f.Prefixes)
	if f.HasMTU {
		n += NDPMTULen
	}
	return n
}

// Emit writes the message into b, which must hold at least Len bytes, with a
// zero checksum: fixed part, source link-layer address, MTU, prefixes.
func (f RouterAdvertisementFields) Emit(b []byte) {
	b = b[:f.Len()]
	emitICMPv6Head(b, ICMPv6RouterAdvertisement)
	b[4], b[5] = f.CurHopLimit, 0
	if f.Managed {
		b[5] |= 0x80
	}
	if f.Other {
		b[5] |= 0x40
	}
	put16be(b[6:8], f.RouterLifetime)
	put32be(b[8:12], f.ReachableTime)
	put32be(b[12:16], f.RetransTimer)
	off := RouterAdvertisementLen
	off += emitLinkAddr(b[off:], NDPOptSourceLinkAddr, f.SourceLinkAddr, f.HasSourceLinkAddr)
	if f.HasMTU {
		NDPMTU{MTU: f.MTU}.Emit(b[off:])
		off += NDPMTULen
	}
	for _, p := range f.Prefixes {
		p.Emit(b[off:])
		off += NDPPrefixInfoLen
	}
}

// NeighborSolicitation is a view of a Neighbor Solicitation message, ICMPv6
// header included (RFC 4861 §4.3).
type NeighborSolicitation []byte

// Check reports whether m holds the fixed part and well-formed options.
func (m NeighborSolicitation) Check() error { return checkNDP(m, NeighborSolicitationLen) }

// Target returns the target address.
func (m NeighborSolicitation) Target() netip.Addr { return addr16(m[8:24]) }

// SetTarget sets the target address.
func (m NeighborSolicitation) SetTarget(a netip.Addr) { putAddr16(m[8:24], a) }

// Options returns the options.
func (m NeighborSolicitation) Options() NDPOptions { return NDPOptions(m[NeighborSolicitationLen:]) }

// NeighborSolicitationFields is the value of a Neighbor Solicitation.
type NeighborSolicitationFields struct {
	Target            netip.Addr
	SourceLinkAddr    MAC
	HasSourceLinkAddr bool
	// Nonce is the Nonce option of a duplicate address detection probe
	// (RFC 7527 §4.1, in RFC 3971 §5.3.2's format with the six bytes
	// RFC 7527 uses), by which a node tells its own probes looped back
	// from another node's.
	Nonce    [NDPNonceLen]byte
	HasNonce bool
}

// NDPNonceLen is the length of the nonce in a Nonce option of one
// 8-byte unit.
const NDPNonceLen = 6

// Parse checks b and reads the Neighbor Solicitation in it.
func (f *NeighborSolicitationFields) Parse(b []byte) error {
	m := NeighborSolicitation(b)
	if err := m.Check(); err != nil {
		return err
	}
	f.Target = m.Target()
	f.SourceLinkAddr, f.HasSourceLinkAddr = linkAddrOption(m.Options(), NDPOptSourceLinkAddr)
	f.Nonce, f.HasNonce = lastOption(m.Options(), NDPOptNonce, NDPOption.Nonce)
	return nil
}

// Len is the message length Emit writes.
func (f NeighborSolicitationFields) Len() int {
	n := NeighborSolicitationLen + linkAddrLen(f.HasSourceLinkAddr)
	if f.HasNonce {
		n += 2 + NDPNonceLen
	}
	return n
}

// Emit writes the message into b, which must hold at least Len bytes, with a
// zero checksum.
func (f NeighborSolicitationFields) Emit(b []byte) {
	b = b[:f.Len()]
	emitICMPv6Head(b, ICMPv6NeighborSolicitation)
	clear(b[4:8])
	NeighborSolicitation(b).SetTarget(f.Target)
	o := NeighborSolicitationLen + emitLinkAddr(b[NeighborSolicitationLen:], NDPOptSourceLinkAddr, f.SourceLinkAddr, f.HasSourceLinkAddr)
	if f.HasNonce {
		b[o], b[o+1] = NDPOptNonce, 1
		copy(b[o+2:], f.Nonce[:])
	}
}

// NeighborAdvertisement is a view of a Neighbor Advertisement message,
// ICMPv6 header included (RFC 4861 §4.4).
type NeighborAdvertisement []byte

// Check reports whether m holds the fixed part and well-formed options.
func (m NeighborAdvertisement) Check() error { return checkNDP(m, NeighborAdvertisementLen) }

// Router returns the R flag: the sender is a router.
func (m NeighborAdvertisement) Router() bool { return m[4]&0x80 != 0 }

// Solicited returns the S flag: a reply to a solicitation.
func (m NeighborAdvertisement) Solicited() bool { return m[4]&0x40 != 0 }

// Override returns the O flag: the advertisement overrides a cached address.
func (m NeighborAdvertisement) Override() bool { return m[4]&0x20 != 0 }

// Target returns the target address.
func (m NeighborAdvertisement) Target() netip.Addr { return addr16(m[8:24]) }

// SetFlags sets the R, S and O flags and clears the reserved bits.
func (m NeighborAdvertisement) SetFlags(router, solicited, override bool) {
	var v byte
	if router {
		v |= 0x80
	}
	if solicited {
		v |= 0x40
	}
	if override {
		v |= 0x20
	}
	m[4], m[5], m[6], m[7] = v, 0, 0, 0
}

// SetTarget sets the target address.
func (m NeighborAdvertisement) SetTarget(a netip.Addr) { putAddr16(m[8:24], a) }

// Options returns the options.
func (m NeighborAdvertisement) Options() NDPOptions {
	return NDPOptions(m[NeighborAdvertisementLen:])
}

// NeighborAdvertisementFields is the value of a Neighbor Advertisement.
type NeighborAdvertisementFields struct {
	Router, Solicited, Override bool
	Target                      netip.Addr
	TargetLinkAddr              MAC
	HasTargetLinkAddr           bool
}

// Parse checks b and reads the Neighbor Advertisement in it.
func (f *NeighborAdvertisementFields) Parse(b []byte) error {
	m := NeighborAdvertisement(b)
	if err := m.Check(); err != nil {
		return err
	}
	*f = NeighborAdvertisementFields{Router: m.Router(), Solicited: m.Solicited(), Override: m.Override(), Target: m.Target()}
	f.TargetLinkAddr, f.HasTargetLinkAddr = linkAddrOption(m.Options(), NDPOptTargetLinkAddr)
	return nil
}

// Len is the message length Emit writes.
func (f NeighborAdvertisementFields) Len() int {
	return NeighborAdvertisementLen + linkAddrLen(f.HasTargetLinkAddr)
}

// Emit writes the message into b, which must hold at least Len bytes, with a
// zero checksum.
func (f NeighborAdvertisementFields) Emit(b []byte) {
	b = b[:f.Len()]
	emitICMPv6Head(b, ICMPv6NeighborAdvertisement)
	m := NeighborAdvertisement(b)
	m.SetFlags(f.Router, f.Solicited, f.Override)
	m.SetTarget(f.Target)
	emitLinkAddr(b[NeighborAdvertisementLen:], NDPOptTargetLinkAddr, f.TargetLinkAddr, f.HasTargetLinkAddr)
}

// Redirect is a view of a Redirect message, ICMPv6 header included
// (RFC 4861 §4.5).
type Redirect []byte

// Check reports whether m holds the fixed part and well-formed options.
func (m Redirect) Check() error { return checkNDP(m, RedirectLen) }

// Target returns the better first hop for Destination.
func (m Redirect) Target() netip.Addr { return addr16(m[8:24]) }

// Destination returns the address being redirected.
func (m Redirect) Destination() netip.Addr { return addr16(m[24:40]) }

// SetTarget sets the target address.
func (m Redirect) SetTarget(a netip.Addr) { putAddr16(m[8:24], a) }

// SetDestination sets the destination address.
func (m Redirect) SetDestination(a netip.Addr) { putAddr16(m[24:40], a) }

// Options returns the options.
func (m Redirect) Options() NDPOptions { return NDPOptions(m[RedirectLen:]) }

// RedirectFields is the value of a Redirect. The Redirected Header option is
// read through the view's Options.
type RedirectFields struct {
	Target, Destination netip.Addr
	TargetLinkAddr      MAC
	HasTargetLinkAddr   bool
}

// Parse checks b and reads the Redirect in it.
func (f *RedirectFields) Parse(b []byte) error {
	m := Redirect(b)
	if err := m.Check(); err != nil {
		return err
	}
	*f = RedirectFields{Target: m.Target(), Destination: m.Destination()}
	f.TargetLinkAddr, f.HasTargetLinkAddr = linkAddrOption(m.Options(), NDPOptTargetLinkAddr)
	return nil
}

// Len is the message length Emit writes.
func (f RedirectFields) Len() int { return RedirectLen + linkAddrLen(f.HasTargetLinkAddr) }

// Emit writes the message into b, which must hold at least Len bytes, with a
// zero checksum.
func (f RedirectFields) Emit(b []byte) {
	b = b[:f.Len()]
	emitICMPv6Head(b, ICMPv6Redirect)
	clear(b[4:8])
	m := Redirect(b)
	m.SetTarget(f.Target)
	m.SetDestination(f.Destination)
	emitLinkAddr(b[RedirectLen:], NDPOptTargetLinkAddr, f.TargetLinkAddr, f.HasTargetLinkAddr)
}
