package reasm

// Stats counts what a Reassembler did, named as `netstat -s` and RFC 4293
// (ipSystemStatsReasm*) name them where they can be.
//
// ReasmFails counts each failure once: a fragment refused on its own
// (BadLength, TooBig without a datagram), or a datagram discarded, however
// many fragments it held. So ReasmFails is always the sum of Timeouts,
// Overlaps, TooBig, MemoryFull, TooManyFragments, TooManyDatagrams,
// BadLength and BadEnd.
type Stats struct {
	// ReasmReqds counts fragments passed to Add, atomic ones included.
	ReasmReqds uint64
	// ReasmOKs counts datagrams reassembled, atomic fragments included.
	ReasmOKs uint64
	// ReasmFails counts failures; see the type's comment.
	ReasmFails uint64

	// Timeouts counts datagrams discarded by Expire.
	Timeouts uint64
	// Overlaps counts datagrams discarded for overlapping fragments
	// (RFC 5722).
	Overlaps uint64
	// TooBig counts fragments reaching past Config.MaxDatagram.
	TooBig uint64
	// MemoryFull counts datagrams discarded to keep within Config.MaxBytes.
	MemoryFull uint64
	// TooManyFragments counts datagrams discarded for exceeding
	// Config.MaxFragments.
	TooManyFragments uint64
	// TooManyDatagrams counts datagrams evicted to keep within
	// Config.MaxDatagrams.
	TooManyDatagrams uint64
	// BadLength counts non-final fragments whose length is not a positive
	// multiple of 8, and offsets that are not multiples of 8.
	BadLength uint64
	// BadEnd counts datagrams discarded because a fragment disagreed with
	// the known end.
	BadEnd uint64

	// Duplicates counts exact duplicates ignored as retransmissions; they
	// are not failures.
	Duplicates uint64
	// Discarded counts fragments dropped because their datagram had already
	// failed (RFC 5722 §4); the failure was counted once, when it happened.
	Discarded uint64
}
