// Package reasm reassembles fragmented IP datagrams: IPv4 (RFC 791 §3.2,
// RFC 815) and IPv6 (RFC 8200 §4.5, RFC 5722, RFC 6946).
//
// A Reassembler belongs to one stack loop: it takes no locks, starts no
// goroutines and never reads the clock. Time is passed in as now, in
// nanoseconds, and must not go backwards; NextDeadline says when Expire has
// work to do. Datagrams in progress live in a map for lookup and in a list
// ordered by creation for expiry and eviction, so the order in which
// datagrams expire or are evicted depends only on the order of the calls:
// the same calls give the same results and the same Stats.
//
// The caller parses the IP header and extracts the key, the fragment offset
// in bytes, the More Fragments flag, the fragment's data and the header to
// return with the datagram: for IPv4 the header of the fragment at offset 0,
// for IPv6 the unfragmentable part of the fragment at offset 0. Add copies
// what it keeps, so the caller may release the frame as soon as Add returns.
//
// What the package does and does not do:
//
//   - Atomic fragments (offset 0, no More Fragments) are returned at once,
//     independently of any datagram in progress with the same key
//     (RFC 6946 §4).
//   - A non-final fragment whose length is not a positive multiple of 8 is
//     refused on its own (RFC 8200 §4.5; RFC 791 fragments end on 8-octet
//     boundaries); the caller may send ICMPv6 Parameter Problem code 0.
//   - A fragment reaching past Config.MaxDatagram is refused and discards
//     its datagram: this is the "reassembled datagram over 65,535 octets"
//     attack (RFC 8200 §4.5, ping of death for IPv4).
//   - A final fragment that disagrees with a known end, or data past a known
//     end, discards the datagram.
//   - Overlapping fragments discard the whole datagram, and fragments of it
//     that arrive later are discarded too until its timeout (RFC 5722 §4).
//     Exact duplicates (same offset, length and bytes) are ignored as
//     retransmissions (RFC 8200 §4.5). Config.AcceptOverlaps keeps the
//     first-received bytes instead, as classic IPv4 stacks do.
//   - The reassembly timer starts with the first fragment and is never
//     extended (RFC 8200 §4.5; RFC 791 allows extending it, which lets a
//     trickle of fragments hold memory for ever). Expire reports timed-out
//     datagrams with the header of the fragment at offset 0 when it arrived,
//     so the caller can send ICMP Time Exceeded code 1 (RFC 792, RFC 4443
//     §3.3); only then (RFC 8200 §4.5).
//   - Memory and datagrams in progress are capped: past a cap the oldest
//     datagrams are evicted. Pieces per datagram are capped too: past that
//     cap the datagram is discarded (RFC 1858 tiny fragments). See Config.
//   - Not done here: checking that the first IPv6 fragment holds the whole
//     header chain (RFC 7112), ICMP generation, and checks that need the
//     header length (an IPv4 header with options shrinks the payload limit).
//
// Buffers are owned by the Reassembler and recycled: the slices a Result or
// an Expired holds are valid only until the next call to Add or Expire (or,
// for Expired, until the callback returns).
package reasm
