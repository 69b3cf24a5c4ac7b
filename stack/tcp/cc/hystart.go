package cc

import (
	"math"
	"time"

	"github.com/ustack/ustack/stack/tcp/seq"
)

// HyStart++ constants (RFC 9406 §4.3), for a sender that does not pace.
const (
	hsMinRTTThresh     = 4 * time.Millisecond
	hsMaxRTTThresh     = 16 * time.Millisecond
	hsMinRTTDivisor    = 8
	hsNRTTSample       = 8
	hsCSSGrowthDivisor = 4
	hsCSSRounds        = 5
	hsL                = 8 // segments; a paced sender would use infinity
)

const noRTT = time.Duration(math.MaxInt64)

// hystart is the state of HyStart++ (RFC 9406 §4.2) during the initial slow
// start. A round starts when an ACK covers the SND.NXT recorded at the start
// of the previous round (windowEnd).
type hystart struct {
	started      bool
	windowEnd    seq.Value
	lastRoundMin time.Duration
	curRoundMin  time.Duration
	samples      int
	inCSS        bool // in Conservative Slow Start
	cssBaseline  time.Duration
	cssRounds    int
}

func (h *hystart) reset() {
	*h = hystart{lastRoundMin: noRTT, curRoundMin: noRTT, cssBaseline: noRTT}
}

// startRound begins a round ending when SND.UNA reaches nxt (RFC 9406
// §4.2: "lastRoundMinRTT = currentRoundMinRTT; currentRoundMinRTT =
// infinity; rttSampleCount = 0").
func (h *hystart) startRound(nxt seq.Value) {
	h.started = true
	h.windowEnd = nxt
	h.lastRoundMin = h.curRoundMin
	h.curRoundMin = noRTT
	h.samples = 0
}

// onAck takes one ACK of the initial slow start and reports whether slow
// start is over: CSS_ROUNDS rounds of Conservative Slow Start completed.
func (h *hystart) onAck(a Ack) bool {
	if !h.started {
		h.startRound(a.Nxt)
	}
	if a.RTT > 0 {
		h.curRoundMin = min(h.curRoundMin, a.RTT)
		h.samples++
	}
	if h.samples >= hsNRTTSample && h.curRoundMin != noRTT {
		switch {
		case !h.inCSS && h.lastRoundMin != noRTT:
			// RFC 9406 §4.2: RttThresh = max(MIN_RTT_THRESH,
			// min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH));
			// a round whose minimum RTT rose by RttThresh enters CSS.
			thresh := max(hsMinRTTThresh, min(h.lastRoundMin/hsMinRTTDivisor, hsMaxRTTThresh))
			if h.curRoundMin >= h.lastRoundMin+thresh {
				h.inCSS = true
				h.cssBaseline = h.curRoundMin
				h.cssRounds = 0
			}
		case h.inCSS && h.curRoundMin < h.cssBaseline:
			// RFC 9406 §4.2: the RTT fell below the CSS baseline, the
			// exit was spurious: resume slow start.
			h.inCSS = false
			h.cssBaseline = noRTT
		}
	}
	if a.Una.GreaterEq(h.windowEnd) {
		if h.inCSS {
			// The round in which CSS began counts as its first.
			h.cssRounds++
			if h.cssRounds >= hsCSSRounds {
				return true
			}
		}
		h.startRound(a.Nxt)
	}
	return false
}

// increase is the growth of cwnd for acked bytes: min(N, L*SMSS), divided
// by CSS_GROWTH_DIVISOR in CSS (RFC 9406 §4.2).
func (h *hystart) increase(acked, mss int) int {
	inc := min(acked, hsL*mss)
	if h.inCSS {
		inc /= hsCSSGrowthDivisor
	}
	return inc
}
