package gvisor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/benchmark"
)

// Every scenario runs on gVisor, with and without offloads.
func TestScenariosRunOnGVisor(t *testing.T) {
	for _, off := range []bool{true, false} {
		for _, mtu := range []int{1500, 65535} {
			cfg := benchmark.Config{Stack: Stack, Link: benchmark.Link{MTU: mtu, Offload: off}, Duration: 200 * time.Millisecond, Conns: 100}
			for _, sc := range benchmark.Scenarios {
				if mtu != 1500 && sc != "bulk" {
					continue
				}
				t.Run(fmt.Sprintf("%s/mtu=%d/offload=%v", sc, mtu, off), func(t *testing.T) {
					r, err := benchmark.Run(sc, cfg)
					require.NoError(t, err)
					t.Logf("%+v", r)
					assert.Equal(t, "gvisor", r.Stack)
					assert.Positive(t, r.Packets)
					switch sc {
					case "bulk":
						assert.Positive(t, r.GbitPerS)
					case "rr":
						assert.Positive(t, r.TPS)
					case "crr":
						assert.Positive(t, r.CPS)
					case "conns":
						assert.Positive(t, r.BytesPerConn)
					}
				})
			}
		}
	}
}
