//go:build dpdk

package dpdk

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// net_ring0 is a loopback: what a queue sends comes back on its receive
// side, as the same mbufs.

// ringConfig is a small ring port with jumbo frames, so that chains cross
// it.
func ringConfig() Config {
	return Config{Port: "net_ring0", MTU: 9000, RxDesc: 256, TxDesc: 256, Mbufs: 2047, Poison: true}
}

func TestRingRoundTrip(t *testing.T) {
	lockThread(t)
	p := openPort(t, ringConfig())
	caps := p.Caps()
	require.Equal(t, 2048, caps.BufSize)
	require.Equal(t, 9000, caps.MTU)

	sizes := []int{60, 64, 128, 1000, 1514, 2048, 2049, 3000, 9014}
	var sent []*backend.Frame
	var want [][]byte
	for i, n := range sizes {
		b := pattern(n, byte(i))
		f := allocFrame(t, p, 0, b)
		assert.GreaterOrEqual(t, f.Headroom(), backend.Headroom)
		assert.Equal(t, p.segsFor(n), f.Segments(), "%d bytes", n)
		sent = append(sent, f)
		want = append(want, b)
	}
	require.Equal(t, 5, sent[len(sent)-1].Segments(), "a 9014-byte frame is a chain")
	n, err := p.Send(0, sent)
	require.NoError(t, err)
	require.Equal(t, len(sent), n)

	got := recvFrames(t, p, 0, len(sizes), time.Second)
	require.Len(t, got, len(sizes))
	for i, f := range got {
		assert.Equal(t, want[i], linear(f), "frame %d (%d bytes)", i, sizes[i])
		assert.Equal(t, p.segsFor(sizes[i]), f.Segments(), "frame %d (%d bytes)", i, sizes[i])
		assert.NotZero(t, f.Handle)
		assert.Equal(t, 0, f.Queue)
		assert.NotZero(t, f.Timestamp)
	}
	segs := 0
	for _, n := range sizes {
		segs += p.segsFor(n)
	}
	assert.Equal(t, segs, p.Outstanding())
	backend.Release(got)

	st := p.QueueStats(0)
	assert.Equal(t, uint64(len(sizes)), st.TxPackets)
	assert.Equal(t, uint64(len(sizes)), st.RxPackets)
}

// The stack moves a frame's data window (headers prepended, bytes
// trimmed, a tail truncated away): Send writes the window back into the
// mbufs.
func TestRingSendsMovedWindows(t *testing.T) {
	lockThread(t)
	p := openPort(t, ringConfig())

	a := allocFrame(t, p, 0, pattern(200, 1))
	require.True(t, a.TrimFront(20))
	copy(a.Prepend(8), "prepend!")

	b := allocFrame(t, p, 0, pattern(3000, 2))
	require.Equal(t, 2, b.Segments())
	b.Truncate(1500) // the second mbuf is now empty: left out, freed

	c := allocFrame(t, p, 0, pattern(5000, 3))
	require.True(t, c.TrimFront(100))

	want := [][]byte{linear(a), linear(b), linear(c)}
	n, err := p.Send(0, []*backend.Frame{a, b, c})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	got := recvFrames(t, p, 0, 3, time.Second)
	require.Len(t, got, 3)
	for i, f := range got {
		assert.Equal(t, want[i], linear(f), "frame %d", i)
	}
	assert.Equal(t, 1, got[1].Segments())
	backend.Release(got)
}

func TestRingNoAllocationsPerPacket(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	tx := make([]*backend.Frame, 32)
	rx := make([]*backend.Frame, 32)
	var bad int
	round := func() {
		n := p.Alloc(0, tx, 64)
		for _, f := range tx[:n] {
			f.SetLen(64)
			binary.LittleEndian.PutUint64(f.Bytes(), 1)
		}
		s, _ := p.Send(0, tx[:n])
		k, _ := p.Recv(0, rx)
		if n != 32 || s != 32 || k != 32 {
			bad++
		}
		backend.Release(rx[:k])
	}
	for range 100 {
		round()
	}
	allocs := testing.AllocsPerRun(1000, round)
	assert.Zero(t, allocs, "allocations per burst of 32")
	assert.Zero(t, bad, "bursts that came back short")
}

