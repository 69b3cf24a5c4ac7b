package pcapsim

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/capture"
)

// modes runs a test in the plain and the mbuf memory mode.
func modes(t *testing.T, test func(t *testing.T, mbuf bool)) {
	for _, mbuf := range []bool{false, true} {
		name := "plain"
		if mbuf {
			name = "mbuf"
		}
		t.Run(name, func(t *testing.T) { test(t, mbuf) })
	}
}

func recvAll(t testing.TB, b *Backend) []*backend.Frame {
	t.Helper()
	var out []*backend.Frame
	for {
		fs := make([]*backend.Frame, 2)
		n, err := b.Recv(0, fs)
		require.NoError(t, err)
		out = append(out, fs[:n]...)
		if n < len(fs) {
			return out
		}
	}
}

func TestBackendDeliversFramesAtTheirTimes(t *testing.T) {
	jumbo := make([]byte, 9014)
	for i := range jumbo {
		jumbo[i] = byte(i * 7)
	}
	recs := []rec{
		{at: t0, data: bytes.Repeat([]byte{1}, 60)},
		{at: t0.Add(time.Millisecond), data: bytes.Repeat([]byte{2}, 60)},
		{at: t0.Add(time.Millisecond), data: jumbo},
		{at: t0.Add(5 * time.Millisecond), data: bytes.Repeat([]byte{4}, 60)},
		// Earlier than the frame before: delivered after it, at its time.
		{at: t0.Add(2 * time.Millisecond), data: bytes.Repeat([]byte{5}, 60)},
	}
	modes(t, func(t *testing.T, mbuf bool) {
		b, err := New(bytes.NewReader(pcapBytes(t, linkEthernet, true, recs)), Config{Mbuf: mbuf})
		require.NoError(t, err)
		clock := b.Clock().(*backend.VirtualClock)
		assert.Equal(t, t0.UnixNano(), clock.Now(), "the default clock starts at the first frame")
		ms := int64(time.Millisecond)
		var got [][]byte
		var stamps []int64
		for _, step := range []struct {
			at   int64
			want int
		}{{0, 1}, {ms - 1, 0}, {ms, 2}, {5 * ms, 2}} {
			clock.Set(t0.UnixNano() + step.at)
			fs := recvAll(t, b)
			assert.Len(t, fs, step.want, "at %v", time.Duration(step.at))
			for _, f := range fs {
				got = append(got, f.AppendTo(nil))
				stamps = append(stamps, f.Timestamp-t0.UnixNano())
				if mbuf && f.Len() > 2048 {
					assert.Greater(t, f.Segments(), 1, "a jumbo frame is a chain in mbuf mode")
				}
			}
			backend.Release(fs)
		}
		for i, r := range recs {
			assert.Equal(t, r.data, got[i])
		}
		assert.Equal(t, []int64{0, ms, ms, 5 * ms, 5 * ms}, stamps)
		_, ok := b.NextArrival(0)
		assert.False(t, ok)
		st := b.QueueStats(0)
		assert.Equal(t, uint64(5), st.RxPackets)
		require.NoError(t, b.Close())
		assert.Zero(t, b.Outstanding())
	})
}

func TestBackendReportsTheNextArrival(t *testing.T) {
	b, err := New(bytes.NewReader(pcapBytes(t, linkEthernet, false, []rec{{at: t0.Add(time.Second), data: make([]byte, 60)}})), Config{Clock: backend.NewVirtualClock(0)})
	require.NoError(t, err)
	defer b.Close()
	at, ok := b.NextArrival(0)
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Second).UnixNano(), at)
	assert.Empty(t, recvAll(t, b), "not yet: the clock reads 0")
	_, ok = b.NextArrival(1)
	assert.False(t, ok, "one queue")
}

