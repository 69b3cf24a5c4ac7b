package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
)

// TestDifferentialGopacket parses every frame of the capture corpus with
// gopacket's layers and with these views, layer by layer on the same bytes,
// and asserts that what both expose agrees: validity, and every field when
// both accept. Where they disagree on validity for a reason that has been
// looked into, the reason is counted (and logged) instead of failing; each
// is documented where it is recognised, with who is right.
func TestDifferentialGopacket(t *testing.T) {
	d := &differ{t: t, count: map[string]int{}, explained: map[string]int{}}
	walkCorpus(t, func(f corpusFrame) {
		d.where = f.where
		switch f.link {
		case layers.LinkTypeEthernet:
			d.count["frames"]++
			d.ethernet(f.data)
		case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
			d.count["frames"]++
			if len(f.data) > 0 && f.data[0]>>4 == 6 {
				d.ipv6(f.data, 0)
			} else {
				d.ipv4(f.data, 0)
			}
		default:
			d.count["skipped: link type "+f.link.String()]++
		}
	})
	t.Logf("frames compared with gopacket: %d", d.count["frames"])
	t.Logf("layers compared: %s", summary(d.count))
	if len(d.explained) > 0 {
		t.Logf("documented disagreements: %s", summary(d.explained))
	}
	assert.Positive(t, d.count["frames"])
}

func summary(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "\n\t%s: %d", k, m[k])
	}
	return sb.String()
}

type differ struct {
	t         *testing.T
	where     string
	count     map[string]int
	explained map[string]int
}

// agree compares validity and reports whether both accepted.
func (d *differ) agree(layer string, ours, theirs error) bool {
	d.count[layer]++
	switch {
	case ours == nil && theirs == nil:
		return true
	case ours != nil && theirs != nil:
		d.count[layer+" (both refuse)"]++
	default:
		d.t.Errorf("%s: %s: ustack says %v; gopacket says %v", d.where, layer, ours, theirs)
	}
	return false
}

// explain counts a disagreement whose reason is known and documented.
func (d *differ) explain(reason string) { d.explained[reason]++ }

func (d *differ) eq(want, got any, what string) {
	d.t.Helper()
	assert.Equal(d.t, want, got, "%s: %s", d.where, what)
}

func (d *differ) ethernet(b []byte) {
	e := Ethernet(b)
	var g layers.Ethernet
	if !d.agree("ethernet", e.Check(), gp(func() error { return g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) })) {
		return
	}
	d.eq(MAC(g.DstMAC), e.Dst(), "ethernet dst")
	d.eq(MAC(g.SrcMAC), e.Src(), "ethernet src")
	if e.EtherType() < 0x0600 {
		// An IEEE 802.3 length: gopacket turns it into "LLC"; it is no
		// EtherType and ustack drops it.
		d.count["ethernet 802.3 (not compared further)"]++
		return
	}
	d.eq(g.EthernetType, layers.EthernetType(e.EtherType()), "ethernet type")

	l2, err := e.L2()
	rest, typ := b[EthernetHeaderLen:], e.EtherType()
	for i := 0; isVLANTPID(typ); i++ {
		var q layers.Dot1Q
		qerr := gp(func() error { return q.DecodeFromBytes(rest, gopacket.NilDecodeFeedback) })
		if i == MaxVLANTags {
			// gopacket stacks any number of tags; ustack refuses a third.
			assert.ErrorIs(d.t, err, ErrUnsupported, d.where)
			d.explain("vlan: more than two tags (gopacket decodes them)")
			return
		}
		if !d.agree("vlan tag", errOrNil(err, ErrTruncated, len(rest) < VLANTagLen), qerr) {
			return
		}
		tag := l2.Tags[i]
		d.eq(q.VLANIdentifier, tag.ID(), "vlan id")
		d.eq(q.Priority, tag.Priority(), "vlan priority")
		d.eq(q.DropEligible, tag.DropEligible(), "vlan dei")
		typ, rest = EtherType(q.Type), rest[VLANTagLen:]
	}
	if err != nil {
		d.t.Errorf("%s: l2: %v", d.where, err)
		return
	}
	d.eq(typ, l2.EtherType, "inner ethertype")
	d.eq(len(b)-len(rest), l2.HeaderLen, "l2 header length")
	switch l2.EtherType {
	case EtherTypeIPv4:
		d.ipv4(rest, 0)
	case EtherTypeIPv6:
		d.ipv6(rest, 0)
	case EtherTypeARP:
		d.arp(rest)
	}
}

