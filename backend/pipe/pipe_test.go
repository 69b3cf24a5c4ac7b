package pipe

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

// modes runs a test over the pipe in its plain and its mbuf-like mode.
func modes(t *testing.T, cfg Config, test func(t *testing.T, a, b *End)) {
	for _, mbuf := range []bool{false, true} {
		name := "plain"
		if mbuf {
			name = "mbuf"
		}
		t.Run(name, func(t *testing.T) {
			c := cfg
			c.Mbuf = mbuf
			a, b, err := New(c)
			require.NoError(t, err)
			test(t, a, b)
			require.NoError(t, a.Close())
			require.NoError(t, b.Close())
			assert.Zero(t, a.Outstanding(), "a's buffers")
			assert.Zero(t, b.Outstanding(), "b's buffers")
		})
	}
}

// udpFrame writes an Ethernet/IPv4/UDP frame of n bytes with the given
// ports into a new frame from e.
func udpFrame(t *testing.T, e *End, n int, sport, dport uint16) *backend.Frame {
	t.Helper()
	f := make([]*backend.Frame, 1)
	require.Equal(t, 1, e.Alloc(0, f, n))
	require.True(t, f[0].SetLen(n))
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
	ip[9] = 17
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	for i := 42; i < n; i++ {
		b[i] = byte(i)
	}
	f[0].CopyFrom(b, 0)
	return f[0]
}

func TestPipeCarriesFramesBothWays(t *testing.T) {
	modes(t, Config{}, func(t *testing.T, a, b *End) {
		for _, dir := range []struct {
			name     string
			from, to *End
		}{{"a to b", a, b}, {"b to a", b, a}} {
			t.Run(dir.name, func(t *testing.T) {
				out := []*backend.Frame{udpFrame(t, dir.from, 1514, 1, 2), udpFrame(t, dir.from, 60, 1, 2)}
				want := [][]byte{out[0].AppendTo(nil), out[1].AppendTo(nil)}
				n, err := dir.from.Send(0, out)
				require.NoError(t, err)
				require.Equal(t, 2, n)
				in := make([]*backend.Frame, 8)
				n, err = dir.to.Recv(0, in)
				require.NoError(t, err)
				require.Equal(t, 2, n)
				for i := range 2 {
					assert.Equal(t, want[i], in[i].AppendTo(nil))
				}
				assert.Equal(t, 2, dir.from.Outstanding()+dir.to.Outstanding())
				backend.Release(in[:n])
				st := dir.to.QueueStats(0)
				assert.Equal(t, uint64(2), st.RxPackets)
				assert.Equal(t, uint64(1574), st.RxBytes)
			})
		}
	})
}

func TestPipeMbufModeChainsLargeFrames(t *testing.T) {
	modes(t, Config{MTU: 9000}, func(t *testing.T, a, b *End) {
		f := udpFrame(t, a, 9014, 1, 2)
		if a.cfg.Mbuf {
			assert.Equal(t, 5, f.Segments())
		} else {
			assert.Equal(t, 1, f.Segments())
		}
		want := f.AppendTo(nil)
		n, _ := a.Send(0, []*backend.Frame{f})
		require.Equal(t, 1, n)
		in := make([]*backend.Frame, 1)
		n, _ = b.Recv(0, in)
		require.Equal(t, 1, n)
		assert.Equal(t, want, in[0].AppendTo(nil))
		backend.Release(in)
	})
}

func TestPipeDropsOversizeFrames(t *testing.T) {
	modes(t, Config{}, func(t *testing.T, a, b *End) {
		n, _ := a.Send(0, []*backend.Frame{udpFrame(t, a, 1515, 1, 2)})
		assert.Equal(t, 1, n, "taken and dropped, as a NIC would")
		assert.Equal(t, uint64(1), a.QueueStats(0).TxDrops)
		in := make([]*backend.Frame, 1)
		n, _ = b.Recv(0, in)
		assert.Zero(t, n)
	})
}

func TestPipeLatencyAndBandwidthOnVirtualTime(t *testing.T) {
	clock := backend.NewVirtualClock(1000)
	// 1514 bytes at 12.112 Mbit/s take exactly 1 ms on the wire.
	modes(t, Config{Clock: clock, Latency: 5 * time.Millisecond, Bandwidth: 12_112_000}, func(t *testing.T, a, b *End) {
		start := clock.Now()
		n, _ := a.Send(0, []*backend.Frame{udpFrame(t, a, 1514, 1, 2), udpFrame(t, a, 1514, 1, 2)})
		require.Equal(t, 2, n)
		in := make([]*backend.Frame, 2)
		at, ok := b.NextArrival(0)
		require.True(t, ok)
		assert.Equal(t, start+int64(6*time.Millisecond), at)
		clock.Set(at - 1)
		n, _ = b.Recv(0, in)
		assert.Zero(t, n, "one nanosecond early")
		clock.Set(at)
		n, _ = b.Recv(0, in)
		require.Equal(t, 1, n)
		assert.Equal(t, at, in[0].Timestamp)
		backend.Release(in[:1])
		at, _ = b.NextArrival(0)
		assert.Equal(t, start+int64(7*time.Millisecond), at, "serialised behind the first")
		clock.Set(at)
		n, _ = b.Recv(0, in)
		require.Equal(t, 1, n)
		backend.Release(in[:1])
		_, ok = b.NextArrival(0)
		assert.False(t, ok)
	})
}

