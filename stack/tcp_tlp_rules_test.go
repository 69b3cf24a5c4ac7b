package stack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RACK-TLP (RFC 8985): losses at the end of a flight, which bring too few
// duplicate ACKs to count, are found by a tail loss probe and the
// reordering window instead of the retransmission timeout.

// tailOpen opens a SACK connection, writes n full segments (10 go out in
// the initial window) and, 20 ms later, has the peer acknowledge the first
// acked of them: the round trip measures 20 ms, so the probe timeout of a
// flight of several segments is 2·20 + 2 = 42 ms and the RTO its 200 ms
// minimum.
func tailOpen(t *testing.T, h *harness, n, acked int) (*tcpPeer, uint32, *tcpSock) {
	t.Helper()
	p, una, s, _ := bulkOpen(t, h, n, true)
	h.at(20 * time.Millisecond)
	p.ack = segN(una, acked)
	p.send("A", nil)
	return p, una, s
}

// The last two segments are lost: 42 ms after the last ACK the probe
// resends the last one (no new data is left), the receiver SACKs it, and
// a quarter of a round trip later the hole below it is taken as lost and
// fast recovery resends it; no retransmission timeout.
func TestTCPRuleTailLossProbeFindsTailLoss(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, s := tailOpen(t, h, 10, 8)
		assert.Empty(t, p.segs())
		h.at(61 * time.Millisecond)
		assert.Empty(t, p.segs(), "before the probe timeout")
		h.at(63 * time.Millisecond)
		dataSegs(t, p, una, "the probe: the last segment again", 9)
		tc := h.s.Counters().TCP
		assert.Equal(t, uint64(1), tc.TailLossProbes)
		h.at(80 * time.Millisecond)
		p.send("A", nil, sackOpt(segN(una, 9), segN(una, 10)))
		assert.Empty(t, p.segs(), "within the reordering window")
		h.at(86 * time.Millisecond)
		dataSegs(t, p, una, "the hole outlived the reordering window: fast retransmit", 8)
		tc = h.s.Counters().TCP
		assert.Equal(t, uint64(1), tc.ReorderTimeouts)
		assert.Equal(t, uint64(1), tc.FastRetrans)
		h.at(100 * time.Millisecond)
		p.ack = segN(una, 10)
		p.send("A", nil)
		h.at(2 * time.Second)
		assert.Empty(t, p.segs())
		tc = h.s.Counters().TCP
		assert.Zero(t, tc.RTOs)
		assert.Zero(t, infoOf(t, s).Unacked)
	})
}

// With data the window has not let out yet, the probe is a new segment
// beyond cwnd, whose SACK shows the losses below it.
func TestTCPRuleTailLossProbeSendsNewData(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, _ := tailOpen(t, h, 30, 2)
		dataSegs(t, p, una, "slow start after the ACK of two", 10, 11, 12, 13)
		h.at(63 * time.Millisecond)
		dataSegs(t, p, una, "the probe: new data", 14)
		h.at(80 * time.Millisecond)
		p.send("A", nil, sackOpt(segN(una, 14), segN(una, 15)))
		assert.Empty(t, p.segs())
		h.at(86 * time.Millisecond)
		out := p.segs()
		require.NotEmpty(t, out)
		assert.Equal(t, segN(una, 2), out[0].Seq, "recovery starts at the first hole")
		assert.Zero(t, h.s.Counters().TCP.RTOs)
	})
}

