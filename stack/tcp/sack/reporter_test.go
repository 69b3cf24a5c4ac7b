package sack

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ustack/ustack/stack/tcp/seq"
)

// receiver is a minimal out-of-order queue for the tests.
type receiver struct {
	rcvNxt seq.Value
	ooo    []Block
	rep    Reporter
}

// arrive takes a segment [start, end) and returns the SACK blocks of the
// ACK it triggers.
func (r *receiver) arrive(start, end seq.Value, limit int) []Block {
	switch {
	case end.LessEq(r.rcvNxt):
		r.rep.Duplicate(start, end)
	case start == r.rcvNxt:
		r.rcvNxt = end
		// Pull in queued blocks that are now in order.
		for changed := true; changed; {
			changed = false
			for i, b := range r.ooo {
				if b.Start.LessEq(r.rcvNxt) {
					r.rcvNxt = seq.Max(r.rcvNxt, b.End)
					r.ooo = append(r.ooo[:i], r.ooo[i+1:]...)
					changed = true
					break
				}
			}
		}
	default:
		if r.has(start, end) {
			r.rep.Duplicate(start, end)
			break
		}
		r.insert(Block{Start: start, End: end})
		r.rep.Arrived(start)
	}
	return r.rep.Blocks(nil, r.rcvNxt, r.ooo, limit)
}

func (r *receiver) has(start, end seq.Value) bool {
	for _, b := range r.ooo {
		if b.Start.LessEq(start) && end.LessEq(b.End) {
			return true
		}
	}
	return false
}

// insert adds b and merges touching blocks; the order of r.ooo is
// deliberately not sorted.
func (r *receiver) insert(b Block) {
	for i := 0; i < len(r.ooo); {
		c := r.ooo[i]
		if c.End.GreaterEq(b.Start) && b.End.GreaterEq(c.Start) {
			b = Block{Start: seq.Min(b.Start, c.Start), End: seq.Max(b.End, c.End)}
			r.ooo = append(r.ooo[:i], r.ooo[i+1:]...)
			continue
		}
		i++
	}
	r.ooo = append(r.ooo, b)
}

// TestRFC2018Case3Receiver is RFC 2018 §7 case 3 from the receiver: eight
// 500-byte segments from 5000, the 2nd, 4th, 6th and 8th lost; then the 4th
// arrives out of order, then the 2nd.
func TestRFC2018Case3Receiver(t *testing.T) {
	r := receiver{rcvNxt: 5000}
	steps := []struct {
		seg  seq.Value
		ack  seq.Value
		want []Block
	}{
		{seg: 5000, ack: 5500, want: nil},
		{seg: 6000, ack: 5500, want: []Block{blk(6000, 6500)}},
		{seg: 7000, ack: 5500, want: []Block{blk(7000, 7500), blk(6000, 6500)}},
		{seg: 8000, ack: 5500, want: []Block{blk(8000, 8500), blk(7000, 7500), blk(6000, 6500)}},
		// The 4th segment arrives: its block comes first.
		{seg: 6500, ack: 5500, want: []Block{blk(6000, 7500), blk(8000, 8500)}},
		// The 2nd arrives: it advances the ACK and reports nothing new.
		{seg: 5500, ack: 7500, want: []Block{blk(8000, 8500)}},
	}
	for _, st := range steps {
		got := r.arrive(st.seg, st.seg+500, MaxBlocks)
		assert.Equal(t, st.ack, r.rcvNxt, "segment %d", st.seg)
		assert.Equal(t, st.want, got, "segment %d", st.seg)
	}
}

// TestRFC2018Case2Receiver is RFC 2018 §7 case 2: the first of eight
// segments is lost; the one block grows with each ACK.
func TestRFC2018Case2Receiver(t *testing.T) {
	r := receiver{rcvNxt: 5000}
	for right := seq.Value(6000); right <= 9000; right += 500 {
		got := r.arrive(right-500, right, MaxBlocks)
		assert.Equal(t, []Block{blk(5500, right)}, got)
	}
}

func TestBlocksLimit(t *testing.T) {
	r := receiver{rcvNxt: 0}
	for _, s := range []seq.Value{1000, 3000, 5000, 7000, 9000} {
		r.arrive(s, s+500, MaxBlocks)
	}
	// Five blocks: only the three most recent fit with timestamps.
	got := r.rep.Blocks(nil, r.rcvNxt, r.ooo, MaxBlocksWithTimestamps)
	assert.Equal(t, []Block{blk(9000, 9500), blk(7000, 7500), blk(5000, 5500)}, got)
	// An ACK without new arrivals repeats the last report's order (RFC
	// 2018 §4), and fills the last slot with the highest block left.
	got = r.rep.Blocks(nil, r.rcvNxt, r.ooo, MaxBlocks)
	assert.Equal(t, []Block{blk(9000, 9500), blk(7000, 7500), blk(5000, 5500), blk(3000, 3500)}, got)
	assert.Empty(t, r.rep.Blocks(nil, r.rcvNxt, r.ooo, 0))
}

