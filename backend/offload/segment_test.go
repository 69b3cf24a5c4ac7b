package offload

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagPSH = 0x08
	flagACK = 0x10
	flagURG = 0x20
	flagCWR = 0x80
)

// tsoCase is a GSO frame to cut, as large as its IP version allows.
type tsoCase struct {
	name string
	p    pkt
	gso  backend.GSOType
	mss  int
}

func tsoCases() []tsoCase {
	maxPayload := func(p pkt) int {
		if p.v6 {
			return 65535 - (p.l3Len() - 40) - p.l4Len()
		}
		return 65535 - p.l3Len() - p.l4Len()
	}
	cases := []tsoCase{
		{"tcpv4", pkt{id: 0xfff0, seq: 0xffff0000, ack: 77, flags: flagACK | flagPSH | flagFIN | flagCWR, tcpOpts: tsOpt(100, 200)}, backend.GSOTCPv4, 1448},
		{"tcpv4 vlan ip options", pkt{vlan: true, ipOpts: []byte{1, 1, 1, 0}, id: 9, seq: 1, flags: flagACK}, backend.GSOTCPv4, 1000},
		{"tcpv6", pkt{v6: true, seq: 0xfffffff0, flags: flagACK | flagPSH | flagCWR, tcpOpts: tsOpt(1, 2)}, backend.GSOTCPv6, 1428},
		{"tcpv6 extension headers", pkt{v6: true, ext: []uint8{0, 43, 60}, seq: 5, flags: flagACK | flagFIN}, backend.GSOTCPv6, 1404},
		{"udpv4", pkt{proto: 17, id: 3}, backend.GSOUDP, 1472},
		{"udpv6", pkt{proto: 17, v6: true}, backend.GSOUDP, 1452},
	}
	for i := range cases {
		cases[i].p.payload = pattern(maxPayload(cases[i].p), i)
	}
	// One whose payload is a multiple of the segment size, one with an
	// odd segment size and one smaller than a segment.
	exact := pkt{seq: 10, tcpOpts: tsOpt(1, 1), payload: pattern(10*1448, 9)}
	odd := pkt{v6: true, seq: 10, payload: pattern(5001, 10)}
	small := pkt{seq: 10, flags: flagACK | flagPSH, payload: pattern(100, 11)}
	return append(cases,
		tsoCase{"tcpv4 exact multiple", exact, backend.GSOTCPv4, 1448},
		tsoCase{"tcpv6 odd segment size", odd, backend.GSOTCPv6, 999},
		tsoCase{"tcpv4 one segment", small, backend.GSOTCPv4, 1448},
	)
}

func TestSegment(t *testing.T) {
	for _, tp := range testPools(t) {
		for _, partial := range []bool{false, true} {
			for _, c := range tsoCases() {
				name := fmt.Sprintf("%s/%s/keep partial %v", tp.name, c.name, partial)
				t.Run(name, func(t *testing.T) {
					in := c.p.build()
					f := load(t, tp.pool, c.p.partial(in), false)
					f.GSO, f.GSOSize = c.gso, uint16(c.mss)
					f.Csum = backend.CsumPartial
					f.CsumStart = uint16(c.p.l2Len() + c.p.l3Len())
					f.CsumOffset = uint16(c.p.csumOffset())
					f.Timestamp, f.Queue = 1234, 0
					before := f.AppendTo(nil)

					want := (len(c.p.payload) + c.mss - 1) / c.mss
					n, err := SegmentCount(f)
					require.NoError(t, err)
					require.Equal(t, want, n)
					dst := make([]*backend.Frame, n+2)
					n, err = Segment(dst, f, tp.pool, SegmentOptions{KeepPartial: partial})
					require.NoError(t, err)
					require.Equal(t, want, n)
					assert.Equal(t, before, f.AppendTo(nil), "the input is left alone")

					var payload []byte
					for i, s := range dst[:n] {
						assert.Equal(t, backend.GSONone, s.GSO)
						assert.Equal(t, int64(1234), s.Timestamp)
						assert.Equal(t, []uint16{uint16(c.p.l2Len()), uint16(c.p.l3Len()), uint16(c.p.l4Len())},
							[]uint16{s.L2Len, s.L3Len, s.L4Len})
						if partial {
							require.Equal(t, backend.CsumPartial, s.Csum)
							require.NoError(t, CompleteChecksum(s))
						} else {
							require.Equal(t, backend.CsumNone, s.Csum)
						}
						assert.Equal(t, backend.CsumVerified, VerifyChecksums(s))
						data := s.AppendTo(nil)
						p := decode(t, data)
						requireChecksumsGood(t, p)
						seg := p.ApplicationLayer()
						require.NotNil(t, seg)
						last := i == n-1
						if last {
							require.Equal(t, len(c.p.payload)-i*c.mss, len(seg.Payload()))
						} else {
							require.Equal(t, c.mss, len(seg.Payload()))
						}
						payload = append(payload, seg.Payload()...)
						if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
							assert.Equal(t, c.p.id+uint16(i), ip.Id)
							assert.Equal(t, len(data)-c.p.l2Len(), int(ip.Length))
						}
						if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
							assert.Equal(t, len(data)-c.p.l2Len()-40, int(ip.Length))
						}
						if tcp, ok := p.TransportLayer().(*layers.TCP); ok {
							assert.Equal(t, c.p.seq+uint32(i*c.mss), tcp.Seq, "segment %d", i)
							assert.Equal(t, c.p.ack, tcp.Ack)
							assert.True(t, tcp.ACK)
							assert.Equal(t, last && c.p.flags&flagFIN != 0, tcp.FIN, "FIN on segment %d", i)
							assert.Equal(t, last && c.p.flags&flagPSH != 0, tcp.PSH, "PSH on segment %d", i)
							assert.Equal(t, i == 0 && c.p.flags&flagCWR != 0, tcp.CWR, "CWR on segment %d", i)
							assert.Len(t, tcp.Options, len(c.p.tcpOpts)/12*3)
						}
						if udp, ok := p.TransportLayer().(*layers.UDP); ok {
							assert.Equal(t, 8+len(seg.Payload()), int(udp.Length))
						}
					}
					assert.Equal(t, c.p.payload, payload)
					backend.ReleaseOne(f)
					backend.Release(dst[:n])
				})
			}
		}
		assert.Zero(t, tp.pool.Outstanding(), tp.name)
	}
}

