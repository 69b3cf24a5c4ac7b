package wire

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each fuzz target checks its input, calls every accessor when Check
// passes, and round-trips the value: Parse, Emit, Parse again, compare.
// Under plain `go test` they run on the seeds below, hand-made packets and
// up to 64 cuts per layer from the capture corpus when it is present.

var seedsOnce = sync.OnceValue(func() map[string][][]byte { return corpusSeeds(64) })

func addSeeds(f *testing.F, kind string, hand ...[]byte) {
	for _, b := range hand {
		f.Add(b)
	}
	for _, b := range seedsOnce()[kind] {
		f.Add(b)
	}
}

// guarded returns a buffer of n bytes followed by guard bytes, and a func
// that reports whether the guard is intact: Emit must write Len bytes only.
func guarded(n int) ([]byte, func() bool) {
	b := make([]byte, n+8)
	for i := range b {
		b[i] = 0xa5
	}
	return b[:n], func() bool { return bytes.Equal(b[n:], bytes.Repeat([]byte{0xa5}, 8)) }
}

func FuzzEthernet(f *testing.F) {
	addSeeds(f, "ethernet", synFrame, pingFrame, nsNonceFrame,
		mustHex("ffffffffffff020000000001 8100 0064 0800 4500"),
		mustHex("ffffffffffff020000000001 88a8 0064 8100 00c8 86dd"),
		mustHex("ffffffffffff020000000001 8100 0001 8100 0002 8100 0003 0800"),
		mustHex("ffffffffffff020000000001 8100"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := Ethernet(data)
		if e.Check() != nil {
			return
		}
		_, _, _, _ = e.Dst(), e.Src(), e.EtherType(), e.Payload()
		l2, err := e.L2()
		var v EthernetFields
		perr := v.Parse(data)
		require.Equal(t, err, perr)
		if err != nil {
			return
		}
		require.LessOrEqual(t, l2.HeaderLen, len(data))
		b, ok := guarded(v.Len())
		v.Emit(b)
		require.True(t, ok())
		require.Equal(t, data[:l2.HeaderLen], b, "emit reproduces the header")
		var w EthernetFields
		require.NoError(t, w.Parse(b))
		require.Equal(t, v, w)
	})
}

func FuzzARP(f *testing.F) {
	addSeeds(f, "arp", arpRequest, arpRequest[:28], mustHex("0001080006ff0001"), mustHex("000608000604000100"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := ARP(data)
		if a.Check() != nil {
			return
		}
		_, _, _, _ = a.HardwareType(), a.ProtocolType(), a.HardwareLen(), a.ProtocolLen()
		_, _, _, _, _ = a.Op(), a.SenderMAC(), a.SenderAddr(), a.TargetMAC(), a.TargetAddr()
		var v ARPFields
		require.NoError(t, v.Parse(data))
		b, ok := guarded(v.Len())
		v.Emit(b)
		require.True(t, ok())
		require.Equal(t, data[:ARPLen], b, "emit reproduces the packet")
	})
}

func FuzzIPv4(f *testing.F) {
	addSeeds(f, "ipv4", synFrame[14:], pingFrame[14:], udpFrame[14:],
		ipv4Packet(IPProtoTCP, nil), mustHex("4f00003c0000000040060000"),
		mustHex("46000018000000004006000001020304050607089404000000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ip := IPv4(data)
		if ip.Check() != nil {
			return
		}
		_, _, _, _, _ = ip.Version(), ip.HeaderLen(), ip.TOS(), ip.DSCP(), ip.ECN()
		_, _, _, _, _, _ = ip.TotalLen(), ip.ID(), ip.DontFragment(), ip.MoreFragments(), ip.FragmentOffset(), ip.IsFragment()
		_, _, _, _, _, _, _ = ip.TTL(), ip.Protocol(), ip.Checksum(), ip.Src(), ip.Dst(), ip.SrcAddr(), ip.DstAddr()
		_, _, _ = ip.Header(), ip.Options(), ip.Payload()
		_ = ip.PseudoHeaderSum(ip.Protocol(), len(ip.Payload()))
		require.Equal(t, naiveChecksum(ip.Header()) == 0, ip.VerifyChecksum())
		c := append(IPv4{}, ip.Header()...)
		c.SetChecksum(ip.ComputeChecksum())
		require.True(t, c.VerifyChecksum())

		var v IPv4Fields
		require.NoError(t, v.Parse(data))
		b, ok := guarded(v.Len() + v.PayloadLen)
		v.Emit(b)
		require.True(t, ok())
		var w IPv4Fields
		require.NoError(t, w.Parse(b))
		require.Equal(t, v, w)
		require.True(t, IPv4(b).VerifyChecksum())
	})
}

