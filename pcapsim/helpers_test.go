package pcapsim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// t0 is the time of the test captures' first frame: 2023-11-14 22:13:20.
var t0 = time.Unix(1_700_000_000, 0)

// The hosts of the test captures: the stack stands in for host; peer is on
// its link; remote is beyond the router.
var (
	hostIP    = netip.MustParseAddr("10.0.0.1")
	peerIP    = netip.MustParseAddr("10.0.0.2")
	otherIP   = netip.MustParseAddr("10.0.0.3")
	remoteIP  = netip.MustParseAddr("198.51.100.7")
	hostMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	peerMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	otherMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x03}
	routerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xfe}
	host6IP   = netip.MustParseAddr("2001:db8::1")
	peer6IP   = netip.MustParseAddr("2001:db8::2")
)

// rec is a record of a test capture.
type rec struct {
	at   time.Time
	data []byte
	orig int // original length, when longer than data
}

// writePcap writes a classic pcap file with link type link (any 32-bit
// value: gopacket's LinkType is 8 bits) and microsecond or nanosecond
// timestamps.
func writePcap(t testing.TB, path string, link uint32, nanos bool, recs []rec) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pcapBytes(t, link, nanos, recs), 0o644))
}

func pcapBytes(t testing.TB, link uint32, nanos bool, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	hdr := make([]byte, 24)
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	binary.LittleEndian.PutUint32(hdr[0:], magic)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], link)
	buf.Write(hdr)
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	for _, r := range recs {
		orig := max(r.orig, len(r.data))
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: r.at, CaptureLength: len(r.data), Length: orig}, r.data))
	}
	return buf.Bytes()
}

// pcapngBytes writes an Ethernet pcapng capture.
func pcapngBytes(t testing.TB, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	require.NoError(t, err)
	for _, r := range recs {
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: r.at, CaptureLength: len(r.data), Length: len(r.data)}, r.data))
	}
	require.NoError(t, w.Flush())
	return buf.Bytes()
}

// serialize builds a packet from layers, fixing lengths and checksums.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for i, l := range ls {
		switch l := l.(type) {
		case *layers.TCP:
			require.NoError(t, l.SetNetworkLayerForChecksum(ls[i-1].(gopacket.NetworkLayer)))
		case *layers.UDP:
			require.NoError(t, l.SetNetworkLayerForChecksum(ls[i-1].(gopacket.NetworkLayer)))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return bytes.Clone(buf.Bytes())
}

func eth(src, dst net.HardwareAddr, et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
}

func ip4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Id: 0x4242, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func ip6(src, dst netip.Addr, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func echoRequest(id, seq uint16) []gopacket.SerializableLayer {
	payload := make([]byte, 56)
	for i := range payload {
		payload[i] = byte(i)
	}
	return []gopacket.SerializableLayer{
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: id, Seq: seq},
		gopacket.Payload(payload),
	}
}

