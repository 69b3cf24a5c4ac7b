package stack

import (
	"net/netip"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// iface is a network interface: a backend and what the stack knows of it.
// Its fields do not change after New, except addrs, which queue 0 replaces
// and publishes in a new snapshot.
type iface struct {
	idx      int
	name     string
	be       backend.Backend
	caps     backend.Caps
	mac      wire.MAC
	mtu      int
	loopback bool
	// rxCsum and txCsum are the checksum offloads the stack uses; tso
	// the segmentation limit (0: none); sg says TCP may send payload
	// straight from its send rings (sg.go).
	rxCsum bool
	txCsum bool
	tsoMax int
	sg     bool
	// holdMax bounds the buffers of this interface's frames a queue's
	// connections hold received data in (tcp_hold.go).
	holdMax int
}

// addr4 is an interface's first IPv4 address, if it has one.
func (sh *shared) addr4(ifc *iface) (netip.Prefix, bool) {
	for _, p := range sh.addrs[ifc.idx] {
		if p.Addr().Is4() {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// ownerOf says which interface owns address a, if the stack owns it.
func (sh *shared) ownerOf(a netip.Addr) (*iface, bool) {
	ifc := sh.own.get(a)
	return ifc, ifc != nil
}

// broadcastOf is the directed broadcast address of an IPv4 prefix.
func broadcastOf(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	bits := p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	if bits < 32 {
		v |= (1 << (32 - bits)) - 1
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
