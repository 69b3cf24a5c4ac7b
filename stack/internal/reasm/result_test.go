package reasm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestStrings checks the names statuses and reasons print as.
func TestStrings(t *testing.T) {
	assert.Equal(t, "pending", Pending.String())
	assert.Equal(t, "complete", Complete.String())
	assert.Equal(t, "dropped", Dropped.String())
	assert.Equal(t, "unknown", Status(9).String())
	for r, want := range map[Reason]string{
		NoReason: "none", BadLength: "BadLength", BadEnd: "BadEnd", Overlap: "Overlaps",
		TooBig: "TooBig", MemoryFull: "MemoryFull", TooManyFragments: "TooManyFragments",
		Discarded: "Discarded", Reason(99): "unknown",
	} {
		assert.Equal(t, want, r.String())
	}
}

// TestConfigDefaults checks that zero and negative fields take the defaults
// and that others are kept.
func TestConfigDefaults(t *testing.T) {
	assert.Equal(t, IPv4Config(), New(Config{}).Config())
	assert.Equal(t, IPv4Config(), New(Config{Timeout: -1, MaxBytes: -1, MaxDatagram: -1, MaxDatagrams: -1, MaxFragments: -1}).Config())
	v6 := New(IPv6Config()).Config()
	assert.Equal(t, 60*time.Second, v6.Timeout)
	assert.Equal(t, 65535, v6.MaxDatagram)
	custom := Config{Timeout: time.Second, MaxDatagram: 100, MaxBytes: 200, MaxDatagrams: 3, MaxFragments: 4, AcceptOverlaps: true}
	assert.Equal(t, custom, New(custom).Config())
}
