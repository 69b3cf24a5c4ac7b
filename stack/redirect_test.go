package stack

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 4861 §8: redirects from the router a destination's packets go to,
// checked (§8.1) and followed (§8.3).

var (
	farDst     = netip.MustParseAddr("2001:db8:99::1")
	router2LL  = netip.MustParseAddr("fe80::2")
	router2MAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xbb}
	farMAC     = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xcc}
)

// redirect injects a Redirect from src (at srcMAC) for dst to target,
// with the target's link-layer address when tmac is set.
func (h *harness) redirect(srcMAC net.HardwareAddr, src, target, dst netip.Addr, hop uint8, tmac net.HardwareAddr) {
	var opts []layers.ICMPv6Option
	if tmac != nil {
		opts = append(opts, tlla(tmac))
	}
	h.in6(eth(srcMAC, ourMAC, layers.EthernetTypeIPv6), ip6(src, our6, layers.IPProtocolICMPv6, hop),
		icmp6(layers.ICMPv6TypeRedirect, 0), &layers.ICMPv6Redirect{TargetAddress: target.AsSlice(), DestinationAddress: dst.AsSlice(), Options: opts})
}

// sendTo sends a UDP datagram to dst and returns the MAC it went to.
func sendTo(t *testing.T, h *harness, dst netip.Addr) net.HardwareAddr {
	t.Helper()
	c, err := h.s.ListenPacket("udp", ":0")
	require.NoError(t, err)
	defer c.Close()
	_, err = c.WriteTo([]byte("hi"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	require.NoError(t, err)
	h.poll()
	for _, p := range h.out() {
		if p.Layer(layers.LayerTypeUDP) != nil {
			return p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet).DstMAC
		}
	}
	return nil
}

func TestRedirectToAnotherRouter(t *testing.T) {
	h := newHarness6(t, false, Config{}, Neighbor{Addr: routerLL, MAC: routerMAC})
	h.ra(1800)
	h.out()
	assert.Equal(t, routerMAC, sendTo(t, h, farDst), "the default router")

	// §8.1: not from the destination's router, or forwarded: ignored.
	invalid := h.s.Counters().NDP.InInvalid
	h.redirect(peerMAC, peerLL, router2LL, farDst, 255, router2MAC)
	h.redirect(routerMAC, routerLL, router2LL, farDst, 64, router2MAC)
	h.redirect(routerMAC, routerLL, peer6, farDst, 255, router2MAC) // a target that is no router
	assert.Equal(t, invalid+3, h.s.Counters().NDP.InInvalid)
	assert.Equal(t, routerMAC, sendTo(t, h, farDst))

	h.redirect(routerMAC, routerLL, router2LL, farDst, 255, router2MAC)
	assert.Equal(t, router2MAC, sendTo(t, h, farDst), "the better router")
	assert.Equal(t, routerMAC, sendTo(t, h, netip.MustParseAddr("2001:db8:98::1")), "other destinations stay")

	h.at(redirectLife + time.Second)
	h.out()
	assert.Equal(t, routerMAC, sendTo(t, h, farDst), "the redirect timed out")
}

// A redirect whose target is the destination says it is on the link.
func TestRedirectOnLink(t *testing.T) {
	h := newHarness6(t, false, Config{}, Neighbor{Addr: routerLL, MAC: routerMAC})
	h.ra(1800)
	h.out()
	h.redirect(routerMAC, routerLL, farDst, farDst, 255, farMAC)
	nh, ok := h.s.shared().lookup(farDst)
	require.True(t, ok)
	assert.Equal(t, farDst, nh.addr, "on the link")
	assert.Equal(t, farMAC, sendTo(t, h, farDst))
}

// RFC 1122 §3.2.2.2: an ICMP Redirect from the gateway a destination's
// datagrams go to, naming another gateway on the subnet, is followed;
// one from elsewhere, or naming a gateway off the subnet, is not.
func TestRedirectIPv4(t *testing.T) {
	gw, gw2 := net.IP{10, 0, 0, 254}, net.IP{10, 0, 0, 253}
	h := newHarness6(t, false, Config{Routes: []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("10.0.0.254")}}},
		Neighbor{Addr: netip.AddrFrom4([4]byte(gw)), MAC: routerMAC}, Neighbor{Addr: netip.AddrFrom4([4]byte(gw2)), MAC: router2MAC})
	h.out()
	far := net.IP{192, 0, 2, 7}
	send := func() net.HardwareAddr { return sendTo(t, h, netip.AddrFrom4([4]byte(far))) }
	redirect := func(from net.IP, fromMAC net.HardwareAddr, to net.IP) {
		quoted := ip4(ourIP, far, layers.IPProtocolUDP)
		h.in(eth(fromMAC, ourMAC, layers.EthernetTypeIPv4), ip4(from, ourIP, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeRedirect, 1), Id: uint16(to[0])<<8 | uint16(to[1]), Seq: uint16(to[2])<<8 | uint16(to[3])},
			quoted, &layers.UDP{SrcPort: 1, DstPort: 9})
	}
	assert.Equal(t, routerMAC, send())
	errs := h.s.Counters().ICMP.InErrors
	redirect(peerIP, peerMAC, gw2)                // not the gateway
	redirect(gw, routerMAC, net.IP{192, 0, 2, 1}) // a gateway off the subnet
	assert.Equal(t, errs+2, h.s.Counters().ICMP.InErrors)
	assert.Equal(t, routerMAC, send())
	redirect(gw, routerMAC, gw2)
	assert.Equal(t, uint64(3), h.s.Counters().ICMP.InRedirects)
	assert.Equal(t, router2MAC, send(), "the better gateway")
}

