package stack

import (
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
)

// The DHCPv6 client (RFC 8415) below the interface: router advertisements
// start it, the server's messages are crafted with gopacket from peerLL,
// time is virtual.

var (
	leased6    = netip.MustParseAddr("2001:db8:7::50")
	dns6       = netip.MustParseAddr("2001:db8:7::53")
	serverDUID = []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 9}
	ourDUID    = append([]byte{0, 3, 0, 1}, ourMAC...)
)

// RA flags as gopacket has them in its Flags byte.
const (
	raManaged = 0x80
	raOther   = 0x40
)

// newDHCP6Harness is newHarness6 with its IPv6 addresses up at once, or
// checked for duplicates first with dad.
func newDHCP6Harness(t *testing.T, logs *logBuffer, dad bool) *harness {
	v6 := IPv6Config{StartDelay: -1, RouterSolicitations: -1, MLDReports: -1, DADTransmits: -1}
	if dad {
		v6.DADTransmits = 0
	}
	h := newHarness6(t, false, Config{IPv6: v6, Logger: slog.New(slog.NewTextHandler(logs, nil))}, peerNeighbors...)
	h.at(2 * time.Second)
	h.out()
	return h
}

// raWith injects a router advertisement with flags.
func (h *harness) raWith(flags uint8) {
	h.in6(eth(routerMAC, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, layers.EthernetTypeIPv6), ip6(routerLL, allNodes, layers.IPProtocolICMPv6, 255),
		icmp6(layers.ICMPv6TypeRouterAdvertisement, 0), &layers.ICMPv6RouterAdvertisement{Flags: flags, RouterLifetime: 1800, Options: []layers.ICMPv6Option{slla(routerMAC)}})
}

// dhcp6Out returns the DHCPv6 messages sent since the last call, after
// checking where they went: from our link-local address and the client
// port to All_DHCP_Relay_Agents_and_Servers.
func dhcp6Out(t *testing.T, h *harness) []*layers.DHCPv6 {
	t.Helper()
	var r []*layers.DHCPv6
	for _, p := range h.out() {
		l := p.Layer(layers.LayerTypeDHCPv6)
		if l == nil {
			continue
		}
		require.Nil(t, p.ErrorLayer(), "well formed")
		ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		assert.Equal(t, ourLL.String(), ip.SrcIP.String())
		assert.Equal(t, "ff02::1:2", ip.DstIP.String())
		assert.Equal(t, layers.UDPPort(546), udp.SrcPort)
		assert.Equal(t, layers.UDPPort(547), udp.DstPort)
		r = append(r, l.(*layers.DHCPv6))
	}
	return r
}

func opt6(d *layers.DHCPv6, code layers.DHCPv6Opt) []byte {
	for _, o := range d.Options {
		if o.Code == code {
			return o.Data
		}
	}
	return nil
}

// iaAddrs are the addresses of a message's IA_NA, which has our IAID.
func iaAddrs(t *testing.T, d *layers.DHCPv6) []netip.Addr {
	t.Helper()
	ia := opt6(d, layers.DHCPv6OptIANA)
	require.GreaterOrEqual(t, len(ia), 12, "an IA_NA")
	assert.Equal(t, []byte(ourMAC[2:6]), ia[:4], "the IAID")
	var r []netip.Addr
	for b := ia[12:]; len(b) >= 4; {
		n := int(binary.BigEndian.Uint16(b[2:]))
		if binary.BigEndian.Uint16(b) == opt6IAAddr {
			r = append(r, netip.AddrFrom16([16]byte(b[4:20])))
		}
		b = b[4+n:]
	}
	return r
}

// ia builds an IA_NA with our IAID, T1, T2 and addresses with lifetimes
// preferred and valid.
func ia(t1, t2, preferred, valid uint32, addrs ...netip.Addr) []byte {
	b := binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(ourMAC[2:6]))
	b = binary.BigEndian.AppendUint32(b, t1)
	b = binary.BigEndian.AppendUint32(b, t2)
	for _, a := range addrs {
		b = binary.BigEndian.AppendUint16(b, opt6IAAddr)
		b = binary.BigEndian.AppendUint16(b, 24)
		b = append(b, a.AsSlice()...)
		b = binary.BigEndian.AppendUint32(b, preferred)
		b = binary.BigEndian.AppendUint32(b, valid)
	}
	return b
}

