package tap

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

// vnetHdrLen is the size of the virtio-net header in front of every frame
// on the fast path. We use struct virtio_net_hdr_v1 of virtio 1.0 (§5.1.6):
// the 10-byte legacy header plus num_buffers, which TAP neither reads nor
// writes. With TUNSETVNETLE its fields are little-endian on every host,
// where the legacy header's follow the host's byte order.
const vnetHdrLen = 12

// vnetHdr is a decoded virtio_net_hdr_v1.
type vnetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16 // bytes of headers (Ethernet to TCP) of a GSO frame
	gsoSize    uint16
	csumStart  uint16
	csumOffset uint16
}

func (h *vnetHdr) decode(b []byte) {
	_ = b[vnetHdrLen-1]
	h.flags = b[0]
	h.gsoType = b[1]
	h.hdrLen = binary.LittleEndian.Uint16(b[2:])
	h.gsoSize = binary.LittleEndian.Uint16(b[4:])
	h.csumStart = binary.LittleEndian.Uint16(b[6:])
	h.csumOffset = binary.LittleEndian.Uint16(b[8:])
}

func (h *vnetHdr) encode(b []byte) {
	_ = b[vnetHdrLen-1]
	b[0] = h.flags
	b[1] = h.gsoType
	binary.LittleEndian.PutUint16(b[2:], h.hdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.gsoSize)
	binary.LittleEndian.PutUint16(b[6:], h.csumStart)
	binary.LittleEndian.PutUint16(b[8:], h.csumOffset)
	binary.LittleEndian.PutUint16(b[10:], 0) // num_buffers
}

// toMeta records what the kernel said of a received frame. NEEDS_CSUM is a
// frame the host made and never summed (CHECKSUM_PARTIAL): its checksum
// field holds the pseudo-header sum, which is CsumPartial's contract, and
// the receiver trusts it. DATA_VALID is a frame whose checksums the kernel
// checked (CHECKSUM_UNNECESSARY).
func (h *vnetHdr) toMeta(m *backend.Meta) {
	switch {
	case h.flags&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0:
		m.Csum = backend.CsumPartial
		m.CsumStart = h.csumStart
		m.CsumOffset = h.csumOffset
	case h.flags&unix.VIRTIO_NET_HDR_F_DATA_VALID != 0:
		m.Csum = backend.CsumVerified
	}
	switch h.gsoType &^ unix.VIRTIO_NET_HDR_GSO_ECN {
	case unix.VIRTIO_NET_HDR_GSO_TCPV4:
		m.GSO = backend.GSOTCPv4
	case unix.VIRTIO_NET_HDR_GSO_TCPV6:
		m.GSO = backend.GSOTCPv6
	case unix.VIRTIO_NET_HDR_GSO_UDP_L4:
		m.GSO = backend.GSOUDP
	default:
		return
	}
	m.GSOSize = h.gsoSize
}

// tcpCWR is the TCP header's CWR flag (RFC 3168 §6.1).
const tcpCWR = 0x80

// fromFrame describes f for the kernel. It reports false for what the
// kernel should not be handed: GSO that is not TCP with a partial checksum
// (the kernel needs the checksum state to segment, and we do not offer
// USO), which the caller segments in software instead.
func (h *vnetHdr) fromFrame(f *backend.Frame) bool {
	*h = vnetHdr{}
	if f.Csum == backend.CsumPartial {
		h.flags = unix.VIRTIO_NET_HDR_F_NEEDS_CSUM
		h.csumStart = f.CsumStart
		h.csumOffset = f.CsumOffset
	}
	if f.GSO == backend.GSONone {
		return true
	}
	if f.Csum != backend.CsumPartial || f.GSOSize == 0 {
		return false
	}
	switch f.GSO {
	case backend.GSOTCPv4:
		h.gsoType = unix.VIRTIO_NET_HDR_GSO_TCPV4
	case backend.GSOTCPv6:
		h.gsoType = unix.VIRTIO_NET_HDR_GSO_TCPV6
	default:
		return false
	}
	// The TCP header starts at CsumStart; its data offset gives its length
	// when the stack left L4Len zero.
	tcp := int(f.CsumStart)
	head := f.Bytes()
	if tcp+14 > len(head) {
		return false
	}
	l4 := int(f.L4Len)
	if l4 == 0 {
		l4 = int(head[tcp+12]>>4) * 4
	}
	h.hdrLen = uint16(tcp + l4)
	h.gsoSize = f.GSOSize
	// Segments after the first must not repeat CWR; the kernel clears it
	// only when told the frame uses ECN (SKB_GSO_TCP_ECN).
	if head[tcp+13]&tcpCWR != 0 {
		h.gsoType |= unix.VIRTIO_NET_HDR_GSO_ECN
	}
	return true
}
