package cc

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPRRSingleLoss is modelled on the single-loss example of RFC 6937
// §3.1, in segments (MSS = 1 byte): cwnd = FlightSize = 20, ssthresh = 10,
// one segment lost, here without Limited Transmit. Recovery starts on the
// third duplicate ACK, and each ACK SACKs one more segment. While pipe >
// ssthresh PRR sends one segment for every two delivered (ssthresh/RecoverFS
// = 1/2), the first being the fast retransmit; once pipe falls to ssthresh
// the SSRB bound keeps the flight at ssthresh.
func TestPRRSingleLoss(t *testing.T) {
	var p PRR
	p.Enter(10, 20, 1)
	steps := []struct {
		pipe, sndcnt int
	}{
		// pipe = 20 outstanding - SACKed - 1 lost + sent so far.
		{16, 1}, // CEIL(1*10/20) - 0: the fast retransmit
		{16, 0}, // CEIL(2*10/20) - 1
		{15, 1}, // CEIL(3*10/20) - 1
		{15, 0},
		{14, 1},
		{14, 0},
		{13, 1},
		{13, 0},
		{12, 1},
		{12, 0},
		{11, 1},
		{11, 0},
		{10, 0}, // pipe = ssthresh: SSRB, MIN(10 - 10, limit)
		{9, 1},  // MIN(10 - 9, MAX(14 - 6, 1) + 1)
		{9, 1},
		{9, 1},
		{9, 1},
	}
	for i, s := range steps {
		got := p.OnAck(1, s.pipe)
		assert.Equal(t, s.sndcnt, got, "ACK %d (pipe %d)", i+1, s.pipe)
		p.Sent(got)
		// After sending, cwnd = pipe + sndcnt never exceeds the old flight
		// and ends at ssthresh.
		assert.LessOrEqual(t, s.pipe+got, 17)
	}
	assert.Equal(t, 17, p.Delivered())
	assert.Equal(t, 10, p.Out())
}

// TestPRRBytes is the same proportion in bytes: sndcnt may be below an MSS.
func TestPRRBytes(t *testing.T) {
	var p PRR
	p.Enter(10000, 20000, 1000)
	assert.Equal(t, 1000, p.OnAck(1000, 16000), "fast retransmit forced to 1 MSS")
	p.Sent(1000)
	assert.Equal(t, 0, p.OnAck(1000, 16000))
	assert.Equal(t, 500, p.OnAck(1000, 15000), "CEIL(3000*10000/20000) - 1000")
	assert.Equal(t, 1000, p.OnAck(1000, 14000), "nothing sent on 500: the debt accumulates")
}

// TestPRRSlowStartReductionBound: after a burst of losses pipe is far below
// ssthresh and PRR-SSRB rebuilds the flight like slow start: at most
// DeliveredData + 1 MSS per ACK.
func TestPRRSlowStartReductionBound(t *testing.T) {
	var p PRR
	p.Enter(10, 20, 1)
	steps := []struct {
		delivered, pipe, sndcnt int
	}{
		{1, 4, 2}, // limit = MAX(1 - 0, 1) + 1 = 2; MIN(10 - 4, 2)
		{1, 5, 2}, // limit = MAX(2 - 2, 1) + 1 = 2
		{3, 4, 4}, // a cumulative ACK of 3: limit = MAX(5 - 4, 3) + 1 = 4
		{1, 8, 2}, // MIN(10 - 8, MAX(6 - 8, 1) + 1 = 2)
		{1, 10, 0},
	}
	for i, s := range steps {
		got := p.OnAck(s.delivered, s.pipe)
		assert.Equal(t, s.sndcnt, got, "ACK %d", i+1)
		p.Sent(got)
	}
}

func TestPRRNeverNegative(t *testing.T) {
	var p PRR
	p.Enter(10, 20, 1)
	p.Sent(5) // the sender got ahead (e.g. a rescue retransmission)
	assert.Equal(t, 0, p.OnAck(1, 15))
	assert.Equal(t, 0, p.OnAck(-3, 15), "negative delivered is ignored")
	assert.Equal(t, 1, p.Delivered())
}

func TestPRREnterResets(t *testing.T) {
	var p PRR
	p.Enter(10, 20, 1)
	p.OnAck(5, 15)
	p.Sent(3)
	p.Enter(8, 16, 1)
	assert.Zero(t, p.Delivered())
	assert.Zero(t, p.Out())
}
