package faults

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/bits"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
	"github.com/ustack/ustack/backend/pipe"
)

// record runs 2000 frames of varied sizes through a link with the mixed
// faults at a's transmit side and b's receive side, and describes what b
// received: id, length, a hash of the bytes and the timestamp of each frame.
func record(t *testing.T, mbuf bool, seed uint64) []string {
	l := newLink(t, pipe.Config{}, mbuf, mixedTx(), "rx:loss=0.05,rx:reorder=0.2,rx:dup=0.05", seed)
	var out []string
	note := func(frames []*backend.Frame) {
		for _, f := range frames {
			h := fnv.New64a()
			h.Write(f.AppendTo(nil))
			out = append(out, fmt.Sprintf("%d %d %x %d", idOf(f), f.Len(), h.Sum64(), f.Timestamp))
		}
		backend.Release(frames)
	}
	for burst := range 50 {
		frames := make([]*backend.Frame, 40)
		for i := range frames {
			frames[i] = udpFrame(t, l.a, uint32(burst*40+i), 60+i*30)
		}
		send(t, l.fa, frames...)
		l.clock.Advance(300 * time.Microsecond)
		recvAll(t, l.fa)
		note(recvAll(t, l.fb))
	}
	_, atB := l.runUntilIdle(t)
	note(atB)
	l.close(t)
	return out
}

// mixedTx is every kind of fault on the transmit side.
func mixedTx() string {
	return "tx:loss=0.1,tx:dup=0.1,tx:reorder=0.1,tx:corrupt=0.1,tx:truncate=0.05,tx:delay=1ms~500us"
}

// faults sums the counters of a's transmit and b's receive side, where the
// tests inject.
func (l *link) faults() DirStats {
	st, rx := l.fa.Stats().Tx, l.fb.Stats().Rx
	st.add(&rx)
	return st
}

func TestDeterministic(t *testing.T) {
	plain := record(t, false, 42)
	assert.Equal(t, plain, record(t, false, 42), "same seed, same faults")
	assert.Equal(t, plain, record(t, true, 42), "memory layout does not matter")
	other := record(t, false, 43)
	assert.NotEqual(t, plain, other, "another seed, other faults")
	assert.Greater(t, len(plain), 1500)
}

func TestLossRate(t *testing.T) {
	for _, c := range []struct{ specA, specB string }{{"tx:loss=0.1", ""}, {"", "rx:loss=0.1"}} {
		t.Run(c.specA+c.specB, func(t *testing.T) {
			withLink(t, pipe.Config{}, c.specA, c.specB, 7, func(t *testing.T, l *link) {
				const n = 10000
				got := 0
				for i := 0; i < n; i += 100 {
					frames := make([]*backend.Frame, 100)
					for j := range frames {
						frames[j] = udpFrame(t, l.a, uint32(i+j), 64)
					}
					send(t, l.fa, frames...)
					rx := recvAll(t, l.fb)
					got += len(rx)
					backend.Release(rx)
				}
				st := l.faults()
				assert.Equal(t, uint64(n-got), st.Dropped)
				assert.InDelta(t, 0.1, float64(n-got)/n, 0.015)
			})
		})
	}
}

