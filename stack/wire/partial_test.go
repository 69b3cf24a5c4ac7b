package wire

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// partialOf rewrites the transport checksum of frame, at csum bytes from
// the frame's start, as Linux leaves it for the NIC: the folded sum of the
// pseudo-header of the packet at l3, whose transport header is at l4.
func partialOf(frame []byte, l3, l4, csum int) []byte {
	f := bytes.Clone(frame)
	var src, dst []byte
	var proto uint8
	if f[l3]>>4 == 4 {
		src, dst, proto = f[l3+12:l3+16], f[l3+16:l3+20], f[l3+9]
	} else {
		src, dst, proto = f[l3+8:l3+24], f[l3+24:l3+40], f[l3+6]
	}
	binary.BigEndian.PutUint16(f[csum:], Fold(PseudoHeaderSum(src, dst, proto, len(f)-l4)))
	return f
}

// udp6Frame is an Ethernet/IPv6/UDP datagram with a right checksum.
func udp6Frame() []byte {
	u := cat(mustHex("1388 0035 0011 0000"), []byte("some data"))
	binary.BigEndian.PutUint16(u[6:], TransportChecksum(v6a, v6b, IPProtoUDP, u))
	return cat(mustHex("020000000002 020000000001 86dd"), ipv6Packet(IPProtoUDP, u))
}

// A checksum left to the NIC is told from a right one and from a wrong
// one, for TCP and UDP over IPv4 and IPv6, behind VLAN tags; fragments and
// cut frames are never taken for one.
func TestPartialChecksumsAreRecognised(t *testing.T) {
	tcp4, udp6 := synFrame, udp6Frame()
	p4, p6 := partialOf(tcp4, 14, 34, 34+16), partialOf(udp6, 14, 54, 54+6)
	tagged := cat(p4[:12], mustHex("8100 0064"), p4[12:])
	for name, c := range map[string]struct {
		frame         []byte
		start, offset uint16
	}{
		"TCP over IPv4":     {p4, 34, 16},
		"UDP over IPv6":     {p6, 54, 6},
		"behind a VLAN tag": {tagged, 38, 16},
	} {
		start, off, ok := PartialChecksum(c.frame)
		require.True(t, ok, name)
		assert.Equal(t, [2]uint16{c.start, c.offset}, [2]uint16{start, off}, name)
	}

	icmp := cat(synFrame[:14], ipv4Packet(IPProtoICMP, mustHex("0800 f7fe 0001 0000")))
	for name, f := range map[string][]byte{
		"right TCP": tcp4, "right UDP": udp6,
		"wrong TCP":         func() []byte { f := bytes.Clone(tcp4); f[50]++; return f }(),
		"a fragment":        func() []byte { f := bytes.Clone(p4); f[20] |= 0x20; return f }(),
		"cut short":         p4[:len(p4)-1],
		"short of a header": p6[:14+40+4],
		"ICMP":              icmp,
		"three VLAN tags":   cat(p4[:12], mustHex("8100 0001 8100 0002 8100 0003"), p4[12:]),
		"nothing":           nil,
	} {
		_, _, ok := PartialChecksum(f)
		assert.False(t, ok, name)
	}
}

func FuzzPartialChecksum(f *testing.F) {
	addSeeds(f, "partial", synFrame, partialOf(synFrame, 14, 34, 34+16), partialOf(udp6Frame(), 14, 54, 54+6))
	f.Fuzz(func(t *testing.T, frame []byte) {
		start, off, ok := PartialChecksum(frame)
		if !ok {
			return
		}
		require.LessOrEqual(t, int(start)+int(off)+2, len(frame), "the checksum field is in the frame")
		require.GreaterOrEqual(t, int(start), EthernetHeaderLen+IPv4HeaderLen)
	})
}
