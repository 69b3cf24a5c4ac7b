package wire

// VLANTagLen is the length of one IEEE 802.1Q or 802.1ad tag.
const VLANTagLen = 4

// MaxVLANTags is how many stacked tags L2 peels: a service tag and a
// customer tag (IEEE 802.1ad), no more.
const MaxVLANTags = 2

// VLANTag is one VLAN tag: the TPID that announced it and its tag control
// information (IEEE 802.1Q §9.6).
type VLANTag struct {
	TPID EtherType
	TCI  uint16
}

// Priority returns the priority code point, the top 3 bits of the TCI.
func (t VLANTag) Priority() uint8 { return uint8(t.TCI >> 13) }

// DropEligible returns the drop eligible indicator bit.
func (t VLANTag) DropEligible() bool { return t.TCI&0x1000 != 0 }

// ID returns the 12-bit VLAN identifier.
func (t VLANTag) ID() uint16 { return t.TCI & 0x0fff }

// L2Info is an Ethernet frame's link-layer framing once its VLAN tags are
// peeled: what the tags said, and the type and offset of what they carry.
type L2Info struct {
	// EtherType is the type of the payload after all tags.
	EtherType EtherType
	// HeaderLen is the offset of the payload: 14, 18 or 22.
	HeaderLen int
	// Tags are the VLAN tags, outermost first; NumTags of them are used.
	Tags    [MaxVLANTags]VLANTag
	NumTags int
}

// isVLANTPID reports whether t announces a VLAN tag.
func isVLANTPID(t EtherType) bool { return t == EtherTypeVLAN || t == EtherTypeQinQ }

// L2 peels up to MaxVLANTags 802.1Q/802.1ad tags off e. It checks e itself; a
// third tag is refused with ErrUnsupported rather than handed on as an
// unknown EtherType.
func (e Ethernet) L2() (L2Info, error) {
	var l L2Info
	if err := e.Check(); err != nil {
		return l, err
	}
	l.HeaderLen = EthernetHeaderLen
	l.EtherType = e.EtherType()
	for isVLANTPID(l.EtherType) {
		if l.NumTags == MaxVLANTags {
			return l, errVLANTooMany
		}
		if len(e) < l.HeaderLen+VLANTagLen {
			return l, errVLANShort
		}
		// The tag sits where the EtherType was; the inner type follows it.
		tag := e[l.HeaderLen-2:]
		l.Tags[l.NumTags] = VLANTag{TPID: l.EtherType, TCI: be16(tag[2:4])}
		l.NumTags++
		l.EtherType = EtherType(be16(tag[4:6]))
		l.HeaderLen += VLANTagLen
	}
	return l, nil
}
