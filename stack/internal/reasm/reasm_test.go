package reasm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reorder returns the fragments in the named order.
func reorder(fs []frag, order string, seed uint64) []frag {
	out := slices.Clone(fs)
	switch order {
	case "in-order":
	case "reverse":
		slices.Reverse(out)
	case "random":
		rng := rand.New(rand.NewPCG(seed, 1))
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	default:
		panic(order)
	}
	return out
}

// TestOrders reassembles datagrams of many sizes cut into fragments of many
// sizes, delivered in order, in reverse and shuffled.
func TestOrders(t *testing.T) {
	sizes := []int{9, 16, 17, 100, 1232, 1480, 1481, 2960, 4000, 8192, 9000, 20000, 65515}
	fragSizes := []int{8, 64, 512, 1232, 1480}
	for _, order := range []string{"in-order", "reverse", "random"} {
		for _, size := range sizes {
			for _, fsize := range fragSizes {
				if fsize >= size {
					continue
				}
				t.Run(fmt.Sprintf("%s/%d/%d", order, size, fsize), func(t *testing.T) {
					cfg := IPv4Config()
					cfg.MaxFragments = 1 << 14
					r := New(cfg)
					k := key4(uint32(size))
					payload := fill(uint64(size*fsize), size)
					fs := reorder(split(payload, fsize), order, uint64(size+fsize))
					for i, f := range fs {
						res := r.Add(k, f.off, f.more, f.data, header(k), 0)
						if i%16 == 0 { // checking is linear in the fragments held
							require.NoError(t, r.check())
						}
						if i < len(fs)-1 {
							require.Equal(t, Pending, res.Status, "fragment %d", i)
							continue
						}
						require.Equal(t, Complete, res.Status)
						assert.Equal(t, header(k), res.Header)
						require.Equal(t, payload, res.Payload)
					}
					assert.Zero(t, r.Len())
					assert.Zero(t, r.Bytes())
					s := r.Stats()
					assert.Equal(t, uint64(len(fs)), s.ReasmReqds)
					assert.Equal(t, uint64(1), s.ReasmOKs)
					assert.Zero(t, s.ReasmFails)
				})
			}
		}
	}
}

// TestAtomicFragment checks that offset 0 without More Fragments is returned
// as is and leaves a datagram in progress with the same key alone
// (RFC 6946 §4).
func TestAtomicFragment(t *testing.T) {
	r := New(IPv6Config())
	k := key6(7)
	payload := fill(1, 64)
	require.Equal(t, Pending, add(t, r, k, frag{off: 0, more: true, data: payload[:32]}, 0).Status)

	atomic := []byte("atomic")
	res := r.Add(k, 0, false, atomic, []byte("h"), 0)
	require.Equal(t, Complete, res.Status)
	assert.Equal(t, []byte("h"), res.Header)
	assert.Same(t, &atomic[0], &res.Payload[0], "atomic fragments are not copied")
	assert.Equal(t, 1, r.Len())

	res = add(t, r, k, frag{off: 32, data: payload[32:]}, 0)
	require.Equal(t, Complete, res.Status)
	assert.Equal(t, payload, res.Payload)
	assert.Equal(t, Stats{ReasmReqds: 3, ReasmOKs: 2}, r.Stats())
}

// TestDuplicates checks that exact duplicates are ignored as
// retransmissions (RFC 8200 §4.5) in both overlap modes.
func TestDuplicates(t *testing.T) {
	payload := fill(2, 3000)
	fs := split(payload, 1232)
	for _, accept := range []bool{false, true} {
		for i := range fs {
			t.Run(fmt.Sprintf("accept=%v/fragment%d", accept, i), func(t *testing.T) {
				r := New(Config{AcceptOverlaps: accept})
				k := key6(1)
				// fs[i] twice, then the others.
				seq := []frag{fs[i], fs[i]}
				seq = append(seq, slices.Delete(slices.Clone(fs), i, i+1)...)
				for j, f := range seq {
					res := add(t, r, k, f, 0)
					if j < len(seq)-1 {
						require.Equal(t, Pending, res.Status, "fragment %d", j)
					} else {
						require.Equal(t, Complete, res.Status)
						assert.Equal(t, payload, res.Payload)
					}
				}
				assert.Equal(t, uint64(1), r.Stats().Duplicates)
				assert.Zero(t, r.Stats().ReasmFails)
			})
		}
	}
}

