package pcapsim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
)

// Neighbor is a host of the capture and the Ethernet address its frames
// come from: a static neighbour for the stack, so that its answers go
// where the captured host's went without ARP.
type Neighbor struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// How an Adoption chose its host.
const (
	// AdoptSYN: the host that received the capture's first TCP SYN (not
	// SYN-ACK).
	AdoptSYN = "syn"
	// AdoptUnicast: no SYN; the destination of the first unicast IP
	// packet.
	AdoptUnicast = "unicast"
	// AdoptARP: no unicast IP packet; the address asked for by the first
	// ARP request.
	AdoptARP = "arp"
	// AdoptNone: nothing to adopt; the stack takes DefaultPrefix.
	AdoptNone = "none"
)

// DefaultPrefix is the stack's address when a capture has no host to
// adopt (RFC 5737 TEST-NET-1).
var DefaultPrefix = netip.MustParsePrefix("192.0.2.1/24")

// Adoption is who the stack becomes to replay a capture in the place of
// the host that received it.
type Adoption struct {
	// Prefix is the host's address with the prefix length a replay gives
	// it: /24 for IPv4, /64 for IPv6 (hosts outside it are reached on
	// link through Neighbors).
	Prefix netip.Prefix
	// Other is, for a host chosen by its SYN (AdoptSYN), its address of
	// the other family, when the capture has it: the receiver of the first
	// SYN of that family, at the same MAC on the same VLAN. A dual-stack
	// host's clients (curl with happy eyeballs, browsers) reach it over
	// both.
	Other netip.Prefix
	// MAC is the host's Ethernet address: the destination of the frame
	// that chose it, or, when the capture records none (raw IP, and
	// cooked captures without outgoing frames), Config.MAC or
	// GeneratedMAC(Config.Seed).
	MAC net.HardwareAddr
	// Neighbors are the capture's other hosts with the MAC their first
	// frame came from, in order of appearance, learned from the source
	// addresses of IP packets and ARP senders.
	Neighbors []Neighbor
	// How says how the host was chosen: AdoptSYN, AdoptUnicast, AdoptARP
	// or AdoptNone.
	How string
	// Record is the capture record (from 1) that chose the host; 0 with
	// AdoptNone.
	Record int
	// Conversations counts the TCP connections the capture opens: SYNs
	// without ACK, retransmissions not counted.
	Conversations int
	// VLAN is the IEEE 802.1Q VLAN of the frame that chose the host (0:
	// untagged, a priority tag, or two tags): a capture on a trunk. The
	// replay puts the stack on it (backend/vlan).
	VLAN int
}

// Adopt scans the capture at path for the host a replay should stand in
// for: the receiver of the first TCP SYN (not SYN-ACK); without a SYN, the
// destination of the first unicast IP packet; without one, the address
// the first ARP request asks for. IPv4 and IPv6 hosts are adopted alike.
// Only the frames a replay with cfg feeds count (cfg.Outgoing); cfg.MAC
// and cfg.Seed give the MAC when the capture records none. A capture with
// nothing to adopt gives DefaultPrefix and AdoptNone, not an error.
func Adopt(path string, cfg Config) (Adoption, error) {
	f, err := os.Open(path)
	if err != nil {
		return Adoption{}, fmt.Errorf("pcapsim: %w", err)
	}
	defer f.Close()
	return adopt(f, cfg)
}

// candidate is a host the scan may adopt.
type candidate struct {
	addr   netip.Addr
	mac    net.HardwareAddr
	record int
	vlan   uint16
}

