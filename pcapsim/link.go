package pcapsim

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
)

// Link types a replay carries besides Ethernet (the LINKTYPE_ values of
// https://www.tcpdump.org/linktypes.html; 12 and 14 are the DLT_RAW
// values of BSD systems, which some files carry instead of 101; 0 and 108
// are the loopback captures of BSD and macOS, tcpdump -i lo0).
const (
	linkNull     = 0
	linkEthernet = 1
	linkRawBSD12 = 12
	linkRawBSD14 = 14
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// linkNames name the link types an error message is likely to meet.
var linkNames = map[int]string{
	0:   "BSD loopback",
	1:   "Ethernet",
	6:   "IEEE 802.5 Token Ring",
	9:   "PPP",
	10:  "FDDI",
	12:  "raw IP",
	14:  "raw IP",
	50:  "PPP in HDLC framing",
	101: "raw IP",
	104: "Cisco HDLC",
	105: "IEEE 802.11",
	108: "OpenBSD loopback",
	113: "Linux cooked capture",
	119: "IEEE 802.11 Prism",
	127: "IEEE 802.11 radiotap",
	143: "DOCSIS",
	192: "PPI",
	195: "IEEE 802.15.4",
	197: "Endace ERF",
	201: "Bluetooth HCI H4",
	220: "USB Linux mmapped",
	228: "raw IPv4",
	229: "raw IPv6",
	249: "netlink",
	276: "Linux cooked capture v2",
}

// LinkTypeError refuses a capture whose link type a replay does not carry:
// anything but Ethernet, raw IP (101, 12, 14, 228, 229), BSD loopback (0,
// 108) and Linux cooked captures (113, 276).
type LinkTypeError struct {
	// LinkType is the LINKTYPE_ value of the file header (pcap) or of the
	// first packet's interface (pcapng).
	LinkType int
}

// Error names the link type: "pcapsim: link type 105 (IEEE 802.11) not
// supported".
func (e *LinkTypeError) Error() string {
	name, ok := linkNames[e.LinkType]
	if !ok {
		name = "unknown"
	}
	return fmt.Sprintf("pcapsim: link type %d (%s) not supported", e.LinkType, name)
}

// supported says whether frames of link type lt can be replayed.
func supported(lt int) bool {
	switch lt {
	case linkEthernet, linkNull, linkLoop, linkRaw, linkRawBSD12, linkRawBSD14, linkIPv4, linkIPv6, linkSLL, linkSLL2:
		return true
	}
	return false
}

// direction is what a capture says about a frame's way.
type direction uint8

const (
	dirUnknown  direction = iota // Ethernet and raw IP: the frame does not say
	dirHost                      // to the capturing host (SLL PACKET_HOST)
	dirOther                     // between other hosts (SLL PACKET_OTHERHOST)
	dirOutgoing                  // sent by the capturing host (SLL PACKET_OUTGOING)
)

// Linux packet types (linux/if_packet.h) in cooked captures.
const (
	packetHost      = 0
	packetBroadcast = 1
	packetMulticast = 2
	packetOtherHost = 3
	packetOutgoing  = 4
)

const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
	etherTypeIPv6 = 0x86dd
	ethHeaderLen  = 14
	sllHeaderLen  = 16
	sll2HeaderLen = 20
	nullHeaderLen = 4
)

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// errLinkHeader marks a record too short for its link-layer header.
var errLinkHeader = fmt.Errorf("record shorter than its link-layer header")

// adapter turns records of the supported link types into Ethernet frames.
// Raw IP and cooked captures do not record both Ethernet addresses, so it
// makes them up: a frame to the capturing host (every unicast raw IP
// packet, an SLL PACKET_HOST one) is addressed to hostMAC, the stack's;
// a sender without a 6-byte link-layer address gets a MAC derived from its
// IP address (peerMAC); a frame to another host, one derived from the
// destination IP address.
type adapter struct {
	hostMAC net.HardwareAddr
	buf     []byte
}

// frame returns the Ethernet frame of a record of link type lt, valid
// until the next call, and what the capture says of its direction.
func (a *adapter) frame(lt int, data []byte) ([]byte, direction, error) {
	switch lt {
	case linkEthernet:
		return data, dirUnknown, nil
	case linkRaw, linkRawBSD12, linkRawBSD14:
		et := uint16(etherTypeIPv4)
		if len(data) > 0 && data[0]>>4 == 6 {
			et = etherTypeIPv6
		}
		return a.raw(et, data), dirUnknown, nil
	case linkNull, linkLoop:
		// A 4-byte address family, in the capturing host's byte order
		// (0) or big-endian (108), whose IPv6 value differs between
		// systems (10, 24, 28, 30): the packet's version says more.
		if len(data) < nullHeaderLen {
			return nil, dirUnknown, errLinkHeader
		}
		pkt := data[nullHeaderLen:]
		et := uint16(etherTypeIPv4)
		if len(pkt) > 0 && pkt[0]>>4 == 6 {
			et = etherTypeIPv6
		}
		return a.raw(et, pkt), dirUnknown, nil
	case linkIPv4:
		return a.raw(etherTypeIPv4, data), dirUnknown, nil
	case linkIPv6:
		return a.raw(etherTypeIPv6, data), dirUnknown, nil
	case linkSLL:
		if len(data) < sllHeaderLen {
			return nil, dirUnknown, errLinkHeader
		}
		pt := binary.BigEndian.Uint16(data[0:])
		halen := int(binary.BigEndian.Uint16(data[4:]))
		return a.cooked(pt, data[6:14], halen, binary.BigEndian.Uint16(data[14:]), data[sllHeaderLen:])
	case linkSLL2:
		if len(data) < sll2HeaderLen {
			return nil, dirUnknown, errLinkHeader
		}
		return a.cooked(uint16(data[10]), data[12:20], int(data[11]), binary.BigEndian.Uint16(data[0:]), data[sll2HeaderLen:])
	}
	return nil, dirUnknown, &LinkTypeError{LinkType: lt}
}

