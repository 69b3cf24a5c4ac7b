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

	"github.com/ustack/ustack/backend"
)

// Frames for these tests are built with gopacket, an implementation
// independent of ours, and the stack is driven on explicit virtual time.

var (
	ourMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	peerMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 9}
	ourIP    = net.IP{10, 0, 0, 1}
	peerIP   = net.IP{10, 0, 0, 9}
	strangIP = net.IP{10, 0, 0, 77}
)

const t0 = int64(1_000_000_000_000)

// quietIPv6 sends nothing at start: no duplicate address detection, no
// router solicitation.
var quietIPv6 = IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1}

type harness struct {
	t     *testing.T
	clock *backend.VirtualClock
	fd    *feeder
	s     *Stack
	seen  int
}

func newHarness(t *testing.T, mbuf bool, cfg Config) *harness {
	clock := backend.NewVirtualClock(t0)
	fd := newFeeder(t, clock, mbuf, ourMAC)
	cfg.Interfaces = []InterfaceConfig{{Backend: fd, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}
	cfg.Seed, cfg.Clock, cfg.Manual = 1, clock, true
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.IPv6 == (IPv6Config{}) {
		// The link-local address is up at once and no router is
		// solicited: IPv4 tests see no IPv6 frames they did not ask for.
		cfg.IPv6 = quietIPv6
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

// at moves time to t0+d and runs the stack.
func (h *harness) at(d time.Duration) { h.clock.Set(t0 + int64(d)); h.poll() }

func (h *harness) poll() { h.s.Poll(h.clock.Now()) }

// in injects a frame built from layers now.
func (h *harness) in(ls ...gopacket.SerializableLayer) {
	for _, l := range ls {
		switch tl := l.(type) {
		case *layers.UDP:
			tl.SetNetworkLayerForChecksum(ls[1].(*layers.IPv4))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(h.t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	h.inRaw(buf.Bytes())
}

func (h *harness) inRaw(b []byte) { h.inAs(b, feed{}) }

// inAs feeds a raw frame delivered as how says.
func (h *harness) inAs(b []byte, how feed) {
	h.fd.addAs(h.clock.Now(), append([]byte(nil), b...), how)
	h.poll()
}

// out returns the frames sent since the last call, decoded.
func (h *harness) out() []gopacket.Packet {
	var ps []gopacket.Packet
	for _, b := range h.fd.out[h.seen:] {
		ps = append(ps, gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default))
	}
	h.seen = len(h.fd.out)
	return ps
}

func eth(src, dst net.HardwareAddr, t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: t}
}

func arpPkt(op uint16, smac net.HardwareAddr, sip net.IP, tmac net.HardwareAddr, tip net.IP) *layers.ARP {
	return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: smac, SourceProtAddress: sip, DstHwAddress: tmac, DstProtAddress: tip}
}

func ip4(src, dst net.IP, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst, Id: 99}
}

func echoReq(id, seq uint16) *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: id, Seq: seq}
}

var bcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func modesT(t *testing.T, test func(t *testing.T, mbuf bool)) {
	t.Run("plain", func(t *testing.T) { test(t, false) })
	t.Run("mbuf", func(t *testing.T) { test(t, true) })
}

func TestGratuitousARPAtStart(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness(t, mbuf, Config{})
		out := h.out()
		require.Len(t, out, 1)
		a := out[0].Layer(layers.LayerTypeARP).(*layers.ARP)
		assert.Equal(t, uint16(layers.ARPRequest), a.Operation)
		assert.Equal(t, []byte(ourIP), a.SourceProtAddress)
		assert.Equal(t, []byte(ourIP), a.DstProtAddress)
		assert.Equal(t, []byte(bcastMAC), []byte(out[0].LinkLayer().(*layers.Ethernet).DstMAC))
	})
}

func TestARPRepliesOnlyForOurAddress(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness(t, mbuf, Config{})
		h.out()
		h.in(eth(peerMAC, bcastMAC, layers.EthernetTypeARP), arpPkt(layers.ARPRequest, peerMAC, peerIP, net.HardwareAddr{0, 0, 0, 0, 0, 0}, ourIP))
		out := h.out()
		require.Len(t, out, 1)
		a := out[0].Layer(layers.LayerTypeARP).(*layers.ARP)
		assert.Equal(t, uint16(layers.ARPReply), a.Operation)
		assert.Equal(t, []byte(ourMAC), a.SourceHwAddress)
		assert.Equal(t, []byte(peerMAC), a.DstHwAddress)
		assert.Equal(t, []byte(peerIP), a.DstProtAddress)
		assert.Equal(t, []byte(peerMAC), []byte(out[0].LinkLayer().(*layers.Ethernet).DstMAC))

		h.in(eth(peerMAC, bcastMAC, layers.EthernetTypeARP), arpPkt(layers.ARPRequest, peerMAC, peerIP, net.HardwareAddr{0, 0, 0, 0, 0, 0}, strangIP))
		assert.Empty(t, h.out())
		assert.Equal(t, uint64(1), h.s.Counters().ARP.InNotForUs)
	})
}

