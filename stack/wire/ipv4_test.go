package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIPv4View(t *testing.T) {
	ip := IPv4(synFrame[14:])
	require.NoError(t, ip.Check())
	tests := []struct {
		name      string
		got, want any
	}{
		{"version", ip.Version(), uint8(4)},
		{"header length", ip.HeaderLen(), 20},
		{"tos", ip.TOS(), uint8(0)},
		{"total length", ip.TotalLen(), uint16(60)},
		{"id", ip.ID(), uint16(0x2480)},
		{"df", ip.DontFragment(), true},
		{"mf", ip.MoreFragments(), false},
		{"fragment offset", ip.FragmentOffset(), 0},
		{"is fragment", ip.IsFragment(), false},
		{"ttl", ip.TTL(), uint8(64)},
		{"protocol", ip.Protocol(), uint8(IPProtoTCP)},
		{"checksum", ip.Checksum(), uint16(0x8e6b)},
		{"src", ip.SrcAddr(), netip.MustParseAddr("10.0.2.15")},
		{"dst", ip.DstAddr(), netip.MustParseAddr("192.150.187.43")},
		{"raw src", ip.Src(), []byte{10, 0, 2, 15}},
		{"raw dst", ip.Dst(), []byte{192, 150, 187, 43}},
		{"no options", len(ip.Options()), 0},
		{"payload", len(ip.Payload()), 40},
		{"checksum verifies", ip.VerifyChecksum(), true},
		{"computed checksum", ip.ComputeChecksum(), uint16(0x8e6b)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tt.got) })
	}
}

