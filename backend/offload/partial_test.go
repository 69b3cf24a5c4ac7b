package offload

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

// A checksum left to a NIC is recognised for TCP and UDP over IPv4 and
// IPv6, behind VLAN tags, IPv4 options and IPv6 extension headers, in
// chains; completed as a device would, it verifies and gives the bytes
// the sender meant. Nothing else is taken for one.
func TestMarkPartial(t *testing.T) {
	marked := []struct {
		name string
		p    pkt
	}{
		{"tcpv4", pkt{payload: pattern(100, 1)}},
		{"tcpv4 vlan and options", pkt{vlan: true, ipOpts: []byte{1, 1, 1, 0}, tcpOpts: tsOpt(5, 6), payload: pattern(9, 1)}},
		{"tcpv4 chained", pkt{payload: pattern(9001, 3)}},
		{"tcpv6 extension headers", pkt{v6: true, ext: []uint8{0, 60}, payload: pattern(17, 1)}},
		{"udpv4", pkt{proto: 17, payload: pattern(99, 1)}},
		{"udpv6 chained", pkt{proto: 17, v6: true, payload: pattern(6000, 8)}},
	}
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x10; return b }
	}
	tcp4, udp6 := pkt{payload: pattern(100, 1)}, pkt{proto: 17, v6: true, payload: pattern(99, 1)}
	left := []struct {
		name string
		data []byte
	}{
		{"tcpv4 right", tcp4.build()},
		{"udpv6 right", udp6.build()},
		{"tcpv4 wrong", flip(14 + 20 + 16)(tcp4.build())},
		{"tcpv4 partial, header checksum wrong", flip(14 + 10)(tcp4.partial(tcp4.build()))},
		{"tcpv4 partial, cut short", tcp4.partial(tcp4.build())[:100]},
		{"ipv4 fragment", pkt{frag: true, payload: pattern(100, 1)}.build()},
		{"icmpv4", pkt{proto: 1, payload: pattern(56, 1)}.build()},
		{"shorter than ethernet", tcp4.build()[:10]},
	}
	for _, tp := range testPools(t) {
		for _, c := range marked {
			t.Run(tp.name+"/"+c.name, func(t *testing.T) {
				want := c.p.build()
				f := load(t, tp.pool, c.p.partial(want), false)
				defer backend.ReleaseOne(f)
				require.True(t, MarkPartial(f))
				assert.Equal(t, backend.CsumPartial, f.Csum)
				assert.Equal(t, [2]uint16{uint16(c.p.l2Len() + c.p.l3Len()), uint16(c.p.csumOffset())}, [2]uint16{f.CsumStart, f.CsumOffset})
				require.NoError(t, CompleteChecksum(f))
				assert.Equal(t, want, f.AppendTo(nil))
				assert.Equal(t, backend.CsumVerified, VerifyChecksums(f))
			})
		}
		for _, c := range left {
			t.Run(tp.name+"/"+c.name, func(t *testing.T) {
				f := load(t, tp.pool, c.data, false)
				defer backend.ReleaseOne(f)
				assert.False(t, MarkPartial(f))
				assert.Equal(t, backend.CsumNone, f.Csum)
			})
		}
		t.Run(tp.name+"/a state already known", func(t *testing.T) {
			f := load(t, tp.pool, tcp4.partial(tcp4.build()), false)
			defer backend.ReleaseOne(f)
			f.Csum = backend.CsumBad
			assert.False(t, MarkPartial(f))
			assert.Equal(t, backend.CsumBad, f.Csum)
		})
	}
}

// FuzzMarkPartial: whatever MarkPartial marks, a device can complete, and
// the result verifies unless link padding follows the IP packet (a device
// sums to the end of the frame).
func FuzzMarkPartial(f *testing.F) {
	for _, p := range []pkt{{payload: pattern(100, 1)}, {v6: true, proto: 17, payload: pattern(9, 2)}, {vlan: true, ext: []uint8{0}, v6: true}} {
		f.Add(p.build())
		f.Add(p.partial(p.build()))
	}
	pool, err := backend.NewPool(backend.PoolConfig{Mbuf: true, Count: 64})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 65535+22 {
			return
		}
		fr := pool.AllocOne(len(data))
		if fr == nil {
			t.Skip("no buffers")
		}
		defer backend.ReleaseOne(fr)
		require.True(t, fr.SetLen(len(data)))
		fr.CopyFrom(data, 0)
		if !MarkPartial(fr) {
			require.Equal(t, backend.CsumNone, fr.Csum)
			return
		}
		h, err := ParseHeaders(fr)
		require.NoError(t, err)
		require.NoError(t, CompleteChecksum(fr))
		if fr.Len() == h.L2Len+h.IPLen {
			require.Equal(t, backend.CsumVerified, VerifyChecksums(fr))
		}
	})
}
