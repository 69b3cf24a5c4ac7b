package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTCPOptionsParse(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		want    TCPOptions
		wantErr error
	}{
		{name: "empty"},
		{name: "mss", b: []byte{2, 4, 0x05, 0xb4}, want: TCPOptions{MSS: 1460, HasMSS: true}},
		{name: "window scale", b: []byte{1, 3, 3, 14}, want: TCPOptions{WindowScale: 14, HasWindowScale: true}},
		{name: "window scale above 14 is reported raw", b: []byte{3, 3, 15, 0}, want: TCPOptions{WindowScale: 15, HasWindowScale: true}},
		{name: "sack permitted", b: []byte{4, 2, 1, 1}, want: TCPOptions{SACKPermitted: true}},
		{name: "timestamps", b: []byte{1, 1, 8, 10, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff},
			want: TCPOptions{HasTimestamps: true, TSVal: 1, TSEcr: 0xffffffff}},
		{name: "one sack block", b: []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2},
			want: TCPOptions{NumSACK: 1, SACK: [4]SACKBlock{{1, 2}}}},
		{name: "four sack blocks", b: cat([]byte{5, 34}, make([]byte, 24), []byte{0, 0, 0, 7, 0, 0, 0, 8}, []byte{1, 1, 1, 1}),
			want: TCPOptions{NumSACK: 4, SACK: [4]SACKBlock{{}, {}, {}, {7, 8}}}},
		{name: "stops at eol", b: []byte{0, 2, 4, 5, 0xb4}},
		{name: "unknown skipped", b: []byte{30, 4, 0, 0, 2, 4, 1, 0}, want: TCPOptions{MSS: 256, HasMSS: true}},
		{name: "tcp fast open cookie skipped", b: []byte{34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1}},
		{name: "known kind with wrong length skipped", b: []byte{2, 3, 0, 3, 4, 9, 2, 2, 4, 0, 4},
			want: TCPOptions{MSS: 4, HasMSS: true}},
		{name: "sack with a partial block skipped", b: []byte{5, 6, 0, 0, 0, 1}},
		{name: "empty sack skipped", b: []byte{5, 2, 1, 1}},
		{name: "repeated option overwrites", b: []byte{2, 4, 0, 1, 2, 4, 0, 2}, want: TCPOptions{MSS: 2, HasMSS: true}},
		{name: "length 0", b: []byte{2, 0, 0, 0}, wantErr: ErrBadOption},
		{name: "length 1", b: []byte{1, 30, 1, 0}, wantErr: ErrBadOption},
		{name: "kind without length", b: []byte{1, 1, 1, 8}, wantErr: ErrBadOption},
		{name: "length past the end", b: []byte{8, 10, 0, 0, 0, 0, 0, 0}, wantErr: ErrBadOption},
		{name: "error after a good option", b: []byte{2, 4, 1, 0, 5, 255}, wantErr: ErrBadOption,
			want: TCPOptions{MSS: 256, HasMSS: true}},
		{name: "all nops", b: []byte{1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o TCPOptions
			err := o.Parse(tt.b)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tt.want, o)
		})
	}
}

func TestTCPOptionsEmit(t *testing.T) {
	tests := []struct {
		name string
		o    TCPOptions
		want []byte
	}{
		{"none", TCPOptions{}, []byte{}},
		{"linux syn", TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTimestamps: true, TSVal: 1, TSEcr: 2,
			WindowScale: 7, HasWindowScale: true},
			[]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7}},
		{"syn without timestamps", TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, WindowScale: 8, HasWindowScale: true},
			[]byte{2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 8}},
		{"timestamps alone", TCPOptions{HasTimestamps: true, TSVal: 0x01020304, TSEcr: 0x05060708},
			[]byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"timestamps and sack", TCPOptions{HasTimestamps: true, TSVal: 9, NumSACK: 1, SACK: [4]SACKBlock{{10, 20}}},
			[]byte{1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20}},
		{"packed when aligned does not fit", TCPOptions{HasTimestamps: true, TSVal: 1, HasWindowScale: true, WindowScale: 2,
			NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}},
			cat([]byte{8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 3, 3, 2, 5, 26},
				[]byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, len(tt.want), tt.o.Len())
			b := make([]byte, tt.o.Len())
			for i := range b {
				b[i] = 0xee
			}
			tt.o.Emit(b)
			assert.Equal(t, tt.want, b)
			var got TCPOptions
			require.NoError(t, got.Parse(b))
			assert.Equal(t, tt.o, got)
		})
	}
}

func TestTCPOptionsEmitDropsSACKBlocksThatDoNotFit(t *testing.T) {
	o := TCPOptions{MSS: 1, HasMSS: true, SACKPermitted: true, HasTimestamps: true, HasWindowScale: true,
		NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}
	assert.Equal(t, 40, o.Len())
	b := make([]byte, o.Len())
	o.Emit(b)
	var got TCPOptions
	require.NoError(t, got.Parse(b))
	assert.Equal(t, 2, got.NumSACK, "4+2+10+3+2+16 = 37 bytes: two blocks fit")
	assert.Equal(t, o.SACK[:2], got.SACK[:2])
}

func TestTCPOptionsLen(t *testing.T) {
	for n := 0; n <= 4; n++ {
		for _, ts := range []bool{false, true} {
			o := TCPOptions{HasMSS: true, HasWindowScale: true, SACKPermitted: true, HasTimestamps: ts, NumSACK: n}
			l := o.Len()
			assert.LessOrEqual(t, l, TCPMaxOptionsLen)
			assert.Zero(t, l%4)
		}
	}
	assert.Equal(t, 0, TCPOptions{NumSACK: -3}.Len())
	assert.Equal(t, 36, TCPOptions{NumSACK: 99}.Len(), "clamped to 4 blocks")
}
