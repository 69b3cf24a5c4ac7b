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

// fieldChecksum is TransportChecksum as if the checksum field, which holds
// field now, were zero: adding its complement cancels it.
func fieldChecksum(src, dst netip.Addr, proto uint8, l4 []byte, field uint16) uint16 {
	acc := add64(transportPseudoSum(src, dst, proto, len(l4)), uint64(^field))
	return ^Fold(Sum(l4, acc))
}
