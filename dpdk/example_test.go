package dpdk_test

import (
	"fmt"
	"runtime"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/dpdk"
)

// A port on a TAP virtual device, without NIC or hugepages, and a queue
// loop that echoes every frame back.
func Example() {
	// Init pins the calling thread: call it from the goroutine that will
	// stay locked to it (here main's).
	if err := dpdk.Init([]string{"--no-huge", "--no-pci", "--no-shconf", "-m", "256", "-l", "0", "--vdev=net_tap0,iface=dtap0"}); err != nil {
		fmt.Println(err)
		return
	}
	defer dpdk.Cleanup()
	p, err := dpdk.Open(dpdk.Config{Port: "net_tap0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := p.ThreadInit(0); err != nil {
			fmt.Println(err)
			return
		}
		defer p.ThreadExit(0)
		frames := make([]*backend.Frame, 32)
		for range 1000 {
			n, err := p.Recv(0, frames)
			if err != nil {
				return
			}
			sent, _ := p.Send(0, frames[:n])
			backend.Release(frames[sent:n])
			p.Wait(0, 0)
		}
	}()
	<-done
}