func TestARPConflictIsCountedNotLearned(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness(t, mbuf, Config{})
		h.out()
		h.in(eth(peerMAC, bcastMAC, layers.EthernetTypeARP), arpPkt(layers.ARPRequest, peerMAC, ourIP, net.HardwareAddr{0, 0, 0, 0, 0, 0}, ourIP))
		assert.Equal(t, uint64(1), h.s.Counters().ARP.Conflicts)
		assert.Empty(t, h.out())
	})
}

// An echo request from an unknown neighbour needs resolution before the
// reply: requests go out once per RetryInterval, Retries times, then the
// queued reply is dropped.
func TestARPRetriesThenGivesUp(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness(t, mbuf, Config{})
		h.out()
		for i := range 5 {
			h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, uint16(i)))
		}
		out := h.out()
		require.Len(t, out, 1, "one request despite five packets waiting")
		a := out[0].Layer(layers.LayerTypeARP).(*layers.ARP)
		assert.Equal(t, []byte(peerIP), a.DstProtAddress)
		h.at(time.Second - 1)
		assert.Empty(t, h.out())
		h.at(time.Second)
		assert.Len(t, h.out(), 1)
		h.at(2 * time.Second)
		assert.Len(t, h.out(), 1)
		h.at(3 * time.Second)
		assert.Empty(t, h.out(), "three requests, then give up")
		c := h.s.Counters().ARP
		assert.Equal(t, uint64(2), c.PendingDrops, "queue of three keeps the newest")
		assert.Equal(t, uint64(3), c.ResolveFailures)
		assert.Equal(t, uint64(4), c.OutRequests, "gratuitous + three")
	})
}

func TestARPReplyReleasesQueuedPackets(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness(t, mbuf, Config{})
		h.out()
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 1), gopacket.Payload("abc"))
		require.Len(t, h.out(), 1)
		h.at(500 * time.Millisecond)
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
		out := h.out()
		require.Len(t, out, 1)
		e := out[0].LinkLayer().(*layers.Ethernet)
		assert.Equal(t, []byte(peerMAC), []byte(e.DstMAC))
		icmp := out[0].Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		assert.Equal(t, uint8(layers.ICMPv4TypeEchoReply), icmp.TypeCode.Type())
		assert.Equal(t, []byte("abc"), icmp.Payload)
		// Resolved: the next reply goes straight out, and nothing more is
		// requested until the entry goes stale.
		h.at(time.Second)
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 2))
		assert.Len(t, h.out(), 1)
		h.at(40 * time.Second)
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 3))
		out = h.out()
		require.Len(t, out, 2, "stale: the reply goes out and a unicast probe confirms")
		var probe *layers.ARP
		for _, p := range out {
			if a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
				probe = a
				assert.Equal(t, []byte(peerMAC), []byte(p.LinkLayer().(*layers.Ethernet).DstMAC))
			}
		}
		require.NotNil(t, probe)
	})
}

func TestIPv4HeaderChecksCountDrops(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness(t, mbuf, Config{})
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
		h.out()
		good := func() []byte {
			buf := gopacket.NewSerializeBuffer()
			gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
				eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 1))
			return append([]byte(nil), buf.Bytes()...)
		}
		b := good()
		b[14+10] ^= 0xff // header checksum
		h.inRaw(b)
		b = good()
		b[14] = 0x65 // version 6 in an IPv4 frame
		h.inRaw(b)
		b = good()
		b[14+3] += 100 // total length past the frame
		h.inRaw(b)
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, strangIP, layers.IPProtocolICMPv4), echoReq(1, 1))
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(net.IP{224, 0, 0, 5}, ourIP, layers.IPProtocolICMPv4), echoReq(1, 1))
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(ourIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 1))
		h.in(eth(peerMAC, net.HardwareAddr{2, 0, 0, 0, 0, 0x33}, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 1))
		h.in(eth(peerMAC, bcastMAC, layers.EthernetTypeIPv4), ip4(peerIP, net.IP{10, 0, 0, 255}, layers.IPProtocolICMPv4), echoReq(1, 1))
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, 99), gopacket.Payload("x"))
		c := h.s.Counters()
		assert.Equal(t, uint64(1), c.IP.InCsumErrors)
		assert.Equal(t, uint64(1), c.IP.InHdrErrors)
		assert.Equal(t, uint64(1), c.IP.InTruncatedPkts)
		assert.Equal(t, uint64(1), c.IP.InAddrErrors)
		assert.Equal(t, uint64(2), c.IP.InMartians, "multicast source and LAND")
		assert.Equal(t, uint64(1), c.Link.InOtherHost)
		assert.Equal(t, uint64(1), c.IP.InBcastPkts)
		assert.Equal(t, uint64(1), c.ICMP.InEchos, "the broadcast echo, ignored")
		assert.Zero(t, c.ICMP.OutEchoReps)
		assert.Equal(t, uint64(1), c.IP.InUnknownProtos)
		out := h.out()
		require.Len(t, out, 1)
		icmp := out[0].Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		assert.Equal(t, layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeProtocol), icmp.TypeCode)
	})
}