// TestOverlaps checks that overlaps discard the datagram and its later
// fragments (RFC 5722 §4), and that AcceptOverlaps keeps the first bytes.
func TestOverlaps(t *testing.T) {
	a := fill(3, 64)
	b := fill(4, 64)
	tests := []struct {
		name string
		// first is added, then second, which overlaps it.
		first, second frag
		// want is the payload with AcceptOverlaps after [0, 64) is filled
		// in from a.
		want []byte
	}{
		{
			name:   "same range different bytes",
			first:  frag{off: 16, more: true, data: a[16:32]},
			second: frag{off: 16, more: true, data: b[16:32]},
		},
		{
			name:   "overlaps the start",
			first:  frag{off: 16, more: true, data: a[16:32]},
			second: frag{off: 8, more: true, data: b[8:24]},
		},
		{
			name:   "overlaps the end",
			first:  frag{off: 16, more: true, data: a[16:32]},
			second: frag{off: 24, more: true, data: b[24:40]},
		},
		{
			name:   "inside an earlier fragment",
			first:  frag{off: 8, more: true, data: a[8:40]},
			second: frag{off: 16, more: true, data: b[16:24]},
		},
		{
			name:   "covers an earlier fragment",
			first:  frag{off: 16, more: true, data: a[16:24]},
			second: frag{off: 8, more: true, data: b[8:40]},
		},
		{
			name:   "same offset longer",
			first:  frag{off: 16, more: true, data: a[16:24]},
			second: frag{off: 16, more: true, data: b[16:32]},
		},
		{
			// RFC 5722 §3: a second fragment at offset 0 rewrites the
			// transport header of the first to slip past a filter.
			name:   "RFC 5722 rewritten first fragment",
			first:  frag{off: 0, more: true, data: a[0:24]},
			second: frag{off: 0, more: true, data: b[0:16]},
		},
		{
			name:   "final fragments overlapping",
			first:  frag{off: 56, data: a[56:64]},
			second: frag{off: 48, data: b[48:64]},
		},
	}
	for _, tt := range tests {
		t.Run("drop/"+tt.name, func(t *testing.T) {
			r := New(IPv6Config())
			k := key6(9)
			require.Equal(t, Pending, add(t, r, k, tt.first, 0).Status)
			res := add(t, r, k, tt.second, 0)
			require.Equal(t, Result{Status: Dropped, Reason: Overlap}, res)
			assert.Zero(t, r.Bytes())

			// Everything else of the datagram is discarded until its
			// timeout, without a report.
			for _, f := range split(a, 8) {
				require.Equal(t, Result{Status: Dropped, Reason: Discarded}, add(t, r, k, f, sec))
			}
			require.Equal(t, 1, r.Len())
			assert.Zero(t, r.Expire(60*sec, func(Expired) { t.Fatal("discarded datagram reported") }))
			assert.Zero(t, r.Len())

			s := r.Stats()
			assert.Equal(t, uint64(1), s.Overlaps)
			assert.Equal(t, uint64(1), s.ReasmFails)
			assert.Equal(t, uint64(8), s.Discarded)
			assert.Zero(t, s.Timeouts)

			// A later datagram with the same key starts afresh.
			res = Result{}
			for _, f := range split(a, 24) {
				res = add(t, r, k, f, 61*sec)
			}
			require.Equal(t, Complete, res.Status)
			assert.Equal(t, a, res.Payload)
		})
		t.Run("accept/"+tt.name, func(t *testing.T) {
			r := New(Config{AcceptOverlaps: true})
			k := key4(9)
			want := slices.Clone(a)
			copy(want[tt.first.off:], tt.first.data)
			for i := range tt.second.data {
				if p := tt.second.off + i; p < tt.first.off || p >= tt.first.off+len(tt.first.data) {
					want[p] = tt.second.data[i]
				}
			}
			require.Equal(t, Pending, add(t, r, k, tt.first, 0).Status)
			require.Equal(t, Pending, add(t, r, k, tt.second, 0).Status)
			res := Result{}
			for _, f := range split(a, 8) {
				res = add(t, r, k, f, 0)
				if res.Status == Complete {
					break
				}
				require.Equal(t, Pending, res.Status)
			}
			require.Equal(t, Complete, res.Status)
			assert.Equal(t, want, res.Payload)
			assert.Zero(t, r.Stats().ReasmFails)
		})
	}
}

