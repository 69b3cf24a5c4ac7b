package offload

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ustack/ustack/backend"
)

// MaxHeaderLen bounds the headers this package reads: an Ethernet header with
// two VLAN tags, an IPv4 header with options or an IPv6 header with a few
// extension headers, and a TCP header with options. A frame whose headers run
// longer is unsupported, not malformed.
const MaxHeaderLen = 256

// Errors the functions of this package return, wrapped with details; test
// them with errors.Is.
var (
	// ErrMalformed: the frame's headers contradict each other or the
	// frame's length. A receiver would drop it.
	ErrMalformed = errors.New("offload: malformed frame")
	// ErrUnsupported: the frame may be valid but uses something this
	// package does not handle (long header chains, IPv6 routing headers
	// with segments left, fragments where a whole packet is needed).
	ErrUnsupported = errors.New("offload: unsupported frame")
	// ErrNoBuffers: the allocator could not supply the frames needed.
	ErrNoBuffers = errors.New("offload: out of buffers")
)

// The details are made once so that a malformed frame on a hot path costs no
// allocation.
var (
	errShortEthernet = fmt.Errorf("%w: shorter than an Ethernet header", ErrMalformed)
	errIPv4Header    = fmt.Errorf("%w: bad IPv4 header", ErrMalformed)
	errIPv4Length    = fmt.Errorf("%w: IPv4 total length exceeds the frame", ErrMalformed)
	errIPv6Header    = fmt.Errorf("%w: bad IPv6 header", ErrMalformed)
	errIPv6Length    = fmt.Errorf("%w: IPv6 payload length exceeds the frame", ErrMalformed)
	errExtHeader     = fmt.Errorf("%w: IPv6 extension header exceeds the packet", ErrMalformed)
	errTCPHeader     = fmt.Errorf("%w: bad TCP header", ErrMalformed)
	errUDPHeader     = fmt.Errorf("%w: bad UDP header", ErrMalformed)
	errExtChain      = fmt.Errorf("%w: more than %d IPv6 extension headers", ErrUnsupported, maxExtHeaders)
	errRouting       = fmt.Errorf("%w: IPv6 routing header with segments left", ErrUnsupported)
	errTooLong       = fmt.Errorf("%w: headers longer than %d bytes", ErrUnsupported, MaxHeaderLen)
)

const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherVLAN = 0x8100
	etherQinQ = 0x88a8

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58

	// IPv6 extension headers we walk (RFC 8200 §4).
	extHopByHop = 0
	extRouting  = 43
	extFragment = 44
	extDestOpts = 60

	maxExtHeaders = 4

	// TCP flags (RFC 9293 §3.1, RFC 3168 §6.1).
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpURG = 0x20
	tcpCWR = 0x80
)

// Headers locates the headers of an Ethernet frame.
type Headers struct {
	// L2Len is the Ethernet header with any 802.1Q and 802.1ad tags.
	L2Len int
	// L3Len is the IP header with IPv4 options or IPv6 extension headers;
	// 0 when the frame is not IP.
	L3Len int
	// L4Len is the TCP header with options or the 8-byte UDP header; 0 for
	// other protocols and for fragments.
	L4Len int
	// IPVersion is 4 or 6, or 0 when the frame is not IP.
	IPVersion uint8
	// Proto is the transport protocol: IPv4's protocol field or the next
	// header after the IPv6 extension headers.
	Proto uint8
	// IPLen is the IP packet's length as its header states it (IPv4 total
	// length, or 40 plus the IPv6 payload length). Frame bytes past
	// L2Len+IPLen are link padding.
	IPLen int
	// Fragment: the packet is an IPv4 fragment or carries an IPv6
	// fragment header; its transport header is not parsed.
	Fragment bool
}

// Len is the length of all the headers: where the transport payload starts.
func (h *Headers) Len() int { return h.L2Len + h.L3Len + h.L4Len }

// ParseHeaders locates the headers of f. A frame that is not IPv4 or IPv6
// has only L2Len set and no error. Lengths are checked against each other
// and against f.Len(), so that the offsets returned are inside the frame.
func ParseHeaders(f *backend.Frame) (Headers, error) {
	var scratch [MaxHeaderLen]byte
	return parseHeaders(headerBytes(f, &scratch), f.Len())
}

