package reasm

import (
	"bytes"
	"net/netip"
)

// Key identifies the datagram a fragment belongs to.
//
// For IPv4 it is the source, destination, protocol and 16-bit Identification
// (RFC 791 §3.2). For IPv6 it is the source, destination and 32-bit
// Identification of the Fragment header; Proto must be 0, since an original
// packet is identified by the addresses and the Identification only
// (RFC 8200 §4.5).
type Key struct {
	Src, Dst netip.Addr
	ID       uint32
	Proto    uint8
}

// Reassembler reassembles the fragments of many datagrams at once. It is
// not safe for concurrent use: it belongs to one stack loop. The zero value
// is not usable; call New.
type Reassembler struct {
	cfg   Config
	table map[Key]*datagram
	// oldest and newest end the list of datagrams in order of creation.
	oldest, newest *datagram
	spare          []*datagram // datagrams for reuse
	pool           pool
	bytes          int
	stats          Stats
	// lent holds the buffers of the last Complete result, given back to
	// the pool at the next call.
	lent [2][]byte
	gaps []span // scratch for Add
}

// New returns a Reassembler with the limits of cfg; zero fields take the
// defaults.
func New(cfg Config) *Reassembler {
	return &Reassembler{
		cfg:   cfg.withDefaults(),
		table: make(map[Key]*datagram),
	}
}

// Config returns the limits in force, defaults filled in.
func (r *Reassembler) Config() Config { return r.cfg }

// Stats returns the counters.
func (r *Reassembler) Stats() Stats { return r.stats }

// Len returns the number of datagrams in progress, discarded ones still
// remembered (see Discarded) included.
func (r *Reassembler) Len() int { return len(r.table) }

// Bytes returns the memory held by the datagrams in progress: the capacity
// of their buffers. It never exceeds Config.MaxBytes. Free buffers kept for
// reuse (at most 16 of each size class, from 64 bytes to 128 KiB) and those
// lent to the last Complete result are not counted.
func (r *Reassembler) Bytes() int { return r.bytes }

// NextDeadline returns the time at which Expire will next have a datagram to
// discard, and false if none is in progress.
func (r *Reassembler) NextDeadline() (int64, bool) {
	if r.oldest == nil {
		return 0, false
	}
	return r.oldest.deadline, true
}

