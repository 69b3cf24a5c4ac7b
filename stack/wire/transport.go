package wire

import "net/netip"

// TransportChecksum is the Internet checksum of the pseudo-header for src,
// dst and proto (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6) followed by
// l4, the whole upper-layer message, taken as it stands. Written into a
// zeroed checksum field, it is the checksum to send; over a message whose
// checksum field is right, it is 0. src and dst choose the pseudo-header:
// 4-byte addresses for IPv4, 16-byte otherwise.
func TransportChecksum(src, dst netip.Addr, proto uint8, l4 []byte) uint16 {
	return ^Fold(Sum(l4, transportPseudoSum(src, dst, proto, len(l4))))
}

// VerifyTransportChecksum reports whether l4's checksum field is right for
// the pseudo-header of src, dst and proto. UDP's "no checksum" zero is the
// UDP view's business, not this function's.
func VerifyTransportChecksum(src, dst netip.Addr, proto uint8, l4 []byte) bool {
	return TransportChecksum(src, dst, proto, l4) == 0
}

func transportPseudoSum(src, dst netip.Addr, proto uint8, length int) uint64 {
	acc := addrSum(src, 0)
	acc = addrSum(dst, acc)
	return add64(acc, uint64(proto)+uint64(length))
}

// fieldChecksum is TransportChecksum as if the 16-bit checksum field at
// offset off of l4 were zero.
func fieldChecksum(src, dst netip.Addr, proto uint8, l4 []byte, off int) uint16 {
	return ^Fold(sumSkipping(l4, off, transportPseudoSum(src, dst, proto, len(l4))))
}

// sumSkipping adds b to acc except the 16-bit field at the even offset off:
// the sum of b as if that field were zero. (Adding the field's complement
// instead would turn a sum of zero into 0xffff, the other zero, and give a
// checksum of 0 where 0xffff is due.)
func sumSkipping(b []byte, off int, acc uint64) uint64 {
	return Sum(b[off+2:], Sum(b[:off], acc))
}