// errOrNil returns err when cond holds (the error belongs to this step).
func errOrNil(err, kind error, cond bool) error {
	if cond && errors.Is(err, kind) {
		return err
	}
	return nil
}

func (d *differ) arp(b []byte) {
	a := ARP(b)
	err := a.Check()
	var g layers.ARP
	gerr := gp(func() error { return g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) })
	if errors.Is(gerr, errGopacketPanic) {
		// gopacket v1.1.19 computes the ARP length in uint8 arithmetic:
		// large address lengths wrap it and slicing panics (arp.go:57).
		// ustack refuses such packets (ErrUnsupported) without panicking.
		assert.Error(d.t, err, d.where)
		d.explain("arp: gopacket panics on large address lengths")
		return
	}
	if errors.Is(err, ErrUnsupported) && gerr == nil {
		// gopacket decodes ARP for any hardware and protocol; ustack takes
		// Ethernet/IPv4 only, the one pairing RFC 826 defines that it uses.
		assert.False(d.t, g.AddrType == layers.LinkTypeEthernet && g.Protocol == layers.EthernetTypeIPv4 &&
			g.HwAddressSize == 6 && g.ProtAddressSize == 4, d.where)
		d.explain("arp: not ethernet/ipv4 (gopacket decodes any)")
		return
	}
	if !d.agree("arp", err, gerr) {
		return
	}
	d.eq(g.Operation, a.Op(), "arp op")
	d.eq(MAC(g.SourceHwAddress), a.SenderMAC(), "arp sender mac")
	d.eq(MAC(g.DstHwAddress), a.TargetMAC(), "arp target mac")
	d.eq(addrOf(g.SourceProtAddress), a.SenderAddr(), "arp sender ip")
	d.eq(addrOf(g.DstProtAddress), a.TargetAddr(), "arp target ip")
}

// errGopacketPanic marks a gopacket decoder that panicked on its input.
var errGopacketPanic = errors.New("gopacket panicked")

// gp runs a gopacket decoder and turns a panic into an error.
func gp(decode func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errGopacketPanic, r)
		}
	}()
	return decode()
}