// dhcp6From injects a server's message of type typ answering req.
func (h *harness) dhcp6From(req *layers.DHCPv6, typ layers.DHCPv6MsgType, opts ...layers.DHCPv6Option) {
	d := &layers.DHCPv6{MsgType: typ, TransactionID: req.TransactionID,
		Options: append([]layers.DHCPv6Option{
			layers.NewDHCPv6Option(layers.DHCPv6OptServerID, serverDUID),
			layers.NewDHCPv6Option(layers.DHCPv6OptClientID, ourDUID),
		}, opts...)}
	h.in6(eth(peerMAC, ourMAC, layers.EthernetTypeIPv6), ip6(peerLL, ourLL, layers.IPProtocolUDP, 64),
		&layers.UDP{SrcPort: 547, DstPort: 546}, d)
}

func dnsOpt(addrs ...netip.Addr) layers.DHCPv6Option {
	var b []byte
	for _, a := range addrs {
		b = append(b, a.AsSlice()...)
	}
	return layers.NewDHCPv6Option(layers.DHCPv6OptDNSServers, b)
}

func hasAddr(h *harness, a netip.Addr) bool { return h.s.shared().own.get(a) != nil }

// lease runs a Solicit, Advertise, Request, Reply exchange for leased6
// (preferred 1800 s, valid 3600 s) and returns the Request.
func (h *harness) lease(t *testing.T) *layers.DHCPv6 {
	h.raWith(raManaged)
	out := dhcp6Out(t, h)
	require.Len(t, out, 1)
	sol := out[0]
	h.dhcp6From(sol, layers.DHCPv6MsgTypeAdverstise, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 1800, 3600, leased6)))
	require.Empty(t, dhcp6Out(t, h), "advertisements are gathered for the first timeout")
	h.after(1200 * time.Millisecond)
	out = dhcp6Out(t, h)
	require.Len(t, out, 1)
	req := out[0]
	h.dhcp6From(req, layers.DHCPv6MsgTypeReply, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 1800, 3600, leased6)), dnsOpt(dns6))
	return req
}

// RFC 8415 §18.2.1 to §18.2.10: a router's M flag starts a Solicit from
// the link-local address with our DUID-LL, an empty IA_NA and the DNS
// servers asked for; the advertisement is requested from its server
// after the first timeout; the Reply's address is ours, /128, logged,
// and its DNS server is used.
func TestDHCPv6LeasesAnAddress(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.raWith(raManaged)
	out := dhcp6Out(t, h)
	require.Len(t, out, 1)
	sol := out[0]
	assert.Equal(t, layers.DHCPv6MsgTypeSolicit, sol.MsgType)
	assert.Len(t, sol.TransactionID, 3)
	assert.Equal(t, ourDUID, opt6(sol, layers.DHCPv6OptClientID), "DUID-LL from the MAC")
	assert.Nil(t, opt6(sol, layers.DHCPv6OptServerID))
	assert.Equal(t, []byte{0, 0}, opt6(sol, layers.DHCPv6OptElapsedTime))
	assert.Empty(t, iaAddrs(t, sol))
	assert.Contains(t, string(opt6(sol, layers.DHCPv6OptOro)), string([]byte{0, 23}), "DNS servers asked for")

	h.raWith(raManaged)
	assert.Empty(t, dhcp6Out(t, h), "another advertisement of the flag starts nothing new")

	h.dhcp6From(sol, layers.DHCPv6MsgTypeAdverstise, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 1800, 3600, leased6)))
	assert.Empty(t, dhcp6Out(t, h), "gathering for the first timeout")
	h.at(3200 * time.Millisecond)
	out = dhcp6Out(t, h)
	require.Len(t, out, 1)
	req := out[0]
	assert.Equal(t, layers.DHCPv6MsgTypeRequest, req.MsgType)
	assert.NotEqual(t, sol.TransactionID, req.TransactionID, "a new transaction")
	assert.Equal(t, serverDUID, opt6(req, layers.DHCPv6OptServerID))
	assert.Equal(t, []netip.Addr{leased6}, iaAddrs(t, req))

	assert.False(t, hasAddr(h, leased6))
	h.dhcp6From(req, layers.DHCPv6MsgTypeReply, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 1800, 3600, leased6)), dnsOpt(dns6))
	assert.True(t, hasAddr(h, leased6))
	assert.Contains(t, logs.String(), `msg="address up" addr=2001:db8:7::50/128 source=dhcpv6 iface=eth0`)
	assert.Contains(t, h.s.DNSServers(), dns6)
	h.echo6(peerMAC, peer6, leased6, 1)
	assert.Len(t, ofType(h.out(), layers.ICMPv6TypeEchoReply), 1, "answers on the leased address")
}

