package rtt

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

func TestInitial(t *testing.T) {
	e := New(Config{})
	assert.Equal(t, time.Second, e.RTO(), "RFC 6298 §2.1: 1 s before the first sample")
	assert.False(t, e.HasSample())
	assert.Zero(t, e.SRTT())
	assert.Zero(t, e.RTTVar())

	e = New(Config{InitialRTO: 3 * time.Second})
	assert.Equal(t, 3*time.Second, e.RTO())
}

func TestSamples(t *testing.T) {
	type step struct {
		sample, srtt, rttvar, rto time.Duration
	}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "first sample then smoothing",
			steps: []step{
				// RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4*RTTVAR.
				{sample: 100 * ms, srtt: 100 * ms, rttvar: 50 * ms, rto: 300 * ms},
				// §2.3: RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5,
				// SRTT = 7/8*100 + 1/8*200 = 112.5, RTO = 112.5 + 250.
				{sample: 200 * ms, srtt: 112500 * time.Microsecond, rttvar: 62500 * time.Microsecond, rto: 362500 * time.Microsecond},
				// RTTVAR = 3/4*62.5 + 1/4*32.5 = 55,
				// SRTT = 7/8*112.5 + 1/8*80 = 108.4375, RTO = 108.4375 + 220.
				{sample: 80 * ms, srtt: 108437500, rttvar: 55 * ms, rto: 328437500},
			},
		},
		{
			name: "minimum bound",
			steps: []step{
				// 1 + max(1, 4*0.5) = 3 ms, raised to MinRTO.
				{sample: 1 * ms, srtt: 1 * ms, rttvar: 500 * time.Microsecond, rto: 200 * ms},
			},
		},
		{
			name: "maximum bound",
			steps: []step{
				{sample: 100 * time.Second, srtt: 100 * time.Second, rttvar: 50 * time.Second, rto: 120 * time.Second},
			},
		},
		{
			name: "granularity dominates a small variance",
			cfg:  Config{MinRTO: 10 * ms, Granularity: 100 * ms},
			steps: []step{
				// 4*RTTVAR = 40 ms < G = 100 ms: RTO = 20 + 100.
				{sample: 20 * ms, srtt: 20 * ms, rttvar: 10 * ms, rto: 120 * ms},
			},
		},
		{
			name: "zero sample",
			cfg:  Config{MinRTO: time.Microsecond},
			steps: []step{
				{sample: 0, srtt: 0, rttvar: 0, rto: DefaultGranularity},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(tt.cfg)
			for i, s := range tt.steps {
				rto := e.Sample(s.sample)
				assert.Equal(t, s.srtt, e.SRTT(), "step %d SRTT", i)
				assert.Equal(t, s.rttvar, e.RTTVar(), "step %d RTTVAR", i)
				assert.Equal(t, s.rto, rto, "step %d RTO", i)
				assert.Equal(t, s.rto, e.RTO(), "step %d RTO()", i)
				assert.True(t, e.HasSample())
			}
		})
	}
}

func TestNegativeSampleIgnored(t *testing.T) {
	e := New(Config{})
	e.Sample(100 * ms)
	e.Sample(-5 * ms)
	assert.Equal(t, 100*ms, e.SRTT())
	assert.Equal(t, 300*ms, e.RTO())
}

func TestBackoff(t *testing.T) {
	t.Run("doubles up to the maximum", func(t *testing.T) {
		e := New(Config{MaxRTO: time.Second})
		e.Sample(100 * ms) // RTO 300 ms
		for i, want := range []time.Duration{600 * ms, time.Second, time.Second} {
			assert.Equal(t, want, e.Backoff(), "backoff %d", i+1)
		}
		assert.Equal(t, 3, e.Backoffs())
		assert.Equal(t, 300*ms, e.BaseRTO())
	})
	t.Run("before any sample from the initial RTO", func(t *testing.T) {
		e := New(Config{})
		assert.Equal(t, 2*time.Second, e.Backoff())
		assert.Equal(t, 4*time.Second, e.Backoff())
	})
	t.Run("a new sample ends the backoff", func(t *testing.T) {
		e := New(Config{})
		e.Sample(100 * ms)
		e.Backoff()
		e.Backoff()
		require.Equal(t, 1200*ms, e.RTO())
		// RTTVAR = 3/4*50 + 0 = 37.5, SRTT = 100, RTO = 100 + 150.
		assert.Equal(t, 250*ms, e.Sample(100*ms))
		assert.Zero(t, e.Backoffs())
	})
	t.Run("SetRTO after a retransmitted SYN", func(t *testing.T) {
		e := New(Config{})
		e.Backoff()
		e.SetRTO(3 * time.Second) // RFC 6298 §5.7
		assert.Equal(t, 3*time.Second, e.RTO())
		assert.Zero(t, e.Backoffs())
		assert.False(t, e.HasSample())
	})
}

func TestMinFilter(t *testing.T) {
	s := int64(time.Second)
	type step struct {
		at   int64
		rtt  time.Duration
		want time.Duration
	}
	tests := []struct {
		name   string
		window time.Duration
		steps  []step
	}{
		{
			name:   "keeps the minimum within the window",
			window: 10 * time.Second,
			steps: []step{
				{at: 0, rtt: 50 * ms, want: 50 * ms},
				{at: 1 * s, rtt: 60 * ms, want: 50 * ms},
				{at: 2 * s, rtt: 40 * ms, want: 40 * ms},
				{at: 9 * s, rtt: 45 * ms, want: 40 * ms},
			},
		},
		{
			name:   "old minimum ages out through the sub-window choices",
			window: 10 * time.Second,
			steps: []step{
				{at: 0, rtt: 40 * ms, want: 40 * ms},
				{at: 3 * s, rtt: 60 * ms, want: 40 * ms},  // second choice after a quarter window
				{at: 6 * s, rtt: 70 * ms, want: 40 * ms},  // third choice after half a window
				{at: 11 * s, rtt: 80 * ms, want: 60 * ms}, // the 40 ms sample expired
				{at: 14 * s, rtt: 90 * ms, want: 70 * ms}, // the 60 ms sample expired
				{at: 30 * s, rtt: 100 * ms, want: 100 * ms},
			},
		},
		{
			name: "zero window means five minutes",
			steps: []step{
				{at: 0, rtt: 10 * ms, want: 10 * ms},
				{at: 299 * s, rtt: 20 * ms, want: 10 * ms},
				{at: 600 * s, rtt: 30 * ms, want: 30 * ms},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := MinFilter{Window: tt.window}
			assert.False(t, f.Valid())
			assert.Zero(t, f.Min())
			for i, st := range tt.steps {
				assert.Equal(t, st.want, f.Update(st.at, st.rtt), "step %d", i)
				assert.Equal(t, st.want, f.Min(), "step %d Min", i)
			}
			assert.True(t, f.Valid())
		})
	}
}

func TestNoAllocations(t *testing.T) {
	e := New(Config{})
	var f MinFilter
	now := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		now += int64(ms)
		e.Sample(time.Duration(now%97) * ms)
		e.Backoff()
		f.Update(now, time.Duration(now%89)*ms)
	})
	assert.Zero(t, allocs)
}
