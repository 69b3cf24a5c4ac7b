package sack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/tcp/seq"
)

func blk(start, end seq.Value) Block { return Block{Start: start, End: end} }

// TestRFC2018Case2 is RFC 2018 §7 (SACK option examples), case 2: the left window edge
// is 5000, eight 500-byte segments are sent and the first is lost; each of
// the other seven gets an ACK of 5000 whose SACK block grows by 500.
func TestRFC2018Case2(t *testing.T) {
	s := New(500)
	steps := []struct {
		right seq.Value
		lost  bool
	}{
		{right: 6000},
		// 1000 SACKed octets: not more than (DupThresh-1)*SMSS yet.
		{right: 6500},
		// 1500 octets: the third duplicate ACK, 5000 is lost.
		{right: 7000, lost: true},
		{right: 7500, lost: true},
		{right: 8000, lost: true},
		{right: 8500, lost: true},
		{right: 9000, lost: true},
	}
	for i, st := range steps {
		newly, dsack := s.Update(5000, 9000, []Block{blk(5500, st.right)})
		assert.Equal(t, 500, newly, "ACK %d", i+1)
		assert.False(t, dsack)
		assert.Equal(t, st.lost, s.IsLost(5000), "ACK %d", i+1)
		assert.Equal(t, int(st.right-5500), s.SackedBytes())
	}
	require.Equal(t, []Block{blk(5500, 9000)}, s.Ranges())
	// Everything but the lost segment is SACKed: pipe is empty until the
	// retransmission, which then is all that is in flight.
	assert.Equal(t, 0, s.Pipe(5000, 9000, 5000))
	assert.Equal(t, 500, s.Pipe(5000, 9000, 5500))
	g, ok := s.NextSeg(5000, 9000, 5000, 0)
	require.True(t, ok)
	assert.Equal(t, Segment{Start: 5000, Len: 500, Kind: RetransmitLost}, g)

	// The retransmission arrives: the cumulative ACK covers everything.
	newly, _ := s.Update(9000, 9000, nil)
	assert.Zero(t, newly)
	assert.Zero(t, s.Len())
	assert.Zero(t, s.SackedBytes())
}

// TestRFC2018Case3 is RFC 2018 §7, case 3: segments 2, 4, 6 and 8 (5500,
// 6500, 7500, 8500) are lost; the receiver reports the newest block first.
func TestRFC2018Case3(t *testing.T) {
	s := New(500)
	acks := [][]Block{
		{blk(6000, 6500)},
		{blk(7000, 7500), blk(6000, 6500)},
		{blk(8000, 8500), blk(7000, 7500), blk(6000, 6500)},
	}
	for _, bs := range acks {
		s.Update(5500, 9000, bs)
	}
	require.Equal(t, []Block{blk(6000, 6500), blk(7000, 7500), blk(8000, 8500)}, s.Ranges())
	assert.Equal(t, 1500, s.SackedBytes())

	t.Run("IsLost", func(t *testing.T) {
		// 5500: three discontiguous ranges above (and 1500 > 1000 octets).
		assert.True(t, s.IsLost(5500))
		// 6500: two ranges, 1000 octets above: not lost.
		assert.False(t, s.IsLost(6500))
		assert.False(t, s.IsLost(7500))
		assert.False(t, s.IsLost(8500))
	})
	t.Run("IsLost by count alone", func(t *testing.T) {
		big := New(1000) // 1500 octets is not more than 2 * 1000
		for _, bs := range acks {
			big.Update(5500, 9000, bs)
		}
		assert.True(t, big.IsLost(5500))
		assert.False(t, big.IsLost(6500))
	})
	t.Run("Pipe", func(t *testing.T) {
		// Holes 6500, 7500 and 8500 are in flight; 5500 is lost.
		assert.Equal(t, 1500, s.Pipe(5500, 9000, 5500))
		// After retransmitting 5500, it is in flight again.
		assert.Equal(t, 2000, s.Pipe(5500, 9000, 6000))
		// Retransmitted and not lost counts twice (RFC 6675 §4 note).
		assert.Equal(t, 2500, s.Pipe(5500, 9000, 7000))
	})
	t.Run("NextSeg", func(t *testing.T) {
		tests := []struct {
			name     string
			highRxt  seq.Value
			sendable int
			want     Segment
			ok       bool
		}{
			{name: "rule 1 lost hole", highRxt: 5500, want: Segment{Start: 5500, Len: 500, Kind: RetransmitLost}, ok: true},
			{name: "rule 1 ignores sendable", highRxt: 5500, sendable: 5000, want: Segment{Start: 5500, Len: 500, Kind: RetransmitLost}, ok: true},
			{name: "rule 2 new data", highRxt: 6000, sendable: 5000, want: Segment{Start: 9000, Len: 500, Kind: SendNew}, ok: true},
			{name: "rule 2 short of new data", highRxt: 6000, sendable: 200, want: Segment{Start: 9000, Len: 200, Kind: SendNew}, ok: true},
			{name: "rule 3 unsacked hole", highRxt: 6000, want: Segment{Start: 6500, Len: 500, Kind: RetransmitUnsacked}, ok: true},
			{name: "rule 3 above HighRxt", highRxt: 7600, want: Segment{Start: 7600, Len: 400, Kind: RetransmitUnsacked}, ok: true},
			{name: "rule 5 nothing below the highest SACK", highRxt: 8000},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				g, ok := s.NextSeg(5500, 9000, tt.highRxt, tt.sendable)
				assert.Equal(t, tt.ok, ok)
				assert.Equal(t, tt.want, g)
			})
		}
	})
	t.Run("Rescue", func(t *testing.T) {
		g, ok := s.Rescue(5500, 9000)
		require.True(t, ok)
		assert.Equal(t, Segment{Start: 8500, Len: 500, Kind: RetransmitRescue}, g)
		assert.Equal(t, seq.Value(9000), g.End())
	})
	t.Run("Sacked", func(t *testing.T) {
		for _, c := range []struct {
			x    seq.Value
			want bool
		}{{5500, false}, {5999, false}, {6000, true}, {6499, true}, {6500, false}, {8499, true}, {8500, false}} {
			assert.Equal(t, c.want, s.Sacked(c.x), "octet %d", c.x)
		}
		hi, ok := s.HighestSacked()
		assert.True(t, ok)
		assert.Equal(t, seq.Value(8500), hi)
	})
}

