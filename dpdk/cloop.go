//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

// cLoop runs the C baseline of the round-trip benchmark on queue q
// (us_bench_loop): rounds bursts of burst frames of size bytes, allocated,
// sent and received back on a loopback device, in one cgo call. It returns
// the frames received, or -1 when the pool ran dry. Tests and benchmarks
// only.
func (p *Port) cLoop(q int, rounds int64, burst, size int) int64 {
	qu, err := p.queue(q)
	if err != nil {
		return -1
	}
	qu.mu.Lock()
	defer qu.mu.Unlock()
	if qu.closed {
		return -1
	}
	return int64(C.us_bench_loop(qu.pid, qu.qid, qu.mp, C.int64_t(rounds), C.uint16_t(burst), C.uint16_t(size)))
}
