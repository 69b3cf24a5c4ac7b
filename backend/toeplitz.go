package backend

// DefaultToeplitzKey is the 40-byte RSS key from Microsoft's RSS
// verification suite, the default of many NICs and of DPDK's examples.
var DefaultToeplitzKey = []byte{
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
}

// Toeplitz is the RSS hash of input under key: for every set bit of the
// input, the 32 key bits starting at that bit position are XORed into the
// result. The key must be at least len(input)+4 bytes long; missing key bits
// read as zero.
func Toeplitz(key, input []byte) uint32 {
	var result uint32
	// window holds key bits [i, i+32) for the current input bit i, with 8
	// bits of lookahead in the low byte of a 64-bit register.
	var window uint64
	for j := 0; j < 5; j++ {
		window <<= 8
		if j < len(key) {
			window |= uint64(key[j])
		}
	}
	for i, b := range input {
		for bit := 7; bit >= 0; bit-- {
			if b&(1<<bit) != 0 {
				result ^= uint32(window >> 8)
			}
			window <<= 1
		}
		window &= 0xffffffffff00
		if k := i + 5; k < len(key) {
			window |= uint64(key[k])
		}
	}
	return result
}

// RSSQueue maps a hash to a queue through an indirection table: the table
// entry at the hash's low bits, as NICs do. An empty table spreads by modulo
// over queues.
func RSSQueue(hash uint32, table []uint16, queues int) int {
	if len(table) > 0 {
		return int(table[int(hash)%len(table)])
	}
	if queues <= 1 {
		return 0
	}
	return int(hash % uint32(queues))
}
