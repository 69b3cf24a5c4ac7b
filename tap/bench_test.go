package tap

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

// BenchmarkTAPReceive measures frames received from the kernel: a kernel
// UDP socket sends datagrams to the stack's address and the queue waits for
// and reads them. One op is one frame received.
//
// In "send+recv" the timer runs while the kernel sends, bursts of 32, as a
// stack on TAP pays for its peer on the same machine. In "recv" the kernel
// queues a burst of 256 with the timer stopped and only Wait and Recv are
// timed: the backend's own cost per frame.
func BenchmarkTAPReceive(b *testing.B) {
	for _, p := range paths {
		for _, size := range []int{64, 1400} {
			for _, timed := range []string{"send+recv", "recv"} {
				b.Run(fmt.Sprintf("%s/%d/%s", p.name, size, timed), func(b *testing.B) {
					benchReceive(b, p.mode, size, timed == "recv")
				})
			}
		}
	}
}

func benchReceive(b *testing.B, mode OffloadMode, size int, recvOnly bool) {
	r := openRig(b, Config{Offload: mode, PoolSize: 4096})
	d := r.d
	tx := kernelUDP(b, r.host, netip.AddrPortFrom(r.self, 9999))
	payload := make([]byte, size)
	fs := make([]*backend.Frame, 32)
	clock := d.cfg.Clock
	burstLen := 32
	if recvOnly {
		// Well within the kernel's queue of txqueuelen (1000) frames.
		burstLen = 256
	}
	b.SetBytes(int64(size + 42))
	b.ReportAllocs()
	b.ResetTimer()
	received, lost := 0, 0
	for received < b.N {
		burst := min(burstLen, b.N-received)
		if recvOnly {
			b.StopTimer()
		}
		for range burst {
			if _, err := unix.Write(tx, payload); err != nil {
				b.Fatal(err)
			}
		}
		if recvOnly {
			b.StartTimer()
		}
		for got := 0; got < burst; {
			if err := d.Wait(0, clock.Now()+int64(100*time.Millisecond)); err != nil {
				b.Fatal(err)
			}
			n, err := d.Recv(0, fs)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				// The kernel dropped some: count them and move on.
				lost += burst - got
				break
			}
			got += n
			backend.Release(fs[:n])
		}
		received += burst
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(lost), "lost")
}
