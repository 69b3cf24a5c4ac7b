//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import "unsafe"

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

// goFloor is the least a Go loop over the same C calls as Alloc, Send and
// Recv can cost: rounds bursts of burst frames of size bytes, allocated
// (freeing the last burst received in the same call, as Alloc does), each
// mbuf's lengths and first 8 bytes written from Go, sent and received back,
// three cgo calls per burst and no Frame at all. It returns the frames
// received, or -1 when the pool ran dry. The gap between it and cLoop is
// cgo's; the gap between it and the Go backend, the Frame layer's.
func (p *Port) goFloor(q int, rounds int64, burst, size int) int64 {
	qu, err := p.queue(q)
	if err != nil || burst > len(qu.al) || burst > len(qu.rx) || burst > len(qu.tx) {
		return -1
	}
	qu.mu.Lock()
	defer qu.mu.Unlock()
	if qu.closed {
		return -1
	}
	var got int64
	nfr := 0
	for r := range rounds {
		if C.us_alloc(caddr(qu.mp), caddr(&qu.al[0]), C.uint(burst), caddr(&qu.fr[0]), C.uint(nfr)) != 0 {
			return -1
		}
		nfr = 0
		for i, m := range qu.al[:burst] {
			m.data_len = C.uint16_t(size)
			m.pkt_len = C.uint32_t(size)
			*(*uint64)(unsafe.Add(m.buf_addr, int(m.data_off))) = uint64(r)
			qu.tx[i] = m
		}
		sent := int(uint32(C.us_tx(qu.pid, qu.qid, caddr(&qu.tx[0]), 0, C.uint16_t(burst))) & 0xffff)
		for _, m := range qu.tx[sent:burst] {
			qu.fr[nfr] = m
			nfr++
		}
		n := int(C.us_rx(qu.pid, qu.qid, caddr(&qu.rx[0]), C.uint16_t(burst), 0, 0))
		got += int64(n)
		for _, m := range qu.rx[:n] {
			qu.fr[nfr] = m
			nfr++
		}
	}
	if nfr > 0 {
		C.us_free_segs(&qu.fr[0], C.uint(nfr))
	}
	return got
}
