package pcapsim

import (
	"errors"
	"io"
	"maps"
	"net/netip"
	"slices"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ustack/ustack/stack/wire"
)

// maxStream bounds the bytes a conversation keeps of each direction:
// beyond it, a recording is compared on its first maxStream bytes.
const maxStream = 64 << 20

// conversation is one TCP connection of a capture, from its SYN.
type conversation struct {
	client, server netip.AddrPort
	clientISN      uint32
	record         int    // of the SYN
	cs, ss         stream // the client's and the server's bytes
	// chunks are the client's data segments in capture order, each with
	// how much of the server's stream the capture had shown when the
	// client sent it: the player waits for as much before sending.
	chunks []chunk
	// clientFin: the client closed, after finMark server bytes.
	clientFin bool
	finMark   int
	// noSYN: the capture does not have the conversation's start.
	noSYN bool
	// synAck is the server's SYN-ACK of a conversation whose first
	// record it is: a capture may have it before the SYN it answers
	// (timestamped on another interface, or reordered by the tap).
	synAck struct {
		seq, ack uint32
		ok       bool
	}
	// flags are the server's answers in order, "SYN-ACK", "data", "FIN",
	// "RST" (runs of data once), and "client-FIN" where the client closed.
	flags []string
}

type chunk struct{ off, n, mark int }

// stream reassembles one direction by relative sequence number:
// retransmissions are ignored, segments beyond a gap wait for it.
type stream struct {
	isn     uint32
	started bool
	data    []byte
	pending map[int][]byte
}

// add puts p at relative offset off and returns the bytes it added to the
// contiguous stream (-1 for a segment beyond a gap, held).
func (s *stream) add(off int, p []byte) int {
	if off > len(s.data) {
		if s.pending == nil {
			s.pending = map[int][]byte{}
		}
		if len(s.pending) < 1024 {
			s.pending[off] = append([]byte(nil), p...)
		}
		return -1
	}
	before := len(s.data)
	if end := off + len(p); end > len(s.data) && end <= maxStream {
		s.data = append(s.data, p[len(s.data)-off:]...)
	}
	// Held segments in offset order: overlapping ones with other bytes
	// then reassemble the same way every time.
	for len(s.pending) > 0 {
		offs := slices.Sorted(maps.Keys(s.pending))
		o := offs[0]
		if o > len(s.data) {
			break
		}
		q := s.pending[o]
		delete(s.pending, o)
		if end := o + len(q); end > len(s.data) && end <= maxStream {
			s.data = append(s.data, q[len(s.data)-o:]...)
		}
	}
	return len(s.data) - before
}

// offset is a sequence number's offset in the stream: past the SYN.
func (s *stream) offset(seq uint32) int { return int(int32(seq - s.isn - 1)) }

type connKey struct{ a, b netip.AddrPort }

