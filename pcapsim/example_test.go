package pcapsim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ustack/ustack/pcapsim"
)

// ExampleReplay replays three pings from a neighbour and one from beyond
// its router: the stack adopts the pinged host and answers each, on the
// capture's own clock.
func ExampleReplay() {
	dir, _ := os.MkdirTemp("", "replay")
	defer os.RemoveAll(dir)
	sum, err := pcapsim.Replay(context.Background(), pcapsim.Options{
		In:  filepath.Join("testdata", "icmp-echo.pcap"),
		Out: filepath.Join(dir, "out.pcap"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("stack %v at %v (%s)\n", sum.Addrs[0], sum.MAC, sum.Adoption.How)
	fmt.Printf("frames in %d, out %d, echo replies %d\n", sum.FramesIn, sum.FramesOut, sum.Counters.ICMP.OutEchoReps)
	fmt.Println("virtual time", sum.Virtual)
	// Output:
	// stack 10.0.0.1/24 at 02:00:00:00:00:01 (unicast)
	// frames in 4, out 5, echo replies 4
	// virtual time 8.5s
}

// ExampleReplay_truncated replays a capture whose last record is cut
// short: the records before it are replayed and the summary says so.
func ExampleReplay_truncated() {
	sum, err := pcapsim.Replay(context.Background(), pcapsim.Options{In: filepath.Join("testdata", "truncated.pcap")})
	fmt.Println(err)
	fmt.Println(sum.Truncated)
	fmt.Println("echo replies", sum.Counters.ICMP.OutEchoReps)
	// Output:
	// <nil>
	// pcapsim: record 4 is truncated; the 3 records before it were replayed
	// echo replies 3
}

// ExampleAdopt finds who a raw IP capture was recorded for: the receiver
// of its first SYN, with a MAC made up from the seed and its peers' made
// up from their addresses.
func ExampleAdopt() {
	a, err := pcapsim.Adopt(filepath.Join("testdata", "raw.pcap"), pcapsim.Config{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Prefix, a.MAC, a.How, "record", a.Record)
	for _, n := range a.Neighbors {
		fmt.Println("neighbour", n.Addr, n.MAC)
	}
	// Output:
	// 10.0.0.1/24 02:75:89:02:5c:c1 syn record 3
	// neighbour 10.0.0.2 02:00:0a:00:00:02
	// neighbour 2001:db8::2 06:b7:a3:be:21:2d
}
