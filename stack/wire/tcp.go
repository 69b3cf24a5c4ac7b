package wire

import (
	"net/netip"
	"strings"
)

// TCP header lengths (RFC 9293 §3.1): 20 bytes without options, at most 60.
const (
	TCPHeaderLen    = 20
	TCPMaxHeaderLen = 60
)

// TCPFlags are the control bits of a TCP header, AE (bit 8, formerly NS) to
// FIN (bit 0).
type TCPFlags uint16

// TCP control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE and CWR, RFC 9768
// for AE, which RFC 3540 called NS).
const (
	TCPFlagFIN TCPFlags = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
	TCPFlagAE
)

var tcpFlagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE"}

// Has reports whether all of the flags in g are set in f.
func (f TCPFlags) Has(g TCPFlags) bool { return f&g == g }

// String lists the set flags joined by "|", FIN first, or "0" for none;
// unknown bits are ignored.
func (f TCPFlags) String() string {
	var sb strings.Builder
	for i, name := range tcpFlagNames {
		if f&(1<<i) != 0 {
			if sb.Len() > 0 {
				sb.WriteByte('|')
			}
			sb.WriteString(name)
		}
	}
	if sb.Len() == 0 {
		return "0"
	}
	return sb.String()
}

// TCP is a view of a TCP segment: header, options and data. Build it over
// the IP payload: the segment ends where the IP payload does.
type TCP []byte

// Check reports whether t holds a whole header with the options its data
// offset announces (RFC 9293 §3.1: the offset counts 32-bit words, at least
// 5). It does not parse the options: TCPOptions.Parse does.
func (t TCP) Check() error {
	if len(t) < TCPHeaderLen {
		return errTCPShort
	}
	n := t.DataOffset()
	if n < TCPHeaderLen {
		return errTCPDataOff
	}
	if n > len(t) {
		return errTCPHdrTrunc
	}
	return nil
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return be16(t[0:2]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return be16(t[2:4]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return be32(t[4:8]) }

// Ack returns the acknowledgment number.
func (t TCP) Ack() uint32 { return be32(t[8:12]) }

// DataOffset returns the header length in bytes, options included: the data
// offset field × 4.
func (t TCP) DataOffset() int { return int(t[12]>>4) * 4 }

// Flags returns the control bits, AE included.
func (t TCP) Flags() TCPFlags { return TCPFlags(t[12]&1)<<8 | TCPFlags(t[13]) }

// Window returns the window field, unscaled.
func (t TCP) Window() uint16 { return be16(t[14:16]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return be16(t[16:18]) }

// Urgent returns the urgent pointer.
func (t TCP) Urgent() uint16 { return be16(t[18:20]) }

// Options returns the raw options area, padding included.
func (t TCP) Options() []byte { return t[TCPHeaderLen:t.DataOffset()] }

// Payload returns the data after the header.
func (t TCP) Payload() []byte { return t[t.DataOffset():] }

// VerifyChecksum reports whether the segment's checksum is right for the
// pseudo-header of src and dst (RFC 9293 §3.1).
func (t TCP) VerifyChecksum(src, dst netip.Addr) bool {
	return TransportChecksum(src, dst, IPProtoTCP, t) == 0
}

// ComputeChecksum returns the checksum the segment should carry, whatever
// the field holds now.
func (t TCP) ComputeChecksum(src, dst netip.Addr) uint16 {
	return fieldChecksum(src, dst, IPProtoTCP, t, 16)
}

// SetSrcPort sets the source port.
func (t TCP) SetSrcPort(p uint16) { put16be(t[0:2], p) }

// SetDstPort sets the destination port.
func (t TCP) SetDstPort(p uint16) { put16be(t[2:4], p) }

// SetSeq sets the sequence number.
func (t TCP) SetSeq(s uint32) { put32be(t[4:8], s) }

// SetAck sets the acknowledgment number.
func (t TCP) SetAck(a uint32) { put32be(t[8:12], a) }

// SetDataOffset sets the header length in bytes (a multiple of 4 from 20 to
// 60), keeping the reserved bits and AE.
func (t TCP) SetDataOffset(n int) { t[12] = byte(n/4)<<4 | t[12]&0x0f }

// SetFlags sets the control bits, AE included, keeping the data offset and
// reserved bits.
func (t TCP) SetFlags(f TCPFlags) {
	t[12] = t[12]&^1 | byte(f>>8)&1
	t[13] = byte(f)
}

// SetWindow sets the window field.
func (t TCP) SetWindow(w uint16) { put16be(t[14:16], w) }

// SetChecksum sets the checksum field.
func (t TCP) SetChecksum(c uint16) { put16be(t[16:18], c) }

// SetUrgent sets the urgent pointer.
func (t TCP) SetUrgent(u uint16) { put16be(t[18:20], u) }

// TCPFields is the value of a TCP header and its options.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            TCPFlags
	Window           uint16
	Urgent           uint16
	Options          TCPOptions
}

// Parse checks b and reads the TCP header and options in it. A malformed
// option gives ErrBadOption, with the fields before it filled in.
func (f *TCPFields) Parse(b []byte) error {
	t := TCP(b)
	if err := t.Check(); err != nil {
		return err
	}
	*f = TCPFields{
		SrcPort: t.SrcPort(),
		DstPort: t.DstPort(),
		Seq:     t.Seq(),
		Ack:     t.Ack(),
		Flags:   t.Flags(),
		Window:  t.Window(),
		Urgent:  t.Urgent(),
	}
	return f.Options.Parse(t.Options())
}

// Len is the header length Emit writes: 20 bytes plus Options.Len.
func (f TCPFields) Len() int { return TCPHeaderLen + f.Options.Len() }

// Emit writes the header and options into b, which must hold at least Len
// bytes, with a zero checksum: the caller sets it with ComputeChecksum once
// the data is in place, or leaves it to offload.
func (f TCPFields) Emit(b []byte) {
	n := f.Len()
	t := TCP(b[:n])
	t.SetSrcPort(f.SrcPort)
	t.SetDstPort(f.DstPort)
	t.SetSeq(f.Seq)
	t.SetAck(f.Ack)
	t[12] = 0
	t.SetDataOffset(n)
	t.SetFlags(f.Flags)
	t.SetWindow(f.Window)
	t.SetChecksum(0)
	t.SetUrgent(f.Urgent)
	f.Options.Emit(t[TCPHeaderLen:])
}
