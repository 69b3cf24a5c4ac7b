// Package dpdk is a backend.Backend over a DPDK ethdev port: a NIC bound to
// a poll-mode driver, or a virtual device (net_tap, net_ring, net_null,
// net_pcap, net_af_packet, net_memif).
//
// It is a cgo binding to the distribution's DPDK (Debian's 22.11,
// libdpdk-dev, found with pkg-config) and is built only with the dpdk build
// tag:
//
//	go build -tags dpdk ./...        (make build-dpdk)
//
// Without the tag the package has the same API, and Init and Open return
// ErrNotBuilt, so the rest of ustack builds and runs on machines without
// DPDK.
//
// # The EAL and threads
//
// Init initialises DPDK's EAL once per process with the EAL arguments
// passed through, for example on a machine without NIC or hugepages:
//
//	dpdk.Init([]string{"--no-huge", "--no-pci", "--no-shconf", "-m", "256", "-l", "0", "--vdev=net_tap0,iface=dtap0"})
//	p, err := dpdk.Open(dpdk.Config{Port: "net_tap0", Queues: 1, MAC: mac})
//
// The EAL makes the thread that called Init its main lcore and pins it to
// the first core of -l, so Init locks the calling goroutine to that thread
// for good: call it from the goroutine that runs queue 0's loop, or from
// one that does nothing else afterwards (main's). Every goroutine that
// drives a queue calls runtime.LockOSThread and then Port.ThreadInit(q)
// (rte_thread_register): on a thread that is not an lcore the mempools'
// per-lcore caches are silently bypassed. ThreadInit also binds the thread
// to the CPUs of its queue's lcore when the EAL has enough of them (see
// ThreadInit), so that -l chooses the cores the queues busy-poll on, and
// ThreadExit gives both back when the loop ends (stack.Config's LoopStart
// and LoopEnd). DPDK 22.11 cannot initialise the EAL again in a process
// where rte_eal_init failed or after Cleanup.
//
// # Memory and ownership
//
// Each queue has its own mempool (as rte_pktmbuf_pool_create, with a
// per-lcore cache) and C arrays for its bursts; no Go pointer is ever
// stored in C memory and DPDK never sees Go memory. Without hugepages the
// mempool's objects may cross 4 KiB pages (IOVA is then VA, or there is
// none), so mbufs are packed as on hugepages rather than one per page,
// where every mbuf falls in the same cache sets.
//
// Every mbuf carries its backend.Frame in its private area (the C
// declaration us_frame mirrors backend.Frame, checked against
// backend.FrameLayout when the package starts). The C calls that receive
// and allocate a burst fill the frames too, and a plain burst to send is
// checked, written and sent in one call: per frame, Go only copies
// pointers. A frame holds no pointer into the Go heap: its owner is a
// value of no size, its buffers and chain are C memory, and the queue that
// counts it outstanding is an index into a registry.
//
//   - Recv lends received mbufs without a copy: each is the mbuf's frame,
//     whose bytes are the mbuf's data room, Handle the mbuf's address; an
//     mbuf chain (nb_segs > 1) is a chain of frames. An mbuf that is not
//     ours to describe is copied into the queue's pool (or dropped and
//     counted in RxDrops when it is empty): one of another mempool, or one
//     whose reference count says someone holds it still (a loopback such
//     as net_ring returns the very mbufs sent, and the stack may hold a
//     frame it sent).
//   - Alloc hands out the frames the queue keeps for reuse, then allocates
//     mbufs (rte_pktmbuf_alloc_bulk) that the stack writes into; frames
//     above Caps().BufSize (2048) are chains.
//   - Send writes every frame's data windows back into its mbufs and hands
//     them to rte_eth_tx_burst, which may take fewer than offered: Send
//     returns how many, and the rest stay the caller's. Send takes one
//     reference of each frame, as Release does; a frame the caller still
//     holds (Frame.Ref) stays valid, its mbufs carrying one more reference
//     for the device. Frames of other backends are copied into mbufs.
//   - Release gives mbufs back in bulk. A single-mbuf frame of the queue's
//     own mempool that nobody else holds is kept whole, up to two bursts,
//     for the queue's next Alloc: neither its frame nor its mbuf is filled
//     again, and the mempool is not asked (as with the mempool's per-lcore
//     cache, Config.Mbufs counts them). Others are freed with the queue's
//     next device call, in the same cgo call, and so is what is kept when
//     the queue goes idle in Wait or closes. With Config.Poison, the
//     buffers of released mbufs nobody else holds are filled with
//     backend.PoisonByte first, as the other backends' pools do.
//   - Outstanding counts mbufs lent or allocated and not back. Close takes
//     back what waits in the receive rings, stops, closes and detaches the
//     device, and frees the mempools once every frame is back, which may be
//     after Close.
//
// Frames of a queue are released on that queue's goroutine or any other:
// the queue's lock makes it safe, if slower.
//
// # Waiting
//
// Recv never blocks and Wait returns at once while the queue is busy: the
// loop polls. After Config.IdlePolls empty polls in a row Wait backs off:
// it yields the processor (runtime.Gosched) each call, or, with
// Config.IdleSleep, sleeps up to that long unless woken (Wake) or the
// deadline comes. There is never a fixed long sleep.
//
// # Offloads and steering
//
// Only what the device's rte_eth_dev_info offers is turned on and
// advertised in Caps:
//
//	Feature                      DPDK                                   Caps
//	RX IPv4/TCP/UDP checksum     RTE_ETH_RX_OFFLOAD_*_CKSUM             RxCsum: CsumVerified, CsumBad
//	TX TCP/UDP checksum          RTE_MBUF_F_TX_{TCP,UDP}_CKSUM           TxCsum (else done in software)
//	TSO (TCP over IPv4)          RTE_MBUF_F_TX_TCP_SEG, tso_segsz       TSO, TSOMax (else software GSO)
//	RSS with several queues      RTE_ETH_MQ_RX_RSS, RETA spread evenly  SteerToeplitz with key and table
//	RSS hash of each frame       RTE_MBUF_F_RX_RSS_HASH                 Meta.RSSHash
//	Scattered receive (jumbo)    RTE_ETH_RX_OFFLOAD_SCATTER             received chains
//	Chained transmit             RTE_ETH_TX_OFFLOAD_MULTI_SEGS          chains sent as they are
//	GRO/LRO, VLAN offloads       not used
//
// Checksum and TSO requests set l2_len, l3_len, l4_len and tso_segsz
// (bitfields, written by C helpers), the pseudo-header checksum DPDK wants
// (without the length for TSO) and go through rte_eth_tx_prepare. On the
// virtual devices: net_tap offers RX checksums, TX checksums and TSO;
// net_ring and net_null offer none (net_null offers RSS).
//
// # Cost per frame
//
// BenchmarkRingRoundTrip measures Alloc, Send, Recv and Release of bursts
// of 32 64-byte frames on net_ring against the same loop in C, in the same
// run. On a 2-core EPYC VM, CPU per frame: C 8 ns, a Go loop making the
// same three cgo calls per burst without frames 10-11, the backend 25-26
// (0 allocs), 36 through Send's general path (go-general: what frames
// with offload requests, chains or held references take). The backend
// reuses the frames it keeps, where the C loop allocates and frees
// through the mempool; the difference is the frames: filling them in C on
// receipt, checking and writing them back on send, and in Go resetting
// them for reuse, copying the pointers, Send's ownership check, Release's
// checks and queueing, and the benchmark writing each frame through
// SetLen and Bytes.
// BenchmarkRingEmptyPoll is a Recv that finds nothing (42 ns): the real
// clock is read in C, and only when frames came.
// BenchmarkStackUDPEcho and BenchmarkStackTCPBulk run two stacks on a
// RingPair, where the stack's own cost dominates.
//
// # Known limits
//
//   - net_tap logs "All rt-signals are in use": the Go runtime handles
//     every signal, so the driver has no RX interrupt signal. Polling does
//     not need one.
//   - net_tap's device address is its kernel netdev's, and setting it
//     (rte_eth_dev_default_mac_addr_set) would change both. The port
//     leaves it alone and reports another as Caps().MAC: Config.MAC, or
//     the kernel's with the last bit flipped. net_tap passes up every frame
//     the kernel sends, so the stack receives at its own address.
//   - net_af_packet and net_pcap read what the kernel sends before any
//     NIC: Recv marks TCP and UDP frames whose checksum the sender left
//     to a NIC CsumPartial (offload.MarkPartial). net_af_packet cuts a
//     peer's TSO, GSO or GRO super-frames at its frame size; the stack
//     drops them as truncated.
//   - Close detaches the device; Probe attaches it again (a net_ring
//     vdev reattaches to its old rings and logs "RING: Cannot reserve
//     memory" on the way).
package dpdk
