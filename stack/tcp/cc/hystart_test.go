package cc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/tcp/seq"
)

const msD = time.Millisecond

// hsRounds feeds h rounds of 10 ACKs of 1000 bytes each; rounds[i] is the RTT
// of every sample in round i. It returns the round (from 1) at whose end h
// reported the end of slow start, or 0.
func hsRounds(h *hystart, rounds []time.Duration) int {
	una := seq.Value(0)
	for r, rtt := range rounds {
		nxt := una.Add(10000)
		if r == 0 {
			// The first ACK starts the first round, ending at nxt.
			h.onAck(Ack{Acked: 1000, RTT: rtt, Una: una.Add(1000), Nxt: nxt})
			una = una.Add(1000)
			for una.LessThan(nxt) {
				una = una.Add(1000)
				if h.onAck(Ack{Acked: 1000, RTT: rtt, Una: una, Nxt: nxt.Add(10000)}) {
					return r + 1
				}
			}
			continue
		}
		for i := 0; i < 10; i++ {
			una = una.Add(1000)
			if h.onAck(Ack{Acked: 1000, RTT: rtt, Una: una, Nxt: una.Add(10000)}) {
				return r + 1
			}
		}
	}
	return 0
}

func TestHyStartEnterCSS(t *testing.T) {
	tests := []struct {
		name    string
		last    time.Duration
		current time.Duration
		css     bool
	}{
		// RttThresh = clamp(100/8 = 12.5 ms, 4 ms, 16 ms).
		{name: "rise of RttThresh enters CSS", last: 100 * msD, current: 112500 * time.Microsecond, css: true},
		{name: "smaller rise stays", last: 100 * msD, current: 112 * msD},
		// RttThresh = MIN_RTT_THRESH = 4 ms.
		{name: "short path threshold floor", last: 10 * msD, current: 14 * msD, css: true},
		{name: "short path below floor", last: 10 * msD, current: 13900 * time.Microsecond},
		// RttThresh = MAX_RTT_THRESH = 16 ms.
		{name: "long path threshold cap", last: 200 * msD, current: 216 * msD, css: true},
		{name: "long path below cap", last: 200 * msD, current: 215 * msD},
		{name: "falling RTT", last: 100 * msD, current: 90 * msD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hystart
			h.reset()
			hsRounds(&h, []time.Duration{tt.last, tt.current})
			assert.Equal(t, tt.css, h.inCSS)
		})
	}
}

func TestHyStartNeedsSamples(t *testing.T) {
	var h hystart
	h.reset()
	hsRounds(&h, []time.Duration{100 * msD})
	// A round with only 7 RTT samples (N_RTT_SAMPLE is 8) cannot enter CSS.
	una := seq.Value(10000)
	for i := 0; i < 9; i++ {
		una = una.Add(1000)
		rtt := 150 * msD
		if i >= 7 {
			rtt = 0 // no sample on these ACKs
		}
		h.onAck(Ack{Acked: 1000, RTT: rtt, Una: una, Nxt: una.Add(10000)})
	}
	assert.False(t, h.inCSS)
}

func TestHyStartCSSRounds(t *testing.T) {
	var h hystart
	h.reset()
	// Round 2 enters CSS and counts as the first CSS round; slow start
	// ends when the fifth CSS round (round 6) completes.
	rounds := []time.Duration{100 * msD, 120 * msD, 120 * msD, 120 * msD, 120 * msD, 120 * msD, 120 * msD}
	assert.Equal(t, 6, hsRounds(&h, rounds))
}

func TestHyStartResumeSlowStart(t *testing.T) {
	var h hystart
	h.reset()
	hsRounds(&h, []time.Duration{100 * msD, 120 * msD})
	require.True(t, h.inCSS)
	require.Equal(t, 120*msD, h.cssBaseline)
	// A round whose minimum falls below the CSS baseline: the exit was
	// spurious, back to slow start (RFC 9406 §4.2).
	una := seq.Value(20000)
	for i := 0; i < 10; i++ {
		una = una.Add(1000)
		h.onAck(Ack{Acked: 1000, RTT: 110 * msD, Una: una, Nxt: una.Add(10000)})
	}
	assert.False(t, h.inCSS)
}

func TestCubicHyStart(t *testing.T) {
	c := NewCubic(Config{MSS: mss})
	f := newFlow(c)
	// Constant RTT: slow start doubles per round.
	for i, want := range []int{20000, 40000, 80000} {
		f.round(100*msD, mss)
		require.Equal(t, want, c.Cwnd(), "round %d", i+1)
	}
	// The RTT rises by 30 ms: CSS grows by a quarter of the acknowledged
	// bytes, then slow start ends after CSS_ROUNDS rounds.
	f.round(130*msD, mss)
	assert.True(t, c.hs.inCSS)
	grew := c.Cwnd()
	f.round(130*msD, mss)
	assert.InDelta(t, float64(grew)*1.25, float64(c.Cwnd()), float64(mss), "CSS grows 1/4 as fast")
	for i := 0; i < 5 && c.InSlowStart(); i++ {
		f.round(130*msD, mss)
	}
	assert.False(t, c.InSlowStart())
	// ssthresh = cwnd when CSS ends; the rest of that round was congestion
	// avoidance.
	assert.NotEqual(t, InfiniteSsthresh, c.Ssthresh())
	assert.InDelta(t, c.Ssthresh(), c.Cwnd(), mss)

	// Congestion avoidance starts with K = 0 and W_max = cwnd (RFC 9438
	// §4.10).
	f.round(130*msD, mss)
	assert.Zero(t, c.kMs)
	assert.Equal(t, int64(c.Ssthresh()), c.wMax)
}

func TestCubicHyStartLimit(t *testing.T) {
	c := NewCubic(Config{MSS: mss})
	// A stretch ACK of 20 segments grows cwnd by L = 8 segments at most.
	c.OnAck(Ack{Acked: 20000, RTT: 100 * msD, Una: 20000, Nxt: 30000}, 0)
	assert.Equal(t, 18000, c.Cwnd())
}

func TestCubicHyStartOnlyInitialSlowStart(t *testing.T) {
	c := NewCubic(Config{MSS: mss})
	c.OnLoss(20000, 0)
	c.OnRecoveryEnd(0)
	c.SetCwnd(4000)
	// ssthresh is no longer infinite: standard slow start, L = 2.
	c.OnAck(Ack{Acked: 5000, RTT: 100 * msD}, 0)
	assert.Equal(t, 6000, c.Cwnd())
}