func TestNextSegSegmentSize(t *testing.T) {
	s := New(1000)
	// One 3000-octet hole with three ranges above: retransmit it one SMSS
	// at a time, never into SACKed data.
	s.Update(0, 10000, []Block{blk(3000, 4000), blk(5000, 6000), blk(7000, 8000)})
	for _, want := range []Segment{
		{Start: 0, Len: 1000, Kind: RetransmitLost},
		{Start: 1000, Len: 1000, Kind: RetransmitLost},
		{Start: 2000, Len: 1000, Kind: RetransmitLost},
		{Start: 4000, Len: 1000, Kind: RetransmitUnsacked}, // 2 ranges, 2000 octets above: not lost
	} {
		g, ok := s.NextSeg(0, 10000, want.Start, 0)
		require.True(t, ok)
		assert.Equal(t, want, g)
	}
	// A partial hole after a partial retransmission.
	g, _ := s.NextSeg(0, 10000, 2500, 0)
	assert.Equal(t, Segment{Start: 2500, Len: 500, Kind: RetransmitLost}, g)
}

func TestRescue(t *testing.T) {
	tests := []struct {
		name     string
		una, nxt seq.Value
		blocks   []Block
		want     Segment
		ok       bool
	}{
		{name: "no SACK: the last segment", una: 0, nxt: 5000, want: Segment{Start: 4000, Len: 1000, Kind: RetransmitRescue}, ok: true},
		{name: "short flight", una: 0, nxt: 300, want: Segment{Start: 0, Len: 300, Kind: RetransmitRescue}, ok: true},
		{name: "top SACKed: below it", una: 0, nxt: 5000, blocks: []Block{blk(4000, 5000)}, want: Segment{Start: 3000, Len: 1000, Kind: RetransmitRescue}, ok: true},
		{name: "small hole under the top", una: 0, nxt: 5000, blocks: []Block{blk(1000, 3500), blk(3700, 5000)}, want: Segment{Start: 3500, Len: 200, Kind: RetransmitRescue}, ok: true},
		{name: "nothing outstanding", una: 5000, nxt: 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(1000)
			s.Update(tt.una, tt.nxt, tt.blocks)
			g, ok := s.Rescue(tt.una, tt.nxt)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, g)
		})
	}
}

