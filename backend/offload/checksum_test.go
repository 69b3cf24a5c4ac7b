package offload

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

func TestCompleteChecksum(t *testing.T) {
	cases := []struct {
		name string
		p    pkt
	}{
		{"tcpv4", pkt{payload: pattern(1000, 1)}},
		{"tcpv4 odd payload", pkt{payload: pattern(1001, 2), tcpOpts: tsOpt(1, 2)}},
		{"tcpv4 chained", pkt{payload: pattern(9001, 3)}},
		{"tcpv4 64KiB", pkt{payload: pattern(65535-40, 4)}},
		{"tcpv6", pkt{v6: true, payload: pattern(777, 5)}},
		{"tcpv6 chained with extension headers", pkt{v6: true, ext: []uint8{0, 60}, payload: pattern(8999, 6)}},
		{"udpv4", pkt{proto: 17, payload: pattern(333, 7)}},
		{"udpv6 chained", pkt{proto: 17, v6: true, payload: pattern(6000, 8)}},
		{"udpv4 vlan no payload", pkt{proto: 17, vlan: true}},
		// A sum of zero: TCP stores 0x0000, UDP its twin 0xffff.
		{"tcpv4 zero sum", zeroSum(t, pkt{payload: pattern(1000, 9)})},
		{"tcpv6 zero sum chained", zeroSum(t, pkt{v6: true, payload: pattern(5000, 10)})},
		{"udpv4 zero sum", zeroSum(t, pkt{proto: 17, payload: pattern(300, 11)})},
	}
	for _, tp := range testPools(t) {
		for _, odd := range []bool{false, true} {
			for _, c := range cases {
				name := tp.name + "/" + c.name
				if odd {
					name += "/odd head"
				}
				t.Run(name, func(t *testing.T) {
					want := c.p.build()
					f := load(t, tp.pool, c.p.partial(want), odd)
					f.Csum = backend.CsumPartial
					f.CsumStart = uint16(c.p.l2Len() + c.p.l3Len())
					f.CsumOffset = uint16(c.p.csumOffset())
					require.NoError(t, CompleteChecksum(f))
					assert.Equal(t, backend.CsumNone, f.Csum)
					assert.Equal(t, want, f.AppendTo(nil))
					assert.Equal(t, backend.CsumVerified, VerifyChecksums(f))
					requireChecksumsGood(t, decode(t, f.AppendTo(nil)))

					lin := c.p.partial(want)
					require.NoError(t, CompleteChecksumBytes(lin, int(f.CsumStart), int(f.CsumOffset)))
					assert.Equal(t, want, lin, "linear copy")
					backend.ReleaseOne(f)
				})
			}
		}
		assert.Zero(t, tp.pool.Outstanding())
	}
}

// zeroSum returns p with its last two payload bytes (p's payload is of
// even length) set so that the transport checksum's sum is zero: what was
// the checksum with them zero.
func zeroSum(t *testing.T, p pkt) pkt {
	t.Helper()
	require.Zero(t, len(p.payload)%2)
	p.payload = append([]byte(nil), p.payload...)
	last := p.payload[len(p.payload)-2:]
	last[0], last[1] = 0, 0
	b := p.build()
	off := p.l2Len() + p.l3Len() + p.csumOffset()
	copy(last, b[off:off+2])
	b = p.build()
	want := uint16(0)
	if p.protocol() == 17 {
		want = 0xffff
	}
	require.Equal(t, want, binary.BigEndian.Uint16(b[off:]), "the checksum field of a zero sum")
	return p
}

func TestCompleteChecksumRefusesBadPartial(t *testing.T) {
	pool, err := backend.NewPool(backend.PoolConfig{Count: 8})
	require.NoError(t, err)
	data := pkt{payload: pattern(10, 0)}.build()
	for _, c := range []struct {
		name          string
		start, offset uint16
	}{
		{"field past the end", uint16(len(data) - 1), 0},
		{"offset past the end", 34, 1000},
		{"odd offset", 34, 15},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := load(t, pool, data, false)
			f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, c.start, c.offset
			assert.ErrorIs(t, CompleteChecksum(f), ErrMalformed)
			assert.Equal(t, backend.CsumPartial, f.Csum, "left unchanged")
			assert.Equal(t, data, f.AppendTo(nil))
			assert.ErrorIs(t, CompleteChecksumBytes(append([]byte(nil), data...), int(c.start), int(c.offset)), ErrMalformed)
			backend.ReleaseOne(f)
		})
	}
	t.Run("not partial", func(t *testing.T) {
		f := load(t, pool, data, false)
		f.Csum = backend.CsumVerified
		require.NoError(t, CompleteChecksum(f))
		assert.Equal(t, backend.CsumVerified, f.Csum)
		backend.ReleaseOne(f)
	})
	assert.ErrorIs(t, CompleteChecksumBytes(data, -1, 2), ErrMalformed)
	assert.Zero(t, pool.Outstanding())
}

