package pcapsim

import (
	"encoding/binary"

	"github.com/ustack/ustack/stack/wire"
)

// offloadedChecksum reports whether frame, an Ethernet frame (VLAN tags
// and all), is a TCP or UDP packet whose sender left its checksum to the
// NIC (Linux's CHECKSUM_PARTIAL): the checksum field holds the sum of the
// pseudo-header alone, not the checksum. A capture on the sending host records its
// packets so, and a capture on a veth records both ways so, because the
// packets never met a NIC; Wireshark does not check these checksums by
// default for that reason. A frame with a checksum that is merely wrong
// does not match (one in 65,536 would). It returns where the sum starts in
// the frame and the checksum's offset from there, as backend.Meta's
// CsumStart and CsumOffset.
func offloadedChecksum(frame []byte) (start, offset uint16, ok bool) {
	et, ip, _, ok := untag(frame)
	if !ok {
		return 0, 0, false
	}
	var src, dst, l4 []byte
	var proto uint8
	var l4off int
	switch et {
	case etherTypeIPv4:
		if len(ip) < wire.IPv4HeaderLen || ip[0]>>4 != 4 {
			return 0, 0, false
		}
		hl, total := int(ip[0]&0xf)*4, int(binary.BigEndian.Uint16(ip[2:]))
		// A fragment's checksum was computed before fragmenting.
		if hl < wire.IPv4HeaderLen || total < hl || total > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return 0, 0, false
		}
		src, dst, proto, l4, l4off = ip[12:16], ip[16:20], ip[9], ip[hl:total], hl
	case etherTypeIPv6:
		if len(ip) < wire.IPv6HeaderLen || ip[0]>>4 != 6 {
			return 0, 0, false
		}
		end := wire.IPv6HeaderLen + int(binary.BigEndian.Uint16(ip[4:]))
		if end > len(ip) {
			return 0, 0, false
		}
		src, dst, proto, l4, l4off = ip[8:24], ip[24:40], ip[6], ip[wire.IPv6HeaderLen:end], wire.IPv6HeaderLen
	default:
		return 0, 0, false
	}
	switch {
	case proto == wire.IPProtoTCP && len(l4) >= wire.TCPHeaderLen:
		offset = 16
	case proto == wire.IPProtoUDP && len(l4) >= wire.UDPHeaderLen:
		offset = 6
	default:
		return 0, 0, false
	}
	pseudo := wire.PseudoHeaderSum(src, dst, proto, len(l4))
	if binary.BigEndian.Uint16(l4[offset:]) != wire.Fold(pseudo) || wire.Fold(wire.Sum(l4, pseudo)) == 0xffff {
		// Not the pseudo-header's sum, or a checksum that verifies.
		return 0, 0, false
	}
	return uint16(len(frame) - len(ip) + l4off), offset, true
}