// TestAcceptOverlapsFillsHoles checks that a fragment spanning several
// earlier ones fills only the holes between them (RFC 815).
func TestAcceptOverlapsFillsHoles(t *testing.T) {
	r := New(Config{AcceptOverlaps: true})
	k := key4(1)
	a, b := fill(5, 80), fill(6, 80)
	for _, f := range []frag{
		{off: 8, more: true, data: a[8:16]},
		{off: 32, more: true, data: a[32:48]},
		{off: 64, data: a[64:80]},
	} {
		require.Equal(t, Pending, add(t, r, k, f, 0).Status)
	}
	res := add(t, r, k, frag{off: 0, more: true, data: b[0:64]}, 0)
	require.Equal(t, Complete, res.Status)
	want := slices.Concat(b[0:8], a[8:16], b[16:32], a[32:48], b[48:64], a[64:80])
	assert.Equal(t, want, res.Payload)
}

// TestBadLength checks that malformed fragments are refused on their own
// and leave their datagram alone (RFC 8200 §4.5).
func TestBadLength(t *testing.T) {
	data := fill(7, 64)
	tests := []struct {
		name string
		f    frag
	}{
		{"non-final length not a multiple of 8", frag{off: 8, more: true, data: data[:12]}},
		{"non-final empty", frag{off: 8, more: true, data: nil}},
		{"offset not a multiple of 8", frag{off: 12, more: true, data: data[:8]}},
		{"negative offset", frag{off: -8, more: true, data: data[:8]}},
		{"final at an odd offset", frag{off: 20, data: data[:3]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(IPv4Config())
			k := key4(1)
			require.Equal(t, Pending, add(t, r, k, frag{off: 0, more: true, data: data[:32]}, 0).Status)
			require.Equal(t, Result{Status: Dropped, Reason: BadLength}, add(t, r, k, tt.f, 0))
			res := add(t, r, k, frag{off: 32, data: data[32:]}, 0)
			require.Equal(t, Complete, res.Status)
			assert.Equal(t, data, res.Payload)
			s := r.Stats()
			assert.Equal(t, uint64(1), s.BadLength)
			assert.Equal(t, uint64(1), s.ReasmFails)
			assert.Equal(t, uint64(1), s.ReasmOKs)
		})
	}
}

// TestBadEnd checks fragments that disagree with the known end.
func TestBadEnd(t *testing.T) {
	data := fill(8, 64)
	tests := []struct {
		name  string
		first frag
		bad   frag
	}{
		{"second final with a different end", frag{off: 32, data: data[32:64]}, frag{off: 40, data: data[40:48]}},
		{"second final with a longer end", frag{off: 32, data: data[32:48]}, frag{off: 32, data: data[32:64]}},
		{"data past the end", frag{off: 32, data: data[32:48]}, frag{off: 48, more: true, data: data[48:64]}},
		{"final before data already received", frag{off: 48, more: true, data: data[48:64]}, frag{off: 32, data: data[32:40]}},
		{"empty final before data", frag{off: 48, more: true, data: data[48:64]}, frag{off: 40, data: nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(IPv4Config())
			k := key4(1)
			require.Equal(t, Pending, add(t, r, k, tt.first, 0).Status)
			require.Equal(t, Result{Status: Dropped, Reason: BadEnd}, add(t, r, k, tt.bad, 0))
			require.Equal(t, Result{Status: Dropped, Reason: Discarded}, add(t, r, k, frag{off: 0, more: true, data: data[:32]}, 0))
			assert.Zero(t, r.Bytes())
			s := r.Stats()
			assert.Equal(t, uint64(1), s.BadEnd)
			assert.Equal(t, uint64(1), s.ReasmFails)
		})
	}
}

// TestEmptyFinalFragment checks that a final fragment without data still
// fixes the end.
func TestEmptyFinalFragment(t *testing.T) {
	r := New(IPv4Config())
	k := key4(1)
	data := fill(9, 32)
	require.Equal(t, Pending, add(t, r, k, frag{off: 32}, 0).Status)
	require.Equal(t, Pending, add(t, r, k, frag{off: 16, more: true, data: data[16:]}, 0).Status)
	res := add(t, r, k, frag{off: 0, more: true, data: data[:16]}, 0)
	require.Equal(t, Complete, res.Status)
	assert.Equal(t, data, res.Payload)
}

