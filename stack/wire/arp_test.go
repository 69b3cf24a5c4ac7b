package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arpRequest: who-has 192.168.123.2 tell 192.168.123.1, with 18 bytes of
// Ethernet padding.
var arpRequest = mustHex(`0001 0800 06 04 0001 525400123456 c0a87b01 000000000000 c0a87b02
	000000000000000000000000000000000000`)

func TestARPView(t *testing.T) {
	a := ARP(arpRequest)
	require.NoError(t, a.Check())
	assert.Equal(t, uint16(1), a.HardwareType())
	assert.Equal(t, EtherTypeIPv4, a.ProtocolType())
	assert.Equal(t, uint8(6), a.HardwareLen())
	assert.Equal(t, uint8(4), a.ProtocolLen())
	assert.Equal(t, uint16(ARPRequest), a.Op())
	assert.Equal(t, macB, a.SenderMAC())
	assert.Equal(t, netip.MustParseAddr("192.168.123.1"), a.SenderAddr())
	assert.Equal(t, MAC{}, a.TargetMAC())
	assert.Equal(t, netip.MustParseAddr("192.168.123.2"), a.TargetAddr())
}

func TestARPCheck(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short fixed part", arpRequest[:7], ErrTruncated},
		{"short addresses", arpRequest[:27], ErrTruncated},
		{"exact", arpRequest[:28], nil},
		{"padded", arpRequest, nil},
		{"ieee 802 hardware", cat(mustHex("0006"), arpRequest[2:]), ErrUnsupported},
		{"ipv6 protocol", cat(arpRequest[:2], mustHex("86dd"), arpRequest[4:]), ErrUnsupported},
		{"hardware length 8", cat(arpRequest[:4], mustHex("08"), arpRequest[5:]), ErrUnsupported},
		{"protocol length 16", cat(arpRequest[:5], mustHex("10"), arpRequest[6:]), ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ARP(tt.b).Check()
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestARPFieldsRoundTrip(t *testing.T) {
	f := ARPFields{Op: ARPReply, SenderMAC: macA, SenderAddr: v4a, TargetMAC: macB, TargetAddr: v4b}
	b := make([]byte, f.Len())
	f.Emit(b)
	var got ARPFields
	require.NoError(t, got.Parse(b))
	assert.Equal(t, f, got)
	t.Run("emits the fixed format", func(t *testing.T) {
		assert.Equal(t, mustHex("0001 0800 0604 0002"), b[:8])
	})
	t.Run("non-ipv4 addresses become zero", func(t *testing.T) {
		g := ARPFields{Op: ARPRequest, SenderAddr: v6a}
		g.Emit(b)
		assert.Equal(t, netip.AddrFrom4([4]byte{}), ARP(b).SenderAddr())
		assert.Equal(t, netip.AddrFrom4([4]byte{}), ARP(b).TargetAddr())
	})
	t.Run("ipv4-mapped addresses are unmapped", func(t *testing.T) {
		g := ARPFields{Op: ARPRequest, SenderAddr: netip.AddrFrom16(v4a.As16())}
		g.Emit(b)
		assert.Equal(t, v4a, ARP(b).SenderAddr())
	})
}
