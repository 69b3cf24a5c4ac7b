package stack

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/wire"
)

// Multicast groups applications join, below the interface: IGMP (RFC
// 3376, RFC 2236) and MLD (RFC 3810) reports checked with gopacket,
// queries and datagrams crafted, time virtual.

var (
	group4 = netip.MustParseAddr("239.1.2.3")
	group6 = netip.MustParseAddr("ff05::1:3")
)

// igmpMsg is an IGMP message the stack sent: its type and the groups it
// names (a report's records' types in recTypes).
type igmpMsg struct {
	dst      netip.Addr
	typ      uint8
	groups   []netip.Addr
	recTypes []uint8
}

// igmpOut returns the IGMP messages sent since the last call, after
// checking their IP header: TTL 1 and a Router Alert option, from our
// address.
func igmpOut(t *testing.T, h *harness) []igmpMsg {
	t.Helper()
	var r []igmpMsg
	for _, p := range h.out() {
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok || ip.Protocol != layers.IPProtocolIGMP {
			continue
		}
		require.Nil(t, p.ErrorLayer(), "well formed")
		assert.Equal(t, uint8(1), ip.TTL)
		require.Len(t, ip.Options, 1)
		assert.Equal(t, uint8(148), ip.Options[0].OptionType, "Router Alert")
		assert.Equal(t, ourIP.String(), ip.SrcIP.String())
		b := ip.Payload
		assert.Equal(t, uint16(0xffff), wire.Fold(wire.Sum(b, 0)), "checksum")
		m := igmpMsg{dst: netip.AddrFrom4([4]byte(ip.DstIP.To4())), typ: b[0]}
		mac := wire.MulticastMAC(m.dst)
		assert.Equal(t, mac[:], []byte(p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet).DstMAC))
		if b[0] == igmpv3Report {
			for i, rec := 0, b[8:]; i < int(binary.BigEndian.Uint16(b[6:8])); i, rec = i+1, rec[8:] {
				m.recTypes = append(m.recTypes, rec[0])
				m.groups = append(m.groups, netip.AddrFrom4([4]byte(rec[4:8])))
			}
		} else {
			m.groups = append(m.groups, netip.AddrFrom4([4]byte(b[4:8])))
		}
		r = append(r, m)
	}
	return r
}

// igmpQuery injects a query from the router for group (unspecified: a
// general one): version 3 (12 bytes) or 2 (8 bytes), with Max Resp Code
// code.
func (h *harness) igmpQuery(group netip.Addr, code uint8, v3 bool) {
	b := make([]byte, 8, 12)
	b[0], b[1] = igmpQuery, code
	if group.IsValid() {
		g := group.As4()
		copy(b[4:8], g[:])
	}
	if v3 {
		b = append(b, 0, 125, 0, 0)
	}
	binary.BigEndian.PutUint16(b[2:4], ^wire.Fold(wire.Sum(b, 0)))
	dst := allHosts
	if group.IsValid() && !group.IsUnspecified() {
		dst = group
	}
	dmac := wire.MulticastMAC(dst)
	h.in(eth(peerMAC, dmac[:], layers.EthernetTypeIPv4),
		&layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: layers.IPProtocolIGMP, SrcIP: peerIP, DstIP: dst.AsSlice()}, gopacket.Payload(b))
}

// toGroup injects a UDP datagram from the peer to group:port.
func (h *harness) toGroup(group netip.Addr, port uint16, payload string) {
	dmac := wire.MulticastMAC(group)
	if group.Is4() {
		h.in(eth(peerMAC, dmac[:], layers.EthernetTypeIPv4), ip4(peerIP, group.AsSlice(), layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 7000, DstPort: layers.UDPPort(port)}, gopacket.Payload(payload))
		return
	}
	h.in6(eth(peerMAC, dmac[:], layers.EthernetTypeIPv6), ip6(peer6, group, layers.IPProtocolUDP, 64),
		&layers.UDP{SrcPort: 7000, DstPort: layers.UDPPort(port)}, gopacket.Payload(payload))
}

// readGroup reads a datagram the socket has already received.
func readGroup(t *testing.T, c net.PacketConn) (string, error) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	buf := make([]byte, 100)
	n, _, err := c.ReadFrom(buf)
	return string(buf[:n]), err
}

