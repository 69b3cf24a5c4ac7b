package wire

import "net/netip"

// UDPHeaderLen is the length of a UDP header (RFC 768).
const UDPHeaderLen = 8

// UDP is a view of a UDP datagram: header and data up to the length field.
// Build it over the IP payload.
type UDP []byte

// Check reports whether u holds a whole header and all the bytes its length
// field claims, and that the length covers at least the header (RFC 768).
// Bytes past the length are allowed and excluded from Payload. The IPv6
// jumbogram length of 0 (RFC 2675 §4) is refused.
func (u UDP) Check() error {
	if len(u) < UDPHeaderLen {
		return errUDPShort
	}
	n := int(u.Length())
	if n < UDPHeaderLen {
		return errUDPLength
	}
	if n > len(u) {
		return errUDPDataTrunc
	}
	return nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return be16(u[0:2]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return be16(u[2:4]) }

// Length returns the length field: header plus data.
func (u UDP) Length() uint16 { return be16(u[4:6]) }

// Checksum returns the checksum field; 0 over IPv4 means none was computed.
func (u UDP) Checksum() uint16 { return be16(u[6:8]) }

// Payload returns the data up to the length field.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:u.Length()] }

// VerifyChecksum reports whether the datagram's checksum is right for the
// pseudo-header of src and dst. Over IPv4 a zero checksum means none and
// verifies (RFC 768); over IPv6 it is invalid (RFC 8200 §8.1).
func (u UDP) VerifyChecksum(src, dst netip.Addr) bool {
	if u.Checksum() == 0 {
		return src.Is4()
	}
	return TransportChecksum(src, dst, IPProtoUDP, u[:u.Length()]) == 0
}

// ComputeChecksum returns the checksum the datagram should carry, whatever
// the field holds now; a computed 0 is sent as 0xffff (RFC 768).
func (u UDP) ComputeChecksum(src, dst netip.Addr) uint16 {
	c := fieldChecksum(src, dst, IPProtoUDP, u[:u.Length()], 6)
	if c == 0 {
		c = 0xffff
	}
	return c
}

// SetSrcPort sets the source port.
func (u UDP) SetSrcPort(p uint16) { put16be(u[0:2], p) }

// SetDstPort sets the destination port.
func (u UDP) SetDstPort(p uint16) { put16be(u[2:4], p) }

// SetLength sets the length field.
func (u UDP) SetLength(n uint16) { put16be(u[4:6], n) }

// SetChecksum sets the checksum field.
func (u UDP) SetChecksum(c uint16) { put16be(u[6:8], c) }

// UDPFields is the value of a UDP header.
type UDPFields struct {
	SrcPort, DstPort uint16
	PayloadLen       int // the length field less 8
}

// Parse checks b and reads the UDP header in it.
func (f *UDPFields) Parse(b []byte) error {
	u := UDP(b)
	if err := u.Check(); err != nil {
		return err
	}
	*f = UDPFields{SrcPort: u.SrcPort(), DstPort: u.DstPort(), PayloadLen: int(u.Length()) - UDPHeaderLen}
	return nil
}

// Len is UDPHeaderLen.
func (f UDPFields) Len() int { return UDPHeaderLen }

// Emit writes the header into b, which must hold at least 8 bytes, with the
// length 8+PayloadLen and a zero checksum: the caller sets it with
// ComputeChecksum once the data is in place, or leaves it to offload.
func (f UDPFields) Emit(b []byte) {
	u := UDP(b[:UDPHeaderLen])
	u.SetSrcPort(f.SrcPort)
	u.SetDstPort(f.DstPort)
	u.SetLength(uint16(UDPHeaderLen + f.PayloadLen))
	u.SetChecksum(0)
}
