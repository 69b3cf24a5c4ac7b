package stack

import "net/netip"

// IPv4 options an echo reply returns (RFC 791 §3.1).
const (
	ipOptEnd          = 0
	ipOptNop          = 1
	ipOptRecordRoute  = 7
	ipOptLSRR         = 131 // loose source and record route
	ipOptSSRR         = 137 // strict source and record route
	ipOptTimestamp    = 68
	ipOptMaxLen       = 40
	tsOnly            = 0 // timestamp option flags
	tsAndAddress      = 1
	tsPrespecified    = 3
	msPerDay          = 24 * 3600 * 1000
	ipOptMinPointer   = 4 // an option's pointer counts from 1 and skips type, length and itself
	ipOptTSMinPointer = 5 // the timestamp option has a flags byte too
)

// echoOptions returns, appended to dst, the options an echo reply carries
// back from request options opts (RFC 1122 §3.2.2.6): its record-route
// and timestamp options, self's address and the time now (Unix
// nanoseconds) added where they have room (RFC 791), so that the route
// and times recorded cover the round trip, as `ping -R` and `ping -T`
// show. Other options are left out, and the result is padded to a
// multiple of 4 bytes. It returns nil when the request has neither, or
// when its options are malformed (the reply then goes without options).
func echoOptions(dst, opts []byte, self netip.Addr, now int64) []byte {
	out := dst[:0]
	a := self.As4()
	ok := eachIPv4Option(opts, func(o []byte) bool {
		n := len(o)
		switch o[0] {
		case ipOptRecordRoute:
			if n < 3 || o[2] < ipOptMinPointer {
				return false
			}
			start := len(out)
			out = append(out, o...)
			r := out[start:]
			if p := int(r[2]); p+3 <= n {
				copy(r[p-1:], a[:])
				r[2] += 4
			}
		case ipOptTimestamp:
			if n < 4 || o[2] < ipOptTSMinPointer {
				return false
			}
			start := len(out)
			out = append(out, o...)
			stampOption(out[start:], a, uint32(now/1e6%msPerDay))
		}
		return true
	})
	if !ok || len(out) == 0 || len(out) > ipOptMaxLen {
		return nil
	}
	for len(out)%4 != 0 {
		out = append(out, ipOptEnd)
	}
	if len(out) > ipOptMaxLen {
		return nil
	}
	return out
}

// eachIPv4Option calls yield with each option of the list opts (RFC 791
// §3.1), type, length and all, passing over No Operation and stopping at
// End of Option List. An option whose length is cut off, under 2 or past
// the list is malformed: yield gets its type alone, in a slice of one byte
// with no room for the rest, and the walk ends there. eachIPv4Option
// reports false when yield returned false or the list is malformed.
func eachIPv4Option(opts []byte, yield func(o []byte) bool) bool {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case ipOptEnd:
			return true
		case ipOptNop:
			i++
			continue
		}
		if i+2 > len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			yield(opts[i : i+1 : i+1])
			return false
		}
		n := int(opts[i+1])
		if !yield(opts[i : i+n]) {
			return false
		}
		i += n
	}
	return true
}

// stampOption adds this host's entry to a timestamp option t (RFC 791):
// the time, milliseconds since midnight UT; with flag 1 after the address;
// with flag 3 only where the next prespecified address is self's. An
// option with no room left counts the overflow in its top four bits.
func stampOption(t []byte, self [4]byte, ms uint32) {
	n, p, flag := len(t), int(t[2]), t[3]&0x0f
	putTime := func(at int) {
		t[at], t[at+1], t[at+2], t[at+3] = byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	}
	switch flag {
	case tsOnly:
		if p+3 <= n {
			putTime(p - 1)
			t[2] += 4
			return
		}
	case tsAndAddress:
		if p+7 <= n {
			copy(t[p-1:], self[:])
			putTime(p + 3)
			t[2] += 8
			return
		}
	case tsPrespecified:
		if p+7 <= n {
			if [4]byte(t[p-1:p+3]) == self {
				putTime(p + 3)
				t[2] += 8
			}
			return
		}
	default:
		return
	}
	if over := t[3] >> 4; over < 15 {
		t[3] = (over+1)<<4 | flag
	}
}

// sourceRouted reports whether options opts hold a loose or strict source
// route. A host drops such datagrams, as Linux does unless
// accept_source_route is set and as RFC 7126 §4.3-4.4 advises: the route
// would let a sender steer our replies past filters. Malformed options
// end the scan; what came before them counts.
func sourceRouted(opts []byte) bool {
	routed := false
	eachIPv4Option(opts, func(o []byte) bool {
		routed = o[0] == ipOptLSRR || o[0] == ipOptSSRR
		return !routed
	})
	return routed
}
