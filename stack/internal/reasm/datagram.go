package reasm

// A piece is a run of payload bytes [off, end) kept at arena[at:].
type piece struct {
	off, end, at int
}

// A span is a run of payload bytes [off, end) about to be kept.
type span struct {
	off, end int
}

// A datagram is one datagram in progress. Fragments are appended to arena in
// the order they arrive, and pieces, sorted by offset and disjoint, says
// where each run of the payload lies. When they arrive in order the arena is
// the payload and completing it copies nothing.
type datagram struct {
	key      Key
	deadline int64
	// prev and next link the datagrams in order of creation, which is also
	// the order of their deadlines since the timeout is fixed.
	prev, next *datagram

	arena    []byte  // fragment data in order of arrival; pooled
	header   []byte  // the header of the fragment at offset 0; pooled
	pieces   []piece // sorted by off, disjoint
	received int     // bytes kept: the sum of the pieces' lengths
	total    int     // the end given by the final fragment; -1 until it arrives
	first    bool    // the fragment at offset 0 arrived
	inOrder  bool    // every piece has at == off, so arena[:total] is the payload
	dead     bool    // discarded; remembered to drop later fragments (RFC 5722)
}

// reset prepares d for a new datagram, keeping the capacity of pieces.
func (d *datagram) reset(k Key, deadline int64) {
	*d = datagram{
		key:      k,
		deadline: deadline,
		pieces:   d.pieces[:0],
		total:    -1,
		inOrder:  true,
	}
}

// held returns the bytes d holds: the capacity of its buffers.
func (d *datagram) held() int {
	return cap(d.arena) + cap(d.header)
}

// maxEnd returns the end of the highest piece, 0 if there is none.
func (d *datagram) maxEnd() int {
	if len(d.pieces) == 0 {
		return 0
	}
	return d.pieces[len(d.pieces)-1].end
}

// search returns the index of the first piece ending after off.
func (d *datagram) search(off int) int {
	lo, hi := 0, len(d.pieces)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d.pieces[m].end <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// checkEnd checks a fragment ending at end against the end already known
// (RFC 791 §3.2 and RFC 8200 §4.5 define the end only by the final
// fragment; a disagreement means corruption or an attack, and Linux's
// ip_frag_queue discards the datagram for it).
func (d *datagram) checkEnd(end int, more bool) bool {
	if !more {
		return (d.total < 0 || end == d.total) && d.maxEnd() <= end
	}
	return d.total < 0 || end <= d.total
}

// uncovered appends to gaps the runs of [off, end) that no piece covers,
// starting the search at piece i, the first piece ending after off.
func (d *datagram) uncovered(gaps []span, i, off, end int) []span {
	cur := off
	for ; i < len(d.pieces) && d.pieces[i].off < end; i++ {
		if p := d.pieces[i]; p.off > cur {
			gaps = append(gaps, span{cur, p.off})
		}
		cur = max(cur, d.pieces[i].end)
	}
	if cur < end {
		gaps = append(gaps, span{cur, end})
	}
	return gaps
}

// insert adds p, which overlaps no piece, keeping pieces sorted.
func (d *datagram) insert(p piece) {
	i := d.search(p.off)
	d.pieces = append(d.pieces, piece{})
	copy(d.pieces[i+1:], d.pieces[i:])
	d.pieces[i] = p
}

// firstData returns the data kept at offset 0, nil if there is none.
func (d *datagram) firstData() []byte {
	if len(d.pieces) == 0 || d.pieces[0].off != 0 {
		return nil
	}
	p := d.pieces[0]
	return d.arena[p.at : p.at+p.end-p.off]
}