// kinds are single faults and what they must do to frames sent gap apart.
// 1514-byte frames take a millisecond each at 12.112 Mbit/s.
var kinds = []struct {
	name  string
	spec  string        // for one direction; the test adds the prefix
	gap   time.Duration // between frames sent
	n     int
	check func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats)
}{
	{"loss", "loss=1", time.Millisecond, 10, func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats) {
		assert.Empty(t, got)
		assert.Equal(t, uint64(10), st.Dropped)
	}},
	{"dup", "dup=1", time.Millisecond, 10, func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats) {
		require.Len(t, got, 20)
		for i, f := range got {
			assert.Equal(t, sent[i/2], f.AppendTo(nil))
		}
		assert.Equal(t, uint64(10), st.Duplicated)
	}},
	{"reorder", "reorder=1", 0, 6, func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats) {
		assert.Equal(t, []uint32{1, 0, 3, 2, 5, 4}, ids(got))
		assert.Equal(t, uint64(3), st.Reordered)
	}},
	{"corrupt", "corrupt=1", time.Millisecond, 50, func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats) {
		require.Len(t, got, 50)
		for i, f := range got {
			data := f.AppendTo(nil)
			require.Len(t, data, len(sent[i]))
			flipped := 0
			for j := range data {
				if d := data[j] ^ sent[i][j]; d != 0 {
					assert.GreaterOrEqual(t, j, 14, "past the Ethernet header")
					flipped += bits.OnesCount8(d)
				}
			}
			assert.Equal(t, 1, flipped, "frame %d", i)
			assert.Equal(t, backend.CsumNone, f.Csum)
			assert.Equal(t, backend.CsumBad, offload.VerifyChecksums(f))
		}
		assert.Equal(t, uint64(50), st.Corrupted)
	}},
	{"truncate", "truncate=1", time.Millisecond, 50, func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats) {
		require.Len(t, got, 50)
		for i, f := range got {
			assert.GreaterOrEqual(t, f.Len(), 14)
			assert.Less(t, f.Len(), len(sent[i]))
			assert.Equal(t, sent[i][:f.Len()], f.AppendTo(nil))
			assert.Equal(t, backend.CsumBad, offload.VerifyChecksums(f))
		}
		assert.Equal(t, uint64(50), st.Truncated)
	}},
	{"delay", "delay=2ms", time.Millisecond, 10, func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats) {
		require.Len(t, got, 10)
		for i, f := range got {
			assert.Equal(t, start+ms(float64(i))+ms(2), f.Timestamp, "frame %d", i)
		}
		assert.Equal(t, uint64(10), st.Delayed)
	}},
	{"jitter", "delay=2ms~1ms", 100 * time.Microsecond, 100, func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats) {
		require.Len(t, got, 100)
		seen := map[int64]bool{}
		for i, f := range got {
			assert.Equal(t, uint32(i), idOf(f), "jitter does not reorder")
			sentAt := start + ms(float64(i)/10)
			assert.GreaterOrEqual(t, f.Timestamp, sentAt+ms(1))
			if i > 0 {
				assert.GreaterOrEqual(t, f.Timestamp, got[i-1].Timestamp)
			}
			seen[f.Timestamp-sentAt] = true
		}
		assert.Greater(t, len(seen), 20, "delays vary")
	}},
	{"rate", "rate=12.112M", 0, 10, func(t *testing.T, sent [][]byte, got []*backend.Frame, st DirStats) {
		require.Len(t, got, 10)
		for i, f := range got {
			assert.Equal(t, start+ms(float64(i+1)), f.Timestamp, "frame %d serialised behind the ones before", i)
		}
	}},
}

func TestFaultKinds(t *testing.T) {
	for _, k := range kinds {
		for _, dir := range []string{"tx", "rx"} {
			t.Run(k.name+"/"+dir, func(t *testing.T) {
				specA, specB := "tx:"+k.spec, ""
				if dir == "rx" {
					specA, specB = "", "rx:"+k.spec
				}
				withLink(t, pipe.Config{}, specA, specB, 3, func(t *testing.T, l *link) {
					var sent [][]byte
					var got []*backend.Frame
					for i := range k.n {
						size := 1514
						if k.name == "jitter" {
							size = 100
						}
						f := udpFrame(t, l.a, uint32(i), size)
						sent = append(sent, f.AppendTo(nil))
						send(t, l.fa, f)
						got = append(got, recvAll(t, l.fb)...)
						l.clock.Advance(k.gap)
					}
					_, atB := l.runUntilIdle(t)
					got = append(got, atB...)
					st := l.fa.Stats().Tx
					if dir == "rx" {
						st = l.fb.Stats().Rx
					}
					k.check(t, sent, got, st)
					backend.Release(got)
				})
			})
		}
	}
}

