package stack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Losses in recovery that RFC 6675 alone leaves to the retransmission
// timer: RACK's reordering window still runs (RFC 8985 §6.2), a
// retransmission is known lost once a later one arrives, and the ACK that
// starts recovery counts for PRR (RFC 6937 §3). And a recovery that was
// not needed is undone (RFC 3708).

// lossOpen opens a SACK connection with 30 segments to send (10 out in
// the initial window) and, 50 ms later, returns what sends the peer's
// duplicate ACKs of the first with SACK blocks.
func lossOpen(t *testing.T, h *harness) (*tcpPeer, uint32, func(blocks ...int), *tcpSock) {
	t.Helper()
	p, una, s, _ := bulkOpen(t, h, 30, true)
	h.at(50 * time.Millisecond)
	p.ack = una
	return p, una, sackFrom(p, una), s
}

// sackFrom returns a function that sends an ACK of una with SACK blocks
// given as pairs of segment indexes.
func sackFrom(p *tcpPeer, una uint32) func(blocks ...int) {
	return func(blocks ...int) {
		var e []uint32
		for i := 0; i < len(blocks); i += 2 {
			e = append(e, segN(una, blocks[i]), segN(una, blocks[i+1]))
		}
		p.send("A", nil, sackOpt(e...))
	}
}

// In recovery, a hole with fewer than DupThresh segments SACKed above it
// is not lost by RFC 6675's count; when no more ACKs come it is resent once
// the reordering window has passed, not at the retransmission timeout.
func TestTCPRuleReorderingWindowInRecovery(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, sack, _ := lossOpen(t, h)
		// Segments 0 and 5 are lost.
		sack(1, 2)
		dataSegs(t, p, una, "limited transmit", 10)
		sack(1, 3)
		dataSegs(t, p, una, "limited transmit", 11)
		sack(1, 4)
		dataSegs(t, p, una, "fast retransmit", 0)
		sack(1, 5, 6, 7)
		dataSegs(t, p, una, "one SACKed above 5: not lost yet, new data", 12)
		// The handshake measured no time: the window is its minimum, 1 ms.
		h.at(50*time.Millisecond + 900*time.Microsecond)
		assert.Empty(t, p.segs(), "within the reordering window")
		h.at(52 * time.Millisecond)
		dataSegs(t, p, una, "the reordering window passed", 5)
		h.at(150 * time.Millisecond)
		assert.Empty(t, p.segs(), "once")
		tc := h.s.Counters().TCP
		assert.Equal(t, uint64(1), tc.ReorderTimeouts)
		assert.Zero(t, tc.RTOs)
	})
}

// A retransmission that another retransmission sent after it overtakes
// was lost: it goes again without waiting for the timer.
func TestTCPRuleLostRetransmissionOvertaken(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, sack, _ := lossOpen(t, h)
		// Segments 0 and 4 are lost, and then the retransmission of 0.
		sack(1, 4)
		dataSegs(t, p, una, "fast retransmit", 0)
		sack(1, 4, 5, 8)
		dataSegs(t, p, una, "three SACKed above 4: lost; new data", 4, 10, 11, 12)
		h.at(100 * time.Millisecond)
		sack(1, 4, 5, 9)
		dataSegs(t, p, una, "9 arrived, sent before either retransmission", 13)
		sack(1, 10)
		dataSegs(t, p, una, "4's retransmission arrived half a round trip after it went out, 0's sent before it did not: 0 again", 0, 14, 15)
		tc := h.s.Counters().TCP
		assert.Equal(t, uint64(1), tc.LostRetransmits)
		assert.Zero(t, tc.RTOs)
	})
}

// RFC 3708: when the receiver reports every retransmission of a finished
// recovery as a duplicate (D-SACK), the segment was only late, and the
// window reduction is undone; one retransmission not reported keeps it.
func TestTCPRuleSpuriousRecoveryUndone(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		for _, spurious := range []bool{true, false} {
			t.Run(map[bool]string{true: "spurious", false: "needed"}[spurious], func(t *testing.T) {
				h := newRuleHarness(t, mbuf, Config{})
				p, una, sack, s := lossOpen(t, h)
				cwnd := infoOf(t, s).Cwnd
				sack(1, 4)
				dataSegs(t, p, una, "fast retransmit", 0)
				h.at(60 * time.Millisecond)
				p.ack = segN(una, 10)
				p.send("A", nil)
				p.segs()
				reduced := infoOf(t, s).Cwnd
				require.Less(t, reduced, cwnd, "recovery over, cwnd = ssthresh")
				if spurious {
					// The retransmission of 0 arrives after the original.
					p.send("A", nil, sackOpt(segN(una, 0), segN(una, 1)))
				} else {
					p.send("A", nil)
				}
				tc := h.s.Counters().TCP
				if spurious {
					assert.Equal(t, cwnd, infoOf(t, s).Cwnd, "undone")
					assert.Equal(t, uint64(1), tc.DSACKUndos)
				} else {
					assert.Equal(t, reduced, infoOf(t, s).Cwnd)
					assert.Zero(t, tc.DSACKUndos)
				}
			})
		}
	})
}
