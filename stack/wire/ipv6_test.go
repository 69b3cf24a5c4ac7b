package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIPv6View(t *testing.T) {
	// Traffic class 0xb8 (EF, not ECT), flow label 0xabcde.
	b := unhex(t, `6b8a bcde 0004 11 40
		20010db8000000000000000000000001 fe80000000000000c00054fffef50000
		01020304 eeee`)
	ip := IPv6(b)
	require.NoError(t, ip.Check())
	tests := []struct {
		name      string
		got, want any
	}{
		{"version", ip.Version(), uint8(6)},
		{"traffic class", ip.TrafficClass(), uint8(0xb8)},
		{"dscp", ip.DSCP(), uint8(46)},
		{"ecn", ip.ECN(), uint8(0)},
		{"flow label", ip.FlowLabel(), uint32(0xabcde)},
		{"payload length", ip.PayloadLen(), uint16(4)},
		{"next header", ip.NextHeader(), uint8(IPProtoUDP)},
		{"hop limit", ip.HopLimit(), uint8(64)},
		{"src", ip.SrcAddr(), v6a},
		{"dst", ip.DstAddr(), v6b},
		{"raw src", ip.Src(), v6a.AsSlice()},
		{"raw dst", ip.Dst(), v6b.AsSlice()},
		{"payload excludes padding", ip.Payload(), []byte{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tt.got) })
	}
}

