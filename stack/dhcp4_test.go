package stack

import (
	"context"
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
)

// The DHCPv4 client (RFC 2131) below the interface: the server's replies
// are crafted with gopacket, time is virtual.

var (
	dhcpServerIP = net.IP{10, 0, 0, 9}
	leasedIP     = netip.MustParseAddr("10.0.0.50")
	leaseRouter  = netip.MustParseAddr("10.0.0.1")
	leaseDNS     = netip.MustParseAddr("10.0.0.53")
)

// newDHCPHarness is a stack whose one interface has no address and asks
// DHCP; the server is a static neighbour.
func newDHCPHarness(t *testing.T, logs *logBuffer) *harness {
	clock := backend.NewVirtualClock(t0)
	fd := newFeeder(t, clock, false, ourMAC)
	cfg := Config{
		Interfaces: []InterfaceConfig{{Backend: fd, DHCP: true, Neighbors: []Neighbor{{Addr: netip.AddrFrom4([4]byte(dhcpServerIP)), MAC: peerMAC}}}},
		Seed:       1, Clock: clock, Manual: true, Logger: slog.New(slog.NewTextHandler(logs, nil)), IPv6: quietIPv6,
	}
	s, err := New(cfg)
	require.NoError(t, err)
	h := &harness{t: t, clock: clock, fd: fd, s: s}
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		assert.Zero(t, fd.Outstanding(), "buffers")
	})
	h.poll()
	return h
}

// dhcpOut returns the DHCP messages sent since the last call.
func dhcpOut(t *testing.T, h *harness) []gopacket.Packet {
	t.Helper()
	var r []gopacket.Packet
	for _, p := range h.out() {
		if p.Layer(layers.LayerTypeDHCPv4) != nil {
			r = append(r, p)
		}
	}
	return r
}

func dhcpOf(p gopacket.Packet) *layers.DHCPv4 {
	return p.Layer(layers.LayerTypeDHCPv4).(*layers.DHCPv4)
}

func dhcpOpt(d *layers.DHCPv4, typ layers.DHCPOpt) []byte {
	for _, o := range d.Options {
		if o.Type == typ {
			return o.Data
		}
	}
	return nil
}

func dhcpType(d *layers.DHCPv4) layers.DHCPMsgType {
	return layers.DHCPMsgType(dhcpOpt(d, layers.DHCPOptMessageType)[0])
}

// reply injects the server's answer to req: to the limited broadcast while
// the client has no address (it asks so with the broadcast flag), unicast
// otherwise.
func (h *harness) dhcpReply(req *layers.DHCPv4, typ layers.DHCPMsgType, lease uint32) {
	d := &layers.DHCPv4{
		Operation: layers.DHCPOpReply, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		Xid: req.Xid, Flags: req.Flags, ClientHWAddr: req.ClientHWAddr, YourClientIP: leasedIP.AsSlice(),
		Options: layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(typ)}),
			layers.NewDHCPOption(layers.DHCPOptServerID, dhcpServerIP),
			layers.NewDHCPOption(layers.DHCPOptSubnetMask, []byte{255, 255, 255, 0}),
			layers.NewDHCPOption(layers.DHCPOptRouter, leaseRouter.AsSlice()),
			layers.NewDHCPOption(layers.DHCPOptDNS, leaseDNS.AsSlice()),
			layers.NewDHCPOption(layers.DHCPOptLeaseTime, []byte{byte(lease >> 24), byte(lease >> 16), byte(lease >> 8), byte(lease)}),
		},
	}
	dst, dmac := net.IP{255, 255, 255, 255}, bcastMAC
	if req.ClientIP != nil && !req.ClientIP.IsUnspecified() {
		dst, dmac = leasedIP.AsSlice(), ourMAC
	}
	h.in(eth(peerMAC, dmac, layers.EthernetTypeIPv4), ip4(dhcpServerIP, dst, layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 67, DstPort: 68}, d)
}

