package faults

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse feeds arbitrary --faults strings to Parse: it may not panic; an
// error is one line unless the input it quotes has several; what it accepts
// prints in a form that parses back to the same Spec.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "loss=0.05", "rx:loss=0.1,tx:dup=0.2", "delay=1ms~100us", "rate=100M", "reorder=1,corrupt=0,truncate=0.5",
		"loss=1.5", "lose=1", "delay=-1ms", "rate=1G,rate=2G", "rx:delay=10ms~20ms", ",", "loss=NaN", "rate=9999999999999G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := Parse(s)
		if err != nil {
			if !strings.Contains(s, "\n") {
				require.NotContains(t, err.Error(), "\n")
			}
			return
		}
		again, err := Parse(spec.String())
		require.NoError(t, err, spec.String())
		require.Equal(t, spec, again, "%q prints as %q", s, spec.String())
		require.False(t, strings.Contains(spec.String(), " "), spec.String())
	})
}