func addrOf(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (d *differ) ipv4(b []byte, depth int) {
	ip := IPv4(b)
	err := ip.Check()
	var g layers.IPv4
	gerr := gp(func() error { return g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) })
	if err != nil && gerr == nil {
		switch {
		case errors.Is(err, ErrBadVersion):
			// gopacket's IPv4 decoder trusts the EtherType and never looks
			// at the version; RFC 1122 §3.2.1.1 says to discard.
			d.explain("ipv4: version is not 4 (gopacket does not check)")
			return
		case errors.Is(err, ErrBadLength) && be16(b[2:4]) == 0:
			// gopacket reads a zero total length as "TSO: use the frame
			// length" (a capture artefact of some Windows drivers); on a
			// wire it is invalid (RFC 791 §3.1), and ustack refuses it.
			d.explain("ipv4: total length 0 (gopacket guesses TSO)")
			return
		case errors.Is(err, ErrTruncated) && int(g.Length) > len(b):
			// gopacket flags truncation and decodes what there is; a stack
			// must not take a datagram shorter than its total length.
			d.explain("ipv4: total length past the frame (gopacket decodes truncated)")
			return
		}
	}
	if err == nil && gerr != nil && strings.Contains(gerr.Error(), "option") {
		// gopacket parses IPv4 options strictly and fails the datagram on
		// a malformed one; ustack skips options, which RFC 1122 §3.2.1.8
		// lets a host do (and which the stack's ICMP parameter problem
		// logic, not the wire view, would judge).
		d.explain("ipv4: malformed options (gopacket fails the datagram)")
		return
	}
	if !d.agree("ipv4", err, gerr) {
		return
	}
	d.eq(g.Version, ip.Version(), "ipv4 version")
	d.eq(int(g.IHL)*4, ip.HeaderLen(), "ipv4 header length")
	d.eq(g.TOS, ip.TOS(), "ipv4 tos")
	d.eq(g.Length, ip.TotalLen(), "ipv4 total length")
	d.eq(g.Id, ip.ID(), "ipv4 id")
	d.eq(g.Flags&layers.IPv4DontFragment != 0, ip.DontFragment(), "ipv4 df")
	d.eq(g.Flags&layers.IPv4MoreFragments != 0, ip.MoreFragments(), "ipv4 mf")
	d.eq(int(g.FragOffset)*8, ip.FragmentOffset(), "ipv4 fragment offset")
	d.eq(g.TTL, ip.TTL(), "ipv4 ttl")
	d.eq(uint8(g.Protocol), ip.Protocol(), "ipv4 protocol")
	d.eq(g.Checksum, ip.Checksum(), "ipv4 checksum")
	d.eq(addrOf(g.SrcIP), ip.SrcAddr(), "ipv4 src")
	d.eq(addrOf(g.DstIP), ip.DstAddr(), "ipv4 dst")
	d.eq(g.Payload, ip.Payload(), "ipv4 payload")
	d.eq(naiveChecksum(g.Contents) == 0, ip.VerifyChecksum(), "ipv4 checksum validity")
	if !ip.VerifyChecksum() {
		d.count["ipv4 bad header checksum"]++
	}
	if ip.IsFragment() {
		d.count["ipv4 fragment (transport not compared)"]++
		return
	}
	d.transport(ip.Protocol(), ip.Payload(), ip.SrcAddr(), ip.DstAddr(), depth)
}

func (d *differ) ipv6(b []byte, depth int) {
	ip := IPv6(b)
	err := ip.Check()
	var g layers.IPv6
	gerr := gp(func() error { return g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) })
	switch {
	case errors.Is(err, ErrBadVersion) && gerr == nil:
		// As for IPv4: gopacket never checks the version (RFC 8200 §3).
		d.explain("ipv6: version is not 6 (gopacket does not check)")
		return
	case errors.Is(err, ErrTruncated) && gerr == nil && len(b) >= IPv6HeaderLen && int(g.Length)+IPv6HeaderLen > len(b):
		d.explain("ipv6: payload length past the frame (gopacket decodes truncated)")
		return
	case err == nil && gerr != nil && be16(b[4:6]) == 0:
		// gopacket refuses a zero payload length unless a jumbo option
		// explains it; RFC 8200 §3 allows an empty payload (next header
		// 59, say). ustack reads it as empty (jumbograms unsupported).
		d.explain("ipv6: payload length 0 (gopacket expects a jumbogram)")
		return
	case err == nil && gerr != nil && b[6] == IPProtoHopByHop:
		// gopacket decodes hop-by-hop options with the fixed header and
		// fails the packet on a malformed option; the view checks the fixed
		// header only, and WalkIPv6 judges the extension header.
		d.explain("ipv6: malformed hop-by-hop (gopacket fails the fixed header)")
		return
	}
	if !d.agree("ipv6", err, gerr) {
		return
	}
	d.eq(g.Version, ip.Version(), "ipv6 version")
	d.eq(g.TrafficClass, ip.TrafficClass(), "ipv6 traffic class")
	d.eq(g.FlowLabel, ip.FlowLabel(), "ipv6 flow label")
	d.eq(g.Length, ip.PayloadLen(), "ipv6 payload length")
	d.eq(uint8(g.NextHeader), ip.NextHeader(), "ipv6 next header")
	d.eq(g.HopLimit, ip.HopLimit(), "ipv6 hop limit")
	d.eq(addrOf(g.SrcIP), ip.SrcAddr(), "ipv6 src")
	d.eq(addrOf(g.DstIP), ip.DstAddr(), "ipv6 dst")
	d.ipv6Chain(ip, depth)
}

