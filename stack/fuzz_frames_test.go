package stack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// Frame records in FuzzStackFrames' input: a flags byte, a big-endian
// length, then the frame.
const (
	// frameFixSums recomputes the IPv4 header checksum and the transport
	// checksum, so that mutations reach past the checksum checks.
	frameFixSums = 1 << iota
	// frameRelative makes a TCP segment from 10.0.0.9:40000 to port 80
	// relative to the established connection: its sequence and
	// acknowledgment numbers are added to RCV.NXT and SND.UNA, so that
	// mutations land in and around the window.
	frameRelative
	// frameLater moves time on by the frame's first byte in milliseconds
	// before it arrives, so that timers (reassembly, retransmission, TIME-
	// WAIT) fire between frames.
	frameLater
	// frameChain delivers the frame as a chain of ContiguousHeader-byte
	// buffers, so that chained input (gatherable, rxWrite) meets every
	// mutation.
	frameChain
	// frameVerified marks the frame as checked and good by the device.
	frameVerified
)

// FuzzStackFrames feeds a sequence of frames to a stack with IPv4 and IPv6
// addresses, a listener, an established connection and a UDP socket:
// sequences reach what single frames cannot (reassembly, connection
// states, timers). No input may panic, hang, leak a buffer or break a
// limit.
func FuzzStackFrames(f *testing.F) {
	rec := func(flags byte, frame []byte) []byte {
		return append(binary.BigEndian.AppendUint16([]byte{flags}, uint16(len(frame))), frame...)
	}
	cat := func(rs ...[]byte) []byte {
		var b []byte
		for _, r := range rs {
			b = append(b, r...)
		}
		return b
	}
	seg := func(sport uint16, sq, ack uint32, flags wire.TCPFlags, opts, payload []byte) []byte {
		return frag4(peer4, our4, wire.IPProtoTCP, 1, 0, false, tcpHdr(peer4, our4, sport, 80, sq, ack, flags, opts, payload))
	}
	rel := byte(frameFixSums | frameRelative)
	chained := rel | frameChain
	syn := tcpHdr(peer4, our4, 40001, 80, 1, 0, wire.TCPFlagSYN, []byte{2, 4, 5, 0xb4}, make([]byte, 16))
	syn6 := tcpHdr(peer6, our6, 40002, 80, 1, 0, wire.TCPFlagSYN, []byte{2, 4, 5, 0xb4}, make([]byte, 16))
	for _, s := range [][]byte{
		cat(rec(rel, seg(40000, 0, 0, wire.TCPFlagACK|wire.TCPFlagPSH, nil, []byte("data"))),
			rec(rel, seg(40000, 4, 0, wire.TCPFlagACK|wire.TCPFlagFIN, nil, nil))),
		cat(rec(rel, seg(40000, 100, 0, wire.TCPFlagACK, []byte{1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 4}, []byte("ooo"))),
			rec(rel, seg(40000, 0, 0, wire.TCPFlagACK, nil, make([]byte, 100)))),
		cat(rec(rel, seg(40000, 1, 0, wire.TCPFlagRST, nil, nil)), rec(rel, seg(40000, 0, 0, wire.TCPFlagRST, nil, nil))),
		cat(rec(rel, seg(40000, 0, 1000, wire.TCPFlagACK, nil, []byte("x"))), rec(rel|frameLater, append([]byte{200}, seg(40000, 0, 0, wire.TCPFlagSYN, nil, nil)[1:]...))),
		cat(rec(frameFixSums, frag4(peer4, our4, wire.IPProtoTCP, 5, 0, true, syn[:16])),
			rec(frameFixSums, frag4(peer4, our4, wire.IPProtoTCP, 5, 16, false, syn[16:]))),
		cat(rec(frameFixSums, frag4(peer4, our4, wire.IPProtoTCP, 6, 8, true, syn[8:24])),
			rec(frameFixSums|frameLater, frag4(peer4, our4, wire.IPProtoTCP, 6, 0, true, syn[:16]))),
		cat(rec(frameFixSums, frag6(peer6, our6, wire.IPProtoTCP, 7, 0, true, syn6[:24])),
			rec(frameFixSums, frag6(peer6, our6, wire.IPProtoTCP, 7, 24, false, syn6[24:]))),
		cat(rec(frameFixSums, pkt6(peer6, our6, wire.IPProtoTCP, syn6))),
		cat(rec(frameFixSums, frag4(peer4, our4, wire.IPProtoUDP, 8, 0, false, []byte{0, 9, 0, 53, 0, 12, 0, 0, 'q', 'u', 'e', 'r'}))),
		cat(rec(chained, seg(40000, 0, 0, wire.TCPFlagACK|wire.TCPFlagPSH, nil, make([]byte, 1000))),
			rec(chained|frameVerified, seg(40000, 1500, 0, wire.TCPFlagACK, nil, make([]byte, 700))),
			rec(chained, seg(40000, 1000, 0, wire.TCPFlagACK, nil, make([]byte, 600)))),
		cat(rec(frameFixSums|frameChain, pkt6(peer6, our6, wire.IPProtoTCP, syn6))),
	} {
		f.Add(s)
	}
	for _, s := range append(fuzzSeeds(), fuzzSeeds6()...) {
		f.Add(rec(0, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<17 {
			return
		}
		h := newHarness6(t, false, Config{Reassembly: ReassemblyConfig{MaxBytes: 256 << 10}}, peerNeighbors...)
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
		p, _, s := estab(t, h)
		pc, err := h.s.ListenPacket("udp", ":53")
		require.NoError(t, err)
		q := h.s.queues[0]
		later := 0
		for n := 0; len(data) >= 3 && n < 32; n++ {
			flags, size := data[0], int(binary.BigEndian.Uint16(data[1:]))
			data = data[3:]
			frame := data[:min(size, len(data))]
			data = data[len(frame):]
			b := append([]byte(nil), frame...)
			if flags&frameRelative != 0 {
				relativeSeg(b, s.c)
			}
			if flags&frameFixSums != 0 {
				fixSums(b)
			}
			if flags&frameLater != 0 && len(b) > 0 {
				later += int(b[0])
				h.clock.Set(t0 + int64(later)*1e6)
			}
			if len(b) >= 6 {
				copy(b, ourMAC)
			}
			how := feed{chain: flags&frameChain != 0}
			if flags&frameVerified != 0 {
				how.csum = backend.CsumVerified
			}
			h.inAs(b, how)
			require.LessOrEqual(t, q.reasm.Bytes()+q.reasm6.Bytes(), 2*(256<<10), "reassembly within its limit")
			require.LessOrEqual(t, len(q.arp.entries), h.s.cfg.ARP.MaxEntries)
		}
		p.send("A", nil)
		pc.Close()
		s.Close()
		h.at(0)
	})
}

// relativeSeg adds the connection's RCV.NXT and SND.UNA to the sequence
// and acknowledgment numbers of a TCP segment in an IPv4 frame b.
func relativeSeg(b []byte, c *tcpConn) {
	const off = wire.EthernetHeaderLen + wire.IPv4HeaderLen
	if len(b) < off+wire.TCPHeaderLen || wire.Ethernet(b).EtherType() != wire.EtherTypeIPv4 || b[wire.EthernetHeaderLen] != 0x45 {
		return
	}
	t := wire.TCP(b[off:])
	binary.BigEndian.PutUint32(t[4:], t.Seq()+uint32(c.rcvNxt))
	binary.BigEndian.PutUint32(t[8:], t.Ack()+uint32(c.sndUna))
}

// fixSums makes the checksums of an Ethernet frame b right where it can
// tell where they are.
func fixSums(b []byte) {
	e := wire.Ethernet(b)
	if e.Check() != nil {
		return
	}
	switch e.EtherType() {
	case wire.EtherTypeIPv4:
		ip := wire.IPv4(e.Payload())
		if ip.Check() != nil {
			return
		}
		ip.SetChecksum(0)
		ip.SetChecksum(ip.ComputeChecksum())
		if !ip.IsFragment() {
			fixL4(ip.Protocol(), ip.SrcAddr(), ip.DstAddr(), ip.Payload())
		}
	case wire.EtherTypeIPv6:
		ip := wire.IPv6(e.Payload())
		ch, err := wire.WalkIPv6(ip)
		if err != nil || ch.HasFragment {
			return
		}
		end := wire.IPv6HeaderLen + int(ip.PayloadLen())
		fixL4(ch.Proto, ip.SrcAddr(), ip.DstAddr(), ip[ch.Offset:end])
	}
}

func fixL4(proto uint8, src, dst netip.Addr, b []byte) {
	switch proto {
	case wire.IPProtoTCP:
		if t := wire.TCP(b); t.Check() == nil {
			t.SetChecksum(t.ComputeChecksum(src, dst))
		}
	case wire.IPProtoUDP:
		if u := wire.UDP(b); u.Check() == nil {
			u.SetChecksum(u.ComputeChecksum(src, dst))
		}
	case wire.IPProtoICMP:
		if m := wire.ICMPv4(b); m.Check() == nil {
			m.SetChecksum(m.ComputeChecksum())
		}
	case wire.IPProtoICMPv6:
		if m := wire.ICMPv6(b); m.Check() == nil {
			m.SetChecksum(m.ComputeChecksum(src, dst))
		}
	}
}
