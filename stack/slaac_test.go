package stack

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// SLAAC (RFC 4862 §5.5), stable identifiers (RFC 7217), MLDv2 (RFC 3810)
// and RDNSS (RFC 8106) below the interface.

var slaacPrefix = netip.MustParsePrefix("2001:db8:5::/64")

// ra injects a router advertisement from routerLL to all nodes.
func (h *harness) ra(lifetime uint16, opts ...layers.ICMPv6Option) {
	h.in6(eth(routerMAC, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, layers.EthernetTypeIPv6), ip6(routerLL, allNodes, layers.IPProtocolICMPv6, 255),
		icmp6(layers.ICMPv6TypeRouterAdvertisement, 0), &layers.ICMPv6RouterAdvertisement{RouterLifetime: lifetime, Options: append(opts, slla(routerMAC))})
}

// slaacAddrs returns the autoconfigured addresses in use.
func slaacAddrs(h *harness) []netip.Addr {
	var r []netip.Addr
	for _, p := range h.s.shared().addrs[0] {
		if slaacPrefix.Contains(p.Addr()) || netip.MustParsePrefix("2001:db8::/64").Contains(p.Addr()) && p.Addr() != our6 {
			r = append(r, p.Addr())
		}
	}
	return r
}

const flagsLA = 0xc0 // on-link and autonomous

// RFC 4862 §5.5.3 (d), §5.4: a prefix with the A flag gives an address,
// checked for duplicates before use and logged; with RFC 7217's stable
// identifier it is not the MAC's EUI-64 one, and it is the same for the
// same prefix and secret, different for another prefix or secret.
func TestSLAACStableAddress(t *testing.T) {
	var logs logBuffer
	cfg := Config{IPv6: IPv6Config{StartDelay: -1, RouterSolicitations: -1, MLDReports: -1, StableSecret: "k1"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	h := newHarness6(t, false, cfg, peerNeighbors...)
	h.at(2 * time.Second)
	h.out()
	h.ra(1800, prefixOpt(slaacPrefix, flagsLA, 3600, 1800))
	out := ofType(h.out(), layers.ICMPv6TypeNeighborSolicitation)
	require.Len(t, out, 1, "duplicate address detection")
	target := netip.MustParseAddr(out[0].Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation).TargetAddress.String())
	assert.True(t, slaacPrefix.Contains(target))
	assert.Empty(t, slaacAddrs(h), "tentative")
	x := h.s.queues[0].nd.ifs[0]
	assert.Equal(t, x.interfaceAddr(slaacPrefix, 0), target)
	assert.NotEqual(t, netip.MustParseAddr("2001:db8:5::ff:fe00:1"), target, "not the EUI-64 identifier")
	a6, tgt := x.interfaceAddr(netip.MustParsePrefix("2001:db8:6::/64"), 0).As16(), target.As16()
	assert.NotEqual(t, a6[8:], tgt[8:], "another prefix, another identifier")

	h.at(3 * time.Second)
	assert.Equal(t, []netip.Addr{target}, slaacAddrs(h))
	assert.Contains(t, logs.String(), `msg="address up" addr=`+target.String()+`/64 source=slaac iface=eth0`)
	h.echo6(routerMAC, peer6, target, 1)
	require.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1)

	same := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1, StableSecret: "k1"}})
	same.ra(1800, prefixOpt(slaacPrefix, flagsLA, 3600, 1800))
	assert.Equal(t, []netip.Addr{target}, slaacAddrs(same), "stable: the same secret gives the same address")
	other := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1, StableSecret: "k2"}})
	other.ra(1800, prefixOpt(slaacPrefix, flagsLA, 3600, 1800))
	require.Len(t, slaacAddrs(other), 1)
	assert.NotEqual(t, target, slaacAddrs(other)[0], "another secret, another address")
}

