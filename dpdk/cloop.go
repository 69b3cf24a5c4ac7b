//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import (
	"encoding/binary"
	"unsafe"

	"github.com/ustack/ustack/backend"
)

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

// benchQueue returns queue q locked, for a loop of bursts of burst frames
// on it, or nil when there is no such queue, it is closed, or its arrays
// are shorter than a burst.
func (p *Port) benchQueue(q, burst int) *queue {
	qu, err := p.queue(q)
	if err != nil || burst > len(qu.al) || burst > len(qu.rx) || burst > len(qu.tx) {
		return nil
	}
	qu.mu.Lock()
	if qu.closed {
		qu.mu.Unlock()
		return nil
	}
	return qu
}

// goFloor is the least a Go loop over the same C calls as Alloc, Send and
// Recv can cost: rounds bursts of burst frames of size bytes, allocated
// (freeing the last burst received in the same call, as Alloc does), each
// mbuf's lengths and first 8 bytes written from Go, sent and received back,
// three cgo calls per burst and no Frame at all. It returns the frames
// received, or -1 when the pool ran dry. The gap between it and cLoop is
// cgo's; the gap between it and the Go backend, the Frame layer's.
func (p *Port) goFloor(q int, rounds int64, burst, size int) int64 {
	qu := p.benchQueue(q, burst)
	if qu == nil {
		return -1
	}
	defer qu.mu.Unlock()
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

// goTight is the least the Frame contract itself costs over goFloor: the
// same rounds, but every mbuf allocated or received gets a backend.Frame
// (InitData from a free list), the payload is written through SetLen and
// Bytes, Send reads each frame's window into its mbuf and Take ends it,
// and the received frames are taken and their mbufs queued for freeing;
// none of the Backend's locking per call, counters, checks of foreign
// frames or grouping by owner. The gap between it and goFloor is the
// contract's (a Go struct per buffer, set up twice per round trip); the
// gap between it and the Go backend, the backend's bookkeeping. Tests and
// benchmarks only.
func (p *Port) goTight(q int, rounds int64, burst, size int) int64 {
	qu := p.benchQueue(q, burst)
	if qu == nil {
		return -1
	}
	defer qu.mu.Unlock()
	type tframe struct {
		backend.Frame
		m *C.struct_rte_mbuf
	}
	structs := make([]tframe, 2*burst)
	free := make([]*tframe, 0, len(structs))
	for i := range structs {
		free = append(free, &structs[i])
	}
	frame := func(m *C.struct_rte_mbuf, n int) *tframe {
		f := free[len(free)-1]
		free = free[:len(free)-1]
		f.InitData(unsafe.Slice((*byte)(m.buf_addr), int(m.buf_len)), int(m.data_off), n, qu)
		f.m = m
		return f
	}
	tx := make([]*tframe, burst)
	var got int64
	nfr := 0
	for r := range rounds {
		if C.us_alloc(caddr(qu.mp), caddr(&qu.al[0]), C.uint(burst), caddr(&qu.fr[0]), C.uint(nfr)) != 0 {
			return -1
		}
		nfr = 0
		for i, m := range qu.al[:burst] {
			f := frame(m, 0)
			f.SetLen(size)
			binary.LittleEndian.PutUint64(f.Bytes(), uint64(r))
			tx[i] = f
		}
		for i, f := range tx {
			m, n := f.m, f.Len()
			m.data_off = C.uint16_t(f.Headroom())
			m.data_len = C.uint16_t(n)
			m.pkt_len = C.uint32_t(n)
			qu.tx[i] = m
		}
		sent := int(uint32(C.us_tx(qu.pid, qu.qid, caddr(&qu.tx[0]), 0, C.uint16_t(burst))) & 0xffff)
		for i, f := range tx {
			f.Take()
			if i >= sent {
				qu.fr[nfr] = f.m
				nfr++
			}
			free = append(free, f)
		}
		n := int(C.us_rx(qu.pid, qu.qid, caddr(&qu.rx[0]), C.uint16_t(burst), 0, 0))
		got += int64(n)
		for _, m := range qu.rx[:n] {
			f := frame(m, int(m.data_len))
			f.Take()
			qu.fr[nfr] = f.m
			nfr++
			free = append(free, f)
		}
	}
	if nfr > 0 {
		C.us_free_segs(&qu.fr[0], C.uint(nfr))
	}
	return got
}
