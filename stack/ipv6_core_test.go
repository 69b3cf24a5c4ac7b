package stack

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// IPv6 below the interface: frames crafted with gopacket (or by hand for
// extension headers gopacket does not write), explicit virtual time.

var (
	our6      = netip.MustParseAddr("2001:db8::1")
	peer6     = netip.MustParseAddr("2001:db8::9")
	ourLL     = netip.MustParseAddr("fe80::ff:fe00:1") // from ourMAC
	peerLL    = netip.MustParseAddr("fe80::ff:fe00:9")
	routerLL  = netip.MustParseAddr("fe80::1")
	routerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xaa}
)

// newHarness6 is newHarness with 2001:db8::1/64 too. Unless cfg says
// otherwise, the addresses are up at once and no router is solicited.
func newHarness6(t *testing.T, mbuf bool, cfg Config, neighbors ...Neighbor) *harness {
	clock := backend.NewVirtualClock(t0)
	fd := newFeeder(t, clock, mbuf, ourMAC)
	cfg.Interfaces = []InterfaceConfig{{Backend: fd, Neighbors: neighbors,
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("2001:db8::1/64")}}}
	cfg.Seed, cfg.Clock, cfg.Manual = 1, clock, true
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.IPv6 == (IPv6Config{}) {
		cfg.IPv6 = quietIPv6
	}
	s, err := New(cfg)
	require.NoError(t, err)
	h := &harness{t: t, clock: clock, fd: fd, s: s}
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		assert.Zero(t, fd.Outstanding(), "buffers")
	})
	// The gratuitous ARP request goes first (New sends it); the IPv6
	// tests look at what follows.
	h.poll()
	require.NotEmpty(t, fd.out)
	require.Equal(t, uint16(wire.EtherTypeARP), uint16(wire.Ethernet(fd.out[0]).EtherType()))
	h.seen = 1
	return h
}

var peerNeighbors = []Neighbor{{Addr: peer6, MAC: peerMAC}, {Addr: peerLL, MAC: peerMAC}}