// headerBytes returns the first MaxHeaderLen bytes of f (fewer when f is
// shorter): the head buffer itself when it holds them, as it nearly always
// does, or a copy in scratch when the chain splits them.
func headerBytes(f *backend.Frame, scratch *[MaxHeaderLen]byte) []byte {
	n := min(f.Len(), MaxHeaderLen)
	if head := f.Bytes(); len(head) >= n {
		return head[:n]
	}
	return scratch[:f.CopyTo(scratch[:n], 0)]
}

// parseHeaders parses the headers in b, the first bytes of a frame of total
// bytes.
func parseHeaders(b []byte, total int) (Headers, error) {
	var h Headers
	if len(b) < 14 {
		return h, errShortEthernet
	}
	et := binary.BigEndian.Uint16(b[12:])
	off := 14
	for tags := 0; tags < 2 && (et == etherVLAN || et == etherQinQ); tags++ {
		if len(b) < off+4 {
			return h, errShortEthernet
		}
		et = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	h.L2Len = off
	var err error
	switch et {
	case etherIPv4:
		err = h.parseIPv4(b, total)
	case etherIPv6:
		err = h.parseIPv6(b, total)
	default:
		return h, nil
	}
	if err != nil || h.Fragment {
		return h, err
	}
	return h, h.parseL4(b)
}

func (h *Headers) parseIPv4(b []byte, total int) error {
	ip := b[h.L2Len:]
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return errIPv4Header
	}
	ihl := int(ip[0]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || len(ip) < ihl || tl < ihl {
		return errIPv4Header
	}
	if h.L2Len+tl > total {
		return errIPv4Length
	}
	h.IPVersion, h.L3Len, h.IPLen, h.Proto = 4, ihl, tl, ip[9]
	// More fragments, or a fragment offset (RFC 791 §3.1).
	h.Fragment = binary.BigEndian.Uint16(ip[6:])&0x3fff != 0
	return nil
}

func (h *Headers) parseIPv6(b []byte, total int) error {
	ip := b[h.L2Len:]
	if len(ip) < 40 || ip[0]>>4 != 6 {
		return errIPv6Header
	}
	h.IPLen = 40 + int(binary.BigEndian.Uint16(ip[4:]))
	if h.L2Len+h.IPLen > total {
		return errIPv6Length
	}
	h.IPVersion = 6
	nh, p := ip[6], 40
	for ext := 0; ; ext++ {
		var l int
		switch nh {
		case extHopByHop, extRouting, extDestOpts:
			// Every extension header is at least 8 bytes long.
			if p+8 > h.IPLen {
				return errExtHeader
			}
			if p+8 > len(ip) {
				return errTooLong
			}
			l = (int(ip[p+1]) + 1) * 8
			// RFC 8200 §8.1: with segments left, the pseudo-header
			// carries the final destination, which we do not look for.
			if nh == extRouting && ip[p+3] != 0 {
				return errRouting
			}
		case extFragment:
			l = 8
			// Even an atomic fragment (offset 0, M clear) is left to the
			// reassembler: a segment must not carry a fragment header.
			h.Fragment = true
		default:
			h.L3Len, h.Proto = p, nh
			return nil
		}
		if ext == maxExtHeaders {
			return errExtChain
		}
		if p+l > h.IPLen {
			return errExtHeader
		}
		if p+l > len(ip) {
			return errTooLong
		}
		nh, p = ip[p], p+l
		if h.Fragment {
			h.L3Len, h.Proto = p, nh
			return nil
		}
	}
}

func (h *Headers) parseL4(b []byte) error {
	off := h.L2Len + h.L3Len
	rem := h.IPLen - h.L3Len
	switch h.Proto {
	case protoTCP:
		if rem < 20 {
			return errTCPHeader
		}
		if len(b) < off+20 {
			return errTooLong
		}
		doff := int(b[off+12]>>4) * 4
		if doff < 20 || doff > rem {
			return errTCPHeader
		}
		if len(b) < off+doff {
			return errTooLong
		}
		h.L4Len = doff
	case protoUDP:
		if rem < 8 {
			return errUDPHeader
		}
		if len(b) < off+8 {
			return errTooLong
		}
		if ul := int(binary.BigEndian.Uint16(b[off+4:])); ul < 8 || ul > rem {
			return errUDPHeader
		}
		h.L4Len = 8
	}
	return nil
}

// addresses returns the source and destination addresses of the IP header
// ip (4 or 16 bytes each), for the pseudo-header.
func addresses(ip []byte, version uint8) (src, dst []byte) {
	if version == 4 {
		return ip[12:16], ip[16:20]
	}
	return ip[8:24], ip[24:40]
}
