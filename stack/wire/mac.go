package wire

import (
	"net"
	"net/netip"
)

// MAC is an IEEE 802 MAC-48 address, as values carry it.
type MAC [6]byte

// String formats m as six colon-separated lower-case hex pairs.
func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }

// IsMulticast reports whether m has the group bit set (IEEE 802 §8.2);
// broadcast is multicast too.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// MulticastMAC is the Ethernet group address an IP multicast address maps to:
// 01:00:5e and the low 23 bits for IPv4 (RFC 1112 §6.4), 33:33 and the low 32
// bits for IPv6 (RFC 2464 §7). It is the zero MAC for other addresses.
func MulticastMAC(a netip.Addr) MAC {
	switch {
	case a.Is4() && a.IsMulticast():
		v := a.As4()
		return MAC{0x01, 0x00, 0x5e, v[1] & 0x7f, v[2], v[3]}
	case a.Is6() && a.IsMulticast():
		v := a.As16()
		return MAC{0x33, 0x33, v[12], v[13], v[14], v[15]}
	}
	return MAC{}
}