func ip6(src, dst netip.Addr, next layers.IPProtocol, hop uint8) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// in6 injects a frame built from layers, with checksums over the IPv6
// pseudo-header.
func (h *harness) in6(ls ...gopacket.SerializableLayer) {
	var ip *layers.IPv6
	for _, l := range ls {
		switch tl := l.(type) {
		case *layers.IPv6:
			ip = tl
		case *layers.ICMPv6:
			tl.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			tl.SetNetworkLayerForChecksum(ip)
		case *layers.TCP:
			tl.SetNetworkLayerForChecksum(ip)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(h.t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	h.inRaw(buf.Bytes())
}

func icmp6(typ, code uint8) *layers.ICMPv6 {
	return &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
}

// echo6 injects an echo request from src (at srcMAC) to dst.
func (h *harness) echo6(srcMAC net.HardwareAddr, src, dst netip.Addr, seq uint16) {
	dmac := net.HardwareAddr(ourMAC)
	if dst.IsMulticast() {
		m := wire.MulticastMAC(dst)
		dmac = m[:]
	}
	h.in6(eth(srcMAC, dmac, layers.EthernetTypeIPv6), ip6(src, dst, layers.IPProtocolICMPv6, 64),
		icmp6(layers.ICMPv6TypeEchoRequest, 0), &layers.ICMPv6Echo{Identifier: 1, SeqNumber: seq}, gopacket.Payload("ping"))
}

func slla(mac net.HardwareAddr) layers.ICMPv6Option {
	return layers.ICMPv6Option{Type: layers.ICMPv6OptSourceAddress, Data: mac}
}

func tlla(mac net.HardwareAddr) layers.ICMPv6Option {
	return layers.ICMPv6Option{Type: layers.ICMPv6OptTargetAddress, Data: mac}
}

// na injects a neighbour advertisement for target from the peer.
func (h *harness) na(hop uint8, target netip.Addr, flags uint8, opts ...layers.ICMPv6Option) {
	h.in6(eth(peerMAC, ourMAC, layers.EthernetTypeIPv6), ip6(target, our6, layers.IPProtocolICMPv6, hop),
		icmp6(layers.ICMPv6TypeNeighborAdvertisement, 0),
		&layers.ICMPv6NeighborAdvertisement{Flags: flags, TargetAddress: target.AsSlice(), Options: opts})
}

// NA flags as gopacket has them in its Flags byte.
const (
	naRouter    = 0x80
	naSolicited = 0x40
	naOverride  = 0x20
)

func icmp6Of(p gopacket.Packet) *layers.ICMPv6 {
	l, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	return l
}

func ip6Of(p gopacket.Packet) *layers.IPv6 {
	l, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	return l
}

func dstMAC(p gopacket.Packet) net.HardwareAddr { return p.LinkLayer().(*layers.Ethernet).DstMAC }

// ofType keeps the ICMPv6 messages of type typ.
func ofType(ps []gopacket.Packet, typ uint8) []gopacket.Packet {
	var r []gopacket.Packet
	for _, p := range ps {
		if m := icmp6Of(p); m != nil && m.TypeCode.Type() == typ {
			r = append(r, p)
		}
	}
	return r
}

// assertNS checks a neighbour solicitation for target from src to dst.
func assertNS(t *testing.T, p gopacket.Packet, src, dst, target netip.Addr, withSLLA bool) {
	t.Helper()
	ip := ip6Of(p)
	require.NotNil(t, ip)
	assert.Equal(t, src.String(), ip.SrcIP.String(), "source")
	assert.Equal(t, dst.String(), ip.DstIP.String(), "destination")
	assert.Equal(t, uint8(255), ip.HopLimit)
	ns, ok := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
	require.True(t, ok, "a neighbour solicitation")
	assert.Equal(t, target.String(), ns.TargetAddress.String())
	if withSLLA {
		require.Len(t, ns.Options, 1)
		assert.Equal(t, layers.ICMPv6OptSourceAddress, ns.Options[0].Type)
		assert.Equal(t, []byte(ourMAC), ns.Options[0].Data)
	} else {
		// A duplicate address detection probe: only a nonce (RFC 7527).
		require.Len(t, ns.Options, 1)
		assert.Equal(t, layers.ICMPv6Opt(wire.NDPOptNonce), ns.Options[0].Type)
		assert.Len(t, ns.Options[0].Data, wire.NDPNonceLen)
	}
	if dst.IsMulticast() {
		m := wire.MulticastMAC(dst)
		assert.Equal(t, m[:], []byte(dstMAC(p)), "the group's MAC")
	}
}

// logBuffer collects a stack's logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// RFC 4862 §5.4: every address, the link-local one from the MAC (RFC 4291
// Appendix A) and the static one, is checked with a solicitation from the
// unspecified address and used only RetransTimer after it.
func TestIPv6DuplicateAddressDetection(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		var logs logBuffer
		cfg := Config{IPv6: IPv6Config{StartDelay: -1, RouterSolicitations: -1, MLDReports: -1}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		h := newHarness6(t, mbuf, cfg, peerNeighbors...)
		out := ofType(h.out(), layers.ICMPv6TypeNeighborSolicitation)
		require.Len(t, out, 2, "one solicitation per address")
		assertNS(t, out[0], netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1:ff00:1"), ourLL, false)
		assertNS(t, out[1], netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1:ff00:1"), our6, false)
		assert.NotContains(t, logs.String(), "addr=2001:db8::1/64")

		h.at(500 * time.Millisecond)
		h.echo6(peerMAC, peer6, our6, 1)
		assert.Empty(t, h.out(), "a tentative address receives nothing")
		h.at(time.Second - 1)
		assert.Empty(t, h.out())
		soon, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, h.s.WaitAddresses(soon), context.DeadlineExceeded, "still tentative")
		h.at(time.Second)
		assert.NoError(t, h.s.WaitAddresses(context.Background()), "detection over")
		h.echo6(peerMAC, peer6, our6, 2)
		out = ofType(h.out(), layers.ICMPv6TypeEchoReply)
		require.Len(t, out, 1, "up after RetransTimer")
		assert.Contains(t, logs.String(), `msg="address up" addr=fe80::ff:fe00:1/64 source=linklocal iface=eth0`)
		assert.Contains(t, logs.String(), `msg="address up" addr=2001:db8::1/64 source=static iface=eth0`)
	})
}

// RFC 7527 §4.2: a link that loops our own probe back (its nonce ours)
// does not make the address a duplicate; another node's probe, with a
// nonce of its own, does.
func TestIPv6LoopedBackProbeIsOurs(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{IPv6: IPv6Config{StartDelay: -1, RouterSolicitations: -1, MLDReports: -1}}, peerNeighbors...)
		out := ofType(h.out(), layers.ICMPv6TypeNeighborSolicitation)
		require.Len(t, out, 2)
		for _, p := range out {
			h.inRaw(p.Data())
		}
		assert.Equal(t, uint64(2), h.s.Counters().NDP.DADLoopedBack)
		assert.Zero(t, h.s.Counters().NDP.DADConflicts)

		// The same probe with another nonce is another node's.
		other := bytes.Clone(out[1].Data())
		other[len(other)-1] ^= 0xff
		fixICMPv6Checksum(t, other)
		h.inRaw(other)
		assert.Equal(t, uint64(1), h.s.Counters().NDP.DADConflicts)

		h.at(2 * time.Second)
		h.out()
		h.echo6(peerMAC, peerLL, ourLL, 1)
		assert.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1, "the link-local address is up")
		h.echo6(peerMAC, peer6, our6, 2)
		assert.Empty(t, h.out(), "the address another node probed is not")
	})
}

// fixICMPv6Checksum recomputes the ICMPv6 checksum of an Ethernet frame
// holding an IPv6 packet without extension headers.
func fixICMPv6Checksum(t *testing.T, frame []byte) {
	t.Helper()
	ip := wire.IPv6(frame[wire.EthernetHeaderLen:])
	require.NoError(t, ip.Check())
	m := ip.Payload()
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], wire.TransportChecksum(ip.SrcAddr(), ip.DstAddr(), wire.IPProtoICMPv6, m))
}

