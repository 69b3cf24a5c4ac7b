package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestICMPv4View(t *testing.T) {
	ip := IPv4(pingFrame[14:])
	require.NoError(t, ip.Check())
	m := ICMPv4(ip.Payload())
	require.NoError(t, m.Check())
	assert.Equal(t, uint8(ICMPv4Echo), m.Type())
	assert.Equal(t, uint8(0), m.Code())
	assert.Equal(t, uint16(0xef24), m.Checksum())
	assert.Equal(t, uint16(1226), m.EchoID())
	assert.Equal(t, uint16(1), m.EchoSeq())
	assert.Equal(t, EchoRest(1226, 1), m.Rest())
	assert.Len(t, m.Payload(), 56)
	t.Run("checksum verifies", func(t *testing.T) { assert.True(t, m.VerifyChecksum()) })
	t.Run("computed ignores the field", func(t *testing.T) {
		b := append(ICMPv4{}, m...)
		b.SetChecksum(0xabcd)
		assert.False(t, b.VerifyChecksum())
		assert.Equal(t, uint16(0xef24), b.ComputeChecksum())
	})
}

func TestICMPv4Check(t *testing.T) {
	assert.ErrorIs(t, ICMPv4(make([]byte, 7)).Check(), ErrTruncated)
	assert.NoError(t, ICMPv4(make([]byte, 8)).Check())
}

func TestICMPv4Messages(t *testing.T) {
	m := ICMPv4(make([]byte, 8+28))
	t.Run("fragmentation needed carries the mtu", func(t *testing.T) {
		m.SetType(ICMPv4DestUnreachable)
		m.SetCode(ICMPv4FragmentationNeeded)
		m.SetRest(0xffffffff)
		m.SetNextHopMTU(1400) // RFC 1191 §4
		assert.Equal(t, uint16(1400), m.NextHopMTU())
		assert.Equal(t, uint32(1400), m.Rest(), "unused half is zero")
	})
	t.Run("parameter problem pointer", func(t *testing.T) {
		m.SetType(ICMPv4ParameterProblem)
		m.SetRest(0xffffffff)
		m.SetPointer(8)
		assert.Equal(t, uint8(8), m.Pointer())
		assert.Equal(t, uint32(0x08000000), m.Rest())
	})
	t.Run("redirect gateway", func(t *testing.T) {
		m.SetType(ICMPv4Redirect)
		m.SetGateway(v4b)
		assert.Equal(t, v4b, m.Gateway())
	})
	t.Run("echo", func(t *testing.T) {
		m.SetEcho(0x1234, 0x5678)
		assert.Equal(t, uint16(0x1234), m.EchoID())
		assert.Equal(t, uint16(0x5678), m.EchoSeq())
	})
	t.Run("checksum fills", func(t *testing.T) {
		m.SetChecksum(m.ComputeChecksum())
		assert.True(t, m.VerifyChecksum())
	})
}

func TestICMPv4FieldsRoundTrip(t *testing.T) {
	for _, f := range []ICMPv4Fields{
		{Type: ICMPv4EchoReply, Rest: EchoRest(1, 2)},
		{Type: ICMPv4DestUnreachable, Code: ICMPv4PortUnreachable},
		{Type: ICMPv4TimeExceeded, Code: ICMPv4ReassemblyExceeded, Rest: 0xffffffff},
	} {
		b := make([]byte, f.Len())
		f.Emit(b)
		assert.Equal(t, uint16(0), ICMPv4(b).Checksum())
		var got ICMPv4Fields
		require.NoError(t, got.Parse(b))
		assert.Equal(t, f, got)
	}
}

func TestICMPv4ChecksumOfZeros(t *testing.T) {
	// An echo reply with id 0, seq 0 and no data sums to zero: its checksum
	// is 0xffff, the ones' complement of +0 (RFC 1071), never 0.
	m := ICMPv4(make([]byte, 8))
	m.SetChecksum(0x1234)
	assert.Equal(t, uint16(0xffff), m.ComputeChecksum())
	m.SetChecksum(m.ComputeChecksum())
	assert.True(t, m.VerifyChecksum())
}