// A full ring takes part of a burst: Send says how many, the rest stay the
// caller's, and nothing leaks.
func TestRingShortSend(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Burst: 64, Mbufs: 4095})
	const total = 1500
	frames := make([]*backend.Frame, total)
	require.Equal(t, total, p.Alloc(0, frames, 64))
	for i, f := range frames {
		f.SetLen(64)
		binary.BigEndian.PutUint32(f.Bytes(), uint32(i))
	}
	n, err := p.Send(0, frames)
	require.NoError(t, err)
	require.Greater(t, n, 0)
	require.Less(t, n, total, "the ring holds fewer than %d frames", total)
	t.Logf("the ring took %d of %d frames", n, total)
	assert.Equal(t, total, p.Outstanding()+n, "the refused frames are still the caller's")

	got := recvFrames(t, p, 0, n, time.Second)
	require.Len(t, got, n)
	for i, f := range got {
		require.Equal(t, uint32(i), binary.BigEndian.Uint32(f.Bytes()), "frame %d", i)
	}
	backend.Release(got)

	// The refused frames are intact and can be sent now.
	rest := frames[n:]
	m, err := p.Send(0, rest[:32])
	require.NoError(t, err)
	require.Equal(t, 32, m)
	got = recvFrames(t, p, 0, 32, time.Second)
	require.Len(t, got, 32)
	assert.Equal(t, uint32(n), binary.BigEndian.Uint32(got[0].Bytes()))
	backend.Release(got)
	backend.Release(rest[32:])

	st := p.QueueStats(0)
	assert.Equal(t, uint64(n+32), st.TxPackets)
	assert.Zero(t, st.TxDrops)
}

// Sending nothing is no error, and nothing happens.
func TestRingSendsNothing(t *testing.T) {
	lockThread(t)
	p := openPort(t, ringConfig())
	for _, fs := range [][]*backend.Frame{nil, {}} {
		n, err := p.Send(0, fs)
		assert.NoError(t, err)
		assert.Zero(t, n)
	}
	assert.Zero(t, p.QueueStats(0).TxPackets)
}

// A frame the caller holds a reference to (unacked data held instead of
// copied) survives Send: the mbuf gets a reference for the device.
func TestRingHeldFrameSurvivesSend(t *testing.T) {
	lockThread(t)
	p := openPort(t, ringConfig())
	want := pattern(3000, 7)
	f := allocFrame(t, p, 0, want)
	for round := range 2 {
		f.Ref()
		n, err := p.Send(0, []*backend.Frame{f})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got := recvFrames(t, p, 0, 1, time.Second)
		require.Len(t, got, 1)
		assert.Equal(t, want, linear(got[0]), "round %d", round)
		backend.ReleaseOne(got[0])
		assert.Equal(t, 2, p.Outstanding(), "the held frame's two mbufs")
		assert.Equal(t, want, linear(f))
	}
	backend.ReleaseOne(f)
}

// Frames of other backends are copied into mbufs: DPDK never sees Go
// memory.
func TestRingCopiesOtherBackendsFrames(t *testing.T) {
	lockThread(t)
	p := openPort(t, ringConfig())
	pool, err := backend.NewPool(backend.PoolConfig{Mbuf: true, DataRoom: 512, Count: 16})
	require.NoError(t, err)
	var frames []*backend.Frame
	var want [][]byte
	for i, n := range []int{100, 1300} {
		f := pool.AllocOne(n)
		require.NotNil(t, f)
		require.True(t, f.SetLen(n))
		b := pattern(n, byte(i))
		f.CopyFrom(b, 0)
		frames = append(frames, f)
		want = append(want, b)
	}
	require.Equal(t, 3, frames[1].Segments())
	n, err := p.Send(0, frames)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	assert.Zero(t, pool.Outstanding(), "Send released the pool's frames")
	got := recvFrames(t, p, 0, 2, time.Second)
	require.Len(t, got, 2)
	for i, f := range got {
		assert.Equal(t, want[i], linear(f))
	}
	backend.Release(got)
}

func TestRingDropsWhatNoWireCarries(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	long := allocFrame(t, p, 0, pattern(1515, 1)) // MTU 1500 + 14 + 1
	short := allocFrame(t, p, 0, pattern(10, 2))
	ok := allocFrame(t, p, 0, pattern(1514, 3))
	n, err := p.Send(0, []*backend.Frame{long, short, ok})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	got := recvFrames(t, p, 0, 2, 50*time.Millisecond)
	require.Len(t, got, 1)
	assert.Equal(t, 1514, got[0].Len())
	backend.Release(got)
	st := p.QueueStats(0)
	assert.Equal(t, uint64(2), st.TxDrops)
	assert.Equal(t, uint64(1), st.TxPackets)
}

var (
	macA  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.2")
)