// RFC 7217 §5: without a configured secret the identifier is still the
// same across restarts, whatever the seed.
func TestSLAACStableAcrossRestarts(t *testing.T) {
	var addrs []netip.Addr
	for _, seed := range []uint64{7, 8} {
		clock := backend.NewVirtualClock(t0)
		fd := newFeeder(t, clock, false, ourMAC)
		s, err := New(Config{Interfaces: []InterfaceConfig{{Backend: fd}}, Seed: seed, Clock: clock, Manual: true, Logger: quietLogger(), IPv6: quietIPv6})
		require.NoError(t, err)
		addrs = append(addrs, s.queues[0].nd.ifs[0].interfaceAddr(slaacPrefix, 0))
		require.NoError(t, s.Close())
	}
	assert.Equal(t, addrs[0], addrs[1])
}

// RFC 4291 Appendix A: with AddrGen "eui64" the identifier is the MAC's.
func TestSLAACEUI64(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1, AddrGen: "eui64"}})
	h.ra(1800, prefixOpt(slaacPrefix, flagsLA, 3600, 1800))
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("2001:db8:5::ff:fe00:1")}, slaacAddrs(h))
}

// RFC 4862 §5.5.3 (a)-(d): prefixes without the A flag, link-local ones,
// those whose preferred lifetime exceeds the valid one, or that leave other
// than 64 bits for the identifier give no address.
func TestSLAACIgnoredPrefixes(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1}})
	h.ra(1800,
		prefixOpt(slaacPrefix, 0x80, 3600, 1800),
		prefixOpt(netip.MustParsePrefix("fe80::/64"), flagsLA, 3600, 1800),
		prefixOpt(netip.MustParsePrefix("2001:db8:7::/64"), flagsLA, 100, 200),
		prefixOpt(netip.MustParsePrefix("2001:db8:8::/48"), flagsLA, 3600, 1800),
		prefixOpt(netip.MustParsePrefix("2001:db8:9::/64"), flagsLA, 0, 0))
	for _, p := range h.s.shared().addrs[0] {
		assert.Contains(t, []netip.Addr{our6, ourLL, netip.MustParseAddr("10.0.0.1")}, p.Addr(), "no autoconfigured address")
	}
}

// A static address in the advertised prefix does not stop autoconfiguration:
// both are used.
func TestSLAACBesideStaticAddress(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1}})
	h.ra(1800, prefixOpt(netip.MustParsePrefix("2001:db8::/64"), flagsLA, 3600, 1800))
	auto := slaacAddrs(h)
	require.Len(t, auto, 1)
	own := h.s.shared().own.get(our6) != nil
	assert.True(t, own, "the static address stays")
}

// RFC 4862 §5.5.3 (e): the preferred lifetime is reset by every
// advertisement; the valid one only to more than two hours, to more than
// what is left, or, when more than two hours are left, to two hours.
func TestSLAACTwoHourRule(t *testing.T) {
	at := func(h *harness, d time.Duration) { h.at(d); h.out() }
	alive := func(h *harness) bool { return len(slaacAddrs(h)) == 1 }
	cfg := Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1}}

	t.Run("short lifetime with under two hours left is ignored", func(t *testing.T) {
		h := newHarness6(t, false, cfg)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 3600, 3600))
		at(h, time.Minute)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 10, 10))
		at(h, time.Hour-1)
		assert.True(t, alive(h), "still the first valid lifetime")
		at(h, time.Hour)
		assert.False(t, alive(h), "removed when it ends")
	})
	t.Run("short lifetime with over two hours left cuts to two hours", func(t *testing.T) {
		h := newHarness6(t, false, cfg)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 5*3600, 3600))
		at(h, time.Minute)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 60, 60))
		at(h, time.Minute+2*time.Hour-1)
		assert.True(t, alive(h))
		at(h, time.Minute+2*time.Hour)
		assert.False(t, alive(h))
	})
	t.Run("longer than two hours is taken", func(t *testing.T) {
		h := newHarness6(t, false, cfg)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 5*3600, 3600))
		at(h, time.Minute)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 3*3600, 3600))
		at(h, time.Minute+3*time.Hour-1)
		assert.True(t, alive(h))
		at(h, time.Minute+3*time.Hour)
		assert.False(t, alive(h))
	})
	t.Run("longer than what is left is taken", func(t *testing.T) {
		h := newHarness6(t, false, cfg)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 600, 600))
		at(h, time.Minute)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 1200, 600))
		at(h, time.Minute+1200*time.Second-1)
		assert.True(t, alive(h))
		at(h, time.Minute+1200*time.Second)
		assert.False(t, alive(h))
	})
	t.Run("infinite never ends", func(t *testing.T) {
		h := newHarness6(t, false, cfg)
		h.ra(0, prefixOpt(slaacPrefix, flagsLA, 0xffffffff, 0xffffffff))
		at(h, 400*24*time.Hour)
		assert.True(t, alive(h))
	})
}

