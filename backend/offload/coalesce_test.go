package offload

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

// TestCoalesceRoundTrip cuts TSO frames with Segment, merges the segments
// back with Coalesce and cuts the result again: the segments must be the
// same bytes both times, and a merged frame without FIN must be the original.
func TestCoalesceRoundTrip(t *testing.T) {
	for _, tp := range testPools(t) {
		for _, partial := range []bool{false, true} {
			for _, c := range tsoCases() {
				if c.gso == backend.GSOUDP {
					continue
				}
				t.Run(tp.name+"/"+c.name, func(t *testing.T) {
					orig := c.p.build()
					f := load(t, tp.pool, orig, false)
					f.GSO, f.GSOSize = c.gso, uint16(c.mss)
					n, err := SegmentCount(f)
					require.NoError(t, err)
					segs := make([]*backend.Frame, n)
					n, err = Segment(segs, f, tp.pool, SegmentOptions{KeepPartial: partial})
					require.NoError(t, err)
					var want [][]byte
					for _, s := range segs[:n] {
						want = append(want, completed(t, s))
					}

					m := Coalesce(segs[:n], tp.pool, 0)
					merges := n > 1 && len(c.p.ipOpts) == 0 && len(c.p.ext) == 0
					switch {
					case !merges:
						assert.Equal(t, n, m)
					case c.p.flags&flagFIN != 0:
						assert.Equal(t, 2, m, "the FIN segment stays apart")
					default:
						require.Equal(t, 1, m)
						assert.Equal(t, orig, segs[0].AppendTo(nil), "the original frame back")
					}

					var got [][]byte
					again := make([]*backend.Frame, 128)
					for _, r := range segs[:m] {
						if r.GSO == backend.GSONone {
							require.NoError(t, CompleteChecksum(r))
							got = append(got, r.AppendTo(nil))
							continue
						}
						assert.Equal(t, c.gso, r.GSO)
						assert.Equal(t, uint16(c.mss), r.GSOSize)
						assert.Equal(t, backend.CsumVerified, r.Csum)
						assert.Equal(t, backend.CsumVerified, VerifyChecksums(r))
						requireChecksumsGood(t, decode(t, r.AppendTo(nil)))
						k, err := Segment(again, r, tp.pool, SegmentOptions{})
						require.NoError(t, err)
						for _, s := range again[:k] {
							got = append(got, s.AppendTo(nil))
						}
						backend.Release(again[:k])
					}
					assert.Equal(t, want, got)
					backend.Release(segs[:m])
					backend.ReleaseOne(f)
				})
			}
		}
		assert.Zero(t, tp.pool.Outstanding())
	}
}

// completed is a copy of s's bytes with its checksum completed.
func completed(t *testing.T, s *backend.Frame) []byte {
	t.Helper()
	b := s.AppendTo(nil)
	if s.Csum == backend.CsumPartial {
		require.NoError(t, CompleteChecksumBytes(b, int(s.CsumStart), int(s.CsumOffset)))
	}
	return b
}