// RFC 4862 §5.4.3, §5.4.4: an advertisement for a tentative address, or
// another node's solicitation from the unspecified address for it, means
// the address is someone else's.
func TestIPv6DuplicateAddressIsNotUsed(t *testing.T) {
	for _, how := range []string{"advertisement", "solicitation"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness6(t, false, Config{IPv6: IPv6Config{StartDelay: -1, RouterSolicitations: -1, MLDReports: -1}}, peerNeighbors...)
			h.out()
			h.at(300 * time.Millisecond)
			allNodesMAC := net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
			if how == "advertisement" {
				h.in6(eth(peerMAC, allNodesMAC, layers.EthernetTypeIPv6), ip6(peerLL, allNodes, layers.IPProtocolICMPv6, 255),
					icmp6(layers.ICMPv6TypeNeighborAdvertisement, 0),
					&layers.ICMPv6NeighborAdvertisement{Flags: naOverride, TargetAddress: our6.AsSlice(), Options: layers.ICMPv6Options{tlla(peerMAC)}})
			} else {
				sn := netip.MustParseAddr("ff02::1:ff00:1")
				m := wire.MulticastMAC(sn)
				h.in6(eth(peerMAC, m[:], layers.EthernetTypeIPv6), ip6(netip.IPv6Unspecified(), sn, layers.IPProtocolICMPv6, 255),
					icmp6(layers.ICMPv6TypeNeighborSolicitation, 0),
					&layers.ICMPv6NeighborSolicitation{TargetAddress: our6.AsSlice()})
			}
			assert.Equal(t, uint64(1), h.s.Counters().NDP.DADConflicts)
			h.at(2 * time.Second)
			h.out()
			h.echo6(peerMAC, peer6, our6, 1)
			assert.Empty(t, h.out(), "the duplicate address is never used")
			h.echo6(peerMAC, peerLL, ourLL, 2)
			assert.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1, "the link-local address is")
		})
	}
}

// RFC 4861 §7.2.2, §7.3.3: resolution by multicast solicitations,
// RetransTimer apart, MAX_MULTICAST_SOLICIT of them; a solicited
// advertisement makes the entry REACHABLE; used when stale, it waits
// DELAY_FIRST_PROBE_TIME, then is probed by unicast solicitations.
func TestNDPResolutionAndUnreachabilityDetection(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{})
		sn := netip.MustParseAddr("ff02::1:ff00:9")
		h.echo6(peerMAC, peer6, our6, 1)
		out := h.out()
		require.Len(t, out, 1, "a solicitation, the reply waits")
		assertNS(t, out[0], our6, sn, peer6, true)
		h.at(time.Second - 1)
		assert.Empty(t, h.out())
		h.at(time.Second)
		require.Len(t, ofType(h.out(), layers.ICMPv6TypeNeighborSolicitation), 1)
		h.at(2 * time.Second)
		require.Len(t, ofType(h.out(), layers.ICMPv6TypeNeighborSolicitation), 1)
		h.at(3 * time.Second)
		assert.Empty(t, h.out(), "three solicitations, then give up")
		assert.Equal(t, uint64(1), h.s.Counters().NDP.ResolveFailures)

		h.at(10 * time.Second)
		h.echo6(peerMAC, peer6, our6, 2)
		require.Len(t, h.out(), 1)
		h.at(10*time.Second + 500*time.Millisecond)
		h.na(255, peer6, naSolicited|naOverride, tlla(peerMAC))
		out = h.out()
		require.Len(t, out, 1, "the waiting reply")
		assert.Equal(t, []byte(peerMAC), []byte(dstMAC(out[0])))
		assert.Equal(t, uint8(layers.ICMPv6TypeEchoReply), icmp6Of(out[0]).TypeCode.Type())

		// Reachable for 15 to 45 s (RFC 4861 §6.3.2); stale by then and
		// still used, with no solicitation for DELAY_FIRST_PROBE_TIME.
		h.at(60*time.Second + 500*time.Millisecond)
		h.echo6(peerMAC, peer6, our6, 3)
		out = h.out()
		require.Len(t, out, 1)
		assert.Equal(t, uint8(layers.ICMPv6TypeEchoReply), icmp6Of(out[0]).TypeCode.Type())
		h.at(65*time.Second + 500*time.Millisecond - 1)
		assert.Empty(t, h.out())
		for i := range 3 {
			h.at(65*time.Second + 500*time.Millisecond + time.Duration(i)*time.Second)
			out = h.out()
			require.Len(t, out, 1, "probe %d", i)
			assertNS(t, out[0], our6, peer6, peer6, true)
			assert.Equal(t, []byte(peerMAC), []byte(dstMAC(out[0])), "unicast to the known MAC")
		}
		h.at(68*time.Second + 500*time.Millisecond)
		assert.Empty(t, h.out(), "unreachable: forgotten")
		h.echo6(peerMAC, peer6, our6, 4)
		out = h.out()
		require.Len(t, out, 1)
		assertNS(t, out[0], our6, sn, peer6, true)

		// An advertisement without the override flag resolves a new entry.
		h.at(69 * time.Second)
		h.na(255, peer6, naSolicited, tlla(peerMAC))
		require.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1)
	})
}