// RFC 2131 §3.1, §4.4.1: DISCOVER broadcast from 0.0.0.0 with the
// broadcast flag; the offer is requested with the requested address and
// server identifier options; the ACK binds the address, its subnet, the
// default route and the DNS servers, and is logged as DESIGN.md says.
func TestDHCPObtainsLease(t *testing.T) {
	var logs logBuffer
	h := newDHCPHarness(t, &logs)
	out := dhcpOut(t, h)
	require.Len(t, out, 1)
	ip := out[0].Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	assert.Equal(t, "0.0.0.0", ip.SrcIP.String())
	assert.Equal(t, "255.255.255.255", ip.DstIP.String())
	assert.Equal(t, []byte(bcastMAC), []byte(dstMAC(out[0])))
	assert.Nil(t, out[0].ErrorLayer(), "well formed")
	disc := dhcpOf(out[0])
	assert.Equal(t, layers.DHCPMsgTypeDiscover, dhcpType(disc))
	assert.Equal(t, uint16(0x8000), disc.Flags, "the broadcast flag")
	assert.Equal(t, []byte(ourMAC), []byte(disc.ClientHWAddr))
	assert.GreaterOrEqual(t, len(out[0].Layer(layers.LayerTypeUDP).LayerPayload()), 300, "BOOTP's minimum size")

	h.dhcpReply(disc, layers.DHCPMsgTypeOffer, 600)
	out = dhcpOut(t, h)
	require.Len(t, out, 1)
	req := dhcpOf(out[0])
	assert.Equal(t, layers.DHCPMsgTypeRequest, dhcpType(req))
	assert.Equal(t, disc.Xid, req.Xid, "the same transaction")
	assert.Equal(t, leasedIP.AsSlice(), dhcpOpt(req, layers.DHCPOptRequestIP))
	assert.Equal(t, []byte(dhcpServerIP), dhcpOpt(req, layers.DHCPOptServerID))

	own := h.s.shared().own.get(leasedIP) != nil
	assert.False(t, own, "not ours before the ACK")
	h.dhcpReply(req, layers.DHCPMsgTypeAck, 600)
	// RFC 2131 §4.4.1, RFC 5227 §2.1.1: an ARP probe from no address
	// first, and the address is ours a second later.
	probes := h.out()
	require.Len(t, probes, 1)
	probe := probes[0].Layer(layers.LayerTypeARP).(*layers.ARP)
	assert.Equal(t, uint16(layers.ARPRequest), probe.Operation)
	assert.Equal(t, "0.0.0.0", net.IP(probe.SourceProtAddress).String())
	assert.Equal(t, leasedIP.String(), net.IP(probe.DstProtAddress).String())
	assert.Equal(t, []byte(bcastMAC), []byte(dstMAC(probes[0])))
	assert.False(t, h.s.shared().own.get(leasedIP) != nil, "checked first")
	h.after(time.Second)
	own = h.s.shared().own.get(leasedIP) != nil
	assert.True(t, own)
	assert.Contains(t, logs.String(), `msg="address up" addr=10.0.0.50/24 source=dhcp iface=eth0`)
	nh, ok := h.s.shared().lookup(netip.MustParseAddr("192.0.2.1"))
	require.True(t, ok)
	assert.Equal(t, leaseRouter, nh.addr, "the default route")
	assert.Equal(t, []netip.Addr{leaseDNS}, h.s.DNSServers())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	leases, err := h.s.WaitLease(ctx)
	require.NoError(t, err)
	require.Len(t, leases, 1)
	assert.Equal(t, Lease{Interface: "eth0", Addr: netip.MustParsePrefix("10.0.0.50/24"), Router: leaseRouter, DNS: []netip.Addr{leaseDNS},
		Server: netip.AddrFrom4([4]byte(dhcpServerIP)), Duration: 600 * time.Second}, leases[0])
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, leasedIP.AsSlice(), layers.IPProtocolICMPv4), echoReq(1, 1))
	assert.NotEmpty(t, h.out(), "answers on the leased address")
}

