// Package offload does in software what a NIC's offloads do in hardware:
// completing partial transport checksums (TX checksum offload), verifying
// received checksums (RX checksum offload), cutting a large TCP or UDP frame
// into wire-sized segments (TSO/USO, here GSO) and merging in-order TCP
// segments into one large frame (GRO). Middleware that must see what a wire
// carries (fault injection, capture) and backends whose device lacks an
// offload use it; the stack itself never needs to.
//
// # Checksum conventions
//
// A frame with Csum == backend.CsumPartial carries, in the 16-bit field at
// CsumStart+CsumOffset, the folded pseudo-header sum (RFC 9293 §3.1, RFC 8200
// §8.1) — not complemented — and nothing else of the transport checksum. The
// pseudo-header's length is the frame's whole transport length, even for a
// GSO frame. Completing it is summing from CsumStart to the end of the frame
// with that value in place and storing the complement. This is the contract
// of Linux's CHECKSUM_PARTIAL and virtio's NEEDS_CSUM, and of DPDK's
// RTE_MBUF_F_TX_TCP_CKSUM; a DPDK backend that hands a TSO frame to a NIC
// wanting the length-free pseudo-header for TSO adjusts the field itself.
// Because the sum runs to the end of the frame, a frame with a partial
// checksum must not carry link padding: padding short frames is the device's
// job.
//
// The stack always writes a complete IPv4 header checksum, whatever the
// device offers: it costs ten additions on a header already in cache, and it
// means only the transport checksum is ever left to complete.
//
// # Memory
//
// Functions that make frames (Segment, Coalesce) take them from an Allocator,
// which backend.Pool is and BackendAllocator adapts a backend.Backend to. They
// never keep a frame they were given: the caller keeps ownership of its input
// unless a function's documentation says it releases it. None of them
// allocates Go memory on success, and none panics on malformed input: they
// return an error wrapping ErrMalformed or ErrUnsupported instead.
package offload
