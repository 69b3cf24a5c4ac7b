package benchmark

import (
	"runtime"
	"syscall"
	"time"
)

// meter measures an interval: wall time, the process's CPU time, heap
// allocations and frames on the link. Reading the pair's frames may
// allocate (a stack may answer on its loop), so begin reads them before
// the allocation count and end after it.
type meter struct {
	p       Pair
	start   time.Time
	cpu     time.Duration
	mallocs uint64
	frames  uint64
}

// sample is what a meter measured.
type sample struct {
	elapsed time.Duration
	cpu     time.Duration
	mallocs uint64
	frames  uint64
}

func (m *meter) begin(p Pair) {
	m.p = p
	m.frames = p.Frames()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.mallocs = ms.Mallocs
	m.cpu = cpuTime()
	m.start = time.Now()
}

func (m *meter) end() sample {
	elapsed := time.Since(m.start)
	cpu := cpuTime()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return sample{
		elapsed: elapsed,
		cpu:     cpu - m.cpu,
		mallocs: ms.Mallocs - m.mallocs,
		frames:  m.p.Frames() - m.frames,
	}
}

// fill records the sample's common figures in r.
func (s sample) fill(r *Result) {
	r.DurationS = s.elapsed.Seconds()
	r.CPUS = s.cpu.Seconds()
	r.Packets = s.frames
	if s.frames > 0 {
		r.AllocsPerPacket = float64(s.mallocs) / float64(s.frames)
	}
}

// cpuTime is the user+sys time of the whole process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memInUse is the heap and goroutine stack memory in use after two
// collections (the second frees what the first's finalizers released).
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