func TestICMPErrorsAreRateLimited(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness(t, mbuf, Config{})
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
		h.out()
		for i := range 100 {
			h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolUDP),
				&layers.UDP{SrcPort: layers.UDPPort(1000 + i), DstPort: 9}, gopacket.Payload("x"))
		}
		assert.Len(t, h.out(), 50, "the burst")
		c := h.s.Counters()
		assert.Equal(t, uint64(100), c.UDP.NoPorts)
		assert.Equal(t, uint64(50), c.ICMP.OutRateLimited)
		h.at(10 * time.Millisecond)
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 9}, gopacket.Payload("x"))
		assert.Len(t, h.out(), 1, "10 tokens a 10 ms at 1000/s")
	})
}

func TestFragmentsReassembleAndOverlapsAreDropped(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newHarness(t, mbuf, Config{})
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
		h.out()
		// An echo request of 8+24 bytes in fragments of 16.
		msg := make([]byte, 32)
		msg[0] = 8
		for i := 8; i < 32; i++ {
			msg[i] = byte(i)
		}
		sum := ^fold16(msg)
		msg[2], msg[3] = byte(sum>>8), byte(sum)
		frag := func(id uint16, off int, data []byte, more bool) {
			ip := ip4(peerIP, ourIP, layers.IPProtocolICMPv4)
			ip.Id = id
			ip.FragOffset = uint16(off / 8)
			if more {
				ip.Flags = layers.IPv4MoreFragments
			}
			h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip, gopacket.Payload(data))
		}
		frag(1, 16, msg[16:], false)
		assert.Empty(t, h.out())
		frag(1, 0, msg[:16], true)
		out := h.out()
		require.Len(t, out, 1)
		icmp := out[0].Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		assert.Equal(t, uint8(layers.ICMPv4TypeEchoReply), icmp.TypeCode.Type())
		assert.Equal(t, msg[8:], icmp.Payload)

		frag(2, 0, msg[:16], true)
		frag(2, 8, msg[8:24], true)
		frag(2, 16, msg[16:], false)
		assert.Empty(t, h.out(), "overlapping fragments drop the datagram")
		c := h.s.Counters().IP
		assert.Equal(t, uint64(5), c.ReasmReqds)
		assert.Equal(t, uint64(1), c.ReasmOKs)
		assert.Equal(t, uint64(1), c.ReasmOverlaps)

		// A first fragment alone times out with ICMP time exceeded.
		frag(3, 0, msg[:16], true)
		h.at(30*time.Second - 1)
		assert.Empty(t, h.out())
		h.at(31 * time.Second)
		out = only(h.out(), layers.LayerTypeICMPv4)
		require.Len(t, out, 1)
		icmp = out[0].Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		assert.Equal(t, layers.CreateICMPv4TypeCode(layers.ICMPv4TypeTimeExceeded, layers.ICMPv4CodeFragmentReassemblyTimeExceeded), icmp.TypeCode)
	})
}

func fold16(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// only keeps the packets that have a layer of type lt.
func only(ps []gopacket.Packet, lt gopacket.LayerType) []gopacket.Packet {
	var r []gopacket.Packet
	for _, p := range ps {
		if p.Layer(lt) != nil {
			r = append(r, p)
		}
	}
	return r
}

func TestStaticNeighbourNeedsNoARP(t *testing.T) {
	clock := backend.NewVirtualClock(t0)
	fd := newFeeder(t, clock, false, ourMAC)
	s, err := New(Config{Interfaces: []InterfaceConfig{{Backend: fd, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")},
		Neighbors: []Neighbor{{Addr: netip.AddrFrom4([4]byte(peerIP)), MAC: peerMAC}}}}, Seed: 1, Clock: clock, Manual: true, Logger: quietLogger()})
	require.NoError(t, err)
	defer s.Close()
	h := &harness{t: t, clock: clock, fd: fd, s: s}
	h.poll()
	h.out()
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 1))
	out := h.out()
	require.Len(t, out, 1, "the reply goes straight out")
	assert.Equal(t, []byte(peerMAC), []byte(out[0].LinkLayer().(*layers.Ethernet).DstMAC))
	h.at(time.Hour)
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 2))
	assert.Len(t, only(h.out(), layers.LayerTypeARP), 0, "never probed")
}