func adopt(r io.Reader, cfg Config) (Adoption, error) {
	placeholder := cfg.MAC
	if placeholder == nil {
		placeholder = GeneratedMAC(cfg.Seed)
	}
	rd, err := newReader(r, placeholder)
	if err != nil {
		return Adoption{}, err
	}
	var (
		syn, uni, arp candidate
		// synAt is the first SYN of each family (IPv4, IPv6) to each
		// unicast MAC on each VLAN.
		synAt  = map[macVLAN]*[2]candidate{}
		ownMAC net.HardwareAddr // a cooked capture's host, from its outgoing frames
		neigh  []Neighbor
		seen   = map[netip.Addr]bool{}
		syns   = map[synKey]bool{}
	)
	learn := func(a netip.Addr, mac []byte) {
		if !isHostAddr(a) || !isUnicastMAC(mac) || seen[a] {
			return
		}
		seen[a] = true
		neigh = append(neigh, Neighbor{Addr: a, MAC: bytes.Clone(mac)})
	}
	for {
		rec, err := rd.next()
		if err != nil {
			var lt *LinkTypeError
			if errors.As(err, &lt) {
				return Adoption{}, err
			}
			break // the end, or a truncated record: adopt from what came before
		}
		fr := rec.frame
		if rec.dir == dirOutgoing {
			if ownMAC == nil && len(fr) >= ethHeaderLen && isUnicastMAC(fr[6:12]) {
				ownMAC = bytes.Clone(fr[6:12])
			}
			if !cfg.Outgoing {
				continue
			}
		}
		p, ok := parseFrame(fr)
		if !ok {
			continue
		}
		dmac, smac := fr[0:6], fr[6:12]
		if p.arp {
			learn(p.src, smac)
			if p.arpRequest && !arp.addr.IsValid() && isHostAddr(p.dst) && p.dst != p.src {
				arp = candidate{p.dst, nil, rec.num, p.vlan}
			}
			continue
		}
		learn(p.src, smac)
		if !isHostAddr(p.dst) {
			continue
		}
		if p.syn {
			syns[synKey{p.src, p.dst, p.sport, p.dport, p.isn}] = true
		}
		if p.syn && !syn.addr.IsValid() {
			// A SYN names its receiver even in a frame to a group
			// address; then the frame does not tell its MAC.
			var mac net.HardwareAddr
			if isUnicastMAC(dmac) {
				mac = bytes.Clone(dmac)
			}
			syn = candidate{p.dst, mac, rec.num, p.vlan}
		}
		if p.syn && isUnicastMAC(dmac) {
			k := macVLAN{[6]byte(dmac), p.vlan}
			at := synAt[k]
			if at == nil {
				at = new([2]candidate)
				synAt[k] = at
			}
			if fam := familyIndex(p.dst); !at[fam].addr.IsValid() {
				at[fam] = candidate{p.dst, nil, rec.num, p.vlan}
			}
		}
		if !uni.addr.IsValid() && isUnicastMAC(dmac) {
			uni = candidate{p.dst, bytes.Clone(dmac), rec.num, p.vlan}
		}
	}
	a := Adoption{How: AdoptNone, Prefix: DefaultPrefix, MAC: placeholder, Conversations: len(syns)}
	for _, c := range []struct {
		how string
		c   candidate
	}{{AdoptSYN, syn}, {AdoptUnicast, uni}, {AdoptARP, arp}} {
		if c.c.addr.IsValid() {
			a.How, a.Record, a.VLAN = c.how, c.c.record, int(c.c.vlan)
			a.Prefix = hostPrefix(c.c.addr)
			if c.c.mac != nil && !bytes.Equal(c.c.mac, placeholder) {
				a.MAC = c.c.mac
			}
			break
		}
	}
	if a.How == AdoptSYN && syn.mac != nil {
		if o := synAt[macVLAN{[6]byte(syn.mac), syn.vlan}][1-familyIndex(syn.addr)]; o.addr.IsValid() {
			a.Other = hostPrefix(o.addr)
		}
	}
	if bytes.Equal(a.MAC, placeholder) && ownMAC != nil {
		// A cooked capture addresses the frames its host received to
		// the placeholder; its outgoing frames tell the real address.
		a.MAC = ownMAC
	}
	for _, n := range neigh {
		if n.Addr != a.Prefix.Addr() && n.Addr != a.Other.Addr() {
			a.Neighbors = append(a.Neighbors, n)
		}
	}
	return a, nil
}

// Prefixes are the adopted host's addresses: Prefix, and Other when it
// has one.
func (a Adoption) Prefixes() []netip.Prefix {
	if a.Other.IsValid() {
		return []netip.Prefix{a.Prefix, a.Other}
	}
	return []netip.Prefix{a.Prefix}
}

// hostPrefix gives an adopted address the prefix length a replay gives
// it: /24 for IPv4, /64 for IPv6.
func hostPrefix(a netip.Addr) netip.Prefix {
	if a.Is6() {
		return netip.PrefixFrom(a, 64)
	}
	return netip.PrefixFrom(a, 24)
}

// familyIndex is 0 for an IPv4 address, 1 for IPv6.
func familyIndex(a netip.Addr) int {
	if a.Is6() {
		return 1
	}
	return 0
}

// isHostAddr says whether a is the address of one host on a link.
func isHostAddr(a netip.Addr) bool {
	return a.IsValid() && (a.IsGlobalUnicast() || a.IsLinkLocalUnicast()) && !a.IsLoopback()
}

// isUnicastMAC says whether mac is an individual Ethernet address. The
// zero address is one: anonymised captures use it for every host.
func isUnicastMAC(mac []byte) bool {
	return len(mac) == 6 && mac[0]&1 == 0
}

// macVLAN is a host's place on a trunk: its MAC on a VLAN.
type macVLAN struct {
	mac  [6]byte
	vlan uint16
}

