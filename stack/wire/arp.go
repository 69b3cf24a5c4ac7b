package wire

import "net/netip"

// ARPLen is the length of an ARP packet for Ethernet and IPv4 (RFC 826).
const ARPLen = 28

// ARP operation codes (RFC 826).
const (
	ARPRequest = 1
	ARPReply   = 2
)

// arpHardwareEthernet is the ARP hardware type of Ethernet (RFC 826, IANA
// "Hardware Types").
const arpHardwareEthernet = 1

// ARP is a view of an ARP packet. Check accepts only Ethernet hardware
// addresses and IPv4 protocol addresses, the one form ustack speaks, so the
// accessors read fixed offsets.
type ARP []byte

// Check reports whether a is a whole ARP packet for Ethernet and IPv4. Other
// hardware or protocol types, or address lengths, give ErrUnsupported. Bytes
// after the 28 (Ethernet padding) are ignored.
func (a ARP) Check() error {
	if len(a) < 8 {
		return errARPShort
	}
	if a.HardwareType() != arpHardwareEthernet || a.ProtocolType() != EtherTypeIPv4 ||
		a.HardwareLen() != 6 || a.ProtocolLen() != 4 {
		return errARPFormat
	}
	if len(a) < ARPLen {
		return errARPShort
	}
	return nil
}

// HardwareType returns the hardware address space (1 for Ethernet).
func (a ARP) HardwareType() uint16 { return be16(a[0:2]) }

// ProtocolType returns the protocol address space, as an EtherType.
func (a ARP) ProtocolType() EtherType { return EtherType(be16(a[2:4])) }

// HardwareLen returns the length of a hardware address.
func (a ARP) HardwareLen() uint8 { return a[4] }

// ProtocolLen returns the length of a protocol address.
func (a ARP) ProtocolLen() uint8 { return a[5] }

// Op returns the operation: ARPRequest or ARPReply.
func (a ARP) Op() uint16 { return be16(a[6:8]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[8:14]) }

// SenderAddr returns the sender protocol address.
func (a ARP) SenderAddr() netip.Addr { return addr4(a[14:18]) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[18:24]) }

// TargetAddr returns the target protocol address.
func (a ARP) TargetAddr() netip.Addr { return addr4(a[24:28]) }

// SetOp sets the operation.
func (a ARP) SetOp(op uint16) { put16be(a[6:8], op) }

// SetSenderMAC sets the sender hardware address.
func (a ARP) SetSenderMAC(m MAC) { copy(a[8:14], m[:]) }

// SetSenderAddr sets the sender protocol address.
func (a ARP) SetSenderAddr(ip netip.Addr) { putAddr4(a[14:18], ip) }

// SetTargetMAC sets the target hardware address.
func (a ARP) SetTargetMAC(m MAC) { copy(a[18:24], m[:]) }

// SetTargetAddr sets the target protocol address.
func (a ARP) SetTargetAddr(ip netip.Addr) { putAddr4(a[24:28], ip) }

// ARPFields is the value of an ARP packet for Ethernet and IPv4.
type ARPFields struct {
	Op         uint16
	SenderMAC  MAC
	SenderAddr netip.Addr
	TargetMAC  MAC
	TargetAddr netip.Addr
}

// Parse checks b and reads the ARP packet in it.
func (f *ARPFields) Parse(b []byte) error {
	a := ARP(b)
	if err := a.Check(); err != nil {
		return err
	}
	*f = ARPFields{Op: a.Op(), SenderMAC: a.SenderMAC(), SenderAddr: a.SenderAddr(),
		TargetMAC: a.TargetMAC(), TargetAddr: a.TargetAddr()}
	return nil
}

// Len is ARPLen.
func (f ARPFields) Len() int { return ARPLen }

// Emit writes the packet into b, which must hold at least ARPLen bytes.
// Addresses that are not IPv4 are written as 0.0.0.0.
func (f ARPFields) Emit(b []byte) {
	a := ARP(b[:ARPLen])
	put16be(a[0:2], arpHardwareEthernet)
	put16be(a[2:4], uint16(EtherTypeIPv4))
	a[4], a[5] = 6, 4
	a.SetOp(f.Op)
	a.SetSenderMAC(f.SenderMAC)
	a.SetSenderAddr(f.SenderAddr)
	a.SetTargetMAC(f.TargetMAC)
	a.SetTargetAddr(f.TargetAddr)
}
