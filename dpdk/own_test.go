//go:build dpdk

package dpdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

// A random mix of what the stack does with frames, on the net_ring
// loopback (chains at MTU 9000): frames of every size sent in random
// batches, some held across their own round trip (the ring returns the
// very mbuf, which Recv must copy), some from another backend (copied by
// Send), some allocated longer than they end up, a flood until the ring
// refuses, received frames kept and released in random order and
// batches. Every frame received carries the bytes sent, a held frame keeps
// its own, only held frames are lost (their copy dropped, and counted,
// when the pool is empty), and at the end every mbuf is back.
func TestRingRandomOwnership(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomOwnership(t, seed) })
	}
}

func randomOwnership(t *testing.T, seed uint64) {
	lockThread(t)
	p := openPort(t, ringConfig())
	pool, err := backend.NewPool(backend.PoolConfig{Mbuf: true, DataRoom: 512, Count: 256})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 7))
	sizes := []int{14, 60, 64, 1514, 2048, 2049, 4000, 9014}

	// content of frame id: its id, then a pattern of the id.
	content := func(id uint64, n int) []byte {
		b := pattern(n, byte(id))
		if n >= 8 {
			binary.LittleEndian.PutUint64(b, id)
		}
		return b
	}
	type heldFrame struct {
		f    *backend.Frame
		want []byte
	}
	var (
		nextID   uint64      = 1
		inFlight             = map[uint64][]byte{} // sent, not yet received
		held     []heldFrame                       // frames we keep a reference to
		kept     []heldFrame                       // received frames not yet released
		sentPkts int
		heldIDs  = map[uint64]bool{} // frames the ring returns while held
	)
	idOf := func(f *backend.Frame) uint64 {
		if f.Len() < 8 {
			return 0
		}
		return binary.LittleEndian.Uint64(linear(f))
	}
	recv := func() {
		buf := make([]*backend.Frame, 32)
		n, err := p.Recv(0, buf)
		require.NoError(t, err)
		for _, f := range buf[:n] {
			id := idOf(f)
			want, ok := inFlight[id]
			require.True(t, ok, "frame %d was not sent or came twice", id)
			require.Equal(t, want, linear(f), "frame %d", id)
			delete(inFlight, id)
			if rng.IntN(3) == 0 {
				kept = append(kept, heldFrame{f, want})
			} else {
				backend.ReleaseOne(f)
			}
		}
	}
	// sendBatch sends up to 40 new frames and reports whether the
	// device took them all.
	sendBatch := func() bool {
		var batch []*backend.Frame
		var ids []uint64
		for range 1 + rng.IntN(40) {
			n := sizes[rng.IntN(len(sizes))]
			id := nextID
			nextID++
			b := content(id, max(n, 8))
			var f *backend.Frame
			if rng.IntN(6) == 0 && len(b) <= 2048 {
				if f = pool.AllocOne(len(b)); f == nil {
					continue
				}
				require.True(t, f.SetLen(len(b)))
				f.CopyFrom(b, 0)
			} else {
				// Some are allocated longer than they end up, so their
				// chains end in empty buffers that Send leaves out.
				var one [1]*backend.Frame
				if p.Alloc(0, one[:], len(b)+rng.IntN(2)*rng.IntN(5000)) != 1 {
					continue
				}
				f = one[0]
				require.True(t, f.SetLen(len(b)))
				f.CopyFrom(b, 0)
				if rng.IntN(4) == 0 {
					f.Ref()
					held = append(held, heldFrame{f, b})
					heldIDs[id] = true
				}
			}
			batch = append(batch, f)
			ids = append(ids, id)
			inFlight[id] = b
		}
		k, err := p.Send(0, batch)
		require.NoError(t, err)
		sentPkts += k
		for i := k; i < len(batch); i++ {
			delete(inFlight, ids[i])
		}
		backend.Release(batch[k:])
		return len(batch) > 0 && k == len(batch)
	}
	for range 300 {
		switch op := rng.IntN(11); {
		case op < 5 || op == 10: // send a batch; flood: until the ring is full
			for flood := op == 10; ; {
				if !sendBatch() || !flood {
					break
				}
			}
		case op < 8:
			recv()
		default: // release some of what is held or kept
			rng.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
			rng.Shuffle(len(kept), func(i, j int) { kept[i], kept[j] = kept[j], kept[i] })
			var rel []*backend.Frame
			for _, l := range []*[]heldFrame{&held, &kept} {
				cut := rng.IntN(len(*l) + 1)
				for _, h := range (*l)[cut:] {
					require.Equal(t, h.want, linear(h.f), "a frame held through its round trip")
					rel = append(rel, h.f)
				}
				*l = (*l)[:cut]
			}
			backend.Release(rel)
		}
	}
	for end := time.Now().Add(time.Second); len(inFlight) > 0 && time.Now().Before(end); {
		recv()
	}
	// A held frame comes back as the very mbuf, which Recv copies; with
	// the pool empty the copy is dropped and counted, and nothing else
	// may be lost.
	st := p.QueueStats(0)
	for id := range inFlight {
		assert.True(t, heldIDs[id], "frame %d lost in the ring", id)
	}
	assert.Equal(t, uint64(len(inFlight)), st.RxDrops, "frames lost, against drops counted")
	for _, l := range [][]heldFrame{held, kept} {
		for _, h := range l {
			require.Equal(t, h.want, linear(h.f))
			backend.ReleaseOne(h.f)
		}
	}
	assert.Zero(t, pool.Outstanding(), "the other backend's frames all went back")
	assert.Equal(t, ringConfig().Mbufs, p.poolAvail(0), "every mbuf is back in the mempool")
	assert.Equal(t, uint64(sentPkts), st.TxPackets)
	assert.Equal(t, st.TxPackets, st.RxPackets+st.RxDrops)
	assert.Zero(t, st.TxDrops)
}