func TestReorderHoldExpires(t *testing.T) {
	withLink(t, pipe.Config{}, "tx:reorder=1", "", 1, func(t *testing.T, l *link) {
		send(t, l.fa, udpFrame(t, l.a, 1, 100))
		assert.Empty(t, recvAll(t, l.fb))
		at, ok := l.fa.NextArrival(0)
		require.True(t, ok)
		assert.Equal(t, start+int64(ReorderHold), at)
		l.clock.Set(at - 1)
		recvAll(t, l.fa)
		assert.Empty(t, recvAll(t, l.fb), "held until the hold time passes")
		l.clock.Set(at)
		require.NoError(t, l.fa.Wait(0, at+1), "waiting lets it go")
		got := recvAll(t, l.fb)
		require.Len(t, got, 1)
		assert.Equal(t, at, got[0].Timestamp)
		backend.Release(got)
	})
}

func TestDirectionPrefixes(t *testing.T) {
	for _, c := range []struct {
		spec          string
		aToB, bToA    int
		dropTx, dropR uint64
	}{
		{"rx:loss=1", 10, 0, 0, 10},
		{"tx:loss=1", 0, 10, 10, 0},
		{"loss=1", 0, 0, 10, 10},
		{"", 10, 10, 0, 0},
	} {
		t.Run(c.spec, func(t *testing.T) {
			withLink(t, pipe.Config{}, c.spec, "", 1, func(t *testing.T, l *link) {
				for i := range 10 {
					send(t, l.fa, udpFrame(t, l.a, uint32(i), 100))
					send(t, l.fb, udpFrame(t, l.b, uint32(i), 100))
				}
				atA, atB := l.runUntilIdle(t)
				assert.Len(t, atB, c.aToB)
				assert.Len(t, atA, c.bToA)
				st := l.fa.Stats()
				assert.Equal(t, c.dropTx, st.Tx.Dropped)
				assert.Equal(t, c.dropR, st.Rx.Dropped)
				backend.Release(atA)
				backend.Release(atB)
			})
		})
	}
}

func TestRateQueueDropsTail(t *testing.T) {
	for _, dir := range []string{"tx", "rx"} {
		t.Run(dir, func(t *testing.T) {
			specA, specB := "tx:rate=1M", ""
			if dir == "rx" {
				specA, specB = "", "rx:rate=1M"
			}
			withLink(t, pipe.Config{}, specA, specB, 1, func(t *testing.T, l *link) {
				// 1000-byte frames take 8 ms each at 1 Mbit/s; the queue
				// holds 1 MiB, so frame 1048 finds it full.
				for i := 0; i < 1100; i += 100 {
					frames := make([]*backend.Frame, 100)
					for j := range frames {
						frames[j] = udpFrame(t, l.a, uint32(i+j), 1000)
					}
					send(t, l.fa, frames...)
					recvAll(t, l.fb)
				}
				_, got := l.runUntilIdle(t)
				require.Len(t, got, 1048)
				st := l.faults()
				assert.Equal(t, uint64(52), st.RateDropped)
				assert.Equal(t, start+1048*ms(8), got[1047].Timestamp)
				backend.Release(got)
			})
		})
	}
}

// waitRecorder is a backend that records the deadlines its Wait is given
// and returns at once.
type waitRecorder struct {
	backend.Backend
	deadlines []int64
}

func (w *waitRecorder) Wait(q int, deadline int64) error {
	w.deadlines = append(w.deadlines, deadline)
	return nil
}