// RFC 2131 §4.4.5: at T1 (half the lease) the client renews with its
// server, unicast from its address; at T2 (seven eighths) it rebinds by
// broadcast; at the end it gives the address up and starts over.
func TestDHCPRenewRebindExpire(t *testing.T) {
	var logs logBuffer
	h := newDHCPHarness(t, &logs)
	disc := dhcpOf(dhcpOut(t, h)[0])
	h.dhcpReply(disc, layers.DHCPMsgTypeOffer, 600)
	h.dhcpAck(dhcpOf(dhcpOut(t, h)[0]), 600)
	h.out()

	h.at(300*time.Second - 1)
	assert.Empty(t, dhcpOut(t, h))
	h.at(300 * time.Second)
	out := dhcpOut(t, h)
	require.Len(t, out, 1, "renewing at T1")
	renew := dhcpOf(out[0])
	ip := out[0].Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	assert.Equal(t, leasedIP.String(), ip.SrcIP.String())
	assert.Equal(t, net.IP(dhcpServerIP).String(), ip.DstIP.String(), "unicast to the server")
	assert.Equal(t, leasedIP.String(), renew.ClientIP.String(), "ciaddr")
	assert.Nil(t, dhcpOpt(renew, layers.DHCPOptServerID), "no server identifier when renewing")
	h.dhcpReply(renew, layers.DHCPMsgTypeAck, 600)

	// Renewed at 300 s: T1 at 600 s, T2 at 825 s, the end at 900 s.
	h.at(600 * time.Second)
	require.Len(t, dhcpOut(t, h), 1, "renewing again")
	h.at(712500*time.Millisecond - 1)
	assert.Empty(t, dhcpOut(t, h), "the retransmission waits half the time to T2")
	h.at(712500 * time.Millisecond)
	require.Len(t, dhcpOut(t, h), 1)
	h.at(772500*time.Millisecond - 1)
	assert.Empty(t, dhcpOut(t, h), "but at least 60 s")
	h.at(772500 * time.Millisecond)
	require.Len(t, dhcpOut(t, h), 1)
	h.at(825*time.Second - 1)
	assert.Empty(t, dhcpOut(t, h))
	h.at(825 * time.Second)
	out = dhcpOut(t, h)
	require.Len(t, out, 1, "rebinding at T2")
	assert.Equal(t, "255.255.255.255", out[0].Layer(layers.LayerTypeIPv4).(*layers.IPv4).DstIP.String())
	assert.Equal(t, leasedIP.String(), dhcpOf(out[0]).ClientIP.String())
	h.at(885 * time.Second)
	require.Len(t, dhcpOut(t, h), 1, "rebinding again after 60 s")
	h.at(900 * time.Second)
	out = dhcpOut(t, h)
	require.Len(t, out, 1)
	assert.Equal(t, layers.DHCPMsgTypeDiscover, dhcpType(dhcpOf(out[0])), "expired: starting over")
	own := h.s.shared().own.get(leasedIP) != nil
	assert.False(t, own)
	assert.Contains(t, logs.String(), `msg="address down" addr=10.0.0.50/24 source=dhcp`)
}

// RFC 2131 §4.4.1: DISCOVERs are retransmitted after 4 s, doubling, each
// ±1 s; a NAK sends the client back to DISCOVER.
func TestDHCPRetransmitAndNak(t *testing.T) {
	var logs logBuffer
	h := newDHCPHarness(t, &logs)
	require.Len(t, dhcpOut(t, h), 1)
	h.at(3*time.Second - 1)
	assert.Empty(t, dhcpOut(t, h))
	h.at(5 * time.Second)
	out := dhcpOut(t, h)
	require.Len(t, out, 1, "the first retransmission 4±1 s on")
	h.at(11 * time.Second)
	assert.Empty(t, dhcpOut(t, h), "then 8±1 s")
	h.at(14 * time.Second)
	out = dhcpOut(t, h)
	require.Len(t, out, 1)
	disc := dhcpOf(out[0])
	h.dhcpReply(disc, layers.DHCPMsgTypeOffer, 600)
	req := dhcpOf(dhcpOut(t, h)[0])
	h.dhcpReply(req, layers.DHCPMsgTypeNak, 0)
	out = dhcpOut(t, h)
	require.Len(t, out, 1)
	assert.Equal(t, layers.DHCPMsgTypeDiscover, dhcpType(dhcpOf(out[0])))
	assert.NotEqual(t, disc.Xid, dhcpOf(out[0]).Xid, "a new transaction")
}

// RFC 2131 §4.4.1: the lease's times count from the first REQUEST, not
// from the DISCOVER that began the exchange.
func TestDHCPLeaseTimesFromRequest(t *testing.T) {
	var logs logBuffer
	h := newDHCPHarness(t, &logs)
	require.Len(t, dhcpOut(t, h), 1)
	h.at(5 * time.Second)
	out := dhcpOut(t, h)
	require.Len(t, out, 1, "retransmitted")
	h.at(7 * time.Second)
	h.dhcpReply(dhcpOf(out[0]), layers.DHCPMsgTypeOffer, 600)
	h.at(8 * time.Second)
	h.dhcpAck(dhcpOf(dhcpOut(t, h)[0]), 600)
	h.out()
	h.at(307*time.Second - 1)
	assert.Empty(t, dhcpOut(t, h))
	h.at(307 * time.Second)
	assert.Len(t, dhcpOut(t, h), 1, "T1: half the lease after the REQUEST")
}

