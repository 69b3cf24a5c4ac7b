package pcapsim

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

// rawPorts are three attachments without stacks on one link.
func rawPorts(t *testing.T, cfg LinkConfig) (*Network, *Link, [3]*port) {
	n := NewNetwork(NetworkConfig{})
	l, err := n.NewLink(cfg)
	require.NoError(t, err)
	var ps [3]*port
	for i := range ps {
		ps[i], err = n.attachRaw(l, net.HardwareAddr{2, 0, 0, 0, 0, byte(i + 1)})
		require.NoError(t, err)
	}
	return n, l, ps
}

// send puts a frame of size bytes to dst on the link from p.
func send(t *testing.T, p *port, dst net.HardwareAddr, size int) {
	f := p.pool.AllocOne(size)
	require.NotNil(t, f)
	f.SetLen(size)
	b := make([]byte, size)
	copy(b, dst)
	copy(b[6:], p.caps.MAC)
	f.CopyFrom(b, 0)
	n, err := p.Send(0, []*backend.Frame{f})
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// received takes what p has received by now and returns the arrival
// times.
func received(p *port) []int64 {
	var at []int64
	fs := make([]*backend.Frame, 64)
	n, _ := p.Recv(0, fs)
	for _, f := range fs[:n] {
		at = append(at, f.Timestamp)
	}
	backend.Release(fs[:n])
	return at
}

func TestLinkDeliversByAddress(t *testing.T) {
	n, l, ps := rawPorts(t, LinkConfig{})
	send(t, ps[0], ps[1].caps.MAC, 60)
	send(t, ps[0], broadcastMAC, 60)
	send(t, ps[0], net.HardwareAddr{2, 0, 0, 0, 0, 9}, 60) // unknown: flooded
	assert.Len(t, received(ps[1]), 3)
	assert.Len(t, received(ps[2]), 2, "the unicast frame to another host is not seen")
	assert.Empty(t, received(ps[0]), "a sender does not hear itself")
	assert.Equal(t, LinkStats{Frames: 5, Bytes: 300}, l.Stats())
	require.NoError(t, n.Close())
}

func TestLinkLatencyBandwidthAndQueueLimit(t *testing.T) {
	// 8 Mbit/s: a microsecond a byte.
	n, l, ps := rawPorts(t, LinkConfig{Latency: time.Millisecond, Bandwidth: 8e6, QueueLimit: 2, MTU: 1500})
	start := n.Now()
	for range 4 {
		send(t, ps[0], ps[1].caps.MAC, 1000)
	}
	send(t, ps[0], ps[1].caps.MAC, 1600) // beyond the MTU
	at, ok := ps[1].NextArrival(0)
	require.True(t, ok)
	assert.Equal(t, start+int64(time.Millisecond+1000*time.Microsecond), at)
	assert.Empty(t, received(ps[1]), "nothing before its time")
	require.NoError(t, n.Run(10*time.Millisecond))
	assert.Equal(t, []int64{start + int64(2*time.Millisecond), start + int64(3*time.Millisecond)}, received(ps[1]))
	st := l.Stats()
	assert.Equal(t, uint64(2), st.QueueDrops, "two frames beyond the queue limit")
	assert.Equal(t, uint64(1), st.TooBig)
	require.NoError(t, n.Close())
}
