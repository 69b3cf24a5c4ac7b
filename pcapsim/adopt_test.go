package pcapsim

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdopt(t *testing.T) {
	synAck := syn(80, 40000, 1)
	synAck.ACK, synAck.Ack = true, 1001
	echo := func(src, dst netip.Addr, smac, dmac net.HardwareAddr) []byte {
		return ethIPv4(t, smac, dmac, ip4(src, dst, layers.IPProtocolICMPv4), echoRequest(1, 1)...)
	}
	tcp := func(src, dst netip.Addr, smac, dmac net.HardwareAddr, seg *layers.TCP) []byte {
		return ethIPv4(t, smac, dmac, ip4(src, dst, layers.IPProtocolTCP), seg)
	}
	arpReq := serialize(t, eth(peerMAC, broadcastMAC, layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: peerMAC, SourceProtAddress: peerIP.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: hostIP.AsSlice(),
	})
	vlanSYN := serialize(t, eth(peerMAC, hostMAC, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4},
		ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(1, 2, 3))
	v6SYNTo := func(dmac net.HardwareAddr) []byte {
		return serialize(t, eth(peerMAC, dmac, layers.EthernetTypeIPv6), ip6(peer6IP, host6IP, layers.IPProtocolTCP), syn(1, 2, 3))
	}
	v6SYN := v6SYNTo(hostMAC)
	hbh := ip6(peer6IP, host6IP, layers.IPProtocolIPv6HopByHop)
	hbh.HopByHop = &layers.IPv6HopByHop{}
	hbh.HopByHop.NextHeader = layers.IPProtocolTCP
	hbh.HopByHop.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	v6ExtSYN := serialize(t, eth(peerMAC, hostMAC, layers.EthernetTypeIPv6), hbh, syn(1, 2, 3))
	laterFragment := ip4(peerIP, otherIP, layers.IPProtocolTCP)
	laterFragment.FragOffset = 100
	lldp := serialize(t, eth(peerMAC, net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x0e}, layers.EthernetType(0x88cc)), gopacket.Payload(make([]byte, 46)))

	for _, c := range []struct {
		name   string
		link   uint32
		cfg    Config
		frames [][]byte
		prefix string
		other  string // Adoption.Other, when valid
		vlan   int
		mac    net.HardwareAddr
		how    string
		record int
	}{
		{
			name:   "the receiver of the first SYN, not of a SYN-ACK or of earlier packets",
			frames: [][]byte{echo(peerIP, otherIP, peerMAC, otherMAC), tcp(otherIP, peerIP, otherMAC, peerMAC, synAck), tcp(peerIP, hostIP, peerMAC, hostMAC, syn(1, 2, 3))},
			prefix: "10.0.0.1/24", mac: hostMAC, how: AdoptSYN, record: 3,
		},
		{
			name:   "without a SYN, the destination of the first unicast IP packet",
			frames: [][]byte{echo(peerIP, netip.MustParseAddr("255.255.255.255"), peerMAC, broadcastMAC), echo(peerIP, hostIP, peerMAC, hostMAC), echo(peerIP, otherIP, peerMAC, otherMAC)},
			prefix: "10.0.0.1/24", mac: hostMAC, how: AdoptUnicast, record: 2,
		},
		{
			name:   "without IP, the address the first ARP request asks for",
			frames: [][]byte{lldp, arpReq},
			prefix: "10.0.0.1/24", mac: GeneratedMAC(1), how: AdoptARP, record: 2,
		},
		{
			name:   "nothing to adopt",
			frames: [][]byte{lldp, echo(netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"), make([]byte, 6), make([]byte, 6))},
			prefix: DefaultPrefix.String(), mac: GeneratedMAC(1), how: AdoptNone,
		},
		{
			name:   "a SYN in a VLAN",
			frames: [][]byte{vlanSYN},
			prefix: "10.0.0.1/24", vlan: 7, mac: hostMAC, how: AdoptSYN, record: 1,
		},
		{
			name:   "an IPv6 SYN",
			frames: [][]byte{v6SYN},
			prefix: "2001:db8::1/64", mac: hostMAC, how: AdoptSYN, record: 1,
		},
		{
			name:   "a dual-stack host: its first SYN of the other family, at the same MAC",
			frames: [][]byte{tcp(peerIP, hostIP, peerMAC, hostMAC, syn(1, 2, 3)), v6SYNTo(otherMAC), v6SYN},
			prefix: "10.0.0.1/24", other: "2001:db8::1/64", mac: hostMAC, how: AdoptSYN, record: 1,
		},
		{
			name:   "a SYN of the other family at another MAC is another host's",
			frames: [][]byte{tcp(peerIP, hostIP, peerMAC, hostMAC, syn(1, 2, 3)), v6SYNTo(otherMAC)},
			prefix: "10.0.0.1/24", mac: hostMAC, how: AdoptSYN, record: 1,
		},
		{
			name:   "an IPv6 SYN after a hop-by-hop header",
			frames: [][]byte{v6ExtSYN},
			prefix: "2001:db8::1/64", mac: hostMAC, how: AdoptSYN, record: 1,
		},
		{
			name:   "not a later fragment, which has no TCP header",
			frames: [][]byte{ethIPv4(t, peerMAC, otherMAC, laterFragment, gopacket.Payload(tcpBytes(t))), tcp(peerIP, hostIP, peerMAC, hostMAC, syn(1, 2, 3))},
			prefix: "10.0.0.1/24", mac: hostMAC, how: AdoptSYN, record: 2,
		},
		{
			name:   "a SYN to a group address names its receiver, not its MAC",
			cfg:    Config{MAC: otherMAC},
			frames: [][]byte{tcp(peerIP, hostIP, peerMAC, broadcastMAC, syn(1, 2, 3))},
			prefix: "10.0.0.1/24", mac: otherMAC, how: AdoptSYN, record: 1,
		},
		{
			name:   "raw IP records no MAC: a generated one",
			link:   linkRaw,
			cfg:    Config{Seed: 9},
			frames: [][]byte{rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(1, 2, 3))},
			prefix: "10.0.0.1/24", mac: GeneratedMAC(9), how: AdoptSYN, record: 1,
		},
		{
			name: "a cooked capture's MAC from its outgoing frames",
			link: linkSLL,
			frames: [][]byte{
				sll(packetHost, peerMAC, etherTypeIPv4, rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(1, 2, 3))),
				sll(packetOutgoing, hostMAC, etherTypeIPv4, rawIPv4(t, ip4(hostIP, peerIP, layers.IPProtocolTCP), synAck)),
			},
			prefix: "10.0.0.1/24", mac: hostMAC, how: AdoptSYN, record: 1,
		},
		{
			name: "a cooked capture's outgoing SYN, when outgoing frames are fed",
			link: linkSLL,
			cfg:  Config{Outgoing: true},
			frames: [][]byte{
				sll(packetOutgoing, hostMAC, etherTypeIPv4, rawIPv4(t, ip4(hostIP, remoteIP, layers.IPProtocolTCP), syn(1, 2, 3))),
				sll(packetHost, routerMAC, etherTypeIPv4, rawIPv4(t, ip4(remoteIP, hostIP, layers.IPProtocolTCP), synAck)),
			},
			prefix: "198.51.100.7/24", mac: derivedMAC(remoteIP), how: AdoptSYN, record: 1,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.link == 0 {
				c.link = linkEthernet
			}
			var recs []rec
			for i, f := range c.frames {
				recs = append(recs, rec{at: t0.Add(time.Duration(i) * time.Millisecond), data: f})
			}
			if c.cfg.Seed == 0 {
				c.cfg.Seed = 1
			}
			a, err := adopt(bytes.NewReader(pcapBytes(t, c.link, false, recs)), c.cfg)
			require.NoError(t, err)
			assert.Equal(t, c.prefix, a.Prefix.String())
			if c.other == "" {
				assert.False(t, a.Other.IsValid(), "no other address: %v", a.Other)
			} else {
				assert.Equal(t, c.other, a.Other.String())
			}
			assert.Equal(t, c.vlan, a.VLAN)
			assert.Equal(t, c.mac, a.MAC)
			assert.Equal(t, c.how, a.How)
			assert.Equal(t, c.record, a.Record)
		})
	}
}

