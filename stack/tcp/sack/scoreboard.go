package sack

import "github.com/ustack/ustack/stack/tcp/seq"

// DupThresh is the number of duplicate ACKs, or of discontiguous SACKed
// ranges, that marks a segment lost (RFC 6675 §2, RFC 5681 §3.2).
const DupThresh = 3

// MaxRanges is how many disjoint SACKed ranges a Scoreboard tracks, and so
// how many holes (at most MaxRanges) it knows between SND.UNA and SND.NXT.
const MaxRanges = 64

// Block is a range [Start, End) of sequence space, as carried in a SACK
// option (RFC 2018 §3: left edge, right edge).
type Block struct {
	Start, End seq.Value
}

// Len is the number of octets in b; zero for an empty or inverted block.
func (b Block) Len() int { return max(int(b.End.Sub(b.Start)), 0) }

// Contains reports whether s lies in b.
func (b Block) Contains(s seq.Value) bool { return s.InRange(b.Start, b.End) }

// Scoreboard is the sender's record of SACKed data above SND.UNA (RFC 6675
// §3): sorted, disjoint, non-adjacent ranges, all within [SND.UNA, SND.NXT).
//
// When all MaxRanges ranges are in use, a new disjoint range displaces the
// highest range, or is dropped if it is itself the highest: the board keeps
// the ranges nearest SND.UNA, which decide what is retransmitted. Forgetting
// a range only makes the sender treat that data as still in flight: pipe is
// overestimated and loss is declared later, which errs on the side of
// sending less. SackedBytes may then shrink without SND.UNA moving.
//
// The ranges are allocated with the first SACK: most connections never see
// one, and an idle connection should cost little.
type Scoreboard struct {
	mss    int
	n      int
	r      *[MaxRanges]Block
	sacked int
}

// New returns an empty scoreboard for sender MSS mss.
func New(mss int) Scoreboard {
	return Scoreboard{mss: max(mss, 1)}
}

// SetMSS changes the sender MSS used by IsLost and segment sizes.
func (s *Scoreboard) SetMSS(mss int) { s.mss = max(mss, 1) }

// Reset forgets all SACK information, as after a retransmission timeout.
func (s *Scoreboard) Reset() {
	s.n = 0
	s.sacked = 0
}

// Len is the number of SACKed ranges.
func (s *Scoreboard) Len() int { return s.n }

// Ranges returns the SACKed ranges in sequence order. The slice aliases the
// board and is valid until the next call that changes it.
func (s *Scoreboard) Ranges() []Block {
	if s.n == 0 {
		return nil
	}
	return s.r[:s.n]
}

// SackedBytes is the number of octets SACKed above SND.UNA.
func (s *Scoreboard) SackedBytes() int { return s.sacked }

// HighestSacked returns the end of the highest SACKed range (one past the
// highest octet covered by any SACK), and false when nothing is SACKed.
func (s *Scoreboard) HighestSacked() (seq.Value, bool) {
	if s.n == 0 {
		return 0, false
	}
	return s.r[s.n-1].End, true
}

// Sacked reports whether octet x has been SACKed.
func (s *Scoreboard) Sacked(x seq.Value) bool {
	for i := 0; i < s.n; i++ {
		if x.LessThan(s.r[i].Start) {
			return false
		}
		if x.LessThan(s.r[i].End) {
			return true
		}
	}
	return false
}

// Update applies an ACK: una is SND.UNA after it (its cumulative
// acknowledgment), nxt is SND.NXT, blocks are its SACK blocks in the order
// received. It returns the octets newly SACKed and whether the first block
// was a D-SACK (RFC 2883 §4): below the cumulative acknowledgment, or
// within the second block. A D-SACK block is not recorded. Other blocks are
// ignored when empty, entirely at or below una, or reaching beyond nxt
// (RFC 2018 §8 lets the sender keep only what it can trust); a block
// starting below una is cut at una.
func (s *Scoreboard) Update(una, nxt seq.Value, blocks []Block) (newlySacked int, dsack bool) {
	s.trim(una)
	for i, b := range blocks {
		if i == 0 && isDSACK(una, blocks) {
			dsack = true
			continue
		}
		if !b.Start.LessThan(b.End) || b.End.LessEq(una) || b.End.GreaterThan(nxt) {
			continue
		}
		newlySacked += s.insert(seq.Max(b.Start, una), b.End)
	}
	return newlySacked, dsack
}