// RFC 4862 §5.5.4, RFC 6724 rule 3: once its preferred lifetime ends an
// address is deprecated, still ours but not chosen as a source while a
// preferred one fits.
func TestSLAACDeprecatedAddressIsNotChosen(t *testing.T) {
	var logs logBuffer
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, peerNeighbors...)
	h.ra(1800, prefixOpt(slaacPrefix, flagsLA, 3600, 60), prefixOpt(netip.MustParsePrefix("2001:db8:6::/64"), flagsLA, 3600, 3600))
	far := netip.MustParseAddr("2001:db8:5:1::1")
	nh, ok := h.s.shared().lookup(far)
	require.True(t, ok)
	assert.True(t, slaacPrefix.Contains(nh.src), "the longest match while preferred")
	h.at(60 * time.Second)
	nh, _ = h.s.shared().lookup(far)
	assert.False(t, slaacPrefix.Contains(nh.src), "deprecated: %v", nh.src)
	assert.Contains(t, logs.String(), `msg="address deprecated"`)
	dep := h.s.shared().v6[0].deprecated
	require.Len(t, dep, 1)
	h.echo6(routerMAC, peer6, dep[0], 1)
	assert.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1, "still ours")
}

// RFC 7217 §6: a duplicate stable address is retried with the next
// DAD_Counter, hence another identifier.
func TestSLAACDuplicateGetsNewIdentifier(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{StartDelay: -1, RouterSolicitations: -1, MLDReports: -1}})
	h.at(2 * time.Second)
	h.out()
	h.ra(1800, prefixOpt(slaacPrefix, flagsLA, 3600, 1800))
	x := h.s.queues[0].nd.ifs[0]
	first, second := x.interfaceAddr(slaacPrefix, 0), x.interfaceAddr(slaacPrefix, 1)
	require.NotEqual(t, first, second)
	require.Len(t, ofType(h.out(), layers.ICMPv6TypeNeighborSolicitation), 1)
	h.in6(eth(peerMAC, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, layers.EthernetTypeIPv6), ip6(peerLL, allNodes, layers.IPProtocolICMPv6, 255),
		icmp6(layers.ICMPv6TypeNeighborAdvertisement, 0),
		&layers.ICMPv6NeighborAdvertisement{Flags: naOverride, TargetAddress: first.AsSlice(), Options: layers.ICMPv6Options{tlla(peerMAC)}})
	out := ofType(h.out(), layers.ICMPv6TypeNeighborSolicitation)
	require.Len(t, out, 1, "the next identifier checked")
	assert.Equal(t, second.String(), out[0].Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation).TargetAddress.String())
	h.at(4 * time.Second)
	assert.Equal(t, []netip.Addr{second}, slaacAddrs(h))
}

// RFC 8106 §5.1: a Recursive DNS Server option gives DNS servers for its
// lifetime.
func TestRDNSSFromRouterAdvertisement(t *testing.T) {
	h := newHarness6(t, false, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, h.s.WaitDNS(ctx), context.DeadlineExceeded, "none yet")
	waited := make(chan error, 1)
	go func() { waited <- h.s.WaitDNS(context.Background()) }()
	d := make([]byte, 6+16)
	binary.BigEndian.PutUint32(d[2:], 600)
	dns := netip.MustParseAddr("2001:db8::53")
	copy(d[6:], dns.AsSlice())
	h.ra(1800, layers.ICMPv6Option{Type: wire.NDPOptRDNSS, Data: d})
	assert.Equal(t, []netip.Addr{dns}, h.s.DNSServers())
	select {
	case err := <-waited:
		require.NoError(t, err, "WaitDNS returns with the advertised server")
	case <-time.After(5 * time.Second):
		t.Fatal("WaitDNS still waiting")
	}
	h.clock.Set(t0 + int64(600*time.Second))
	assert.Empty(t, h.s.DNSServers(), "its lifetime is over")
}