// §18.2.1: an advertisement with the highest preference is taken at once;
// one for another client, or without addresses, is not taken at all.
func TestDHCPv6AdvertisementChoice(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.raWith(raManaged)
	sol := dhcp6Out(t, h)[0]
	addrIA := layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 1800, 3600, leased6))
	other := &layers.DHCPv6{MsgType: layers.DHCPv6MsgTypeAdverstise, TransactionID: sol.TransactionID, Options: []layers.DHCPv6Option{
		layers.NewDHCPv6Option(layers.DHCPv6OptServerID, serverDUID),
		layers.NewDHCPv6Option(layers.DHCPv6OptClientID, []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 7}), addrIA}}
	errs := h.s.Counters().UDP.InErrors
	h.in6(eth(peerMAC, ourMAC, layers.EthernetTypeIPv6), ip6(peerLL, ourLL, layers.IPProtocolUDP, 64), &layers.UDP{SrcPort: 547, DstPort: 546}, other)
	assert.Equal(t, errs+1, h.s.Counters().UDP.InErrors, "another client's")
	h.dhcp6From(sol, layers.DHCPv6MsgTypeAdverstise, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 0, 0)),
		layers.NewDHCPv6Option(layers.DHCPv6OptPreference, []byte{255}))
	assert.Empty(t, dhcp6Out(t, h), "no addresses, no offer")
	h.dhcp6From(sol, layers.DHCPv6MsgTypeAdverstise, addrIA, layers.NewDHCPv6Option(layers.DHCPv6OptPreference, []byte{255}))
	oneDHCP6(t, h, layers.DHCPv6MsgTypeRequest)
}

// §18.2.4, §18.2.5: at T1 (half the shortest preferred lifetime when the
// server leaves T1 and T2 to the client) the client renews with its
// server; unanswered, at T2 (four fifths) it rebinds with any; at the end
// of the valid lifetime the address goes and the client solicits anew.
func TestDHCPv6RenewRebindExpire(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.lease(t)
	bound := time.Duration(h.clock.Now() - t0)
	h.at(bound + 899*time.Second)
	assert.Empty(t, dhcp6Out(t, h), "before T1")
	h.at(bound + 900*time.Second)
	out := dhcp6Out(t, h)
	require.Len(t, out, 1)
	ren := out[0]
	assert.Equal(t, layers.DHCPv6MsgTypeRenew, ren.MsgType)
	assert.Equal(t, serverDUID, opt6(ren, layers.DHCPv6OptServerID))
	assert.Equal(t, []netip.Addr{leased6}, iaAddrs(t, ren))

	// Renewed: lifetimes from now, the next T1 half the new preferred one.
	h.dhcp6From(ren, layers.DHCPv6MsgTypeReply, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(1000, 1600, 2000, 4000, leased6)))
	renewed := time.Duration(h.clock.Now() - t0)
	h.at(renewed + 999*time.Second)
	assert.Empty(t, dhcp6Out(t, h))
	h.at(renewed + 1000*time.Second)
	ren = dhcp6Out(t, h)[0]
	assert.Equal(t, layers.DHCPv6MsgTypeRenew, ren.MsgType)
	for at := renewed + 1000*time.Second; at < renewed+1600*time.Second; at += 10 * time.Second {
		h.at(at)
	}
	var reb *layers.DHCPv6
	for _, d := range dhcp6Out(t, h) {
		if d.MsgType == layers.DHCPv6MsgTypeRebind {
			reb = d
		}
	}
	require.Nil(t, reb, "renewing until T2")
	h.at(renewed + 1600*time.Second)
	out = dhcp6Out(t, h)
	require.NotEmpty(t, out)
	reb = out[len(out)-1]
	assert.Equal(t, layers.DHCPv6MsgTypeRebind, reb.MsgType)
	assert.Nil(t, opt6(reb, layers.DHCPv6OptServerID), "to any server")
	assert.Equal(t, []netip.Addr{leased6}, iaAddrs(t, reb))

	assert.True(t, hasAddr(h, leased6))
	for at := renewed + 1600*time.Second; at <= renewed+4000*time.Second; at += 30 * time.Second {
		h.at(at)
	}
	h.at(renewed + 4001*time.Second)
	assert.False(t, hasAddr(h, leased6), "the valid lifetime is over")
	assert.Contains(t, logs.String(), `msg="address down" addr=2001:db8:7::50/128 source=dhcpv6`)
	var sol bool
	for _, d := range dhcp6Out(t, h) {
		sol = sol || d.MsgType == layers.DHCPv6MsgTypeSolicit
	}
	assert.True(t, sol, "soliciting anew")
}