func FuzzIPv6Walk(f *testing.F) {
	tcp := make([]byte, 20)
	addSeeds(f, "ipv6", tooBigFrame[14:], nsNonceFrame[14:],
		ipv6Packet(IPProtoHopByHop, cat(ext(IPProtoDestOpts), ext(IPProtoRouting), routing(IPProtoFragment, 0, 1), frag(IPProtoTCP, 0, false, 1), tcp)),
		ipv6Packet(IPProtoFragment, cat(frag(IPProtoUDP, 8, true, 1), tcp)),
		ipv6Packet(IPProtoDestOpts, cat(ext(IPProtoHopByHop), tcp)),
		ipv6Packet(IPProtoDestOpts, cat(ext(60), ext(60), ext(60), ext(60), ext(60), ext(60), ext(60), ext(60), ext(6))),
		ipv6Packet(IPProtoHopByHop, []byte{6, 1, 0xc2, 4, 0, 1, 0, 0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		ip := IPv6(data)
		c, err := WalkIPv6(ip)
		require.LessOrEqual(t, c.NumExt, MaxIPv6ExtHeaders)
		if ip.Check() != nil {
			require.Error(t, err)
			return
		}
		_, _, _, _, _ = ip.Version(), ip.TrafficClass(), ip.DSCP(), ip.ECN(), ip.FlowLabel()
		_, _, _, _, _ = ip.PayloadLen(), ip.NextHeader(), ip.HopLimit(), ip.Src(), ip.Dst()
		_, _, _ = ip.SrcAddr(), ip.DstAddr(), ip.Payload()
		end := IPv6HeaderLen + int(ip.PayloadLen())
		if err == nil {
			// The pointer names the field that holds Proto.
			require.Less(t, c.ProtoPointer, c.Offset)
			require.Equal(t, c.Proto, data[c.ProtoPointer])
			require.LessOrEqual(t, c.Offset, end)
		}
		for i, e := range c.Ext[:c.NumExt] {
			require.LessOrEqual(t, e.Offset+e.Len, end)
			h := data[e.Offset : e.Offset+e.Len]
			switch e.Type {
			case IPProtoFragment:
				var v IPv6FragmentFields
				require.NoError(t, v.Parse(h))
				fh := IPv6Fragment(h)
				_, _, _, _ = fh.NextHeader(), fh.FragmentOffset(), fh.MoreFragments(), fh.ID()
				b, ok := guarded(v.Len())
				v.Emit(b)
				require.True(t, ok())
				var w IPv6FragmentFields
				require.NoError(t, w.Parse(b))
				require.Equal(t, v, w)
			case IPProtoRouting:
				r := IPv6Routing(h)
				require.NoError(t, r.Check())
				_, _, _, _, _ = r.NextHeader(), r.HeaderLen(), r.RoutingType(), r.SegmentsLeft(), r.Data()
				var v IPv6RoutingFields
				require.NoError(t, v.Parse(h))
				b, ok := guarded(v.Len())
				v.Emit(b)
				require.True(t, ok())
				require.Equal(t, h, b)
			default:
				x := IPv6ExtHeader(h)
				require.NoError(t, x.Check())
				it := x.Options().Iter()
				for n := 0; ; n++ {
					o, ok := it.Next()
					if !ok {
						break
					}
					require.Less(t, n, len(h))
					_ = IPv6OptionAction(o.Type)
					require.LessOrEqual(t, o.Offset+2+len(o.Data), len(h)-2)
				}
				_ = it.Err()
				var v IPv6OptionsFields
				require.NoError(t, v.Parse(h))
				b, ok := guarded(v.Len())
				v.Emit(b)
				require.True(t, ok())
				require.Equal(t, h, b)
			}
			if i > 0 {
				require.Equal(t, c.Ext[i-1].Offset+c.Ext[i-1].Len, e.Offset)
			}
		}
		var v IPv6Fields
		require.NoError(t, v.Parse(data))
		b, ok := guarded(v.Len())
		v.Emit(b)
		require.True(t, ok())
		var w IPv6Fields
		require.NoError(t, w.Parse(cat(b, make([]byte, v.PayloadLen))))
		require.Equal(t, v, w)
	})
}

// checkTCPOptionsRoundTrip emits o, parses it back and compares.
func checkTCPOptionsRoundTrip(t *testing.T, o TCPOptions, exact bool) {
	n := o.Len()
	require.Zero(t, n%4)
	require.LessOrEqual(t, n, TCPMaxOptionsLen)
	b, ok := guarded(n)
	o.Emit(b)
	require.True(t, ok())
	var p TCPOptions
	require.NoError(t, p.Parse(b))
	if exact {
		require.Equal(t, o, p)
		return
	}
	// Only SACK blocks may be dropped, from the end, when 40 bytes are
	// not enough for them all.
	require.LessOrEqual(t, p.NumSACK, o.NumSACK)
	require.Equal(t, o.SACK[:p.NumSACK], p.SACK[:p.NumSACK])
	p.NumSACK, p.SACK = o.NumSACK, o.SACK
	require.Equal(t, o, p)
}

func FuzzTCPOptions(f *testing.F) {
	f.Add(TCP(IPv4(synFrame[14:]).Payload()).Options())
	for _, s := range [][]byte{
		{2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0},
		{1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8},
		{2, 0}, {2, 1}, {5}, {8, 10, 1}, {0, 2, 4}, {1, 1, 1}, {34, 2, 30, 4, 0, 0},
	} {
		f.Add(s)
	}
	for _, b := range seedsOnce()["tcp"] {
		if s := TCP(b); s.Check() == nil {
			f.Add(s.Options())
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var o TCPOptions
		if o.Parse(data) != nil {
			return
		}
		require.LessOrEqual(t, o.NumSACK, TCPMaxSACKBlocks)
		checkTCPOptionsRoundTrip(t, o, len(data) <= TCPMaxOptionsLen)
	})
}

func FuzzTCP(f *testing.F) {
	addSeeds(f, "tcp", IPv4(synFrame[14:]).Payload(), make([]byte, 20),
		mustHex("00500051000000010000000250120000000000000204"),
		mustHex("00500051000000010000000281ff0000000000000101050a0000000100000002"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := TCP(data)
		if s.Check() != nil {
			return
		}
		_, _, _, _, _ = s.SrcPort(), s.DstPort(), s.Seq(), s.Ack(), s.DataOffset()
		_, _, _, _, _, _ = s.Flags().String(), s.Window(), s.Checksum(), s.Urgent(), s.Options(), s.Payload()
		for _, a := range [][2]netip.Addr{{v4a, v4b}, {v6a, v6b}} {
			c := append(TCP{}, s...)
			c.SetChecksum(s.ComputeChecksum(a[0], a[1]))
			require.True(t, c.VerifyChecksum(a[0], a[1]))
		}
		var v TCPFields
		if v.Parse(data) != nil {
			return
		}
		b, ok := guarded(v.Len())
		v.Emit(b)
		require.True(t, ok())
		var w TCPFields
		require.NoError(t, w.Parse(b))
		require.Equal(t, v, w)
	})
}

func FuzzUDP(f *testing.F) {
	addSeeds(f, "udp", IPv4(udpFrame[14:]).Payload(), []byte{0, 53, 0, 53, 0, 8, 0, 0},
		[]byte{0, 53, 0, 53, 0, 0, 0, 0}, []byte{0, 53, 0, 53, 0, 9, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		u := UDP(data)
		if u.Check() != nil {
			return
		}
		_, _, _, _, _ = u.SrcPort(), u.DstPort(), u.Length(), u.Checksum(), u.Payload()
		for _, a := range [][2]netip.Addr{{v4a, v4b}, {v6a, v6b}} {
			c := append(UDP{}, data[:u.Length()]...)
			c.SetChecksum(u.ComputeChecksum(a[0], a[1]))
			require.NotZero(t, c.Checksum())
			require.True(t, c.VerifyChecksum(a[0], a[1]))
		}
		var v UDPFields
		require.NoError(t, v.Parse(data))
		b, ok := guarded(v.Len() + v.PayloadLen)
		v.Emit(b)
		require.True(t, ok())
		var w UDPFields
		require.NoError(t, w.Parse(b))
		require.Equal(t, v, w)
	})
}

func FuzzICMPv4(f *testing.F) {
	addSeeds(f, "icmpv4", IPv4(pingFrame[14:]).Payload(), make([]byte, 8), make([]byte, 7))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := ICMPv4(data)
		if m.Check() != nil {
			return
		}
		_, _, _, _, _, _ = m.Type(), m.Code(), m.Checksum(), m.Rest(), m.EchoID(), m.EchoSeq()
		_, _, _, _ = m.NextHopMTU(), m.Pointer(), m.Gateway(), m.Payload()
		require.Equal(t, naiveChecksum(data) == 0, m.VerifyChecksum())
		c := append(ICMPv4{}, m...)
		c.SetChecksum(m.ComputeChecksum())
		require.True(t, c.VerifyChecksum())
		var v ICMPv4Fields
		require.NoError(t, v.Parse(data))
		b, ok := guarded(v.Len())
		v.Emit(b)
		require.True(t, ok())
		var w ICMPv4Fields
		require.NoError(t, w.Parse(b))
		require.Equal(t, v, w)
	})
}

