package faults

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend/pipe"
)

func TestParseAccepts(t *testing.T) {
	both := func(d Dir) Spec { return Spec{Rx: d, Tx: d} }
	cases := []struct {
		in    string
		want  Spec
		canon string
	}{
		{"", Spec{}, ""},
		{"   ", Spec{}, ""},
		{"loss=0.1", both(Dir{Loss: 0.1}), "loss=0.1"},
		{"loss=0,dup=1", both(Dir{Dup: 1}), "dup=1"},
		{"loss=1e-3", both(Dir{Loss: 0.001}), "loss=0.001"},
		{" reorder = 0.25 , corrupt=0.5,truncate=.5 ", both(Dir{Reorder: 0.25, Corrupt: 0.5, Truncate: 0.5}), "reorder=0.25,corrupt=0.5,truncate=0.5"},
		{"delay=10ms", both(Dir{Delay: 10 * time.Millisecond}), "delay=10ms"},
		{"delay=10ms~2ms", both(Dir{Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond}), "delay=10ms~2ms"},
		{"delay=1.5s~1.5s", both(Dir{Delay: 1500 * time.Millisecond, Jitter: 1500 * time.Millisecond}), "delay=1.5s~1.5s"},
		{"delay=0", Spec{}, ""},
		{"rate=100M", both(Dir{Rate: 100e6}), "rate=100M"},
		{"rate=1G", both(Dir{Rate: 1e9}), "rate=1G"},
		{"rate=1.5G", both(Dir{Rate: 1.5e9}), "rate=1500M"},
		{"rate=64k", both(Dir{Rate: 64e3}), "rate=64k"},
		{"rate=64K", both(Dir{Rate: 64e3}), "rate=64k"},
		{"rate=12345", both(Dir{Rate: 12345}), "rate=12345"},
		{"rate=0.3k", both(Dir{Rate: 300}), "rate=300"},
		{"rate=12.112M", both(Dir{Rate: 12112000}), "rate=12112k"},
		{"rate=1000000", both(Dir{Rate: 1e6}), "rate=1M"},
		{"rx:loss=0.1", Spec{Rx: Dir{Loss: 0.1}}, "rx:loss=0.1"},
		{"duplicate=0.05", both(Dir{Dup: 0.05}), "dup=0.05"},
		{"tx:delay=5ms", Spec{Tx: Dir{Delay: 5 * time.Millisecond}}, "tx:delay=5ms"},
		{"rx:loss=0.1,tx:loss=0.2", Spec{Rx: Dir{Loss: 0.1}, Tx: Dir{Loss: 0.2}}, "rx:loss=0.1,tx:loss=0.2"},
		{"rx:loss=0.1,tx:loss=0.1", both(Dir{Loss: 0.1}), "loss=0.1"},
		{"tx:rate=1G,loss=0.01,rx:delay=1ms~500us", Spec{Rx: Dir{Loss: 0.01, Delay: time.Millisecond, Jitter: 500 * time.Microsecond},
			Tx: Dir{Loss: 0.01, Rate: 1e9}}, "loss=0.01,rx:delay=1ms~500µs,tx:rate=1G"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := Parse(c.in)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.canon, got.String())
			again, err := Parse(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "round trip")
			assert.NoError(t, got.Validate())
		})
	}
}