// RFC 3376 §5.1: joining a group sends an IGMPv3 state change report to
// 224.0.0.22, repeated within a second; the group's datagrams reach the
// socket, another group's are dropped; a general query is answered
// within its maximum response time; leaving reports the change too.
func TestMulticastIGMPv3(t *testing.T) {
	h := newHarness(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1}})
	h.out()
	c, err := h.s.ListenMulticastUDP("udp4", "", net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5000)))
	require.NoError(t, err)
	h.poll()
	out := igmpOut(t, h)
	require.Len(t, out, 1)
	assert.Equal(t, igmpMsg{dst: igmpv3Routers, typ: igmpv3Report, groups: []netip.Addr{group4}, recTypes: []uint8{changeToExclude}}, out[0])
	h.at(time.Second)
	assert.Len(t, igmpOut(t, h), 1, "the report repeated (robustness 2)")

	h.toGroup(group4, 5000, "to the group")
	got, err := readGroup(t, c)
	require.NoError(t, err)
	assert.Equal(t, "to the group", got)
	drops := h.s.Counters().IP.InAddrErrors
	h.toGroup(netip.MustParseAddr("239.1.2.4"), 5000, "another group")
	assert.Equal(t, drops+1, h.s.Counters().IP.InAddrErrors, "a group not joined")
	_, err = readGroup(t, c)
	assert.Error(t, err)

	h.igmpQuery(netip.IPv4Unspecified(), 100, true) // 10 s
	assert.Equal(t, uint64(1), h.s.Counters().IGMP.InQueries)
	var answer []igmpMsg
	for at := 2 * time.Second; at <= 12*time.Second && len(answer) == 0; at += 100 * time.Millisecond {
		h.at(at)
		answer = igmpOut(t, h)
	}
	require.Len(t, answer, 1, "answered within 10 s")
	assert.Equal(t, []uint8{modeIsExclude}, answer[0].recTypes)
	assert.Equal(t, []netip.Addr{group4}, answer[0].groups)

	require.NoError(t, c.Close())
	h.poll()
	out = igmpOut(t, h)
	require.Len(t, out, 1)
	assert.Equal(t, []uint8{changeToInclude}, out[0].recTypes, "left")
}

// RFC 3376 §7.2.1: while an IGMPv2 router is heard, reports are IGMPv2
// ones to the group and leaving sends a Leave to all routers.
func TestMulticastIGMPv2Compatibility(t *testing.T) {
	h := newHarness(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: 1}})
	h.igmpQuery(netip.IPv4Unspecified(), 100, false)
	h.out()
	c, err := h.s.ListenMulticastUDP("udp", "eth0", net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5000)))
	require.NoError(t, err)
	h.poll()
	assert.Equal(t, []igmpMsg{{dst: group4, typ: igmpv2Report, groups: []netip.Addr{group4}}}, igmpOut(t, h))
	require.NoError(t, c.Close())
	h.poll()
	assert.Equal(t, []igmpMsg{{dst: allRouters4, typ: igmpv2Leave, groups: []netip.Addr{group4}}}, igmpOut(t, h))
	h.at(olderQuerierTimeout + time.Second)
	c, err = h.s.ListenMulticastUDP("udp", "eth0", net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5000)))
	require.NoError(t, err)
	defer c.Close()
	h.poll()
	out := igmpOut(t, h)
	require.Len(t, out, 1)
	assert.Equal(t, uint8(igmpv3Report), out[0].typ, "the IGMPv2 router is gone")
}

// MLD reports an IPv6 group an application joins, whose datagrams then
// reach it; a unicast socket on the same port gets them too, and only it
// gets unicast ones.
func TestMulticastIPv6AndPortSharing(t *testing.T) {
	h := newHarness6(t, false, Config{IPv6: IPv6Config{DADTransmits: -1, RouterSolicitations: -1}}, peerNeighbors...)
	h.out()
	uni, err := h.s.ListenPacket("udp", ":5000")
	require.NoError(t, err)
	defer uni.Close()
	c, err := h.s.ListenMulticastUDP("udp6", "", net.UDPAddrFromAddrPort(netip.AddrPortFrom(group6, 5000)))
	require.NoError(t, err)
	defer c.Close()
	h.poll()
	reports := mldReports(t, h.out())
	require.NotEmpty(t, reports)
	assert.Contains(t, groupsOf(reports[0], layers.MLDv2MulticastAddressRecordTypeChangeToExcludeMode), group6.String())

	h.toGroup(group6, 5000, "six")
	got, err := readGroup(t, c)
	require.NoError(t, err)
	assert.Equal(t, "six", got)
	got, err = readGroup(t, uni)
	require.NoError(t, err)
	assert.Equal(t, "six", got, "the wildcard socket of the port")

	h.in6(eth(peerMAC, ourMAC, layers.EthernetTypeIPv6), ip6(peer6, our6, layers.IPProtocolUDP, 64),
		&layers.UDP{SrcPort: 7000, DstPort: 5000}, gopacket.Payload("unicast"))
	got, err = readGroup(t, uni)
	require.NoError(t, err)
	assert.Equal(t, "unicast", got)
	_, err = readGroup(t, c)
	assert.Error(t, err, "not for the group's socket")
}