// RFC 4861 §7.2.3-4: a solicitation for our address is answered with a
// solicited, overriding advertisement carrying our MAC, to the solicitor;
// one from the unspecified address (another node's DAD) to all nodes.
func TestNDPAnswersSolicitations(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{})
		sn := netip.MustParseAddr("ff02::1:ff00:1")
		snMAC := wire.MulticastMAC(sn)
		ns := func(src, dst netip.Addr, hop uint8, target netip.Addr, opts ...layers.ICMPv6Option) {
			dmac := net.HardwareAddr(ourMAC)
			if dst.IsMulticast() {
				dmac = snMAC[:]
			}
			h.in6(eth(peerMAC, dmac, layers.EthernetTypeIPv6), ip6(src, dst, layers.IPProtocolICMPv6, hop),
				icmp6(layers.ICMPv6TypeNeighborSolicitation, 0),
				&layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(), Options: opts})
		}
		ns(peerLL, sn, 255, ourLL, slla(peerMAC))
		out := h.out()
		require.Len(t, out, 1)
		ip := ip6Of(out[0])
		assert.Equal(t, ourLL.String(), ip.SrcIP.String())
		assert.Equal(t, peerLL.String(), ip.DstIP.String())
		assert.Equal(t, uint8(255), ip.HopLimit)
		assert.Equal(t, []byte(peerMAC), []byte(dstMAC(out[0])), "learned from the option")
		na := out[0].Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		assert.Equal(t, uint8(naSolicited|naOverride), na.Flags)
		assert.Equal(t, ourLL.String(), na.TargetAddress.String())
		require.Len(t, na.Options, 1)
		assert.Equal(t, layers.ICMPv6OptTargetAddress, na.Options[0].Type)
		assert.Equal(t, []byte(ourMAC), na.Options[0].Data)

		ns(netip.IPv6Unspecified(), sn, 255, our6)
		out = h.out()
		require.Len(t, out, 1, "we defend our address")
		assert.Equal(t, "ff02::1", ip6Of(out[0]).DstIP.String())
		assert.Equal(t, uint8(naOverride), out[0].Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement).Flags)

		ns(peerLL, ourLL, 255, netip.MustParseAddr("2001:db8::77"), slla(peerMAC))
		assert.Empty(t, h.out(), "not ours")
		assert.Equal(t, uint64(1), h.s.Counters().NDP.InNotForUs)

		// RFC 4861 §7.1.1: discarded silently.
		ns(peerLL, sn, 64, ourLL, slla(peerMAC))                  // forwarded: hop limit not 255
		ns(netip.IPv6Unspecified(), sn, 255, our6, slla(peerMAC)) // DAD with a link-layer address
		ns(peerLL, sn, 255, netip.MustParseAddr("ff02::1"))       // multicast target
		assert.Empty(t, h.out())
		assert.Equal(t, uint64(3), h.s.Counters().NDP.InInvalid)
	})
}

// RFC 4861 §6.1, §7.1: Neighbor Discovery messages that did not come from
// the link itself (hop limit below 255) or carry a zero-length option are
// ignored, whatever they say.
func TestNDPHopLimitNot255Ignored(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{})
		h.echo6(peerMAC, peer6, our6, 1)
		require.Len(t, h.out(), 1, "resolving")
		h.na(64, peer6, naSolicited|naOverride, tlla(peerMAC))
		assert.Empty(t, h.out(), "an advertisement from off the link resolves nothing")
		h.na(255, peer6, naSolicited|naOverride, layers.ICMPv6Option{Type: layers.ICMPv6OptTargetAddress, Data: nil})
		assert.Empty(t, h.out(), "nor one with a zero-length option")
		h.in6(eth(routerMAC, ourMAC, layers.EthernetTypeIPv6), ip6(routerLL, ourLL, layers.IPProtocolICMPv6, 64),
			icmp6(layers.ICMPv6TypeRouterAdvertisement, 0), &layers.ICMPv6RouterAdvertisement{RouterLifetime: 1800})
		_, ok := h.s.shared().lookup(netip.MustParseAddr("2001:db8:99::5"))
		assert.False(t, ok, "no default route from a forwarded advertisement")
		assert.Equal(t, uint64(3), h.s.Counters().NDP.InInvalid)
		h.na(255, peer6, naSolicited|naOverride, tlla(peerMAC))
		assert.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1, "the real one resolves")
	})
}

func prefixOpt(p netip.Prefix, flags uint8, valid, preferred uint32) layers.ICMPv6Option {
	d := make([]byte, 30)
	d[0], d[1] = byte(p.Bits()), flags
	binary.BigEndian.PutUint32(d[2:], valid)
	binary.BigEndian.PutUint32(d[6:], preferred)
	a := p.Addr().As16()
	copy(d[14:], a[:])
	return layers.ICMPv6Option{Type: layers.ICMPv6OptPrefixInfo, Data: d}
}

