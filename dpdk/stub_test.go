//go:build !dpdk

package dpdk

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithoutDPDK(t *testing.T) {
	assert.ErrorIs(t, Init([]string{"--no-huge"}), ErrNotBuilt)
	p, err := Open(Config{Port: "0"})
	assert.Nil(t, p)
	assert.EqualError(t, err, "dpdk: this ustack was built without DPDK; rebuild with -tags dpdk (make build-dpdk)")
	assert.ErrorIs(t, RegisterThread(), ErrNotBuilt)
	assert.ErrorIs(t, Probe("net_ring0"), ErrNotBuilt)
	assert.NoError(t, Cleanup())
}
