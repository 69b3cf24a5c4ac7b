package wire

import "net/netip"

// ICMPv6HeaderLen is the length of an ICMPv6 header: type, code, checksum
// and the 4-byte type-specific word every message has (RFC 4443 §2.1).
const ICMPv6HeaderLen = 8

// ICMPv6 message types (RFC 4443, RFC 4861, RFC 2710, RFC 3810).
const (
	ICMPv6DestUnreachable       = 1
	ICMPv6PacketTooBig          = 2
	ICMPv6TimeExceeded          = 3
	ICMPv6ParameterProblem      = 4
	ICMPv6EchoRequest           = 128
	ICMPv6EchoReply             = 129
	ICMPv6MLDQuery              = 130
	ICMPv6MLDReport             = 131
	ICMPv6MLDDone               = 132
	ICMPv6RouterSolicitation    = 133
	ICMPv6RouterAdvertisement   = 134
	ICMPv6NeighborSolicitation  = 135
	ICMPv6NeighborAdvertisement = 136
	ICMPv6Redirect              = 137
	ICMPv6MLDv2Report           = 143
)

// ICMPv6 Destination Unreachable codes (RFC 4443 §3.1).
const (
	ICMPv6NoRoute            = 0
	ICMPv6AdminProhibited    = 1
	ICMPv6BeyondScope        = 2
	ICMPv6AddressUnreachable = 3
	ICMPv6PortUnreachable    = 4
	ICMPv6SourcePolicyFailed = 5
	ICMPv6RejectRoute        = 6
)

// ICMPv6 Time Exceeded codes (RFC 4443 §3.3).
const (
	ICMPv6HopLimitExceeded   = 0
	ICMPv6ReassemblyExceeded = 1
)

// ICMPv6 Parameter Problem codes (RFC 4443 §3.4, RFC 7112 §6).
const (
	ICMPv6ErroneousHeader        = 0
	ICMPv6UnrecognizedNextHeader = 1
	ICMPv6UnrecognizedOption     = 2
	ICMPv6IncompleteChain        = 3
)

// ICMPv6 is a view of an ICMPv6 message: the 8-byte header and the body
// after it (an echo's data, the invoking packet of an error). NDP messages
// have their own views over the same bytes.
type ICMPv6 []byte

// Check reports whether m holds a whole ICMPv6 header.
func (m ICMPv6) Check() error {
	if len(m) < ICMPv6HeaderLen {
		return errICMPv6Short
	}
	return nil
}

// Type returns the message type; errors are below 128 (RFC 4443 §2.1).
func (m ICMPv6) Type() uint8 { return m[0] }

// Code returns the message code.
func (m ICMPv6) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m ICMPv6) Checksum() uint16 { return be16(m[2:4]) }

// Rest returns the type-specific word after the checksum.
func (m ICMPv6) Rest() uint32 { return be32(m[4:8]) }

// EchoID returns the identifier of an echo request or reply.
func (m ICMPv6) EchoID() uint16 { return be16(m[4:6]) }

// EchoSeq returns the sequence number of an echo request or reply.
func (m ICMPv6) EchoSeq() uint16 { return be16(m[6:8]) }

// MTU returns the MTU of a Packet Too Big message (RFC 4443 §3.2).
func (m ICMPv6) MTU() uint32 { return be32(m[4:8]) }

// Pointer returns the offset a Parameter Problem message points at, within
// the invoking packet (RFC 4443 §3.4).
func (m ICMPv6) Pointer() uint32 { return be32(m[4:8]) }

// Payload returns the body after the 8-byte header.
func (m ICMPv6) Payload() []byte { return m[ICMPv6HeaderLen:] }

// VerifyChecksum reports whether the message and its pseudo-header sum to
// all ones (RFC 4443 §2.3).
func (m ICMPv6) VerifyChecksum(src, dst netip.Addr) bool {
	return TransportChecksum(src, dst, IPProtoICMPv6, m) == 0
}

// ComputeChecksum returns the checksum the message should carry, whatever
// the field holds now.
func (m ICMPv6) ComputeChecksum(src, dst netip.Addr) uint16 {
	return fieldChecksum(src, dst, IPProtoICMPv6, m, 2)
}

// SetType sets the message type.
func (m ICMPv6) SetType(t uint8) { m[0] = t }

// SetCode sets the message code.
func (m ICMPv6) SetCode(c uint8) { m[1] = c }

// SetChecksum sets the checksum field.
func (m ICMPv6) SetChecksum(c uint16) { put16be(m[2:4], c) }

// SetRest sets the type-specific word.
func (m ICMPv6) SetRest(r uint32) { put32be(m[4:8], r) }

// SetEcho sets the identifier and sequence number of an echo.
func (m ICMPv6) SetEcho(id, seq uint16) { put16be(m[4:6], id); put16be(m[6:8], seq) }

// SetMTU sets the MTU of a Packet Too Big message.
func (m ICMPv6) SetMTU(mtu uint32) { put32be(m[4:8], mtu) }

// SetPointer sets the pointer of a Parameter Problem message.
func (m ICMPv6) SetPointer(p uint32) { put32be(m[4:8], p) }

// ICMPv6Fields is the value of an ICMPv6 header; Rest is the type-specific
// word (EchoRest, an MTU, a pointer).
type ICMPv6Fields struct {
	Type, Code uint8
	Rest       uint32
}

// Parse checks b and reads the ICMPv6 header in it.
func (f *ICMPv6Fields) Parse(b []byte) error {
	m := ICMPv6(b)
	if err := m.Check(); err != nil {
		return err
	}
	*f = ICMPv6Fields{Type: m.Type(), Code: m.Code(), Rest: m.Rest()}
	return nil
}

// Len is ICMPv6HeaderLen.
func (f ICMPv6Fields) Len() int { return ICMPv6HeaderLen }

// Emit writes the header into b, which must hold at least 8 bytes, with a
// zero checksum: the caller sets it with ComputeChecksum once the body is in
// place.
func (f ICMPv6Fields) Emit(b []byte) {
	m := ICMPv6(b[:ICMPv6HeaderLen])
	m.SetType(f.Type)
	m.SetCode(f.Code)
	m.SetChecksum(0)
	m.SetRest(f.Rest)
}
