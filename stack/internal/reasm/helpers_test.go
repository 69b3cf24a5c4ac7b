package reasm

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	src4 = netip.MustParseAddr("192.0.2.1")
	dst4 = netip.MustParseAddr("198.51.100.2")
	src6 = netip.MustParseAddr("2001:db8::1")
	dst6 = netip.MustParseAddr("2001:db8::2")
)

const sec = int64(1e9)

// key4 returns an IPv4 UDP datagram key.
func key4(id uint32) Key { return Key{Src: src4, Dst: dst4, ID: id, Proto: 17} }

// key6 returns an IPv6 datagram key.
func key6(id uint32) Key { return Key{Src: src6, Dst: dst6, ID: id} }

// frag is one fragment as a test sends it.
type frag struct {
	off  int
	more bool
	data []byte
}

// split cuts payload into fragments of size bytes (a multiple of 8), the
// last one shorter.
func split(payload []byte, size int) []frag {
	var fs []frag
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		fs = append(fs, frag{off: off, more: end < len(payload), data: payload[off:end]})
	}
	return fs
}

// fill returns n bytes from a generator seeded with seed.
func fill(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// header returns an IP header a test passes with the fragment at offset 0.
func header(k Key) []byte {
	return []byte(fmt.Sprintf("hdr %v>%v id %d", k.Src, k.Dst, k.ID))
}

// add adds f and checks the invariants.
func add(t testing.TB, r *Reassembler, k Key, f frag, now int64) Result {
	t.Helper()
	res := r.Add(k, f.off, f.more, f.data, header(k), now)
	require.NoError(t, r.check())
	return res
}

// check verifies the Reassembler's internal invariants.
func (r *Reassembler) check() error {
	n, held := 0, 0
	var prev *datagram
	for d := r.oldest; d != nil; d = d.next {
		n++
		if d.prev != prev {
			return fmt.Errorf("datagram %d: broken prev link", n)
		}
		if prev != nil && d.deadline < prev.deadline {
			return fmt.Errorf("datagram %d: deadline %d before %d", n, d.deadline, prev.deadline)
		}
		if r.table[d.key] != d {
			return fmt.Errorf("datagram %d: not in the table", n)
		}
		if err := d.check(r.cfg); err != nil {
			return fmt.Errorf("datagram %d %v: %w", n, d.key, err)
		}
		held += d.held()
		prev = d
	}
	switch {
	case prev != r.newest:
		return fmt.Errorf("newest is not the end of the list")
	case n != len(r.table):
		return fmt.Errorf("%d datagrams listed, %d in the table", n, len(r.table))
	case n > r.cfg.MaxDatagrams:
		return fmt.Errorf("%d datagrams, limit %d", n, r.cfg.MaxDatagrams)
	case held != r.bytes:
		return fmt.Errorf("bytes %d, datagrams hold %d", r.bytes, held)
	case r.bytes > r.cfg.MaxBytes:
		return fmt.Errorf("bytes %d over the limit %d", r.bytes, r.cfg.MaxBytes)
	}
	s := r.stats
	if sum := s.Timeouts + s.Overlaps + s.TooBig + s.MemoryFull + s.TooManyFragments +
		s.TooManyDatagrams + s.BadLength + s.BadEnd; sum != s.ReasmFails {
		return fmt.Errorf("ReasmFails %d, reasons sum to %d", s.ReasmFails, sum)
	}
	return nil
}

// check verifies one datagram's invariants.
func (d *datagram) check(cfg Config) error {
	if d.dead {
		if d.arena != nil || d.header != nil || len(d.pieces) != 0 || d.first {
			return fmt.Errorf("discarded datagram holds data")
		}
		return nil
	}
	if len(d.pieces) > cfg.MaxFragments {
		return fmt.Errorf("%d pieces, limit %d", len(d.pieces), cfg.MaxFragments)
	}
	sum, prevEnd := 0, 0
	for i, p := range d.pieces {
		switch {
		case p.off >= p.end:
			return fmt.Errorf("piece %d empty: %+v", i, p)
		case i > 0 && p.off < prevEnd:
			return fmt.Errorf("piece %d overlaps or is out of order: %+v", i, d.pieces)
		case d.total >= 0 && p.end > d.total:
			return fmt.Errorf("piece %d past the end %d", i, d.total)
		case p.end > cfg.MaxDatagram:
			return fmt.Errorf("piece %d past MaxDatagram", i)
		case p.at < 0 || p.at+p.end-p.off > len(d.arena):
			return fmt.Errorf("piece %d outside the arena", i)
		case d.inOrder && p.at != p.off:
			return fmt.Errorf("piece %d out of place in an in-order arena", i)
		}
		sum += p.end - p.off
		prevEnd = p.end
	}
	switch {
	case sum != d.received:
		return fmt.Errorf("received %d, pieces hold %d", d.received, sum)
	case len(d.arena) != d.received:
		return fmt.Errorf("arena holds %d, received %d", len(d.arena), d.received)
	case d.total >= 0 && d.received >= d.total:
		return fmt.Errorf("complete datagram still in progress")
	case d.first != (len(d.pieces) > 0 && d.pieces[0].off == 0):
		return fmt.Errorf("first %v but pieces %+v", d.first, d.pieces)
	}
	return nil
}