// ndpRoundTrip parses b into v, emits it, parses again into w, compares.
func ndpRoundTrip[T interface {
	Len() int
	Emit([]byte)
}](t *testing.T, b []byte, parse func([]byte, *T) error) {
	var v, w T
	if parse(b, &v) != nil {
		return
	}
	out, ok := guarded(v.Len())
	v.Emit(out)
	require.True(t, ok())
	require.NoError(t, parse(out, &w))
	require.Equal(t, v, w)
}

func FuzzICMPv6(f *testing.F) {
	ra := RouterAdvertisementFields{CurHopLimit: 64, HasSourceLinkAddr: true, HasMTU: true, MTU: 1500,
		Prefixes: []NDPPrefixInfo{{PrefixLen: 64, OnLink: true, Autonomous: true, Prefix: v6a}}}
	raBytes := make([]byte, ra.Len())
	ra.Emit(raBytes)
	rdnss := NDPRDNSS{Lifetime: 1, Servers: []netip.Addr{v6a}}
	addSeeds(f, "icmpv6", IPv6(tooBigFrame[14:]).Payload(), IPv6(nsNonceFrame[14:]).Payload(), IPv6(raFrame[14:]).Payload(),
		raBytes, cat(raBytes, make([]byte, rdnss.Len())),
		mustHex("8800000060000000fe80000000000000000000000000000102010200000000010100"),
		mustHex("85000000000000000100000000000000"),
		mustHex("890000000000000020010db800000000000000000000000120010db8000000000000000000000002020152540012345604010000000000006000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := ICMPv6(data)
		if m.Check() != nil {
			return
		}
		_, _, _, _, _, _ = m.Type(), m.Code(), m.Checksum(), m.Rest(), m.EchoID(), m.EchoSeq()
		_, _, _ = m.MTU(), m.Pointer(), m.Payload()
		c := append(ICMPv6{}, m...)
		c.SetChecksum(m.ComputeChecksum(v6a, v6b))
		require.True(t, c.VerifyChecksum(v6a, v6b))
		ndpRoundTrip(t, data, func(b []byte, v *ICMPv6Fields) error { return v.Parse(b) })

		// Every NDP view over the same bytes, whatever the type says.
		if rs := RouterSolicitation(data); rs.Check() == nil {
			fuzzNDPOptions(t, rs.Options())
		}
		ndpRoundTrip(t, data, func(b []byte, v *RouterSolicitationFields) error { return v.Parse(b) })
		if ra := RouterAdvertisement(data); ra.Check() == nil {
			_, _, _, _, _, _ = ra.CurHopLimit(), ra.Managed(), ra.Other(), ra.RouterLifetime(), ra.ReachableTime(), ra.RetransTimer()
			fuzzNDPOptions(t, ra.Options())
		}
		ndpRoundTrip(t, data, func(b []byte, v *RouterAdvertisementFields) error { return v.Parse(b) })
		if ns := NeighborSolicitation(data); ns.Check() == nil {
			_ = ns.Target()
			fuzzNDPOptions(t, ns.Options())
		}
		ndpRoundTrip(t, data, func(b []byte, v *NeighborSolicitationFields) error { return v.Parse(b) })
		if na := NeighborAdvertisement(data); na.Check() == nil {
			_, _, _, _ = na.Router(), na.Solicited(), na.Override(), na.Target()
			fuzzNDPOptions(t, na.Options())
		}
		ndpRoundTrip(t, data, func(b []byte, v *NeighborAdvertisementFields) error { return v.Parse(b) })
		if r := Redirect(data); r.Check() == nil {
			_, _ = r.Target(), r.Destination()
			fuzzNDPOptions(t, r.Options())
		}
		ndpRoundTrip(t, data, func(b []byte, v *RedirectFields) error { return v.Parse(b) })
	})
}

