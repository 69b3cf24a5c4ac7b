package offload

import (
	"encoding/binary"
	"fmt"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// Allocator supplies new frames: it fills frames with frames able to hold
// size bytes each and returns how many it could. backend.Pool is one;
// BackendAllocator adapts a backend's queue.
type Allocator interface {
	Alloc(frames []*backend.Frame, size int) int
}

// BackendAllocator allocates from one queue of a backend. Keep one per queue
// and pass its address: converting a pointer to an Allocator costs nothing,
// where a struct value would be copied to the heap on every call.
type BackendAllocator struct {
	Backend backend.Backend
	Queue   int
}

// Alloc implements Allocator.
func (a *BackendAllocator) Alloc(frames []*backend.Frame, size int) int {
	return a.Backend.Alloc(a.Queue, frames, size)
}

// SegmentOptions tune Segment.
type SegmentOptions struct {
	// KeepPartial leaves each segment's transport checksum for the device:
	// the field holds the segment's pseudo-header sum and Csum is
	// CsumPartial. By default the checksum is computed in full and Csum is
	// CsumNone.
	KeepPartial bool
}

var (
	errNotGSO   = fmt.Errorf("%w: frame is not marked for segmentation", ErrMalformed)
	errGSOSize  = fmt.Errorf("%w: GSO segment size is zero", ErrMalformed)
	errGSOType  = fmt.Errorf("%w: headers do not match the GSO type", ErrMalformed)
	errGSOFrag  = fmt.Errorf("%w: GSO frame is an IP fragment", ErrMalformed)
	errGSOFlags = fmt.Errorf("%w: GSO frame has SYN, RST or URG set", ErrUnsupported)
)

// SegmentCount is how many frames Segment makes of f: its payload divided
// into GSOSize pieces, or one when it has no payload.
func SegmentCount(f *backend.Frame) (int, error) {
	var scratch [MaxHeaderLen]byte
	b := headerBytes(f, &scratch)
	h, err := gsoHeaders(f, b)
	if err != nil {
		return 0, err
	}
	return segments(&h, int(f.GSOSize)), nil
}

func segments(h *Headers, mss int) int {
	payload := h.L2Len + h.IPLen - h.Len()
	return max(1, (payload+mss-1)/mss)
}

// gsoHeaders parses the headers of a GSO frame and checks them against its
// metadata.
func gsoHeaders(f *backend.Frame, b []byte) (Headers, error) {
	h, err := parseHeaders(b, f.Len())
	if err != nil {
		return h, err
	}
	if f.GSOSize == 0 {
		return h, errGSOSize
	}
	if h.Fragment {
		return h, errGSOFrag
	}
	switch f.GSO {
	case backend.GSOTCPv4:
		if h.IPVersion != 4 || h.Proto != protoTCP {
			return h, errGSOType
		}
	case backend.GSOTCPv6:
		if h.IPVersion != 6 || h.Proto != protoTCP {
			return h, errGSOType
		}
	case backend.GSOUDP:
		if h.IPVersion == 0 || h.Proto != protoUDP {
			return h, errGSOType
		}
	default:
		return h, errNotGSO
	}
	if h.Proto == protoTCP && b[h.L2Len+h.L3Len+13]&(tcpSYN|tcpRST|tcpURG) != 0 {
		return h, errGSOFlags
	}
	// Lengths the sender filled in must agree with the headers; zero
	// means it left them to us.
	if (f.L2Len != 0 && int(f.L2Len) != h.L2Len) ||
		(f.L3Len != 0 && int(f.L3Len) != h.L3Len) ||
		(f.L4Len != 0 && int(f.L4Len) != h.L4Len) {
		return h, fmt.Errorf("%w: metadata says header lengths %d/%d/%d, headers say %d/%d/%d",
			ErrMalformed, f.L2Len, f.L3Len, f.L4Len, h.L2Len, h.L3Len, h.L4Len)
	}
	return h, nil
}

// Segment cuts a GSO frame (GSO is GSOTCPv4, GSOTCPv6 or GSOUDP) into
// frames of at most GSOSize payload bytes each, as TSO or USO hardware does,
// writes them to the front of dst and returns how many. The frames come from
// alloc; the caller keeps f and owns the new frames.
//
// Each segment carries a copy of f's headers with IPv4 total length,
// identification (f's plus the segment's index) and header checksum, or the
// IPv6 payload length, rewritten; TCP segments advance the sequence number,
// keep FIN and PSH only on the last segment and CWR only on the first (RFC
// 3168 §6.1.2); UDP segments get their own length. The transport checksum
// is computed in full unless opt.KeepPartial. Metadata is f's with GSO
// cleared and header lengths filled in.
//
// Header lengths in f's metadata are checked when set and parsed otherwise:
// Ethernet with up to two VLAN tags, IPv4 with options, IPv6 with
// hop-by-hop, routing (no segments left) and destination options headers.
// A frame that does not parse or does not match its GSO type is an error
// wrapping ErrMalformed or ErrUnsupported; dst shorter than SegmentCount(f)
// is an error; allocation failure is ErrNoBuffers. On error no frames are
// left in dst.
func Segment(dst []*backend.Frame, f *backend.Frame, alloc Allocator, opt SegmentOptions) (int, error) {
	var scratch [MaxHeaderLen]byte
	b := headerBytes(f, &scratch)
	h, err := gsoHeaders(f, b)
	if err != nil {
		return 0, err
	}
	mss := int(f.GSOSize)
	hdrLen := h.Len()
	payload := h.L2Len + h.IPLen - hdrLen
	n := segments(&h, mss)
	if n > len(dst) {
		return 0, fmt.Errorf("offload: %d segments do not fit in %d frames", n, len(dst))
	}
	if got := alloc.Alloc(dst[:n], hdrLen+min(mss, payload)); got < n {
		backend.Release(dst[:got])
		return 0, ErrNoBuffers
	}

	l3, l4 := h.L2Len, h.L2Len+h.L3Len
	csumOff := udpCsumOffset
	if h.Proto == protoTCP {
		csumOff = 16
	}
	// tmpl keeps f's headers; hdr is the one being rewritten for a segment.
	var tmpl, hdr [MaxHeaderLen]byte
	copy(tmpl[:], b[:hdrLen])
	id := binary.BigEndian.Uint16(tmpl[l3+4:])
	seq := binary.BigEndian.Uint32(tmpl[l4+4:])
	for i := range n {
		s := dst[i]
		pl := min(mss, payload-i*mss)
		if !s.SetLen(hdrLen + pl) {
			backend.Release(dst[:n])
			return 0, ErrNoBuffers
		}
		copy(hdr[:hdrLen], tmpl[:hdrLen])
		ip := hdr[l3:l4]
		if h.IPVersion == 4 {
			binary.BigEndian.PutUint16(ip[2:], uint16(h.L3Len+h.L4Len+pl))
			binary.BigEndian.PutUint16(ip[4:], id+uint16(i))
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:], wire.Checksum(ip, 0))
		} else {
			binary.BigEndian.PutUint16(ip[4:], uint16(h.L3Len-40+h.L4Len+pl))
		}
		th := hdr[l4:hdrLen]
		if h.Proto == protoTCP {
			binary.BigEndian.PutUint32(th[4:], seq+uint32(i*mss))
			if i > 0 {
				th[13] &^= tcpCWR
			}
			if i < n-1 {
				th[13] &^= tcpFIN | tcpPSH
			}
		} else {
			binary.BigEndian.PutUint16(th[4:], uint16(8+pl))
		}
		src, dstAddr := addresses(ip, h.IPVersion)
		pseudo := wire.PseudoHeaderSum(src, dstAddr, h.Proto, h.L4Len+pl)
		if opt.KeepPartial {
			binary.BigEndian.PutUint16(th[csumOff:], wire.Fold(pseudo))
		} else {
			th[csumOff], th[csumOff+1] = 0, 0
		}
		s.CopyFrom(hdr[:hdrLen], 0)
		copyFrame(s, hdrLen, f, hdrLen+i*mss, pl)

		s.Meta = f.Meta
		s.Queue = f.Queue
		s.GSO, s.GSOSize = backend.GSONone, 0
		s.L2Len, s.L3Len, s.L4Len = uint16(h.L2Len), uint16(h.L3Len), uint16(h.L4Len)
		if opt.KeepPartial {
			s.Csum, s.CsumStart, s.CsumOffset = backend.CsumPartial, uint16(l4), uint16(csumOff)
			continue
		}
		// The transport header is of even length, so the payload's sum
		// starts at an even offset of the transport data.
		acc := sumFrame(s, hdrLen, pl, wire.Sum(th, pseudo))
		var sum [2]byte
		binary.BigEndian.PutUint16(sum[:], finish(acc, csumOff))
		s.CopyFrom(sum[:], l4+csumOff)
		s.Csum, s.CsumStart, s.CsumOffset = backend.CsumNone, 0, 0
	}
	return n, nil
}

// copyFrame copies n bytes of src from srcOff into dst at dstOff, buffer by
// buffer of src.
func copyFrame(dst *backend.Frame, dstOff int, src *backend.Frame, srcOff, n int) {
	for b := src; b != nil && n > 0; b = b.Next() {
		p := b.Bytes()
		if srcOff >= len(p) {
			srcOff -= len(p)
			continue
		}
		p = p[srcOff:]
		srcOff = 0
		if len(p) > n {
			p = p[:n]
		}
		dst.CopyFrom(p, dstOff)
		dstOff += len(p)
		n -= len(p)
	}
}
