package stack

import "github.com/ustack/ustack/stack/wire"

// Explicit Congestion Notification for TCP (RFC 3168): a connection whose
// SYN and SYN-ACK agreed on it (TCPConfig.ECN) sends its new data
// ECN-capable, so that a router may mark it Congestion Experienced rather
// than drop it; the receiver echoes a mark with ECE until the sender's
// CWR says it reduced its window, which it does once per round trip.

// The ECN field of the IP header (RFC 3168 §5).
const (
	ecnECT0 = 0x02
	ecnCE   = 0x03
)

// ecnInput takes what an acceptable segment of an ECN connection says of
// congestion: the peer's CWR ends our echo, a CE mark on its data starts
// it (and is acknowledged at once), and its ECE has us reduce the window
// as for a loss, without retransmitting, at most once per round trip
// (RFC 3168 §6.1.2, §6.1.3).
func (c *tcpConn) ecnInput(seg *segment) {
	q := c.q
	if seg.has(wire.TCPFlagCWR) {
		c.eceSend = false
	}
	if seg.ce && len(seg.payload) > 0 {
		q.counters.TCP.InCEMarked++
		c.eceSend, c.ackNow = true, true
	}
	if !seg.has(wire.TCPFlagECE) || c.inRecovery || c.ecnWaiting && seg.ack.LessEq(c.ecnRecover) {
		return
	}
	q.counters.TCP.ECNReductions++
	c.cc.SetCwnd(c.cc.OnLoss(int(c.sndMax.Sub(c.sndUna)), q.now))
	c.cc.OnRecoveryEnd(q.now)
	c.ecnWaiting, c.ecnRecover, c.cwrPending = true, c.sndMax, true
}
