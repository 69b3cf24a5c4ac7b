package pcapsim

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the test captures in testdata and the golden files")

// goldenCase is a small capture made here, replayed with opts, whose
// output is kept in testdata/NAME.golden.
type goldenCase struct {
	name    string                    // testdata/NAME is the capture
	capture func(t testing.TB) []byte // nil: made by testdata/tools/make.sh
	opts    Options
}

var goldenCases = []goldenCase{
	// The stack adopts the address an ARP request asks for and answers.
	{name: "arp.pcap", capture: arpCapture},
	// Echo requests from a neighbour and from beyond the router.
	{name: "icmp-echo.pcap", capture: echoCapture},
	// A SYN to a listening port and one to a closed port.
	{name: "tcp-handshake.pcap", capture: handshakeCapture, opts: Options{Listen: []uint16{80}}},
	{name: "sll.pcap", capture: sllCapture},
	{name: "sll2-ns.pcap", capture: sll2Capture},
	{name: "raw.pcap", capture: rawCapture},
	{name: "nanosecond.pcap", capture: nanoCapture},
	// The last record cut short: warned about, the rest replayed.
	{name: "truncated.pcap", capture: truncatedCapture},
	// Written by Wireshark's text2pcap and editcap (testdata/tools/make.sh),
	// not by these tests: a cooked capture, and nanosecond pcapng and pcap.
	{name: "sll-tools.pcap"},
	{name: "nanosecond-pcapng-tools.pcapng", opts: Options{Listen: []uint16{80}}},
	{name: "nanosecond-pcap-tools.pcap", opts: Options{Listen: []uint16{80}}},
}

func arpCapture(t testing.TB) []byte {
	req := func(target []byte) []byte {
		return serialize(t, eth(peerMAC, broadcastMAC, layers.EthernetTypeARP), &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: peerMAC, SourceProtAddress: peerIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: target,
		}, gopacket.Payload(make([]byte, 18)))
	}
	return pcapBytes(t, linkEthernet, false, []rec{
		{at: t0, data: req(hostIP.AsSlice())},
		{at: t0.Add(time.Second), data: req(otherIP.AsSlice())},
	})
}

func echoCapture(t testing.TB) []byte {
	var recs []rec
	for seq := uint16(1); seq <= 3; seq++ {
		recs = append(recs, rec{at: t0.Add(time.Duration(seq-1) * time.Second), data: ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolICMPv4), echoRequest(0x1234, seq)...)})
	}
	recs = append(recs, rec{at: t0.Add(3500 * time.Millisecond), data: ethIPv4(t, routerMAC, hostMAC, ip4(remoteIP, hostIP, layers.IPProtocolICMPv4), echoRequest(0x4321, 1)...)})
	return pcapBytes(t, linkEthernet, false, recs)
}

func handshakeCapture(t testing.TB) []byte {
	return pcapBytes(t, linkEthernet, false, []rec{
		{at: t0, data: ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40000, 80, 1000))},
		{at: t0.Add(10 * time.Millisecond), data: ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40001, 81, 2000))},
	})
}

// sllCapture is what `tcpdump -i any` records on the host: a ping
// received and answered (the answer marked outgoing), a broadcast ARP
// request from another host, and a SYN to a closed port.
func sllCapture(t testing.TB) []byte {
	ping := rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolICMPv4), echoRequest(7, 1)...)
	pong := rawIPv4(t, ip4(hostIP, peerIP, layers.IPProtocolICMPv4), append([]gopacket.SerializableLayer{&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 7, Seq: 1}}, echoRequest(7, 1)[1:]...)...)
	arp := serialize(t, &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: otherMAC, SourceProtAddress: otherIP.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: hostIP.AsSlice(),
	})
	tcp := rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(50000, 22, 3000))
	return pcapBytes(t, linkSLL, false, []rec{
		{at: t0, data: sll(packetHost, peerMAC, etherTypeIPv4, ping)},
		{at: t0.Add(50 * time.Microsecond), data: sll(packetOutgoing, hostMAC, etherTypeIPv4, pong)},
		{at: t0.Add(time.Second), data: sll(packetBroadcast, otherMAC, etherTypeARP, arp)},
		{at: t0.Add(2 * time.Second), data: sll(packetHost, peerMAC, etherTypeIPv4, tcp)},
	})
}