// mldReports returns the MLDv2 reports among ps, checking what every one
// must be (RFC 3810 §5.2, §5): to ff02::16 with hop limit 1 and a Router
// Alert option.
func mldReports(t *testing.T, ps []gopacket.Packet) []*layers.MLDv2MulticastListenerReportMessage {
	t.Helper()
	var r []*layers.MLDv2MulticastListenerReportMessage
	for _, p := range ps {
		m, ok := p.Layer(layers.LayerTypeMLDv2MulticastListenerReport).(*layers.MLDv2MulticastListenerReportMessage)
		if !ok {
			continue
		}
		ip := ip6Of(p)
		assert.Equal(t, "ff02::16", ip.DstIP.String())
		assert.Equal(t, uint8(1), ip.HopLimit)
		hbh, ok := p.Layer(layers.LayerTypeIPv6HopByHop).(*layers.IPv6HopByHop)
		require.True(t, ok, "a hop-by-hop header")
		require.NotEmpty(t, hbh.Options)
		assert.Equal(t, uint8(wire.IPv6OptRouterAlert), hbh.Options[0].OptionType)
		assert.Nil(t, p.ErrorLayer(), "well formed")
		r = append(r, m)
	}
	return r
}

func groupsOf(m *layers.MLDv2MulticastListenerReportMessage, typ layers.MLDv2MulticastAddressRecordType) []string {
	var g []string
	for _, rec := range m.MulticastAddressRecords {
		if rec.RecordType == typ {
			g = append(g, rec.MulticastAddress.String())
		}
	}
	return g
}

// RFC 3810 §6.1: joining a group (the solicited-node groups of our
// addresses; never all-nodes, §6) is reported at once and once more within
// a second; leaving one likewise.
func TestMLDReportsOnJoinAndLeave(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1}})
	out := mldReports(t, h.out())
	require.NotEmpty(t, out)
	assert.ElementsMatch(t, []string{"ff02::1:ff00:1"}, groupsOf(out[0], layers.MLDv2MulticastAddressRecordTypeChangeToExcludeMode),
		"our addresses' one solicited-node group")
	h.at(time.Second)
	assert.Len(t, mldReports(t, h.out()), 1, "repeated once (Robustness Variable 2)")
	h.at(10 * time.Second)
	assert.Empty(t, mldReports(t, h.out()))

	h.ra(1800, prefixOpt(netip.MustParsePrefix("2001:db8:5::/64"), flagsLA, 3600, 3600))
	out = mldReports(t, h.out())
	require.Len(t, out, 1)
	auto := h.s.queues[0].nd.ifs[0].interfaceAddr(slaacPrefix, 0)
	assert.Equal(t, []string{solicitedNode(auto).String()}, groupsOf(out[0], layers.MLDv2MulticastAddressRecordTypeChangeToExcludeMode))
	h.at(12 * time.Second)
	require.Len(t, mldReports(t, h.out()), 1, "repeated")
	h.ra(1800, prefixOpt(netip.MustParsePrefix("2001:db8:5::/64"), flagsLA, 0, 0))
	h.at(10*time.Second + time.Hour)
	out = mldReports(t, h.out())
	require.NotEmpty(t, out, "the address is gone, and its group left")
	assert.Equal(t, []string{solicitedNode(auto).String()}, groupsOf(out[0], layers.MLDv2MulticastAddressRecordTypeChangeToIncludeMode))
}