// TestTooBig checks the "reassembled datagram over 65,535 octets" attack
// (RFC 8200 §4.5; the IPv4 ping of death).
func TestTooBig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		off     int
		n       int
		tooBig  bool
		started bool
	}{
		{"v4 last byte fits", IPv4Config(), 65512, 3, false, false},
		{"v4 one byte over", IPv4Config(), 65512, 4, true, false},
		{"v4 ping of death", IPv4Config(), 65528, 1480, true, true},
		{"v6 last byte fits", IPv6Config(), 65528, 7, false, true},
		{"v6 one byte over", IPv6Config(), 65528, 8, true, true},
		{"v6 maximum offset", IPv6Config(), 0xfff8, 1232, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.cfg)
			k := key6(3)
			if tt.started {
				require.Equal(t, Pending, add(t, r, k, frag{off: 0, more: true, data: make([]byte, 1232)}, 0).Status)
			}
			res := add(t, r, k, frag{off: tt.off, data: make([]byte, tt.n)}, 0)
			if !tt.tooBig {
				assert.Equal(t, Pending, res.Status)
				return
			}
			require.Equal(t, Result{Status: Dropped, Reason: TooBig}, res)
			assert.Zero(t, r.Bytes())
			assert.Equal(t, uint64(1), r.Stats().TooBig)
			assert.Equal(t, uint64(1), r.Stats().ReasmFails)
			assert.Equal(t, btoi(tt.started), r.Len(), "a started datagram is remembered as discarded")
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTinyFragments checks 8-byte fragments up to MaxFragments and one
// more (RFC 1858).
func TestTinyFragments(t *testing.T) {
	for _, n := range []int{DefaultMaxFragments - 1, DefaultMaxFragments, DefaultMaxFragments + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := New(IPv4Config())
			k := key4(1)
			payload := fill(10, 8*n)
			fs := split(payload, 8)
			var res Result
			for i, f := range fs {
				res = add(t, r, k, f, 0)
				if i < len(fs)-1 && i < DefaultMaxFragments {
					require.Equal(t, Pending, res.Status, "fragment %d", i)
				}
			}
			if n <= DefaultMaxFragments {
				require.Equal(t, Complete, res.Status)
				assert.Equal(t, payload, res.Payload)
				return
			}
			require.Equal(t, Result{Status: Dropped, Reason: TooManyFragments}, res)
			assert.Equal(t, uint64(1), r.Stats().TooManyFragments)
			assert.Zero(t, r.Bytes())
		})
	}
}

// TestInterleaved reassembles datagrams whose keys differ in one field at a
// time, their fragments interleaved.
func TestInterleaved(t *testing.T) {
	keys := []Key{
		key4(1),
		{Src: src4, Dst: dst4, ID: 1, Proto: 6},
		{Src: dst4, Dst: src4, ID: 1, Proto: 17},
		key4(2),
		key6(1),
		{Src: dst6, Dst: src6, ID: 1},
		key6(0x10001),
	}
	r := New(Config{})
	payloads := make([][]byte, len(keys))
	frags := make([][]frag, len(keys))
	for i := range keys {
		payloads[i] = fill(uint64(100+i), 2000+100*i)
		frags[i] = reorder(split(payloads[i], 512), "random", uint64(i))
	}
	done := 0
	for j := 0; done < len(keys); j++ {
		for i, k := range keys {
			if j >= len(frags[i]) {
				continue
			}
			res := add(t, r, k, frags[i][j], 0)
			if j < len(frags[i])-1 {
				require.Equal(t, Pending, res.Status)
				continue
			}
			require.Equal(t, Complete, res.Status, "key %d", i)
			assert.Equal(t, payloads[i], res.Payload, "key %d", i)
			assert.Equal(t, header(k), res.Header, "key %d", i)
			done++
		}
	}
	assert.Zero(t, r.Len())
	assert.Zero(t, r.Bytes())
}

// TestResultValidUntilNextCall checks that the buffers of a Complete result
// stay intact until the next call and are then reused.
func TestResultValidUntilNextCall(t *testing.T) {
	r := New(Config{})
	p1, p2 := fill(11, 3000), fill(12, 3000)
	var res Result
	for _, f := range split(p1, 1480) {
		res = add(t, r, key4(1), f, 0)
	}
	require.Equal(t, Complete, res.Status)
	first := res.Payload
	r.Expire(0, nil)
	for _, f := range split(p2, 1480) {
		res = add(t, r, key4(2), f, 0)
	}
	require.Equal(t, Complete, res.Status)
	assert.Equal(t, p2, res.Payload)
	assert.Same(t, &first[0], &res.Payload[0], "the buffer is reused")
}
