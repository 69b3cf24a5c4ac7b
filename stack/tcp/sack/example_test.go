package sack_test

import (
	"fmt"

	"github.com/ustack/ustack/stack/tcp/sack"
)

// The sender's scoreboard after the receiver reported three SACK blocks
// above a lost segment at 5500 (RFC 2018 §7, case 3).
func ExampleScoreboard() {
	s := sack.New(500)
	s.Update(5500, 9000, []sack.Block{{Start: 8000, End: 8500}, {Start: 7000, End: 7500}, {Start: 6000, End: 6500}})
	fmt.Println("5500 lost:", s.IsLost(5500))
	fmt.Println("pipe:", s.Pipe(5500, 9000, 5500))
	seg, _ := s.NextSeg(5500, 9000, 5500, 0)
	fmt.Println("next:", seg.Kind, seg.Start, seg.Len)
	// Output:
	// 5500 lost: true
	// pipe: 1500
	// next: lost 5500 500
}

// The receiver reports the block of the segment that triggered the ACK
// first, then the blocks it reported before (RFC 2018 §4).
func ExampleReporter() {
	var r sack.Reporter
	ooo := []sack.Block{{Start: 6000, End: 6500}}
	r.Arrived(6000)
	fmt.Println(r.Blocks(nil, 5500, ooo, sack.MaxBlocks))
	ooo = append(ooo, sack.Block{Start: 7000, End: 7500})
	r.Arrived(7000)
	fmt.Println(r.Blocks(nil, 5500, ooo, sack.MaxBlocks))
	// Output:
	// [{6000 6500}]
	// [{7000 7500} {6000 6500}]
}
