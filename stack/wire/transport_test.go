package wire

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTransportChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, fam := range []int{4, 16} {
		for i := 0; i < 300; i++ {
			sb, db := randBytes(r, fam), randBytes(r, fam)
			src, _ := netip.AddrFromSlice(sb)
			dst, _ := netip.AddrFromSlice(db)
			l4 := randBytes(r, 8+r.IntN(200))
			proto := uint8(IPProtoUDP)
			want := ^Fold(Sum(l4, PseudoHeaderSum(sb, db, proto, len(l4))))
			require.Equal(t, want, TransportChecksum(src, dst, proto, l4), "family %d case %d", fam, i)
		}
	}
	t.Run("a right checksum verifies", func(t *testing.T) {
		l4 := []byte{0, 1, 0, 2, 0, 10, 0, 0, 0xab, 0xcd}
		c := TransportChecksum(v6a, v6b, IPProtoUDP, l4)
		l4[6], l4[7] = byte(c>>8), byte(c)
		assert.True(t, VerifyTransportChecksum(v6a, v6b, IPProtoUDP, l4))
		assert.False(t, VerifyTransportChecksum(v6a, v6b, IPProtoTCP, l4))
		l4[9]++
		assert.False(t, VerifyTransportChecksum(v6a, v6b, IPProtoUDP, l4))
	})
	t.Run("ipv4-mapped addresses sum as ipv4", func(t *testing.T) {
		// 0xffff is ones'-complement zero, so the mapped form changes nothing.
		l4 := []byte{1, 2, 3, 4, 5}
		m1, m2 := netip.AddrFrom16(v4a.As16()), netip.AddrFrom16(v4b.As16())
		assert.Equal(t, TransportChecksum(v4a, v4b, IPProtoTCP, l4), TransportChecksum(m1, m2, IPProtoTCP, l4))
	})
	t.Run("views agree with the function", func(t *testing.T) {
		ip := IPv4(synFrame[14:])
		assert.Equal(t, uint16(0), TransportChecksum(ip.SrcAddr(), ip.DstAddr(), IPProtoTCP, ip.Payload()))
		acc := ip.PseudoHeaderSum(IPProtoTCP, len(ip.Payload()))
		assert.Equal(t, uint16(0), Checksum(ip.Payload(), Fold(acc)))
		ip6 := IPv6(tooBigFrame[14:])
		acc = ip6.PseudoHeaderSum(IPProtoICMPv6, len(ip6.Payload()))
		assert.Equal(t, uint16(0), Checksum(ip6.Payload(), Fold(acc)))
	})
}