// §18.2.8: an address another node has is declined to the server, and
// the client solicits anew.
func TestDHCPv6DeclinesDuplicate(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, true)
	h.lease(t)
	ns := ofType(h.out(), layers.ICMPv6TypeNeighborSolicitation)
	require.Len(t, ns, 1, "duplicate address detection")
	assert.False(t, hasAddr(h, leased6), "tentative")
	h.in6(eth(peerMAC, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, layers.EthernetTypeIPv6), ip6(leased6, allNodes, layers.IPProtocolICMPv6, 255),
		icmp6(layers.ICMPv6TypeNeighborAdvertisement, 0),
		&layers.ICMPv6NeighborAdvertisement{Flags: naOverride, TargetAddress: leased6.AsSlice(), Options: []layers.ICMPv6Option{tlla(peerMAC)}})
	out := dhcp6Out(t, h)
	require.Len(t, out, 1)
	dec := out[0]
	assert.Equal(t, layers.DHCPv6MsgTypeDecline, dec.MsgType)
	assert.Equal(t, serverDUID, opt6(dec, layers.DHCPv6OptServerID))
	assert.Equal(t, []netip.Addr{leased6}, iaAddrs(t, dec))
	assert.False(t, hasAddr(h, leased6))
	h.dhcp6From(dec, layers.DHCPv6MsgTypeReply)
	h.after(10 * time.Millisecond)
	oneDHCP6(t, h, layers.DHCPv6MsgTypeSolicit)
}

// §18.2.7: the leased addresses go back to the server as the stack
// closes.
func TestDHCPv6ReleaseOnClose(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.lease(t)
	h.out()
	require.NoError(t, h.s.Close())
	rel := oneDHCP6(t, h, layers.DHCPv6MsgTypeRelease)
	assert.Equal(t, serverDUID, opt6(rel, layers.DHCPv6OptServerID))
	assert.Equal(t, []netip.Addr{leased6}, iaAddrs(t, rel))
}

// §18.2.6: the O flag alone asks for the DNS servers only, with an
// Information-Request without an IA, and again after the refresh time.
func TestDHCPv6Stateless(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.raWith(raOther)
	out := dhcp6Out(t, h)
	require.Len(t, out, 1)
	inf := out[0]
	assert.Equal(t, layers.DHCPv6MsgTypeInformationRequest, inf.MsgType)
	assert.Nil(t, opt6(inf, layers.DHCPv6OptIANA))
	assert.Nil(t, opt6(inf, layers.DHCPv6OptServerID))
	h.dhcp6From(inf, layers.DHCPv6MsgTypeReply, dnsOpt(dns6), layers.NewDHCPv6Option(32, []byte{0, 0, 0x0e, 0x10}))
	assert.Equal(t, []netip.Addr{dns6}, h.s.DNSServers())
	assert.Contains(t, logs.String(), `msg="dns server" addr=2001:db8:7::53 source=dhcpv6`)
	informed := time.Duration(h.clock.Now() - t0)
	h.at(informed + 3599*time.Second)
	assert.Empty(t, dhcp6Out(t, h))
	h.at(informed + 3600*time.Second)
	oneDHCP6(t, h, layers.DHCPv6MsgTypeInformationRequest)

	// A managed link later: addresses too.
	h.raWith(raManaged | raOther)
	oneDHCP6(t, h, layers.DHCPv6MsgTypeSolicit)
}