func TestWaitStopsAtTheNextDueFrame(t *testing.T) {
	clock := backend.NewVirtualClock(start)
	a, b, err := pipe.New(pipe.Config{Clock: clock})
	require.NoError(t, err)
	rec := &waitRecorder{Backend: a}
	fa, err := Wrap(rec, Spec{Tx: Dir{Delay: 5 * time.Millisecond}, Rx: Dir{Delay: 3 * time.Millisecond}}, 1, clock)
	require.NoError(t, err)

	send(t, fa, udpFrame(t, a, 1, 100))
	require.NoError(t, fa.Wait(0, 0))
	require.NoError(t, fa.Wait(0, start+ms(1)))
	require.NoError(t, fa.Wait(0, start+ms(9)))
	assert.Equal(t, []int64{start + ms(5), start + ms(1), start + ms(5)}, rec.deadlines)

	// A received frame held for 3 ms: Wait returns at once when it is due.
	send(t, b, udpFrame(t, b, 2, 100))
	got := recvAll(t, fa)
	assert.Empty(t, got)
	rec.deadlines = nil
	require.NoError(t, fa.Wait(0, 0))
	assert.Equal(t, []int64{start + ms(3)}, rec.deadlines)
	clock.Set(start + ms(3))
	require.NoError(t, fa.Wait(0, 0))
	assert.Len(t, rec.deadlines, 1, "a frame is due: no waiting")
	got = recvAll(t, fa)
	require.Len(t, got, 1)
	backend.Release(got)

	clock.Set(start + ms(5))
	require.NoError(t, fa.Wait(0, 0))
	got = recvAll(t, b)
	require.Len(t, got, 1, "the held frame left during Wait")
	backend.Release(got)
	require.NoError(t, fa.Close())
	require.NoError(t, b.Close())
	assert.Zero(t, a.Outstanding())
	assert.Zero(t, b.Outstanding())
}

func TestSendPushesBackWhenTheInnerBackendIsFull(t *testing.T) {
	withLink(t, pipe.Config{QueueDepth: 2}, "tx:delay=1ms", "", 1, func(t *testing.T, l *link) {
		for i := range 4 {
			send(t, l.fa, udpFrame(t, l.a, uint32(i), 100))
		}
		l.clock.Advance(time.Millisecond)
		recvAll(t, l.fa) // sends what is due: two fit in the pipe
		f := udpFrame(t, l.a, 4, 100)
		n, err := l.fa.Send(0, []*backend.Frame{f})
		require.NoError(t, err)
		assert.Zero(t, n, "refused while held frames wait for room")
		at, ok := l.fa.NextArrival(0)
		require.True(t, ok)
		assert.Equal(t, l.clock.Now()+retryAfter, at)

		got := recvAll(t, l.fb)
		assert.Equal(t, []uint32{0, 1}, ids(got))
		backend.Release(got)
		send(t, l.fa, f)
		got = recvAll(t, l.fb)
		assert.Equal(t, []uint32{2, 3}, ids(got))
		backend.Release(got)
		_, got = l.runUntilIdle(t)
		assert.Equal(t, []uint32{4}, ids(got))
		backend.Release(got)
	})
}

func TestCloseReleasesHeldFrames(t *testing.T) {
	withLink(t, pipe.Config{}, "delay=1h,reorder=0.5", "delay=1h", 1, func(t *testing.T, l *link) {
		for i := range 20 {
			send(t, l.fa, udpFrame(t, l.a, uint32(i), 100))
			send(t, l.fb, udpFrame(t, l.b, uint32(i), 100))
		}
		assert.Empty(t, recvAll(t, l.fa))
		assert.Empty(t, recvAll(t, l.fb))
		assert.Equal(t, 20, l.a.Outstanding())
		assert.Equal(t, 20, l.b.Outstanding())
	})
}

func TestClosedBackendRefuses(t *testing.T) {
	l := newLink(t, pipe.Config{}, false, "loss=0.5", "", 1)
	l.close(t)
	_, err := l.fa.Send(0, nil)
	assert.ErrorIs(t, err, backend.ErrClosed)
	_, err = l.fa.Recv(0, nil)
	assert.ErrorIs(t, err, backend.ErrClosed)
	assert.ErrorIs(t, l.fa.Wait(0, 0), backend.ErrClosed)
	_, err = l.fa.Send(1, nil)
	assert.ErrorIs(t, err, backend.ErrQueue)
	assert.NoError(t, l.fa.Close(), "twice is fine")
}

