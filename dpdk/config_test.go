package dpdk

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Port: "0"}
	require.NoError(t, c.fill())
	assert.Equal(t, DefaultQueues, c.Queues)
	assert.Equal(t, DefaultRxDesc, c.RxDesc)
	assert.Equal(t, DefaultTxDesc, c.TxDesc)
	assert.Equal(t, DefaultBurst, c.Burst)
	assert.Equal(t, DefaultMbufs, c.Mbufs)
	assert.Equal(t, DefaultMbufCache, c.MbufCache)
	assert.Equal(t, DefaultIdlePolls, c.IdlePolls)
	assert.NotNil(t, c.Clock)

	small := Config{Port: "0", Mbufs: 300}
	require.NoError(t, small.fill())
	assert.Equal(t, 200, small.MbufCache, "the cache shrinks to two thirds of a small pool")
}

func TestConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "dpdk: no port: set Config.Port to a port id such as 0 or a device name such as net_tap0"},
		{Config{Port: "0", Queues: 2000}, "dpdk port 0: 2000 queues: want 1 to 1024"},
		{Config{Port: "0", RxDesc: 70000}, "dpdk port 0: 70000 rx descriptors: want 1 to 65535"},
		{Config{Port: "0", TxDesc: -1}, "dpdk port 0: -1 tx descriptors: want 1 to 65535"},
		{Config{Port: "0", Burst: 513}, "dpdk port 0: burst 513: want 1 to 512"},
		{Config{Port: "0", Mbufs: -5}, "dpdk port 0: -5 mbufs per queue: want a positive count"},
		{Config{Port: "0", MbufCache: 600}, "dpdk port 0: mbuf cache 600: want 0 to 512"},
		{Config{Port: "0", Mbufs: 300, MbufCache: 250}, "dpdk port 0: mbuf cache 250 is more than two thirds of the 300 mbufs per queue"},
		{Config{Port: "0", MTU: 67}, "dpdk port 0: mtu 67: want 68 to 65535"},
		{Config{Port: "0", MAC: net.HardwareAddr{1, 0, 0, 0, 0, 1}}, "dpdk port 0: mac 01:00:00:00:00:01: want a unicast Ethernet address"},
		{Config{Port: "0", IdlePolls: -1}, "dpdk port 0: idle polls -1: want zero or more"},
		{Config{Port: "0", IdleSleep: -time.Second}, "dpdk port 0: idle sleep -1s: want zero or more"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			assert.EqualError(t, tc.cfg.fill(), tc.want)
		})
	}
}

func TestLinkString(t *testing.T) {
	assert.Equal(t, "down", Link{}.String())
	assert.Equal(t, "up 10000 Mb/s full-duplex", Link{Up: true, SpeedMbps: 10000, FullDuplex: true}.String())
}