// net_ring has no TX offloads: partial checksums are completed and GSO
// frames cut in software before the device sees them.
func TestRingSoftwareOffloads(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	require.False(t, p.Caps().Offloads.TxCsum)
	require.False(t, p.Caps().Offloads.TSO)

	t.Run("partial checksum", func(t *testing.T) {
		f := allocFrame(t, p, 0, udpFrame(macB, macA, addrA, addrB, 1000, 2000, pattern(333, 1), true))
		setPartial(f, 6)
		n, err := p.Send(0, []*backend.Frame{f})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got := recvFrames(t, p, 0, 1, time.Second)
		require.Len(t, got, 1)
		pk, ok := parseIPv4(linear(got[0]))
		require.True(t, ok)
		assert.True(t, wire.VerifyTransportChecksum(pk.src, pk.dst, 17, pk.l4))
		backend.Release(got)
	})

	t.Run("gso", func(t *testing.T) {
		payload := pattern(5000, 2)
		f := allocFrame(t, p, 0, tcpFrame(macB, macA, addrA, addrB, 1000, 2000, 100, payload))
		setPartial(f, 16)
		f.GSO, f.GSOSize, f.L4Len = backend.GSOTCPv4, 1460, 20
		n, err := p.Send(0, []*backend.Frame{f})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got := recvFrames(t, p, 0, 4, time.Second)
		require.Len(t, got, 4)
		var joined []byte
		for i, g := range got {
			pk, ok := parseIPv4(linear(g))
			require.True(t, ok)
			assert.LessOrEqual(t, g.Len(), 1514)
			assert.True(t, wire.VerifyTransportChecksum(pk.src, pk.dst, 6, pk.l4), "segment %d", i)
			assert.Equal(t, uint32(100+len(joined)), pk.seq)
			joined = append(joined, pk.payload...)
		}
		assert.Equal(t, payload, joined)
		backend.Release(got)
	})
	assert.Zero(t, p.QueueStats(0).TxDrops)
}

func TestRingLinkAndStats(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 256, TxDesc: 256, Mbufs: 2047})
	l, err := p.Link()
	require.NoError(t, err)
	assert.True(t, l.Up, "link %v", l)

	frames := make([]*backend.Frame, 8)
	require.Equal(t, 8, p.Alloc(0, frames, 100))
	for _, f := range frames {
		f.SetLen(100)
	}
	n, err := p.Send(0, frames)
	require.NoError(t, err)
	require.Equal(t, 8, n)
	backend.Release(recvFrames(t, p, 0, 8, time.Second))

	st, err := p.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(8), st.OPackets)
	assert.Equal(t, uint64(8), st.IPackets)
	xs, err := p.XStats()
	require.NoError(t, err)
	byName := map[string]uint64{}
	for _, x := range xs {
		byName[x.Name] = x.Value
	}
	assert.Equal(t, uint64(8), byName["tx_good_packets"], "xstats %v", xs)
	assert.Equal(t, uint64(8), byName["rx_good_packets"])

	// The same, as metrics see them.
	kind, ds, err := p.DeviceStats()
	require.NoError(t, err)
	assert.Equal(t, "dpdk", kind)
	require.GreaterOrEqual(t, len(ds), 2)
	assert.Equal(t, backend.DeviceStat{Name: "link_up", Value: 1, Gauge: true}, ds[0])
	assert.Contains(t, ds, backend.DeviceStat{Name: "rx_good_packets", Value: 8})
	assert.Contains(t, ds, backend.DeviceStat{Name: "tx_q0_packets", Value: 8}, "net_ring counts no bytes")
	assert.Equal(t, p.Name(), "net_ring0")
	assert.Equal(t, "net_ring", p.Driver())
}

// Frames out at Close stay valid until released; the mempools go when the
// last one is back.
func TestRingCloseWithFramesOut(t *testing.T) {
	lockThread(t)
	ensurePort(t, "net_ring0")
	p, err := Open(Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023})
	require.NoError(t, err)
	held := allocFrame(t, p, 0, pattern(3000, 1))
	// One in the ring too: Close takes it back.
	n, err := p.Send(0, []*backend.Frame{allocFrame(t, p, 0, pattern(100, 2))})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "a second Close does nothing")
	assert.Equal(t, 2, p.Outstanding())
	_, err = p.Recv(0, make([]*backend.Frame, 4))
	assert.ErrorIs(t, err, backend.ErrClosed)
	n, err = p.Send(0, []*backend.Frame{held})
	assert.ErrorIs(t, err, backend.ErrClosed)
	assert.Zero(t, n)
	assert.Zero(t, p.Alloc(0, make([]*backend.Frame, 1), 10))
	assert.ErrorIs(t, p.Wait(0, 0), backend.ErrClosed)
	assert.Equal(t, pattern(3000, 1), linear(held))
	backend.ReleaseOne(held)
	assert.Zero(t, p.Outstanding())

	// The device was detached: it is gone until probed again.
	_, err = Open(Config{Port: "net_ring0"})
	assert.ErrorContains(t, err, `no port "net_ring0"`)
	require.NoError(t, Probe("net_ring0"))
	p2 := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023})
	assert.Equal(t, "net_ring0", p2.Caps().Name)
}

