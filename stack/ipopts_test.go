package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoOptions returns what RFC 791 has a host add to a request's
// record-route and timestamp options, and nothing else.
func TestEchoOptionsRecordRouteAndTimestamps(t *testing.T) {
	self := netip.MustParseAddr("10.0.0.1")
	now := int64(3*3600+25*60) * 1e9 // 03:25 UT: 12,300,000 ms
	ms := []byte{0x00, 0xbb, 0xae, 0xe0}
	rr := func(p byte, slots ...byte) []byte { return append([]byte{7, byte(3 + len(slots)), p}, slots...) }
	for _, c := range []struct {
		name     string
		in, want []byte
	}{
		{"route with room: our address at the pointer",
			rr(8, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0),
			append(rr(12, 10, 0, 0, 2, 10, 0, 0, 1, 0, 0, 0, 0), 0)},
		{"route full: as it came",
			rr(12, 10, 0, 0, 2, 10, 0, 0, 3, 0),
			rr(12, 10, 0, 0, 2, 10, 0, 0, 3, 0)},
		{"timestamps only",
			[]byte{68, 12, 9, 0, 1, 2, 3, 4, 0, 0, 0, 0},
			append([]byte{68, 12, 13, 0, 1, 2, 3, 4}, ms...)},
		{"timestamps full: the overflow counted",
			[]byte{68, 8, 9, 0x20, 1, 2, 3, 4},
			[]byte{68, 8, 9, 0x30, 1, 2, 3, 4}},
		{"address and timestamp",
			[]byte{68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0},
			append([]byte{68, 12, 13, 1, 10, 0, 0, 1}, ms...)},
		{"prespecified: ours",
			[]byte{68, 12, 5, 3, 10, 0, 0, 1, 0, 0, 0, 0},
			append([]byte{68, 12, 13, 3, 10, 0, 0, 1}, ms...)},
		{"prespecified: another's, left alone",
			[]byte{68, 12, 5, 3, 10, 0, 0, 9, 0, 0, 0, 0},
			[]byte{68, 12, 5, 3, 10, 0, 0, 9, 0, 0, 0, 0}},
		{"other options left out, NOPs skipped",
			append([]byte{148, 4, 0, 0, 1}, rr(4, 0, 0, 0, 0)...),
			append(rr(8, 10, 0, 0, 1), 0)},
	} {
		got := echoOptions(make([]byte, 40), c.in, self, now)
		assert.Equal(t, c.want, got, c.name)
		assert.Zero(t, len(got)%4, "%s: padded", c.name)
	}
	for name, in := range map[string][]byte{
		"none of them":          {148, 4, 0, 0},
		"a length of 0":         {7, 0, 4},
		"beyond the header":     {7, 11, 4, 0},
		"a length byte cut":     {1, 7},
		"a pointer below 4":     rr(3, 0, 0, 0, 0),
		"a timestamp too short": {68, 3, 5},
	} {
		assert.Nil(t, echoOptions(make([]byte, 40), in, self, now), name)
	}
}

// An echo reply returns the request's record route with our address
// added, as Linux's does for ping -R; a reply too large for the MTU with
// them goes without them.
func TestEchoReplyReturnsRecordRoute(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		h.out()
		req := func(payload int) []gopacket.Packet {
			ip := ip4(peerIP, ourIP, layers.IPProtocolICMPv4)
			ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{8, 10, 0, 0, 2, 0, 0, 0, 0}}}
			h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip, echoReq(1, 1), gopacket.Payload(make([]byte, payload)))
			h.at(time.Millisecond)
			return h.out()
		}
		out := req(56)
		require.Len(t, out, 1)
		ip := out[0].Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		require.NotEmpty(t, ip.Options)
		assert.Equal(t, uint8(7), ip.Options[0].OptionType)
		assert.Equal(t, []byte{12, 10, 0, 0, 2, 10, 0, 0, 1}, ip.Options[0].OptionData, "our address after the peer's")
		icmp, ok := out[0].Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		require.True(t, ok)
		assert.Equal(t, uint8(layers.ICMPv4TypeEchoReply), icmp.TypeCode.Type())
		assert.Len(t, icmp.Payload, 56)
		assert.Nil(t, out[0].ErrorLayer(), "checksums and lengths parse")

		out = req(1500 - 20 - 8 - 8)
		require.Len(t, out, 1, "without options the reply fits the MTU")
		assert.Empty(t, out[0].Layer(layers.LayerTypeIPv4).(*layers.IPv4).Options)
	})
}

// sourceRouted finds a loose or strict source route among the options,
// behind others, and not behind the end of the list or a malformed one.
func TestSourceRouted(t *testing.T) {
	lsrr := []byte{131, 7, 4, 10, 0, 0, 9}
	ssrr := []byte{137, 7, 4, 10, 0, 0, 9}
	for name, c := range map[string]struct {
		opts []byte
		want bool
	}{
		"loose":                      {lsrr, true},
		"strict":                     {ssrr, true},
		"after a NOP and a route":    {append([]byte{1, 7, 7, 4, 0, 0, 0, 0}, lsrr...), true},
		"record route only":          {[]byte{7, 7, 4, 0, 0, 0, 0, 0}, false},
		"after the end of the list":  {append([]byte{0}, lsrr...), false},
		"after a length of 0":        {append([]byte{7, 0}, ssrr...), false},
		"a length byte cut":          {[]byte{7}, false},
		"a length beyond the header": {[]byte{7, 40, 4}, false},
		"none":                       {nil, false},
		"a source route cut off":     {[]byte{1, 131}, true},
		"a source route too long":    {[]byte{137, 40, 4}, true},
	} {
		assert.Equal(t, c.want, sourceRouted(c.opts), name)
	}
}

// A source-routed echo request is dropped and counted, not answered: a
// host does not act on source routes (Linux's accept_source_route=0).
func TestSourceRoutedDatagramDropped(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		h.out()
		for _, typ := range []uint8{131, 137} {
			ip := ip4(peerIP, ourIP, layers.IPProtocolICMPv4)
			ip.Options = []layers.IPv4Option{{OptionType: typ, OptionLength: 7, OptionData: []byte{8, 10, 0, 0, 9}}}
			h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip, echoReq(1, 1), gopacket.Payload(make([]byte, 56)))
			h.at(time.Millisecond)
			assert.Empty(t, h.out(), "option %d: no reply", typ)
		}
		c := h.s.Counters()
		assert.Equal(t, uint64(2), c.IP.InSourceRouted)
		assert.Zero(t, c.ICMP.InEchos)
	})
}