// sll2Capture is a cooked v2 capture with nanosecond timestamps and one
// record without a link-layer address (as from a tunnel): no outgoing
// frame tells the host's MAC, so the stack gets a generated one.
func sll2Capture(t testing.TB) []byte {
	tcp := rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(50001, 443, 4000))
	ping := rawIPv4(t, ip4(remoteIP, hostIP, layers.IPProtocolICMPv4), echoRequest(9, 1)...)
	return pcapBytes(t, linkSLL2, true, []rec{
		{at: t0.Add(1), data: sll2(packetHost, peerMAC, etherTypeIPv4, tcp)},
		{at: t0.Add(500*time.Millisecond + 7), data: sll2(packetHost, nil, etherTypeIPv4, ping)},
	})
}

// rawCapture is raw IP (LINKTYPE_RAW): a ping and a SYN to the host, and
// an IPv6 packet for an address the stack (adopting the IPv4 host) does not
// have.
func rawCapture(t testing.TB) []byte {
	udp6 := serialize(t, ip6(peer6IP, host6IP, layers.IPProtocolUDP), &layers.UDP{SrcPort: 5000, DstPort: 9}, gopacket.Payload("hello"))
	return pcapBytes(t, linkRaw, false, []rec{
		{at: t0, data: rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolICMPv4), echoRequest(1, 1)...)},
		{at: t0.Add(time.Millisecond), data: udp6},
		{at: t0.Add(2 * time.Millisecond), data: rawIPv4(t, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40000, 80, 1000))},
	})
}

// nanoCapture has timestamps only nanosecond resolution can hold: the
// output's must be the same nanoseconds.
func nanoCapture(t testing.TB) []byte {
	return pcapBytes(t, linkEthernet, true, []rec{
		{at: t0.Add(123456789), data: ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40000, 8080, 1))},
		{at: t0.Add(987654321), data: ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolICMPv4), echoRequest(2, 1)...)},
	})
}

func truncatedCapture(t testing.TB) []byte {
	b := echoCapture(t)
	return b[:len(b)-30]
}

// TestGolden replays the captures of testdata and compares what the stack
// sends with the golden files. With -update it first rewrites the
// captures, then the golden files: review them as diffs.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", c.name)
			switch {
			case c.capture == nil:
				// Made by Wireshark's tools: kept as they wrote it.
			case *update:
				require.NoError(t, os.WriteFile(path, c.capture(t), 0o644))
			default:
				want, err := os.ReadFile(path)
				require.NoError(t, err)
				require.Equal(t, c.capture(t), want, "the capture generator changed: run go test -update and review")
			}
			got := goldenText(t, path, c.opts)
			golden := strings.TrimSuffix(path, filepath.Ext(path)) + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

// goldenText replays path and describes the replay: who the stack was,
// what it sent, what it dropped.
func goldenText(t testing.TB, path string, opts Options) string {
	t.Helper()
	var out bytes.Buffer
	opts.In, opts.Output = path, &out
	sum, err := Replay(context.Background(), opts)
	require.NoError(t, err)
	var sb strings.Builder
	fmt.Fprintf(&sb, "# ustack replay --in %s --adopt", filepath.Base(path))
	for _, p := range opts.Listen {
		fmt.Fprintf(&sb, " --listen %d", p)
	}
	sb.WriteString("\n")
	a := sum.Adoption
	fmt.Fprintf(&sb, "adopted %v %v (%s, record %d)\n", a.Prefix, a.MAC, a.How, a.Record)
	for _, n := range sum.Neighbors {
		fmt.Fprintf(&sb, "neighbor %v %v\n", n.Addr, n.MAC)
	}
	fmt.Fprintf(&sb, "frames in %d, out %d, virtual %v\n", sum.FramesIn, sum.FramesOut, sum.Virtual)
	for _, d := range sum.Drops {
		fmt.Fprintf(&sb, "drop %s %d\n", d.Name, d.N)
	}
	if sum.Truncated != nil {
		fmt.Fprintf(&sb, "warning: %v\n", sum.Truncated)
	}
	sb.WriteString(describe(t, out.Bytes()))
	return sb.String()
}
