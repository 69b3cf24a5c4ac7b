package wire

import "fmt"

// EthernetHeaderLen is the length of an untagged Ethernet II header.
const EthernetHeaderLen = 14

// EthernetMinFrameLen is the shortest Ethernet frame without its FCS; shorter
// frames are padded on transmit (IEEE 802.3 §3.2.8), which is why IP views
// take their length from IP length fields, never from the frame.
const EthernetMinFrameLen = 60

// EtherType is the type field of an Ethernet II header or VLAN tag. Values
// below 0x0600 are IEEE 802.3 lengths, not types.
type EtherType uint16

// EtherTypes ustack handles (IEEE registry).
const (
	EtherTypeIPv4 EtherType = 0x0800
	EtherTypeARP  EtherType = 0x0806
	EtherTypeVLAN EtherType = 0x8100 // IEEE 802.1Q customer tag
	EtherTypeIPv6 EtherType = 0x86dd
	EtherTypeQinQ EtherType = 0x88a8 // IEEE 802.1ad service tag
)

// String names well-known EtherTypes and prints others in hex.
func (t EtherType) String() string {
	switch t {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "802.1Q"
	case EtherTypeIPv6:
		return "IPv6"
	case EtherTypeQinQ:
		return "802.1ad"
	}
	return fmt.Sprintf("0x%04x", uint16(t))
}

// Ethernet is a view of an Ethernet II frame: destination, source, EtherType,
// payload. VLAN tags are not skipped here; L2 peels them.
type Ethernet []byte

// Check reports whether e holds a whole Ethernet II header.
func (e Ethernet) Check() error {
	if len(e) < EthernetHeaderLen {
		return errEthernetShort
	}
	return nil
}

// Dst returns the destination MAC address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// EtherType returns the outer type field: a VLAN TPID for tagged frames.
func (e Ethernet) EtherType() EtherType { return EtherType(be16(e[12:14])) }

// Payload returns the bytes after the untagged header, FCS-less padding
// included.
func (e Ethernet) Payload() []byte { return e[EthernetHeaderLen:] }

// SetDst sets the destination MAC address.
func (e Ethernet) SetDst(m MAC) { copy(e[0:6], m[:]) }

// SetSrc sets the source MAC address.
func (e Ethernet) SetSrc(m MAC) { copy(e[6:12], m[:]) }

// SetEtherType sets the outer type field.
func (e Ethernet) SetEtherType(t EtherType) { put16be(e[12:14], uint16(t)) }

// EthernetFields is the value of an Ethernet II header with up to
// MaxVLANTags VLAN tags.
type EthernetFields struct {
	Dst, Src MAC
	// Tags are the VLAN tags, outermost first; NumTags of them are used.
	Tags    [MaxVLANTags]VLANTag
	NumTags int
	// EtherType is the type of the payload, after the tags.
	EtherType EtherType
}

// Parse reads an Ethernet header and its VLAN tags from b.
func (f *EthernetFields) Parse(b []byte) error {
	e := Ethernet(b)
	l2, err := e.L2()
	if err != nil {
		return err
	}
	*f = EthernetFields{Dst: e.Dst(), Src: e.Src(), Tags: l2.Tags, NumTags: l2.NumTags, EtherType: l2.EtherType}
	return nil
}

// Len is the header length Emit writes: 14 bytes plus 4 per tag.
func (f EthernetFields) Len() int { return EthernetHeaderLen + VLANTagLen*f.numTags() }

func (f EthernetFields) numTags() int { return min(max(f.NumTags, 0), MaxVLANTags) }

// Emit writes the header into b, which must hold at least Len bytes.
func (f EthernetFields) Emit(b []byte) {
	_ = b[f.Len()-1]
	copy(b[0:6], f.Dst[:])
	copy(b[6:12], f.Src[:])
	off := 12
	for _, t := range f.Tags[:f.numTags()] {
		put16be(b[off:], uint16(t.TPID))
		put16be(b[off+2:], t.TCI)
		off += VLANTagLen
	}
	put16be(b[off:], uint16(f.EtherType))
}
