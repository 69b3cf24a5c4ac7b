package wire

// TCP option kinds (RFC 9293 §3.1, RFC 7323, RFC 2018).
const (
	TCPOptEOL           = 0
	TCPOptNOP           = 1
	TCPOptMSS           = 2
	TCPOptWindowScale   = 3
	TCPOptSACKPermitted = 4
	TCPOptSACK          = 5
	TCPOptTimestamps    = 8
)

// TCPMaxOptionsLen is the most option bytes a header carries: 60 less 20.
const TCPMaxOptionsLen = TCPMaxHeaderLen - TCPHeaderLen

// TCPMaxSACKBlocks is how many SACK blocks fit in 40 option bytes
// (RFC 2018 §3).
const TCPMaxSACKBlocks = 4

// SACKBlock is one block of a SACK option: the sequence numbers of the first
// byte of a received block and of the byte just past it (RFC 2018 §3).
type SACKBlock struct {
	Left, Right uint32
}

// TCPOptions is the value of the options ustack understands; others are
// skipped. Fixed-size fields: parsing never allocates.
type TCPOptions struct {
	MSS    uint16
	HasMSS bool

	// WindowScale is the shift count as received; RFC 7323 §2.3 says to use
	// 14 for larger values, which is the stack's business.
	WindowScale    uint8
	HasWindowScale bool

	SACKPermitted bool

	// SACK holds NumSACK blocks, in the order they came.
	SACK    [TCPMaxSACKBlocks]SACKBlock
	NumSACK int

	HasTimestamps bool
	TSVal, TSEcr  uint32
}

// Parse reads the options area b (what TCP.Options returns). Unknown kinds
// are skipped, and so is a known kind with the wrong length, as Linux does.
// A kind other than EOL and NOP without a length byte, with a length below 2
// or running past b gives ErrBadOption (RFC 9293 §3.1, MUST-7: an illegal
// length must not crash). It stops at EOL; later bytes are padding. A
// repeated option overwrites the earlier one. Every step advances, so it
// cannot loop.
func (o *TCPOptions) Parse(b []byte) error {
	*o = TCPOptions{}
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case TCPOptEOL:
			return nil
		case TCPOptNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return errTCPOptNoLen
		}
		n := int(b[i+1])
		if n < 2 {
			return errTCPOptLen
		}
		if i+n > len(b) {
			return errTCPOptOverrun
		}
		data := b[i+2 : i+n]
		i += n
		switch kind {
		case TCPOptMSS:
			if len(data) == 2 {
				o.MSS, o.HasMSS = be16(data), true
			}
		case TCPOptWindowScale:
			if len(data) == 1 {
				o.WindowScale, o.HasWindowScale = data[0], true
			}
		case TCPOptSACKPermitted:
			if len(data) == 0 {
				o.SACKPermitted = true
			}
		case TCPOptSACK:
			if len(data) == 0 || len(data)%8 != 0 {
				continue
			}
			o.NumSACK = 0
			for ; len(data) >= 8 && o.NumSACK < TCPMaxSACKBlocks; data = data[8:] {
				o.SACK[o.NumSACK] = SACKBlock{Left: be32(data[0:4]), Right: be32(data[4:8])}
				o.NumSACK++
			}
		case TCPOptTimestamps:
			if len(data) == 8 {
				o.TSVal, o.TSEcr, o.HasTimestamps = be32(data[0:4]), be32(data[4:8]), true
			}
		}
	}
	return nil
}

// layout chooses how Emit writes the options: aligned with NOPs so that
// every option starts on its natural boundary (RFC 7323 Appendix A) when
// that fits in 40 bytes, packed otherwise, and if even that does not fit,
// with the last SACK blocks dropped. It returns the choice, the SACK blocks
// written and the length.
func (o TCPOptions) layout() (aligned bool, nsack, n int) {
	for nsack = min(max(o.NumSACK, 0), TCPMaxSACKBlocks); ; nsack-- {
		if n = o.alignedLen(nsack); n <= TCPMaxOptionsLen {
			return true, nsack, n
		}
		if n = o.packedLen(nsack); n <= TCPMaxOptionsLen {
			return false, nsack, n
		}
	}
}

func (o TCPOptions) alignedLen(nsack int) int {
	n := 0
	if o.HasMSS {
		n += 4
	}
	if o.HasTimestamps {
		n += 12 // NOP NOP TS, or SACK-permitted TS
	} else if o.SACKPermitted {
		n += 4 // NOP NOP SACK-permitted
	}
	if o.HasWindowScale {
		n += 4 // NOP WS
	}
	if nsack > 0 {
		n += 4 + 8*nsack // NOP NOP SACK
	}
	return n
}

func (o TCPOptions) packedLen(nsack int) int {
	n := 0
	if o.HasMSS {
		n += 4
	}
	if o.SACKPermitted {
		n += 2
	}
	if o.HasTimestamps {
		n += 10
	}
	if o.HasWindowScale {
		n += 3
	}
	if nsack > 0 {
		n += 2 + 8*nsack
	}
	return (n + 3) &^ 3
}

// Len is the length Emit writes: a multiple of 4, at most 40.
func (o TCPOptions) Len() int {
	_, _, n := o.layout()
	return n
}

// Emit writes the options into b, which must hold at least Len bytes: MSS,
// SACK-permitted, timestamps, window scale, SACK blocks, each where Linux
// puts it, padded to a multiple of 4.
func (o TCPOptions) Emit(b []byte) {
	aligned, nsack, n := o.layout()
	b = b[:n]
	i := 0
	put := func(v ...byte) { i += copy(b[i:], v) }
	if o.HasMSS {
		put(TCPOptMSS, 4, byte(o.MSS>>8), byte(o.MSS))
	}
	switch {
	case aligned && o.HasTimestamps && o.SACKPermitted:
		put(TCPOptSACKPermitted, 2)
	case aligned && (o.HasTimestamps || o.SACKPermitted):
		put(TCPOptNOP, TCPOptNOP)
		if !o.HasTimestamps {
			put(TCPOptSACKPermitted, 2)
		}
	case o.SACKPermitted:
		put(TCPOptSACKPermitted, 2)
	}
	if o.HasTimestamps {
		put(TCPOptTimestamps, 10)
		put32be(b[i:], o.TSVal)
		put32be(b[i+4:], o.TSEcr)
		i += 8
	}
	if o.HasWindowScale {
		if aligned {
			put(TCPOptNOP)
		}
		put(TCPOptWindowScale, 3, o.WindowScale)
	}
	if nsack > 0 {
		if aligned {
			put(TCPOptNOP, TCPOptNOP)
		}
		put(TCPOptSACK, byte(2+8*nsack))
		for _, s := range o.SACK[:nsack] {
			put32be(b[i:], s.Left)
			put32be(b[i+4:], s.Right)
			i += 8
		}
	}
	clear(b[i:]) // End of Option List, then zero padding (RFC 9293 §3.1)
}