// A probe the receiver reports as a duplicate (D-SACK) found no loss:
// cwnd stays. One that the cumulative ACK goes past without a D-SACK
// repaired a loss: cwnd drops to ssthresh, as one fast recovery would.
func TestTCPRuleTailLossProbeOutcome(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("duplicate", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			p, una, s := tailOpen(t, h, 10, 8)
			cwnd := infoOf(t, s).Cwnd
			h.at(63 * time.Millisecond)
			dataSegs(t, p, una, "the probe", 9)
			h.at(80 * time.Millisecond)
			p.ack = segN(una, 10)
			p.send("A", nil, sackOpt(segN(una, 9), segN(una, 10)))
			assert.Equal(t, cwnd, infoOf(t, s).Cwnd)
			assert.Zero(t, h.s.Counters().TCP.TLPRecoveries)
			assert.False(t, s.c.tlpOut)
		})
		t.Run("repair", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			p, una, s := tailOpen(t, h, 10, 8)
			h.at(63 * time.Millisecond)
			dataSegs(t, p, una, "the probe", 9)
			h.at(80 * time.Millisecond)
			p.ack = segN(una, 10)
			p.send("A", nil)
			assert.True(t, s.c.tlpOut, "the ACK ends at the probe: the fate is not known yet")
			writeNow(t, h, s, bytesOf(smss, 'b'))
			dataSegs(t, p, una, "more data", 10)
			cwnd := infoOf(t, s).Cwnd
			h.at(100 * time.Millisecond)
			p.ack = segN(una, 11)
			p.send("A", nil)
			assert.Equal(t, uint64(1), h.s.Counters().TCP.TLPRecoveries)
			in := infoOf(t, s)
			assert.Less(t, in.Cwnd, cwnd)
			assert.Equal(t, in.Ssthresh, in.Cwnd)
			assert.False(t, s.c.tlpOut)
		})
	})
}

// The retransmission timeout acts alone when a single segment is in
// flight (it may be waiting for a delayed ACK: the probe timeout adds 200
// ms, past the RTO) and when TCPConfig.DisableTLP turns probes off.
func TestTCPRuleRTOWithoutProbe(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   TCPConfig
		acked int
	}{
		{"one segment in flight", TCPConfig{}, 9},
		{"DisableTLP", TCPConfig{DisableTLP: true}, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newRuleHarness(t, false, Config{TCP: c.cfg})
			p, una, _ := tailOpen(t, h, 10, c.acked)
			h.at(219 * time.Millisecond)
			assert.Empty(t, p.segs())
			h.at(221 * time.Millisecond)
			dataSegs(t, p, una, "the RTO resends the first unacknowledged segment", c.acked)
			tc := h.s.Counters().TCP
			assert.Zero(t, tc.TailLossProbes)
			assert.Equal(t, uint64(1), tc.RTOs)
		})
	}
}

// When the application has closed, the last segment goes again with the
// FIN it carried.
func TestTCPRuleTailLossProbeCarriesFIN(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, una, s := tailOpen(t, h, 10, 8)
	require.NoError(t, s.Close())
	h.poll()
	out := p.segs()
	require.Len(t, out, 1)
	assert.True(t, out[0].FIN, "the FIN goes alone after the data")
	h.at(63 * time.Millisecond)
	out = p.segs()
	require.Len(t, out, 1, "the probe")
	assert.Equal(t, segN(una, 9), out[0].Seq)
	assert.Len(t, out[0].Payload, smss)
	assert.True(t, out[0].FIN)
}

// After a retransmission timeout the sender goes back over the flight;
// a SACK hole it meets then is not a new loss episode: the reordering
// window waits for an ACK of new data, or cwnd would be cut twice.
func TestTCPRuleNoReorderRecoveryAfterRTO(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, una, _ := tailOpen(t, h, 10, 8)
	h.at(21 * time.Millisecond)
	p.send("A", nil, sackOpt(segN(una, 9), segN(una, 10)))
	h.at(27 * time.Millisecond)
	dataSegs(t, p, una, "the reordering window ended: fast retransmit", 8)
	h.at(221 * time.Millisecond)
	dataSegs(t, p, una, "the RTO", 8)
	h.at(222 * time.Millisecond)
	p.send("A", nil, sackOpt(segN(una, 9), segN(una, 10)))
	h.at(240 * time.Millisecond)
	assert.Empty(t, p.segs())
	tc := h.s.Counters().TCP
	assert.Equal(t, uint64(1), tc.FastRetrans)
	assert.Equal(t, uint64(1), tc.ReorderTimeouts)
	assert.Equal(t, uint64(1), tc.RTOs)
}
