package isn

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/tcp/seq"
)

const window = 64 * sec

func TestCookieMSS(t *testing.T) {
	tests := []struct{ in, want int }{
		{in: 0, want: 536},
		{in: 536, want: 536},
		{in: 1219, want: 536},
		{in: 1220, want: 1220},
		{in: 1380, want: 1360},
		{in: 1459, want: 1440},
		{in: 1460, want: 1460},
		{in: 8959, want: 1460},
		{in: 9000, want: 8960},
		{in: 65535, want: 8960},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, CookieMSS(tt.in), "MSS %d", tt.in)
	}
}

// TestCookieRoundTrip encodes and decodes every MSS in the table with every
// combination of options, on IPv4 and IPv6 tuples.
func TestCookieRoundTrip(t *testing.T) {
	g := New(99)
	now := 1000*window + 17*sec
	clientISN := seq.Value(0xdeadbeef)
	for _, tuple := range []Tuple{tuple4, tuple6} {
		for _, mss := range cookieMSS {
			for _, ws := range []int{-1, 0, 7, 14} {
				for _, sack := range []bool{false, true} {
					for _, ts := range []bool{false, true} {
						name := fmt.Sprintf("%v/mss=%d/ws=%d/sack=%v/ts=%v", tuple.Local.Addr(), mss, ws, sack, ts)
						t.Run(name, func(t *testing.T) {
							in := CookieOptions{MSS: mss, WScale: ws, SACKPermitted: sack}
							tsNow := uint32(0x12345678)
							cookie, tsval := g.EncodeCookie(tuple, now, clientISN, in, ts, tsNow)
							want := in
							if ts {
								assert.LessOrEqual(t, tsval, tsNow, "TSval never in the future")
								assert.Less(t, tsNow-tsval, uint32(64))
							} else {
								assert.Zero(t, tsval)
								want.WScale, want.SACKPermitted = -1, false
							}
							got, ok := g.DecodeCookie(tuple, now+sec, cookie, clientISN, ts, tsval)
							require.True(t, ok)
							assert.Equal(t, want, got)
						})
					}
				}
			}
		}
	}
}

func TestCookieRoundsDownMSS(t *testing.T) {
	g := New(1)
	cookie, _ := g.EncodeCookie(tuple4, 0, 1, CookieOptions{MSS: 1452, WScale: -1}, false, 0)
	got, ok := g.DecodeCookie(tuple4, 0, cookie, 1, false, 0)
	require.True(t, ok)
	assert.Equal(t, 1440, got.MSS)
	// Window scale above 14 is recorded as 14 (RFC 7323 §2.3).
	cookie, tsval := g.EncodeCookie(tuple4, 0, 1, CookieOptions{MSS: 1460, WScale: 15}, true, 1000)
	got, ok = g.DecodeCookie(tuple4, 0, cookie, 1, true, tsval)
	require.True(t, ok)
	assert.Equal(t, 14, got.WScale)
}

func TestCookieTSvalLowBits(t *testing.T) {
	g := New(1)
	// Low bits of tsNow below the option bits: the TSval steps back a
	// little rather than forward.
	_, tsval := g.EncodeCookie(tuple4, 0, 1, CookieOptions{MSS: 1460, WScale: 7, SACKPermitted: true}, true, 0x1000)
	assert.Equal(t, uint32(0x1000-32+0x17), tsval)
	_, tsval = g.EncodeCookie(tuple4, 0, 1, CookieOptions{MSS: 1460, WScale: 7, SACKPermitted: true}, true, 0x101f)
	assert.Equal(t, uint32(0x1017), tsval)
}

func TestCookieExpiry(t *testing.T) {
	g := New(5)
	made := 10*window + 5*sec
	cookie, _ := g.EncodeCookie(tuple4, made, 77, CookieOptions{MSS: 1460, WScale: -1}, false, 0)
	tests := []struct {
		name string
		at   int64
		ok   bool
	}{
		{name: "at once", at: made, ok: true},
		{name: "end of its window", at: 11*window - 1, ok: true},
		{name: "next window", at: 11 * window, ok: true},
		{name: "end of the next window", at: 12*window - 1, ok: true},
		{name: "two windows later", at: 12 * window},
		{name: "counter wrapped to the same five bits", at: made + 32*window},
		{name: "one window after the wrap", at: made + 33*window},
		{name: "from the past", at: made - window},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := g.DecodeCookie(tuple4, tt.at, cookie, 77, false, 0)
			assert.Equal(t, tt.ok, ok)
		})
	}
	t.Run("first window has no previous", func(t *testing.T) {
		c, _ := g.EncodeCookie(tuple4, 0, 77, CookieOptions{MSS: 1460, WScale: -1}, false, 0)
		_, ok := g.DecodeCookie(tuple4, window, c, 77, false, 0)
		assert.True(t, ok)
		forged := seq.Value(uint32(c) | 31<<27) // claims window -1
		_, ok = g.DecodeCookie(tuple4, 0, forged, 77, false, 0)
		assert.False(t, ok)
	})
}

