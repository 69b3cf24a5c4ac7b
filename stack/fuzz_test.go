package stack

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// FuzzStackInput feeds arbitrary frames to a stack that has a listener, an
// established connection, a UDP socket and a neighbour: the whole input
// path. No input may panic, hang or leak a buffer. Seeds: hand-made frames
// and, when present, the first frames of the shared capture corpus.
func FuzzStackInput(f *testing.F) {
	for _, seed := range append(fuzzSeeds(), fuzzSeeds6()...) {
		f.Add(seed)
	}
	if dir := findCorpus(); dir != "" {
		for _, path := range corpusFilesIn(dir) {
			frames, _, err := readCapture(path)
			if err != nil {
				continue
			}
			for i, fr := range frames {
				if i >= 8 {
					break
				}
				f.Add(fr)
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 70000 {
			return
		}
		for _, mbuf := range []bool{false, true} {
			h := newTCPHarness(t, mbuf, Config{})
			p, c := openPassive(t, h)
			pc, err := h.s.ListenPacket("udp", ":53")
			if err != nil {
				t.Fatal(err)
			}
			// Retarget the frame at our MAC so it gets past Ethernet.
			b := append([]byte(nil), frame...)
			if len(b) >= 6 && len(b)%3 != 0 {
				copy(b, ourMAC)
			}
			h.inRaw(b)
			h.at(1)
			p.send("A", []byte("still alive"))
			buf := make([]byte, 64)
			c.Read(buf)
			c.Close()
			pc.Close()
			h.at(0)
		}
	})
}

// fuzzSeeds are frames aimed at each protocol the stack speaks.
func fuzzSeeds() [][]byte {
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		for _, l := range ls {
			switch tl := l.(type) {
			case *layers.UDP:
				tl.SetNetworkLayerForChecksum(ls[1].(*layers.IPv4))
			case *layers.TCP:
				tl.SetNetworkLayerForChecksum(ls[1].(*layers.IPv4))
			}
		}
		buf := gopacket.NewSerializeBuffer()
		gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...)
		return append([]byte(nil), buf.Bytes()...)
	}
	frag := ip4(peerIP, ourIP, layers.IPProtocolICMPv4)
	frag.Flags = layers.IPv4MoreFragments
	return [][]byte{
		ser(eth(peerMAC, bcastMAC, layers.EthernetTypeARP), arpPkt(layers.ARPRequest, peerMAC, peerIP, net0, ourIP)),
		ser(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolICMPv4), echoReq(1, 1), gopacket.Payload("ping")),
		ser(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), frag, gopacket.Payload("01234567")),
		ser(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolUDP), &layers.UDP{SrcPort: 9, DstPort: 53}, gopacket.Payload("q")),
		ser(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolTCP), &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: peerISN + 1, ACK: true, Window: 100}, gopacket.Payload("data")),
		ser(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(peerIP, ourIP, layers.IPProtocolTCP), &layers.TCP{SrcPort: 40001, DstPort: 80, Seq: 5, SYN: true, Window: 100, Options: []layers.TCPOption{mssOpt(1)}}),
	}
}

var net0 = []byte{0, 0, 0, 0, 0, 0}
