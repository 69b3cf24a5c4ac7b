// Package tap is a backend.Backend over a Linux TAP device: the stack on one
// side of a virtual Ethernet link, the host's kernel on the other.
//
//	d, err := tap.Open(tap.Config{Name: "ustack0", HostAddrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}})
//
// # Two paths
//
// The fast path opens the device with IFF_VNET_HDR: every frame crosses
// behind a 12-byte virtio_net_hdr_v1 that carries checksum and segmentation
// state, so the kernel hands us unsummed frames of the host's own traffic
// and coalesced TCP frames of up to 64 KiB (GRO), and takes our partial
// checksums and 64 KiB TCP frames (TSO) as they are. Caps().Offloads
// advertises that only on this path.
//
// The plain path moves bare Ethernet frames (IFF_TAP|IFF_NO_PI); a frame
// with a partial checksum or GSO that reaches Send anyway is completed or
// segmented in software (package offload). Config.Offload "auto" tries the
// fast path and falls back to the plain one when the kernel refuses it;
// Device.Offload says which it got and why.
//
// # Queues and waiting
//
// Each queue is its own file descriptor on the device (IFF_MULTI_QUEUE when
// there are several), non-blocking: Recv reads until EAGAIN or the burst is
// full, Send writes one frame per writev until EAGAIN, and Wait blocks in
// ppoll on the descriptor and an eventfd that Wake writes. The kernel sends
// a flow's frames to the queue the flow last sent on (SteerTxQueue), once
// it has recorded the flow: it does so after delivering the frame, so the
// first answer of a new flow (a SYN-ACK) can come back on any queue.
//
// # Devices we did not make
//
// Open attaches to an existing TAP device of the configured name with the
// flags it was created with (multi-queue or not, read from
// /sys/class/net/NAME/tun_flags) and never touches its persist flag, so a
// device made by `ip tuntap add` is still there after Close. A device Open
// created is not persistent and goes away with its last descriptor.
//
// # Supported
//
//	Feature                              Fast path     Plain path
//	RX checksum state (DATA_VALID)       yes           no
//	RX partial checksums (NEEDS_CSUM)    yes           kernel sums
//	TX checksum offload                  kernel        software
//	TSO (TCP over IPv4 and IPv6)         kernel        software
//	USO (GSOUDP)                         software      software
//	GRO (coalesced TCP, chained)         yes           no
//	Multi-queue, tx-queue steering       yes           yes
//	VLAN tag offload                     no            no
//	Kernel side IPv4 / IPv6 address      ioctl         ioctl
//
// Received frames longer than a receive buffer (Caps().BufSize) are chains of
// two buffers: an MTU-sized head and a 64 KiB overflow buffer, so a small
// frame does not pin 64 KiB of memory.
package tap