// isDSACK applies RFC 2883 §4 to the first block: a D-SACK when it is below
// the cumulative acknowledgment, or lies within the second block.
func isDSACK(ack seq.Value, blocks []Block) bool {
	b := blocks[0]
	if b.Start.LessThan(ack) {
		return true
	}
	if len(blocks) > 1 {
		c := blocks[1]
		return c.Start.LessEq(b.Start) && b.End.LessEq(c.End)
	}
	return false
}

// trim forgets what lies below una.
func (s *Scoreboard) trim(una seq.Value) {
	drop := 0
	for drop < s.n && s.r[drop].End.LessEq(una) {
		s.sacked -= s.r[drop].Len()
		drop++
	}
	if drop > 0 {
		copy(s.r[:], s.r[drop:s.n])
		s.n -= drop
	}
	if s.n > 0 && s.r[0].Start.LessThan(una) {
		s.sacked -= int(una.Sub(s.r[0].Start))
		s.r[0].Start = una
	}
}

// insert records [start, end) as SACKed, merging with the ranges it overlaps
// or touches, and returns the octets it adds.
func (s *Scoreboard) insert(start, end seq.Value) int {
	if s.r == nil {
		s.r = new([MaxRanges]Block)
	}
	i := 0
	for i < s.n && s.r[i].End.LessThan(start) {
		i++
	}
	j, covered := i, 0
	for j < s.n && s.r[j].Start.LessEq(end) {
		lo, hi := seq.Max(s.r[j].Start, start), seq.Min(s.r[j].End, end)
		if lo.LessThan(hi) {
			covered += int(hi.Sub(lo))
		}
		j++
	}
	if i == j {
		// Disjoint from every range: insert at i.
		if s.n == MaxRanges {
			if i == MaxRanges {
				return 0 // above every range: dropped at the cap
			}
			s.n--
			s.sacked -= s.r[s.n].Len() // the highest range makes room
		}
		copy(s.r[i+1:s.n+1], s.r[i:s.n])
		s.r[i] = Block{Start: start, End: end}
		s.n++
	} else {
		// Merge ranges i..j-1 with [start, end) into range i.
		s.r[i] = Block{Start: seq.Min(start, s.r[i].Start), End: seq.Max(end, s.r[j-1].End)}
		copy(s.r[i+1:], s.r[j:s.n])
		s.n -= j - i - 1
	}
	added := int(end.Sub(start)) - covered
	s.sacked += added
	return added
}

// lost is RFC 6675 §4 IsLost for an octet with count discontiguous SACKed
// ranges and bytes SACKed octets above it.
func (s *Scoreboard) lost(count, bytes int) bool {
	return count >= DupThresh || bytes > (DupThresh-1)*s.mss
}

// IsLost reports whether octet x is deemed lost (RFC 6675 §4 IsLost):
// DupThresh discontiguous SACKed ranges lie above it, or more than
// (DupThresh-1)*SMSS SACKed octets do.
func (s *Scoreboard) IsLost(x seq.Value) bool {
	count, bytes := 0, 0
	above := x.Add(1)
	for i := s.n - 1; i >= 0; i-- {
		r := s.r[i]
		if r.End.LessEq(above) {
			break
		}
		count++
		bytes += int(r.End.Sub(seq.Max(r.Start, above)))
		if s.lost(count, bytes) {
			return true
		}
	}
	return false
}

// Pipe is RFC 6675 §4 SetPipe: the octets in flight between una (HighACK)
// and nxt (HighData). Each octet not SACKed counts once if it is not deemed
// lost, and once more if it was retransmitted, that is if it lies below
// highRxt (one past the highest retransmitted octet; una if none).
func (s *Scoreboard) Pipe(una, nxt, highRxt seq.Value) int {
	pipe := 0
	count, bytes := 0, 0
	hi := nxt
	// Walk the holes from the top: every octet of a hole has the same
	// SACKed ranges above it, so IsLost is decided once per hole.
	for i := s.n - 1; i >= -1; i-- {
		lo := una
		if i >= 0 {
			lo = seq.Max(s.r[i].End, una)
		}
		if lo.LessThan(hi) {
			if !s.lost(count, bytes) {
				pipe += int(hi.Sub(lo))
			}
			if rx := seq.Min(hi, highRxt); lo.LessThan(rx) {
				pipe += int(rx.Sub(lo))
			}
		}
		if i >= 0 {
			count++
			bytes += s.r[i].Len()
			hi = seq.Min(s.r[i].Start, hi)
		}
	}
	return pipe
}
