package reasm

// Status says what Add did with a fragment.
type Status uint8

const (
	// Pending means the fragment was kept (or was an exact duplicate) and
	// the datagram is still incomplete.
	Pending Status = iota
	// Complete means the datagram is whole: Result.Header and
	// Result.Payload hold it.
	Complete
	// Dropped means the fragment was discarded, and with it its datagram
	// unless the Reason is BadLength or Discarded; Result.Reason says why.
	Dropped
)

// String returns the status as a lower-case word.
func (s Status) String() string {
	switch s {
	case Pending:
		return "pending"
	case Complete:
		return "complete"
	case Dropped:
		return "dropped"
	}
	return "unknown"
}

// Reason says why Add dropped a fragment. Each reason but Discarded has a
// counter of the same name in Stats.
type Reason uint8

const (
	// NoReason is the Reason of a result that is not Dropped.
	NoReason Reason = iota
	// BadLength: a non-final fragment whose length is not a positive
	// multiple of 8, or an offset that is negative or not a multiple of 8.
	// Only the fragment is discarded (RFC 8200 §4.5: the sender should get
	// ICMPv6 Parameter Problem code 0 pointing at the Payload Length).
	BadLength
	// BadEnd: a final fragment whose end differs from the end already
	// known, or data past the known end. The datagram is discarded.
	BadEnd
	// Overlap: the fragment overlaps data already received and is not an
	// exact duplicate. The datagram is discarded, and its later fragments
	// too (RFC 5722 §4).
	Overlap
	// TooBig: offset plus length exceeds Config.MaxDatagram. The fragment
	// and its datagram are discarded (RFC 8200 §4.5: the sender should get
	// ICMPv6 Parameter Problem code 0 pointing at the Fragment Offset).
	TooBig
	// MemoryFull: the datagram alone would hold more than Config.MaxBytes.
	// The datagram is discarded.
	MemoryFull
	// TooManyFragments: the datagram would hold more than
	// Config.MaxFragments pieces. The datagram is discarded.
	TooManyFragments
	// Discarded: the fragment belongs to a datagram discarded earlier for
	// BadEnd, Overlap, TooBig or TooManyFragments whose timeout has not yet
	// passed (RFC 5722 §4: "and any constituent fragments, including those
	// not yet received").
	Discarded
)

// String returns the reason as the name of its Stats counter.
func (r Reason) String() string {
	switch r {
	case NoReason:
		return "none"
	case BadLength:
		return "BadLength"
	case BadEnd:
		return "BadEnd"
	case Overlap:
		return "Overlaps"
	case TooBig:
		return "TooBig"
	case MemoryFull:
		return "MemoryFull"
	case TooManyFragments:
		return "TooManyFragments"
	case Discarded:
		return "Discarded"
	}
	return "unknown"
}

// Result is what Add returns for a fragment.
type Result struct {
	// Status says whether the datagram is complete, pending or dropped.
	Status Status
	// Reason says why the fragment was dropped; NoReason otherwise.
	Reason Reason
	// Header is, when Complete, the header passed with the fragment at
	// offset 0 (nil if it was empty).
	Header []byte
	// Payload is, when Complete, the reassembled data: the fragmentable
	// part, from offset 0 to the end of the final fragment.
	Payload []byte
}

// Expired describes a datagram whose reassembly timed out.
type Expired struct {
	// Key identifies the datagram.
	Key Key
	// First reports whether the fragment at offset 0 had arrived. Only then
	// should the caller send ICMP Time Exceeded code 1 (RFC 792; RFC 8200
	// §4.5; RFC 4443 §3.3).
	First bool
	// Header is the header passed with the fragment at offset 0, nil unless
	// First.
	Header []byte
	// Data is the data received at offset 0, for quoting in the ICMP
	// message; nil unless First.
	Data []byte
}
