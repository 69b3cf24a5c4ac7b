package tap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultMAC(t *testing.T) {
	a, err := randomMAC(1)
	require.NoError(t, err)
	b, err := randomMAC(1)
	require.NoError(t, err)
	c, err := randomMAC(2)
	require.NoError(t, err)
	assert.Equal(t, a, b, "the same seed, the same MAC")
	assert.NotEqual(t, a, c)
	for _, seed := range []uint64{0, 1, 2, 3, 1 << 63} {
		m, err := randomMAC(seed)
		require.NoError(t, err)
		assert.Len(t, m, 6)
		assert.Equal(t, byte(0x02), m[0]&0x03, "locally administered unicast: %v", m)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Seed: 7}
	require.NoError(t, cfg.fill())
	assert.Equal(t, "tap%d", cfg.Name)
	assert.Equal(t, 1, cfg.Queues)
	assert.Equal(t, OffloadAuto, cfg.Offload)
	assert.Equal(t, defaultPoolSize, cfg.PoolSize)
	assert.Equal(t, DefaultDevicePath, cfg.DevicePath)
	assert.NotNil(t, cfg.Clock)
	want, _ := randomMAC(7)
	assert.Equal(t, want, cfg.MAC)
	assert.Zero(t, cfg.MTU, "the device's own MTU")
}