func TestVerifyChecksums(t *testing.T) {
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x10; return b }
	}
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	cases := []struct {
		name   string
		data   []byte
		mangle func([]byte) []byte
		want   backend.CsumState
	}{
		{"tcpv4", pkt{payload: pattern(100, 1)}.build(), nil, backend.CsumVerified},
		{"tcpv4 with options and vlan", pkt{vlan: true, ipOpts: []byte{1, 1, 1, 0}, tcpOpts: tsOpt(5, 6), payload: pattern(9, 1)}.build(), nil, backend.CsumVerified},
		{"tcpv4 padded", pkt{padding: 6}.build(), nil, backend.CsumVerified},
		{"tcpv6", pkt{v6: true, payload: pattern(101, 1)}.build(), nil, backend.CsumVerified},
		{"tcpv6 extension headers", pkt{v6: true, ext: []uint8{0, 43, 60}, payload: pattern(17, 1)}.build(), nil, backend.CsumVerified},
		{"udpv4", pkt{proto: 17, payload: pattern(99, 1)}.build(), nil, backend.CsumVerified},
		{"udpv6", pkt{proto: 17, v6: true, payload: pattern(99, 1)}.build(), nil, backend.CsumVerified},
		{"icmpv4", pkt{proto: 1, payload: pattern(56, 1)}.build(), nil, backend.CsumVerified},
		{"icmpv6", pkt{proto: 58, v6: true, payload: pattern(56, 1)}.build(), nil, backend.CsumVerified},
		{"udpv4 without checksum", pkt{proto: 17, payload: pattern(9, 1)}.build(),
			func(b []byte) []byte { b[40], b[41] = 0, 0; return b }, backend.CsumVerified},
		{"udpv6 without checksum", pkt{proto: 17, v6: true, payload: pattern(9, 1)}.build(),
			func(b []byte) []byte { b[60], b[61] = 0, 0; return b }, backend.CsumBad},
		{"tcpv4 payload bit flipped", pkt{payload: pattern(100, 1)}.build(), flip(80), backend.CsumBad},
		{"tcpv4 header checksum wrong", pkt{payload: pattern(100, 1)}.build(), flip(22), backend.CsumBad},
		{"tcpv6 address bit flipped", pkt{v6: true, payload: pattern(100, 1)}.build(), flip(30), backend.CsumBad},
		{"udpv6 payload bit flipped", pkt{proto: 17, v6: true, payload: pattern(100, 1)}.build(), flip(90), backend.CsumBad},
		{"icmpv4 bit flipped", pkt{proto: 1, payload: pattern(56, 1)}.build(), flip(40), backend.CsumBad},
		{"tcpv4 truncated", pkt{payload: pattern(100, 1)}.build(), func(b []byte) []byte { return b[:100] }, backend.CsumBad},
		{"tcpv6 truncated", pkt{v6: true, payload: pattern(100, 1)}.build(), func(b []byte) []byte { return b[:60] }, backend.CsumBad},
		{"ipv4 header cut", pkt{}.build(), func(b []byte) []byte { return b[:20] }, backend.CsumBad},
		{"tcp header cut", pkt{}.build(), func(b []byte) []byte { b[17] = 30; return b[:44] }, backend.CsumBad},
		{"shorter than ethernet", pkt{}.build(), func(b []byte) []byte { return b[:10] }, backend.CsumBad},
		{"arp", arp, nil, backend.CsumNone},
		{"ipv4 fragment", pkt{frag: true, payload: pattern(100, 1)}.build(), nil, backend.CsumNone},
		{"ipv4 other protocol", pkt{proto: 47, payload: pattern(10, 1)}.build(), nil, backend.CsumNone},
		{"ipv6 routing header with segments left", pkt{v6: true, ext: []uint8{43}}.build(),
			func(b []byte) []byte { b[57] = 1; return b }, backend.CsumNone},
	}
	for _, tp := range testPools(t) {
		for _, c := range cases {
			t.Run(tp.name+"/"+c.name, func(t *testing.T) {
				data := append([]byte(nil), c.data...)
				if c.mangle != nil {
					data = c.mangle(data)
				}
				f := load(t, tp.pool, data, false)
				assert.Equal(t, c.want, VerifyChecksums(f))
				assert.Equal(t, data, f.AppendTo(nil), "unchanged")
				backend.ReleaseOne(f)
			})
		}
		assert.Zero(t, tp.pool.Outstanding())
	}
}

// TestVerifyChecksumsCatchesEveryBitFlip flips every bit a checksum covers,
// one at a time: the IPv4 header and everything after it; for IPv6 all but
// the first 8 bytes, whose version, class, flow label and hop limit no
// checksum covers.
func TestVerifyChecksumsCatchesEveryBitFlip(t *testing.T) {
	pool, err := backend.NewPool(backend.PoolConfig{Count: 8})
	require.NoError(t, err)
	for _, c := range []struct {
		name  string
		p     pkt
		first int
	}{
		{"tcpv4", pkt{tcpOpts: tsOpt(1, 2), payload: pattern(61, 3)}, 14},
		{"udpv4", pkt{proto: 17, payload: pattern(61, 3)}, 14},
		{"tcpv6", pkt{v6: true, payload: pattern(61, 3)}, 22},
		{"udpv6", pkt{v6: true, proto: 17, payload: pattern(61, 3)}, 22},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := c.p.build()
			f := load(t, pool, data, false)
			require.Equal(t, backend.CsumVerified, VerifyChecksums(f))
			for off := c.first; off < len(data); off++ {
				for bit := range 8 {
					f.Bytes()[off] ^= 1 << bit
					require.Equal(t, backend.CsumBad, VerifyChecksums(f), "byte %d bit %d", off, bit)
					f.Bytes()[off] ^= 1 << bit
				}
			}
			backend.ReleaseOne(f)
		})
	}
	assert.Zero(t, pool.Outstanding())
}
