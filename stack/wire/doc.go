// Package wire reads and writes the headers ustack speaks: Ethernet with
// 802.1Q tags, ARP, IPv4, IPv6 and its extension headers, ICMPv4, ICMPv6, UDP
// and TCP, and computes Internet checksums.
//
// Each header is a view over bytes (type TCP []byte) with accessors and
// setters, and a Check method that validates lengths once so that accessors
// cannot read out of bounds afterwards; and a value struct (TCPFields) with
// Parse, Emit and Len. Views never copy and never allocate; no input makes
// any function here panic once Check has accepted it, and Check itself
// accepts any byte slice.
//
// Emit writes transport checksums (TCP, UDP, ICMP) as zero, since they
// cover data Emit does not write: once the payload is in place, set them
// with the view's ComputeChecksum, or leave a partial checksum for offload.
// IPv4Fields.Emit computes the header checksum itself.
//
// The package imports nothing else from ustack: backends use it too, for
// checksum completion and software segmentation.
package wire
