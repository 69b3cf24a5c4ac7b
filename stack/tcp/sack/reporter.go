package sack

import "github.com/ustack/ustack/stack/tcp/seq"

// The most SACK blocks one TCP header carries (RFC 2018 §3): 4 in the 40
// option bytes, 3 when the 10-byte timestamp option is present.
const (
	MaxBlocks               = 4
	MaxBlocksWithTimestamps = 3
)

// recentCap is how many recently reported or arrived blocks a Reporter
// remembers; more than MaxBlocks so that several segments arriving into one
// block before an ACK do not push older blocks out of the order.
const recentCap = 2 * MaxBlocks

// Reporter chooses the SACK blocks a data receiver sends (RFC 2018 §4, RFC
// 2883 §4). The zero value is ready. It is allocation-free.
type Reporter struct {
	// recent holds a sequence number inside each block, most recent first:
	// the segments that arrived since the last ACK, then the blocks that
	// ACK reported.
	recent [recentCap]seq.Value
	n      int
	dup    Block
	hasDup bool
}

// Reset forgets the reporting history.
func (r *Reporter) Reset() { *r = Reporter{} }

// Arrived records that an out-of-order segment starting at start was
// queued. The next Blocks puts the block holding it first: RFC 2018 §4, "the
// first SACK block ... MUST specify the contiguous block of data containing
// the segment which triggered this ACK". Do not call it for a segment that
// advanced RCV.NXT.
func (r *Reporter) Arrived(start seq.Value) { r.push(start) }

// Duplicate records that a segment [start, end) arrived that the receiver
// already had. The next Blocks reports it first, once, as a D-SACK block
// (RFC 2883 §4).
func (r *Reporter) Duplicate(start, end seq.Value) {
	r.dup = Block{Start: start, End: end}
	r.hasDup = true
}

func (r *Reporter) push(s seq.Value) {
	copy(r.recent[1:], r.recent[:min(r.n, recentCap-1)])
	r.recent[0] = s
	r.n = min(r.n+1, recentCap)
}

// Blocks appends to dst the SACK blocks for the next ACK, at most limit of
// them (MaxBlocks, or MaxBlocksWithTimestamps), and returns the extended
// slice. rcvNxt is RCV.NXT and ooo the receiver's out-of-order ranges above
// it, disjoint, in any order. The order follows RFC 2018 §4 and RFC 2883 §4:
//
//  1. a pending D-SACK block, then the out-of-order block holding it, if any;
//  2. the blocks holding the segments that arrived since the last ACK, most
//     recent first;
//  3. the blocks reported before, most recently reported first;
//  4. any other out-of-order blocks, highest first,
//
// skipping blocks already included. With dst of capacity limit it does not
// allocate.
func (r *Reporter) Blocks(dst []Block, rcvNxt seq.Value, ooo []Block, limit int) []Block {
	first := len(dst)
	if limit <= 0 {
		return dst
	}
	dsacks := 0 // the D-SACK block is not a SACK block: it may repeat one
	if r.hasDup {
		r.hasDup = false
		dst = append(dst, r.dup)
		dsacks = 1
		if b, ok := containing(ooo, rcvNxt, r.dup.Start); ok && b.Contains(r.dup.End.Add(-1)) && len(dst)-first < limit {
			dst = append(dst, b)
		}
	}
	for i := 0; i < r.n && len(dst)-first < limit; i++ {
		if b, ok := containing(ooo, rcvNxt, r.recent[i]); ok && !included(dst[first+dsacks:], b) {
			dst = append(dst, b)
		}
	}
	for len(dst)-first < limit {
		// The highest block not yet included.
		best, found := Block{}, false
		for _, b := range ooo {
			if !above(b, rcvNxt) || included(dst[first+dsacks:], b) {
				continue
			}
			if !found || best.Start.LessThan(b.Start) {
				best, found = b, true
			}
		}
		if !found {
			break
		}
		dst = append(dst, best)
	}
	// Remember what this ACK reported, in order, for the next ones. An ACK
	// with no SACK block (only a D-SACK, or nothing out of order) keeps the
	// history.
	if len(dst) == first+dsacks {
		return dst
	}
	r.n = 0
	for _, b := range dst[first+dsacks:] {
		if r.n == recentCap {
			break
		}
		r.recent[r.n] = b.Start
		r.n++
	}
	return dst
}

// above reports whether b is a non-empty block at or above rcvNxt.
func above(b Block, rcvNxt seq.Value) bool {
	return b.Start.LessThan(b.End) && rcvNxt.LessEq(b.Start)
}

// containing finds the block of ooo above rcvNxt that holds s.
func containing(ooo []Block, rcvNxt, s seq.Value) (Block, bool) {
	for _, b := range ooo {
		if above(b, rcvNxt) && b.Contains(s) {
			return b, true
		}
	}
	return Block{}, false
}

func included(bs []Block, b Block) bool {
	for _, c := range bs {
		if c == b {
			return true
		}
	}
	return false
}
