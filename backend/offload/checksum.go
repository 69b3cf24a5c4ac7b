package offload

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

var errPartial = fmt.Errorf("%w: partial checksum field outside the frame", ErrMalformed)

// CompleteChecksum completes the transport checksum of a frame whose Csum is
// backend.CsumPartial, as a device with TX checksum offload would: it sums
// the frame from CsumStart to its end, over the whole chain, with the
// pseudo-header sum the field at CsumStart+CsumOffset holds (see the package
// documentation), stores the complement there and sets Csum to
// backend.CsumNone. A zero result is stored as 0 but in a UDP header (see
// finish).
//
// Frames in any other state are left alone. A field that does not fit in
// the frame, or an odd CsumOffset, is an error wrapping ErrMalformed and the
// frame is left unchanged.
func CompleteChecksum(f *backend.Frame) error {
	if f.Csum != backend.CsumPartial {
		return nil
	}
	start, field := int(f.CsumStart), int(f.CsumStart)+int(f.CsumOffset)
	if f.CsumOffset&1 != 0 || field+2 > f.Len() {
		return errPartial
	}
	var sum [2]byte
	binary.BigEndian.PutUint16(sum[:], finish(sumFrame(f, start, f.Len()-start, 0), int(f.CsumOffset)))
	f.CopyFrom(sum[:], field)
	f.Csum = backend.CsumNone
	return nil
}

// CompleteChecksumBytes is CompleteChecksum for a linear copy b of a frame
// whose Meta said CsumPartial with start and offset: a capture completes the
// checksum in its copy, leaving the frame as it is.
func CompleteChecksumBytes(b []byte, start, offset int) error {
	field := start + offset
	if start < 0 || offset < 0 || offset&1 != 0 || field+2 > len(b) {
		return errPartial
	}
	binary.BigEndian.PutUint16(b[field:], finish(wire.Sum(b[start:], 0), offset))
	return nil
}

// udpCsumOffset is where the checksum field is in a UDP header.
const udpCsumOffset = 6

// finish turns a sum that includes the pseudo-header into the value to
// store in the checksum field at csumOff of the transport header. A zero
// result becomes 0xffff, its ones'-complement twin, in a UDP header only,
// where zero means "no checksum" (RFC 768, RFC 8200 §8.1). TCP and ICMP
// keep 0x0000: the sum of data that is not all zeros is never +0, so its
// complement is never 0xffff (RFC 1624 §3), and checkers such as
// Wireshark's flag a 0xffff there.
func finish(acc uint64, csumOff int) uint16 {
	c := ^wire.Fold(acc)
	if c == 0 && csumOff == udpCsumOffset {
		return 0xffff
	}
	return c
}

// sumFrame adds n bytes of f from offset off to acc, as one run of data
// starting at an even offset. Buffers of odd length shift the byte pairing
// of the rest of the chain, which wire.SumAt undoes.
func sumFrame(f *backend.Frame, off, n int, acc uint64) uint64 {
	odd := false
	for b := f; b != nil && n > 0; b = b.Next() {
		p := b.Bytes()
		if off >= len(p) {
			off -= len(p)
			continue
		}
		p = p[off:]
		off = 0
		if len(p) > n {
			p = p[:n]
		}
		acc = wire.SumAt(p, acc, odd)
		if len(p)&1 == 1 {
			odd = !odd
		}
		n -= len(p)
	}
	return acc
}

// tcpCsumOffset is where the checksum field is in a TCP header.
const tcpCsumOffset = 16

