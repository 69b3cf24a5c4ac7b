//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
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

// goFloor is the least a Go loop over the C calls Alloc, Send and Recv
// make can cost: rounds bursts of burst frames of size bytes, allocated
// (freeing the last burst received in the same call, as Alloc does), each
// mbuf's lengths and first 8 bytes written from Go, sent and received back,
// three cgo calls per burst and no frame at all. It returns the frames
// received, or -1 when the pool ran dry or the queue is closed. The gap
// between it and cLoop is cgo's; the gap between it and the Go backend,
// the frames'. Tests and benchmarks only.
func (p *Port) goFloor(q int, rounds int64, burst, size int) int64 {
	qu, err := p.queue(q)
	if err != nil || burst > MaxBurst {
		return -1
	}
	qu.mu.Lock()
	defer qu.mu.Unlock()
	if qu.closed {
		return -1
	}
	al, rx, fr := cArray[*C.struct_rte_mbuf](burst), cArray[*C.struct_rte_mbuf](burst), cArray[*C.struct_rte_mbuf](2*burst)
	defer cFree(al)
	defer cFree(rx)
	defer cFree(fr)
	var got int64
	nfr := 0
	for r := range rounds {
		if C.us_alloc(caddr(qu.mp), caddr(&al[0]), C.uint(burst), caddr(&fr[0]), C.uint(nfr)) != 0 {
			return -1
		}
		nfr = 0
		for _, m := range al {
			m.data_len = C.uint16_t(size)
			m.pkt_len = C.uint32_t(size)
			*(*uint64)(unsafe.Add(m.buf_addr, int(m.data_off))) = uint64(r)
		}
		sent := int(uint32(C.us_tx(qu.pid, qu.qid, caddr(&al[0]), 0, C.uint16_t(burst))) & 0xffff)
		nfr += copy(fr[nfr:], al[sent:])
		n := int(C.us_rx(qu.pid, qu.qid, caddr(&rx[0]), C.uint16_t(burst), 0, 0))
		got += int64(n)
		nfr += copy(fr[nfr:], rx[:n])
	}
	if nfr > 0 {
		C.us_free_segs(&fr[0], C.uint(nfr))
	}
	return got
}

// foreignPool is a mempool of plain mbufs (no private area, not ours), for
// tests of what Recv does with another DPDK user's mbufs.
type foreignPool struct{ mp *C.struct_rte_mempool }

// newForeignPool makes a foreign pool of n mbufs. Tests only.
func newForeignPool(name string, n int) (*foreignPool, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	mp := C.rte_pktmbuf_pool_create(cs, C.uint(n), 0, 0, C.RTE_MBUF_DEFAULT_BUF_SIZE, C.SOCKET_ID_ANY)
	if mp == nil {
		return nil, fmt.Errorf("foreign pool %s: rte_errno %d", name, int(C.us_errno()))
	}
	return &foreignPool{mp}, nil
}

// avail is how many of the pool's mbufs are in it.
func (f *foreignPool) avail() int { return int(C.rte_mempool_avail_count(f.mp)) }

func (f *foreignPool) free() { C.rte_mempool_free(f.mp) }

// sendForeign sends n frames of size bytes from pool on the port's queue q
// (a loopback), the first 8 bytes of frame i being seed+i; chained makes
// each a chain of two mbufs. It returns how many the device took.
func (p *Port) sendForeign(q int, pool *foreignPool, n, size int, chained bool, seed uint64) int {
	return int(C.us_send_foreign(C.uint16_t(p.id), C.uint16_t(q), pool.mp, C.uint16_t(n), C.uint16_t(size), cbool(chained), C.uint64_t(seed)))
}

// stashed is how many released frames queue q keeps for its next Alloc.
// Tests only.
func (p *Port) stashed(q int) int {
	qu := p.queues[q]
	qu.mu.Lock()
	defer qu.mu.Unlock()
	return len(qu.stash)
}

// poolAvail gives what queue q keeps back to its mempool and returns how
// many mbufs the mempool holds. Tests only.
func (p *Port) poolAvail(q int) int {
	qu := p.queues[q]
	qu.mu.Lock()
	defer qu.mu.Unlock()
	qu.flushFree()
	return int(C.rte_mempool_avail_count(qu.mp))
}

// poolsFreed reports whether the port's mempools are freed. Tests only.
func (p *Port) poolsFreed() bool {
	for _, q := range p.queues {
		q.mu.Lock()
		freed := q.mp == nil
		q.mu.Unlock()
		if !freed {
			return false
		}
	}
	return true
}

// allMulticast reports whether the port is in all-multicast mode. Tests
// only.
func (p *Port) allMulticast() bool { return C.rte_eth_allmulticast_get(C.uint16_t(p.id)) == 1 }

// maxLcores is RTE_MAX_LCORE, how many lcores DPDK has. Tests only.
func maxLcores() int { return C.RTE_MAX_LCORE }
