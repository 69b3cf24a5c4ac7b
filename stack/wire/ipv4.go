package wire

import "net/netip"

// IPv4 header lengths (RFC 791 §3.1): 20 bytes without options, at most 60.
const (
	IPv4HeaderLen    = 20
	IPv4MaxHeaderLen = 60
)

// IPv4 is a view of an IPv4 packet: the header, its options, and the
// payload up to the total length.
type IPv4 []byte

// Check reports whether ip holds a whole IPv4 header and all the bytes its
// total length claims (RFC 791 §3.1; RFC 1122 §3.2.1.1-2 for the version and
// length rules). Bytes past the total length (Ethernet padding) are allowed
// and excluded from Payload. Options are not parsed: they are skipped
// safely. A total length of 0 (what some TSO captures carry) is refused with
// ErrBadLength.
func (ip IPv4) Check() error {
	if len(ip) < IPv4HeaderLen {
		return errIPv4Short
	}
	if ip[0]>>4 != 4 {
		return errIPv4Version
	}
	hl := ip.HeaderLen()
	if hl < IPv4HeaderLen {
		return errIPv4IHL
	}
	if hl > len(ip) {
		return errIPv4HdrTrunc
	}
	tl := int(ip.TotalLen())
	if tl < hl {
		return errIPv4TotalLen
	}
	if tl > len(ip) {
		return errIPv4DataTrunc
	}
	return nil
}

// Version returns the version field (4 once Check passed).
func (ip IPv4) Version() uint8 { return ip[0] >> 4 }

// HeaderLen returns the header length in bytes: the IHL field × 4.
func (ip IPv4) HeaderLen() int { return int(ip[0]&0x0f) * 4 }

// TOS returns the type-of-service byte: DSCP and ECN together.
func (ip IPv4) TOS() uint8 { return ip[1] }

// DSCP returns the differentiated services code point (RFC 2474 §3).
func (ip IPv4) DSCP() uint8 { return ip[1] >> 2 }

// ECN returns the explicit congestion notification bits (RFC 3168 §5).
func (ip IPv4) ECN() uint8 { return ip[1] & 0x03 }

// TotalLen returns the total length field: header plus payload.
func (ip IPv4) TotalLen() uint16 { return be16(ip[2:4]) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return be16(ip[4:6]) }

// DontFragment returns the DF flag.
func (ip IPv4) DontFragment() bool { return ip[6]&0x40 != 0 }

// MoreFragments returns the MF flag.
func (ip IPv4) MoreFragments() bool { return ip[6]&0x20 != 0 }

// FragmentOffset returns the fragment offset in bytes (the field × 8).
func (ip IPv4) FragmentOffset() int { return int(be16(ip[6:8])&0x1fff) * 8 }

// IsFragment reports whether ip is a fragment rather than a whole datagram:
// MF set or a non-zero offset (RFC 791 §3.2).
func (ip IPv4) IsFragment() bool { return be16(ip[6:8])&0x3fff != 0 }

// TTL returns the time to live.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Protocol returns the protocol of the payload (IPProtoTCP, ...).
func (ip IPv4) Protocol() uint8 { return ip[9] }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return be16(ip[10:12]) }

// Src returns the source address bytes, aliasing ip.
func (ip IPv4) Src() []byte { return ip[12:16] }

// Dst returns the destination address bytes, aliasing ip.
func (ip IPv4) Dst() []byte { return ip[16:20] }

// SrcAddr returns the source address.
func (ip IPv4) SrcAddr() netip.Addr { return addr4(ip[12:16]) }

// DstAddr returns the destination address.
func (ip IPv4) DstAddr() netip.Addr { return addr4(ip[16:20]) }

// Header returns the header, options included.
func (ip IPv4) Header() []byte { return ip[:ip.HeaderLen()] }

// Options returns the raw options, padding included (RFC 791 §3.1).
func (ip IPv4) Options() []byte { return ip[IPv4HeaderLen:ip.HeaderLen()] }

// Payload returns the bytes between the header and the total length, which
// excludes any link-layer padding.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():ip.TotalLen()] }

// VerifyChecksum reports whether the header checksum is correct: the header
// sums to all ones (RFC 1071 §1, RFC 1122 §3.2.1.2).
func (ip IPv4) VerifyChecksum() bool { return Checksum(ip.Header(), 0) == 0 }

// ComputeChecksum returns the header checksum the header should carry,
// whatever the checksum field holds now.
func (ip IPv4) ComputeChecksum() uint16 {
	return ^Fold(sumSkipping(ip.Header(), 10, 0))
}

