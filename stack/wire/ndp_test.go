package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNeighborSolicitationView(t *testing.T) {
	ip := IPv6(nsNonceFrame[14:])
	require.NoError(t, ip.Check())
	m := NeighborSolicitation(ip.Payload())
	require.NoError(t, m.Check())
	assert.Equal(t, netip.MustParseAddr("fe80::546f:f7ff:fee1:f"), m.Target())
	assert.True(t, ICMPv6(m).VerifyChecksum(ip.SrcAddr(), ip.DstAddr()))
	t.Run("nonce option", func(t *testing.T) {
		it := m.Options().Iter()
		o, ok := it.Next()
		require.True(t, ok)
		assert.Equal(t, uint8(NDPOptNonce), o.Type())
		assert.Equal(t, 8, o.Len())
		assert.Equal(t, mustHex("6069604c0aaa"), o.Data())
		_, ok = it.Next()
		assert.False(t, ok)
		assert.NoError(t, it.Err())
	})
	t.Run("fields", func(t *testing.T) {
		var f NeighborSolicitationFields
		require.NoError(t, f.Parse(m))
		assert.False(t, f.HasSourceLinkAddr, "DAD probes carry no source link-layer address")
		assert.True(t, f.HasNonce)
		assert.Equal(t, mustHex("6069604c0aaa"), f.Nonce[:])
		b := make([]byte, f.Len())
		f.Emit(b)
		assert.Equal(t, []byte(m[4:]), b[4:], "emitted as Linux sent it, but for the checksum")
	})
}

func TestRouterAdvertisementView(t *testing.T) {
	m := RouterAdvertisement(IPv6(raFrame[14:]).Payload())
	require.NoError(t, m.Check())
	assert.Equal(t, uint8(13), m.CurHopLimit())
	assert.True(t, m.Managed())
	assert.False(t, m.Other())
	assert.Equal(t, uint16(1800), m.RouterLifetime())
	assert.Equal(t, uint32(3700), m.ReachableTime())
	assert.Equal(t, uint32(1300), m.RetransTimer())
	assert.Empty(t, m.Options())
}

func TestNDPCheck(t *testing.T) {
	sllao := []byte{NDPOptSourceLinkAddr, 1, 2, 0, 0, 0, 0, 1}
	tests := []struct {
		name  string
		check func([]byte) error
		fixed int
	}{
		{"router solicitation", func(b []byte) error { return RouterSolicitation(b).Check() }, RouterSolicitationLen},
		{"router advertisement", func(b []byte) error { return RouterAdvertisement(b).Check() }, RouterAdvertisementLen},
		{"neighbor solicitation", func(b []byte) error { return NeighborSolicitation(b).Check() }, NeighborSolicitationLen},
		{"neighbor advertisement", func(b []byte) error { return NeighborAdvertisement(b).Check() }, NeighborAdvertisementLen},
		{"redirect", func(b []byte) error { return Redirect(b).Check() }, RedirectLen},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/fixed part only", func(t *testing.T) {
			assert.NoError(t, tt.check(make([]byte, tt.fixed)))
		})
		t.Run(tt.name+"/short", func(t *testing.T) {
			assert.ErrorIs(t, tt.check(make([]byte, tt.fixed-1)), ErrTruncated)
		})
		t.Run(tt.name+"/good option", func(t *testing.T) {
			assert.NoError(t, tt.check(cat(make([]byte, tt.fixed), sllao)))
		})
		t.Run(tt.name+"/zero-length option", func(t *testing.T) {
			// RFC 4861 §4.6: must be discarded, and must not loop.
			assert.ErrorIs(t, tt.check(cat(make([]byte, tt.fixed), sllao, []byte{1, 0, 0, 0, 0, 0, 0, 0})), ErrBadOption)
		})
		t.Run(tt.name+"/option past the end", func(t *testing.T) {
			assert.ErrorIs(t, tt.check(cat(make([]byte, tt.fixed), []byte{3, 4, 0, 0, 0, 0, 0, 0})), ErrBadOption)
		})
		t.Run(tt.name+"/lone option byte", func(t *testing.T) {
			assert.ErrorIs(t, tt.check(cat(make([]byte, tt.fixed), []byte{1})), ErrBadOption)
		})
	}
}