// ipv6Chain compares WalkIPv6 with the chain of layers gopacket decodes.
func (d *differ) ipv6Chain(ip IPv6, depth int) {
	c, err := WalkIPv6(ip)
	d.count["ipv6 walk"]++
	pkt := gopacket.NewPacket(ip, layers.LayerTypeIPv6, gopacket.DecodeOptions{NoCopy: true})
	var gtypes []uint8
	var upper gopacket.Layer
	gfailed := pkt.ErrorLayer() != nil
	for _, l := range pkt.Layers()[1:] {
		switch l.LayerType() {
		case layers.LayerTypeIPv6HopByHop:
			gtypes = append(gtypes, IPProtoHopByHop)
		case layers.LayerTypeIPv6Destination:
			gtypes = append(gtypes, IPProtoDestOpts)
		case layers.LayerTypeIPv6Routing:
			gtypes = append(gtypes, IPProtoRouting)
		case layers.LayerTypeIPv6Fragment:
			gtypes = append(gtypes, IPProtoFragment)
		default:
			if upper == nil {
				upper = l
			}
		}
		if upper != nil {
			break
		}
	}
	var ours []uint8
	for _, e := range c.Ext[:c.NumExt] {
		ours = append(ours, e.Type)
	}
	if err != nil && ip.PayloadLen() == 0 && ip.NextHeader() == IPProtoHopByHop {
		// A jumbogram (RFC 2675): gopacket reads the Jumbo Payload option;
		// ustack supports none, so the payload is empty and the hop-by-hop
		// header does not fit in it.
		d.explain("ipv6: jumbogram (unsupported by ustack)")
		return
	}
	if err != nil {
		// gopacket must have failed too, or stopped at a fragment, at a
		// routing type it does not know, or at a hop-by-hop header out of
		// place (it decodes one anywhere; RFC 8200 §4.3 says not to).
		if !gfailed && !c.HasFragment {
			d.t.Errorf("%s: ipv6 walk: ustack says %v; gopacket decoded %v", d.where, err, pkt.Layers())
		}
		d.count["ipv6 walk (both refuse)"]++
		return
	}
	// gopacket stops after any Fragment header (it hands the rest to
	// reassembly even for atomic fragments, RFC 6946) and fails on routing
	// types other than 0; up to there the chains must agree.
	n := len(gtypes)
	if n > len(ours) {
		if c.Proto == IPProtoHopByHop && gtypes[len(ours)] == IPProtoHopByHop {
			// RFC 8200 §4.3: hop-by-hop only first. ustack stops there
			// (Parameter Problem); gopacket decodes it.
			d.explain("ipv6: hop-by-hop not first (gopacket decodes it)")
			return
		}
		d.t.Errorf("%s: ipv6 chain: ustack %v (then %d), gopacket %v", d.where, ours, c.Proto, gtypes)
		return
	}
	d.eq(gtypes, ours[:n], "ipv6 extension headers")
	if len(ours) > n {
		d.explain("ipv6: walked past a fragment or routing header (gopacket stops)")
	}
	if c.HasFragment && c.Fragment.Offset == 0 && !c.Fragment.More {
		d.count["ipv6 atomic fragment"]++
	}
	if upper != nil && len(ours) == n && !gfailed {
		if p, ok := protoOf(upper.LayerType()); ok {
			d.eq(p, c.Proto, "ipv6 upper-layer protocol")
			d.eq(cap(ip)-cap(upper.LayerContents()), c.Offset, "ipv6 upper-layer offset")
		}
	}
	if c.HasFragment && (c.Fragment.Offset != 0 || c.Fragment.More) {
		d.count["ipv6 fragment (transport not compared)"]++
		return
	}
	end := IPv6HeaderLen + int(ip.PayloadLen())
	d.transport(c.Proto, ip[c.Offset:end], ip.SrcAddr(), ip.DstAddr(), depth)
}

func protoOf(lt gopacket.LayerType) (uint8, bool) {
	switch lt {
	case layers.LayerTypeTCP:
		return IPProtoTCP, true
	case layers.LayerTypeUDP:
		return IPProtoUDP, true
	case layers.LayerTypeICMPv6:
		return IPProtoICMPv6, true
	case layers.LayerTypeIPv4:
		return IPProtoIPv4, true
	case layers.LayerTypeIPv6:
		return IPProtoIPv6, true
	}
	return 0, false
}

