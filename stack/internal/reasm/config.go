package reasm

import "time"

// Defaults for the zero fields of a Config.
const (
	// DefaultTimeout is Linux's ipfrag_time. RFC 791 suggests 15 s; IPv6
	// wants 60 s (RFC 8200 §4.5), which IPv6Config sets.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxDatagram is the largest IPv4 payload: a Total Length of
	// 65,535 minus a 20-byte header (RFC 791 §3.1).
	DefaultMaxDatagram = 65535 - 20
	// DefaultMaxBytes is Linux's ipfrag_high_thresh.
	DefaultMaxBytes = 4 << 20
	// DefaultMaxDatagrams bounds the datagrams in progress.
	DefaultMaxDatagrams = 1024
	// DefaultMaxFragments covers a 65,535-byte datagram on any path with
	// an MTU of 1280 or more (54 fragments of 1232 bytes) and stops
	// tiny-fragment floods (RFC 1858).
	DefaultMaxFragments = 64
)

// Config sets the limits of a Reassembler. Zero or negative fields take the
// defaults above.
type Config struct {
	// Timeout is how long a datagram may take to reassemble, counted from
	// its first fragment and never extended.
	Timeout time.Duration
	// MaxDatagram is the largest reassembled payload: a fragment whose
	// offset plus length exceeds it is TooBig. Callers pass 65,535 minus
	// the header length for IPv4 (the default assumes a 20-byte header) and
	// 65,535 minus the unfragmentable extension headers for IPv6.
	MaxDatagram int
	// MaxBytes caps the memory held by all datagrams in progress: the
	// capacity of the buffers holding their data and headers.
	//
	// When a fragment would exceed it, the oldest datagrams are evicted
	// until it fits (counted as MemoryFull) rather than refusing the new
	// fragment: legitimate datagrams complete within a round trip, so the
	// oldest are most likely the debris of losses or of an attack, and
	// refusing would let an attacker who filled the memory block all
	// reassembly for a whole Timeout. A datagram that could not fit even
	// alone is discarded without evicting others.
	MaxBytes int
	// MaxDatagrams caps the datagrams in progress, discarded ones that are
	// still remembered (see Discarded) included. A new datagram beyond it
	// evicts the oldest (counted as TooManyDatagrams), for the reason given
	// under MaxBytes.
	MaxDatagrams int
	// MaxFragments caps the pieces one datagram may hold; each fragment
	// kept is one piece, or several with AcceptOverlaps when it fills gaps
	// between earlier ones. Exceeding it discards the datagram.
	MaxFragments int
	// AcceptOverlaps keeps the first-received bytes where fragments overlap
	// and stores only the new bytes, as RFC 791 and RFC 815 reassembly
	// does. The default, false, discards a datagram with any overlap other
	// than an exact duplicate, as RFC 5722 requires for IPv6; it is the
	// safe choice for IPv4 too, since overlaps are only ever used to evade
	// filters (RFC 1858 §4).
	AcceptOverlaps bool
}

// IPv4Config returns the defaults for IPv4.
func IPv4Config() Config {
	return Config{
		Timeout:      DefaultTimeout,
		MaxDatagram:  DefaultMaxDatagram,
		MaxBytes:     DefaultMaxBytes,
		MaxDatagrams: DefaultMaxDatagrams,
		MaxFragments: DefaultMaxFragments,
	}
}

// IPv6Config returns the defaults for IPv6: a 60-second timeout (RFC 8200
// §4.5) and a payload of up to 65,535 bytes. Callers with unfragmentable
// extension headers should subtract their length from MaxDatagram.
func IPv6Config() Config {
	c := IPv4Config()
	c.Timeout = 60 * time.Second
	c.MaxDatagram = 65535
	return c
}

// withDefaults returns c with zero or negative fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxDatagram <= 0 {
		c.MaxDatagram = DefaultMaxDatagram
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxDatagrams <= 0 {
		c.MaxDatagrams = DefaultMaxDatagrams
	}
	if c.MaxFragments <= 0 {
		c.MaxFragments = DefaultMaxFragments
	}
	return c
}
