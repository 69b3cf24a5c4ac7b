package wire

import "net/netip"

// ICMPv4HeaderLen is the length of an ICMPv4 header: type, code, checksum
// and the 4-byte rest of header (RFC 792).
const ICMPv4HeaderLen = 8

// ICMPv4 message types (RFC 792, RFC 1256).
const (
	ICMPv4EchoReply           = 0
	ICMPv4DestUnreachable     = 3
	ICMPv4SourceQuench        = 4
	ICMPv4Redirect            = 5
	ICMPv4Echo                = 8
	ICMPv4RouterAdvertisement = 9
	ICMPv4RouterSolicitation  = 10
	ICMPv4TimeExceeded        = 11
	ICMPv4ParameterProblem    = 12
	ICMPv4Timestamp           = 13
	ICMPv4TimestampReply      = 14
)

// ICMPv4 Destination Unreachable codes (RFC 792, RFC 1122 §3.2.2.1,
// RFC 1812 §5.2.7.1).
const (
	ICMPv4NetUnreachable      = 0
	ICMPv4HostUnreachable     = 1
	ICMPv4ProtoUnreachable    = 2
	ICMPv4PortUnreachable     = 3
	ICMPv4FragmentationNeeded = 4 // "fragmentation needed and DF set"; carries the next-hop MTU (RFC 1191 §4)
	ICMPv4SourceRouteFailed   = 5
	ICMPv4NetUnknown          = 6
	ICMPv4HostUnknown         = 7
	ICMPv4NetProhibited       = 9
	ICMPv4HostProhibited      = 10
	ICMPv4AdminProhibited     = 13
)

// ICMPv4 Time Exceeded codes (RFC 792).
const (
	ICMPv4TTLExceeded        = 0
	ICMPv4ReassemblyExceeded = 1
)

// ICMPv4 is a view of an ICMPv4 message: the 8-byte header and the data
// after it (an echo's data, or the invoking packet of an error).
type ICMPv4 []byte

// Check reports whether m holds a whole ICMPv4 header.
func (m ICMPv4) Check() error {
	if len(m) < ICMPv4HeaderLen {
		return errICMPv4Short
	}
	return nil
}

// Type returns the message type.
func (m ICMPv4) Type() uint8 { return m[0] }

// Code returns the message code.
func (m ICMPv4) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m ICMPv4) Checksum() uint16 { return be16(m[2:4]) }

// Rest returns the type-specific "rest of header" word.
func (m ICMPv4) Rest() uint32 { return be32(m[4:8]) }

// EchoID returns the identifier of an echo or echo reply.
func (m ICMPv4) EchoID() uint16 { return be16(m[4:6]) }

// EchoSeq returns the sequence number of an echo or echo reply.
func (m ICMPv4) EchoSeq() uint16 { return be16(m[6:8]) }

// NextHopMTU returns the next-hop MTU of a Destination Unreachable,
// Fragmentation Needed message; 0 from routers older than RFC 1191 §4.
func (m ICMPv4) NextHopMTU() uint16 { return be16(m[6:8]) }

// Pointer returns the octet a Parameter Problem message points at.
func (m ICMPv4) Pointer() uint8 { return m[4] }

// Gateway returns the gateway address of a Redirect message.
func (m ICMPv4) Gateway() netip.Addr { return addr4(m[4:8]) }

// Payload returns the data after the header.
func (m ICMPv4) Payload() []byte { return m[ICMPv4HeaderLen:] }

// VerifyChecksum reports whether the whole message sums to all ones
// (RFC 792; no pseudo-header).
func (m ICMPv4) VerifyChecksum() bool { return Checksum(m, 0) == 0 }

// ComputeChecksum returns the checksum the message should carry, whatever
// the field holds now.
func (m ICMPv4) ComputeChecksum() uint16 { return ^Fold(sumSkipping(m, 2, 0)) }

// SetType sets the message type.
func (m ICMPv4) SetType(t uint8) { m[0] = t }

// SetCode sets the message code.
func (m ICMPv4) SetCode(c uint8) { m[1] = c }

// SetChecksum sets the checksum field.
func (m ICMPv4) SetChecksum(c uint16) { put16be(m[2:4], c) }

// SetRest sets the rest-of-header word.
func (m ICMPv4) SetRest(r uint32) { put32be(m[4:8], r) }

// SetEcho sets the identifier and sequence number of an echo.
func (m ICMPv4) SetEcho(id, seq uint16) { put16be(m[4:6], id); put16be(m[6:8], seq) }

// SetPointer sets the octet a Parameter Problem message points at and
// clears the unused bytes.
func (m ICMPv4) SetPointer(p uint8) { put32be(m[4:8], uint32(p)<<24) }

// SetGateway sets the gateway address of a Redirect message.
func (m ICMPv4) SetGateway(a netip.Addr) { putAddr4(m[4:8], a) }

// SetNextHopMTU sets the next-hop MTU and clears the unused half word.
func (m ICMPv4) SetNextHopMTU(mtu uint16) { put16be(m[4:6], 0); put16be(m[6:8], mtu) }

// ICMPv4Fields is the value of an ICMPv4 header. Rest is the type-specific
// word: EchoRest builds it for echoes.
type ICMPv4Fields struct {
	Type, Code uint8
	Rest       uint32
}

// EchoRest is the rest-of-header word of an echo with identifier id and
// sequence number seq.
func EchoRest(id, seq uint16) uint32 { return uint32(id)<<16 | uint32(seq) }

// Parse checks b and reads the ICMPv4 header in it.
func (f *ICMPv4Fields) Parse(b []byte) error {
	m := ICMPv4(b)
	if err := m.Check(); err != nil {
		return err
	}
	*f = ICMPv4Fields{Type: m.Type(), Code: m.Code(), Rest: m.Rest()}
	return nil
}

// Len is ICMPv4HeaderLen.
func (f ICMPv4Fields) Len() int { return ICMPv4HeaderLen }

// Emit writes the header into b, which must hold at least 8 bytes, with a
// zero checksum: the checksum covers the data, so the caller sets it with
// ComputeChecksum once the data is in place.
func (f ICMPv4Fields) Emit(b []byte) {
	m := ICMPv4(b[:ICMPv4HeaderLen])
	m.SetType(f.Type)
	m.SetCode(f.Code)
	m.SetChecksum(0)
	m.SetRest(f.Rest)
}