// Add adds one fragment of the datagram k at time now: offset is the
// fragment offset in bytes, more the More Fragments flag and data the
// fragment's data. header is kept when offset is 0 and returned with the
// datagram (for IPv4 the IP header, for IPv6 the unfragmentable part);
// it is ignored otherwise. Add copies what it keeps.
//
// The slices of a Complete result are valid until the next call to Add or
// Expire. An atomic fragment (offset 0, more false) is returned at once as
// Complete without being stored, and its Result holds header and data
// themselves (RFC 6946 §4).
//
// Add does not expire datagrams: the caller calls Expire when NextDeadline
// has passed, so that every timeout is reported.
func (r *Reassembler) Add(k Key, offset int, more bool, data, header []byte, now int64) Result {
	r.recycle()
	r.stats.ReasmReqds++
	if offset == 0 && !more {
		// An atomic fragment is a whole datagram, reassembled apart from
		// any fragments with the same key (RFC 6946 §4, RFC 8200 §4.5).
		r.stats.ReasmOKs++
		return Result{Status: Complete, Header: header, Payload: data}
	}
	// Fragments start on 8-octet boundaries and all but the last are a
	// multiple of 8 octets long (RFC 791 §3.2, RFC 8200 §4.5). RFC 8200
	// discards only the fragment.
	if offset < 0 || offset%8 != 0 || more && (len(data) == 0 || len(data)%8 != 0) {
		return r.fail(BadLength, &r.stats.BadLength)
	}
	d := r.table[k]
	if d != nil && d.dead {
		// RFC 5722 §4: the datagram's fragments "including those not yet
		// received MUST be silently discarded".
		r.stats.Discarded++
		return Result{Status: Dropped, Reason: Discarded}
	}
	// RFC 8200 §4.5: a fragment that would make the reassembled payload
	// exceed the limit is discarded. The datagram goes too: no sender makes
	// one, so it is an attack (the ping of death for IPv4).
	if offset > r.cfg.MaxDatagram || len(data) > r.cfg.MaxDatagram-offset {
		if d != nil {
			r.kill(d)
		}
		return r.fail(TooBig, &r.stats.TooBig)
	}
	end := offset + len(data)

	r.gaps = r.gaps[:0]
	if d == nil {
		d = r.create(k, now)
	}
	if !d.checkEnd(end, more) {
		r.kill(d)
		return r.fail(BadEnd, &r.stats.BadEnd)
	}
	if !r.place(d, offset, data) {
		r.kill(d)
		return r.fail(Overlap, &r.stats.Overlaps)
	}
	if len(d.pieces)+len(r.gaps) > r.cfg.MaxFragments {
		r.kill(d)
		return r.fail(TooManyFragments, &r.stats.TooManyFragments)
	}

	// Reserve the memory before changing anything.
	total := d.total
	if !more {
		total = end
	}
	grow := r.growth(d, more, total)
	keepHeader := offset == 0 && !d.first
	delta := 0
	if grow > 0 {
		delta = grow - cap(d.arena)
	}
	if keepHeader {
		delta += classCap(len(header))
	}
	if d.held()+delta > r.cfg.MaxBytes || !r.reserve(d, delta) {
		r.remove(d)
		return r.fail(MemoryFull, &r.stats.MemoryFull)
	}

	r.bytes += delta
	if grow > 0 {
		a := append(r.pool.get(grow), d.arena...)
		r.pool.put(d.arena)
		d.arena = a
	}
	for _, g := range r.gaps {
		at := len(d.arena)
		if at != g.off {
			d.inOrder = false
		}
		d.arena = append(d.arena, data[g.off-offset:g.end-offset]...)
		d.insert(piece{g.off, g.end, at})
		d.received += g.end - g.off
	}
	if keepHeader {
		d.first = true
		if len(header) > 0 {
			d.header = append(r.pool.get(len(header)), header...)
		}
	}
	d.total = total
	if d.total >= 0 && d.received == d.total {
		return r.complete(d)
	}
	return Result{Status: Pending}
}

// place sets r.gaps to the runs of the fragment at offset to keep in d, and
// reports false if the fragment overlaps d's data in a way that must
// discard d.
func (r *Reassembler) place(d *datagram, offset int, data []byte) bool {
	end := offset + len(data)
	i := d.search(offset)
	switch {
	case i == len(d.pieces) || d.pieces[i].off >= end:
		if end > offset {
			r.gaps = append(r.gaps, span{offset, end})
		}
	case d.pieces[i].off == offset && d.pieces[i].end == end &&
		bytes.Equal(d.arena[d.pieces[i].at:d.pieces[i].at+len(data)], data):
		// RFC 8200 §4.5 lets exact duplicates be dropped while keeping the
		// datagram: the network duplicates fragments.
		r.stats.Duplicates++
	case !r.cfg.AcceptOverlaps:
		return false
	default:
		// RFC 815: keep the first-received bytes, fill only the holes.
		r.gaps = d.uncovered(r.gaps, i, offset, end)
	}
	return true
}

// growth returns the capacity d's arena must grow to for r.gaps, 0 if it
// has room. Arenas double, so that fragments arriving in order are copied
// into place once; a first fragment with more to come gets room for a
// second, and no arena grows past the datagram's known end.
func (r *Reassembler) growth(d *datagram, more bool, total int) int {
	need := len(d.arena)
	for _, g := range r.gaps {
		need += g.end - g.off
	}
	if need <= cap(d.arena) {
		return 0
	}
	want := max(need, 2*cap(d.arena))
	if cap(d.arena) == 0 && more {
		want = 2 * need
	}
	if total >= 0 {
		want = min(want, total)
	}
	return classCap(min(want, r.cfg.MaxDatagram))
}