// fuzzNDPOptions walks options that Check accepted and round-trips every
// option of a type with a value.
func fuzzNDPOptions(t *testing.T, o NDPOptions) {
	it := o.Iter()
	total := 0
	for {
		opt, ok := it.Next()
		if !ok {
			break
		}
		require.GreaterOrEqual(t, opt.Len(), 8)
		total += opt.Len()
		_, _, _ = opt.Type(), opt.Data(), opt.Len()
		_, _ = opt.LinkAddr()
		switch opt.Type() {
		case NDPOptSourceLinkAddr, NDPOptTargetLinkAddr:
			ndpRoundTrip(t, opt, func(b []byte, v *NDPLinkAddr) error { return v.Parse(b) })
		case NDPOptPrefixInfo:
			ndpRoundTrip(t, opt, func(b []byte, v *NDPPrefixInfo) error { return v.Parse(b) })
		case NDPOptMTU:
			ndpRoundTrip(t, opt, func(b []byte, v *NDPMTU) error { return v.Parse(b) })
		case NDPOptRDNSS:
			var v NDPRDNSS
			if v.Parse(opt) == nil && len(v.Servers) <= 15 {
				b := make([]byte, v.Len())
				v.Emit(b)
				var w NDPRDNSS
				require.NoError(t, w.Parse(b))
				assert.Equal(t, v, w)
			}
		}
	}
	require.NoError(t, it.Err())
	require.Equal(t, len(o), total)
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, 0)
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 3)
	f.Add(bytes.Repeat([]byte{0xff}, 77), 13)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		require.Equal(t, naiveChecksum(data), Checksum(data, 0))
		if len(data) > 0 {
			k := split % len(data)
			if k < 0 {
				k = -k
			}
			acc := SumAt(data[k:], SumAt(data[:k], 0, false), k%2 == 1)
			require.Equal(t, Fold(Sum(data, 0)), Fold(acc))
		}
	})
}
