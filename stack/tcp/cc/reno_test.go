package cc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInitialWindow(t *testing.T) {
	tests := []struct{ mss, want int }{
		{mss: 536, want: 5360},     // 10 * MSS
		{mss: 1000, want: 10000},   // 10 * MSS
		{mss: 1460, want: 14600},   // both bounds meet
		{mss: 4000, want: 14600},   // the 14600 byte cap
		{mss: 9000, want: 18000},   // never below 2 * MSS
		{mss: 65000, want: 130000}, // 2 * MSS
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, InitialWindow(tt.mss), "MSS %d", tt.mss)
	}
	assert.Equal(t, 14600, NewReno(Config{MSS: 1460}).Cwnd())
	assert.Equal(t, 14600, NewCubic(Config{MSS: 1460}).Cwnd())
	assert.Equal(t, 3000, NewReno(Config{MSS: 1000, InitialWindow: 3000}).Cwnd())
}

func TestRenoSlowStart(t *testing.T) {
	tests := []struct {
		name   string
		perAck int // bytes acknowledged per ACK
		want   []int
	}{
		// One ACK per segment: +1 MSS per ACK, cwnd doubles each round.
		{name: "ack every segment doubles", perAck: mss, want: []int{20000, 40000, 80000}},
		// Delayed ACKs: +2 MSS per ACK with L = 2 (RFC 3465 §2.2), still
		// doubling.
		{name: "delayed acks double with L=2", perAck: 2 * mss, want: []int{20000, 40000, 80000}},
		// Stretch ACKs of 4 segments: capped at L = 2 MSS per ACK, so
		// cwnd grows by half each round (the last ACK of the first round
		// covers the 2 segments left).
		{name: "stretch acks capped at L", perAck: 4 * mss, want: []int{16000, 24000, 36000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReno(Config{MSS: mss})
			require.Equal(t, 10000, r.Cwnd())
			require.True(t, r.InSlowStart())
			f := newFlow(r)
			for i, want := range tt.want {
				f.round(100*time.Millisecond, tt.perAck)
				assert.Equal(t, want, r.Cwnd(), "round %d", i+1)
			}
			assert.Equal(t, InfiniteSsthresh, r.Ssthresh())
		})
	}
}

func TestRenoSlowStartStopsAtSsthresh(t *testing.T) {
	r := NewReno(Config{MSS: mss})
	r.OnLoss(30000, 0) // ssthresh 15000
	r.OnRecoveryEnd(0)
	r.SetCwnd(14500)
	// 2000 bytes acked: 500 reach ssthresh, the other 1500 go to
	// congestion avoidance (not a full cwnd, so no increase yet).
	r.OnAck(Ack{Acked: 2000}, 0)
	assert.Equal(t, 15000, r.Cwnd())
	assert.False(t, r.InSlowStart())
}

func TestRenoCongestionAvoidance(t *testing.T) {
	r := NewReno(Config{MSS: mss})
	require.Equal(t, 20000, r.OnLoss(40000, 0))
	r.OnRecoveryEnd(0)
	require.Equal(t, 20000, r.Cwnd())
	f := newFlow(r)
	// RFC 5681 §3.1: one SMSS per round trip.
	for i, want := range []int{21000, 22000, 23000, 24000} {
		f.round(100*time.Millisecond, mss)
		assert.Equal(t, want, r.Cwnd(), "round %d", i+1)
	}
	// A round of delayed ACKs grows the same.
	f.round(100*time.Millisecond, 2*mss)
	assert.Equal(t, 25000, r.Cwnd())
}

func TestRenoLoss(t *testing.T) {
	tests := []struct {
		name     string
		inflight int
		want     int
	}{
		{name: "halves the flight", inflight: 64000, want: 32000},
		{name: "odd flight rounds down", inflight: 10001, want: 5000},
		{name: "never below 2 MSS", inflight: 3000, want: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReno(Config{MSS: mss})
			r.SetCwnd(tt.inflight)
			assert.Equal(t, tt.want, r.OnLoss(tt.inflight, 0))
			assert.Equal(t, tt.want, r.Ssthresh())
			assert.True(t, r.InRecovery())
			assert.Equal(t, tt.inflight, r.Cwnd(), "cwnd is PRR's during recovery")
			r.OnRecoveryEnd(0)
			assert.Equal(t, tt.want, r.Cwnd())
			assert.False(t, r.InRecovery())
		})
	}
}