// Expire discards the datagrams whose timeout has passed at now and calls fn
// (if not nil) for each, oldest first, so that the caller can send ICMP Time
// Exceeded when Expired.First (RFC 792, RFC 8200 §4.5). The slices in an
// Expired are valid only until fn returns, and fn must not call r. Datagrams
// already discarded (see Discarded) are forgotten without a report. Expire
// returns the number of datagrams reported.
func (r *Reassembler) Expire(now int64, fn func(Expired)) int {
	r.recycle()
	n := 0
	for d := r.oldest; d != nil && d.deadline <= now; d = r.oldest {
		if !d.dead {
			n++
			r.stats.Timeouts++
			r.stats.ReasmFails++
			if fn != nil {
				e := Expired{Key: d.key, First: d.first}
				if d.first {
					e.Header, e.Data = d.header, d.firstData()
				}
				fn(e)
			}
		}
		r.remove(d)
	}
	return n
}

// fail counts a failure and returns it as the Result.
func (r *Reassembler) fail(why Reason, counter *uint64) Result {
	r.stats.ReasmFails++
	*counter++
	return Result{Status: Dropped, Reason: why}
}

// recycle gives the buffers of the last Complete result back to the pool.
func (r *Reassembler) recycle() {
	for i, b := range r.lent {
		r.pool.put(b)
		r.lent[i] = nil
	}
}

// create starts a datagram, evicting the oldest if there are too many.
func (r *Reassembler) create(k Key, now int64) *datagram {
	if len(r.table) >= r.cfg.MaxDatagrams {
		r.evict(r.oldest, &r.stats.TooManyDatagrams)
	}
	var d *datagram
	if n := len(r.spare); n > 0 {
		d = r.spare[n-1]
		r.spare[n-1] = nil
		r.spare = r.spare[:n-1]
	} else {
		d = new(datagram)
	}
	d.reset(k, now+int64(r.cfg.Timeout))
	r.table[k] = d
	d.prev = r.newest
	if r.newest != nil {
		r.newest.next = d
	} else {
		r.oldest = d
	}
	r.newest = d
	return d
}

// reserve evicts the oldest datagrams other than d until delta more bytes
// fit, and reports whether they do.
func (r *Reassembler) reserve(d *datagram, delta int) bool {
	for r.bytes+delta > r.cfg.MaxBytes {
		v := r.oldest
		if v == d {
			v = v.next
		}
		if v == nil {
			return false
		}
		r.evict(v, &r.stats.MemoryFull)
	}
	return true
}

// evict removes d, counting it as a failure unless it had already failed.
func (r *Reassembler) evict(d *datagram, counter *uint64) {
	if !d.dead {
		r.stats.ReasmFails++
		*counter++
	}
	r.remove(d)
}

// release gives d's buffers back to the pool.
func (r *Reassembler) release(d *datagram) {
	r.bytes -= d.held()
	r.pool.put(d.arena)
	r.pool.put(d.header)
	d.arena, d.header = nil, nil
}

// kill discards d's data but remembers its key until its deadline, so that
// its later fragments are discarded too (RFC 5722 §4).
func (r *Reassembler) kill(d *datagram) {
	r.release(d)
	d.pieces = d.pieces[:0]
	d.received, d.total, d.first = 0, -1, false
	d.dead = true
}

// remove forgets d and keeps it for reuse.
func (r *Reassembler) remove(d *datagram) {
	r.release(d)
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		r.oldest = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		r.newest = d.prev
	}
	d.prev, d.next = nil, nil
	delete(r.table, d.key)
	if len(r.spare) < r.cfg.MaxDatagrams {
		r.spare = append(r.spare, d)
	}
}

// complete returns d's payload and header and forgets d. The buffers handed
// out are lent until the next call.
func (r *Reassembler) complete(d *datagram) Result {
	var payload []byte
	if d.inOrder {
		payload = d.arena[:d.total]
		r.lent[0] = d.arena
		r.bytes -= cap(d.arena)
		d.arena = nil
	} else {
		payload = r.pool.get(d.total)[:d.total]
		for _, p := range d.pieces {
			copy(payload[p.off:p.end], d.arena[p.at:])
		}
		r.lent[0] = payload
	}
	header := d.header
	r.lent[1] = header
	r.bytes -= cap(header)
	d.header = nil
	r.remove(d)
	r.stats.ReasmOKs++
	return Result{Status: Complete, Header: header, Payload: payload}
}
