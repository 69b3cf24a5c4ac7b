package wire

import (
	"encoding/binary"
	"net/netip"
)

// addr4 reads an IPv4 address; b has at least 4 bytes.
func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

// addr16 reads an IPv6 address; b has at least 16 bytes.
func addr16(b []byte) netip.Addr { return netip.AddrFrom16([16]byte(b[:16])) }

// putAddr4 writes a as 4 bytes. An address that is neither IPv4 nor IPv4-mapped
// IPv6 is written as 0.0.0.0 rather than panicking as netip.Addr.As4 would.
func putAddr4(b []byte, a netip.Addr) {
	if a.Is4() || a.Is4In6() {
		v := a.As4()
		copy(b[:4], v[:])
		return
	}
	clear(b[:4])
}

// putAddr16 writes a as 16 bytes; an IPv4 address is written IPv4-mapped and the
// zero Addr as ::.
func putAddr16(b []byte, a netip.Addr) {
	v := a.As16()
	copy(b[:16], v[:])
}

// addrSum adds the bytes of a to a checksum accumulator: 4 bytes for IPv4, 16
// otherwise (RFC 9293 §3.1, RFC 8200 §8.1).
func addrSum(a netip.Addr, acc uint64) uint64 {
	if a.Is4() {
		v := a.As4()
		return add64(acc, uint64(binary.BigEndian.Uint32(v[:])))
	}
	v := a.As16()
	acc = add64(acc, binary.BigEndian.Uint64(v[0:8]))
	return add64(acc, binary.BigEndian.Uint64(v[8:16]))
}

// add64 is a ones'-complement add with the carry wrapped around.
func add64(acc, x uint64) uint64 {
	s := acc + x
	if s < acc {
		s++
	}
	return s
}

func be16(b []byte) uint16       { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32       { return binary.BigEndian.Uint32(b) }
func put16be(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func put32be(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