// RFC 3810 §6.2: a general query is answered within its maximum response
// delay with the current state of every group; a query from off the link
// is ignored (§5.1.14).
func TestMLDAnswersQueries(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1}})
	h.at(5 * time.Second)
	h.out()
	query := func(src netip.Addr, hop uint8, group netip.Addr) {
		m := make([]byte, 28)
		m[0] = wire.ICMPv6MLDQuery
		binary.BigEndian.PutUint16(m[4:6], 1000) // 1 s
		copy(m[8:24], group.AsSlice())
		b := pkt6(src, allNodes, wire.IPProtoICMPv6, m)
		ip := wire.IPv6(b[wire.EthernetHeaderLen:])
		ip.SetHopLimit(hop)
		mm := wire.ICMPv6(b[wire.EthernetHeaderLen+wire.IPv6HeaderLen:])
		mm.SetChecksum(mm.ComputeChecksum(src, allNodes))
		h.inRaw(b)
	}
	query(routerLL, 1, netip.IPv6Unspecified())
	assert.Empty(t, mldReports(t, h.out()), "after a random delay")
	h.at(6 * time.Second)
	out := mldReports(t, h.out())
	require.Len(t, out, 1)
	assert.Equal(t, []string{"ff02::1:ff00:1"}, groupsOf(out[0], layers.MLDv2MulticastAddressRecordTypeModeIsExcluded))

	query(routerLL, 64, netip.IPv6Unspecified())
	query(peer6, 1, netip.IPv6Unspecified())
	h.at(8 * time.Second)
	assert.Empty(t, mldReports(t, h.out()), "not from the link")

	query(routerLL, 1, netip.MustParseAddr("ff02::1:ff00:77"))
	h.at(10 * time.Second)
	assert.Empty(t, mldReports(t, h.out()), "a group we are not in")
	query(routerLL, 1, netip.MustParseAddr("ff02::1:ff00:1"))
	h.at(12 * time.Second)
	out = mldReports(t, h.out())
	require.Len(t, out, 1, "a group we are in")
	assert.Equal(t, []string{"ff02::1:ff00:1"}, groupsOf(out[0], layers.MLDv2MulticastAddressRecordTypeModeIsExcluded))
}

// RFC 3810 §8.2.1: after an MLDv1 query the host speaks MLDv1: reports
// to each group (RFC 2710 §3), for the Older Version Querier Present
// Timeout; then MLDv2 again.
func TestMLDv1Compatibility(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1}})
	h.at(5 * time.Second)
	h.out()
	m := make([]byte, 24)
	m[0] = wire.ICMPv6MLDQuery
	binary.BigEndian.PutUint16(m[4:6], 1000)
	b := pkt6(routerLL, allNodes, wire.IPProtoICMPv6, m)
	wire.IPv6(b[wire.EthernetHeaderLen:]).SetHopLimit(1)
	mm := wire.ICMPv6(b[wire.EthernetHeaderLen+wire.IPv6HeaderLen:])
	mm.SetChecksum(mm.ComputeChecksum(routerLL, allNodes))
	h.inRaw(b)
	h.at(6 * time.Second)
	out := ofType(h.out(), wire.ICMPv6MLDReport)
	require.Len(t, out, 1, "an MLDv1 report")
	assert.Equal(t, "ff02::1:ff00:1", ip6Of(out[0]).DstIP.String(), "to the group")
	assert.Equal(t, "ff02::1:ff00:1", netip.AddrFrom16([16]byte(icmp6Of(out[0]).Payload[4:20])).String())
	assert.Nil(t, out[0].ErrorLayer())

	h.ra(1800, prefixOpt(slaacPrefix, flagsLA, 3600, 3600))
	out = ofType(h.out(), wire.ICMPv6MLDReport)
	require.Len(t, out, 1, "a join in MLDv1")
	auto := h.s.queues[0].nd.ifs[0].interfaceAddr(slaacPrefix, 0)
	assert.Equal(t, solicitedNode(auto).String(), ip6Of(out[0]).DstIP.String())

	h.at(6*time.Second + olderQuerierTimeout)
	h.out()
	h.ra(1800, prefixOpt(netip.MustParsePrefix("2001:db8:6::/64"), flagsLA, 3600, 3600))
	assert.Len(t, mldReports(t, h.out()), 1, "MLDv2 again once the MLDv1 router is gone")
}

func TestMLDMaxResponseDelay(t *testing.T) {
	assert.Equal(t, 10*time.Second, mldMaxResponseDelay(10000, true))
	assert.Equal(t, time.Duration((0x1000|0x234)<<(3+3))*time.Millisecond, mldMaxResponseDelay(0x8000|3<<12|0x234, true), "RFC 3810 §5.1.3's floating point form")
	assert.Equal(t, 40000*time.Millisecond, mldMaxResponseDelay(40000, false), "MLDv1's plain milliseconds")
}