// TestSegmentChainedInput cuts a TSO frame whose head buffer has an odd
// length, so that every segment's payload starts at a shifted byte pairing
// of the input's chain.
func TestSegmentChainedInput(t *testing.T) {
	pool, err := backend.NewPool(backend.PoolConfig{Mbuf: true, Count: 256, Poison: true})
	require.NoError(t, err)
	p := pkt{seq: 7, payload: pattern(20001, 3)}
	f := load(t, pool, p.build(), true)
	require.Greater(t, f.Segments(), 5)
	f.GSO, f.GSOSize = backend.GSOTCPv4, 1001
	dst := make([]*backend.Frame, 32)
	n, err := Segment(dst, f, pool, SegmentOptions{})
	require.NoError(t, err)
	var payload []byte
	for _, s := range dst[:n] {
		pk := decode(t, s.AppendTo(nil))
		requireChecksumsGood(t, pk)
		payload = append(payload, pk.ApplicationLayer().Payload()...)
	}
	assert.Equal(t, p.payload, payload)
	backend.Release(dst[:n])
	backend.ReleaseOne(f)
	assert.Zero(t, pool.Outstanding())
}

func TestSegmentRefuses(t *testing.T) {
	tcp := pkt{seq: 1, payload: pattern(5000, 1)}
	setIPv4Len := func(n int) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint16(b[16:], uint16(n)) }
	}
	cases := []struct {
		name   string
		p      pkt
		gso    backend.GSOType
		mss    uint16
		meta   func(*backend.Frame)
		mangle func([]byte)
		dst    int
		want   error
	}{
		{name: "not gso", p: tcp, gso: backend.GSONone, mss: 1000, want: ErrMalformed},
		{name: "zero segment size", p: tcp, gso: backend.GSOTCPv4, mss: 0, want: ErrMalformed},
		{name: "tcpv6 type on ipv4", p: tcp, gso: backend.GSOTCPv6, mss: 1000, want: ErrMalformed},
		{name: "udp type on tcp", p: tcp, gso: backend.GSOUDP, mss: 1000, want: ErrMalformed},
		{name: "tcpv4 type on udp", p: pkt{proto: 17, payload: pattern(3000, 1)}, gso: backend.GSOTCPv4, mss: 1000, want: ErrMalformed},
		{name: "ip length past the frame", p: tcp, gso: backend.GSOTCPv4, mss: 1000, mangle: setIPv4Len(6000), want: ErrMalformed},
		{name: "ip length inside the headers", p: tcp, gso: backend.GSOTCPv4, mss: 1000, mangle: setIPv4Len(30), want: ErrMalformed},
		{name: "fragment", p: pkt{frag: true, payload: pattern(3000, 1)}, gso: backend.GSOTCPv4, mss: 1000, want: ErrMalformed},
		{name: "syn", p: pkt{flags: flagSYN, payload: pattern(3000, 1)}, gso: backend.GSOTCPv4, mss: 1000, want: ErrUnsupported},
		{name: "urg", p: pkt{flags: flagACK | flagURG, payload: pattern(3000, 1)}, gso: backend.GSOTCPv4, mss: 1000, want: ErrUnsupported},
		{name: "routing header with segments left", p: pkt{v6: true, ext: []uint8{43}, payload: pattern(3000, 1)},
			gso: backend.GSOTCPv6, mss: 1000, mangle: func(b []byte) { b[57] = 1 }, want: ErrUnsupported},
		{name: "metadata disagrees", p: tcp, gso: backend.GSOTCPv4, mss: 1000,
			meta: func(f *backend.Frame) { f.L2Len, f.L3Len, f.L4Len = 14, 24, 20 }, want: ErrMalformed},
		{name: "tcp header longer than the packet", p: pkt{payload: pattern(20, 1)}, gso: backend.GSOTCPv4, mss: 1000,
			mangle: func(b []byte) { b[46] = 0xf0 }, want: ErrMalformed},
		{name: "not ip", p: tcp, gso: backend.GSOTCPv4, mss: 1000, mangle: func(b []byte) { b[12] = 0x88 }, want: ErrMalformed},
		{name: "dst too short", p: tcp, gso: backend.GSOTCPv4, mss: 1000, dst: 4},
	}
	pool, err := backend.NewPool(backend.PoolConfig{Count: 64, Poison: true})
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.p.build()
			if c.mangle != nil {
				c.mangle(data)
			}
			f := load(t, pool, data, false)
			f.GSO, f.GSOSize = c.gso, c.mss
			if c.meta != nil {
				c.meta(f)
			}
			dst := make([]*backend.Frame, max(c.dst, 1)*8)
			if c.dst > 0 {
				dst = dst[:c.dst]
			}
			n, err := Segment(dst, f, pool, SegmentOptions{})
			require.Error(t, err)
			if c.want != nil {
				assert.ErrorIs(t, err, c.want)
			}
			assert.Zero(t, n)
			for _, s := range dst {
				assert.Nil(t, s)
			}
			_, err = SegmentCount(f)
			if c.want != nil {
				assert.ErrorIs(t, err, c.want)
			}
			backend.ReleaseOne(f)
			assert.Zero(t, pool.Outstanding())
		})
	}
}

