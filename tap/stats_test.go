package tap

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The kernel drops what it sends once the stack has not read tx_queue_len
// frames, and DeviceStats shows the queue's length and the drops as the
// kernel counts them.
func TestDeviceStatsShowKernelDrops(t *testing.T) {
	r := openRig(t, Config{})
	name := r.d.Caps().Name
	run(t, "ip", "link", "set", name, "txqueuelen", "8")
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.self, 9999)))
	require.NoError(t, err)
	defer c.Close()
	for range 50 {
		_, err := c.Write([]byte("unread"))
		require.NoError(t, err)
	}

	kind, stats, err := r.d.DeviceStats()
	require.NoError(t, err)
	assert.Equal(t, "tap", kind)
	got := map[string]uint64{}
	for _, s := range stats {
		got[s.Name] = s.Value
		assert.Equal(t, s.Name == "kernel_tx_queue_len", s.Gauge, s.Name)
	}
	assert.EqualValues(t, 8, got["kernel_tx_queue_len"])
	assert.GreaterOrEqual(t, got["kernel_tx_dropped"], uint64(50-8), "what did not fit the queue")
	b, err := os.ReadFile(filepath.Join(sysClassNet, name, "statistics", "tx_dropped"))
	require.NoError(t, err)
	sys, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, got["kernel_tx_dropped"], sys, "the kernel's own count")
	for _, n := range []string{"kernel_rx_packets", "kernel_rx_bytes", "kernel_rx_dropped", "kernel_tx_packets", "kernel_tx_bytes"} {
		assert.Contains(t, got, n)
	}

	require.NoError(t, r.d.Close())
	_, _, err = r.d.DeviceStats()
	assert.ErrorIs(t, err, os.ErrClosed)
}