// raw frames an IP packet: unicast to the host, from a MAC derived from
// the source address.
func (a *adapter) raw(et uint16, pkt []byte) []byte {
	b := a.header(len(pkt))
	src, dst := ipAddrs(et, pkt)
	copy(b[0:6], a.destination(dst, a.hostMAC))
	copy(b[6:12], derivedMAC(src))
	binary.BigEndian.PutUint16(b[12:], et)
	return append(b, pkt...)
}

// cooked frames the payload of a Linux cooked capture record.
func (a *adapter) cooked(pktType uint16, addr []byte, halen int, proto uint16, payload []byte) ([]byte, direction, error) {
	b := a.header(len(payload))
	src, dst := ipAddrs(proto, payload)
	var dmac net.HardwareAddr
	dir := dirUnknown
	switch pktType {
	case packetHost:
		dmac, dir = a.hostMAC, dirHost
	case packetBroadcast:
		dmac = broadcastMAC
	case packetMulticast:
		dmac = a.destination(dst, broadcastMAC)
	case packetOutgoing:
		dmac, dir = derivedMAC(dst), dirOutgoing
	default:
		dmac, dir = derivedMAC(dst), dirOther
	}
	copy(b[0:6], dmac)
	if halen == 6 {
		copy(b[6:12], addr[:6])
	} else {
		copy(b[6:12], derivedMAC(src))
	}
	binary.BigEndian.PutUint16(b[12:], proto)
	return append(b, payload...), dir, nil
}

// header returns the scratch buffer holding room for an Ethernet header,
// with capacity for n more bytes.
func (a *adapter) header(n int) []byte {
	if cap(a.buf) < ethHeaderLen+n {
		a.buf = make([]byte, ethHeaderLen, ethHeaderLen+n+n/4)
	}
	return a.buf[:ethHeaderLen]
}

// destination is the Ethernet destination of a packet to IP address dst:
// the group address of a multicast or broadcast destination, else unicast.
func (a *adapter) destination(dst netip.Addr, unicast net.HardwareAddr) net.HardwareAddr {
	switch {
	case !dst.IsValid():
		return unicast
	case dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return broadcastMAC
	case dst.Is4() && dst.IsMulticast():
		// RFC 1112 §6.4: 01-00-5E and the low 23 bits of the group.
		v := dst.As4()
		return net.HardwareAddr{0x01, 0x00, 0x5e, v[1] & 0x7f, v[2], v[3]}
	case dst.IsMulticast():
		// RFC 2464 §7: 33-33 and the low 32 bits of the group.
		v := dst.As16()
		return net.HardwareAddr{0x33, 0x33, v[12], v[13], v[14], v[15]}
	}
	return unicast
}

// ipAddrs returns the source and destination of an IP packet, or invalid
// addresses when the packet is not one.
func ipAddrs(et uint16, pkt []byte) (src, dst netip.Addr) {
	switch {
	case et == etherTypeIPv4 && len(pkt) >= 20:
		return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	case et == etherTypeIPv6 && len(pkt) >= 40:
		return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
	}
	return netip.Addr{}, netip.Addr{}
}

// derivedMAC is the Ethernet address a replay gives a host whose own the
// capture does not record: locally administered, 02:00 and the IPv4
// address, or 06 and a hash of an IPv6 address; 02:00:00:00:00:00 when
// there is no address.
func derivedMAC(a netip.Addr) net.HardwareAddr {
	switch {
	case a.Is4():
		v := a.As4()
		return net.HardwareAddr{0x02, 0x00, v[0], v[1], v[2], v[3]}
	case a.Is6():
		h := fnv.New64a()
		v := a.As16()
		h.Write(v[:])
		s := h.Sum64()
		return net.HardwareAddr{0x06, byte(s >> 32), byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
	}
	return net.HardwareAddr{0x02, 0, 0, 0, 0, 0}
}

// GeneratedMAC is the Ethernet address a replay gives the stack when
// neither the options nor the capture say one: locally administered
// (02:75 and four bytes drawn from seed), the same for the same seed.
func GeneratedMAC(seed uint64) net.HardwareAddr {
	// splitmix64's finaliser: a seed of 1 and of 2 give unrelated bytes.
	z := seed + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return net.HardwareAddr{0x02, 0x75, byte(z >> 24), byte(z >> 16), byte(z >> 8), byte(z)}
}
