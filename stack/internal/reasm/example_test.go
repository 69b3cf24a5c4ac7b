package reasm_test

import (
	"fmt"
	"net/netip"

	"github.com/ustack/ustack/stack/internal/reasm"
)

// A stack loop feeds fragments to Add as they arrive and calls Expire when
// NextDeadline passes.
func Example() {
	r := reasm.New(reasm.IPv4Config())
	k := reasm.Key{
		Src:   netip.MustParseAddr("192.0.2.1"),
		Dst:   netip.MustParseAddr("198.51.100.2"),
		ID:    0x1c46,
		Proto: 17,
	}
	ipHeader := make([]byte, 20)
	payload := []byte("a datagram cut in three fragments")

	// Fragments 2 and 3 arrive before fragment 1.
	res := r.Add(k, 16, true, payload[16:32], nil, 0)
	fmt.Println(res.Status)
	res = r.Add(k, 32, false, payload[32:], nil, 0)
	fmt.Println(res.Status)
	res = r.Add(k, 0, true, payload[:16], ipHeader, 0)
	fmt.Println(res.Status, len(res.Header), string(res.Payload))

	// A datagram that never completes is reported when its time is up,
	// with its first fragment's header if that arrived, for ICMP Time
	// Exceeded.
	k.ID++
	r.Add(k, 0, true, payload[:16], ipHeader, 0)
	deadline, _ := r.NextDeadline()
	r.Expire(deadline, func(e reasm.Expired) {
		fmt.Printf("expired id %#x first=%v header=%d bytes data=%q\n", e.Key.ID, e.First, len(e.Header), e.Data)
	})
	fmt.Printf("%+v\n", r.Stats())
	// Output:
	// pending
	// pending
	// complete 20 a datagram cut in three fragments
	// expired id 0x1c47 first=true header=20 bytes data="a datagram cut i"
	// {ReasmReqds:4 ReasmOKs:1 ReasmFails:1 Timeouts:1 Overlaps:0 TooBig:0 MemoryFull:0 TooManyFragments:0 TooManyDatagrams:0 BadLength:0 BadEnd:0 Duplicates:0 Discarded:0}
}