func TestBackendWritesWhatTheStackSends(t *testing.T) {
	modes(t, func(t *testing.T, mbuf bool) {
		var out bytes.Buffer
		w, err := capture.NewWriter(&out)
		require.NoError(t, err)
		clock := backend.NewVirtualClock(t0.UnixNano() + 42)
		b, err := New(bytes.NewReader(pcapBytes(t, linkEthernet, false, nil)), Config{Mbuf: mbuf, Clock: clock, Output: w})
		require.NoError(t, err)
		fs := make([]*backend.Frame, 2)
		require.Equal(t, 2, b.Alloc(0, fs, 3000))
		for i, f := range fs {
			require.True(t, f.SetLen(100+i*2900))
			f.CopyFrom(bytes.Repeat([]byte{byte(i + 1)}, f.Len()), 0)
		}
		n, err := b.Send(0, fs)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Zero(t, b.Outstanding(), "sent frames are released")
		require.NoError(t, b.Close())
		require.NoError(t, w.Close())

		r, err := pcapgo.NewReader(&out)
		require.NoError(t, err)
		assert.Equal(t, layers.LinkTypeEthernet, r.LinkType())
		for i := range 2 {
			data, ci, err := r.ReadPacketData()
			require.NoError(t, err)
			assert.Equal(t, bytes.Repeat([]byte{byte(i + 1)}, 100+i*2900), data)
			assert.Equal(t, t0.UnixNano()+42, ci.Timestamp.UnixNano(), "nanoseconds of the virtual clock")
		}
		assert.Equal(t, uint64(2), b.QueueStats(0).TxPackets)
	})
}

func TestBackendSkipsTheHostsOwnFramesUnlessAsked(t *testing.T) {
	file := pcapBytes(t, linkSLL, false, []rec{
		{at: t0, data: sll(packetOutgoing, hostMAC, etherTypeIPv4, make([]byte, 20))},
		{at: t0, data: sll(packetHost, peerMAC, etherTypeIPv4, make([]byte, 20))},
	})
	for _, outgoing := range []bool{false, true} {
		b, err := New(bytes.NewReader(file), Config{Outgoing: outgoing})
		require.NoError(t, err)
		fs := recvAll(t, b)
		if outgoing {
			assert.Len(t, fs, 2)
			assert.Zero(t, b.Stats().SkippedOutgoing)
		} else {
			assert.Len(t, fs, 1)
			assert.Equal(t, uint64(1), b.Stats().SkippedOutgoing)
		}
		backend.Release(fs)
		require.NoError(t, b.Close())
	}
}

func TestBackendDropsFramesNoBufferHolds(t *testing.T) {
	b, err := New(bytes.NewReader(pcapBytes(t, linkEthernet, false, []rec{
		{at: t0, data: make([]byte, MaxSnaplen)},
		{at: t0, data: make([]byte, 60)},
	})), Config{})
	require.NoError(t, err)
	fs := recvAll(t, b)
	assert.Len(t, fs, 1)
	backend.Release(fs)
	assert.Equal(t, uint64(1), b.QueueStats(0).RxDrops)
	assert.Equal(t, uint64(1), b.Stats().Oversize)
	require.NoError(t, b.Close())
}

func TestBackendAfterClose(t *testing.T) {
	b, err := New(bytes.NewReader(pcapBytes(t, linkEthernet, false, []rec{{at: t0, data: make([]byte, 60)}})), Config{})
	require.NoError(t, err)
	require.NoError(t, b.Close())
	_, err = b.Recv(0, make([]*backend.Frame, 1))
	assert.ErrorIs(t, err, backend.ErrClosed)
	_, err = b.Send(0, nil)
	assert.ErrorIs(t, err, backend.ErrClosed)
	assert.ErrorIs(t, b.Wait(0, 0), backend.ErrClosed)
	require.NoError(t, b.Close(), "twice")
}

func TestBackendRefusesBadConfigs(t *testing.T) {
	file := pcapBytes(t, linkEthernet, false, nil)
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"group mac", Config{MAC: broadcastMAC}},
		{"short mac", Config{MAC: hostMAC[:4]}},
		{"mtu", Config{MTU: 40}},
		{"pool", Config{PoolSize: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(bytes.NewReader(file), c.cfg)
			assert.Error(t, err)
		})
	}
}

func TestBackendWaitsForAWakeWhenNothingIsDue(t *testing.T) {
	b, err := New(bytes.NewReader(pcapBytes(t, linkEthernet, false, nil)), Config{Clock: backend.NewVirtualClock(100)})
	require.NoError(t, err)
	defer b.Close()
	done := make(chan error)
	go func() { done <- b.Wait(0, 0) }()
	b.Wake(0)
	require.NoError(t, <-done)
	assert.NoError(t, b.Wait(0, 1), "a deadline passed already")
}
