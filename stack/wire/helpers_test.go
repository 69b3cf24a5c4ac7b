package wire

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// unhex decodes hex with spaces and newlines, as packets are written here.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

var (
	v4a  = netip.MustParseAddr("192.0.2.1")
	v4b  = netip.MustParseAddr("198.51.100.7")
	v6a  = netip.MustParseAddr("2001:db8::1")
	v6b  = netip.MustParseAddr("fe80::c000:54ff:fef5:0")
	macA = MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	macB = MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
)

// synFrame is an Ethernet/IPv4/TCP SYN as Linux sends it, options
// [mss 1460,sackOK,TS val 2089833 ecr 0,nop,wscale 7] (from the zeek
// bro.org.pcap capture).
var synFrame = mustHex(`
	5254 0012 3502 0800 27ef 1f74 0800
	4500 003c 2480 4000 4006 8e6b 0a00 020f c096 bb2b
	d727 0050 e9fd c7e9 0000 0000 a002 3908 1a3f 0000
	0204 05b4 0402 080a 001f e369 0000 0000 0103 0307`)

// ipv6Packet returns an IPv6 packet with next header nh, payload p and
// hop limit 64, from v6a to v6b.
func ipv6Packet(nh uint8, p []byte) []byte {
	b := make([]byte, IPv6HeaderLen+len(p))
	IPv6Fields{PayloadLen: len(p), NextHeader: nh, HopLimit: 64, Src: v6a, Dst: v6b}.Emit(b)
	copy(b[IPv6HeaderLen:], p)
	return b
}

// ipv4Packet returns an IPv4 packet with protocol proto and payload p.
func ipv4Packet(proto uint8, p []byte) []byte {
	f := IPv4Fields{TTL: 64, Protocol: proto, Src: v4a, Dst: v4b, PayloadLen: len(p)}
	b := make([]byte, f.Len()+len(p))
	f.Emit(b)
	copy(b[f.Len():], p)
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Frames from the corpus, for tests that must not need it.
var (
	// nsNonceFrame: a DAD neighbor solicitation with a nonce option
	// (tcpdump icmpv6-ns-nonce.pcap).
	nsNonceFrame = mustHex(`3333ffe1000f566ff7e1000f86dd6000000000203aff
		00000000000000000000000000000000ff0200000000000000000001ffe1000f
		8700566e00000000fe80000000000000546ff7fffee1000f0e016069604c0aaa`)
	// pingFrame: an ICMPv4 echo request, id 1226 seq 1 (zeek 5-pings.pcap).
	pingFrame = mustHex(`a683e70c9064000c29cf3015080045000054946a40004001bd04ac108502acd90b4e
		0800ef2404ca00018bcfcf5f00000000db0d0f0000000000101112131415161718191a1b1c1d1e1f
		202122232425262728292a2b2c2d2e2f3031323334353637`)
	// raFrame: a router advertisement, no options (zeek
	// icmp6-router-advert.pcap).
	raFrame = mustHex(`ffffffffffff00000000000086dd6000000000103afffe80000000000000000000000000dead
		fe80000000000000000000000000beef8600b6cd0db8070800000e7400000514`)
	// udpFrame: 127.0.0.1.30000 > 127.0.0.1.13000, 4 bytes, good checksum.
	udpFrame = mustHex(`ffffffffffff0000000000000800450000200001000040117cca7f0000017f000001
		753032c8000ca92a58585858`)
	// tooBigFrame: ICMPv6 packet too big, MTU 1280, quoting a UDP packet.
	tooBigFrame = mustHex(`ffffffffffff00000000000086dd60000000003c3a40fe80000000000000000000000000dead
		fe80000000000000000000000000beef0200ecba0000050060000000000c1140fe80000000000000000000000000beef
		fe80000000000000000000000000dead753032c8000c0c8e58585858`)
)
