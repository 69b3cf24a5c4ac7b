package tap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

func TestVnetHdrRoundTrip(t *testing.T) {
	h := vnetHdr{flags: 1, gsoType: 4, hdrLen: 74, gsoSize: 1440, csumStart: 54, csumOffset: 16}
	var b [vnetHdrLen]byte
	h.encode(b[:])
	// virtio 1.0 §5.1.6: little-endian fields after two bytes.
	assert.Equal(t, []byte{1, 4, 74, 0, 0xa0, 0x05, 54, 0, 16, 0, 0, 0}, b[:])
	var back vnetHdr
	back.decode(b[:])
	assert.Equal(t, h, back)
}

func TestVnetHdrToMeta(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    vnetHdr
		want backend.Meta
	}{
		{"nothing known", vnetHdr{}, backend.Meta{}},
		{"data valid", vnetHdr{flags: unix.VIRTIO_NET_HDR_F_DATA_VALID}, backend.Meta{Csum: backend.CsumVerified}},
		{"needs csum", vnetHdr{flags: unix.VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6},
			backend.Meta{Csum: backend.CsumPartial, CsumStart: 34, CsumOffset: 6}},
		{"tcpv4 gro", vnetHdr{flags: 1, gsoType: unix.VIRTIO_NET_HDR_GSO_TCPV4, gsoSize: 1448, csumStart: 34, csumOffset: 16},
			backend.Meta{Csum: backend.CsumPartial, CsumStart: 34, CsumOffset: 16, GSO: backend.GSOTCPv4, GSOSize: 1448}},
		{"tcpv6 gro with ecn", vnetHdr{flags: 1, gsoType: unix.VIRTIO_NET_HDR_GSO_TCPV6 | unix.VIRTIO_NET_HDR_GSO_ECN, gsoSize: 1428, csumStart: 54, csumOffset: 16},
			backend.Meta{Csum: backend.CsumPartial, CsumStart: 54, CsumOffset: 16, GSO: backend.GSOTCPv6, GSOSize: 1428}},
		{"udp l4", vnetHdr{flags: 1, gsoType: unix.VIRTIO_NET_HDR_GSO_UDP_L4, gsoSize: 1000, csumStart: 34, csumOffset: 6},
			backend.Meta{Csum: backend.CsumPartial, CsumStart: 34, CsumOffset: 6, GSO: backend.GSOUDP, GSOSize: 1000}},
		{"legacy ufo is not ours", vnetHdr{gsoType: unix.VIRTIO_NET_HDR_GSO_UDP, gsoSize: 1000}, backend.Meta{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m backend.Meta
			tc.h.toMeta(&m)
			assert.Equal(t, tc.want, m)
		})
	}
}

func TestVnetHdrFromFrame(t *testing.T) {
	pool, err := backend.NewPool(backend.PoolConfig{})
	require.NoError(t, err)
	frame := func(flags uint8, set func(f *backend.Frame)) *backend.Frame {
		b := make([]byte, 14+20+20+3000)
		b[14+20+12] = 5 << 4 // data offset: 20 bytes
		b[14+20+13] = flags
		f := pool.AllocOne(len(b))
		require.True(t, f.SetLen(len(b)))
		f.CopyFrom(b, 0)
		set(f)
		t.Cleanup(func() { backend.ReleaseOne(f) })
		return f
	}
	tso := func(f *backend.Frame) {
		f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 16
		f.GSO, f.GSOSize = backend.GSOTCPv4, 1460
	}
	for _, tc := range []struct {
		name string
		f    *backend.Frame
		ok   bool
		want vnetHdr
	}{
		{"plain", frame(0, func(*backend.Frame) {}), true, vnetHdr{}},
		{"partial", frame(0, func(f *backend.Frame) {
			f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 6
		}), true, vnetHdr{flags: unix.VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6}},
		{"tso, header length from the data offset", frame(0x10, tso), true,
			vnetHdr{flags: 1, gsoType: unix.VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1460, csumStart: 34, csumOffset: 16}},
		{"tso, header length from the metadata", frame(0x10, func(f *backend.Frame) {
			tso(f)
			f.GSO, f.L4Len = backend.GSOTCPv6, 32
		}), true, vnetHdr{flags: 1, gsoType: unix.VIRTIO_NET_HDR_GSO_TCPV6, hdrLen: 66, gsoSize: 1460, csumStart: 34, csumOffset: 16}},
		{"tso with cwr", frame(0x80|0x10, tso), true,
			vnetHdr{flags: 1, gsoType: unix.VIRTIO_NET_HDR_GSO_TCPV4 | unix.VIRTIO_NET_HDR_GSO_ECN, hdrLen: 54, gsoSize: 1460, csumStart: 34, csumOffset: 16}},
		{"tso without partial checksum", frame(0x10, func(f *backend.Frame) {
			tso(f)
			f.Csum = backend.CsumNone
		}), false, vnetHdr{}},
		{"tso without segment size", frame(0x10, func(f *backend.Frame) {
			tso(f)
			f.GSOSize = 0
		}), false, vnetHdr{}},
		{"uso is done in software", frame(0, func(f *backend.Frame) {
			f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 6
			f.GSO, f.GSOSize = backend.GSOUDP, 1000
		}), false, vnetHdr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h vnetHdr
			ok := h.fromFrame(tc.f)
			assert.Equal(t, tc.ok, ok)
			if ok {
				assert.Equal(t, tc.want, h)
			}
		})
	}
}