// ICMPConfig.IgnoreRedirects leaves the routes alone.
func TestRedirectsIgnored(t *testing.T) {
	h := newHarness6(t, false, Config{ICMP: ICMPConfig{IgnoreRedirects: true}}, Neighbor{Addr: routerLL, MAC: routerMAC})
	h.ra(1800)
	h.out()
	h.redirect(routerMAC, routerLL, router2LL, farDst, 255, router2MAC)
	assert.Equal(t, uint64(1), h.s.Counters().ICMPv6.InRedirects)
	assert.Equal(t, routerMAC, sendTo(t, h, farDst))
}

// An open TCP connection takes a redirect too: its segments go to the new
// gateway, from the same address.
func TestRedirectMovesOpenConnection(t *testing.T) {
	gw, gw2 := netip.MustParseAddr("10.0.0.254"), netip.MustParseAddr("10.0.0.253")
	h := newHarness6(t, false, Config{Routes: []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: gw}}},
		Neighbor{Addr: gw, MAC: routerMAC}, Neighbor{Addr: gw2, MAC: router2MAC})
	h.out()
	ln, err := h.s.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	far := net.IP{192, 0, 2, 7}
	seg := func(flags string, seq, ack uint32, payload string) {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: seq, Ack: ack, Window: 65535, SYN: flags == "S", ACK: flags != "S", PSH: payload != ""}
		ip := ip4(far, ourIP, layers.IPProtocolTCP)
		require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
		h.in(eth(routerMAC, ourMAC, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(payload))
	}
	sentTo := func() (net.HardwareAddr, *layers.TCP) {
		for _, p := range h.out() {
			if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
				return p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet).DstMAC, tcp
			}
		}
		return nil, nil
	}
	seg("S", 1000, 0, "")
	mac, synAck := sentTo()
	require.NotNil(t, synAck)
	assert.Equal(t, routerMAC, mac)
	seg("A", 1001, synAck.Seq+1, "")

	quoted := ip4(ourIP, far, layers.IPProtocolTCP)
	g := gw2.As4()
	h.in(eth(routerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(gw.AsSlice(), ourIP, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeRedirect, 1), Id: uint16(g[0])<<8 | uint16(g[1]), Seq: uint16(g[2])<<8 | uint16(g[3])},
		quoted, gopacket.Payload(make([]byte, 8)))
	seg("A", 1001, synAck.Seq+1, "data")
	h.at(time.Second)
	mac, ack := sentTo()
	require.NotNil(t, ack, "the data is acknowledged")
	assert.Equal(t, router2MAC, mac, "through the new gateway")
}