// A datagram to a group goes to its MAC with TTL 1, from the interface's
// address, even without a route, and to the group's members here; a bad
// group or interface is refused.
func TestMulticastSend(t *testing.T) {
	h := newHarness(t, false, Config{})
	h.out()
	c, err := h.s.ListenMulticastUDP("udp4", "", net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5000)))
	require.NoError(t, err)
	defer c.Close()
	h.out()
	_, err = c.WriteTo([]byte("hello group"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5000)))
	require.NoError(t, err)
	h.poll()
	var sent []gopacket.Packet
	for _, p := range h.out() {
		if p.Layer(layers.LayerTypeUDP) != nil {
			sent = append(sent, p)
		}
	}
	require.Len(t, sent, 1)
	got, err := readGroup(t, c)
	require.NoError(t, err)
	assert.Equal(t, "hello group", got, "looped back to the group's members, the sender among them")
	ip := sent[0].Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	assert.Equal(t, uint8(1), ip.TTL)
	assert.Equal(t, ourIP.String(), ip.SrcIP.String())
	assert.Equal(t, group4.String(), ip.DstIP.String())
	assert.Equal(t, net.HardwareAddr{0x01, 0, 0x5e, 0x01, 0x02, 0x03}, sent[0].Layer(layers.LayerTypeEthernet).(*layers.Ethernet).DstMAC)

	_, err = h.s.ListenMulticastUDP("udp4", "", &net.UDPAddr{IP: net.IP{10, 0, 0, 5}, Port: 5000})
	assert.ErrorContains(t, err, "not a multicast address")
	_, err = h.s.ListenMulticastUDP("udp6", "", net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5000)))
	assert.ErrorContains(t, err, "address family mismatch")
	_, err = h.s.ListenMulticastUDP("udp4", "wlan9", net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5001)))
	assert.ErrorContains(t, err, "no such interface")
}

// Malformed IGMP is counted and dropped: too short, a bad checksum, a
// query for a group that is no group.
func TestIGMPMalformed(t *testing.T) {
	h := newHarness(t, false, Config{})
	h.out()
	send := func(b []byte) {
		h.in(eth(peerMAC, net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}, layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: layers.IPProtocolIGMP, SrcIP: peerIP, DstIP: allHosts.AsSlice()}, gopacket.Payload(b))
	}
	withSum := func(b []byte) []byte {
		binary.BigEndian.PutUint16(b[2:4], ^wire.Fold(wire.Sum(b, 0)))
		return b
	}
	send([]byte{igmpQuery, 100, 0})
	bad := withSum([]byte{igmpQuery, 100, 0, 0, 0, 0, 0, 0})
	bad[2]++
	send(bad)
	send(withSum([]byte{igmpQuery, 100, 0, 0, 10, 0, 0, 1, 0, 125, 0, 0}))
	c := h.s.Counters().IGMP
	assert.Equal(t, uint64(3), c.InMsgs)
	assert.Equal(t, uint64(3), c.InErrors)
	assert.Empty(t, igmpOut(t, h))
}

// SetMulticastTTL and SetMulticastLoopback change what a socket sends to
// a group: the TTL, and whether the members here get a copy.
func TestMulticastSocketOptions(t *testing.T) {
	h := newHarness(t, false, Config{})
	h.out()
	c, err := h.s.ListenMulticastUDP("udp4", "", net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5000)))
	require.NoError(t, err)
	defer c.Close()
	opts := c.(interface {
		SetMulticastTTL(int) error
		SetMulticastLoopback(bool)
	})
	require.NoError(t, opts.SetMulticastTTL(16))
	assert.Error(t, opts.SetMulticastTTL(0))
	assert.Error(t, opts.SetMulticastTTL(256))
	opts.SetMulticastLoopback(false)
	h.out()
	_, err = c.WriteTo([]byte("far"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(group4, 5000)))
	require.NoError(t, err)
	h.poll()
	var ttl []uint8
	for _, p := range h.out() {
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip.Protocol == layers.IPProtocolUDP {
			ttl = append(ttl, ip.TTL)
		}
	}
	assert.Equal(t, []uint8{16}, ttl)
	_, err = readGroup(t, c)
	assert.Error(t, err, "no copy with loopback off")
}
