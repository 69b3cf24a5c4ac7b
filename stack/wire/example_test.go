package wire_test

import (
	"fmt"
	"net/netip"

	"github.com/ustack/ustack/stack/wire"
)

// A receive path: peel the link layer, check each header once, then read
// fields through the views without copying.
func ExampleEthernet_L2() {
	frame := make([]byte, 64)
	eth := wire.EthernetFields{EtherType: wire.EtherTypeIPv4, NumTags: 1,
		Tags: [2]wire.VLANTag{{TPID: wire.EtherTypeVLAN, TCI: 100}}}
	eth.Emit(frame)
	udp := wire.UDPFields{SrcPort: 5353, DstPort: 53, PayloadLen: 4}
	ip := wire.IPv4Fields{TTL: 64, Protocol: wire.IPProtoUDP, Src: netip.MustParseAddr("192.0.2.1"),
		Dst: netip.MustParseAddr("192.0.2.2"), PayloadLen: udp.Len() + udp.PayloadLen}
	ip.Emit(frame[eth.Len():])
	udp.Emit(frame[eth.Len()+ip.Len():])

	l2, err := wire.Ethernet(frame).L2()
	if err != nil {
		fmt.Println(err)
		return
	}
	v4 := wire.IPv4(frame[l2.HeaderLen:])
	if err := v4.Check(); err != nil || !v4.VerifyChecksum() {
		fmt.Println("bad ipv4")
		return
	}
	u := wire.UDP(v4.Payload())
	if err := u.Check(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l2.Tags[0].ID(), l2.EtherType, v4.SrcAddr(), u.DstPort(), len(u.Payload()))
	// Output: 100 IPv4 192.0.2.1 53 4
}

// A transmit path: emit the headers, then fill the checksum once the data is
// in place (or leave it to checksum offload).
func ExampleTCPFields_Emit() {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	syn := wire.TCPFields{SrcPort: 40000, DstPort: 80, Seq: 1, Flags: wire.TCPFlagSYN, Window: 65535,
		Options: wire.TCPOptions{MSS: 1440, HasMSS: true, SACKPermitted: true, WindowScale: 7, HasWindowScale: true}}
	b := make([]byte, syn.Len())
	syn.Emit(b)
	seg := wire.TCP(b)
	seg.SetChecksum(seg.ComputeChecksum(src, dst))
	fmt.Println(seg.DataOffset(), seg.Flags(), seg.VerifyChecksum(src, dst))
	fmt.Printf("% x\n", seg.Options())
	// Output:
	// 32 SYN true
	// 02 04 05 a0 01 01 04 02 01 03 03 07
}

// WalkIPv6 finds the upper layer, and says where to point a Parameter
// Problem when the stack does not know it.
func ExampleWalkIPv6() {
	pkt := make([]byte, 40+8+4)
	wire.IPv6Fields{PayloadLen: 12, NextHeader: wire.IPProtoDestOpts, HopLimit: 64}.Emit(pkt)
	wire.IPv6OptionsFields{NextHeader: 253}.Emit(pkt[40:])
	c, err := wire.WalkIPv6(wire.IPv6(pkt))
	fmt.Println(c.Proto, c.Offset, c.ProtoPointer, err)
	// Output: 253 48 40 <nil>
}
