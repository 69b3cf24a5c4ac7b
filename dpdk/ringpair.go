//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#cgo LDFLAGS: -lrte_net_ring
#include "ustack_dpdk.h"
#include <rte_eth_ring.h>
#include <rte_ring.h>

// us_ring_pair makes ports a and b joined back to back by 2*nq rings of
// size slots: what a sends on queue i, b receives on queue i, and the
// other way round. a's transmit rings (b's receive rings) go to ab, b's
// to ba.
static int us_ring_pair(const char *a, const char *b, unsigned nq, unsigned size, unsigned id,
			struct rte_ring **ab, struct rte_ring **ba) {
	char name[RTE_RING_NAMESIZE];
	if (nq == 0 || nq > RTE_PMD_RING_MAX_RX_RINGS)
		return -EINVAL;
	for (unsigned i = 0; i < nq; i++) {
		snprintf(name, sizeof(name), "usp%u_ab%u", id, i);
		ab[i] = rte_ring_create(name, size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "usp%u_ba%u", id, i);
		ba[i] = rte_ring_create(name, size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (ab[i] == NULL || ba[i] == NULL)
			return -rte_errno;
	}
	if (rte_eth_from_rings(a, ba, nq, ab, nq, SOCKET_ID_ANY) < 0)
		return -rte_errno;
	if (rte_eth_from_rings(b, ab, nq, ba, nq, SOCKET_ID_ANY) < 0)
		return -rte_errno;
	return 0;
}

// us_ring_free_all frees every packet in r, whatever mempools they are
// of; the caller is its only consumer.
static void us_ring_free_all(struct rte_ring *r) {
	void *objs[64];
	unsigned n;
	while ((n = rte_ring_dequeue_burst(r, objs, 64, NULL)) > 0)
		rte_pktmbuf_free_bulk((struct rte_mbuf **)objs, n);
}
*/
import "C"

import (
	"fmt"
	"slices"
	"syscall"
	"unsafe"
)

// ringPairSeq makes the rings' names unique in the process.
var ringPairSeq uint32

// ringPairPorts are RingPair's ports by name, for Close (guarded by
// eal.mu).
var ringPairPorts = map[string]ringPairPort{}

// ringPairPort is one port of a ring pair: the other's name and the rings
// it sends on, which the other receives from.
type ringPairPort struct {
	peer string
	tx   []*C.struct_rte_ring
}

// freeUnreceived frees what the ring-pair port named name sent that
// nobody will receive, the other port being closed or never opened: the
// packets left in its transmit rings. They would otherwise keep their
// mempools, most often this port's, from ever being full, and so from
// being freed. Close calls it with eal.mu held, which keeps the other
// port from opening, and so from receiving, meanwhile.
func freeUnreceived(name string) {
	rp, ok := ringPairPorts[name]
	if !ok {
		return
	}
	if id, _, err := findPort(rp.peer); err == nil && eal.open[id] {
		return // the other port receives them, and releases them
	}
	for _, r := range rp.tx {
		C.us_ring_free_all(r)
	}
}

// RingPair makes two ports joined back to back by rte_rings
// (rte_eth_from_rings), with queues queue pairs (at most 16) of size
// slots each (a power of two): what one sends on queue i the other
// receives on queue i. It returns their names, "net_ring_" followed by a
// and b, for Config.Port. Two stacks talk over it without a NIC, at
// memory speed, in tests and benchmarks. What a port sent and the other
// has not received when the sender closes is freed then if the other is
// not open, as a wire would lose it. The rings stay until the EAL goes.
func RingPair(a, b string, queues, size int) (string, string, error) {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	if err := requireEAL(); err != nil {
		return "", "", err
	}
	if size < 2 || size&(size-1) != 0 {
		return "", "", fmt.Errorf("dpdk: ring pair %s-%s: size %d: want a power of two", a, b, size)
	}
	ringPairSeq++
	ca, cb := C.CString(a), C.CString(b)
	defer C.free(unsafe.Pointer(ca))
	defer C.free(unsafe.Pointer(cb))
	var ab, ba [C.RTE_PMD_RING_MAX_RX_RINGS]*C.struct_rte_ring
	if r := C.us_ring_pair(ca, cb, C.uint(queues), C.uint(size), C.uint(ringPairSeq), &ab[0], &ba[0]); r < 0 {
		return "", "", fmt.Errorf("dpdk: ring pair %s-%s with %d queues: %w", a, b, queues, syscall.Errno(-r))
	}
	na, nb := "net_ring_"+a, "net_ring_"+b
	ringPairPorts[na] = ringPairPort{peer: nb, tx: slices.Clone(ab[:queues])}
	ringPairPorts[nb] = ringPairPort{peer: na, tx: slices.Clone(ba[:queues])}
	return na, nb, nil
}