func mtuOpt(mtu uint32) layers.ICMPv6Option {
	return layers.ICMPv6Option{Type: layers.ICMPv6OptMTU, Data: binary.BigEndian.AppendUint32([]byte{0, 0}, mtu)}
}

// RFC 4861 §6.3.4, §6.3.7: router solicitations at start until a router
// advertises; its advertisement gives a default route through its
// link-local address, on-link prefixes, the link MTU and the hop limit,
// each for its lifetime.
func TestNDPRouterAdvertisement(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{IPv6: IPv6Config{DADTransmits: -1, StartDelay: -1, MLDReports: -1}})
		far := netip.MustParseAddr("2001:db8:99::5")
		onLink := netip.MustParseAddr("2001:db8:1::7")
		out := h.out()
		require.Len(t, out, 1)
		ip := ip6Of(out[0])
		assert.Equal(t, ourLL.String(), ip.SrcIP.String())
		assert.Equal(t, "ff02::2", ip.DstIP.String())
		assert.Equal(t, uint8(255), ip.HopLimit)
		rs, ok := out[0].Layer(layers.LayerTypeICMPv6RouterSolicitation).(*layers.ICMPv6RouterSolicitation)
		require.True(t, ok)
		require.Len(t, rs.Options, 1)
		assert.Equal(t, []byte(ourMAC), rs.Options[0].Data)

		ra := func(hop uint8, lifetime uint16, opts ...layers.ICMPv6Option) {
			h.in6(eth(routerMAC, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, layers.EthernetTypeIPv6), ip6(routerLL, allNodes, layers.IPProtocolICMPv6, hop),
				icmp6(layers.ICMPv6TypeRouterAdvertisement, 0), &layers.ICMPv6RouterAdvertisement{HopLimit: 42, RouterLifetime: lifetime, Options: opts})
		}
		h.at(time.Second)
		ra(64, 1800, slla(routerMAC))
		h.at(4 * time.Second)
		require.Len(t, ofType(h.out(), layers.ICMPv6TypeRouterSolicitation), 1, "a forwarded advertisement does not count")
		h.at(5 * time.Second)
		ra(255, 1800, slla(routerMAC), mtuOpt(1400), prefixOpt(netip.MustParsePrefix("2001:db8:1::/64"), 0x80, 20, 10))
		h.at(8 * time.Second)
		assert.Empty(t, h.out(), "no more solicitations once a router advertised")

		h.echo6(routerMAC, far, our6, 1)
		out = h.out()
		require.Len(t, out, 1)
		assert.Equal(t, []byte(routerMAC), []byte(dstMAC(out[0])), "through the default router")
		assert.Equal(t, uint8(42), ip6Of(out[0]).HopLimit, "the router's hop limit")
		assert.Equal(t, our6.String(), ip6Of(out[0]).SrcIP.String(), "a global source for a global destination")

		s := dialManual(t, h.s, netip.AddrPortFrom(far, 80))
		h.poll()
		syn := only(h.out(), layers.LayerTypeTCP)
		require.Len(t, syn, 1)
		assert.Equal(t, []byte{0x05, 0x3c}, optOf(syn[0].Layer(layers.LayerTypeTCP).(*layers.TCP), layers.TCPOptionKindMSS), "MSS 1340: the link MTU of 1400 less 60")
		h.s.queues[0].post(func(q *queue) { s.c.destroy() })
		h.poll()

		h.echo6(peerMAC, onLink, our6, 2)
		out = h.out()
		require.Len(t, out, 1)
		assertNS(t, out[0], our6, netip.MustParseAddr("ff02::1:ff00:7"), onLink, true)

		// The router answers the probe of its (stale) entry.
		h.at(14 * time.Second)
		h.na(255, routerLL, naRouter|naSolicited|naOverride, tlla(routerMAC))
		h.at(26 * time.Second)
		h.out()
		h.echo6(peerMAC, onLink, our6, 3)
		out = ofType(h.out(), layers.ICMPv6TypeEchoReply)
		require.Len(t, out, 1, "the prefix's valid lifetime is over: through the router")
		assert.Equal(t, []byte(routerMAC), []byte(dstMAC(out[0])))

		h.at(27 * time.Second)
		ra(255, 0)
		h.echo6(routerMAC, far, our6, 4)
		assert.Empty(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), "no default router any more")
		c := h.s.Counters()
		assert.Equal(t, uint64(1), c.IPv6.OutNoRoutes)
		assert.Equal(t, uint64(4), c.NDP.RouterChanges, "router and prefix learned, prefix expired, router gone")
	})
}

// pkt6 builds an Ethernet frame to us with an IPv6 packet from the peer:
// next header nh, then body (extension headers and upper layer).
func pkt6(src, dst netip.Addr, nh uint8, body []byte) []byte {
	b := make([]byte, wire.EthernetHeaderLen+wire.IPv6HeaderLen+len(body))
	e := wire.Ethernet(b)
	e.SetDst(wire.MAC(ourMAC))
	if dst.IsMulticast() {
		e.SetDst(wire.MulticastMAC(dst))
	}
	e.SetSrc(wire.MAC(peerMAC))
	e.SetEtherType(wire.EtherTypeIPv6)
	wire.IPv6Fields{PayloadLen: len(body), NextHeader: nh, HopLimit: 64, Src: src, Dst: dst}.Emit(b[wire.EthernetHeaderLen:])
	copy(b[wire.EthernetHeaderLen+wire.IPv6HeaderLen:], body)
	return b
}