// PseudoHeaderSum is the checksum accumulator of the pseudo-header for an
// upper-layer message of length bytes with protocol proto (RFC 9293 §3.1).
func (ip IPv4) PseudoHeaderSum(proto uint8, length int) uint64 {
	return PseudoHeaderSum(ip.Src(), ip.Dst(), proto, length)
}

// SetHeaderLen sets the version to 4 and the IHL to n/4; n is a multiple of 4
// from 20 to 60.
func (ip IPv4) SetHeaderLen(n int) { ip[0] = 4<<4 | byte(n/4)&0x0f }

// SetTOS sets the type-of-service byte.
func (ip IPv4) SetTOS(tos uint8) { ip[1] = tos }

// SetTotalLen sets the total length.
func (ip IPv4) SetTotalLen(n uint16) { put16be(ip[2:4], n) }

// SetID sets the identification field.
func (ip IPv4) SetID(id uint16) { put16be(ip[4:6], id) }

// SetFragment sets DF, MF and the fragment offset in bytes (a multiple of 8;
// lower bits are dropped). The reserved flag is cleared (RFC 791 §3.1).
func (ip IPv4) SetFragment(df, mf bool, offset int) {
	v := uint16(offset/8) & 0x1fff
	if df {
		v |= 0x4000
	}
	if mf {
		v |= 0x2000
	}
	put16be(ip[6:8], v)
}

// SetTTL sets the time to live.
func (ip IPv4) SetTTL(ttl uint8) { ip[8] = ttl }

// SetProtocol sets the payload protocol.
func (ip IPv4) SetProtocol(p uint8) { ip[9] = p }

// SetChecksum sets the header checksum field.
func (ip IPv4) SetChecksum(c uint16) { put16be(ip[10:12], c) }

// SetSrcAddr sets the source address; a non-IPv4 address is written as 0.0.0.0.
func (ip IPv4) SetSrcAddr(a netip.Addr) { putAddr4(ip[12:16], a) }

// SetDstAddr sets the destination address; a non-IPv4 address is written as 0.0.0.0.
func (ip IPv4) SetDstAddr(a netip.Addr) { putAddr4(ip[16:20], a) }

// IPv4Fields is the value of an IPv4 header.
type IPv4Fields struct {
	TOS            uint8
	ID             uint16
	DontFragment   bool
	MoreFragments  bool
	FragmentOffset int // in bytes, a multiple of 8
	TTL            uint8
	Protocol       uint8
	Src, Dst       netip.Addr
	// Options are the raw options. Parse aliases the parsed bytes; Emit pads
	// them with zeros (End of Option List) to a multiple of 4 and writes at
	// most 40 bytes of them.
	Options []byte
	// PayloadLen is the total length less the header length.
	PayloadLen int
}

// Parse checks b and reads the IPv4 header in it.
func (f *IPv4Fields) Parse(b []byte) error {
	ip := IPv4(b)
	if err := ip.Check(); err != nil {
		return err
	}
	*f = IPv4Fields{
		TOS:            ip.TOS(),
		ID:             ip.ID(),
		DontFragment:   ip.DontFragment(),
		MoreFragments:  ip.MoreFragments(),
		FragmentOffset: ip.FragmentOffset(),
		TTL:            ip.TTL(),
		Protocol:       ip.Protocol(),
		Src:            ip.SrcAddr(),
		Dst:            ip.DstAddr(),
		Options:        ip.Options(),
		PayloadLen:     int(ip.TotalLen()) - ip.HeaderLen(),
	}
	if len(f.Options) == 0 {
		f.Options = nil
	}
	return nil
}

// Len is the header length Emit writes: 20 bytes plus the padded options.
func (f IPv4Fields) Len() int {
	return IPv4HeaderLen + min((len(f.Options)+3)&^3, IPv4MaxHeaderLen-IPv4HeaderLen)
}

// Emit writes the header into b, which must hold at least Len bytes, with
// the total length Len+PayloadLen and a computed header checksum.
func (f IPv4Fields) Emit(b []byte) {
	n := f.Len()
	ip := IPv4(b[:n])
	ip.SetHeaderLen(n)
	ip.SetTOS(f.TOS)
	ip.SetTotalLen(uint16(n + f.PayloadLen))
	ip.SetID(f.ID)
	ip.SetFragment(f.DontFragment, f.MoreFragments, f.FragmentOffset)
	ip.SetTTL(f.TTL)
	ip.SetProtocol(f.Protocol)
	ip.SetChecksum(0)
	ip.SetSrcAddr(f.Src)
	ip.SetDstAddr(f.Dst)
	clear(ip[copy(ip[IPv4HeaderLen:], f.Options)+IPv4HeaderLen:])
	ip.SetChecksum(Checksum(ip, 0))
}
