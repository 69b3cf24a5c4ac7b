package wire

import "net/netip"

// IPv6HeaderLen is the length of the fixed IPv6 header (RFC 8200 §3).
const IPv6HeaderLen = 40

// IPv6 is a view of an IPv6 packet: the fixed header and the payload
// (extension headers included) up to the payload length. WalkIPv6 walks the
// extension headers.
type IPv6 []byte

// Check reports whether ip holds a whole fixed header and all the bytes its
// payload length claims (RFC 8200 §3). Bytes past them (Ethernet padding) are
// allowed and excluded from Payload. Jumbograms (RFC 2675, payload length 0
// with a Jumbo Payload option) are not supported: their payload reads as
// empty.
func (ip IPv6) Check() error {
	if len(ip) < IPv6HeaderLen {
		return errIPv6Short
	}
	if ip[0]>>4 != 6 {
		return errIPv6Version
	}
	if IPv6HeaderLen+int(ip.PayloadLen()) > len(ip) {
		return errIPv6DataTrunc
	}
	return nil
}

// Version returns the version field (6 once Check passed).
func (ip IPv6) Version() uint8 { return ip[0] >> 4 }

// TrafficClass returns the traffic class byte: DSCP and ECN together.
func (ip IPv6) TrafficClass() uint8 { return uint8(be16(ip[0:2]) >> 4) }

// DSCP returns the differentiated services code point (RFC 2474 §3).
func (ip IPv6) DSCP() uint8 { return ip.TrafficClass() >> 2 }

// ECN returns the explicit congestion notification bits (RFC 3168 §5).
func (ip IPv6) ECN() uint8 { return ip.TrafficClass() & 0x03 }

// FlowLabel returns the 20-bit flow label (RFC 6437).
func (ip IPv6) FlowLabel() uint32 { return be32(ip[0:4]) & 0x000fffff }

// PayloadLen returns the payload length field: everything after the fixed
// header, extension headers included.
func (ip IPv6) PayloadLen() uint16 { return be16(ip[4:6]) }

// NextHeader returns the type of the header after the fixed header.
func (ip IPv6) NextHeader() uint8 { return ip[6] }

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[7] }

// Src returns the source address bytes, aliasing ip.
func (ip IPv6) Src() []byte { return ip[8:24] }

// Dst returns the destination address bytes, aliasing ip.
func (ip IPv6) Dst() []byte { return ip[24:40] }

// SrcAddr returns the source address.
func (ip IPv6) SrcAddr() netip.Addr { return addr16(ip[8:24]) }

// DstAddr returns the destination address.
func (ip IPv6) DstAddr() netip.Addr { return addr16(ip[24:40]) }

// Payload returns the bytes after the fixed header up to the payload length,
// which excludes any link-layer padding.
func (ip IPv6) Payload() []byte { return ip[IPv6HeaderLen : IPv6HeaderLen+int(ip.PayloadLen())] }

// PseudoHeaderSum is the checksum accumulator of the pseudo-header for an
// upper-layer message of length bytes with protocol proto (RFC 8200 §8.1).
func (ip IPv6) PseudoHeaderSum(proto uint8, length int) uint64 {
	return PseudoHeaderSum(ip.Src(), ip.Dst(), proto, length)
}

// SetVersion sets the version field to 6, keeping the traffic class.
func (ip IPv6) SetVersion() { ip[0] = 6<<4 | ip[0]&0x0f }

// SetTrafficClass sets the traffic class, keeping version and flow label.
func (ip IPv6) SetTrafficClass(tc uint8) {
	ip[0] = ip[0]&0xf0 | tc>>4
	ip[1] = tc<<4 | ip[1]&0x0f
}

// SetFlowLabel sets the low 20 bits of l as the flow label.
func (ip IPv6) SetFlowLabel(l uint32) {
	ip[1] = ip[1]&0xf0 | byte(l>>16)&0x0f
	put16be(ip[2:4], uint16(l))
}

// SetPayloadLen sets the payload length.
func (ip IPv6) SetPayloadLen(n uint16) { put16be(ip[4:6], n) }

// SetNextHeader sets the next header type.
func (ip IPv6) SetNextHeader(nh uint8) { ip[6] = nh }

// SetHopLimit sets the hop limit.
func (ip IPv6) SetHopLimit(h uint8) { ip[7] = h }

// SetSrcAddr sets the source address (IPv4 addresses are written mapped).
func (ip IPv6) SetSrcAddr(a netip.Addr) { putAddr16(ip[8:24], a) }

// SetDstAddr sets the destination address (IPv4 addresses are written mapped).
func (ip IPv6) SetDstAddr(a netip.Addr) { putAddr16(ip[24:40], a) }

// IPv6Fields is the value of a fixed IPv6 header.
type IPv6Fields struct {
	TrafficClass uint8
	FlowLabel    uint32 // low 20 bits
	PayloadLen   int    // extension headers included; at most 65535
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
}

// Parse checks b and reads the fixed IPv6 header in it.
func (f *IPv6Fields) Parse(b []byte) error {
	ip := IPv6(b)
	if err := ip.Check(); err != nil {
		return err
	}
	*f = IPv6Fields{
		TrafficClass: ip.TrafficClass(),
		FlowLabel:    ip.FlowLabel(),
		PayloadLen:   int(ip.PayloadLen()),
		NextHeader:   ip.NextHeader(),
		HopLimit:     ip.HopLimit(),
		Src:          ip.SrcAddr(),
		Dst:          ip.DstAddr(),
	}
	return nil
}

// Len is IPv6HeaderLen.
func (f IPv6Fields) Len() int { return IPv6HeaderLen }

// Emit writes the fixed header into b, which must hold at least 40 bytes.
func (f IPv6Fields) Emit(b []byte) {
	ip := IPv6(b[:IPv6HeaderLen])
	ip[0], ip[1] = 6<<4, 0
	ip.SetTrafficClass(f.TrafficClass)
	ip.SetFlowLabel(f.FlowLabel)
	ip.SetPayloadLen(uint16(f.PayloadLen))
	ip.SetNextHeader(f.NextHeader)
	ip.SetHopLimit(f.HopLimit)
	ip.SetSrcAddr(f.Src)
	ip.SetDstAddr(f.Dst)
}