// echoMsg is an ICMPv6 echo request from src to dst with its checksum.
func echoMsg(src, dst netip.Addr, seq uint16, data []byte) []byte {
	m := make([]byte, wire.ICMPv6HeaderLen+len(data))
	wire.ICMPv6Fields{Type: wire.ICMPv6EchoRequest, Rest: 1<<16 | uint32(seq)}.Emit(m)
	copy(m[8:], data)
	wire.ICMPv6(m).SetChecksum(wire.ICMPv6(m).ComputeChecksum(src, dst))
	return m
}

// extHdr is an extension header with next header nh and the given data
// after the first two bytes (a multiple of 8 bytes in all).
func extHdr(nh uint8, data ...byte) []byte {
	h := append([]byte{nh, byte((2+len(data))/8 - 1)}, data...)
	return h
}

// paramProblem returns the code and pointer of the one parameter problem
// sent since the last call.
func paramProblem(t *testing.T, h *harness) (uint8, uint32) {
	t.Helper()
	out := ofType(h.out(), layers.ICMPv6TypeParameterProblem)
	require.Len(t, out, 1, "a parameter problem")
	m := icmp6Of(out[0])
	assert.Equal(t, our6.String(), ip6Of(out[0]).SrcIP.String())
	assert.Equal(t, peer6.String(), ip6Of(out[0]).DstIP.String())
	return m.TypeCode.Code(), binary.BigEndian.Uint32(m.Payload[:4])
}

// RFC 8200 §4: an unrecognised next header is answered with a parameter
// problem, code 1, pointing at the field that names it (RFC 4443 §3.4).
func TestIPv6UnknownNextHeaderIsAParameterProblem(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{}, peerNeighbors...)
		h.inRaw(pkt6(peer6, our6, 253, []byte("12345678")))
		code, ptr := paramProblem(t, h)
		assert.Equal(t, uint8(wire.ICMPv6UnrecognizedNextHeader), code)
		assert.Equal(t, uint32(6), ptr, "the fixed header's Next Header")
		h.inRaw(pkt6(peer6, our6, wire.IPProtoDestOpts, append(extHdr(253, 1, 4, 0, 0, 0, 0), "12345678"...)))
		code, ptr = paramProblem(t, h)
		assert.Equal(t, uint8(wire.ICMPv6UnrecognizedNextHeader), code)
		assert.Equal(t, uint32(40), ptr, "the destination options header's Next Header")
		// A hop-by-hop header anywhere but first is unrecognised too
		// (RFC 8200 §4.3).
		h.inRaw(pkt6(peer6, our6, wire.IPProtoDestOpts, append(extHdr(wire.IPProtoHopByHop, 1, 4, 0, 0, 0, 0), extHdr(wire.IPProtoNoNextHeader, 1, 4, 0, 0, 0, 0)...)))
		_, ptr = paramProblem(t, h)
		assert.Equal(t, uint32(40), ptr)
		assert.Equal(t, uint64(3), h.s.Counters().IPv6.InUnknownProtos)
		h.inRaw(pkt6(peer6, our6, wire.IPProtoNoNextHeader, []byte("ignored")))
		assert.Empty(t, h.out(), "no next header: nothing to say")
	})
}

// RFC 8200 §4.4, RFC 5095 §3: a routing header with segments left asks a
// host to forward, and type 0 is deprecated: parameter problem, code 0, at
// the routing type. With no segments left it is ignored.
func TestIPv6RoutingHeaderType0Refused(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{}, peerNeighbors...)
		via := netip.MustParseAddr("2001:db8::55").As16()
		rh := func(segLeft byte) []byte {
			return append(extHdr(wire.IPProtoICMPv6, append([]byte{0, segLeft, 0, 0, 0, 0}, via[:]...)...), echoMsg(peer6, our6, 1, []byte("x"))...)
		}
		h.inRaw(pkt6(peer6, our6, wire.IPProtoRouting, rh(1)))
		code, ptr := paramProblem(t, h)
		assert.Equal(t, uint8(wire.ICMPv6ErroneousHeader), code)
		assert.Equal(t, uint32(42), ptr, "the Routing Type field")
		h.inRaw(pkt6(peer6, our6, wire.IPProtoRouting, rh(0)))
		assert.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1, "no segments left: processed")
	})
}

