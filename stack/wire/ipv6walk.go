package wire

// MaxIPv6ExtHeaders bounds the extension headers WalkIPv6 walks. A chain
// that follows RFC 8200 §4.1 has at most five of the kinds it walks
// (Hop-by-Hop, Destination Options twice, Routing, Fragment).
const MaxIPv6ExtHeaders = 8

// IPv6Ext is one extension header a walk went through.
type IPv6Ext struct {
	Type   uint8 // IPProtoHopByHop, IPProtoRouting, IPProtoFragment or IPProtoDestOpts
	Offset int   // from the start of the IPv6 header
	Len    int   // in bytes
}

// IPv6FragmentInfo is what a Fragment header said.
type IPv6FragmentInfo struct {
	Offset int // of the fragment's data in the original payload, in bytes
	More   bool
	ID     uint32
	// HeaderOffset is where the Fragment header starts, from the start of
	// the IPv6 header: everything before it is the unfragmentable part
	// (RFC 8200 §4.5).
	HeaderOffset int
}

// IPv6Chain is what WalkIPv6 learned about a packet's header chain. Offsets
// count from the start of the IPv6 header, as ICMPv6 Parameter Problem
// pointers do (RFC 4443 §3.4).
type IPv6Chain struct {
	// Proto is the first next-header value the walk did not enter: the
	// upper-layer protocol (IPProtoTCP, IPProtoNoNextHeader, ...), or a
	// header the walk refuses to enter (see WalkIPv6).
	Proto uint8
	// Offset is where the header named by Proto starts.
	Offset int
	// ProtoPointer is the offset of the Next Header field that holds Proto.
	// When Proto is unknown to the stack it is the pointer of a Parameter
	// Problem, code 1 (RFC 8200 §4, RFC 4443 §3.4).
	ProtoPointer int

	// Ext lists the extension headers walked, in order; NumExt are used.
	Ext    [MaxIPv6ExtHeaders]IPv6Ext
	NumExt int

	// HasFragment reports a Fragment header; Fragment says what it held.
	HasFragment bool
	Fragment    IPv6FragmentInfo

	// HasRouting reports a Routing header. Its type and segments left are
	// here; it starts at RoutingOffset, so an unrecognised type with
	// segments left is a Parameter Problem, code 0, at RoutingOffset+2
	// (RFC 8200 §4.4).
	HasRouting    bool
	RoutingType   uint8
	SegmentsLeft  uint8
	RoutingOffset int
}

// WalkIPv6 checks ip and walks its extension headers: Hop-by-Hop Options,
// Routing, Fragment and Destination Options (RFC 8200 §4). It stops at the
// first other next-header value, which is the upper-layer protocol, and
// within the payload length, so it never reads padding, never loops more
// than MaxIPv6ExtHeaders times, and never panics.
//
// It does not enter, and reports as Proto so that the stack answers as for
// an unrecognised next header:
//   - a Hop-by-Hop header anywhere but first (RFC 8200 §4.3 allows it only
//     right after the IPv6 header);
//   - a second Fragment header;
//   - AH, ESP and any other protocol.
//
// After a Fragment header with a non-zero offset the rest is fragment data,
// not headers: the walk stops there with Proto the fragment's next header
// and Offset its data. After one with offset zero it goes on, since the first
// fragment must hold the whole header chain (RFC 8200 §4.5, RFC 7112).
//
// On error the chain holds what was walked before the failing header.
func WalkIPv6(ip IPv6) (IPv6Chain, error) {
	var c IPv6Chain
	if err := ip.Check(); err != nil {
		return c, err
	}
	end := IPv6HeaderLen + int(ip.PayloadLen())
	nh, ptr, off := ip.NextHeader(), 6, IPv6HeaderLen
	for {
		c.Proto, c.Offset, c.ProtoPointer = nh, off, ptr
		switch nh {
		case IPProtoHopByHop:
			if off != IPv6HeaderLen {
				return c, nil
			}
		case IPProtoFragment:
			if c.HasFragment {
				return c, nil
			}
		case IPProtoRouting, IPProtoDestOpts:
		default:
			return c, nil
		}
		if c.NumExt == MaxIPv6ExtHeaders {
			return c, errIPv6ExtMany
		}
		hl := IPv6FragmentHeaderLen
		if nh != IPProtoFragment {
			if off+2 > end {
				return c, errIPv6ExtShort
			}
			hl = (int(ip[off+1]) + 1) * 8
		}
		if off+hl > end {
			return c, errIPv6ExtShort
		}
		switch nh {
		case IPProtoRouting:
			c.HasRouting, c.RoutingType, c.SegmentsLeft, c.RoutingOffset = true, ip[off+2], ip[off+3], off
		case IPProtoFragment:
			f := IPv6Fragment(ip[off : off+hl])
			c.HasFragment = true
			c.Fragment = IPv6FragmentInfo{Offset: f.FragmentOffset(), More: f.MoreFragments(), ID: f.ID(), HeaderOffset: off}
		}
		c.Ext[c.NumExt] = IPv6Ext{Type: nh, Offset: off, Len: hl}
		c.NumExt++
		nh, ptr, off = ip[off], off, off+hl
		if c.HasFragment && c.Fragment.HeaderOffset == ptr && c.Fragment.Offset != 0 {
			// A later fragment: what follows is data, whatever its type.
			c.Proto, c.Offset, c.ProtoPointer = nh, off, ptr
			return c, nil
		}
	}
}
