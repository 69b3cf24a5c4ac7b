package wire

import "net/netip"

// NDP option types (RFC 4861 §4.6, RFC 8106 §5).
const (
	NDPOptSourceLinkAddr   = 1
	NDPOptTargetLinkAddr   = 2
	NDPOptPrefixInfo       = 3
	NDPOptRedirectedHeader = 4
	NDPOptMTU              = 5
	NDPOptNonce            = 14 // RFC 3971 §5.3.2
	NDPOptRDNSS            = 25
	NDPOptDNSSL            = 31
)

// Lengths in bytes of fixed-size NDP options (RFC 4861 §4.6).
const (
	NDPLinkAddrLen   = 8 // for Ethernet (RFC 4861 §4.6.1, RFC 2464 §8)
	NDPPrefixInfoLen = 32
	NDPMTULen        = 8
)

// NDPOptions is a view of the options that end an NDP message.
type NDPOptions []byte

// Check reports whether every option has a non-zero length and lies within
// o (RFC 4861 §4.6: "Nodes MUST silently discard an ND packet that contains
// an option with length zero").
func (o NDPOptions) Check() error {
	it := o.Iter()
	for {
		if _, ok := it.Next(); !ok {
			return it.Err()
		}
	}
}

// Iter returns an iterator over the options in o.
func (o NDPOptions) Iter() NDPOptionIter { return NDPOptionIter{rest: o} }

// NDPOptionIter walks NDP options. It stops at the first malformed option
// and never reads past its bytes; a zero length cannot make it loop.
type NDPOptionIter struct {
	rest []byte
	err  error
}

// Next returns the next option, and false at the end or on a malformed one
// (then Err says which).
func (it *NDPOptionIter) Next() (NDPOption, bool) {
	if it.err != nil || len(it.rest) == 0 {
		return nil, false
	}
	if len(it.rest) < 2 {
		it.err = errNDPOptTrunc
		return nil, false
	}
	n := int(it.rest[1]) * 8
	if n == 0 {
		it.err = errNDPOptZero
		return nil, false
	}
	if n > len(it.rest) {
		it.err = errNDPOptTrunc
		return nil, false
	}
	o := NDPOption(it.rest[:n])
	it.rest = it.rest[n:]
	return o, true
}

// Err returns the error that stopped the iteration, or nil.
func (it *NDPOptionIter) Err() error { return it.err }

// NDPOption is a view of one NDP option as NDPOptionIter yields it: type,
// length in 8-byte units, data, with a length of at least 8 bytes.
type NDPOption []byte

// Type returns the option type.
func (o NDPOption) Type() uint8 { return o[0] }

// Len returns the option's length in bytes.
func (o NDPOption) Len() int { return int(o[1]) * 8 }

// Data returns the bytes after the type and length.
func (o NDPOption) Data() []byte { return o[2:] }

// LinkAddr returns the Ethernet address of a Source or Target Link-Layer
// Address option (RFC 4861 §4.6.1), and false if o is too short for one.
func (o NDPOption) LinkAddr() (MAC, bool) {
	if len(o) < NDPLinkAddrLen {
		return MAC{}, false
	}
	return MAC(o[2:8]), true
}

// Nonce returns the nonce of a Nonce option of one 8-byte unit (RFC 7527
// §4.1), and false if o is of another length.
func (o NDPOption) Nonce() ([NDPNonceLen]byte, bool) {
	if o.Len() != 2+NDPNonceLen {
		return [NDPNonceLen]byte{}, false
	}
	return [NDPNonceLen]byte(o.Data()), true
}

// NDPLinkAddr is the value of a Source or Target Link-Layer Address option
// for Ethernet.
type NDPLinkAddr struct {
	Type uint8 // NDPOptSourceLinkAddr or NDPOptTargetLinkAddr
	Addr MAC
}

// Parse reads a link-layer address option from b.
func (f *NDPLinkAddr) Parse(b []byte) error {
	if len(b) < NDPLinkAddrLen || int(b[1])*8 < NDPLinkAddrLen {
		return errNDPOptShape
	}
	*f = NDPLinkAddr{Type: b[0], Addr: MAC(b[2:8])}
	return nil
}

// Len is NDPLinkAddrLen.
func (f NDPLinkAddr) Len() int { return NDPLinkAddrLen }