// A released single-buffer frame waits in its queue's stash and is the
// next Alloc's, reset: no data, the mbuf's headroom, no metadata. A frame
// whose mbuf the device still holds, or whose mbuf is another port's, goes
// back to its own mempool instead, and so does the stash when the queue
// is idle or closes.
func TestRingReusesReleasedFrames(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	full := p.poolAvail(0)

	got := sendRecv(t, p, p, 4, 100)
	mine := map[*backend.Frame]bool{}
	for _, f := range got {
		assert.NotZero(t, f.Timestamp)
		mine[f] = true
	}
	backend.Release(got)
	assert.Equal(t, len(got), p.stashed(0))
	assert.Zero(t, p.Outstanding())

	again := make([]*backend.Frame, len(got))
	require.Equal(t, len(again), p.Alloc(0, again, 64))
	for _, f := range again {
		assert.True(t, mine[f], "the frame released last is allocated next")
		assert.Zero(t, f.Len())
		assert.Equal(t, 1, f.Segments())
		assert.Equal(t, backend.Headroom, f.Headroom())
		assert.Equal(t, backend.Meta{}, f.Meta)
		assert.Equal(t, 0, f.Queue)
	}
	assert.Zero(t, p.stashed(0))
	assert.Equal(t, len(again), p.Outstanding())
	for i, f := range again {
		require.True(t, f.SetLen(60))
		copy(f.Bytes(), pattern(60, byte(10+i)))
	}
	n, err := p.Send(0, again)
	require.NoError(t, err)
	require.Equal(t, len(again), n)
	for i, f := range recvFrames(t, p, 0, len(again), time.Second) {
		assert.Equal(t, pattern(60, byte(10+i)), linear(f), "a reused frame carries what was written")
		backend.ReleaseOne(f)
	}

	// Held through its send and released while the ring still has the
	// mbuf: not kept; it comes back whole.
	f := allocFrame(t, p, 0, pattern(80, 7))
	f.Ref()
	stashed := p.stashed(0)
	n, err = p.Send(0, []*backend.Frame{f})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	backend.ReleaseOne(f)
	assert.Equal(t, stashed, p.stashed(0), "the device still holds the mbuf")
	back := recvFrames(t, p, 0, 1, time.Second)
	require.Len(t, back, 1)
	assert.Equal(t, pattern(80, 7), linear(back[0]))
	backend.Release(back)
	assert.Equal(t, full, p.poolAvail(0), "every mbuf is back in the mempool")
	assert.Zero(t, p.stashed(0))

	// What a port receives from another port's mempool goes back there.
	na, nb, err := RingPair("reuse_a", "reuse_b", 1, 256)
	require.NoError(t, err)
	pa := openPort(t, Config{Port: na, RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	pb := openPort(t, Config{Port: nb, RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	fullA := pa.poolAvail(0)
	a := allocFrame(t, pa, 0, pattern(70, 9))
	n, err = pa.Send(0, []*backend.Frame{a})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	fromA := recvFrames(t, pb, 0, 1, time.Second)
	require.Len(t, fromA, 1)
	backend.Release(fromA)
	assert.Zero(t, pb.stashed(0))
	pb.poolAvail(0) // B frees what it was given back
	assert.Equal(t, fullA, pa.poolAvail(0))
}

// A port that closes while another holds mbufs of its mempools (received
// over a ring both use) keeps its mempools until they are back: the
// frames stay valid, and the last release frees them.
func TestRingClosedPortWaitsForItsMbufs(t *testing.T) {
	lockThread(t)
	na, nb, err := RingPair("wait_a", "wait_b", 1, 256)
	require.NoError(t, err)
	pb := openPort(t, Config{Port: nb, RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	pa, err := Open(Config{Port: na, RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	require.NoError(t, err)

	fromA := sendRecv(t, pa, pb, 3, 300)
	backend.ReleaseOne(fromA[0]) // waits in B's queue to be freed

	require.NoError(t, pa.Close())
	assert.False(t, pa.poolsFreed(), "B holds two of A's mbufs")
	for i, f := range fromA[1:] {
		assert.Equal(t, pattern(300, byte(i+1)), linear(f))
	}
	backend.ReleaseOne(fromA[1])
	assert.False(t, pa.poolsFreed(), "B holds one of A's mbufs")
	backend.ReleaseOne(fromA[2])
	assert.True(t, pa.poolsFreed(), "the last release frees A's mempools")
	assert.Zero(t, closedPorts.n.Load())
}

// What a ring-pair port sends that nobody receives is freed when it
// closes, the other port being closed: its mempools do not wait for good.
// While the other port is open, what it has not received yet stays for it.
func TestRingPairFreesWhatNobodyReceives(t *testing.T) {
	lockThread(t)
	na, nb, err := RingPair("lost_a", "lost_b", 2, 256)
	require.NoError(t, err)
	cfg := Config{RxDesc: 256, TxDesc: 256, Mbufs: 2047, Queues: 2, Poison: true}
	cfg.Port = na
	pa, err := Open(cfg)
	require.NoError(t, err)
	cfg.Port = nb
	pb, err := Open(cfg)
	require.NoError(t, err)

	send := func(p *Port, q, n int) {
		t.Helper()
		fs := make([]*backend.Frame, n)
		for i := range fs {
			fs[i] = allocFrame(t, p, q, pattern(100, byte(i)))
		}
		k, err := p.Send(q, fs)
		require.NoError(t, err)
		require.Equal(t, n, k)
	}
	send(pb, 0, 5) // A receives these after B has closed
	require.NoError(t, pb.Close())
	got := recvFrames(t, pa, 0, 5, time.Second)
	require.Len(t, got, 5, "B's packets wait for A, which is open")
	backend.Release(got)
	assert.True(t, pb.poolsFreed(), "A gave B's mbufs back")

	send(pa, 0, 7)
	send(pa, 1, 3)
	require.NoError(t, pa.Close())
	assert.True(t, pa.poolsFreed(), "what A sent to B, closed, is freed with A")
	assert.Zero(t, closedPorts.n.Load())
}

// Releases racing with Close: whichever comes last frees the mempools,
// with frames kept for reuse or queued to be freed at the time.
func TestRingCloseRacesReleases(t *testing.T) {
	lockThread(t)
	for round := range 50 {
		ensurePort(t, "net_ring0")
		p, err := Open(Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023})
		require.NoError(t, err)
		got := sendRecv(t, p, p, 32, 64+round)
		chains := make([]*backend.Frame, 4)
		require.Equal(t, len(chains), p.Alloc(0, chains, 3000))
		frames := append(got, chains...)
		var wg sync.WaitGroup
		for part := range 4 {
			wg.Go(func() {
				for _, f := range frames[part*len(frames)/4 : (part+1)*len(frames)/4] {
					time.Sleep(time.Duration(round%7) * 10 * time.Microsecond)
					backend.ReleaseOne(f)
				}
			})
		}
		require.NoError(t, p.Close())
		wg.Wait()
		require.Zero(t, p.Outstanding(), "round %d", round)
		require.True(t, p.poolsFreed(), "round %d: the mempools are freed", round)
		require.NoError(t, Probe("net_ring0"))
	}
}

// With Poison, a released frame's buffer reads PoisonByte, kept for reuse
// or not; a frame the device still sends keeps its bytes.
func TestRingPoison(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 256, TxDesc: 256, Mbufs: 2047, MTU: 9000, Poison: true})
	poisoned := func(b []byte) bool {
		return len(b) > 0 && bytes.Count(b, []byte{backend.PoisonByte}) == len(b)
	}

	got := sendRecv(t, p, p, 2, 200)
	kept, queued := got[0].Bytes(), got[1].Bytes()
	backend.ReleaseOne(got[0])
	require.Equal(t, 1, p.stashed(0))
	assert.True(t, poisoned(kept), "a frame kept for reuse")
	chain := allocFrame(t, p, 0, pattern(5000, 3))
	tail := chain.Next().Bytes()
	backend.Release([]*backend.Frame{got[1], chain})
	assert.True(t, poisoned(queued), "a frame queued to be freed")
	assert.True(t, poisoned(tail), "a chain's second buffer")

	held := allocFrame(t, p, 0, pattern(300, 4))
	held.Ref()
	n, err := p.Send(0, []*backend.Frame{held})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	backend.ReleaseOne(held)
	back := recvFrames(t, p, 0, 1, time.Second)
	require.Len(t, back, 1)
	assert.Equal(t, pattern(300, 4), linear(back[0]), "the device's reference kept it")
	backend.Release(back)
}