func TestParseRefuses(t *testing.T) {
	cases := []struct{ in, want string }{
		{"lose=0.1", `faults: unknown key "lose": the keys are loss, dup, reorder, corrupt, truncate, ce, delay, rate, with an optional rx: or tx: prefix`},
		{"rx:lose=0.1", `faults: unknown key "rx:lose": the keys are loss, dup, reorder, corrupt, truncate, ce, delay, rate, with an optional rx: or tx: prefix`},
		{"dup=0.1,duplicate=0.1", `faults: duplicate=0.1: dup already set for rx and tx`},
		{"up:loss=0.1", `faults: unknown key "up:loss": the keys are loss, dup, reorder, corrupt, truncate, ce, delay, rate, with an optional rx: or tx: prefix`},
		{"loss", `faults: "loss": want key=value`},
		{"loss=0.1,", `faults: empty item in "loss=0.1,"`},
		{"loss=1.5", `faults: loss=1.5: probability must be in [0,1]`},
		{"dup=-0.1", `faults: dup=-0.1: probability must be in [0,1]`},
		{"reorder=NaN", `faults: reorder=NaN: probability must be in [0,1]`},
		{"corrupt=abc", `faults: corrupt=abc: not a number`},
		{"truncate=", `faults: truncate=: not a number`},
		{"delay=-1ms", `faults: delay=-1ms: negative duration`},
		{"delay=10", `faults: delay=10: not a duration`},
		{"delay=10ms~-1ms", `faults: delay=10ms~-1ms: negative duration`},
		{"delay=10ms~", `faults: delay=10ms~: not a duration`},
		{"delay=1ms~2ms", `faults: delay=1ms~2ms: jitter exceeds the delay`},
		{"rate=fast", `faults: rate=fast: not a rate in bits per second (as 100M or 1G)`},
		{"rate=100m", `faults: rate=100m: not a rate in bits per second (as 100M or 1G)`},
		{"rate=0", `faults: rate=0: rate must be positive`},
		{"rate=-5M", `faults: rate=-5M: rate must be positive`},
		{"rate=2000G", `faults: rate=2000G: rate must be at most 1000G`},
		{"rate=1.5", `faults: rate=1.5: rate must be a whole number of bits per second`},
		{"rate=1/3", `faults: rate=1/3: not a rate in bits per second (as 100M or 1G)`},
		{"rate=1e6", `faults: rate=1e6: not a rate in bits per second (as 100M or 1G)`},
		{"rate=1..5M", `faults: rate=1..5M: not a rate in bits per second (as 100M or 1G)`},
		{"rate=Inf", `faults: rate=Inf: not a rate in bits per second (as 100M or 1G)`},
		{"rate=", `faults: rate=: not a rate in bits per second (as 100M or 1G)`},
		{"loss=0.1,loss=0.2", `faults: loss=0.2: loss already set for rx and tx`},
		{"loss=0.1,rx:loss=0.2", `faults: rx:loss=0.2: loss already set for rx`},
		{"tx:delay=1ms,delay=2ms", `faults: delay=2ms: delay already set for tx`},
		{"rx:rate=1M,rx:rate=2M", `faults: rx:rate=2M: rate already set for rx`},
		{"loss=0.1\nrate=5", `faults: "loss=0.1\nrate=5": unprintable character at byte 8`},
		{"loss=\x00", `faults: "loss=\x00": unprintable character at byte 5`},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := Parse(c.in)
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// TestStringRoundTrips prints random specs and parses them back.
func TestStringRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dir := func() Dir {
		var d Dir
		for k := range keyDelay {
			if r.IntN(2) == 0 {
				*d.prob(k) = r.Float64()
			}
		}
		if r.IntN(2) == 0 {
			d.Delay = time.Duration(r.Int64N(int64(time.Minute)))
			d.Jitter = time.Duration(r.Int64N(int64(d.Delay) + 1))
		}
		if r.IntN(2) == 0 {
			d.Rate = 1 + r.Int64N(maxRate)
		}
		return d
	}
	for range 1000 {
		s := Spec{Rx: dir(), Tx: dir()}
		if r.IntN(4) == 0 {
			s.Tx = s.Rx
		}
		got, err := Parse(s.String())
		require.NoError(t, err, s.String())
		require.Equal(t, s, got, s.String())
	}
}

func TestWrapRefusesBadSpec(t *testing.T) {
	a, b, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	for _, c := range []struct {
		spec Spec
		want string
	}{
		{Spec{Rx: Dir{Loss: 2}}, "faults: rx loss 2: probability must be in [0,1]"},
		{Spec{Tx: Dir{Delay: -1}}, "faults: tx delay -1ns~0s: negative duration"},
		{Spec{Tx: Dir{Delay: 1, Jitter: 2}}, "faults: tx delay 1ns~2ns: jitter exceeds the delay"},
		{Spec{Rx: Dir{Rate: -1}}, "faults: rx rate -1: must be in 0..1000G"},
	} {
		_, err := Wrap(a, c.spec, 1, nil)
		assert.EqualError(t, err, c.want)
	}
	_, err = Wrap(a, Spec{}, 1, nil)
	assert.EqualError(t, err, "faults: wrap needs a backend and a clock")
}
