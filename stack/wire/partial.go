package wire

import "encoding/binary"

// PartialChecksum reports whether frame, an Ethernet frame with up to two
// VLAN tags, is an unfragmented TCP or UDP packet whose sender left its
// checksum to the NIC (Linux's CHECKSUM_PARTIAL): the checksum field holds
// the folded sum of the pseudo-header alone. Such frames reach whoever
// reads a sender's packets before any NIC has: a capture on the sending
// host or a veth, a packet socket on a veth (DPDK's net_af_packet). A
// checksum that is merely wrong does not match (one in 65,536 would), nor
// does one that verifies. It returns where the sum starts in the frame and
// the checksum's offset from there, as backend.Meta's CsumStart and
// CsumOffset.
func PartialChecksum(frame []byte) (start, offset uint16, ok bool) {
	l2, err := Ethernet(frame).L2()
	if err != nil {
		return 0, 0, false
	}
	ip := frame[l2.HeaderLen:]
	var src, dst, l4 []byte
	var proto uint8
	var l4off int
	switch l2.EtherType {
	case EtherTypeIPv4:
		if len(ip) < IPv4HeaderLen || ip[0]>>4 != 4 {
			return 0, 0, false
		}
		hl, total := int(ip[0]&0xf)*4, int(binary.BigEndian.Uint16(ip[2:]))
		// A fragment's checksum was computed before fragmenting.
		if hl < IPv4HeaderLen || total < hl || total > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return 0, 0, false
		}
		src, dst, proto, l4, l4off = ip[12:16], ip[16:20], ip[9], ip[hl:total], hl
	case EtherTypeIPv6:
		if len(ip) < IPv6HeaderLen || ip[0]>>4 != 6 {
			return 0, 0, false
		}
		end := IPv6HeaderLen + int(binary.BigEndian.Uint16(ip[4:]))
		if end > len(ip) {
			return 0, 0, false
		}
		src, dst, proto, l4, l4off = ip[8:24], ip[24:40], ip[6], ip[IPv6HeaderLen:end], IPv6HeaderLen
	default:
		return 0, 0, false
	}
	switch {
	case proto == IPProtoTCP && len(l4) >= TCPHeaderLen:
		offset = 16
	case proto == IPProtoUDP && len(l4) >= UDPHeaderLen:
		offset = 6
	default:
		return 0, 0, false
	}
	pseudo := PseudoHeaderSum(src, dst, proto, len(l4))
	if binary.BigEndian.Uint16(l4[offset:]) != Fold(pseudo) || Fold(Sum(l4, pseudo)) == 0xffff {
		// Not the pseudo-header's sum, or a checksum that verifies.
		return 0, 0, false
	}
	return uint16(l2.HeaderLen + l4off), offset, true
}