// Emit writes the option into b, which must hold at least 8 bytes.
func (f NDPLinkAddr) Emit(b []byte) {
	b = b[:NDPLinkAddrLen]
	b[0], b[1] = f.Type, 1
	copy(b[2:8], f.Addr[:])
}

// NDPPrefixInfo is the value of a Prefix Information option
// (RFC 4861 §4.6.2).
type NDPPrefixInfo struct {
	PrefixLen         uint8
	OnLink            bool // L flag
	Autonomous        bool // A flag: usable for SLAAC (RFC 4862 §5.5.3)
	ValidLifetime     uint32
	PreferredLifetime uint32
	Prefix            netip.Addr
}

// Parse reads a Prefix Information option from b, which must be exactly
// what its length field says: 32 bytes.
func (f *NDPPrefixInfo) Parse(b []byte) error {
	if len(b) != NDPPrefixInfoLen || b[1] != 4 {
		return errNDPOptShape
	}
	*f = NDPPrefixInfo{
		PrefixLen:         b[2],
		OnLink:            b[3]&0x80 != 0,
		Autonomous:        b[3]&0x40 != 0,
		ValidLifetime:     be32(b[4:8]),
		PreferredLifetime: be32(b[8:12]),
		Prefix:            addr16(b[16:32]),
	}
	return nil
}

// Len is NDPPrefixInfoLen.
func (f NDPPrefixInfo) Len() int { return NDPPrefixInfoLen }

// Emit writes the option into b, which must hold at least 32 bytes.
func (f NDPPrefixInfo) Emit(b []byte) {
	b = b[:NDPPrefixInfoLen]
	b[0], b[1], b[2], b[3] = NDPOptPrefixInfo, 4, f.PrefixLen, 0
	if f.OnLink {
		b[3] |= 0x80
	}
	if f.Autonomous {
		b[3] |= 0x40
	}
	put32be(b[4:8], f.ValidLifetime)
	put32be(b[8:12], f.PreferredLifetime)
	clear(b[12:16])
	putAddr16(b[16:32], f.Prefix)
}

// NDPMTU is the value of an MTU option (RFC 4861 §4.6.4).
type NDPMTU struct {
	MTU uint32
}

// Parse reads an MTU option from b, which must be exactly 8 bytes.
func (f *NDPMTU) Parse(b []byte) error {
	if len(b) != NDPMTULen || b[1] != 1 {
		return errNDPOptShape
	}
	f.MTU = be32(b[4:8])
	return nil
}

// Len is NDPMTULen.
func (f NDPMTU) Len() int { return NDPMTULen }

// Emit writes the option into b, which must hold at least 8 bytes.
func (f NDPMTU) Emit(b []byte) {
	b = b[:NDPMTULen]
	b[0], b[1], b[2], b[3] = NDPOptMTU, 1, 0, 0
	put32be(b[4:8], f.MTU)
}

// NDPRDNSS is the value of a Recursive DNS Server option (RFC 8106 §5.1).
type NDPRDNSS struct {
	Lifetime uint32
	// Servers are the addresses. Parse appends to Servers[:0], so a caller
	// that keeps one NDPRDNSS with capacity parses without allocating.
	Servers []netip.Addr
}

// Parse reads an RDNSS option from b: 8 bytes and one or more 16-byte
// addresses, exactly as its length field says.
func (f *NDPRDNSS) Parse(b []byte) error {
	if len(b) < 8+16 || int(b[1])*8 != len(b) || (len(b)-8)%16 != 0 {
		return errNDPOptShape
	}
	f.Lifetime = be32(b[4:8])
	f.Servers = f.Servers[:0]
	for a := b[8:]; len(a) >= 16; a = a[16:] {
		f.Servers = append(f.Servers, addr16(a))
	}
	return nil
}

// Len is the length Emit writes: 8 bytes plus 16 per server.
func (f NDPRDNSS) Len() int { return 8 + 16*len(f.Servers) }

// Emit writes the option into b, which must hold at least Len bytes; at most
// 15 servers fit the length field.
func (f NDPRDNSS) Emit(b []byte) {
	n := f.Len()
	b = b[:n]
	b[0], b[1], b[2], b[3] = NDPOptRDNSS, byte(n/8), 0, 0
	put32be(b[4:8], f.Lifetime)
	for i, s := range f.Servers {
		putAddr16(b[8+16*i:], s)
	}
}