func TestIPv4Check(t *testing.T) {
	good := ipv4Packet(IPProtoUDP, make([]byte, 8))
	mod := func(f func(b []byte)) []byte {
		b := append([]byte{}, good...)
		f(b)
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"good", good, nil},
		{"empty", nil, ErrTruncated},
		{"19 bytes", good[:19], ErrTruncated},
		{"version 6", mod(func(b []byte) { b[0] = 0x65 }), ErrBadVersion},
		{"ihl 4", mod(func(b []byte) { b[0] = 0x44 }), ErrBadLength},
		{"ihl 0", mod(func(b []byte) { b[0] = 0x40 }), ErrBadLength},
		{"ihl past the end", mod(func(b []byte) { b[0] = 0x4f }), ErrTruncated},
		{"total length below header", mod(func(b []byte) { b[2], b[3] = 0, 19 }), ErrBadLength},
		{"total length zero (tso capture)", mod(func(b []byte) { b[2], b[3] = 0, 0 }), ErrBadLength},
		{"total length past the end", mod(func(b []byte) { b[3]++ }), ErrTruncated},
		{"cut short", good[:len(good)-1], ErrTruncated},
		{"padded", cat(good, make([]byte, 18)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := IPv4(tt.b).Check()
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestIPv4PayloadExcludesPadding(t *testing.T) {
	b := cat(ipv4Packet(IPProtoUDP, []byte{1, 2, 3, 4, 5, 6, 7, 8}), make([]byte, 6))
	ip := IPv4(b)
	require.NoError(t, ip.Check())
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, ip.Payload())
}

func TestIPv4Options(t *testing.T) {
	// Router alert (RFC 2113) plus an EOL: IHL 6.
	f := IPv4Fields{TTL: 1, Protocol: 2, Src: v4a, Dst: v4b, Options: []byte{0x94, 0x04, 0x00, 0x00}}
	b := make([]byte, f.Len())
	f.Emit(b)
	ip := IPv4(b)
	require.NoError(t, ip.Check())
	assert.Equal(t, 24, ip.HeaderLen())
	assert.Equal(t, f.Options, ip.Options())
	assert.True(t, ip.VerifyChecksum())
	t.Run("padded to 4", func(t *testing.T) {
		g := IPv4Fields{Options: []byte{1, 1, 1, 1, 1}}
		assert.Equal(t, 28, g.Len())
		b := make([]byte, 28)
		for i := range b {
			b[i] = 0xee
		}
		g.Emit(b)
		assert.Equal(t, []byte{1, 1, 1, 1, 1, 0, 0, 0}, IPv4(b).Options())
	})
	t.Run("capped at 40", func(t *testing.T) {
		assert.Equal(t, 60, IPv4Fields{Options: make([]byte, 50)}.Len())
	})
}

func TestIPv4Fragments(t *testing.T) {
	b := ipv4Packet(IPProtoUDP, make([]byte, 16))
	ip := IPv4(b)
	ip.SetFragment(false, true, 1480)
	assert.True(t, ip.MoreFragments())
	assert.False(t, ip.DontFragment())
	assert.Equal(t, 1480, ip.FragmentOffset())
	assert.True(t, ip.IsFragment())
	ip.SetFragment(true, false, 0)
	assert.False(t, ip.IsFragment())
	assert.True(t, ip.DontFragment())
	ip.SetFragment(false, false, 8)
	assert.True(t, ip.IsFragment(), "last fragment")
}

func TestIPv4Checksum(t *testing.T) {
	// The classic example header; its checksum is b861.
	b := unhex(t, "4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")
	ip := IPv4(b[:20])
	t.Run("verifies", func(t *testing.T) { assert.True(t, ip.VerifyChecksum()) })
	t.Run("computed ignores the field", func(t *testing.T) {
		ip.SetChecksum(0x1234)
		assert.False(t, ip.VerifyChecksum())
		assert.Equal(t, uint16(0xb861), ip.ComputeChecksum())
	})
	t.Run("computed from zero", func(t *testing.T) {
		ip.SetChecksum(0)
		assert.Equal(t, uint16(0xb861), ip.ComputeChecksum())
	})
	t.Run("ttl decrement by incremental update", func(t *testing.T) {
		ip.SetChecksum(0xb861)
		old := uint16(ip.TTL())<<8 | uint16(ip.Protocol())
		ip.SetTTL(ip.TTL() - 1)
		nw := uint16(ip.TTL())<<8 | uint16(ip.Protocol())
		ip.SetChecksum(UpdateChecksum16(ip.Checksum(), old, nw))
		assert.True(t, ip.VerifyChecksum())
	})
}

func TestIPv4Setters(t *testing.T) {
	ip := IPv4(make([]byte, 24))
	ip.SetHeaderLen(24)
	ip.SetTOS(0xb9)
	ip.SetTotalLen(24)
	ip.SetID(0xbeef)
	ip.SetTTL(3)
	ip.SetProtocol(IPProtoICMP)
	ip.SetSrcAddr(v4a)
	ip.SetDstAddr(v6a)
	require.NoError(t, ip.Check())
	assert.Equal(t, uint8(4), ip.Version())
	assert.Equal(t, 24, ip.HeaderLen())
	assert.Equal(t, uint8(0xb9>>2), ip.DSCP())
	assert.Equal(t, uint8(1), ip.ECN())
	assert.Equal(t, uint16(0xbeef), ip.ID())
	assert.Equal(t, uint8(3), ip.TTL())
	assert.Equal(t, uint8(IPProtoICMP), ip.Protocol())
	assert.Equal(t, v4a, ip.SrcAddr())
	assert.Equal(t, netip.AddrFrom4([4]byte{}), ip.DstAddr(), "an ipv6 address is written as zero")
}

func TestIPv4FieldsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    IPv4Fields
	}{
		{"plain", IPv4Fields{TOS: 0x10, ID: 7, DontFragment: true, TTL: 64, Protocol: IPProtoTCP, Src: v4a, Dst: v4b, PayloadLen: 1460}},
		{"fragment", IPv4Fields{ID: 0xffff, MoreFragments: true, FragmentOffset: 8 * 0x1fff, TTL: 1, Protocol: IPProtoUDP, Src: v4b, Dst: v4a, PayloadLen: 8}},
		{"options", IPv4Fields{TTL: 255, Protocol: 2, Src: v4a, Dst: v4b, Options: []byte{0x94, 0x04, 0, 0, 1, 1, 1, 0}}},
		{"empty payload", IPv4Fields{Protocol: 253, Src: v4a, Dst: v4b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.f.Len()+tt.f.PayloadLen)
			tt.f.Emit(b)
			var got IPv4Fields
			require.NoError(t, got.Parse(b))
			assert.Equal(t, tt.f, got)
			assert.True(t, IPv4(b).VerifyChecksum())
		})
	}
}