func TestPipeQueueDepthPushesBack(t *testing.T) {
	modes(t, Config{QueueDepth: 2}, func(t *testing.T, a, b *End) {
		out := []*backend.Frame{udpFrame(t, a, 60, 1, 2), udpFrame(t, a, 60, 1, 2), udpFrame(t, a, 60, 1, 2)}
		n, _ := a.Send(0, out)
		assert.Equal(t, 2, n)
		require.NotNil(t, out[2], "the refused frame stays the caller's")
		backend.Release(out[2:])
		in := make([]*backend.Frame, 4)
		n, _ = b.Recv(0, in)
		assert.Equal(t, 2, n)
		backend.Release(in[:n])
	})
}

func TestPipeSteersFlowsByToeplitz(t *testing.T) {
	modes(t, Config{Queues: 4}, func(t *testing.T, a, b *End) {
		caps := b.Caps()
		require.Equal(t, backend.SteerToeplitz, caps.Steering)
		seen := map[int]bool{}
		for port := uint16(1000); port < 1064; port++ {
			f := udpFrame(t, a, 60, port, 53)
			n, _ := a.Send(0, []*backend.Frame{f})
			require.Equal(t, 1, n)
			in := []byte{10, 0, 0, 1, 10, 0, 0, 2, byte(port >> 8), byte(port), 0, 53}
			want := backend.RSSQueue(backend.Toeplitz(caps.ToeplitzKey, in), caps.ToeplitzTable, caps.Queues)
			got := make([]*backend.Frame, 1)
			n, _ = b.Recv(want, got)
			require.Equal(t, 1, n, "port %d on queue %d", port, want)
			seen[want] = true
			backend.Release(got)
		}
		assert.Len(t, seen, 4)
	})
}

func TestPipeWaitWakesOnArrivalAndDeadline(t *testing.T) {
	modes(t, Config{}, func(t *testing.T, a, b *End) {
		clock := a.cfg.Clock
		start := time.Now()
		require.NoError(t, b.Wait(0, clock.Now()+int64(20*time.Millisecond)))
		assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
		go func() {
			f := udpFrame(t, a, 60, 1, 2)
			a.Send(0, []*backend.Frame{f})
		}()
		require.NoError(t, b.Wait(0, 0))
		in := make([]*backend.Frame, 1)
		for n := 0; n == 0; {
			n, _ = b.Recv(0, in)
		}
		backend.Release(in)
		go b.Wake(0)
		require.NoError(t, b.Wait(0, 0))
	})
}

func TestPipeCloseReleasesFramesInFlight(t *testing.T) {
	modes(t, Config{Latency: time.Hour}, func(t *testing.T, a, b *End) {
		n, _ := a.Send(0, []*backend.Frame{udpFrame(t, a, 60, 1, 2)})
		require.Equal(t, 1, n)
		require.NoError(t, b.Close())
		assert.Zero(t, a.Outstanding())
		n, _ = a.Send(0, []*backend.Frame{udpFrame(t, a, 60, 1, 2)})
		assert.Equal(t, 1, n, "the far end is gone: carried into the void")
		assert.Zero(t, a.Outstanding())
		require.NoError(t, a.Close())
		f := udpFrame(t, a, 60, 1, 2)
		n, err := a.Send(0, []*backend.Frame{f})
		assert.Zero(t, n)
		assert.ErrorIs(t, err, backend.ErrClosed)
		backend.ReleaseOne(f)
		assert.ErrorIs(t, a.Wait(0, 0), backend.ErrClosed)
	})
}

func TestPipeOffloadsCarryTSOFrames(t *testing.T) {
	modes(t, Config{Offloads: true}, func(t *testing.T, a, b *End) {
		assert.True(t, a.Caps().Offloads.TSO)
		f := udpFrame(t, a, 14+TSOMax, 1, 2)
		f.GSO, f.GSOSize, f.Csum = backend.GSOTCPv4, 1460, backend.CsumPartial
		n, _ := a.Send(0, []*backend.Frame{f})
		require.Equal(t, 1, n)
		in := make([]*backend.Frame, 1)
		n, _ = b.Recv(0, in)
		require.Equal(t, 1, n)
		assert.Equal(t, backend.GSOTCPv4, in[0].GSO)
		assert.Equal(t, backend.CsumPartial, in[0].Csum)
		backend.Release(in)
	})
}

func TestPipeConfigRefused(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{MTU: 10}, "mtu 10"},
		{Config{Queues: 65}, "queues 65"},
		{Config{Latency: -1}, "latency"},
		{Config{Bandwidth: -1}, "bandwidth"},
	} {
		_, _, err := New(c.cfg)
		assert.ErrorContains(t, err, c.want)
	}
}

func TestPipeSendRecvNoAllocs(t *testing.T) {
	modes(t, Config{}, func(t *testing.T, a, b *End) {
		out := make([]*backend.Frame, 32)
		in := make([]*backend.Frame, 32)
		allocs := testing.AllocsPerRun(200, func() {
			n := a.Alloc(0, out, 1500)
			for _, f := range out[:n] {
				f.SetLen(1500)
			}
			a.Send(0, out[:n])
			m, _ := b.Recv(0, in)
			backend.Release(in[:m])
		})
		assert.Zero(t, allocs)
	})
}