// §15: a Solicit unanswered is sent again after about a second, then
// twice as long each time, elapsed time counting up.
func TestDHCPv6Retransmission(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.raWith(raManaged)
	start := time.Duration(h.clock.Now() - t0)
	require.Len(t, dhcp6Out(t, h), 1)
	var times []time.Duration
	var elapsed []uint16
	for at := start; at < start+40*time.Second; at += 10 * time.Millisecond {
		h.at(at)
		for _, d := range dhcp6Out(t, h) {
			times = append(times, at-start)
			elapsed = append(elapsed, binary.BigEndian.Uint16(opt6(d, layers.DHCPv6OptElapsedTime)))
		}
	}
	require.Len(t, times, 5, "at about 1, 3, 7, 15 and 31 s: %v", times)
	for i, want := range []time.Duration{time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 31 * time.Second} {
		assert.InEpsilon(t, float64(want), float64(times[i]), 0.25, "retransmission %d at %v", i+1, times[i])
		assert.InDelta(t, float64(times[i]/(10*time.Millisecond)), float64(elapsed[i]), 1, "elapsed time of retransmission %d", i+1)
	}
}

// A replay does not start the client (IPv6Config.NoDHCPv6).
func TestDHCPv6Off(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1, NoDHCPv6: true}})
	h.raWith(raManaged | raOther)
	assert.Empty(t, dhcp6Out(t, h))
}

// Whatever a server sends, parsing neither panics nor keeps an address
// that is not a unicast one or lifetimes the wrong way round.
func FuzzDHCPv6Reply(f *testing.F) {
	d := &layers.DHCPv6{MsgType: layers.DHCPv6MsgTypeReply, TransactionID: []byte{1, 2, 3}, Options: []layers.DHCPv6Option{
		layers.NewDHCPv6Option(layers.DHCPv6OptServerID, serverDUID),
		layers.NewDHCPv6Option(layers.DHCPv6OptClientID, ourDUID),
		layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(10, 20, 30, 40, leased6)),
		dnsOpt(dns6)}}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(f, d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}))
	f.Add(buf.Bytes())
	f.Add([]byte{7, 1, 2, 3, 0, 3, 0, 12})
	x := &ndIface{ifc: &iface{mac: [6]byte(ourMAC)}}
	c := newDHCP6Client(x, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 4 {
			return
		}
		var r dhcp6Msg
		if !c.parse(b, &r) {
			return
		}
		require.True(t, r.clientOK || !hasOpt6(b[4:], opt6ClientID))
		require.LessOrEqual(t, r.naddrs, maxIAAddrs)
		for _, a := range r.addrs[:r.naddrs] {
			require.True(t, usableLease6(a.addr), a.addr)
			require.LessOrEqual(t, a.preferred, a.valid)
		}
	})
}

// hasOpt6 says whether options b have one with code at their top level.
func hasOpt6(b []byte, code uint16) bool {
	found := false
	eachOpt6(b, func(c uint16, _ []byte) bool {
		found = found || c == code
		return true
	})
	return found
}

// §21.4: T1 and T2 are the server's unless it leaves them to the client
// or gives them the wrong way round; the client's own are never so short
// that a deprecated address is renewed in a loop.
func TestDHCPv6RenewTimes(t *testing.T) {
	for _, c := range []struct{ t1, t2, pref, w1, w2 uint32 }{
		{0, 0, 1800, 900, 1440},
		{100, 200, 1800, 100, 200},
		{300, 200, 1800, 900, 1440},
		{0, 1000, 1800, 900, 1000},
		{500, 0, 1800, 500, 1440},
		{0, 0, 0, 60, 60},
		{0, 0, infiniteLifetime, infiniteLifetime, infiniteLifetime},
		{0, infiniteLifetime, 3600, 1800, infiniteLifetime},
	} {
		t1, t2 := renewTimes(c.t1, c.t2, c.pref)
		assert.Equal(t, [2]uint32{c.w1, c.w2}, [2]uint32{t1, t2}, "T1 %d T2 %d preferred %d", c.t1, c.t2, c.pref)
	}
}

// A server that gives new addresses on every renewal makes the client
// hold no more than maxLeased6 at once.
func TestDHCPv6BoundsLeasedAddresses(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.lease(t)
	for i := range 5 {
		h.after(900 * time.Second)
		var ren *layers.DHCPv6
		for _, d := range dhcp6Out(t, h) {
			ren = d
		}
		require.NotNil(t, ren, "renewal %d", i)
		var addrs []netip.Addr
		for j := range maxIAAddrs {
			addrs = append(addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 8, 15: byte(i*maxIAAddrs + j + 1)}))
		}
		h.dhcp6From(ren, layers.DHCPv6MsgTypeReply, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 1800, 7200, addrs...)))
	}
	assert.Equal(t, maxLeased6, h.s.queues[0].nd.ifs[0].dhcp6.leased())
}

