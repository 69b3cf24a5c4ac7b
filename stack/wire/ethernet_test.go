package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEthernetView(t *testing.T) {
	e := Ethernet(synFrame)
	require.NoError(t, e.Check())
	t.Run("addresses", func(t *testing.T) {
		assert.Equal(t, MAC{0x52, 0x54, 0x00, 0x12, 0x35, 0x02}, e.Dst())
		assert.Equal(t, MAC{0x08, 0x00, 0x27, 0xef, 0x1f, 0x74}, e.Src())
	})
	t.Run("type", func(t *testing.T) {
		assert.Equal(t, EtherTypeIPv4, e.EtherType())
	})
	t.Run("payload", func(t *testing.T) {
		assert.Equal(t, synFrame[14:], e.Payload())
	})
	t.Run("setters", func(t *testing.T) {
		b := make(Ethernet, 14)
		b.SetDst(macA)
		b.SetSrc(macB)
		b.SetEtherType(EtherTypeARP)
		assert.Equal(t, macA, b.Dst())
		assert.Equal(t, macB, b.Src())
		assert.Equal(t, EtherTypeARP, b.EtherType())
	})
}

func TestEthernetCheck(t *testing.T) {
	for _, n := range []int{0, 1, 13} {
		assert.ErrorIs(t, Ethernet(make([]byte, n)).Check(), ErrTruncated, "length %d", n)
	}
	assert.NoError(t, Ethernet(make([]byte, 14)).Check())
}

func TestEthernetL2(t *testing.T) {
	hdr := unhex(t, "ffffffffffff 020000000001")
	tests := []struct {
		name    string
		rest    string
		want    L2Info
		wantErr error
	}{
		{name: "untagged", rest: "86dd 6000",
			want: L2Info{EtherType: EtherTypeIPv6, HeaderLen: 14}},
		{name: "one 802.1Q tag", rest: "8100 a064 0800 45",
			want: L2Info{EtherType: EtherTypeIPv4, HeaderLen: 18, NumTags: 1,
				Tags: [2]VLANTag{{TPID: EtherTypeVLAN, TCI: 0xa064}}}},
		{name: "802.1ad then 802.1Q", rest: "88a8 0064 8100 00c8 0806",
			want: L2Info{EtherType: EtherTypeARP, HeaderLen: 22, NumTags: 2,
				Tags: [2]VLANTag{{TPID: EtherTypeQinQ, TCI: 100}, {TPID: EtherTypeVLAN, TCI: 200}}}},
		{name: "vlan 0 priority tag", rest: "8100 0000 0800",
			want: L2Info{EtherType: EtherTypeIPv4, HeaderLen: 18, NumTags: 1,
				Tags: [2]VLANTag{{TPID: EtherTypeVLAN}}}},
		{name: "three tags refused", rest: "88a8 0001 8100 0002 8100 0003 0800", wantErr: ErrUnsupported},
		{name: "tag cut short", rest: "8100 0001", wantErr: ErrTruncated},
		{name: "tag without inner type", rest: "8100 0001 08", wantErr: ErrTruncated},
		{name: "802.3 length is passed on", rest: "0026 4242",
			want: L2Info{EtherType: 0x0026, HeaderLen: 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l2, err := Ethernet(cat(hdr, unhex(t, tt.rest))).L2()
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, l2)
		})
	}
	t.Run("short frame", func(t *testing.T) {
		_, err := Ethernet(hdr).L2()
		assert.ErrorIs(t, err, ErrTruncated)
	})
}

func TestVLANTag(t *testing.T) {
	tag := VLANTag{TPID: EtherTypeVLAN, TCI: 0xb064} // PCP 5, DEI 1, VID 100
	assert.Equal(t, uint8(5), tag.Priority())
	assert.True(t, tag.DropEligible())
	assert.Equal(t, uint16(100), tag.ID())
}

func TestEthernetFieldsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    EthernetFields
	}{
		{"untagged", EthernetFields{Dst: macA, Src: macB, EtherType: EtherTypeIPv4}},
		{"one tag", EthernetFields{Dst: macA, Src: macB, EtherType: EtherTypeIPv6, NumTags: 1,
			Tags: [2]VLANTag{{TPID: EtherTypeVLAN, TCI: 42}}}},
		{"two tags", EthernetFields{Dst: macA, Src: macB, EtherType: EtherTypeARP, NumTags: 2,
			Tags: [2]VLANTag{{TPID: EtherTypeQinQ, TCI: 7}, {TPID: EtherTypeVLAN, TCI: 0xe00f}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.f.Len())
			tt.f.Emit(b)
			var got EthernetFields
			require.NoError(t, got.Parse(b))
			assert.Equal(t, tt.f, got)
			assert.Equal(t, 14+4*tt.f.NumTags, tt.f.Len())
		})
	}
	t.Run("tag count is clamped", func(t *testing.T) {
		assert.Equal(t, 22, EthernetFields{NumTags: 9}.Len())
		assert.Equal(t, 14, EthernetFields{NumTags: -1}.Len())
	})
}

func TestMAC(t *testing.T) {
	t.Run("string", func(t *testing.T) {
		assert.Equal(t, "52:54:00:12:34:56", macB.String())
	})
	t.Run("broadcast", func(t *testing.T) {
		b := MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		assert.True(t, b.IsBroadcast())
		assert.True(t, b.IsMulticast())
		assert.False(t, macA.IsBroadcast())
		assert.False(t, macA.IsMulticast())
	})
	t.Run("multicast mapping", func(t *testing.T) {
		assert.Equal(t, MAC{0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01}, MulticastMAC(netip.MustParseAddr("239.255.0.1")))
		assert.Equal(t, MAC{0x33, 0x33, 0xff, 0xf5, 0x00, 0x00}, MulticastMAC(netip.MustParseAddr("ff02::1:fff5:0")))
		assert.Equal(t, MAC{}, MulticastMAC(v4a))
		assert.Equal(t, MAC{}, MulticastMAC(netip.Addr{}))
	})
}

func TestEtherTypeString(t *testing.T) {
	assert.Equal(t, "IPv4", EtherTypeIPv4.String())
	assert.Equal(t, "IPv6", EtherTypeIPv6.String())
	assert.Equal(t, "ARP", EtherTypeARP.String())
	assert.Equal(t, "802.1Q", EtherTypeVLAN.String())
	assert.Equal(t, "802.1ad", EtherTypeQinQ.String())
	assert.Equal(t, "0x88cc", EtherType(0x88cc).String())
}