func TestCoalesce(t *testing.T) {
	seg := func(i int) pkt {
		return pkt{seq: 1000 + uint32(i)*1000, ack: 5, tcpOpts: tsOpt(7, 8), id: uint16(i), payload: pattern(1000, i)}
	}
	with := func(p pkt, f func(*pkt)) pkt { f(&p); return p }
	a0, a1, a2, a3 := seg(0), seg(1), seg(2), seg(3)
	b0 := with(seg(0), func(p *pkt) { p.ack = 99 })
	b1 := with(seg(1), func(p *pkt) { p.ack = 99 })
	v6 := func(p pkt) pkt { p.v6 = true; return p }
	flags := func(p pkt, fl byte) pkt { p.flags = flagACK | fl; return p }
	short := func(p pkt, n int) pkt { p.payload = p.payload[:n]; return p }
	pad := func(p pkt) pkt {
		p.payload = p.payload[:3]
		p.seq = 1000 + (p.seq-1000)/1000*3
		p.padding = 5
		return p
	}

	cases := []struct {
		name    string
		in      []pkt
		mangle  map[int]func(*backend.Frame)
		maxSize int
		want    []int // input segments per output frame
	}{
		{name: "in order", in: []pkt{a0, a1, a2, a3}, want: []int{4}},
		{name: "ipv6 in order", in: []pkt{v6(a0), v6(a1), v6(a2)}, want: []int{3}},
		{name: "last shorter", in: []pkt{a0, a1, short(a2, 10)}, want: []int{3}},
		{name: "short in the middle", in: []pkt{a0, short(a1, 500), with(a2, func(p *pkt) { p.seq -= 500 })}, want: []int{2, 1}},
		{name: "gap", in: []pkt{a0, a2, a3}, want: []int{1, 2}},
		{name: "retransmission", in: []pkt{a0, a1, a1}, want: []int{2, 1}},
		{name: "different ack", in: []pkt{a0, with(a1, func(p *pkt) { p.ack++ })}, want: []int{1, 1}},
		{name: "different timestamp", in: []pkt{a0, with(a1, func(p *pkt) { p.tcpOpts = tsOpt(8, 8) })}, want: []int{1, 1}},
		{name: "different window", in: []pkt{a0, with(a1, func(p *pkt) { p.window = 1 })}, want: []int{1, 1}},
		{name: "psh ends the run", in: []pkt{a0, flags(a1, flagPSH), a2}, want: []int{2, 1}},
		{name: "cwr starts a run", in: []pkt{a0, flags(a1, flagCWR), a2}, want: []int{1, 2}},
		{name: "fin", in: []pkt{a0, flags(a1, flagFIN)}, want: []int{1, 1}},
		{name: "syn", in: []pkt{flags(a0, flagSYN), a1}, want: []int{1, 1}},
		{name: "urg", in: []pkt{a0, flags(a1, flagURG)}, want: []int{1, 1}},
		{name: "pure ack", in: []pkt{a0, short(a1, 0)}, want: []int{1, 1}},
		{name: "ipv4 options", in: []pkt{with(a0, func(p *pkt) { p.ipOpts = []byte{1, 1, 1, 0} }), with(a1, func(p *pkt) { p.ipOpts = []byte{1, 1, 1, 0} })}, want: []int{1, 1}},
		{name: "udp", in: []pkt{with(a0, func(p *pkt) { p.proto = 17 }), with(a1, func(p *pkt) { p.proto = 17 })}, want: []int{1, 1}},
		{name: "another flow between", in: []pkt{a0, b0, a1}, want: []int{1, 1, 1}},
		{name: "two flows in runs", in: []pkt{a0, a1, b0, b1, a2}, want: []int{2, 2, 1}},
		{name: "ipv4 and ipv6", in: []pkt{a0, v6(a1)}, want: []int{1, 1}},
		{name: "size limit", in: []pkt{a0, a1, a2}, maxSize: 20 + 32 + 2000, want: []int{2, 1}},
		{name: "link padding", in: []pkt{pad(a0), pad(a1), pad(a2)}, want: []int{3}},
		{name: "bad checksum", in: []pkt{a0, a1, a2},
			mangle: map[int]func(*backend.Frame){1: func(f *backend.Frame) { f.Bytes()[100] ^= 1 }}, want: []int{1, 1, 1}},
		{name: "marked bad", in: []pkt{a0, a1, a2},
			mangle: map[int]func(*backend.Frame){1: func(f *backend.Frame) { f.Csum = backend.CsumBad }}, want: []int{1, 1, 1}},
		{name: "marked verified", in: []pkt{a0, a1, a2},
			mangle: map[int]func(*backend.Frame){1: func(f *backend.Frame) { f.Csum = backend.CsumVerified }}, want: []int{3}},
		{name: "gso frame", in: []pkt{a0, a1, a2},
			mangle: map[int]func(*backend.Frame){1: func(f *backend.Frame) { f.GSO, f.GSOSize = backend.GSOTCPv4, 500 }}, want: []int{1, 1, 1}},
		{name: "vlan metadata differs", in: []pkt{a0, a1},
			mangle: map[int]func(*backend.Frame){1: func(f *backend.Frame) { f.HasVLAN, f.VLAN = true, 7 }}, want: []int{1, 1}},
		{name: "ttl differs", in: []pkt{a0, a1},
			mangle: map[int]func(*backend.Frame){1: func(f *backend.Frame) { f.Bytes()[22]--; f.Bytes()[24]++ }}, want: []int{1, 1}},
		{name: "one frame", in: []pkt{a0}, want: []int{1}},
		{name: "empty batch", want: []int{}},
	}
	for _, tp := range testPools(t) {
		for _, c := range cases {
			t.Run(tp.name+"/"+c.name, func(t *testing.T) {
				frames := make([]*backend.Frame, len(c.in)+3)
				var inputs [][]byte
				for i, p := range c.in {
					data := p.build()
					inputs = append(inputs, data)
					frames[i] = load(t, tp.pool, data, false)
					if m := c.mangle[i]; m != nil {
						m(frames[i])
						inputs[i] = frames[i].AppendTo(nil)
					}
				}
				n := Coalesce(frames[:len(c.in)], tp.pool, c.maxSize)
				require.Equal(t, len(c.want), n)
				for _, f := range frames[n:] {
					assert.Nil(t, f)
				}
				next := 0
				for i, k := range c.want {
					f := frames[i]
					if k == 1 {
						assert.Equal(t, inputs[next], f.AppendTo(nil), "frame %d passed through", i)
						next++
						continue
					}
					assert.Equal(t, backend.CsumVerified, f.Csum)
					assert.Equal(t, backend.CsumVerified, VerifyChecksums(f))
					assert.Equal(t, uint16(len(c.in[next].payload)), f.GSOSize)
					pk := decode(t, f.AppendTo(nil))
					requireChecksumsGood(t, pk)
					var payload []byte
					for _, p := range c.in[next : next+k] {
						payload = append(payload, p.payload...)
					}
					assert.Equal(t, payload, pk.ApplicationLayer().Payload(), "frame %d", i)
					next += k
				}
				assert.Equal(t, len(c.in), next)
				backend.Release(frames[:n])
				assert.Zero(t, tp.pool.Outstanding())
			})
		}
	}
}

// noFrames is an allocator that is always out of buffers.
type noFrames struct{}

func (noFrames) Alloc([]*backend.Frame, int) int { return 0 }

func TestCoalesceOutOfBuffers(t *testing.T) {
	pool, err := backend.NewPool(backend.PoolConfig{Count: 8})
	require.NoError(t, err)
	var frames []*backend.Frame
	var want [][]byte
	for i := range 3 {
		p := pkt{seq: uint32(i * 100), payload: pattern(100, i)}
		want = append(want, p.build())
		frames = append(frames, load(t, pool, want[i], false))
	}
	n := Coalesce(frames, noFrames{}, 0)
	require.Equal(t, 3, n)
	for i, f := range frames {
		assert.Equal(t, want[i], f.AppendTo(nil))
		assert.Equal(t, backend.CsumVerified, f.Csum, "checked on the way")
	}
	backend.Release(frames)
	assert.Zero(t, pool.Outstanding())
}