// §18.2.1: of the advertisements of the first timeout the one with the
// highest preference is requested; a Reply without addresses (NoAddrsAvail)
// to the Request sends the client back to soliciting.
func TestDHCPv6PreferenceAndNoAddrs(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.raWith(raManaged)
	sol := dhcp6Out(t, h)[0]
	other := []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 8}
	adv := func(server []byte, pref byte, a netip.Addr) {
		d := &layers.DHCPv6{MsgType: layers.DHCPv6MsgTypeAdverstise, TransactionID: sol.TransactionID, Options: []layers.DHCPv6Option{
			layers.NewDHCPv6Option(layers.DHCPv6OptServerID, server),
			layers.NewDHCPv6Option(layers.DHCPv6OptClientID, ourDUID),
			layers.NewDHCPv6Option(layers.DHCPv6OptPreference, []byte{pref}),
			layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 1800, 3600, a))}}
		h.in6(eth(peerMAC, ourMAC, layers.EthernetTypeIPv6), ip6(peerLL, ourLL, layers.IPProtocolUDP, 64), &layers.UDP{SrcPort: 547, DstPort: 546}, d)
	}
	adv(serverDUID, 10, leased6)
	adv(other, 20, netip.MustParseAddr("2001:db8:7::60"))
	adv(serverDUID, 5, netip.MustParseAddr("2001:db8:7::70"))
	h.after(1200 * time.Millisecond)
	out := dhcp6Out(t, h)
	require.Len(t, out, 1)
	req := out[0]
	assert.Equal(t, other, opt6(req, layers.DHCPv6OptServerID), "the highest preference")
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("2001:db8:7::60")}, iaAddrs(t, req))

	noAddrs := binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(ourMAC[2:6]))
	noAddrs = append(noAddrs, make([]byte, 8)...)
	noAddrs = append(noAddrs, 0, 13, 0, 2, 0, status6NoAddrsAvail)
	h.dhcp6From(req, layers.DHCPv6MsgTypeReply, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, noAddrs))
	h.after(10 * time.Millisecond)
	oneDHCP6(t, h, layers.DHCPv6MsgTypeSolicit)
}

// oneDHCP6 returns the one DHCPv6 message sent since the last call, which
// is of type typ.
func oneDHCP6(t *testing.T, h *harness, typ layers.DHCPv6MsgType) *layers.DHCPv6 {
	t.Helper()
	out := dhcp6Out(t, h)
	require.Len(t, out, 1)
	require.Equal(t, typ, out[0].MsgType)
	return out[0]
}

// after moves time d on and runs the stack.
func (h *harness) after(d time.Duration) { h.at(time.Duration(h.clock.Now()-t0) + d) }

// §18.2.10.1: a server that answers a Renew with NoBinding (it lost the
// lease) is sent a Request for the addresses the client holds.
func TestDHCPv6RenewNoBinding(t *testing.T) {
	var logs logBuffer
	h := newDHCP6Harness(t, &logs, false)
	h.lease(t)
	h.after(900 * time.Second)
	ren := oneDHCP6(t, h, layers.DHCPv6MsgTypeRenew)
	noBinding := ia(0, 0, 0, 0)
	noBinding = append(noBinding, 0, 13, 0, 2, 0, status6NoBinding)
	h.dhcp6From(ren, layers.DHCPv6MsgTypeReply, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, noBinding))
	req := oneDHCP6(t, h, layers.DHCPv6MsgTypeRequest)
	assert.Equal(t, serverDUID, opt6(req, layers.DHCPv6OptServerID))
	assert.Equal(t, []netip.Addr{leased6}, iaAddrs(t, req))
	assert.True(t, hasAddr(h, leased6), "still held meanwhile")
	h.dhcp6From(req, layers.DHCPv6MsgTypeReply, layers.NewDHCPv6Option(layers.DHCPv6OptIANA, ia(0, 0, 1800, 3600, leased6)))
	assert.Equal(t, dhcp6Bound, h.s.queues[0].nd.ifs[0].dhcp6.state)
}
