package backend

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Vectors from Microsoft's "Verifying the RSS Hash Calculation".
func TestToeplitzVerificationSuite(t *testing.T) {
	cases := []struct {
		src, dst         string
		sport, dport     uint16
		ipOnly, withPort uint32
	}{
		{"66.9.149.187", "161.142.100.80", 2794, 1766, 0x323e8fc2, 0x51ccc178},
		{"199.92.111.2", "65.69.140.83", 14230, 4739, 0xd718262a, 0xc626b0ea},
		{"24.19.198.95", "12.22.207.184", 12898, 38024, 0xd2d0a5de, 0x5c2b394a},
		{"38.27.205.30", "209.142.163.6", 48228, 2217, 0x82989176, 0xafc7327f},
		{"153.39.163.191", "202.188.127.2", 44251, 1303, 0x5d1809c5, 0x10e828a2},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			s := netip.MustParseAddr(c.src).As4()
			d := netip.MustParseAddr(c.dst).As4()
			in := append(append([]byte{}, s[:]...), d[:]...)
			assert.Equal(t, c.ipOnly, Toeplitz(DefaultToeplitzKey, in))
			in = binary.BigEndian.AppendUint16(in, c.sport)
			in = binary.BigEndian.AppendUint16(in, c.dport)
			assert.Equal(t, c.withPort, Toeplitz(DefaultToeplitzKey, in))
		})
	}
}

func TestToeplitzIPv6(t *testing.T) {
	s := netip.MustParseAddr("3ffe:2501:200:1fff::7").As16()
	d := netip.MustParseAddr("3ffe:2501:200:3::1").As16()
	in := append(append([]byte{}, s[:]...), d[:]...)
	assert.Equal(t, uint32(0x2cc18cd5), Toeplitz(DefaultToeplitzKey, in))
	in = binary.BigEndian.AppendUint16(in, 2794)
	in = binary.BigEndian.AppendUint16(in, 1766)
	assert.Equal(t, uint32(0x40207d3d), Toeplitz(DefaultToeplitzKey, in))
}