func TestWaitIdlePolicy(t *testing.T) {
	lockThread(t)
	p := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023, IdlePolls: 4, IdleSleep: time.Hour})
	rx := make([]*backend.Frame, 4)
	// Busy: Wait returns at once.
	require.NoError(t, p.Wait(0, 0))
	for range 4 {
		n, err := p.Recv(0, rx)
		require.NoError(t, err)
		require.Zero(t, n)
	}
	// Idle: a deadline in the past returns at once; otherwise Wait sleeps
	// until Wake.
	require.NoError(t, p.Wait(0, p.cfg.Clock.Now()-1))
	go func() {
		time.Sleep(20 * time.Millisecond)
		p.Wake(0)
	}()
	done := make(chan error, 1)
	go func() { done <- p.Wait(0, 0) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Wake did not end an idle Wait")
	}
	// A Wake before Wait makes it return at once.
	p.Wake(0)
	require.NoError(t, p.Wait(0, 0))
	assert.ErrorIs(t, p.Wait(3, 0), backend.ErrQueue)
}

// Mbufs of a mempool that is not the port's (another DPDK user's, on a
// shared ring) carry no frame of ours: Recv copies them into the queue's
// mempool and frees theirs, chains included; with the queue's pool empty
// they are dropped and counted.
func TestRingCopiesForeignMbufs(t *testing.T) {
	lockThread(t)
	p := openPort(t, ringConfig())
	pool, err := newForeignPool("ust_foreign", 255)
	require.NoError(t, err)
	defer pool.free()
	before := pool.avail()

	for _, chained := range []bool{false, true} {
		require.Equal(t, 8, p.sendForeign(0, pool, 8, 300, chained, 1000))
		got := recvFrames(t, p, 0, 8, time.Second)
		require.Len(t, got, 8)
		for i, f := range got {
			assert.Equal(t, 300, f.Len(), "chained %v", chained)
			assert.Equal(t, uint64(1000+i), binary.LittleEndian.Uint64(linear(f)), "chained %v", chained)
			assert.Equal(t, 1, f.Segments(), "a copy fits one of our mbufs")
		}
		assert.Equal(t, 8, p.Outstanding(), "the copies are ours")
		assert.Equal(t, before, pool.avail(), "the foreign mbufs went back to their pool")
		backend.Release(got)
		assert.Zero(t, p.Outstanding())
	}

	// The queue's pool empty: what arrives is dropped and counted.
	var all []*backend.Frame
	buf := make([]*backend.Frame, 64)
	for {
		n := p.Alloc(0, buf, 64)
		if n == 0 {
			break
		}
		all = append(all, buf[:n]...)
	}
	require.NotEmpty(t, all)
	require.Equal(t, 4, p.sendForeign(0, pool, 4, 100, false, 0))
	n, err := p.Recv(0, buf)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, uint64(4), p.QueueStats(0).RxDrops)
	assert.Equal(t, before, pool.avail())
	backend.Release(all)
}

// Received frames carry the time they came in the port's clock: the real
// clock, read in C only when frames come, or any other clock.
func TestRingTimestamps(t *testing.T) {
	lockThread(t)
	real := backend.NewRealClock()
	virtual := backend.NewVirtualClock(1_000_000_000)
	for _, clock := range []backend.Clock{real, virtual} {
		p := openPort(t, Config{Port: "net_ring0", RxDesc: 64, TxDesc: 64, Mbufs: 1023, Clock: clock})
		before := clock.Now()
		got := sendRecv(t, p, p, 3, 64)
		after := clock.Now()
		for _, f := range got {
			assert.GreaterOrEqual(t, f.Timestamp, before-int64(time.Microsecond), "%T", clock)
			assert.LessOrEqual(t, f.Timestamp, after+int64(time.Microsecond), "%T", clock)
		}
		backend.Release(got)
		require.NoError(t, p.Close())
		require.NoError(t, Probe("net_ring0"))
	}
}