// TestDamageIsDetectable sends frames with partial checksums and TSO frames
// over an offloading pipe, with corruption and truncation on the way out or
// on the way in: every damaged frame must fail its checksum at the receiver
// and every intact one pass.
func TestDamageIsDetectable(t *testing.T) {
	for _, dir := range []string{"tx", "rx"} {
		t.Run(dir, func(t *testing.T) {
			spec := "corrupt=0.2,truncate=0.1"
			specA, specB := spec, ""
			if dir == "rx" {
				specA, specB = "", spec
			}
			withLink(t, pipe.Config{Offloads: true}, specA, specB, 9, func(t *testing.T, l *link) {
				ref, err := backend.NewPool(backend.PoolConfig{})
				require.NoError(t, err)
				var want [][]byte
				expect := func(f *backend.Frame) {
					if f.GSO == backend.GSONone {
						b := f.AppendTo(nil)
						require.NoError(t, offload.CompleteChecksumBytes(b, int(f.CsumStart), int(f.CsumOffset)))
						want = append(want, b)
						return
					}
					segs := make([]*backend.Frame, 64)
					n, err := offload.Segment(segs, f, ref, offload.SegmentOptions{})
					require.NoError(t, err)
					for _, s := range segs[:n] {
						want = append(want, s.AppendTo(nil))
					}
					backend.Release(segs[:n])
				}
				for i := range 20 {
					frames := []*backend.Frame{
						tcpFrame(t, l.a, false, uint32(i*100000), payload(1000, i), 0),
						tcpFrame(t, l.a, true, uint32(i*100000+1), payload(1401, i), 0),
						tcpFrame(t, l.a, false, uint32(i*100000+2), payload(65535-40, i), 1448),
						tcpFrame(t, l.a, true, uint32(i*100000+3), payload(30001, i), 1440),
					}
					for _, f := range frames {
						expect(f)
					}
					send(t, l.fa, frames...)
				}
				_, got := l.runUntilIdle(t)
				require.Len(t, got, len(want), "nothing lost, nothing added")
				damaged := 0
				for i, f := range got {
					data := f.AppendTo(nil)
					if f.Csum == backend.CsumPartial {
						require.NoError(t, offload.CompleteChecksumBytes(data, int(f.CsumStart), int(f.CsumOffset)))
					}
					if bytes.Equal(data, want[i]) {
						require.NoError(t, offload.CompleteChecksum(f))
						assert.Equal(t, backend.CsumVerified, offload.VerifyChecksums(f), "intact frame %d", i)
						continue
					}
					damaged++
					assert.Equal(t, backend.CsumNone, f.Csum, "damaged frame %d claims nothing", i)
					assert.Equal(t, backend.CsumBad, offload.VerifyChecksums(f), "damaged frame %d", i)
				}
				st := l.faults()
				assert.Equal(t, uint64(40), st.Segmented)
				assert.GreaterOrEqual(t, damaged, int(max(st.Corrupted, st.Truncated)))
				assert.LessOrEqual(t, damaged, int(st.Corrupted+st.Truncated))
				assert.Greater(t, damaged, 200)
				assert.Greater(t, len(got)-damaged, 600)
				backend.Release(got)
				assert.Zero(t, ref.Outstanding())
			})
		})
	}
}

func TestSegmentsOnlyWhenAFaultMayPickFrames(t *testing.T) {
	for _, c := range []struct {
		spec string
		segs uint64
		got  int
	}{
		{"tx:delay=1ms", 0, 1},
		{"tx:rate=1G", 0, 1},
		{"tx:dup=0.000001", 1, 46},
	} {
		t.Run(c.spec, func(t *testing.T) {
			withLink(t, pipe.Config{Offloads: true}, c.spec, "", 1, func(t *testing.T, l *link) {
				send(t, l.fa, tcpFrame(t, l.a, false, 1, payload(65535-40, 1), 1448))
				_, got := l.runUntilIdle(t)
				assert.Len(t, got, c.got)
				assert.Equal(t, c.segs, l.fa.Stats().Tx.Segmented)
				backend.Release(got)
			})
		})
	}
}

