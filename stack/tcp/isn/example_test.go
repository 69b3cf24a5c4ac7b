package isn_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ustack/ustack/stack/tcp/isn"
	"github.com/ustack/ustack/stack/tcp/seq"
)

// A listener under SYN flood answers with a cookie and rebuilds the
// connection from the final ACK.
func ExampleGenerator_EncodeCookie() {
	g := isn.New(2024)
	t := isn.Tuple{
		Local:  netip.MustParseAddrPort("192.0.2.1:80"),
		Remote: netip.MustParseAddrPort("198.51.100.7:40000"),
	}
	now := int64(10 * time.Second)

	// SYN in: SEG.SEQ is the client's ISN; MSS 1460, window scale 7, SACK
	// permitted, timestamps. The cookie is the SYN-ACK's sequence number.
	synSeq := seq.Value(1_000_000)
	opts := isn.CookieOptions{MSS: 1460, WScale: 7, SACKPermitted: true}
	cookie, tsval := g.EncodeCookie(t, now, synSeq, opts, true, 123456)

	// The final ACK, 3 seconds later: SEG.ACK = cookie + 1, SEG.SEQ =
	// client ISN + 1, TSecr = tsval.
	segAck, segSeq := cookie.Add(1), synSeq.Add(1)
	got, ok := g.DecodeCookie(t, now+int64(3*time.Second), segAck.Add(-1), segSeq.Add(-1), true, tsval)
	fmt.Println(ok, got.MSS, got.WScale, got.SACKPermitted)
	// Output:
	// true 1460 7 true
}
