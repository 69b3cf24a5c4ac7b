package sack

import (
	"encoding/binary"
	"testing"

	"github.com/ustack/ustack/stack/tcp/seq"
)

// FuzzScoreboard feeds peer-controlled SACK blocks to a scoreboard and checks
// its invariants after every ACK: ranges sorted, disjoint, not touching,
// inside [SND.UNA, SND.NXT), at most MaxRanges, SackedBytes their sum, and
// the RFC 6675 queries consistent with them.
func FuzzScoreboard(f *testing.F) {
	f.Add(uint32(0xFFFF_F000), []byte{0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x30, 0, 0, 0, 0x40, 0})
	f.Add(uint32(5000), []byte{0, 0, 0x01, 0xf4, 0, 0, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, base uint32, data []byte) {
		una := seq.Value(base)
		const span = 1 << 16
		s := New(536)
		var blocks [4]Block
		for len(data) >= 8 {
			n := 0
			for n < 4 && len(data) >= 8 {
				// Blocks relative to SND.UNA, some reaching below it or
				// beyond SND.NXT.
				a := int(int16(binary.BigEndian.Uint16(data)))
				l := int(binary.BigEndian.Uint16(data[2:]))
				blocks[n] = Block{Start: una.Add(a * 4), End: una.Add(a*4 + l)}
				adv := int(data[4])
				n++
				data = data[8:]
				if adv > 200 {
					una = una.Add(adv)
					break
				}
			}
			nxt := una.Add(span)
			before := s.SackedBytes()
			newly, _ := s.Update(una, nxt, blocks[:n])
			if newly < 0 || s.SackedBytes() > before+newly {
				t.Fatalf("newly %d, sacked %d -> %d", newly, before, s.SackedBytes())
			}
			check(t, &s, una, nxt)
		}
	})
}

func check(t *testing.T, s *Scoreboard, una, nxt seq.Value) {
	t.Helper()
	rs := s.Ranges()
	if len(rs) > MaxRanges {
		t.Fatalf("%d ranges", len(rs))
	}
	sum := 0
	for i, r := range rs {
		if !r.Start.LessThan(r.End) || r.Start.LessThan(una) || r.End.GreaterThan(nxt) {
			t.Fatalf("range %d %v outside [%d, %d)", i, r, una, nxt)
		}
		if i > 0 && !rs[i-1].End.LessThan(r.Start) {
			t.Fatalf("ranges %v and %v overlap or touch", rs[i-1], r)
		}
		sum += r.Len()
	}
	if sum != s.SackedBytes() {
		t.Fatalf("SackedBytes %d, ranges sum to %d", s.SackedBytes(), sum)
	}
	flight := int(nxt.Sub(una))
	if p := s.Pipe(una, nxt, una); p < 0 || p > flight-sum {
		t.Fatalf("pipe %d with %d outstanding, %d SACKed", p, flight, sum)
	}
	if p := s.Pipe(una, nxt, nxt); p > 2*(flight-sum) {
		t.Fatalf("pipe %d after retransmitting everything", p)
	}
	if g, ok := s.NextSeg(una, nxt, una, 0); ok {
		if g.Len <= 0 || g.Len > 536 || s.Sacked(g.Start) || s.Sacked(g.End().Add(-1)) || g.Start.LessThan(una) {
			t.Fatalf("NextSeg %+v", g)
		}
	}
	if g, ok := s.Rescue(una, nxt); ok {
		if g.Len <= 0 || s.Sacked(g.Start) || s.Sacked(g.End().Add(-1)) || g.End().GreaterThan(nxt) {
			t.Fatalf("Rescue %+v", g)
		}
	}
}
