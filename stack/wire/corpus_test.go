package wire

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// corpusDir finds the capture corpus: $USTACK_CORPUS, or ../shared/corpus
// beside the repository (DESIGN.md, testing layer 4).
func corpusDir() (string, bool) {
	for _, d := range []string{os.Getenv("USTACK_CORPUS"), filepath.Join("..", "..", "..", "shared", "corpus")} {
		if d == "" {
			continue
		}
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, true
		}
	}
	return "", false
}

// corpusFrame is one record of a capture file.
type corpusFrame struct {
	where string // file:record, for messages
	link  layers.LinkType
	data  []byte
}

// packetReader is what pcapgo's pcap and pcapng readers have in common.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// walkCorpus calls fn for every record of every pcap and pcapng file in the
// corpus, and skips tb when there is no corpus.
func walkCorpus(tb testing.TB, fn func(f corpusFrame)) {
	tb.Helper()
	dir, ok := corpusDir()
	if !ok {
		tb.Skip("no capture corpus: set USTACK_CORPUS or provide ../shared/corpus")
	}
	if err := readCorpus(dir, 0, fn, tb.Logf); err != nil {
		tb.Fatal(err)
	}
}

// readCorpus calls fn for every record (or the first perFile, when it is
// not 0) of every capture file under dir. A file that cannot be opened as a
// capture, or a damaged record, ends that file with a line to logf: the
// corpus has such files on purpose.
func readCorpus(dir string, perFile int, fn func(f corpusFrame), logf func(string, ...any)) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := filepath.Ext(path)
		if ext != ".pcap" && ext != ".pcapng" && ext != ".cap" {
			return nil
		}
		file, err := os.Open(path)
		if err != nil {
			return err
		}
		defer file.Close()
		in := bufio.NewReader(file)
		rel, _ := filepath.Rel(dir, path)
		var r packetReader
		if magic, _ := in.Peek(4); bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
			r, err = pcapgo.NewNgReader(in, pcapgo.DefaultNgReaderOptions)
		} else {
			r, err = pcapgo.NewReader(in)
		}
		if err != nil {
			logf("%s: not readable as a capture: %v", rel, err)
			return nil
		}
		for i := 0; perFile == 0 || i < perFile; i++ {
			data, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				logf("%s: record %d: %v; rest of file skipped", rel, i, err)
				break
			}
			fn(corpusFrame{where: rel + ":" + itoa(i), link: r.LinkType(), data: data})
		}
		return nil
	})
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

// corpusSeeds returns, for fuzz seeds, up to max byte strings per layer
// ("ethernet", "arp", "ipv4", "ipv6", "tcp", "udp", "icmpv4", "icmpv6"),
// cut from the corpus frames by this package's own views; nothing when there
// is no corpus. The first frames of each file come first, so that every file
// contributes.
func corpusSeeds(max int) map[string][][]byte {
	out := map[string][][]byte{}
	dir, ok := corpusDir()
	if !ok {
		return out
	}
	add := func(kind string, b []byte) {
		if len(out[kind]) < max {
			out[kind] = append(out[kind], b)
		}
	}
	var frames []corpusFrame
	_ = readCorpus(dir, 4, func(f corpusFrame) { frames = append(frames, f) }, func(string, ...any) {})
	for round := 0; round < 4; round++ {
		for _, f := range frames {
			if !strings.HasSuffix(f.where, ":"+itoa(round)) {
				continue
			}
			net, etype := f.data, EtherType(0)
			switch f.link {
			case layers.LinkTypeEthernet:
				add("ethernet", f.data)
				l2, err := Ethernet(f.data).L2()
				if err != nil {
					continue
				}
				net, etype = f.data[l2.HeaderLen:], l2.EtherType
			case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
				if len(net) > 0 && net[0]>>4 == 6 {
					etype = EtherTypeIPv6
				} else {
					etype = EtherTypeIPv4
				}
			}
			var l4 []byte
			var proto uint8
			switch etype {
			case EtherTypeARP:
				add("arp", net)
			case EtherTypeIPv4:
				add("ipv4", net)
				if ip := IPv4(net); ip.Check() == nil {
					l4, proto = ip.Payload(), ip.Protocol()
				}
			case EtherTypeIPv6:
				add("ipv6", net)
				if c, err := WalkIPv6(IPv6(net)); err == nil {
					l4, proto = IPv6(net).Payload()[c.Offset-IPv6HeaderLen:], c.Proto
				}
			}
			switch proto {
			case IPProtoTCP:
				add("tcp", l4)
			case IPProtoUDP:
				add("udp", l4)
			case IPProtoICMP:
				add("icmpv4", l4)
			case IPProtoICMPv6:
				add("icmpv6", l4)
			}
		}
	}
	return out
}
