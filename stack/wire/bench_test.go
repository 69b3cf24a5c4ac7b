package wire

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

// parsedFrame is what a receive path pulls out of an Ethernet/IPv4/TCP frame.
type parsedFrame struct {
	l2  L2Info
	tcp TCPFields
	ok  bool
}

// parseEthIPv4TCP parses a frame as the stack's receive path would: peel the
// link layer, check IPv4 and its checksum, check TCP and its checksum, parse
// the TCP header and options.
func parseEthIPv4TCP(b []byte, p *parsedFrame) {
	p.ok = false
	l2, err := Ethernet(b).L2()
	if err != nil || l2.EtherType != EtherTypeIPv4 {
		return
	}
	ip := IPv4(b[l2.HeaderLen:])
	if ip.Check() != nil || !ip.VerifyChecksum() || ip.Protocol() != IPProtoTCP {
		return
	}
	seg := TCP(ip.Payload())
	if !seg.VerifyChecksum(ip.SrcAddr(), ip.DstAddr()) {
		return
	}
	if p.tcp.Parse(seg) != nil {
		return
	}
	p.l2, p.ok = l2, true
}

func TestParseAllocatesNothing(t *testing.T) {
	var p parsedFrame
	allocs := testing.AllocsPerRun(100, func() { parseEthIPv4TCP(synFrame, &p) })
	assert.True(t, p.ok)
	assert.Zero(t, allocs, "eth/ipv4/tcp parse")
	assert.True(t, p.tcp.Options.HasTimestamps)
}

func TestChecksumAllocatesNothing(t *testing.T) {
	b := make([]byte, 1500)
	var sink uint16
	allocs := testing.AllocsPerRun(100, func() {
		sink += Checksum(b, 0)
		sink += TransportChecksum(v6a, v6b, IPProtoUDP, b)
		sink += TCP(b).ComputeChecksum(v4a, v4b)
	})
	assert.Zero(t, allocs)
	_ = sink
}

func TestEmitAndWalkAllocateNothing(t *testing.T) {
	f := TCPFields{SrcPort: 1, DstPort: 2, Flags: TCPFlagSYN, Options: TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true,
		HasTimestamps: true, HasWindowScale: true, WindowScale: 7}}
	ip := IPv4Fields{TTL: 64, Protocol: IPProtoTCP, Src: v4a, Dst: v4b, PayloadLen: f.Len()}
	b := make([]byte, 128)
	pkt := ipv6Packet(IPProtoHopByHop, cat(ext(IPProtoFragment), frag(IPProtoTCP, 0, false, 1), make([]byte, 20)))
	allocs := testing.AllocsPerRun(100, func() {
		ip.Emit(b)
		f.Emit(b[ip.Len():])
		_, _ = WalkIPv6(IPv6(pkt))
	})
	assert.Zero(t, allocs)
}

func BenchmarkChecksum(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{64, 1500, 9000, 65536} {
		buf := randBytes(r, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			var sink uint16
			for b.Loop() {
				sink += Checksum(buf, 0)
			}
			_ = sink
		})
	}
}

func BenchmarkParseEthIPv4TCP(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(synFrame)))
	var p parsedFrame
	for b.Loop() {
		parseEthIPv4TCP(synFrame, &p)
	}
	if !p.ok {
		b.Fatal("frame did not parse")
	}
}

func BenchmarkWalkIPv6(b *testing.B) {
	b.ReportAllocs()
	pkt := ipv6Packet(IPProtoHopByHop, cat(ext(IPProtoDestOpts), ext(IPProtoFragment), frag(IPProtoTCP, 0, false, 1), make([]byte, 20)))
	for b.Loop() {
		if _, err := WalkIPv6(IPv6(pkt)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEmitTCP(b *testing.B) {
	b.ReportAllocs()
	f := TCPFields{SrcPort: 1, DstPort: 2, Flags: TCPFlagACK, Options: TCPOptions{HasTimestamps: true, TSVal: 1, TSEcr: 2,
		NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}}
	buf := make([]byte, 64)
	for b.Loop() {
		f.Emit(buf)
	}
}