func TestSegmentOutOfBuffers(t *testing.T) {
	for _, mbuf := range []bool{false, true} {
		pool, err := backend.NewPool(backend.PoolConfig{Mbuf: mbuf, Count: 20, Poison: true})
		require.NoError(t, err)
		p := pkt{payload: pattern(30000, 1)}
		f := load(t, pool, p.build(), false)
		f.GSO, f.GSOSize = backend.GSOTCPv4, 1000
		dst := make([]*backend.Frame, 64)
		n, err := Segment(dst, f, pool, SegmentOptions{})
		assert.ErrorIs(t, err, ErrNoBuffers)
		assert.Zero(t, n)
		backend.ReleaseOne(f)
		assert.Zero(t, pool.Outstanding())
	}
}

// FuzzSegment feeds arbitrary bytes marked as GSO frames to Segment,
// VerifyChecksums, CompleteChecksum and Coalesce: none may panic or leak a
// buffer, and whatever Segment makes must verify.
func FuzzSegment(f *testing.F) {
	for _, c := range tsoCases() {
		c.p.payload = c.p.payload[:min(len(c.p.payload), 3000)]
		f.Add(c.p.build(), uint8(c.gso), uint16(c.mss), uint16(c.p.l2Len()+c.p.l3Len()), uint16(c.p.csumOffset()))
	}
	f.Add([]byte{1, 2, 3}, uint8(1), uint16(0), uint16(0), uint16(0))
	pool, err := backend.NewPool(backend.PoolConfig{Mbuf: true, Count: 4096})
	require.NoError(f, err)
	dst := make([]*backend.Frame, 4096)
	f.Fuzz(func(t *testing.T, data []byte, gso uint8, mss uint16, start, offset uint16) {
		if len(data) > 70000 {
			return
		}
		fr := pool.AllocOne(len(data))
		if fr == nil || !fr.SetLen(len(data)) {
			t.Fatal("no frame")
		}
		fr.CopyFrom(data, 0)
		fr.GSO, fr.GSOSize = backend.GSOType(gso%4), mss
		VerifyChecksums(fr)
		n, err := Segment(dst, fr, pool, SegmentOptions{})
		if err == nil {
			for _, s := range dst[:n] {
				if s.Len() >= 14+20+8 && VerifyChecksums(s) != backend.CsumVerified {
					t.Fatal("a segment does not verify")
				}
			}
			n = Coalesce(dst[:n], pool, 0)
			backend.Release(dst[:n])
		}
		fr.Csum, fr.CsumStart, fr.CsumOffset = backend.CsumPartial, start, offset
		_ = CompleteChecksum(fr)
		backend.ReleaseOne(fr)
		if pool.Outstanding() != 0 {
			t.Fatal("buffers leaked")
		}
	})
}