func (d *differ) transport(proto uint8, b []byte, src, dst netip.Addr, depth int) {
	switch proto {
	case IPProtoTCP:
		d.tcp(b, src, dst)
	case IPProtoUDP:
		d.udp(b, src, dst)
	case IPProtoICMP:
		if src.Is4() {
			d.icmpv4(b)
		}
	case IPProtoICMPv6:
		if src.Is6() {
			d.icmpv6(b, src, dst)
		}
	case IPProtoIPv4:
		if depth < 2 {
			d.ipv4(b, depth+1)
		}
	case IPProtoIPv6:
		if depth < 2 {
			d.ipv6(b, depth+1)
		}
	}
}

// naiveTransportOK recomputes a transport checksum the long way: the
// pseudo-header spelled out as bytes, then RFC 1071 word by word.
func naiveTransportOK(src, dst netip.Addr, proto uint8, l4 []byte) bool {
	var ph []byte
	if src.Is4() {
		ph = append(append(ph, src.AsSlice()...), dst.AsSlice()...)
		ph = append(ph, 0, proto, byte(len(l4)>>8), byte(len(l4)))
	} else {
		ph = append(append(ph, src.AsSlice()...), dst.AsSlice()...)
		ph = binary.BigEndian.AppendUint32(ph, uint32(len(l4)))
		ph = append(ph, 0, 0, 0, proto)
	}
	return naiveChecksum(append(ph, l4...)) == 0
}

func (d *differ) tcp(b []byte, src, dst netip.Addr) {
	s := TCP(b)
	var o TCPOptions
	err := s.Check()
	if err == nil {
		err = o.Parse(s.Options())
	}
	var g layers.TCP
	if !d.agree("tcp", err, gp(func() error { return g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) })) {
		return
	}
	d.eq(uint16(g.SrcPort), s.SrcPort(), "tcp src port")
	d.eq(uint16(g.DstPort), s.DstPort(), "tcp dst port")
	d.eq(g.Seq, s.Seq(), "tcp seq")
	d.eq(g.Ack, s.Ack(), "tcp ack")
	d.eq(int(g.DataOffset)*4, s.DataOffset(), "tcp data offset")
	d.eq(gopacketFlags(&g), s.Flags(), "tcp flags")
	d.eq(g.Window, s.Window(), "tcp window")
	d.eq(g.Checksum, s.Checksum(), "tcp checksum")
	d.eq(g.Urgent, s.Urgent(), "tcp urgent")
	d.eq(g.Payload, s.Payload(), "tcp payload")
	d.eq(gopacketTCPOptions(g.Options), o, "tcp options")
	d.eq(naiveTransportOK(src, dst, IPProtoTCP, b), s.VerifyChecksum(src, dst), "tcp checksum validity")
	if o.HasMSS || o.HasWindowScale || o.HasTimestamps || o.NumSACK > 0 || o.SACKPermitted {
		d.count["tcp with options"]++
	}
	if o.NumSACK > 0 {
		d.count["tcp with sack blocks"]++
	}
}

func gopacketFlags(g *layers.TCP) TCPFlags {
	var f TCPFlags
	for i, set := range []bool{g.FIN, g.SYN, g.RST, g.PSH, g.ACK, g.URG, g.ECE, g.CWR, g.NS} {
		if set {
			f |= 1 << i
		}
	}
	return f
}

// gopacketTCPOptions reads gopacket's option list with ustack's rules:
// known kinds count only with their defined length, the last one wins.
func gopacketTCPOptions(opts []layers.TCPOption) TCPOptions {
	var o TCPOptions
	for _, opt := range opts {
		data := opt.OptionData
		switch opt.OptionType {
		case layers.TCPOptionKindMSS:
			if len(data) == 2 {
				o.MSS, o.HasMSS = binary.BigEndian.Uint16(data), true
			}
		case layers.TCPOptionKindWindowScale:
			if len(data) == 1 {
				o.WindowScale, o.HasWindowScale = data[0], true
			}
		case layers.TCPOptionKindSACKPermitted:
			if len(data) == 0 {
				o.SACKPermitted = true
			}
		case layers.TCPOptionKindSACK:
			if len(data) == 0 || len(data)%8 != 0 {
				continue
			}
			o.NumSACK = 0
			for ; len(data) >= 8 && o.NumSACK < 4; data = data[8:] {
				o.SACK[o.NumSACK] = SACKBlock{binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:])}
				o.NumSACK++
			}
		case layers.TCPOptionKindTimestamps:
			if len(data) == 8 {
				o.TSVal, o.TSEcr, o.HasTimestamps = binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:]), true
			}
		}
	}
	return o
}

