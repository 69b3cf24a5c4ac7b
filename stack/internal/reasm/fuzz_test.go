package reasm

import (
	"testing"
)

// encodeOps is decodeOps' inverse for ops it can express, to seed the
// corpus with realistic sequences.
func encodeOps(ops []op) []byte {
	var b []byte
	for _, o := range ops {
		b0 := byte(o.key&7) << 2
		if o.expire {
			b0 |= 3
		}
		if o.more {
			b0 |= 0x20
		}
		if o.corrupt {
			b0 |= 0x40
		}
		units := o.off / 8
		dt := min(o.dt/int64(50e6), 63)
		b = append(b, b0, byte(units), byte(units>>8)&3|byte(dt)<<2, byte(min(o.n/8, 63)))
	}
	return b
}

// FuzzReassemble drives a Reassembler with limits and a sequence of Add and
// Expire calls decoded from the input, and checks that it never panics,
// keeps its invariants (Bytes within MaxBytes, counters adding up, pieces
// sorted and disjoint), returns only bytes that were given at their
// positions, and holds nothing once everything has expired.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte{0x07, 0x19})
	f.Add(append([]byte{0x05, 0x1b}, encodeOps(workload(1, 40))...))
	f.Add(append([]byte{0xfd, 0x1f}, encodeOps(workload(2, 60))...))
	f.Add(append([]byte{0x0f, 0xff}, encodeOps(workload(3, 60))...))
	f.Add([]byte{0x07, 0x1f,
		0x20, 0x00, 0x00, 0x02, // key 0 [0,16) more
		0x00, 0x02, 0x00, 0x01, // key 0 [16,24) final
		0x60, 0x00, 0x00, 0x01, // key 0 [0,8) more corrupt: new datagram
		0x03, 0x00, 0xfc, 0x00, // expire after 3.15 s
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, rest := decodeConfig(b)
		h := newHarness(t, cfg)
		ops := decodeOps(rest)
		h.run(ops)
		adds := 0
		for _, o := range ops {
			if !o.expire {
				adds++
			}
		}
		if got := h.r.Stats().ReasmReqds; got != uint64(adds) {
			t.Fatalf("ReasmReqds %d, %d fragments added", got, adds)
		}
		h.finish()
	})
}
