package reasm

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeterminism runs the same calls through two Reassemblers and expects
// the same results, expiries and counters, whatever order Go's maps would
// iterate in.
func TestDeterminism(t *testing.T) {
	seeds := uint64(8)
	if testing.Short() {
		seeds = 2
	}
	for seed := range seeds {
		ops := workload(seed, 5000)
		cfgs := map[string]Config{
			"defaults": {},
			"tight":    {MaxBytes: 32 << 10, MaxDatagrams: 8, MaxFragments: 16},
			"accept":   {MaxBytes: 32 << 10, MaxDatagrams: 3, AcceptOverlaps: true},
		}
		for _, name := range []string{"defaults", "tight", "accept"} {
			cfg := cfgs[name]
			a, b := newHarness(t, cfg), newHarness(t, cfg)
			a.record, b.record = true, true
			a.run(ops)
			a.finish()
			b.run(ops)
			b.finish()
			require.NotEmpty(t, a.log)
			require.Equal(t, a.log, b.log, "seed %d %s", seed, name)
			require.Equal(t, a.r.Stats(), b.r.Stats(), "seed %d %s", seed, name)
		}
	}
}

// TestWorkloadOutcomes checks that the realistic workload exercises every
// path, so that TestDeterminism compares something.
func TestWorkloadOutcomes(t *testing.T) {
	var total Stats
	for seed := range uint64(8) {
		for _, cfg := range []Config{{}, {MaxBytes: 32 << 10, MaxDatagrams: 8, MaxFragments: 16}} {
			h := newHarness(t, cfg)
			h.run(workload(seed, 5000))
			h.finish()
			s := h.r.Stats()
			total.ReasmOKs += s.ReasmOKs
			total.Timeouts += s.Timeouts
			total.Overlaps += s.Overlaps
			total.MemoryFull += s.MemoryFull
			total.TooManyDatagrams += s.TooManyDatagrams
			total.TooManyFragments += s.TooManyFragments
			total.Duplicates += s.Duplicates
			total.Discarded += s.Discarded
		}
	}
	t.Logf("%+v", total)
	assert.NotZero(t, total.ReasmOKs)
	assert.NotZero(t, total.Timeouts)
	assert.NotZero(t, total.Overlaps)
	assert.NotZero(t, total.MemoryFull)
	assert.NotZero(t, total.TooManyDatagrams)
	assert.NotZero(t, total.TooManyFragments)
	assert.NotZero(t, total.Duplicates)
	assert.NotZero(t, total.Discarded)
}

// TestRandomOps runs random byte strings through the fuzz harness, so that
// plain go test covers what the fuzzer does.
func TestRandomOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	for range 300 {
		b := make([]byte, 2+4*rng.IntN(400))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		cfg, rest := decodeConfig(b)
		h := newHarness(t, cfg)
		for ; len(rest) >= 4; rest = rest[min(len(rest), 4*maxOps):] {
			h.run(decodeOps(rest))
		}
		h.finish()
	}
}