func (d *differ) udp(b []byte, src, dst netip.Addr) {
	u := UDP(b)
	err := u.Check()
	var g layers.UDP
	gerr := gp(func() error { return g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) })
	if err != nil && gerr == nil {
		switch {
		case errors.Is(err, ErrBadLength) && g.Length == 0:
			// gopacket reads length 0 as a jumbogram (RFC 2675 §4);
			// ustack supports no jumbograms, and over IPv4 it is invalid.
			d.explain("udp: length 0 (gopacket assumes a jumbogram)")
			return
		case errors.Is(err, ErrTruncated) && int(g.Length) > len(b):
			d.explain("udp: length past the datagram (gopacket decodes truncated)")
			return
		}
	}
	if !d.agree("udp", err, gerr) {
		return
	}
	d.eq(uint16(g.SrcPort), u.SrcPort(), "udp src port")
	d.eq(uint16(g.DstPort), u.DstPort(), "udp dst port")
	d.eq(g.Length, u.Length(), "udp length")
	d.eq(g.Checksum, u.Checksum(), "udp checksum")
	d.eq(g.Payload, u.Payload(), "udp payload")
	want := naiveTransportOK(src, dst, IPProtoUDP, b[:u.Length()])
	if u.Checksum() == 0 {
		want = src.Is4() // RFC 768: none; RFC 8200 §8.1: not allowed
	}
	d.eq(want, u.VerifyChecksum(src, dst), "udp checksum validity")
}

func (d *differ) icmpv4(b []byte) {
	m := ICMPv4(b)
	var g layers.ICMPv4
	if !d.agree("icmpv4", m.Check(), gp(func() error { return g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) })) {
		return
	}
	d.eq(g.TypeCode.Type(), m.Type(), "icmpv4 type")
	d.eq(g.TypeCode.Code(), m.Code(), "icmpv4 code")
	d.eq(g.Checksum, m.Checksum(), "icmpv4 checksum")
	d.eq(g.Id, m.EchoID(), "icmpv4 id")
	d.eq(g.Seq, m.EchoSeq(), "icmpv4 seq")
	d.eq(g.Payload, m.Payload(), "icmpv4 payload")
	d.eq(naiveChecksum(b) == 0, m.VerifyChecksum(), "icmpv4 checksum validity")
}