// synKey tells a connection's SYN from its retransmissions.
type synKey struct {
	src, dst     netip.Addr
	sport, dport uint16
	isn          uint32
}

// packet is what adoption needs of a frame.
type packet struct {
	src, dst   netip.Addr
	syn        bool // a TCP SYN without ACK, from sport to dport with isn
	sport      uint16
	dport      uint16
	isn        uint32
	arp        bool // an ARP packet: src is the sender, dst the target
	arpRequest bool
	vlan       uint16 // the VLAN ID of the frame's single tag, or 0
}

// parseFrame reads the addresses of an Ethernet frame carrying IPv4, IPv6
// or ARP, through up to two VLAN tags.
func parseFrame(fr []byte) (packet, bool) {
	et, b, vid, ok := untag(fr)
	if !ok {
		return packet{}, false
	}
	p, ok := parseL3(et, b)
	p.vlan = vid
	return p, ok
}

// untag reads an Ethernet header through up to two VLAN tags: the
// EtherType and payload after them, and the VLAN ID of a single tag (0
// without a tag, for a priority tag and for two tags).
func untag(fr []byte) (et uint16, b []byte, vid uint16, ok bool) {
	if len(fr) < ethHeaderLen {
		return 0, nil, 0, false
	}
	et = binary.BigEndian.Uint16(fr[12:])
	b = fr[ethHeaderLen:]
	tags := 0
	for ; tags < 2 && (et == etherTypeVLAN || et == etherTypeQinQ) && len(b) >= 4; tags++ {
		vid = binary.BigEndian.Uint16(b[0:]) & 0x0fff
		et = binary.BigEndian.Uint16(b[2:])
		b = b[4:]
	}
	if tags != 1 {
		vid = 0
	}
	return et, b, vid, true
}

// parseL3 reads the addresses of an IPv4, IPv6 or ARP packet.
func parseL3(et uint16, b []byte) (packet, bool) {
	switch et {
	case etherTypeARP:
		// RFC 826 for IPv4 over Ethernet.
		if len(b) < 28 || binary.BigEndian.Uint16(b[0:]) != 1 || binary.BigEndian.Uint16(b[2:]) != etherTypeIPv4 || b[4] != 6 || b[5] != 4 {
			return packet{}, false
		}
		return packet{
			arp:        true,
			arpRequest: binary.BigEndian.Uint16(b[6:]) == 1,
			src:        netip.AddrFrom4([4]byte(b[14:18])),
			dst:        netip.AddrFrom4([4]byte(b[24:28])),
		}, true
	case etherTypeIPv4:
		if len(b) < 20 || b[0]>>4 != 4 {
			return packet{}, false
		}
		ihl := int(b[0]&0xf) * 4
		p := packet{src: netip.AddrFrom4([4]byte(b[12:16])), dst: netip.AddrFrom4([4]byte(b[16:20]))}
		firstFragment := binary.BigEndian.Uint16(b[6:])&0x1fff == 0
		if b[9] == 6 && firstFragment && ihl >= 20 && len(b) >= ihl {
			p.readSYN(b[ihl:])
		}
		return p, true
	case etherTypeIPv6:
		if len(b) < 40 || b[0]>>4 != 6 {
			return packet{}, false
		}
		p := packet{src: netip.AddrFrom16([16]byte(b[8:24])), dst: netip.AddrFrom16([16]byte(b[24:40]))}
		next, l4 := b[6], b[40:]
		// RFC 8200 §4: skip the extension headers before TCP.
		for range 8 {
			var n int
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(l4) < 8 {
					return p, true
				}
				n = (int(l4[1]) + 1) * 8
			case 44: // fragment: only the first carries the TCP header
				if len(l4) < 8 || binary.BigEndian.Uint16(l4[2:])&0xfff8 != 0 {
					return p, true
				}
				n = 8
			case 51: // authentication header (RFC 4302)
				if len(l4) < 8 {
					return p, true
				}
				n = (int(l4[1]) + 2) * 4
			default:
				if next == 6 {
					p.readSYN(l4)
				}
				return p, true
			}
			if len(l4) < n {
				return p, true
			}
			next, l4 = l4[0], l4[n:]
		}
		return p, true
	}
	return packet{}, false
}

// readSYN notes a TCP header that opens a connection: SYN set, ACK
// clear.
func (p *packet) readSYN(tcp []byte) {
	if len(tcp) >= 14 && tcp[13]&0x02 != 0 && tcp[13]&0x10 == 0 {
		p.syn = true
		p.sport, p.dport = binary.BigEndian.Uint16(tcp[0:]), binary.BigEndian.Uint16(tcp[2:])
		p.isn = binary.BigEndian.Uint32(tcp[4:])
	}
}
