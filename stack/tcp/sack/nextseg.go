package sack

import "github.com/ustack/ustack/stack/tcp/seq"

// Kind says which rule of RFC 6675 §4 NextSeg chose a segment.
type Kind uint8

// The kinds of segment NextSeg and Rescue return.
const (
	// RetransmitLost is rule 1: the first unSACKed data above HighRxt
	// that IsLost, below the highest SACKed octet.
	RetransmitLost Kind = iota + 1
	// SendNew is rule 2: new data from SND.NXT.
	SendNew
	// RetransmitUnsacked is rule 3: unSACKed data above HighRxt below the
	// highest SACKed octet, not yet deemed lost, when there is no new data
	// to send.
	RetransmitUnsacked
	// RetransmitRescue is rule 4: the rescue retransmission of the
	// highest unSACKed data.
	RetransmitRescue
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case RetransmitLost:
		return "lost"
	case SendNew:
		return "new"
	case RetransmitUnsacked:
		return "unsacked"
	case RetransmitRescue:
		return "rescue"
	}
	return "none"
}

// Segment is a range to send: Len octets from Start.
type Segment struct {
	Start seq.Value
	Len   int
	Kind  Kind
}

// End is one past the last octet of the segment.
func (g Segment) End() seq.Value { return g.Start.Add(g.Len) }

// NextSeg is RFC 6675 §4 NextSeg, rules 1 to 3: the next segment, of at most
// SMSS octets, to send during loss recovery. una is SND.UNA (HighACK), nxt is
// SND.NXT (HighData + 1), highRxt is one past the highest retransmitted
// octet (una if none), and sendable is how many new octets the send buffer
// and the receiver's window allow from nxt. It returns false when no rule
// applies (rule 5). A retransmitted segment never extends into SACKed data.
func (s *Scoreboard) NextSeg(una, nxt, highRxt seq.Value, sendable int) (Segment, bool) {
	from := seq.Max(highRxt, una)
	// Rules 1 and 3 consider holes that end at a SACKed range (rule 1.b:
	// below the highest SACKed octet) and reach above HighRxt (rule 1.a).
	// Lower holes have more SACKed data above them, so the first such hole
	// is the one rule 1 would pick if any hole is lost, and the one rule 3
	// picks otherwise.
	bytesBelow := 0
	lo := una
	for i := 0; i < s.n; i++ {
		hi := s.r[i].Start
		if start := seq.Max(lo, from); start.LessThan(hi) {
			g := Segment{Start: start, Len: min(s.mss, int(hi.Sub(start)))}
			if s.lost(s.n-i, s.sacked-bytesBelow) {
				g.Kind = RetransmitLost // rule 1
				return g, true
			}
			if sendable > 0 {
				break // rule 2 comes before rule 3
			}
			g.Kind = RetransmitUnsacked // rule 3
			return g, true
		}
		bytesBelow += s.r[i].Len()
		lo = s.r[i].End
	}
	if sendable > 0 {
		return Segment{Start: nxt, Len: min(s.mss, sendable), Kind: SendNew}, true // rule 2
	}
	return Segment{}, false
}

// Rescue is the segment of RFC 6675 §4 NextSeg rule 4: up to SMSS octets
// ending with the highest unSACKed octet below nxt. It returns false when
// nothing outstanding is unSACKed. The caller decides when a rescue is due
// (see the package documentation) and does not update HighRxt for it.
func (s *Scoreboard) Rescue(una, nxt seq.Value) (Segment, bool) {
	hi, lo := nxt, una
	for i := s.n - 1; i >= 0; i-- {
		r := s.r[i]
		if r.End.LessThan(hi) {
			lo = seq.Max(r.End, una)
			break
		}
		hi = seq.Min(r.Start, hi) // the top is SACKed: look below
	}
	if !lo.LessThan(hi) {
		return Segment{}, false
	}
	n := min(s.mss, int(hi.Sub(lo)))
	return Segment{Start: hi.Add(-n), Len: n, Kind: RetransmitRescue}, true
}
