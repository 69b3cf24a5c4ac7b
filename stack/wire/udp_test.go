package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUDPView(t *testing.T) {
	ip := IPv4(udpFrame[14:])
	require.NoError(t, ip.Check())
	u := UDP(ip.Payload())
	require.NoError(t, u.Check())
	assert.Equal(t, uint16(30000), u.SrcPort())
	assert.Equal(t, uint16(13000), u.DstPort())
	assert.Equal(t, uint16(12), u.Length())
	assert.Equal(t, uint16(0xa92a), u.Checksum())
	assert.Equal(t, []byte("XXXX"), u.Payload())
	t.Run("checksum verifies", func(t *testing.T) {
		assert.True(t, u.VerifyChecksum(ip.SrcAddr(), ip.DstAddr()))
	})
	t.Run("computed ignores the field", func(t *testing.T) {
		b := append(UDP{}, u...)
		b.SetChecksum(0x1111)
		assert.False(t, b.VerifyChecksum(ip.SrcAddr(), ip.DstAddr()))
		assert.Equal(t, uint16(0xa92a), b.ComputeChecksum(ip.SrcAddr(), ip.DstAddr()))
	})
}

func TestUDPCheck(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"7 bytes", make([]byte, 7), ErrTruncated},
		{"length 0 (jumbogram)", []byte{0, 1, 0, 2, 0, 0, 0, 0}, ErrBadLength},
		{"length 7", []byte{0, 1, 0, 2, 0, 7, 0, 0}, ErrBadLength},
		{"length 8", []byte{0, 1, 0, 2, 0, 8, 0, 0}, nil},
		{"length past the end", []byte{0, 1, 0, 2, 0, 9, 0, 0}, ErrTruncated},
		{"shorter than the ip payload", []byte{0, 1, 0, 2, 0, 9, 0, 0, 0xaa, 0xbb}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := UDP(tt.b).Check()
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
	t.Run("payload stops at the length", func(t *testing.T) {
		assert.Equal(t, []byte{0xaa}, UDP([]byte{0, 1, 0, 2, 0, 9, 0, 0, 0xaa, 0xbb}).Payload())
	})
}

func TestUDPChecksumZero(t *testing.T) {
	u := UDP([]byte{0, 1, 0, 2, 0, 10, 0, 0, 1, 2})
	t.Run("ipv4 zero means none", func(t *testing.T) {
		assert.True(t, u.VerifyChecksum(v4a, v4b)) // RFC 768
	})
	t.Run("ipv6 zero is invalid", func(t *testing.T) {
		assert.False(t, u.VerifyChecksum(v6a, v6b)) // RFC 8200 §8.1
	})
	t.Run("computed zero is sent as ffff", func(t *testing.T) {
		// Choose data so that the sum is all ones: the checksum computes to 0.
		src, dst := netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("0.0.0.0")
		b := UDP([]byte{0, 0, 0, 0, 0, 10, 0, 0, 0, 0})
		c := b.ComputeChecksum(src, dst)
		b[8], b[9] = byte(c>>8), byte(c) // now everything sums to 0xffff
		b.SetChecksum(0)
		assert.Equal(t, uint16(0xffff), b.ComputeChecksum(src, dst))
		b.SetChecksum(0xffff)
		assert.True(t, b.VerifyChecksum(src, dst))
	})
}

func TestUDPFieldsRoundTrip(t *testing.T) {
	for _, f := range []UDPFields{
		{SrcPort: 53, DstPort: 33333, PayloadLen: 100},
		{SrcPort: 0, DstPort: 65535, PayloadLen: 0},
	} {
		b := make([]byte, f.Len()+f.PayloadLen)
		f.Emit(b)
		var got UDPFields
		require.NoError(t, got.Parse(b))
		assert.Equal(t, f, got)
		u := UDP(b)
		u.SetChecksum(u.ComputeChecksum(v6a, v6b))
		assert.True(t, u.VerifyChecksum(v6a, v6b))
	}
}