func TestNDPOptions(t *testing.T) {
	pi := NDPPrefixInfo{PrefixLen: 64, OnLink: true, Autonomous: true, ValidLifetime: 86400, PreferredLifetime: 14400,
		Prefix: netip.MustParseAddr("2001:db8:1::")}
	rdnss := NDPRDNSS{Lifetime: 600, Servers: []netip.Addr{v6a, netip.MustParseAddr("2001:4860:4860::8888")}}
	b := make([]byte, 8+32+8+rdnss.Len()+8)
	NDPLinkAddr{Type: NDPOptTargetLinkAddr, Addr: macB}.Emit(b)
	pi.Emit(b[8:])
	NDPMTU{MTU: 1480}.Emit(b[40:])
	rdnss.Emit(b[48:])
	copy(b[48+rdnss.Len():], []byte{253, 1, 9, 9, 9, 9, 9, 9}) // unknown: skipped

	it := NDPOptions(b).Iter()
	var types []uint8
	for {
		o, ok := it.Next()
		if !ok {
			break
		}
		types = append(types, o.Type())
		switch o.Type() {
		case NDPOptTargetLinkAddr:
			var got NDPLinkAddr
			require.NoError(t, got.Parse(o))
			assert.Equal(t, NDPLinkAddr{Type: NDPOptTargetLinkAddr, Addr: macB}, got)
			mac, ok := o.LinkAddr()
			assert.True(t, ok)
			assert.Equal(t, macB, mac)
		case NDPOptPrefixInfo:
			var got NDPPrefixInfo
			require.NoError(t, got.Parse(o))
			assert.Equal(t, pi, got)
		case NDPOptMTU:
			var got NDPMTU
			require.NoError(t, got.Parse(o))
			assert.Equal(t, uint32(1480), got.MTU)
		case NDPOptRDNSS:
			var got NDPRDNSS
			require.NoError(t, got.Parse(o))
			assert.Equal(t, rdnss, got)
		}
	}
	require.NoError(t, it.Err())
	assert.Equal(t, []uint8{NDPOptTargetLinkAddr, NDPOptPrefixInfo, NDPOptMTU, NDPOptRDNSS, 253}, types)

	t.Run("wrong shapes are refused", func(t *testing.T) {
		var p NDPPrefixInfo
		assert.ErrorIs(t, p.Parse(b[8:8+24]), ErrBadOption)
		var m NDPMTU
		assert.ErrorIs(t, m.Parse([]byte{5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), ErrBadOption)
		var r NDPRDNSS
		assert.ErrorIs(t, r.Parse([]byte{25, 1, 0, 0, 0, 0, 0, 0}), ErrBadOption, "no server")
		assert.ErrorIs(t, r.Parse(cat([]byte{25, 4, 0, 0, 0, 0, 0, 0}, make([]byte, 24))), ErrBadOption, "half a server")
		var l NDPLinkAddr
		assert.ErrorIs(t, l.Parse([]byte{1, 1, 0, 0}), ErrBadOption)
		_, ok := NDPOption([]byte{1, 0}).LinkAddr()
		assert.False(t, ok)
	})
	t.Run("rdnss parse reuses capacity", func(t *testing.T) {
		r := NDPRDNSS{Servers: make([]netip.Addr, 0, 4)}
		allocs := testing.AllocsPerRun(10, func() { _ = r.Parse(b[48 : 48+rdnss.Len()]) })
		assert.Zero(t, allocs)
		assert.Len(t, r.Servers, 2)
	})
}

func TestNDPFieldsRoundTrip(t *testing.T) {
	pfx := []NDPPrefixInfo{
		{PrefixLen: 64, OnLink: true, Autonomous: true, ValidLifetime: 0xffffffff, PreferredLifetime: 0xffffffff, Prefix: netip.MustParseAddr("2001:db8::")},
		{PrefixLen: 48, OnLink: true, Prefix: netip.MustParseAddr("fd00:1::")},
	}
	type roundTripper interface {
		Len() int
		Emit([]byte)
	}
	tests := []struct {
		name  string
		f     roundTripper
		parse func([]byte) (any, error)
		typ   uint8
	}{
		{"router solicitation", RouterSolicitationFields{SourceLinkAddr: macA, HasSourceLinkAddr: true},
			func(b []byte) (any, error) { var f RouterSolicitationFields; err := f.Parse(b); return f, err }, ICMPv6RouterSolicitation},
		{"router solicitation from unspecified", RouterSolicitationFields{},
			func(b []byte) (any, error) { var f RouterSolicitationFields; err := f.Parse(b); return f, err }, ICMPv6RouterSolicitation},
		{"router advertisement", RouterAdvertisementFields{CurHopLimit: 64, Managed: true, RouterLifetime: 1800, ReachableTime: 30000,
			RetransTimer: 1000, SourceLinkAddr: macB, HasSourceLinkAddr: true, MTU: 1500, HasMTU: true, Prefixes: pfx},
			func(b []byte) (any, error) { var f RouterAdvertisementFields; err := f.Parse(b); return f, err }, ICMPv6RouterAdvertisement},
		{"router advertisement, bare", RouterAdvertisementFields{Other: true},
			func(b []byte) (any, error) { var f RouterAdvertisementFields; err := f.Parse(b); return f, err }, ICMPv6RouterAdvertisement},
		{"neighbor solicitation", NeighborSolicitationFields{Target: v6b, SourceLinkAddr: macA, HasSourceLinkAddr: true},
			func(b []byte) (any, error) { var f NeighborSolicitationFields; err := f.Parse(b); return f, err }, ICMPv6NeighborSolicitation},
		{"neighbor advertisement", NeighborAdvertisementFields{Router: true, Solicited: true, Override: true, Target: v6b,
			TargetLinkAddr: macB, HasTargetLinkAddr: true},
			func(b []byte) (any, error) { var f NeighborAdvertisementFields; err := f.Parse(b); return f, err }, ICMPv6NeighborAdvertisement},
		{"neighbor advertisement, solicited only", NeighborAdvertisementFields{Solicited: true, Target: v6a},
			func(b []byte) (any, error) { var f NeighborAdvertisementFields; err := f.Parse(b); return f, err }, ICMPv6NeighborAdvertisement},
		{"redirect", RedirectFields{Target: v6b, Destination: v6a, TargetLinkAddr: macA, HasTargetLinkAddr: true},
			func(b []byte) (any, error) { var f RedirectFields; err := f.Parse(b); return f, err }, ICMPv6Redirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.f.Len())
			for i := range b {
				b[i] = 0xee // Emit must write every byte
			}
			tt.f.Emit(b)
			assert.Equal(t, tt.typ, ICMPv6(b).Type())
			assert.Equal(t, uint8(0), ICMPv6(b).Code())
			got, err := tt.parse(b)
			require.NoError(t, err)
			assert.Equal(t, tt.f, got)
		})
	}
}

func TestNeighborAdvertisementFlags(t *testing.T) {
	m := NeighborAdvertisement(make([]byte, NeighborAdvertisementLen))
	m.SetFlags(false, true, false)
	assert.False(t, m.Router())
	assert.True(t, m.Solicited())
	assert.False(t, m.Override())
	assert.Equal(t, byte(0x40), m[4])
}

func TestRouterAdvertisementSkipsMalformedKnownOptions(t *testing.T) {
	b := cat(make([]byte, RouterAdvertisementLen),
		[]byte{NDPOptPrefixInfo, 1, 64, 0xc0, 0, 0, 0, 0}, // prefix info of length 1
		[]byte{NDPOptMTU, 1, 0, 0, 0, 0, 5, 0xdc})
	var f RouterAdvertisementFields
	require.NoError(t, f.Parse(b))
	assert.Empty(t, f.Prefixes)
	assert.True(t, f.HasMTU)
	assert.Equal(t, uint32(1500), f.MTU)
}
