package offload

import (
	"bytes"
	"encoding/binary"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// MaxCoalesce is the largest IPv4 packet, or IPv6 payload, that Coalesce
// builds: what the IPv4 total length and IPv6 payload length fields can
// describe.
const MaxCoalesce = 65535

// Coalesce is software GRO: it merges runs of consecutive frames of frames
// that are in-order TCP segments of one flow into single large frames, and
// returns the new length of the batch, whose frames are compacted to the
// front of frames (the rest of the slice is cleared).
//
// Frames merge when they have the same Ethernet header and VLAN metadata,
// the same IP header apart from length, identification and checksum (IPv4
// without options, IPv6 without extension headers), the same ports,
// acknowledgment number, window and TCP options (so the same timestamp
// value), each starts where the previous one ended, and none has SYN, FIN,
// RST or URG. Every segment but the last carries the first one's payload
// size; PSH may be set only on the last and CWR only on the first, so that
// Segment gives back the same segments. A run stops before the merged IP
// packet would exceed maxSize bytes, or what its length field can describe
// (MaxCoalesce, plus the 40-byte header for IPv6) when maxSize is larger or
// not positive.
//
// Only frames whose checksums are known to be good merge: CsumVerified or
// CsumPartial (trusted, as virtio's NEEDS_CSUM), or CsumNone frames that
// VerifyChecksums finds good; such a CsumNone frame is marked with what
// VerifyChecksums found whether or not it merges, which spares the receiver
// checking it again.
//
// A merged frame is a new frame from alloc holding the first segment's
// headers with the IP length and checksum and the TCP checksum recomputed,
// the flags of the first and PSH of the last, and all the payloads; its GSO
// is GSOTCPv4 or GSOTCPv6 with GSOSize the first segment's payload size,
// Csum is CsumVerified, and the rest of its metadata is the first segment's.
// The frames merged into it are released. When alloc has no frame, the run
// is left as it was.
func Coalesce(frames []*backend.Frame, alloc Allocator, maxSize int) int {
	out := 0
	for i := 0; i < len(frames); {
		end := i + 1
		var first segInfo
		if first.parse(frames[i]) {
			end = first.run(frames, i, maxSize)
		}
		if end-i >= 2 && merge(frames, i, end, &first, alloc) {
			frames[out] = frames[i]
			out++
			i = end
			continue
		}
		for ; i < end; i++ {
			frames[out] = frames[i]
			out++
		}
	}
	clear(frames[out:])
	return out
}

// segInfo is what Coalesce needs to know of a TCP segment.
type segInfo struct {
	h       Headers
	hdr     [MaxHeaderLen]byte
	payload int
	seq     uint32
	flags   byte
}

// parse fills s from f and reports whether f could start or join a run.
func (s *segInfo) parse(f *backend.Frame) bool {
	if f == nil || f.GSO != backend.GSONone {
		return false
	}
	var scratch [MaxHeaderLen]byte
	b := headerBytes(f, &scratch)
	h, err := parseHeaders(b, f.Len())
	if err != nil || h.Proto != protoTCP || h.Fragment {
		return false
	}
	// Like Linux, leave packets with IPv4 options or IPv6 extension
	// headers alone: they are rare and their merging rules are not.
	if (h.IPVersion == 4 && h.L3Len != 20) || (h.IPVersion == 6 && h.L3Len != 40) {
		return false
	}
	l4 := h.L2Len + h.L3Len
	s.h = h
	s.payload = h.L2Len + h.IPLen - h.Len()
	s.seq = binary.BigEndian.Uint32(b[l4+4:])
	s.flags = b[l4+13]
	if s.payload == 0 || s.flags&(tcpSYN|tcpFIN|tcpRST|tcpURG) != 0 {
		return false
	}
	switch f.Csum {
	case backend.CsumVerified, backend.CsumPartial:
	case backend.CsumBad:
		return false
	default:
		f.Csum = VerifyChecksums(f)
		if f.Csum != backend.CsumVerified {
			return false
		}
	}
	copy(s.hdr[:], b[:h.Len()])
	return true
}

// run returns the end of the run of frames that starts at frames[i], whose
// segment s describes.
func (s *segInfo) run(frames []*backend.Frame, i, maxSize int) int {
	limit := MaxCoalesce
	if s.h.IPVersion == 6 {
		limit += 40
	}
	if maxSize > 0 && maxSize < limit {
		limit = maxSize
	}
	ipLen := s.h.IPLen
	prevSeq, prevPayload, prevFlags := s.seq, s.payload, s.flags
	var next segInfo
	j := i + 1
	for ; j < len(frames); j++ {
		// A short segment or a PSH ends the run: the sender had no more.
		if prevPayload != s.payload || prevFlags&tcpPSH != 0 {
			break
		}
		if !next.parse(frames[j]) || !s.joins(frames[i], &next, frames[j]) {
			break
		}
		if next.seq != prevSeq+uint32(prevPayload) || next.payload > s.payload ||
			next.flags&tcpCWR != 0 || ipLen+next.payload > limit {
			break
		}
		ipLen += next.payload
		prevSeq, prevPayload, prevFlags = next.seq, next.payload, next.flags
	}
	return j
}

// joins says whether segment n (of frame nf) belongs to the flow of s (of
// frame sf) with the same header fields.
func (s *segInfo) joins(sf *backend.Frame, n *segInfo, nf *backend.Frame) bool {
	h := &s.h
	if n.h.L2Len != h.L2Len || n.h.L3Len != h.L3Len || n.h.L4Len != h.L4Len ||
		sf.HasVLAN != nf.HasVLAN || sf.VLAN != nf.VLAN {
		return false
	}
	a, b := s.hdr[:h.Len()], n.hdr[:h.Len()]
	l3, l4 := h.L2Len, h.L2Len+h.L3Len
	if !bytes.Equal(a[:l3], b[:l3]) {
		return false
	}
	ipA, ipB := a[l3:l4], b[l3:l4]
	if h.IPVersion == 4 {
		// Everything but total length, identification and checksum.
		if ipA[0] != ipB[0] || ipA[1] != ipB[1] || !bytes.Equal(ipA[6:10], ipB[6:10]) ||
			!bytes.Equal(ipA[12:20], ipB[12:20]) {
			return false
		}
	} else if !bytes.Equal(ipA[:4], ipB[:4]) || !bytes.Equal(ipA[6:40], ipB[6:40]) {
		// Everything but the payload length.
		return false
	}
	tA, tB := a[l4:], b[l4:]
	// Ports, acknowledgment, data offset, window, urgent pointer and
	// options; the sequence number and flags were checked by the caller.
	return bytes.Equal(tA[0:4], tB[0:4]) && bytes.Equal(tA[8:13], tB[8:13]) &&
		tA[13]&^(tcpPSH|tcpCWR) == tB[13]&^(tcpPSH|tcpCWR) &&
		bytes.Equal(tA[14:16], tB[14:16]) && bytes.Equal(tA[18:], tB[18:])
}

// merge replaces frames[i:end] by one frame in frames[i], and reports
// whether it could.
func merge(frames []*backend.Frame, i, end int, s *segInfo, alloc Allocator) bool {
	h := &s.h
	hdrLen := h.Len()
	total := hdrLen
	for _, f := range frames[i:end] {
		total += payloadLen(f, hdrLen)
	}
	// The first frame's slot lends itself to the allocator, so that no
	// one-element slice has to be made.
	first := frames[i]
	if alloc.Alloc(frames[i:i+1], total) != 1 {
		frames[i] = first
		return false
	}
	m := frames[i]
	frames[i] = first
	if !m.SetLen(total) {
		backend.ReleaseOne(m)
		return false
	}

	hdr := s.hdr[:hdrLen]
	l3, l4 := h.L2Len, h.L2Len+h.L3Len
	ip, th := hdr[l3:l4], hdr[l4:]
	ipLen := total - h.L2Len
	var scratch [MaxHeaderLen]byte
	th[13] |= headerBytes(frames[end-1], &scratch)[l4+13] & tcpPSH
	if h.IPVersion == 4 {
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], wire.Checksum(ip, 0))
	} else {
		binary.BigEndian.PutUint16(ip[4:], uint16(ipLen-40))
	}
	th[16], th[17] = 0, 0
	m.CopyFrom(hdr, 0)
	off := hdrLen
	for _, f := range frames[i:end] {
		n := payloadLen(f, hdrLen)
		copyFrame(m, off, f, hdrLen, n)
		off += n
	}
	// A valid checksum keeps the merged frame self-consistent for a capture
	// of it or a stack that forwards it.
	src, dst := addresses(ip, h.IPVersion)
	l4Len := ipLen - h.L3Len
	acc := sumFrame(m, l4, l4Len, wire.PseudoHeaderSum(src, dst, protoTCP, l4Len))
	var sum [2]byte
	binary.BigEndian.PutUint16(sum[:], finish(acc, 16))
	m.CopyFrom(sum[:], l4+16)

	m.Meta = first.Meta
	m.Queue = first.Queue
	m.L2Len, m.L3Len, m.L4Len = uint16(h.L2Len), uint16(h.L3Len), uint16(h.L4Len)
	m.GSO, m.GSOSize = backend.GSOTCPv4, uint16(s.payload)
	if h.IPVersion == 6 {
		m.GSO = backend.GSOTCPv6
	}
	m.Csum, m.CsumStart, m.CsumOffset = backend.CsumVerified, 0, 0
	backend.Release(frames[i:end])
	frames[i] = m
	return true
}

// payloadLen is the TCP payload of a frame whose headers are hdrLen bytes
// long: up to the end of its IP packet, without link padding.
func payloadLen(f *backend.Frame, hdrLen int) int {
	var scratch [MaxHeaderLen]byte
	h, _ := parseHeaders(headerBytes(f, &scratch), f.Len())
	return h.L2Len + h.IPLen - hdrLen
}
