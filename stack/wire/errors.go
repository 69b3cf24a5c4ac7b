package wire

import (
	"errors"
	"fmt"
)

// The errors Check, Parse and WalkIPv6 return. Each failure wraps one of
// these, so callers count drops by reason with errors.Is; the wrapping message
// names the header and the rule. All are allocated once, at init: returning
// one never allocates.
var (
	// ErrTruncated means the bytes end before a header, or before the length
	// a header's own length field announces.
	ErrTruncated = errors.New("wire: truncated")
	// ErrBadLength means a length field is smaller than its header's
	// minimum or otherwise impossible.
	ErrBadLength = errors.New("wire: bad length field")
	// ErrBadVersion means an IP header's version field is wrong for its view.
	ErrBadVersion = errors.New("wire: bad ip version")
	// ErrBadOption means a TCP, IPv6 or NDP option is malformed: a length
	// of zero, or one past the end of its area.
	ErrBadOption = errors.New("wire: malformed option")
	// ErrUnsupported means a well-formed header that ustack does not speak:
	// ARP for other than Ethernet and IPv4, more than two VLAN tags.
	ErrUnsupported = errors.New("wire: unsupported")
	// ErrTooManyHeaders means an IPv6 extension header chain longer than
	// MaxIPv6ExtHeaders.
	ErrTooManyHeaders = errors.New("wire: too many extension headers")
)

func wrap(base error, msg string) error { return fmt.Errorf("%w: %s", base, msg) }

var (
	errEthernetShort = wrap(ErrTruncated, "ethernet header shorter than 14 bytes")
	errVLANShort     = wrap(ErrTruncated, "vlan tag cut short")
	errVLANTooMany   = wrap(ErrUnsupported, "more than two vlan tags")

	errARPShort  = wrap(ErrTruncated, "arp packet shorter than 28 bytes")
	errARPFormat = wrap(ErrUnsupported, "arp is not ethernet (htype 1, hlen 6) over ipv4 (ptype 0x0800, plen 4)")

	errIPv4Short     = wrap(ErrTruncated, "ipv4 header shorter than 20 bytes")
	errIPv4Version   = wrap(ErrBadVersion, "ipv4 version is not 4")
	errIPv4IHL       = wrap(ErrBadLength, "ipv4 ihl below 5")
	errIPv4HdrTrunc  = wrap(ErrTruncated, "ipv4 header length past the end of the packet")
	errIPv4TotalLen  = wrap(ErrBadLength, "ipv4 total length below header length")
	errIPv4DataTrunc = wrap(ErrTruncated, "ipv4 total length past the end of the packet")

	errIPv6Short     = wrap(ErrTruncated, "ipv6 header shorter than 40 bytes")
	errIPv6Version   = wrap(ErrBadVersion, "ipv6 version is not 6")
	errIPv6DataTrunc = wrap(ErrTruncated, "ipv6 payload length past the end of the packet")
	errIPv6ExtShort  = wrap(ErrTruncated, "ipv6 extension header past the end of the payload")
	errIPv6FragShort = wrap(ErrTruncated, "ipv6 fragment header shorter than 8 bytes")
	errIPv6ExtMany   = wrap(ErrTooManyHeaders, "ipv6 chain longer than MaxIPv6ExtHeaders")
	errIPv6OptTrunc  = wrap(ErrBadOption, "ipv6 option past the end of its header")

	errICMPv4Short = wrap(ErrTruncated, "icmpv4 message shorter than 8 bytes")
	errICMPv6Short = wrap(ErrTruncated, "icmpv6 message shorter than 8 bytes")
	errNDPShort    = wrap(ErrTruncated, "ndp message shorter than its fixed part")
	errNDPOptZero  = wrap(ErrBadOption, "ndp option with length 0")
	errNDPOptTrunc = wrap(ErrBadOption, "ndp option past the end of the message")
	errNDPOptShape = wrap(ErrBadOption, "ndp option of the wrong length for its type")

	errUDPShort     = wrap(ErrTruncated, "udp header shorter than 8 bytes")
	errUDPLength    = wrap(ErrBadLength, "udp length below 8")
	errUDPDataTrunc = wrap(ErrTruncated, "udp length past the end of the datagram")

	errTCPShort      = wrap(ErrTruncated, "tcp header shorter than 20 bytes")
	errTCPDataOff    = wrap(ErrBadLength, "tcp data offset below 5")
	errTCPHdrTrunc   = wrap(ErrTruncated, "tcp data offset past the end of the segment")
	errTCPOptNoLen   = wrap(ErrBadOption, "tcp option kind without a length byte")
	errTCPOptLen     = wrap(ErrBadOption, "tcp option length below 2")
	errTCPOptOverrun = wrap(ErrBadOption, "tcp option past the end of the header")
)