func TestCookieTampering(t *testing.T) {
	g := New(11)
	now := 500 * window
	clientISN := seq.Value(1000)
	opts := CookieOptions{MSS: 1460, WScale: 7, SACKPermitted: true}
	cookie, tsval := g.EncodeCookie(tuple6, now, clientISN, opts, true, 0xabcdef00)
	_, ok := g.DecodeCookie(tuple6, now, cookie, clientISN, true, tsval)
	require.True(t, ok)

	// echo is what the final ACK brings back; each case alters one thing.
	type echo struct {
		g         Generator
		t         Tuple
		cookie    seq.Value
		clientISN seq.Value
		ts        bool
		tsecr     uint32
	}
	tests := []struct {
		name  string
		alter func(e *echo)
	}{
		{name: "other remote port", alter: func(e *echo) { e.t.Remote = netip.AddrPortFrom(e.t.Remote.Addr(), 50001) }},
		{name: "other remote address", alter: func(e *echo) { e.t.Remote = netip.MustParseAddrPort("[2001:db8:ffff::43]:50000") }},
		{name: "other local address", alter: func(e *echo) { e.t.Local = netip.MustParseAddrPort("[2001:db8::2]:443") }},
		{name: "other local port", alter: func(e *echo) { e.t.Local = netip.MustParseAddrPort("[2001:db8::1]:444") }},
		{name: "ack off by one", alter: func(e *echo) { e.cookie++ }},
		{name: "MSS index raised", alter: func(e *echo) { e.cookie += 1 << 24 }},
		{name: "window bits changed", alter: func(e *echo) { e.cookie ^= 1 << 27 }},
		{name: "client ISN changed", alter: func(e *echo) { e.clientISN++ }},
		{name: "window scale bits changed", alter: func(e *echo) { e.tsecr ^= 0x01 }},
		{name: "SACK bit changed", alter: func(e *echo) { e.tsecr ^= sackBit }},
		{name: "timestamps dropped", alter: func(e *echo) { e.ts = false }},
		{name: "other secret", alter: func(e *echo) { e.g = New(12) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo{g: g, t: tuple6, cookie: cookie, clientISN: clientISN, ts: true, tsecr: tsval}
			tt.alter(&e)
			_, ok := e.g.DecodeCookie(e.t, now, e.cookie, e.clientISN, e.ts, e.tsecr)
			assert.False(t, ok)
		})
	}
}

func TestCookieForgery(t *testing.T) {
	// Random guesses at a cookie: each must match the window bits (2/32)
	// and the 24-bit MAC; 200,000 guesses should all fail.
	g := New(3)
	now := 100 * window
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200_000; i++ {
		_, ok := g.DecodeCookie(tuple4, now, seq.Value(rng.Uint32()), seq.Value(rng.Uint32()), false, 0)
		require.False(t, ok, "guess %d", i)
	}
}

func TestCookieSeeds(t *testing.T) {
	now := 3 * window
	opts := CookieOptions{MSS: 1460, WScale: 7, SACKPermitted: true}
	a1, ts1 := New(1).EncodeCookie(tuple4, now, 5, opts, true, 99999)
	a2, ts2 := New(1).EncodeCookie(tuple4, now, 5, opts, true, 99999)
	b, _ := New(2).EncodeCookie(tuple4, now, 5, opts, true, 99999)
	assert.Equal(t, a1, a2, "deterministic")
	assert.Equal(t, ts1, ts2)
	assert.NotEqual(t, a1, b, "different seeds")
	assert.Equal(t, uint32(a1)>>24, uint32(b)>>24, "same window and MSS bits")
	_, ok := New(2).DecodeCookie(tuple4, now, a1, 5, true, ts1)
	assert.False(t, ok)
	// The ISN and cookie secrets are distinct.
	g := New(1)
	assert.NotEqual(t, g.isnKey, g.cookieKey)
}

func TestNoAllocations(t *testing.T) {
	g := New(1)
	now := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		now += 1_000_000
		g.ISN(tuple6, now)
		c, ts := g.EncodeCookie(tuple6, now, 9, CookieOptions{MSS: 1460, WScale: 7}, true, uint32(now))
		g.DecodeCookie(tuple6, now, c, 9, true, ts)
	})
	assert.Zero(t, allocs)
}

func BenchmarkISN(b *testing.B) {
	g := New(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		g.ISN(tuple6, int64(i))
	}
}