func TestRenoNoGrowth(t *testing.T) {
	t.Run("during recovery", func(t *testing.T) {
		r := NewReno(Config{MSS: mss})
		r.OnLoss(10000, 0)
		r.SetCwnd(7000)
		r.OnAck(Ack{Acked: 5000}, 0)
		assert.Equal(t, 7000, r.Cwnd())
		assert.Equal(t, 5000, r.OnLoss(4000, 0), "one reduction per recovery")
		assert.Equal(t, 7000, r.Cwnd())
	})
	t.Run("when application-limited", func(t *testing.T) {
		r := NewReno(Config{MSS: mss})
		r.OnAck(Ack{Acked: 5000, AppLimited: true}, 0)
		assert.Equal(t, 10000, r.Cwnd())
	})
	t.Run("for an ACK of nothing", func(t *testing.T) {
		r := NewReno(Config{MSS: mss})
		r.OnAck(Ack{}, 0)
		assert.Equal(t, 10000, r.Cwnd())
	})
}

func TestRenoRTO(t *testing.T) {
	r := NewReno(Config{MSS: mss})
	r.SetCwnd(40000)
	r.OnRTO(40000, 0)
	assert.Equal(t, mss, r.Cwnd(), "loss window is 1 SMSS")
	assert.Equal(t, 20000, r.Ssthresh())

	// A second expiry for the same segment holds ssthresh (RFC 5681 §3.1).
	r.OnRTO(mss, 0)
	assert.Equal(t, 20000, r.Ssthresh())
	assert.Equal(t, mss, r.Cwnd())

	// Slow start after a timeout grows by at most 1 SMSS per ACK (RFC 3465
	// §2.3).
	r.OnAck(Ack{Acked: 3000}, 0)
	assert.Equal(t, 2000, r.Cwnd())

	// After an ACK, a new timeout recomputes ssthresh from the flight.
	r.OnRTO(8000, 0)
	assert.Equal(t, 4000, r.Ssthresh())
	assert.Equal(t, mss, r.Cwnd())
}

func TestRenoRTOEndsRecovery(t *testing.T) {
	r := NewReno(Config{MSS: mss})
	r.OnLoss(20000, 0)
	r.OnRTO(20000, 0)
	assert.False(t, r.InRecovery())
	assert.Equal(t, mss, r.Cwnd())
	r.OnRecoveryEnd(0) // late call: nothing to end
	assert.Equal(t, mss, r.Cwnd())
}

func TestRenoIdle(t *testing.T) {
	tests := []struct {
		name      string
		cwnd      int
		idle, rto time.Duration
		want      int
	}{
		{name: "idle longer than RTO restarts at IW", cwnd: 50000, idle: 2 * time.Second, rto: time.Second, want: 10000},
		{name: "idle equal to RTO keeps cwnd", cwnd: 50000, idle: time.Second, rto: time.Second, want: 50000},
		{name: "short idle keeps cwnd", cwnd: 50000, idle: 10 * time.Millisecond, rto: time.Second, want: 50000},
		{name: "cwnd below IW kept", cwnd: 4000, idle: time.Minute, rto: time.Second, want: 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReno(Config{MSS: mss})
			r.SetCwnd(tt.cwnd)
			r.OnIdle(tt.idle, tt.rto, 0)
			assert.Equal(t, tt.want, r.Cwnd())
		})
	}
}

func TestSetMSS(t *testing.T) {
	r := NewReno(Config{MSS: mss})
	r.OnLoss(40000, 0)
	r.OnRecoveryEnd(0)
	r.SetMSS(500)
	f := newFlow(r)
	f.round(100*time.Millisecond, 500)
	assert.Equal(t, 20500, r.Cwnd(), "congestion avoidance adds the new MSS")
	assert.Equal(t, "newreno", r.Name())
}