// RFC 8200 §4.2: an unrecognised option's two high bits say what to do:
// skip it, discard silently, discard with a parameter problem (code 2,
// pointing at the option), or that unless the destination was multicast.
func TestIPv6DestinationOptionActions(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{}, peerNeighbors...)
		send := func(dst netip.Addr, opt byte) {
			body := append(extHdr(wire.IPProtoICMPv6, wire.IPv6OptPadN, 0, opt, 2, 0, 0), echoMsg(peer6, dst, 1, []byte("x"))...)
			h.inRaw(pkt6(peer6, dst, wire.IPProtoDestOpts, body))
		}
		send(our6, 0x1e)
		assert.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1, "00: skipped")
		send(our6, 0x5e)
		assert.Empty(t, h.out(), "01: discarded")
		send(our6, 0x9e)
		code, ptr := paramProblem(t, h)
		assert.Equal(t, uint8(wire.ICMPv6UnrecognizedOption), code)
		assert.Equal(t, uint32(44), ptr, "the option's type byte")
		send(our6, 0xde)
		_, ptr = paramProblem(t, h)
		assert.Equal(t, uint32(44), ptr)
		send(allNodes, 0xde)
		assert.Empty(t, h.out(), "11: not about a multicast packet")
		send(allNodes, 0x9e)
		assert.Len(t, ofType(h.out(), layers.ICMPv6TypeParameterProblem), 1, "10: even about a multicast packet")
		assert.Equal(t, uint64(5), h.s.Counters().IPv6.InHdrErrors)
	})
}

// RFC 8200 §4.5: fragments are reassembled; RFC 5722: a datagram with
// overlapping fragments is dropped; RFC 6946: an atomic fragment is a
// datagram of its own; a first fragment alone times out after 60 s with a
// time exceeded.
func TestIPv6Fragments(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{}, peerNeighbors...)
		data := make([]byte, 40)
		for i := range data {
			data[i] = byte(i)
		}
		msg := echoMsg(peer6, our6, 1, data) // 48 bytes
		frag := func(id uint32, off int, part []byte, more bool) {
			fh := make([]byte, 8)
			wire.IPv6FragmentFields{NextHeader: wire.IPProtoICMPv6, Offset: off, More: more, ID: id}.Emit(fh)
			h.inRaw(pkt6(peer6, our6, wire.IPProtoFragment, append(fh, part...)))
		}
		frag(1, 24, msg[24:], false)
		assert.Empty(t, h.out())
		frag(1, 0, msg[:24], true)
		out := ofType(h.out(), layers.ICMPv6TypeEchoReply)
		require.Len(t, out, 1)
		assert.Equal(t, data, icmp6Of(out[0]).Payload[4:], "after identifier and sequence number")

		frag(2, 0, msg[:24], true)
		frag(2, 16, msg[16:40], true)
		frag(2, 40, msg[40:], false)
		assert.Empty(t, h.out(), "overlapping fragments drop the datagram")
		c := h.s.Counters().IPv6
		assert.Equal(t, uint64(1), c.ReasmOverlaps)

		frag(3, 0, msg, false)
		assert.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1, "an atomic fragment")

		frag(4, 0, msg[:24], true)
		h.at(60*time.Second - 1)
		assert.Empty(t, h.out())
		h.at(60 * time.Second)
		out = ofType(h.out(), layers.ICMPv6TypeTimeExceeded)
		require.Len(t, out, 1)
		assert.Equal(t, uint8(wire.ICMPv6ReassemblyExceeded), icmp6Of(out[0]).TypeCode.Code())
		c = h.s.Counters().IPv6
		assert.Equal(t, uint64(7), c.ReasmReqds)
		assert.Equal(t, uint64(2), c.ReasmOKs)
		assert.Equal(t, uint64(1), c.ReasmTimeout)
	})
}

// RFC 8200 §8.1: UDP over IPv6 must carry a checksum; a closed port is
// answered with destination unreachable, code 4 (RFC 4443 §3.1).
func TestUDP6ChecksumMandatoryAndPortUnreachable(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{}, peerNeighbors...)
		pc, err := h.s.ListenPacket("udp", ":53")
		require.NoError(t, err)
		defer pc.Close()
		u := []byte{0x30, 0x39, 0, 53, 0, 9, 0, 0, 'q'}
		h.inRaw(pkt6(peer6, our6, wire.IPProtoUDP, u))
		c := h.s.Counters().UDP
		assert.Equal(t, uint64(1), c.InCsumErrors, "a zero checksum is an error over IPv6")
		assert.Zero(t, c.InDatagrams)
		wire.UDP(u).SetChecksum(wire.UDP(u).ComputeChecksum(peer6, our6))
		h.inRaw(pkt6(peer6, our6, wire.IPProtoUDP, u))
		assert.Equal(t, uint64(1), h.s.Counters().UDP.InDatagrams)
		u[3] = 54
		wire.UDP(u).SetChecksum(0)
		wire.UDP(u).SetChecksum(wire.UDP(u).ComputeChecksum(peer6, our6))
		h.inRaw(pkt6(peer6, our6, wire.IPProtoUDP, u))
		out := ofType(h.out(), layers.ICMPv6TypeDestinationUnreachable)
		require.Len(t, out, 1)
		assert.Equal(t, uint8(wire.ICMPv6PortUnreachable), icmp6Of(out[0]).TypeCode.Code())
		assert.True(t, bytes.HasSuffix(icmp6Of(out[0]).Payload, u), "quotes the datagram")
	})
}

