package offload

import (
	"encoding/binary"
	"testing"

	"github.com/ustack/ustack/backend"
)

// FuzzCoalesce feeds runs of arbitrary received frames, each with its own
// checksum state, to Coalesce: software GRO sees the wire's bytes before
// the stack does. It may not panic, leak a buffer or make frames up.
func FuzzCoalesce(f *testing.F) {
	seg := func(i int) pkt {
		return pkt{seq: 1000 + uint32(i)*200, ack: 5, tcpOpts: tsOpt(7, 8), id: uint16(i), payload: pattern(200, i)}
	}
	rec := func(csum byte, b []byte) []byte {
		return append(binary.BigEndian.AppendUint16([]byte{csum}, uint16(len(b))), b...)
	}
	in := func(ps ...pkt) []byte {
		var b []byte
		for _, p := range ps {
			b = append(b, rec(byte(backend.CsumVerified), p.build())...)
		}
		return b
	}
	v6 := func(p pkt) pkt { p.v6 = true; return p }
	f.Add(in(seg(0), seg(1), seg(2)), uint16(0))
	f.Add(in(v6(seg(0)), v6(seg(1))), uint16(1500))
	f.Add(append(in(seg(0)), rec(byte(backend.CsumNone), seg(1).build())...), uint16(0))
	f.Add(in(seg(0), seg(2), seg(1)), uint16(65535))
	pool, err := backend.NewPool(backend.PoolConfig{Mbuf: true, Count: 4096})
	if err != nil {
		f.Fatal(err)
	}
	frames := make([]*backend.Frame, 0, 64)
	f.Fuzz(func(t *testing.T, data []byte, maxSize uint16) {
		frames = frames[:0]
		for len(data) >= 3 && len(frames) < cap(frames) {
			csum, n := data[0], int(binary.BigEndian.Uint16(data[1:]))
			data = data[3:]
			b := data[:min(n, len(data))]
			data = data[len(b):]
			fr := pool.AllocOne(len(b))
			if fr == nil || !fr.SetLen(len(b)) {
				t.Fatal("no frame")
			}
			fr.CopyFrom(b, 0)
			fr.Csum = backend.CsumState(csum % 4)
			frames = append(frames, fr)
		}
		n := Coalesce(frames, pool, int(maxSize))
		if n > len(frames) {
			t.Fatalf("%d frames out of %d", n, len(frames))
		}
		for _, fr := range frames[:n] {
			_ = VerifyChecksums(fr)
		}
		backend.Release(frames[:n])
		if pool.Outstanding() != 0 {
			t.Fatalf("%d buffers leaked", pool.Outstanding())
		}
	})
}
