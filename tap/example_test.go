package tap_test

import (
	"fmt"
	"log"
	"net/netip"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/tap"
)

// Open a TAP device with the host at 198.18.0.1 and count the frames the
// host sends until the device goes away.
func ExampleOpen() {
	d, err := tap.Open(tap.Config{
		Name:      "ustack0",
		HostAddrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	if fast, why := d.Offload(); !fast {
		log.Printf("no offloads: %v", why)
	}
	frames := make([]*backend.Frame, 64)
	total := 0
	for d.Wait(0, 0) == nil {
		n, err := d.Recv(0, frames)
		total += n
		backend.Release(frames[:n]) // a stack would process them first
		if err != nil {
			break
		}
	}
	fmt.Println("frames received:", total)
}