func TestUpdateValidation(t *testing.T) {
	tests := []struct {
		name   string
		blocks []Block
		newly  int
		ranges []Block
	}{
		{name: "beyond SND.NXT ignored", blocks: []Block{blk(2000, 3000), blk(9000, 10001)}, newly: 1000, ranges: []Block{blk(2000, 3000)}},
		{name: "empty block ignored", blocks: []Block{blk(2000, 3000), blk(4000, 4000)}, newly: 1000, ranges: []Block{blk(2000, 3000)}},
		{name: "inverted block ignored", blocks: []Block{blk(2000, 3000), blk(5000, 4000)}, newly: 1000, ranges: []Block{blk(2000, 3000)}},
		{name: "second block below SND.UNA ignored", blocks: []Block{blk(2000, 3000), blk(500, 1000)}, newly: 1000, ranges: []Block{blk(2000, 3000)}},
		{name: "second block across SND.UNA cut", blocks: []Block{blk(2000, 3000), blk(500, 1500)}, newly: 1500, ranges: []Block{blk(1000, 1500), blk(2000, 3000)}},
		{name: "overlapping blocks counted once", blocks: []Block{blk(2000, 3000), blk(2500, 4000)}, newly: 2000, ranges: []Block{blk(2000, 4000)}},
		{name: "adjacent blocks merge", blocks: []Block{blk(3000, 4000), blk(2000, 3000)}, newly: 2000, ranges: []Block{blk(2000, 4000)}},
		{name: "block up to SND.NXT", blocks: []Block{blk(9000, 10000)}, newly: 1000, ranges: []Block{blk(9000, 10000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(1000)
			newly, dsack := s.Update(1000, 10000, tt.blocks)
			assert.False(t, dsack)
			assert.Equal(t, tt.newly, newly)
			assert.Equal(t, tt.ranges, s.Ranges())
			assert.Equal(t, tt.newly, s.SackedBytes())
		})
	}
}

func TestMergeAndRepeat(t *testing.T) {
	s := New(1000)
	newly, _ := s.Update(0, 20000, []Block{blk(2000, 3000), blk(6000, 7000), blk(10000, 11000)})
	require.Equal(t, 3000, newly)
	// The same blocks again add nothing.
	newly, _ = s.Update(0, 20000, []Block{blk(10000, 11000), blk(6000, 7000), blk(2000, 3000)})
	assert.Zero(t, newly)
	// One block bridging all three.
	newly, _ = s.Update(0, 20000, []Block{blk(2500, 10500)})
	assert.Equal(t, 6000, newly) // 3000-6000 and 7000-10000
	assert.Equal(t, []Block{blk(2000, 11000)}, s.Ranges())
	assert.Equal(t, 9000, s.SackedBytes())
}

// TestDeliveredData checks the PRR accounting the package documents:
// DeliveredData = advance of SND.UNA + change of SackedBytes.
func TestDeliveredData(t *testing.T) {
	s := New(1000)
	s.Update(0, 10000, []Block{blk(1000, 4000)})
	before := s.SackedBytes()
	// The retransmission of [0, 1000) arrives: SND.UNA jumps to 4000 over
	// the SACKed range; and a new SACK for [5000, 6000).
	s.Update(4000, 10000, []Block{blk(5000, 6000)})
	delivered := 4000 + s.SackedBytes() - before
	assert.Equal(t, 2000, delivered, "the 1000 retransmitted + 1000 newly SACKed")

	// SND.UNA into the middle of a range trims it.
	s.Update(5500, 10000, nil)
	assert.Equal(t, []Block{blk(5500, 6000)}, s.Ranges())
	assert.Equal(t, 500, s.SackedBytes())
}

// TestDSACK follows the D-SACK rules and examples of RFC 2883 §4.
func TestDSACK(t *testing.T) {
	tests := []struct {
		name     string
		una      seq.Value
		previous []Block
		blocks   []Block
		dsack    bool
		newly    int
		ranges   []Block
	}{
		// §4.1.1: ACKs for 3000-3499 and 3500-3999 were lost, 3000-3499 is
		// retransmitted: ACK 4000, SACK 3000-3500.
		{name: "duplicate below the cumulative ACK", una: 4000, blocks: []Block{blk(3000, 3500)}, dsack: true},
		// The duplicate is reported first, then the
		// out-of-order block.
		{name: "duplicate below ACK with out-of-order data", una: 4000, blocks: []Block{blk(3000, 3500), blk(4500, 5000)}, dsack: true, newly: 500, ranges: []Block{blk(4500, 5000)}},
		// A duplicate above the cumulative ACK, inside the second
		// block.
		{name: "duplicate inside the second block", una: 4000, previous: []Block{blk(4500, 5500)}, blocks: []Block{blk(5000, 5500), blk(4500, 5500)}, dsack: true, ranges: []Block{blk(4500, 5500)}},
		{name: "ordinary SACK", una: 4000, blocks: []Block{blk(5000, 5500), blk(4500, 4800)}, newly: 800, ranges: []Block{blk(4500, 4800), blk(5000, 5500)}},
		{name: "first block overlapping the second is not a D-SACK", una: 4000, blocks: []Block{blk(4500, 5600), blk(4500, 5500)}, newly: 1100, ranges: []Block{blk(4500, 5600)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(500)
			s.Update(tt.una, 8000, tt.previous)
			newly, dsack := s.Update(tt.una, 8000, tt.blocks)
			assert.Equal(t, tt.dsack, dsack)
			assert.Equal(t, tt.newly, newly)
			if tt.ranges == nil {
				assert.Empty(t, s.Ranges())
				return
			}
			assert.Equal(t, tt.ranges, s.Ranges())
		})
	}
}

func TestWraparound(t *testing.T) {
	una := seq.Value(0xFFFF_F000) // 4096 below the wrap
	nxt := una.Add(10000)
	s := New(1000)
	a := blk(una.Add(3000), una.Add(5000)) // crosses 2^32
	b := blk(una.Add(6000), una.Add(7000))
	c := blk(una.Add(8000), una.Add(9000))
	newly, _ := s.Update(una, nxt, []Block{c, b, a})
	assert.Equal(t, 4000, newly)
	assert.Equal(t, []Block{a, b, c}, s.Ranges())
	assert.True(t, s.Sacked(0))
	assert.False(t, s.Sacked(una.Add(2999)))
	assert.True(t, s.IsLost(una))
	// Holes: [0,3000) lost, [5000,6000) (2 ranges, 2000 above: not lost),
	// [7000,8000), [9000,10000).
	assert.Equal(t, 3000, s.Pipe(una, nxt, una))
	g, ok := s.NextSeg(una, nxt, una, 0)
	require.True(t, ok)
	assert.Equal(t, Segment{Start: una, Len: 1000, Kind: RetransmitLost}, g)
	s.Update(una.Add(5500), nxt, nil)
	assert.Equal(t, []Block{b, c}, s.Ranges())
	assert.Equal(t, 2000, s.SackedBytes())
}

func TestCap(t *testing.T) {
	newBoard := func() Scoreboard {
		s := New(100)
		// MaxRanges ranges of 100 octets every 200: [100,200), [300,400)...
		for i := 0; i < MaxRanges; i++ {
			start := seq.Value(100 + 200*i)
			s.Update(0, 100000, []Block{blk(start, start+100)})
		}
		return s
	}
	top := seq.Value(100 + 200*(MaxRanges-1))

	t.Run("full", func(t *testing.T) {
		s := newBoard()
		assert.Equal(t, MaxRanges, s.Len())
		assert.Equal(t, 100*MaxRanges, s.SackedBytes())
	})
	t.Run("a new highest range is dropped", func(t *testing.T) {
		s := newBoard()
		newly, _ := s.Update(0, 100000, []Block{blk(50000, 50100)})
		assert.Zero(t, newly)
		assert.Equal(t, MaxRanges, s.Len())
		assert.False(t, s.Sacked(50000))
	})
	t.Run("a lower range displaces the highest", func(t *testing.T) {
		s := newBoard()
		newly, _ := s.Update(0, 100000, []Block{blk(0, 50)})
		assert.Equal(t, 50, newly)
		assert.Equal(t, MaxRanges, s.Len())
		assert.True(t, s.Sacked(0))
		assert.False(t, s.Sacked(top), "highest range forgotten")
		assert.Equal(t, 100*MaxRanges-100+50, s.SackedBytes())
	})
	t.Run("merging frees a slot", func(t *testing.T) {
		s := newBoard()
		newly, _ := s.Update(0, 100000, []Block{blk(200, 300)}) // joins the first two
		assert.Equal(t, 100, newly)
		assert.Equal(t, MaxRanges-1, s.Len())
		newly, _ = s.Update(0, 100000, []Block{blk(50000, 50100)})
		assert.Equal(t, 100, newly)
		assert.Equal(t, MaxRanges, s.Len())
	})
	t.Run("extending a range at the cap", func(t *testing.T) {
		s := newBoard()
		newly, _ := s.Update(0, 100000, []Block{blk(top, top+500)})
		assert.Equal(t, 400, newly)
		assert.Equal(t, MaxRanges, s.Len())
	})
}

func TestReset(t *testing.T) {
	s := New(1000)
	s.Update(0, 10000, []Block{blk(2000, 3000)})
	s.Reset()
	assert.Zero(t, s.Len())
	assert.Zero(t, s.SackedBytes())
	assert.False(t, s.Sacked(2500))
	_, ok := s.HighestSacked()
	assert.False(t, ok)
	assert.Equal(t, 10000, s.Pipe(0, 10000, 0))
}

func TestKindString(t *testing.T) {
	assert.Equal(t, "lost", RetransmitLost.String())
	assert.Equal(t, "new", SendNew.String())
	assert.Equal(t, "unsacked", RetransmitUnsacked.String())
	assert.Equal(t, "rescue", RetransmitRescue.String())
	assert.Equal(t, "none", Kind(0).String())
}
