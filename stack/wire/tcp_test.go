package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTCPView(t *testing.T) {
	ip := IPv4(synFrame[14:])
	require.NoError(t, ip.Check())
	s := TCP(ip.Payload())
	require.NoError(t, s.Check())
	tests := []struct {
		name      string
		got, want any
	}{
		{"src port", s.SrcPort(), uint16(55079)},
		{"dst port", s.DstPort(), uint16(80)},
		{"seq", s.Seq(), uint32(3925723113)},
		{"ack", s.Ack(), uint32(0)},
		{"data offset", s.DataOffset(), 40},
		{"flags", s.Flags(), TCPFlagSYN},
		{"window", s.Window(), uint16(14600)},
		{"checksum", s.Checksum(), uint16(0x1a3f)},
		{"urgent", s.Urgent(), uint16(0)},
		{"options", len(s.Options()), 20},
		{"payload", len(s.Payload()), 0},
		{"checksum verifies", s.VerifyChecksum(ip.SrcAddr(), ip.DstAddr()), true},
		{"computed checksum", s.ComputeChecksum(ip.SrcAddr(), ip.DstAddr()), uint16(0x1a3f)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tt.got) })
	}
	t.Run("options parse", func(t *testing.T) {
		var o TCPOptions
		require.NoError(t, o.Parse(s.Options()))
		assert.Equal(t, TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTimestamps: true, TSVal: 2089833,
			WindowScale: 7, HasWindowScale: true}, o)
	})
}

func TestTCPCheck(t *testing.T) {
	hdr := func(off byte, n int) []byte {
		b := make([]byte, n)
		b[12] = off << 4
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"19 bytes", make([]byte, 19), ErrTruncated},
		{"data offset 0", hdr(0, 20), ErrBadLength},
		{"data offset 4", hdr(4, 20), ErrBadLength},
		{"data offset 5", hdr(5, 20), nil},
		{"data offset past the end", hdr(6, 23), ErrTruncated},
		{"data offset 15", hdr(15, 60), nil},
		{"data offset 15 cut short", hdr(15, 59), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TCP(tt.b).Check()
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestTCPFlags(t *testing.T) {
	t.Run("all nine bits", func(t *testing.T) {
		s := TCP(make([]byte, 20))
		s.SetDataOffset(20)
		s.SetFlags(0x1ff)
		assert.Equal(t, byte(0x51), s[12], "AE is the low bit of byte 12, the data offset is kept")
		assert.Equal(t, byte(0xff), s[13])
		assert.Equal(t, TCPFlags(0x1ff), s.Flags())
		assert.Equal(t, 20, s.DataOffset())
	})
	t.Run("reserved bits are kept", func(t *testing.T) {
		s := TCP(make([]byte, 20))
		s[12] = 0x0e
		s.SetFlags(TCPFlagAE | TCPFlagACK)
		s.SetDataOffset(32)
		assert.Equal(t, byte(0x8f), s[12])
		assert.Equal(t, TCPFlagAE|TCPFlagACK, s.Flags())
	})
	t.Run("string", func(t *testing.T) {
		assert.Equal(t, "SYN|ACK", (TCPFlagSYN | TCPFlagACK).String())
		assert.Equal(t, "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR|AE", TCPFlags(0x1ff).String())
		assert.Equal(t, "0", TCPFlags(0).String())
		assert.Equal(t, "RST", (TCPFlagRST | 0x8000).String())
	})
	t.Run("has", func(t *testing.T) {
		f := TCPFlagSYN | TCPFlagACK
		assert.True(t, f.Has(TCPFlagSYN))
		assert.True(t, f.Has(TCPFlagSYN|TCPFlagACK))
		assert.False(t, f.Has(TCPFlagSYN|TCPFlagFIN))
	})
}

func TestTCPSetters(t *testing.T) {
	s := TCP(make([]byte, 24))
	s.SetSrcPort(1)
	s.SetDstPort(2)
	s.SetSeq(3)
	s.SetAck(4)
	s.SetDataOffset(24)
	s.SetWindow(5)
	s.SetChecksum(6)
	s.SetUrgent(7)
	require.NoError(t, s.Check())
	assert.Equal(t, []byte{0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0x60, 0, 0, 5, 0, 6, 0, 7}, []byte(s[:20]))
	assert.Len(t, s.Options(), 4)
}

func TestTCPFieldsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    TCPFields
	}{
		{"bare ack", TCPFields{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 0xffffffff, Flags: TCPFlagACK, Window: 65535}},
		{"syn with options", TCPFields{SrcPort: 1, DstPort: 2, Flags: TCPFlagSYN | TCPFlagECE | TCPFlagCWR | TCPFlagAE, Window: 64240,
			Options: TCPOptions{MSS: 1460, HasMSS: true, WindowScale: 7, HasWindowScale: true, SACKPermitted: true,
				HasTimestamps: true, TSVal: 1, TSEcr: 0}}},
		{"urgent with sack", TCPFields{Flags: TCPFlagACK | TCPFlagURG | TCPFlagPSH, Urgent: 9,
			Options: TCPOptions{NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}, HasTimestamps: true, TSVal: 7, TSEcr: 8}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.f.Len()+5)
			tt.f.Emit(b)
			var got TCPFields
			require.NoError(t, got.Parse(b))
			assert.Equal(t, tt.f, got)
			s := TCP(b)
			assert.Equal(t, tt.f.Len(), s.DataOffset())
			assert.Equal(t, uint16(0), s.Checksum())
			s.SetChecksum(s.ComputeChecksum(v4a, v4b))
			assert.True(t, s.VerifyChecksum(v4a, v4b))
			assert.False(t, s.VerifyChecksum(v4a, v4a))
		})
	}
	t.Run("malformed option reported", func(t *testing.T) {
		b := make([]byte, 24)
		TCP(b).SetDataOffset(24)
		copy(b[20:], []byte{TCPOptMSS, 0, 0, 0})
		var got TCPFields
		assert.ErrorIs(t, got.Parse(b), ErrBadOption)
	})
	t.Run("check failure reported", func(t *testing.T) {
		var got TCPFields
		assert.ErrorIs(t, got.Parse(make([]byte, 10)), ErrTruncated)
	})
}
