package wire

// IPv6FragmentHeaderLen is the length of an IPv6 Fragment header
// (RFC 8200 §4.5).
const IPv6FragmentHeaderLen = 8

// IPv6ExtHeader is a view of an IPv6 extension header in the common format
// of Hop-by-Hop Options, Routing and Destination Options headers: Next
// Header, Hdr Ext Len in 8-octet units not counting the first 8, then data
// (RFC 8200 §4.3, §4.4, §4.6).
type IPv6ExtHeader []byte

// Check reports whether h holds the whole header its length field claims.
func (h IPv6ExtHeader) Check() error {
	if len(h) < 2 || len(h) < h.HeaderLen() {
		return errIPv6ExtShort
	}
	return nil
}

// NextHeader returns the type of the header that follows.
func (h IPv6ExtHeader) NextHeader() uint8 { return h[0] }

// HeaderLen returns the header length in bytes: (Hdr Ext Len + 1) × 8.
func (h IPv6ExtHeader) HeaderLen() int { return (int(h[1]) + 1) * 8 }

// Options returns the TLV-encoded options of a Hop-by-Hop or Destination
// Options header; they start 2 bytes into the header.
func (h IPv6ExtHeader) Options() IPv6Options { return IPv6Options(h[2:h.HeaderLen()]) }

// SetNextHeader sets the type of the header that follows.
func (h IPv6ExtHeader) SetNextHeader(nh uint8) { h[0] = nh }

// SetHeaderLen sets the length in bytes, a multiple of 8 from 8 to 2048.
func (h IPv6ExtHeader) SetHeaderLen(n int) { h[1] = byte(n/8 - 1) }

// Option types of Hop-by-Hop and Destination Options headers (RFC 8200
// §4.2, RFC 2711, RFC 2675).
const (
	IPv6OptPad1        = 0x00
	IPv6OptPadN        = 0x01
	IPv6OptRouterAlert = 0x05
	IPv6OptJumbo       = 0xc2
)

// What a node must do with an option whose type it does not recognise: the
// two high-order bits of the type (RFC 8200 §4.2).
const (
	IPv6OptActionSkip               = 0 // skip it and go on
	IPv6OptActionDiscard            = 1 // discard the packet silently
	IPv6OptActionDiscardICMP        = 2 // discard, send Parameter Problem code 2
	IPv6OptActionDiscardICMPUnicast = 3 // as 2, unless the destination was multicast
)

// IPv6OptionAction returns the action bits of option type typ: one of the
// IPv6OptAction constants.
func IPv6OptionAction(typ uint8) uint8 { return typ >> 6 }

// IPv6Options is a view of the TLV-encoded options of a Hop-by-Hop or
// Destination Options header (RFC 8200 §4.2).
type IPv6Options []byte

// Check reports whether every option in o lies within it.
func (o IPv6Options) Check() error {
	it := o.Iter()
	for {
		if _, ok := it.Next(); !ok {
			return it.Err()
		}
	}
}

// Iter returns an iterator over the options in o.
func (o IPv6Options) Iter() IPv6OptionIter { return IPv6OptionIter{b: o} }

// IPv6Option is one option of a Hop-by-Hop or Destination Options header.
type IPv6Option struct {
	Type uint8
	// Data aliases the option's data bytes.
	Data []byte
	// Offset is where the option's type byte lies, from the start of the
	// options (so 2 bytes less than from the start of its header): the
	// basis of a Parameter Problem pointer (RFC 4443 §3.4).
	Offset int
}

// IPv6OptionIter walks IPv6 options. It skips Pad1 and PadN, stops at the
// first malformed option and never reads past its bytes.
type IPv6OptionIter struct {
	b   []byte
	off int
	err error
}

// Next returns the next option that is not padding, and false at the end or
// on a malformed option (then Err says which).
func (it *IPv6OptionIter) Next() (IPv6Option, bool) {
	for it.err == nil && it.off < len(it.b) {
		off := it.off
		typ := it.b[off]
		if typ == IPv6OptPad1 {
			it.off++
			continue
		}
		if off+2 > len(it.b) || off+2+int(it.b[off+1]) > len(it.b) {
			it.err = errIPv6OptTrunc
			break
		}
		end := off + 2 + int(it.b[off+1])
		it.off = end
		if typ == IPv6OptPadN {
			continue
		}
		return IPv6Option{Type: typ, Data: it.b[off+2 : end], Offset: off}, true
	}
	return IPv6Option{}, false
}

// Err returns the error that stopped the iteration, or nil.
func (it *IPv6OptionIter) Err() error { return it.err }

// IPv6OptionsFields is the value of a Hop-by-Hop or Destination Options
// header.
type IPv6OptionsFields struct {
	NextHeader uint8
	// Options are the raw TLV options. Parse aliases the parsed bytes,
	// padding included; Emit pads them with Pad1 or PadN to a multiple of 8.
	Options []byte
}

// Parse checks b and reads the header in it; it does not check the options.
func (f *IPv6OptionsFields) Parse(b []byte) error {
	h := IPv6ExtHeader(b)
	if err := h.Check(); err != nil {
		return err
	}
	*f = IPv6OptionsFields{NextHeader: h.NextHeader(), Options: h.Options()}
	return nil
}

// Len is the header length Emit writes: 2 bytes plus the options, padded to
// a multiple of 8 bytes.
func (f IPv6OptionsFields) Len() int { return (2 + len(f.Options) + 7) &^ 7 }