func (d *differ) icmpv6(b []byte, src, dst netip.Addr) {
	m := ICMPv6(b)
	err := m.Check()
	var g layers.ICMPv6
	gerr := gp(func() error { return g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) })
	if errors.Is(err, ErrTruncated) && gerr == nil && len(b) < ICMPv6HeaderLen {
		// gopacket needs the 4 bytes of type, code and checksum; every
		// message RFC 4443 and RFC 4861 define has 8 or more, so ustack
		// refuses less.
		d.explain("icmpv6: shorter than 8 bytes (gopacket needs 4)")
		return
	}
	if !d.agree("icmpv6", err, gerr) {
		return
	}
	d.eq(g.TypeCode.Type(), m.Type(), "icmpv6 type")
	d.eq(g.TypeCode.Code(), m.Code(), "icmpv6 code")
	d.eq(g.Checksum, m.Checksum(), "icmpv6 checksum")
	d.eq(naiveTransportOK(src, dst, IPProtoICMPv6, b), m.VerifyChecksum(src, dst), "icmpv6 checksum validity")
	body := b[4:] // gopacket's NDP and echo layers start after the checksum
	switch m.Type() {
	case ICMPv6EchoRequest, ICMPv6EchoReply:
		var e layers.ICMPv6Echo
		if d.agree("icmpv6 echo", nil, gp(func() error { return e.DecodeFromBytes(body, gopacket.NilDecodeFeedback) })) {
			d.eq(e.Identifier, m.EchoID(), "icmpv6 echo id")
			d.eq(e.SeqNumber, m.EchoSeq(), "icmpv6 echo seq")
		}
	case ICMPv6RouterSolicitation:
		var g layers.ICMPv6RouterSolicitation
		if d.agree("ndp router solicitation", RouterSolicitation(b).Check(), gp(func() error { return g.DecodeFromBytes(body, gopacket.NilDecodeFeedback) })) {
			d.ndpOptions(g.Options, RouterSolicitation(b).Options())
		}
	case ICMPv6RouterAdvertisement:
		var g layers.ICMPv6RouterAdvertisement
		ra := RouterAdvertisement(b)
		if d.agree("ndp router advertisement", ra.Check(), gp(func() error { return g.DecodeFromBytes(body, gopacket.NilDecodeFeedback) })) {
			d.eq(g.HopLimit, ra.CurHopLimit(), "ra hop limit")
			d.eq(g.ManagedAddressConfig(), ra.Managed(), "ra M")
			d.eq(g.OtherConfig(), ra.Other(), "ra O")
			d.eq(g.RouterLifetime, ra.RouterLifetime(), "ra router lifetime")
			d.eq(g.ReachableTime, ra.ReachableTime(), "ra reachable time")
			d.eq(g.RetransTimer, ra.RetransTimer(), "ra retrans timer")
			d.ndpOptions(g.Options, ra.Options())
		}
	case ICMPv6NeighborSolicitation:
		var g layers.ICMPv6NeighborSolicitation
		ns := NeighborSolicitation(b)
		if d.agree("ndp neighbor solicitation", ns.Check(), gp(func() error { return g.DecodeFromBytes(body, gopacket.NilDecodeFeedback) })) {
			d.eq(addrOf(g.TargetAddress), ns.Target(), "ns target")
			d.ndpOptions(g.Options, ns.Options())
		}
	case ICMPv6NeighborAdvertisement:
		var g layers.ICMPv6NeighborAdvertisement
		na := NeighborAdvertisement(b)
		if d.agree("ndp neighbor advertisement", na.Check(), gp(func() error { return g.DecodeFromBytes(body, gopacket.NilDecodeFeedback) })) {
			d.eq(addrOf(g.TargetAddress), na.Target(), "na target")
			d.eq(g.Router(), na.Router(), "na R")
			d.eq(g.Solicited(), na.Solicited(), "na S")
			d.eq(g.Override(), na.Override(), "na O")
			d.ndpOptions(g.Options, na.Options())
		}
	case ICMPv6Redirect:
		var g layers.ICMPv6Redirect
		r := Redirect(b)
		if d.agree("ndp redirect", r.Check(), gp(func() error { return g.DecodeFromBytes(body, gopacket.NilDecodeFeedback) })) {
			d.eq(addrOf(g.TargetAddress), r.Target(), "redirect target")
			d.eq(addrOf(g.DestinationAddress), r.Destination(), "redirect destination")
			d.ndpOptions(g.Options, r.Options())
		}
	}
}

func (d *differ) ndpOptions(g layers.ICMPv6Options, o NDPOptions) {
	it := o.Iter()
	i := 0
	for {
		opt, ok := it.Next()
		if !ok {
			break
		}
		if i >= len(g) {
			d.t.Errorf("%s: ndp options: ustack has more than gopacket's %d", d.where, len(g))
			return
		}
		d.eq(uint8(g[i].Type), opt.Type(), "ndp option type")
		d.eq(g[i].Data, opt.Data(), "ndp option data")
		if t := opt.Type(); t == NDPOptSourceLinkAddr || t == NDPOptTargetLinkAddr {
			mac, ok := opt.LinkAddr()
			if ok && len(g[i].Data) >= 6 {
				d.eq(MAC(net.HardwareAddr(g[i].Data[:6])), mac, "ndp link-layer address")
			}
		}
		i++
	}
	d.eq(len(g), i, "ndp option count")
	d.count["ndp options"] += i
}
