package cc

// PRR is Proportional Rate Reduction (RFC 6937), the PRR-SSRB variant: it
// spreads the window reduction of fast recovery over the ACKs of the
// recovery round trip, so that at its end the flight is ssthresh, without
// the burst or the stall of RFC 6582 window inflation. The zero value is
// ready for Enter.
//
// Use: on entering recovery Enter(ssthresh, RecoverFS, SMSS) with ssthresh
// from Controller.OnLoss and RecoverFS = SND.NXT - SND.UNA (RFC 6937 §3;
// RFC 9937 §4 also subtracts bytes SACKed before recovery began). On every
// ACK in recovery, including the one that started it, sndcnt := OnAck(
// DeliveredData, pipe), set cwnd = pipe + sndcnt, send at most sndcnt bytes
// and report each transmission or retransmission with Sent.
type PRR struct {
	ssthresh  int64
	recoverFS int64
	mss       int64
	delivered int64 // prr_delivered
	out       int64 // prr_out
}

// Enter starts a recovery episode (RFC 6937 §3: prr_delivered = 0,
// prr_out = 0).
func (p *PRR) Enter(ssthresh, recoverFS, mss int) {
	*p = PRR{
		ssthresh:  int64(max(ssthresh, 0)),
		recoverFS: int64(max(recoverFS, 1)),
		mss:       int64(max(mss, 1)),
	}
}

// OnAck takes an ACK in recovery that delivered bytes (DeliveredData: the
// advance of SND.UNA plus the change in SACKed bytes, RFC 6937 §3) with
// pipe bytes in flight after it (RFC 6675 SetPipe), and returns sndcnt, the
// bytes the sender may now send.
func (p *PRR) OnAck(delivered, pipe int) int {
	d, pp := int64(max(delivered, 0)), int64(pipe)
	p.delivered += d
	var sndcnt int64
	if pp > p.ssthresh {
		// RFC 6937 §3, proportional rate reduction:
		// sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
		sndcnt = (p.delivered*p.ssthresh+p.recoverFS-1)/p.recoverFS - p.out
	} else {
		// RFC 6937 §3, slow start reduction bound (PRR-SSRB):
		// limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS,
		// sndcnt = MIN(ssthresh - pipe, limit).
		limit := max(p.delivered-p.out, d) + p.mss
		sndcnt = min(p.ssthresh-pp, limit)
	}
	if p.out == 0 {
		// The fast retransmit that starts recovery goes out whatever the
		// proportion says (RFC 5681 §3.2 step 2; RFC 9937 §4 forces it the
		// same way).
		sndcnt = max(sndcnt, p.mss)
	}
	return int(max(sndcnt, 0))
}

// Sent records n bytes sent or retransmitted during recovery (RFC 6937
// §3.1: prr_out += data sent).
func (p *PRR) Sent(n int) { p.out += int64(max(n, 0)) }

// Delivered is prr_delivered: bytes delivered since recovery began.
func (p *PRR) Delivered() int { return int(p.delivered) }

// Out is prr_out: bytes sent since recovery began.
func (p *PRR) Out() int { return int(p.out) }