// MarkPartial recognises a received frame whose sender left its TCP or UDP
// checksum to a NIC (Linux's CHECKSUM_PARTIAL): its checksum field holds
// the folded sum of the pseudo-header alone. Such frames reach whoever
// reads a sender's packets before any NIC has: a capture taken on the
// sending host or on a veth, a packet socket or libpcap on a veth (DPDK's
// net_af_packet and net_pcap). MarkPartial sets Csum to CsumPartial, with
// CsumStart and CsumOffset, so that the receiver trusts the checksum as the
// kernel's own receivers do, and reports true.
//
// Frames whose Csum is not CsumNone are left alone, and so are fragments,
// other protocols, IPv4 headers whose own checksum is wrong, and checksums
// that verify or are merely wrong (one in 65,536 wrong ones would match).
func MarkPartial(f *backend.Frame) bool {
	if f.Csum != backend.CsumNone {
		return false
	}
	var scratch [MaxHeaderLen]byte
	b := headerBytes(f, &scratch)
	h, err := parseHeaders(b, f.Len())
	if err != nil || h.IPVersion == 0 || h.Fragment {
		return false
	}
	var field int
	switch h.Proto {
	case protoTCP:
		field = tcpCsumOffset
	case protoUDP:
		field = udpCsumOffset
	default:
		return false
	}
	ip := b[h.L2Len : h.L2Len+h.L3Len]
	if h.IPVersion == 4 && wire.Checksum(ip, 0) != 0 {
		return false
	}
	src, dst := addresses(ip, h.IPVersion)
	start, n := h.L2Len+h.L3Len, h.IPLen-h.L3Len
	pseudo := wire.PseudoHeaderSum(src, dst, h.Proto, n)
	if binary.BigEndian.Uint16(b[start+field:]) != wire.Fold(pseudo) || wire.Fold(sumFrame(f, start, n, pseudo)) == 0xffff {
		return false
	}
	f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, uint16(start), uint16(field)
	return true
}

// VerifyChecksums checks in software what a device with RX checksum offload
// checks: the IPv4 header checksum and the TCP, UDP, ICMP or ICMPv6 checksum.
// It reads the bytes whatever f.Csum says and does not change f.
//
// It returns backend.CsumVerified when every checksum it knows is good,
// backend.CsumBad when one is wrong or the headers are malformed (a length
// that runs past the frame, as after truncation), and backend.CsumNone when
// there is no checksum it can check: frames that are not IP, other
// protocols, fragments, and headers it does not support. A UDP datagram over
// IPv4 with a zero checksum has none to check and is verified if its IPv4
// header is good; over IPv6 a zero checksum is bad (RFC 8200 §8.1).
//
// A frame whose Csum is CsumPartial holds only the pseudo-header sum in its
// transport checksum field, so it reads as bad here: a receiver trusts such
// a frame as it is (virtio's NEEDS_CSUM), or completes it first.
func VerifyChecksums(f *backend.Frame) backend.CsumState {
	var scratch [MaxHeaderLen]byte
	b := headerBytes(f, &scratch)
	h, err := parseHeaders(b, f.Len())
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return backend.CsumNone
		}
		return backend.CsumBad
	}
	if h.IPVersion == 0 {
		return backend.CsumNone
	}
	ip := b[h.L2Len : h.L2Len+h.L3Len]
	if h.IPVersion == 4 && wire.Checksum(ip, 0) != 0 {
		return backend.CsumBad
	}
	if h.Fragment {
		return backend.CsumNone
	}
	src, dst := addresses(ip, h.IPVersion)
	off, n := h.L2Len+h.L3Len, h.IPLen-h.L3Len
	var acc uint64
	switch {
	case h.Proto == protoTCP:
		acc = wire.PseudoHeaderSum(src, dst, protoTCP, n)
	case h.Proto == protoUDP:
		if binary.BigEndian.Uint16(b[off+6:]) == 0 {
			if h.IPVersion == 4 {
				return backend.CsumVerified
			}
			return backend.CsumBad
		}
		// The UDP length, not the IP length, bounds the datagram.
		n = int(binary.BigEndian.Uint16(b[off+4:]))
		acc = wire.PseudoHeaderSum(src, dst, protoUDP, n)
	case h.Proto == protoICMP && h.IPVersion == 4:
		// ICMPv4 has no pseudo-header (RFC 792).
	case h.Proto == protoICMPv6 && h.IPVersion == 6:
		acc = wire.PseudoHeaderSum(src, dst, protoICMPv6, n)
	default:
		return backend.CsumNone
	}
	if wire.Fold(sumFrame(f, off, n, acc)) != 0xffff {
		return backend.CsumBad
	}
	return backend.CsumVerified
}
