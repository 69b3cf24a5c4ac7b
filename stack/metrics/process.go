package metrics

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
)

// writeGauges writes the stack's memory gauges and the process's, the
// latter under the names Prometheus's Go client gives them, which
// dashboards and alerts expect of any Go daemon.
func writeGauges(w io.Writer, src Source) {
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, strconv.FormatFloat(v, 'f', -1, 64))
	}
	gauge("ustack_tcp_buffer_memory_bytes", "TCP send and receive buffer memory in use, which --buffer-memory bounds", float64(src.Stack.BufferMemory()))
	gauge("ustack_tcp_buffer_memory_limit_bytes", "the bound of ustack_tcp_buffer_memory_bytes (--buffer-memory)", float64(src.Stack.BufferMemoryLimit()))
	gauge("ustack_tcp_buffer_stored_bytes", "memory the TCP buffers hold now, which grows with the bytes they hold (ustack_tcp_buffer_memory_bytes counts them at their sizes)", float64(src.Stack.BufferStored()))

	gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(samples)
	if samples[0].Value.Kind() == metrics.KindUint64 {
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and still in use.", float64(samples[0].Value.Uint64()))
	}
	if samples[1].Value.Kind() == metrics.KindUint64 {
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(samples[1].Value.Uint64()))
	}
	p, err := readProcess()
	if err != nil {
		return
	}
	fmt.Fprintf(w, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %s\n",
		strconv.FormatFloat(p.cpu, 'f', -1, 64))
	gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(p.rss))
	gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float64(p.vsize))
	gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", p.start)
	if p.fds >= 0 {
		gauge("process_open_fds", "Number of open file descriptors.", float64(p.fds))
	}
	if p.maxFDs > 0 {
		gauge("process_max_fds", "Maximum number of open file descriptors.", float64(p.maxFDs))
	}
}

// process is what /proc tells of this process.
type process struct {
	cpu, start  float64 // seconds
	rss, vsize  uint64  // bytes
	fds, maxFDs int
}

// clockTicks is USER_HZ, the unit of /proc's times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// readProcess reads /proc/self/stat (proc(5)) and counts /proc/self/fd.
func readProcess() (process, error) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return process{}, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from after its closing parenthesis (field 3, state, first).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return process{}, fmt.Errorf("/proc/self/stat: no command name")
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 22 {
		return process{}, fmt.Errorf("/proc/self/stat: %d fields", len(f)+2)
	}
	num := func(field int) uint64 { v, _ := strconv.ParseUint(string(f[field-3]), 10, 64); return v }
	boot, err := bootTime()
	if err != nil {
		return process{}, err
	}
	p := process{
		cpu:   float64(num(14)+num(15)) / clockTicks,
		start: boot + float64(num(22))/clockTicks,
		vsize: num(23),
		rss:   num(24) * uint64(os.Getpagesize()),
		fds:   -1,
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		p.fds = len(ents)
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		p.maxFDs = int(lim.Cur)
	}
	return p, nil
}

// bootTime is the system's boot time in Unix seconds (btime in
// /proc/stat), what a process's start time in /proc counts from. It does
// not change, so it is read once.
var bootTime = sync.OnceValues(readBootTime)

func readBootTime() (float64, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(stat, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
		}
	}
	return 0, fmt.Errorf("/proc/stat: no btime")
}
