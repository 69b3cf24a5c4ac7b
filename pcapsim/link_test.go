package pcapsim

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ethFields splits an Ethernet header.
func ethFields(f []byte) (dst, src net.HardwareAddr, et uint16, payload []byte) {
	return net.HardwareAddr(f[0:6]), net.HardwareAddr(f[6:12]), binary.BigEndian.Uint16(f[12:]), f[14:]
}

func TestAdapterCookedCaptures(t *testing.T) {
	ucast := rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	mcast := rawIPv4(t, ip4(peerIP, netip.MustParseAddr("224.0.0.251"), layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	away := rawIPv4(t, ip4(hostIP, remoteIP, layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	for _, c := range []struct {
		name    string
		pktType uint16
		addr    net.HardwareAddr
		pkt     []byte
		dst     net.HardwareAddr
		src     net.HardwareAddr
		dir     direction
	}{
		{"to the host", packetHost, peerMAC, ucast, hostMAC, peerMAC, dirHost},
		{"broadcast", packetBroadcast, peerMAC, ucast, broadcastMAC, peerMAC, dirUnknown},
		{"multicast", packetMulticast, peerMAC, mcast, net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 0xfb}, peerMAC, dirUnknown},
		{"between other hosts", packetOtherHost, peerMAC, ucast, net.HardwareAddr{0x02, 0, 10, 0, 0, 1}, peerMAC, dirOther},
		{"outgoing", packetOutgoing, hostMAC, away, net.HardwareAddr{0x02, 0, 198, 51, 100, 7}, hostMAC, dirOutgoing},
		{"no link-layer address", packetHost, nil, ucast, hostMAC, net.HardwareAddr{0x02, 0, 10, 0, 0, 2}, dirHost},
	} {
		for _, v2 := range []bool{false, true} {
			name := c.name + "/sll"
			rec := sll(c.pktType, c.addr, etherTypeIPv4, c.pkt)
			lt := linkSLL
			if v2 {
				name = c.name + "/sll2"
				rec = sll2(uint8(c.pktType), c.addr, etherTypeIPv4, c.pkt)
				lt = linkSLL2
			}
			t.Run(name, func(t *testing.T) {
				a := adapter{hostMAC: hostMAC}
				f, dir, err := a.frame(lt, rec)
				require.NoError(t, err)
				dst, src, et, payload := ethFields(f)
				assert.Equal(t, c.dst, dst)
				assert.Equal(t, c.src, src)
				assert.Equal(t, uint16(etherTypeIPv4), et)
				assert.Equal(t, c.pkt, payload)
				assert.Equal(t, c.dir, dir)
			})
		}
	}
}

func TestAdapterRawIP(t *testing.T) {
	v4 := rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	v6 := serialize(t, ip6(peer6IP, host6IP, layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	bcast := rawIPv4(t, ip4(peerIP, netip.MustParseAddr("255.255.255.255"), layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	allNodes := serialize(t, ip6(peer6IP, netip.MustParseAddr("ff02::1"), layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2})
	for _, c := range []struct {
		name string
		link int
		pkt  []byte
		et   uint16
		dst  net.HardwareAddr
		src  net.HardwareAddr
	}{
		{"IPv4 by its version", linkRaw, v4, etherTypeIPv4, hostMAC, net.HardwareAddr{0x02, 0, 10, 0, 0, 2}},
		{"IPv6 by its version", linkRaw, v6, etherTypeIPv6, hostMAC, derivedMAC(peer6IP)},
		{"BSD DLT_RAW 12", linkRawBSD12, v4, etherTypeIPv4, hostMAC, net.HardwareAddr{0x02, 0, 10, 0, 0, 2}},
		{"BSD DLT_RAW 14", linkRawBSD14, v6, etherTypeIPv6, hostMAC, derivedMAC(peer6IP)},
		{"LINKTYPE_IPV4", linkIPv4, v4, etherTypeIPv4, hostMAC, net.HardwareAddr{0x02, 0, 10, 0, 0, 2}},
		{"LINKTYPE_IPV4 whatever the version", linkIPv4, v6, etherTypeIPv4, hostMAC, net.HardwareAddr{0x02, 0, 0, 0, 0, 0}},
		{"LINKTYPE_IPV6", linkIPv6, v6, etherTypeIPv6, hostMAC, derivedMAC(peer6IP)},
		{"broadcast", linkRaw, bcast, etherTypeIPv4, broadcastMAC, net.HardwareAddr{0x02, 0, 10, 0, 0, 2}},
		{"IPv6 multicast", linkRaw, allNodes, etherTypeIPv6, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, derivedMAC(peer6IP)},
		{"empty", linkRaw, nil, etherTypeIPv4, hostMAC, net.HardwareAddr{0x02, 0, 0, 0, 0, 0}},
		{"macOS lo0 IPv4", linkNull, append([]byte{2, 0, 0, 0}, v4...), etherTypeIPv4, hostMAC, net.HardwareAddr{0x02, 0, 10, 0, 0, 2}},
		{"macOS lo0 IPv6", linkNull, append([]byte{30, 0, 0, 0}, v6...), etherTypeIPv6, hostMAC, derivedMAC(peer6IP)},
		{"OpenBSD loopback IPv6", linkLoop, append([]byte{0, 0, 0, 24}, v6...), etherTypeIPv6, hostMAC, derivedMAC(peer6IP)},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := adapter{hostMAC: hostMAC}
			f, dir, err := a.frame(c.link, c.pkt)
			require.NoError(t, err)
			dst, src, et, payload := ethFields(f)
			assert.Equal(t, c.et, et)
			assert.Equal(t, c.dst, dst)
			assert.Equal(t, c.src, src)
			wantLen := len(c.pkt)
			if c.link == linkNull || c.link == linkLoop {
				wantLen -= nullHeaderLen
			}
			assert.Equal(t, wantLen, len(payload))
			assert.Equal(t, dirUnknown, dir)
		})
	}
}

func TestDerivedMACsAreLocallyAdministeredUnicast(t *testing.T) {
	for _, a := range []netip.Addr{peerIP, peer6IP, {}} {
		m := derivedMAC(a)
		assert.Equal(t, byte(0x02), m[0]&0x03, "%v: %v", a, m)
	}
	assert.NotEqual(t, derivedMAC(peer6IP), derivedMAC(host6IP))
}

func TestGeneratedMAC(t *testing.T) {
	a, b := GeneratedMAC(1), GeneratedMAC(2)
	assert.Equal(t, a, GeneratedMAC(1), "the same for the same seed")
	assert.NotEqual(t, a, b)
	for _, m := range []net.HardwareAddr{a, b} {
		assert.Equal(t, byte(0x02), m[0]&0x03, "locally administered unicast: %v", m)
	}
}