// TestEachBlockRepeated: RFC 2018 §4 "any segment remaining part of a
// non-contiguous block of data held by the data receiver is reported in at
// least three successive SACK options".
func TestEachBlockRepeated(t *testing.T) {
	r := receiver{rcvNxt: 0}
	seen := map[seq.Value]int{}
	for i := 0; i < 10; i++ {
		s := seq.Value(1000 * (i + 1) * 2)
		for _, b := range r.arrive(s, s+500, MaxBlocksWithTimestamps) {
			seen[b.Start]++
		}
	}
	for i := 0; i < 8; i++ { // the last two have had fewer ACKs since
		s := seq.Value(1000 * (i + 1) * 2)
		assert.GreaterOrEqual(t, seen[s], 3, "block at %d", s)
	}
}

func TestCoalescedArrivals(t *testing.T) {
	r := receiver{rcvNxt: 0}
	r.arrive(1000, 1500, MaxBlocks)
	r.arrive(3000, 3500, MaxBlocks)
	// Several segments of one block arrive before the next ACK.
	r.insert(blk(5000, 5500))
	r.rep.Arrived(5000)
	r.insert(blk(5500, 6000))
	r.rep.Arrived(5500)
	r.insert(blk(6000, 6500))
	r.rep.Arrived(6000)
	got := r.rep.Blocks(nil, r.rcvNxt, r.ooo, MaxBlocks)
	assert.Equal(t, []Block{blk(5000, 6500), blk(3000, 3500), blk(1000, 1500)}, got)
}

// TestDSACKReceiver follows RFC 2883 §4.
func TestDSACKReceiver(t *testing.T) {
	t.Run("duplicate below the cumulative ACK", func(t *testing.T) {
		// §4.1.1: 3000-3499 arrives again after 4000 was acknowledged.
		r := receiver{rcvNxt: 4000}
		assert.Equal(t, []Block{blk(3000, 3500)}, r.arrive(3000, 3500, MaxBlocks))
		// Reported once only.
		assert.Empty(t, r.rep.Blocks(nil, r.rcvNxt, r.ooo, MaxBlocks))
	})
	t.Run("duplicate below with out-of-order data", func(t *testing.T) {
		r := receiver{rcvNxt: 4000}
		r.arrive(4500, 5000, MaxBlocks)
		assert.Equal(t, []Block{blk(3000, 3500), blk(4500, 5000)}, r.arrive(3000, 3500, MaxBlocks))
	})
	t.Run("duplicate above the cumulative ACK", func(t *testing.T) {
		// As in RFC 2883 §4: the D-SACK block, then the larger block holding it,
		// then the others.
		r := receiver{rcvNxt: 4000}
		r.arrive(6000, 6500, MaxBlocks)
		r.arrive(4500, 5000, MaxBlocks)
		r.arrive(5000, 5500, MaxBlocks)
		got := r.arrive(5000, 5500, MaxBlocks)
		assert.Equal(t, []Block{blk(5000, 5500), blk(4500, 5500), blk(6000, 6500)}, got)
	})
	t.Run("duplicate of a whole block repeats it", func(t *testing.T) {
		r := receiver{rcvNxt: 4000}
		r.arrive(4500, 5000, MaxBlocks)
		got := r.arrive(4500, 5000, MaxBlocks)
		assert.Equal(t, []Block{blk(4500, 5000), blk(4500, 5000)}, got)
	})
	t.Run("limit counts the D-SACK block", func(t *testing.T) {
		r := receiver{rcvNxt: 0}
		for _, s := range []seq.Value{1000, 3000, 5000, 7000} {
			r.arrive(s, s+500, MaxBlocks)
		}
		got := r.arrive(7000, 7500, MaxBlocksWithTimestamps)
		assert.Equal(t, []Block{blk(7000, 7500), blk(7000, 7500), blk(5000, 5500)}, got)
	})
}

func TestReporterWraparound(t *testing.T) {
	base := seq.Value(0xFFFF_FE00)
	r := receiver{rcvNxt: base}
	r.arrive(base.Add(1000), base.Add(1500), MaxBlocks) // past 2^32
	got := r.arrive(base.Add(200), base.Add(400), MaxBlocks)
	assert.Equal(t, []Block{blk(base.Add(200), base.Add(400)), blk(base.Add(1000), base.Add(1500))}, got)
	r.rep.Reset()
	got = r.rep.Blocks(nil, r.rcvNxt, r.ooo, MaxBlocks)
	assert.Equal(t, []Block{blk(base.Add(1000), base.Add(1500)), blk(base.Add(200), base.Add(400))}, got, "highest first without history")
}

func TestDSACKOnlyKeepsHistory(t *testing.T) {
	r := receiver{rcvNxt: 0}
	r.arrive(1000, 1500, MaxBlocks)
	r.arrive(3000, 3500, MaxBlocks)
	r.rep.Duplicate(100, 200)
	assert.Equal(t, []Block{blk(100, 200)}, r.rep.Blocks(nil, r.rcvNxt, r.ooo, 1))
	assert.Equal(t, []Block{blk(3000, 3500), blk(1000, 1500)}, r.rep.Blocks(nil, r.rcvNxt, r.ooo, MaxBlocks))
}
