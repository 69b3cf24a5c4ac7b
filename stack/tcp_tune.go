package stack

import (
	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/tcp/seq"
)

// Buffer auto-tuning. A connection starts with TCPConfig.SendBuffer and
// RecvBuffer and grows its rings, up to SendBufferMax and RecvBufferMax,
// while they are what limits it, as Linux does (tcp_rcv_space_adjust,
// tcp_sndbuf_expand): an idle or slow connection keeps small rings, a
// bulk one gets the window its rate needs. Buffers never shrink.
//
// The loop decides and the application's side resizes: a ring can only
// be replaced while neither side uses it, so the loop stores the size it
// wants in the connection (growRcv, growSnd) and the next Read or Write
// (TryRead or TryWrite for an in-core application), which holds the
// socket's read or write lock, has the loop swap the ring as SetReadBuffer
// and SetWriteBuffer do.

// tcpTune is a connection's tuning state. Only the loop touches it.
type tcpTune struct {
	// rcvLocked and sndLocked: the application chose the size.
	rcvLocked, sndLocked bool
	// The receive round trip, measured without timestamps as the time a
	// window of data takes to arrive (Linux's tcp_rcv_rtt_measure):
	// rttAt is when the sample began (0: none running), rttSeq the
	// sequence number that ends it, rtt the smallest sample, in the
	// loop's clock.
	rttSeq seq.Value
	rttAt  int64
	rtt    int64
	// space is the most the application read in one round trip; head
	// and at are the receive ring's position and the time when the
	// current round trip's count began.
	space int
	head  uint64
	at    int64
}

// initialSpace is what a receiver assumes the application reads per
// round trip before it has measured: an initial window of segments (RFC
// 6928), but at most half the buffer, since a reader the window holds
// back reads at most a buffer per round trip and must still show that it
// could take more (at a 64 KiB MSS ten segments are more than the buffer).
const initialSpace = 10

// tuneRcv runs when in-order data was published in rb. Once per round
// trip it compares what the application read in that round trip with the
// most it read before; a reader that keeps getting faster asks for a
// window of twice what it read, more while the sender's rate grows.
func (c *tcpConn) tuneRcv(rb *ring.Bytes) {
	t := &c.tune
	if t.rcvLocked || c.sock == nil {
		return
	}
	now := c.q.now
	if t.rttAt == 0 || !c.rcvNxt.LessThan(t.rttSeq) {
		if t.rttAt != 0 {
			if d := now - t.rttAt; d > 0 && (t.rtt == 0 || d < t.rtt) {
				t.rtt = d
			}
		}
		t.rttSeq, t.rttAt = c.rcvNxt.Add(max(c.rcvWindow(), c.advMSS)), now
	}
	if t.space == 0 {
		t.space = min(rb.Cap()/2, initialSpace*c.advMSS)
		t.head, t.at = rb.Pos(), now
		return
	}
	if t.rtt == 0 || now-t.at < t.rtt {
		return
	}
	head := rb.Pos()
	read := int(head - t.head)
	t.head, t.at = head, now
	if read <= t.space {
		return
	}
	// Twice what was read covers a loss; the sender's growth since the
	// last round trip (doubling in slow start) doubles that again.
	want := 2*read + 16*c.advMSS
	want += 2 * int(int64(want)*int64(read-t.space)/int64(t.space))
	t.space = read
	if n := c.growTo(rb.Cap(), want, c.q.s.cfg.TCP.RecvBufferMax); n > 0 {
		c.growRcv.Store(int64(n))
	}
}

// tuneSnd runs when acknowledged bytes left the send ring sb while the
// application waited for room. A ring the congestion window does not
// limit, but which is too small to keep the window the peer and the
// congestion control allow in flight, asks for twice that window.
func (c *tcpConn) tuneSnd(sb *ring.Bytes) {
	if c.tune.sndLocked || c.cwndLimited {
		return
	}
	want := 2 * min(c.cc.Cwnd(), c.sndWnd)
	if n := c.growTo(sb.Cap(), want, c.q.s.cfg.TCP.SendBufferMax); n > 0 {
		c.growSnd.Store(int64(n))
	}
}

// growTo is the size a ring of size bytes should grow to for want bytes:
// want rounded up to a ring's size, but at most limit and what
// Limits.BufferMemory has room for; 0 for no growth. Tuning gives way to
// the limit quietly: the connection goes on at the size it has.
func (c *tcpConn) growTo(size, want, limit int) int {
	room := c.q.s.bufferRoom()
	n := ring.Size(want)
	for n > size && (n > limit || int64(n-size) > room) {
		n >>= 1
	}
	if n <= size {
		return 0
	}
	return n
}
