package sack

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ustack/ustack/stack/tcp/seq"
)

func TestNoAllocations(t *testing.T) {
	s := New(1000)
	var rep Reporter
	var buf [MaxBlocks]Block
	blocks := make([]Block, 3)
	ooo := []Block{blk(5000, 6000), blk(8000, 9000), blk(2000, 3000)}
	una := seq.Value(0)
	allocs := testing.AllocsPerRun(1000, func() {
		nxt := una.Add(100000)
		blocks[0] = blk(una.Add(5000), una.Add(6000))
		blocks[1] = blk(una.Add(9000), una.Add(12000))
		blocks[2] = blk(una.Add(20000), una.Add(21000))
		s.Update(una, nxt, blocks)
		s.IsLost(una)
		s.Pipe(una, nxt, una.Add(1000))
		s.NextSeg(una, nxt, una, 0)
		s.Rescue(una, nxt)
		una = una.Add(3000)

		rep.Arrived(8000)
		rep.Duplicate(5000, 5500)
		rep.Blocks(buf[:0], 1000, ooo, MaxBlocks)
	})
	assert.Zero(t, allocs)
}

func BenchmarkUpdatePipe(b *testing.B) {
	s := New(1448)
	blocks := make([]Block, 3)
	una := seq.Value(0)
	b.ReportAllocs()
	for b.Loop() {
		nxt := una.Add(1 << 20)
		// Every other segment lost: many ranges.
		for i := range blocks {
			off := 1448 * (2*i + 1)
			blocks[i] = blk(una.Add(off+1448*40), una.Add(off+1448*41))
		}
		s.Update(una, nxt, blocks)
		s.Pipe(una, nxt, una)
		s.NextSeg(una, nxt, una, 0)
		una = una.Add(1448)
	}
}