// RFC 4443 §4.1: an echo to all nodes is answered from a unicast address
// of the link's scope.
func TestIPv6EchoToAllNodes(t *testing.T) {
	h := newHarness6(t, false, Config{}, peerNeighbors...)
	h.echo6(peerMAC, peerLL, allNodes, 1)
	out := ofType(h.out(), layers.ICMPv6TypeEchoReply)
	require.Len(t, out, 1)
	assert.Equal(t, ourLL.String(), ip6Of(out[0]).SrcIP.String())
}

// tcp6 sends a TCP segment from the peer's global address.
func (p *tcpPeer) send6(flags string, payload []byte, opts ...layers.TCPOption) {
	tcp := &layers.TCP{SrcPort: p.port, DstPort: p.lport, Seq: p.seq, Ack: p.ack, Window: 65535, Options: opts,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F"), PSH: strings.Contains(flags, "P")}
	p.h.in6(eth(peerMAC, ourMAC, layers.EthernetTypeIPv6), ip6(peer6, our6, layers.IPProtocolTCP, 64), tcp, gopacket.Payload(payload))
}

// RFC 8201 §4: a packet too big quoting a segment in flight lowers the
// segment size to the MTU less 60 header bytes, never below IPv6's 1280,
// and what is unacknowledged goes again in segments that fit.
func TestTCPPacketTooBig6LowersMSS(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness6(t, mbuf, Config{}, peerNeighbors...)
		ln := listen80(t, h, 16)
		p := &tcpPeer{h: h, port: 40000, lport: 80, seq: peerISN}
		p.send6("S", nil, mssOpt(1440))
		sa := p.one(t, "SYN-ACK")
		assert.Equal(t, []byte{0x05, 0xa0}, optOf(sa, layers.TCPOptionKindMSS), "MSS 1440: 1500 less 60")
		p.seq, p.ack = peerISN+1, sa.Seq+1
		p.send6("A", nil)
		s := tryAccept(ln)
		require.NotNil(t, s)
		mark := len(h.fd.out)
		writeNow(t, h, s, bytesOf(3000, 'a'))
		frames := sentFrames(h, mark)
		require.Len(t, frames, 3)
		p.segs()
		assert.Equal(t, 1440, infoOf(t, s).MSS)
		ptb := func(mtu uint32, quote []byte) {
			h.in6(eth(peerMAC, ourMAC, layers.EthernetTypeIPv6), ip6(netip.MustParseAddr("2001:db8::fe"), our6, layers.IPProtocolICMPv6, 64),
				icmp6(layers.ICMPv6TypePacketTooBig, 0), gopacket.Payload(append(binary.BigEndian.AppendUint32(nil, mtu), quote...)))
		}
		// A quote of a sequence number not in flight is ignored (RFC 5927).
		bad := append([]byte(nil), frames[0][14:14+40+20]...)
		binary.BigEndian.PutUint32(bad[44:], sa.Seq+100000)
		ptb(1280, bad)
		assert.Empty(t, h.out())
		assert.Equal(t, uint64(1), h.s.Counters().TCP.ICMPOutOfWindow)

		ptb(1000, frames[0][14:14+1240])
		var sizes []int
		for _, pk := range h.out() {
			ip := ip6Of(pk)
			assert.LessOrEqual(t, int(ip.Length)+40, 1280)
			sizes = append(sizes, len(pk.Layer(layers.LayerTypeTCP).(*layers.TCP).Payload))
		}
		assert.Equal(t, []int{1220, 1220, 560}, sizes, "1280 (not 1000: the IPv6 minimum) less 60")
		assert.Equal(t, 1220, infoOf(t, s).MSS)
		assert.Equal(t, uint64(1), h.s.Counters().TCP.PMTUUpdates)
	})
}

// fuzzSeeds6 are IPv6 frames for FuzzStackInput, whose stack has only its
// link-local address: an echo, a solicitation, a fragment, extension
// headers.
func fuzzSeeds6() [][]byte {
	ns := make([]byte, 32)
	wire.NeighborSolicitationFields{Target: ourLL, SourceLinkAddr: wire.MAC(peerMAC), HasSourceLinkAddr: true}.Emit(ns)
	wire.ICMPv6(ns).SetChecksum(wire.ICMPv6(ns).ComputeChecksum(peerLL, ourLL))
	fh := make([]byte, 8)
	wire.IPv6FragmentFields{NextHeader: wire.IPProtoICMPv6, More: true, ID: 7}.Emit(fh)
	ns255 := pkt6(peerLL, ourLL, wire.IPProtoICMPv6, ns)
	ns255[14+7] = 255
	return [][]byte{
		pkt6(peerLL, ourLL, wire.IPProtoICMPv6, echoMsg(peerLL, ourLL, 1, []byte("ping"))),
		ns255,
		pkt6(peerLL, ourLL, wire.IPProtoFragment, append(fh, echoMsg(peerLL, ourLL, 1, []byte("12345678"))...)),
		pkt6(peerLL, ourLL, wire.IPProtoDestOpts, append(extHdr(wire.IPProtoICMPv6, 0x9e, 4, 0, 0, 0, 0), echoMsg(peerLL, ourLL, 1, nil)...)),
	}
}