// Emit writes the header into b, which must hold at least Len bytes.
func (f IPv6OptionsFields) Emit(b []byte) {
	n := f.Len()
	h := IPv6ExtHeader(b[:n])
	h.SetNextHeader(f.NextHeader)
	h.SetHeaderLen(n)
	pad := h[2+copy(h[2:], f.Options):]
	// RFC 8200 §4.2: one byte of padding is Pad1, more is a PadN.
	switch len(pad) {
	case 0:
	case 1:
		pad[0] = IPv6OptPad1
	default:
		pad[0], pad[1] = IPv6OptPadN, byte(len(pad)-2)
		clear(pad[2:])
	}
}

// IPv6Routing is a view of an IPv6 Routing header (RFC 8200 §4.4).
type IPv6Routing []byte

// Check reports whether r holds the whole header its length field claims.
func (r IPv6Routing) Check() error { return IPv6ExtHeader(r).Check() }

// NextHeader returns the type of the header that follows.
func (r IPv6Routing) NextHeader() uint8 { return r[0] }

// HeaderLen returns the header length in bytes.
func (r IPv6Routing) HeaderLen() int { return IPv6ExtHeader(r).HeaderLen() }

// RoutingType returns the routing type.
func (r IPv6Routing) RoutingType() uint8 { return r[2] }

// SegmentsLeft returns how many route segments remain.
func (r IPv6Routing) SegmentsLeft() uint8 { return r[3] }

// Data returns the type-specific data after the first 4 bytes.
func (r IPv6Routing) Data() []byte { return r[4:r.HeaderLen()] }

// SetSegmentsLeft sets the segments left field.
func (r IPv6Routing) SetSegmentsLeft(n uint8) { r[3] = n }

// IPv6RoutingFields is the value of an IPv6 Routing header.
type IPv6RoutingFields struct {
	NextHeader   uint8
	RoutingType  uint8
	SegmentsLeft uint8
	// Data is the type-specific data; Emit pads it with zeros so that the
	// header is a multiple of 8 bytes.
	Data []byte
}

// Parse checks b and reads the Routing header in it.
func (f *IPv6RoutingFields) Parse(b []byte) error {
	r := IPv6Routing(b)
	if err := r.Check(); err != nil {
		return err
	}
	*f = IPv6RoutingFields{NextHeader: r.NextHeader(), RoutingType: r.RoutingType(),
		SegmentsLeft: r.SegmentsLeft(), Data: r.Data()}
	return nil
}

// Len is the header length Emit writes.
func (f IPv6RoutingFields) Len() int { return (4 + len(f.Data) + 7) &^ 7 }

// Emit writes the header into b, which must hold at least Len bytes.
func (f IPv6RoutingFields) Emit(b []byte) {
	n := f.Len()
	r := IPv6Routing(b[:n])
	IPv6ExtHeader(r).SetNextHeader(f.NextHeader)
	IPv6ExtHeader(r).SetHeaderLen(n)
	r[2], r[3] = f.RoutingType, f.SegmentsLeft
	clear(r[4+copy(r[4:], f.Data):])
}

// IPv6Fragment is a view of an IPv6 Fragment header (RFC 8200 §4.5).
type IPv6Fragment []byte

// Check reports whether f holds a whole Fragment header.
func (f IPv6Fragment) Check() error {
	if len(f) < IPv6FragmentHeaderLen {
		return errIPv6FragShort
	}
	return nil
}

// NextHeader returns the type of the first header of the fragmentable part.
func (f IPv6Fragment) NextHeader() uint8 { return f[0] }

// FragmentOffset returns the offset of the fragment's data in bytes (the
// field × 8).
func (f IPv6Fragment) FragmentOffset() int { return int(be16(f[2:4]) &^ 7) }

// MoreFragments returns the M flag.
func (f IPv6Fragment) MoreFragments() bool { return f[3]&1 != 0 }

// ID returns the identification.
func (f IPv6Fragment) ID() uint32 { return be32(f[4:8]) }

// SetNextHeader sets the next header type.
func (f IPv6Fragment) SetNextHeader(nh uint8) { f[0] = nh }

// SetFragment sets the offset in bytes (a multiple of 8; lower bits are
// dropped) and the M flag, and clears the reserved bits.
func (f IPv6Fragment) SetFragment(offset int, more bool) {
	v := uint16(offset) &^ 7
	if more {
		v |= 1
	}
	f[1] = 0
	put16be(f[2:4], v)
}

// SetID sets the identification.
func (f IPv6Fragment) SetID(id uint32) { put32be(f[4:8], id) }

// IPv6FragmentFields is the value of an IPv6 Fragment header.
type IPv6FragmentFields struct {
	NextHeader uint8
	Offset     int // in bytes, a multiple of 8
	More       bool
	ID         uint32
}

// Parse checks b and reads the Fragment header in it.
func (f *IPv6FragmentFields) Parse(b []byte) error {
	h := IPv6Fragment(b)
	if err := h.Check(); err != nil {
		return err
	}
	*f = IPv6FragmentFields{NextHeader: h.NextHeader(), Offset: h.FragmentOffset(),
		More: h.MoreFragments(), ID: h.ID()}
	return nil
}

// Len is IPv6FragmentHeaderLen.
func (f IPv6FragmentFields) Len() int { return IPv6FragmentHeaderLen }

// Emit writes the header into b, which must hold at least 8 bytes.
func (f IPv6FragmentFields) Emit(b []byte) {
	h := IPv6Fragment(b[:IPv6FragmentHeaderLen])
	h.SetNextHeader(f.NextHeader)
	h.SetFragment(f.Offset, f.More)
	h.SetID(f.ID)
}
