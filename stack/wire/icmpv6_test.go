package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestICMPv6View(t *testing.T) {
	ip := IPv6(tooBigFrame[14:])
	require.NoError(t, ip.Check())
	m := ICMPv6(ip.Payload())
	require.NoError(t, m.Check())
	assert.Equal(t, uint8(ICMPv6PacketTooBig), m.Type())
	assert.Equal(t, uint8(0), m.Code())
	assert.Equal(t, uint16(0xecba), m.Checksum())
	assert.Equal(t, uint32(1280), m.MTU())
	t.Run("payload is the invoking packet", func(t *testing.T) {
		inner := IPv6(m.Payload())
		require.NoError(t, inner.Check())
		assert.Equal(t, ip.DstAddr(), inner.SrcAddr())
	})
	t.Run("checksum verifies", func(t *testing.T) {
		assert.True(t, m.VerifyChecksum(ip.SrcAddr(), ip.DstAddr()))
		assert.False(t, m.VerifyChecksum(ip.DstAddr(), v6a))
	})
	t.Run("computed ignores the field", func(t *testing.T) {
		b := append(ICMPv6{}, m...)
		b.SetChecksum(1)
		assert.Equal(t, uint16(0xecba), b.ComputeChecksum(ip.SrcAddr(), ip.DstAddr()))
	})
}

func TestICMPv6Check(t *testing.T) {
	assert.ErrorIs(t, ICMPv6(make([]byte, 7)).Check(), ErrTruncated)
	assert.NoError(t, ICMPv6(make([]byte, 8)).Check())
}

func TestICMPv6Messages(t *testing.T) {
	m := ICMPv6(make([]byte, 8+40))
	t.Run("echo", func(t *testing.T) {
		m.SetType(ICMPv6EchoRequest)
		m.SetEcho(7, 9)
		assert.Equal(t, uint16(7), m.EchoID())
		assert.Equal(t, uint16(9), m.EchoSeq())
	})
	t.Run("parameter problem pointer", func(t *testing.T) {
		m.SetType(ICMPv6ParameterProblem)
		m.SetCode(ICMPv6UnrecognizedNextHeader)
		m.SetPointer(48)
		assert.Equal(t, uint32(48), m.Pointer())
	})
	t.Run("packet too big mtu", func(t *testing.T) {
		m.SetType(ICMPv6PacketTooBig)
		m.SetMTU(1280)
		assert.Equal(t, uint32(1280), m.MTU())
	})
	t.Run("checksum fills", func(t *testing.T) {
		m.SetChecksum(m.ComputeChecksum(v6a, v6b))
		assert.True(t, m.VerifyChecksum(v6a, v6b))
	})
}

func TestICMPv6FieldsRoundTrip(t *testing.T) {
	for _, f := range []ICMPv6Fields{
		{Type: ICMPv6EchoReply, Rest: EchoRest(1, 2)},
		{Type: ICMPv6PacketTooBig, Rest: 1280},
		{Type: ICMPv6ParameterProblem, Code: ICMPv6UnrecognizedOption, Rest: 42},
	} {
		b := make([]byte, f.Len())
		f.Emit(b)
		var got ICMPv6Fields
		require.NoError(t, got.Parse(b))
		assert.Equal(t, f, got)
	}
}
