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
// other way round.
static int us_ring_pair(const char *a, const char *b, unsigned nq, unsigned size, unsigned id) {
	struct rte_ring *ab[RTE_PMD_RING_MAX_RX_RINGS], *ba[RTE_PMD_RING_MAX_RX_RINGS];
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
*/
import "C"

import (
	"fmt"
	"syscall"
	"unsafe"
)

// ringPairSeq makes the rings' names unique in the process.
var ringPairSeq uint32

// RingPair makes two ports joined back to back by rte_rings
// (rte_eth_from_rings), with queues queue pairs (at most 16) of size
// slots each (a power of two): what one sends on queue i the other
// receives on queue i. It returns their names, "net_ring_" followed by a
// and b, for Config.Port. Two stacks talk over it without a NIC, at
// memory speed, in tests and benchmarks. The rings stay until the EAL
// goes.
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
	if r := C.us_ring_pair(ca, cb, C.uint(queues), C.uint(size), C.uint(ringPairSeq)); r < 0 {
		return "", "", fmt.Errorf("dpdk: ring pair %s-%s with %d queues: %w", a, b, queues, syscall.Errno(-r))
	}
	return "net_ring_" + a, "net_ring_" + b, nil
}
