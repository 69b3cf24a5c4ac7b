//go:build dpdk

package dpdk

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

// BenchmarkRingRoundTrip sends bursts of 32 64-byte frames on net_ring0
// and receives them back: "go" through Alloc, Send, Recv and Release,
// "go-general" the same with Send's general path (sendBatch, which frames
// with offload requests, chains or held references take),
// "go-floor" the same C calls from a Go loop without frames (goFloor),
// "c" the same loop written in C (us_bench_loop, one
// cgo call for the whole run), as the baseline. Compare their ns/frame, and their cpu-ns/frame
// (the loop thread's CPU time, which other processes on a busy machine
// disturb less than the wall clock); the Go loops also report x-c-loop,
// their CPU per frame over the C loop's, run right after them for as many
// rounds.
func BenchmarkRingRoundTrip(b *testing.B) {
	const burst, size = 32, 64
	skipWithoutEAL(b)
	lockThread(b)
	p := openPort(b, Config{Port: "net_ring0", RxDesc: 256, TxDesc: 256, Mbufs: 4095})

	report := func(b *testing.B, frames, cpu int64) {
		if frames > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
			b.ReportMetric(float64(cpu)/float64(frames), "cpu-ns/frame")
			b.ReportMetric(float64(frames)/b.Elapsed().Seconds()/1e6, "Mframes/s")
		}
	}

	// vsC reports x-c-loop: CPU per frame over the C loop's, run right
	// after for as many rounds.
	vsC := func(b *testing.B, frames, cpu int64) {
		ccpu := threadCPU(b)
		cframes := p.cLoop(0, int64(b.N), burst, size)
		ccpu = threadCPU(b) - ccpu
		if frames > 0 && cframes > 0 && ccpu > 0 {
			b.ReportMetric((float64(cpu)/float64(frames))/(float64(ccpu)/float64(cframes)), "x-c-loop")
		}
	}

	qu := p.queues[0]
	for _, v := range []struct {
		name string
		send func(fs []*backend.Frame) int
	}{
		{"go", func(fs []*backend.Frame) int { n, _ := p.Send(0, fs); return n }},
		{"go-general", func(fs []*backend.Frame) int { n, _ := qu.sendBatch(fs); return n }},
	} {
		b.Run(v.name, func(b *testing.B) {
			lockThread(b)
			tx := make([]*backend.Frame, burst)
			rx := make([]*backend.Frame, burst)
			var frames int64
			b.ReportAllocs()
			cpu := threadCPU(b)
			for i := 0; b.Loop(); i++ {
				n := p.Alloc(0, tx, size)
				for _, f := range tx[:n] {
					f.SetLen(size)
					binary.LittleEndian.PutUint64(f.Bytes(), uint64(i))
				}
				s := v.send(tx[:n])
				backend.Release(tx[s:n])
				k, _ := p.Recv(0, rx)
				frames += int64(k)
				backend.Release(rx[:k])
			}
			cpu = threadCPU(b) - cpu
			report(b, frames, cpu)
			vsC(b, frames, cpu)
		})
	}

	// The floor and the baseline run in one call each.
	for _, l := range []struct {
		name string
		run  func(rounds int64) int64
	}{
		{"go-floor", func(rounds int64) int64 { return p.goFloor(0, rounds, burst, size) }},
		{"c", func(rounds int64) int64 { return p.cLoop(0, rounds, burst, size) }},
	} {
		b.Run(l.name, func(b *testing.B) {
			lockThread(b)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := threadCPU(b)
			frames := l.run(int64(b.N))
			cpu = threadCPU(b) - cpu
			b.StopTimer()
			if frames < 0 {
				b.Fatal("the pool ran dry")
			}
			report(b, frames, cpu)
			if l.name != "c" {
				vsC(b, frames, cpu)
			}
		})
	}
}

// threadCPU is the calling thread's CPU time in nanoseconds (the caller is
// locked to its thread).
func threadCPU(b *testing.B) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return ts.Nano()
}

// BenchmarkRingEmptyPoll is a Recv that finds nothing: what a busy-polling
// stack loop pays on every turn while idle.
func BenchmarkRingEmptyPoll(b *testing.B) {
	skipWithoutEAL(b)
	lockThread(b)
	p := openPort(b, Config{Port: "net_ring0", RxDesc: 256, TxDesc: 256, Mbufs: 4095})
	rx := make([]*backend.Frame, 32)
	b.ReportAllocs()
	for b.Loop() {
		if n, err := p.Recv(0, rx); n != 0 || err != nil {
			b.Fatalf("Recv on an empty ring: %d frames, %v", n, err)
		}
	}
}