// syn is a client's opening segment with Linux's options.
func syn(sport, dport uint16, seq uint32) *layers.TCP {
	return &layers.TCP{
		SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, SYN: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
}

func ethIPv4(t testing.TB, src, dst net.HardwareAddr, ip *layers.IPv4, rest ...gopacket.SerializableLayer) []byte {
	return serialize(t, append([]gopacket.SerializableLayer{eth(src, dst, layers.EthernetTypeIPv4), ip}, rest...)...)
}

func rawIPv4(t testing.TB, ip *layers.IPv4, rest ...gopacket.SerializableLayer) []byte {
	return serialize(t, append([]gopacket.SerializableLayer{ip}, rest...)...)
}

// sll prepends a Linux cooked capture header to an IP packet.
func sll(pktType uint16, addr net.HardwareAddr, proto uint16, payload []byte) []byte {
	b := make([]byte, sllHeaderLen, sllHeaderLen+len(payload))
	binary.BigEndian.PutUint16(b[0:], pktType)
	binary.BigEndian.PutUint16(b[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(b[4:], uint16(len(addr)))
	copy(b[6:14], addr)
	binary.BigEndian.PutUint16(b[14:], proto)
	return append(b, payload...)
}

// sll2 prepends a Linux cooked capture v2 header to an IP packet.
func sll2(pktType uint8, addr net.HardwareAddr, proto uint16, payload []byte) []byte {
	b := make([]byte, sll2HeaderLen, sll2HeaderLen+len(payload))
	binary.BigEndian.PutUint16(b[0:], proto)
	binary.BigEndian.PutUint32(b[4:], 2) // ifindex
	binary.BigEndian.PutUint16(b[8:], 1) // ARPHRD_ETHER
	b[10] = pktType
	b[11] = uint8(len(addr))
	copy(b[12:20], addr)
	return append(b, payload...)
}

// corpusDir finds the shared captures (../shared/corpus from the module
// root, or $USTACK_CORPUS), or skips.
func corpusDir(t testing.TB) string {
	for _, d := range []string{os.Getenv("USTACK_CORPUS"), "../../shared/corpus"} {
		if d == "" {
			continue
		}
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skip("no capture corpus: set USTACK_CORPUS or place it at ../shared/corpus from the module root")
	return ""
}

func corpusFiles(t testing.TB) (dir string, files []string) {
	dir = corpusDir(t)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, files, "no captures in %s", dir)
	return dir, files
}

// manifestSYN reads which corpus files the manifest says carry a TCP SYN.
func manifestSYN(t testing.TB, dir string) map[string]bool {
	b, err := os.ReadFile(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Logf("no MANIFEST.tsv: %v", err)
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head := strings.Split(lines[0], "\t")
	col := -1
	for i, h := range head {
		if h == "tshark_flags" {
			col = i
		}
	}
	require.GreaterOrEqual(t, col, 0, "MANIFEST.tsv has no tshark_flags column")
	out := map[string]bool{}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) > col && strings.Contains(" "+f[col]+" ", " SYN ") {
			out[f[0]] = true
		}
	}
	return out
}

// describe prints the frames of a pcap capture as tcpdump -nn -xx would,
// roughly: absolute time, addresses, a summary, and the bytes.
func describe(t testing.TB, capture []byte) string {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(capture))
	require.NoError(t, err)
	var sb strings.Builder
	for n := 1; ; n++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		ts := ci.Timestamp
		fmt.Fprintf(&sb, "%d %d.%09d %s\n", n, ts.Unix(), ts.Nanosecond(), summary(data))
		for off := 0; off < len(data); off += 16 {
			fmt.Fprintf(&sb, "\t0x%04x: ", off)
			for i := off; i < min(off+16, len(data)); i += 2 {
				fmt.Fprintf(&sb, " %x", data[i:min(i+2, len(data))])
			}
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

func summary(data []byte) string {
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
	e, ok := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !ok {
		return fmt.Sprintf("not Ethernet, length %d", len(data))
	}
	s := fmt.Sprintf("%v > %v, ", e.SrcMAC, e.DstMAC)
	if a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		sender, target := net.IP(a.SourceProtAddress), net.IP(a.DstProtAddress)
		if a.Operation == layers.ARPRequest {
			return s + fmt.Sprintf("ARP, Request who-has %v tell %v, length %d", target, sender, len(data))
		}
		return s + fmt.Sprintf("ARP, Reply %v is-at %v, length %d", sender, net.HardwareAddr(a.SourceHwAddress), len(data))
	}
	ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !ok {
		return s + fmt.Sprintf("ethertype %v, length %d", e.EthernetType, len(data))
	}
	s += fmt.Sprintf("IP %v", ip.SrcIP)
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		flags := ""
		for _, f := range []struct {
			on bool
			c  string
		}{{l.SYN, "S"}, {l.FIN, "F"}, {l.RST, "R"}, {l.PSH, "P"}, {l.ACK, "."}} {
			if f.on {
				flags += f.c
			}
		}
		s += fmt.Sprintf(".%d > %v.%d: Flags [%s], seq %d", l.SrcPort, ip.DstIP, l.DstPort, flags, l.Seq)
		if l.ACK {
			s += fmt.Sprintf(", ack %d", l.Ack)
		}
		s += fmt.Sprintf(", win %d", l.Window)
		var opts []string
		for _, o := range l.Options {
			switch o.OptionType {
			case layers.TCPOptionKindMSS:
				opts = append(opts, fmt.Sprintf("mss %d", binary.BigEndian.Uint16(o.OptionData)))
			case layers.TCPOptionKindSACKPermitted:
				opts = append(opts, "sackOK")
			case layers.TCPOptionKindTimestamps:
				opts = append(opts, fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(o.OptionData), binary.BigEndian.Uint32(o.OptionData[4:])))
			case layers.TCPOptionKindWindowScale:
				opts = append(opts, fmt.Sprintf("wscale %d", o.OptionData[0]))
			case layers.TCPOptionKindNop:
				opts = append(opts, "nop")
			default:
				opts = append(opts, o.OptionType.String())
			}
		}
		if len(opts) > 0 {
			s += ", options [" + strings.Join(opts, ",") + "]"
		}
		return s + fmt.Sprintf(", length %d", len(l.Payload))
	case *layers.UDP:
		return s + fmt.Sprintf(".%d > %v.%d: UDP, length %d", l.SrcPort, ip.DstIP, l.DstPort, len(l.Payload))
	}
	if ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		s += fmt.Sprintf(" > %v: ICMP %v", ip.DstIP, ic.TypeCode)
		if t := ic.TypeCode.Type(); t == layers.ICMPv4TypeEchoReply || t == layers.ICMPv4TypeEchoRequest {
			s += fmt.Sprintf(", id %d, seq %d", ic.Id, ic.Seq)
		}
		return s + fmt.Sprintf(", length %d", len(ip.Payload))
	}
	return s + fmt.Sprintf(" > %v: proto %v, length %d", ip.DstIP, ip.Protocol, len(ip.Payload))
}

// synAcked reads a replay's output: the ports its SYN-ACKs went to, and
// the VLAN ID of every frame (0 untagged).
func synAcked(t testing.TB, out []byte) (ports map[layers.TCPPort]bool, vlans map[uint16]int) {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(out))
	require.NoError(t, err)
	ports, vlans = map[layers.TCPPort]bool{}, map[uint16]int{}
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return ports, vlans
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		var vid uint16
		if tag, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
			vid = tag.VLANIdentifier
		}
		vlans[vid]++
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.SYN && tcp.ACK {
			ports[tcp.DstPort] = true
		}
	}
}