// RFC 2131 §4.4.6: closing the stack releases the lease.
func TestDHCPReleaseOnClose(t *testing.T) {
	var logs logBuffer
	h := newDHCPHarness(t, &logs)
	disc := dhcpOf(dhcpOut(t, h)[0])
	h.dhcpReply(disc, layers.DHCPMsgTypeOffer, 600)
	h.dhcpAck(dhcpOf(dhcpOut(t, h)[0]), 600)
	h.out()
	require.NoError(t, h.s.Close())
	out := dhcpOut(t, h)
	require.Len(t, out, 1)
	rel := dhcpOf(out[0])
	assert.Equal(t, layers.DHCPMsgTypeRelease, dhcpType(rel))
	assert.Equal(t, leasedIP.String(), rel.ClientIP.String())
	assert.Equal(t, net.IP(dhcpServerIP).String(), out[0].Layer(layers.LayerTypeIPv4).(*layers.IPv4).DstIP.String())
	assert.Equal(t, []byte(peerMAC), []byte(dstMAC(out[0])))
}

// A malformed reply is counted and dropped.
func TestDHCPMalformedReply(t *testing.T) {
	var logs logBuffer
	h := newDHCPHarness(t, &logs)
	disc := dhcpOf(dhcpOut(t, h)[0])
	b := make([]byte, 240+3)
	b[0], b[1], b[2] = 2, 1, 6
	copy(b[4:8], []byte{byte(disc.Xid >> 24), byte(disc.Xid >> 16), byte(disc.Xid >> 8), byte(disc.Xid)})
	copy(b[28:34], ourMAC)
	copy(b[236:240], []byte{99, 130, 83, 99})
	b[240], b[241] = 53, 9 // runs past the end
	before := h.s.Counters().UDP.InErrors
	h.in(eth(peerMAC, bcastMAC, layers.EthernetTypeIPv4), ip4(dhcpServerIP, net.IP{255, 255, 255, 255}, layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 67, DstPort: 68}, gopacket.Payload(b))
	assert.Equal(t, before+1, h.s.Counters().UDP.InErrors)
	assert.Empty(t, dhcpOut(t, h))
}

// FuzzDHCPReply: any reply, however malformed, is parsed or refused
// without a panic.
func FuzzDHCPReply(f *testing.F) {
	f.Add([]byte{53, 1, 5, 54, 4, 10, 0, 0, 9, 1, 4, 255, 255, 255, 0, 51, 4, 0, 0, 2, 88, 255})
	f.Add([]byte{0, 0, 6, 8, 10, 0, 0, 1, 10, 0, 0, 2, 1, 4, 255, 0, 255, 0})
	f.Fuzz(func(t *testing.T, opts []byte) {
		b := make([]byte, 240+len(opts))
		copy(b[236:], []byte{99, 130, 83, 99})
		copy(b[240:], opts)
		var r dhcpReply
		parseDHCP(b, &r)
	})
}

// dhcpAck ACKs req, and lets the ARP probe of the address go unanswered.
func (h *harness) dhcpAck(req *layers.DHCPv4, lease uint32) {
	h.dhcpReply(req, layers.DHCPMsgTypeAck, lease)
	h.after(time.Second)
}

// RFC 2131 §4.4.1: a host that answers the probe for the leased address
// has it, so the lease is declined to the server and the client starts
// over ten seconds later; a probe of another host for it counts too.
func TestDHCPDeclinesAddressInUse(t *testing.T) {
	for _, probe := range []bool{false, true} {
		var logs logBuffer
		h := newDHCPHarness(t, &logs)
		disc := dhcpOf(dhcpOut(t, h)[0])
		h.dhcpReply(disc, layers.DHCPMsgTypeOffer, 600)
		h.dhcpReply(dhcpOf(dhcpOut(t, h)[0]), layers.DHCPMsgTypeAck, 600)
		h.out()
		sender := leasedIP.AsSlice()
		if probe {
			sender = net.IPv4zero.To4()
		}
		h.in(eth(peerMAC, bcastMAC, layers.EthernetTypeARP), arpPkt(layers.ARPRequest, peerMAC, sender, make(net.HardwareAddr, 6), leasedIP.AsSlice()))
		out := dhcpOut(t, h)
		require.Len(t, out, 1)
		dec := dhcpOf(out[0])
		assert.Equal(t, layers.DHCPMsgTypeDecline, dhcpType(dec))
		assert.Equal(t, leasedIP.AsSlice(), dhcpOpt(dec, layers.DHCPOptRequestIP))
		assert.Equal(t, []byte(dhcpServerIP), dhcpOpt(dec, layers.DHCPOptServerID))
		assert.Contains(t, logs.String(), "leased address in use, declined")
		h.after(2 * time.Second)
		assert.False(t, h.s.shared().own.get(leasedIP) != nil, "not taken")
		assert.Empty(t, dhcpOut(t, h))
		h.after(9 * time.Second)
		out = dhcpOut(t, h)
		require.Len(t, out, 1)
		assert.Equal(t, layers.DHCPMsgTypeDiscover, dhcpType(dhcpOf(out[0])), "starting over")
	}
}