func TestIPv6Check(t *testing.T) {
	good := ipv6Packet(IPProtoNoNextHeader, make([]byte, 8))
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
		{"39 bytes", good[:39], ErrTruncated},
		{"version 4", mod(func(b []byte) { b[0] = 0x45 }), ErrBadVersion},
		{"payload length past the end", mod(func(b []byte) { b[5]++ }), ErrTruncated},
		{"payload cut short", good[:47], ErrTruncated},
		{"padded", cat(good, make([]byte, 10)), nil},
		{"jumbogram reads as empty", mod(func(b []byte) { b[4], b[5] = 0, 0 }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := IPv6(tt.b).Check()
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestIPv6Setters(t *testing.T) {
	ip := IPv6(make([]byte, 40))
	ip.SetVersion()
	ip.SetTrafficClass(0xff)
	ip.SetFlowLabel(0xfffff)
	ip.SetTrafficClass(0x02)
	assert.Equal(t, uint8(6), ip.Version())
	assert.Equal(t, uint8(0x02), ip.TrafficClass())
	assert.Equal(t, uint32(0xfffff), ip.FlowLabel())
	ip.SetFlowLabel(0x123456)
	assert.Equal(t, uint32(0x23456), ip.FlowLabel(), "only 20 bits")
	assert.Equal(t, uint8(0x02), ip.TrafficClass())
	ip.SetPayloadLen(0)
	ip.SetNextHeader(IPProtoICMPv6)
	ip.SetHopLimit(255)
	ip.SetSrcAddr(v6b)
	ip.SetDstAddr(v4a)
	require.NoError(t, ip.Check())
	assert.Equal(t, uint8(IPProtoICMPv6), ip.NextHeader())
	assert.Equal(t, uint8(255), ip.HopLimit())
	assert.Equal(t, v6b, ip.SrcAddr())
	assert.Equal(t, netip.AddrFrom16(v4a.As16()), ip.DstAddr(), "ipv4 is written mapped")
}

func TestIPv6FieldsRoundTrip(t *testing.T) {
	for _, f := range []IPv6Fields{
		{TrafficClass: 0xb9, FlowLabel: 0xfffff, PayloadLen: 3, NextHeader: IPProtoTCP, HopLimit: 1, Src: v6a, Dst: v6b},
		{NextHeader: IPProtoNoNextHeader, Src: netip.IPv6Unspecified(), Dst: netip.MustParseAddr("ff02::1")},
	} {
		b := make([]byte, f.Len()+f.PayloadLen)
		f.Emit(b)
		var got IPv6Fields
		require.NoError(t, got.Parse(b))
		assert.Equal(t, f, got)
	}
}

func TestIPv6OptionsHeader(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		// Router alert (MLD) and a PadN: 8 bytes.
		f := IPv6OptionsFields{NextHeader: IPProtoICMPv6, Options: []byte{5, 2, 0, 0, 1, 0}}
		b := make([]byte, f.Len())
		f.Emit(b)
		var got IPv6OptionsFields
		require.NoError(t, got.Parse(b))
		assert.Equal(t, f, got)
	})
	t.Run("pad1", func(t *testing.T) {
		f := IPv6OptionsFields{Options: []byte{5, 3, 0, 0, 0}}
		b := make([]byte, f.Len())
		f.Emit(b)
		assert.Equal(t, []byte{0, 0, 5, 3, 0, 0, 0, IPv6OptPad1}, b)
	})
	t.Run("padn", func(t *testing.T) {
		f := IPv6OptionsFields{Options: []byte{5, 2, 0, 0}}
		b := make([]byte, f.Len())
		f.Emit(b)
		assert.Equal(t, []byte{0, 0, 5, 2, 0, 0, IPv6OptPadN, 0}, b)
		require.NoError(t, IPv6ExtHeader(b).Options().Check())
	})
	t.Run("empty", func(t *testing.T) {
		f := IPv6OptionsFields{NextHeader: 6}
		b := make([]byte, f.Len())
		f.Emit(b)
		assert.Equal(t, []byte{6, 0, 1, 4, 0, 0, 0, 0}, b)
	})
	t.Run("header cut short", func(t *testing.T) {
		assert.ErrorIs(t, IPv6ExtHeader([]byte{6, 1, 0, 0, 0, 0, 0, 0}).Check(), ErrTruncated)
		assert.ErrorIs(t, IPv6ExtHeader([]byte{6}).Check(), ErrTruncated)
	})
}

func TestIPv6OptionIter(t *testing.T) {
	opts := IPv6Options{
		IPv6OptPad1,
		IPv6OptRouterAlert, 2, 0, 0,
		IPv6OptPadN, 1, 0,
		0xc9, 1, 0xaa, // unknown, action 3
	}
	it := opts.Iter()
	o, ok := it.Next()
	require.True(t, ok)
	assert.Equal(t, IPv6Option{Type: IPv6OptRouterAlert, Data: []byte{0, 0}, Offset: 1}, o)
	o, ok = it.Next()
	require.True(t, ok)
	assert.Equal(t, IPv6Option{Type: 0xc9, Data: []byte{0xaa}, Offset: 8}, o)
	assert.Equal(t, uint8(IPv6OptActionDiscardICMPUnicast), IPv6OptionAction(o.Type))
	_, ok = it.Next()
	assert.False(t, ok)
	assert.NoError(t, it.Err())

	for name, bad := range map[string]IPv6Options{
		"no length byte":     {IPv6OptPad1, 0x05},
		"length past end":    {0x05, 4, 0, 0},
		"padn past the end":  {IPv6OptPadN, 9},
		"length 255 of 3":    {0x3e, 255, 0},
		"after a good one":   {0x05, 0, 0x05},
		"unknown, truncated": {0x80, 1},
	} {
		t.Run(name, func(t *testing.T) { assert.ErrorIs(t, bad.Check(), ErrBadOption) })
	}
	t.Run("actions", func(t *testing.T) {
		assert.Equal(t, uint8(IPv6OptActionSkip), IPv6OptionAction(IPv6OptRouterAlert))
		assert.Equal(t, uint8(IPv6OptActionDiscardICMP), IPv6OptionAction(0x80))
		assert.Equal(t, uint8(IPv6OptActionDiscard), IPv6OptionAction(0x40))
		assert.Equal(t, uint8(IPv6OptActionDiscardICMPUnicast), IPv6OptionAction(IPv6OptJumbo))
	})
}

func TestIPv6Routing(t *testing.T) {
	f := IPv6RoutingFields{NextHeader: IPProtoTCP, RoutingType: 2, SegmentsLeft: 1, Data: cat(make([]byte, 4), v6a.AsSlice())}
	b := make([]byte, f.Len())
	f.Emit(b)
	require.Equal(t, 24, len(b))
	r := IPv6Routing(b)
	require.NoError(t, r.Check())
	assert.Equal(t, uint8(IPProtoTCP), r.NextHeader())
	assert.Equal(t, 24, r.HeaderLen())
	assert.Equal(t, uint8(2), r.RoutingType())
	assert.Equal(t, uint8(1), r.SegmentsLeft())
	r.SetSegmentsLeft(0)
	assert.Equal(t, uint8(0), r.SegmentsLeft())
	r.SetSegmentsLeft(1)
	var got IPv6RoutingFields
	require.NoError(t, got.Parse(b))
	assert.Equal(t, f, got)
	t.Run("padded with zeros", func(t *testing.T) {
		g := IPv6RoutingFields{Data: []byte{9}}
		assert.Equal(t, 8, g.Len())
		b := make([]byte, 8)
		g.Emit(b)
		assert.Equal(t, []byte{0, 0, 0, 0, 9, 0, 0, 0}, b)
	})
	t.Run("cut short", func(t *testing.T) {
		assert.ErrorIs(t, IPv6Routing(b[:23]).Check(), ErrTruncated)
	})
}

func TestIPv6Fragment(t *testing.T) {
	for _, f := range []IPv6FragmentFields{
		{NextHeader: IPProtoUDP, Offset: 0, More: true, ID: 0xdeadbeef},
		{NextHeader: IPProtoTCP, Offset: 65528, More: false, ID: 1},
		{NextHeader: IPProtoICMPv6, Offset: 1232},
	} {
		b := make([]byte, f.Len())
		f.Emit(b)
		h := IPv6Fragment(b)
		require.NoError(t, h.Check())
		assert.Equal(t, f.Offset, h.FragmentOffset())
		assert.Equal(t, f.More, h.MoreFragments())
		assert.Equal(t, f.ID, h.ID())
		var got IPv6FragmentFields
		require.NoError(t, got.Parse(b))
		assert.Equal(t, f, got)
	}
	t.Run("reserved bits ignored", func(t *testing.T) {
		h := IPv6Fragment{6, 0xff, 0x00, 0x0f, 0, 0, 0, 1}
		assert.Equal(t, 8, h.FragmentOffset())
		assert.True(t, h.MoreFragments())
	})
	t.Run("cut short", func(t *testing.T) {
		assert.ErrorIs(t, IPv6Fragment(make([]byte, 7)).Check(), ErrTruncated)
	})
}