func TestDupSkippedWhenOutOfBuffers(t *testing.T) {
	withLink(t, pipe.Config{PoolSize: 6}, "tx:dup=1", "", 1, func(t *testing.T, l *link) {
		var frames []*backend.Frame
		for i := range 4 {
			frames = append(frames, udpFrame(t, l.a, uint32(i), 100))
		}
		send(t, l.fa, frames...)
		got := recvAll(t, l.fb)
		assert.Equal(t, []uint32{0, 0, 1, 1, 2, 3}, ids(got))
		st := l.fa.Stats().Tx
		assert.Equal(t, uint64(2), st.Duplicated)
		assert.Equal(t, uint64(2), st.DupSkipped)
		backend.Release(got)
	})
}

// TestNoAllocationsPerFrame drives both directions with every fault on
// after a warm-up in which the hold queues reach their size.
func TestNoAllocationsPerFrame(t *testing.T) {
	for _, mbuf := range []bool{false, true} {
		l := newLink(t, pipe.Config{Offloads: true}, mbuf, mixedTx()+",rx:loss=0.01,rx:dup=0.02,rx:reorder=0.05,rx:corrupt=0.02",
			"rx:loss=0.05,rx:dup=0.05,rx:reorder=0.1,rx:delay=1ms~100us,rx:truncate=0.01", 1)
		small := udpFrame(t, l.a, 1, 200)
		tmplSmall := small.AppendTo(nil)
		backend.ReleaseOne(small)
		tso := tcpFrame(t, l.a, false, 1, payload(20000, 1), 1448)
		tmplTSO, meta := tso.AppendTo(nil), tso.Meta
		backend.ReleaseOne(tso)

		out := make([]*backend.Frame, 16)
		in := make([]*backend.Frame, 64)
		step := func(from, to *Backend) {
			n := from.Alloc(0, out[:15], len(tmplSmall))
			for _, f := range out[:n] {
				f.SetLen(len(tmplSmall))
				f.CopyFrom(tmplSmall, 0)
			}
			if from.Alloc(0, out[n:n+1], len(tmplTSO)) == 1 {
				f := out[n]
				f.SetLen(len(tmplTSO))
				f.CopyFrom(tmplTSO, 0)
				f.Meta = meta
				n++
			}
			sent, _ := from.Send(0, out[:n])
			backend.Release(out[sent:n])
			l.clock.Advance(200 * time.Microsecond)
			from.Recv(0, in[:0])
			for {
				m, _ := to.Recv(0, in)
				if m == 0 {
					break
				}
				backend.Release(in[:m])
			}
		}
		both := func() { step(l.fa, l.fb); step(l.fb, l.fa) }
		for range 3000 {
			both()
		}
		assert.Zero(t, testing.AllocsPerRun(1000, both), "mbuf %v", mbuf)
		atA, atB := l.runUntilIdle(t)
		backend.Release(atA)
		backend.Release(atB)
		l.close(t)
	}
}

// TestQueuesConcurrently drives two queues from their own goroutines while
// another reads the counters; run it with -race.
func TestQueuesConcurrently(t *testing.T) {
	clock := backend.NewRealClock()
	a, b, err := pipe.New(pipe.Config{Queues: 2, Clock: clock})
	require.NoError(t, err)
	spec, err := Parse("loss=0.1,dup=0.1,reorder=0.1,corrupt=0.1,delay=10us")
	require.NoError(t, err)
	fa, err := Wrap(a, spec, 1, clock)
	require.NoError(t, err)
	fb, err := Wrap(b, spec, 2, clock)
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				fa.Stats()
				fb.Stats()
			}
		}
	}()
	for q := range 2 {
		wg.Go(func() {
			in := make([]*backend.Frame, 32)
			for i := range 500 {
				fs := make([]*backend.Frame, 1)
				if fa.Alloc(q, fs, 100) == 1 {
					fs[0].SetLen(100)
					fs[0].Bytes()[12] = byte(i)
					if n, _ := fa.Send(q, fs); n == 0 {
						backend.Release(fs)
					}
				}
				for _, e := range []*Backend{fa, fb} {
					n, _ := e.Recv(q, in)
					backend.Release(in[:n])
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	require.NoError(t, fa.Close())
	require.NoError(t, fb.Close())
	assert.Zero(t, a.Outstanding())
	assert.Zero(t, b.Outstanding())
	assert.NotZero(t, fa.Stats().Tx.Dropped)
}