// readConversations reads the TCP conversations of a capture that begin
// with a SYN, in the order of their SYNs.
func readConversations(r io.Reader, cfg Config) ([]*conversation, error) {
	mac := cfg.MAC
	if mac == nil {
		mac = GeneratedMAC(cfg.Seed)
	}
	rd, err := newReader(r, mac)
	if err != nil {
		return nil, err
	}
	var (
		out     []*conversation
		byKey   = map[connKey]*conversation{}
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		payload gopacket.Payload
		decoded []gopacket.LayerType
		v6      []byte // an IPv6 packet with extension headers
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &payload)
	parser.IgnoreUnsupported = true
	for {
		rec, err := rd.next()
		if err != nil {
			var lt *LinkTypeError
			if errors.As(err, &lt) {
				return nil, err
			}
			break // the end, or a truncated last record: what came before
		}
		if rec.dir == dirOutgoing && !cfg.Outgoing {
			continue
		}
		tcp.Payload = nil
		// An error past TCP (a payload it cannot decode) still leaves
		// the segment.
		_ = parser.DecodeLayers(rec.frame, &decoded)
		if !slices.Contains(decoded, layers.LayerTypeTCP) {
			if !slices.Contains(decoded, layers.LayerTypeIPv6) {
				continue
			}
			// Behind IPv6 extension headers, which the parser does not
			// walk: an atomic fragment (RFC 6946) is a segment too, but
			// a fragment or a packet routed on to another address is
			// not one for its destination.
			v6 = append(append(v6[:0], ip6.Contents...), ip6.Payload...)
			ch, err := wire.WalkIPv6(v6)
			if err != nil || ch.Proto != wire.IPProtoTCP || ch.HasFragment && (ch.Fragment.Offset != 0 || ch.Fragment.More) ||
				ch.HasRouting && ch.SegmentsLeft > 0 || tcp.DecodeFromBytes(v6[ch.Offset:], gopacket.NilDecodeFeedback) != nil {
				continue
			}
		}
		var src, dst netip.Addr
		switch {
		case slices.Contains(decoded, layers.LayerTypeIPv4):
			if ip4.Flags&layers.IPv4MoreFragments != 0 || ip4.FragOffset != 0 {
				continue
			}
			src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
		case slices.Contains(decoded, layers.LayerTypeIPv6):
			src, _ = netip.AddrFromSlice(ip6.SrcIP)
			dst, _ = netip.AddrFromSlice(ip6.DstIP)
		default:
			continue
		}
		from := netip.AddrPortFrom(src, uint16(tcp.SrcPort))
		to := netip.AddrPortFrom(dst, uint16(tcp.DstPort))
		if tcp.SYN && !tcp.ACK {
			c := byKey[connKey{from, to}]
			if c != nil && !c.noSYN && c.clientISN == tcp.Seq {
				continue // a retransmitted SYN
			}
			if c != nil && c.noSYN && c.synAck.ok && c.synAck.ack == tcp.Seq+1 && c.client == from {
				// The SYN of the SYN-ACK that came before it.
				c.noSYN, c.record = false, rec.num
				c.ss = stream{isn: c.synAck.seq, started: true}
				c.flag("SYN-ACK")
			} else {
				c = &conversation{client: from, server: to, record: rec.num}
				out = append(out, c)
			}
			c.clientISN = tcp.Seq
			c.cs = stream{isn: tcp.Seq, started: true}
			byKey[connKey{from, to}] = c
			delete(byKey, connKey{to, from})
			if len(tcp.Payload) > 0 {
				c.addClient(0, tcp.Payload)
			}
			continue
		}
		c := byKey[connKey{from, to}]
		fromClient := c != nil
		if c == nil {
			c = byKey[connKey{to, from}]
		}
		switch {
		case c == nil && !tcp.RST:
			// Begun before the capture: listed, not played, unless the
			// SYN of a SYN-ACK follows. The lower port is taken for the
			// server's, but for a SYN-ACK's sender.
			if tcp.SYN || from.Port() < to.Port() {
				from, to = to, from
			}
			c = &conversation{client: from, server: to, record: rec.num, noSYN: true}
			if tcp.SYN {
				c.synAck.seq, c.synAck.ack, c.synAck.ok = tcp.Seq, tcp.Ack, true
			}
			byKey[connKey{from, to}] = c
			byKey[connKey{to, from}] = c
			out = append(out, c)
		case c == nil || c.noSYN:
		case fromClient:
			c.fromClient(&tcp)
		default:
			c.fromServer(&tcp)
		}
	}
	return out, nil
}

func (c *conversation) addClient(off int, p []byte) {
	before := len(c.cs.data)
	if c.cs.add(off, p) > 0 {
		c.chunks = append(c.chunks, chunk{off: before, n: len(c.cs.data) - before, mark: len(c.ss.data)})
	}
}

func (c *conversation) fromClient(tcp *layers.TCP) {
	if tcp.RST {
		return
	}
	off := c.cs.offset(tcp.Seq)
	if off < 0 {
		return
	}
	if len(tcp.Payload) > 0 {
		c.addClient(off, tcp.Payload)
	}
	if tcp.FIN && !c.clientFin {
		c.clientFin, c.finMark = true, len(c.ss.data)
		c.flag("client-FIN")
	}
}

func (c *conversation) fromServer(tcp *layers.TCP) {
	if tcp.SYN {
		if !c.ss.started {
			c.ss = stream{isn: tcp.Seq, started: true}
			c.flag("SYN-ACK")
		}
		return
	}
	if tcp.RST {
		c.flag("RST")
		return
	}
	if !c.ss.started {
		return
	}
	off := c.ss.offset(tcp.Seq)
	if off >= 0 && len(tcp.Payload) > 0 && c.ss.add(off, tcp.Payload) > 0 {
		c.flag("data")
	}
	if tcp.FIN && !slices.Contains(c.flags, "FIN") {
		c.flag("FIN")
	}
}

// flag appends a server answer, runs of data once.
func (c *conversation) flag(f string) {
	if n := len(c.flags); f == "data" && n > 0 && c.flags[n-1] == "data" {
		return
	}
	c.flags = append(c.flags, f)
}