// tcpBytes is a SYN's header, as the payload of a later fragment.
func tcpBytes(t testing.TB) []byte {
	return rawIPv4(t, ip4(peerIP, otherIP, layers.IPProtocolTCP), syn(1, 2, 3))[20:]
}

func TestAdoptLearnsNeighboursInOrderOfAppearance(t *testing.T) {
	frames := [][]byte{
		ethIPv4(t, routerMAC, hostMAC, ip4(remoteIP, hostIP, layers.IPProtocolICMPv4), echoRequest(1, 1)...),
		ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolICMPv4), echoRequest(1, 1)...),
		// The host's own frame, and a later MAC for the peer: neither counts.
		ethIPv4(t, hostMAC, peerMAC, ip4(hostIP, peerIP, layers.IPProtocolICMPv4), echoRequest(1, 1)...),
		ethIPv4(t, otherMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolICMPv4), echoRequest(1, 1)...),
		serialize(t, eth(otherMAC, broadcastMAC, layers.EthernetTypeARP), &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: otherMAC, SourceProtAddress: otherIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: hostIP.AsSlice(),
		}),
	}
	var recs []rec
	for _, f := range frames {
		recs = append(recs, rec{at: t0, data: f})
	}
	a, err := adopt(bytes.NewReader(pcapBytes(t, linkEthernet, false, recs)), Config{Seed: 1})
	require.NoError(t, err)
	assert.Equal(t, []Neighbor{{remoteIP, routerMAC}, {peerIP, peerMAC}, {otherIP, otherMAC}}, a.Neighbors)
}

func TestAdoptRefusesUnsupportedLinkTypes(t *testing.T) {
	_, err := adopt(bytes.NewReader(pcapBytes(t, 105, false, nil)), Config{})
	var lt *LinkTypeError
	assert.ErrorAs(t, err, &lt)
}
