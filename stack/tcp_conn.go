package stack

import (
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/internal/timer"
	"github.com/ustack/ustack/stack/tcp/cc"
	"github.com/ustack/ustack/stack/tcp/rtt"
	"github.com/ustack/ustack/stack/tcp/sack"
	"github.com/ustack/ustack/stack/tcp/seq"
)

// tcpState is a connection state of RFC 9293 §3.3.2.
type tcpState uint8

const (
	stateClosed tcpState = iota
	stateListen
	stateSynSent
	stateSynRcvd
	stateEstablished
	stateFinWait1
	stateFinWait2
	stateCloseWait
	stateClosing
	stateLastAck
	stateTimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
	"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s tcpState) String() string { return stateNames[s] }

// synchronized says whether the state is past the handshake (RFC 9293
// §3.5.2's "synchronized states").
func (s tcpState) synchronized() bool { return s >= stateEstablished }

// connKey identifies a connection: local and remote address and port.
type connKey struct {
	local, remote netip.AddrPort
}

// tcpTimer is one of a connection's timers.
type tcpTimer struct {
	timer.Timer
	c    *tcpConn
	kind uint8
}

const (
	timerRTO       = iota // retransmission, also the SYN and zero-window probe timer
	timerDelACK           // delayed acknowledgment
	timerKeepAlive        // keepalive, FIN-WAIT-2 and TIME-WAIT
	timerLoss             // tail loss probe and reordering window (RFC 8985)
	numTimers
)

func (t *tcpTimer) OnTimer(_ *timer.Timer, now int64) { t.c.onTimer(t.kind, now) }

// tcpConn is a TCP connection's control block. Only its queue's loop
// touches it, except the fields marked shared, which the application side
// (tcpSock) reads or writes with atomics, and the two rings.
type tcpConn struct {
	readyNode
	q      *queue
	key    connKey
	state  tcpState
	timers [numTimers]tcpTimer
	sock   *tcpSock     // nil for an orphan (closed by the application)
	ln     *listenQueue // the listener a passive open belongs to, until accepted
	route  nextHop      // how to reach the peer
	// routeSh is the routing snapshot route's next hop was last checked
	// against (refreshRoute).
	routeSh *shared

	// Send sequence variables (RFC 9293 §3.3.1). sndMax is the highest
	// sequence number sent; sndNxt the next to send, which falls back to
	// sndUna on a retransmission timeout.
	iss    seq.Value
	sndUna seq.Value
	sndNxt seq.Value
	sndMax seq.Value
	sndWnd int // peer's window in bytes, scaled
	sndWl1 seq.Value
	sndWl2 seq.Value
	maxWnd int // the largest window the peer offered (RFC 5961 §5.2, SWS)
	// sndBuf is made by the application's first write, at sndSize, so
	// an idle connection holds no ring; shared, as the application
	// writes it and the loop sends from it.
	sndBuf  atomic.Pointer[ring.Bytes]
	sndSize int
	// sndLag is how many acknowledged bytes the send ring still holds
	// because frames sent by reference point into them (sg.go); pins
	// are those frames' pins on the ring.
	sndLag int
	pins   *sendPins
	// sndMem and rcvMem are the TCP buffer memory the rings made so far
	// charge to the stack (Limits.BufferMemory): a ring is made when the
	// first data goes into it, and charged at its size once it holds
	// more than ringCharged (the send ring's in the application's Write,
	// the receive ring's on the loop), so that idle connections, and
	// those that carry only small requests and answers, hold none, as
	// Linux's tcp_mem counts memory queued, not buffer sizes. They are
	// given back when the connection closes.
	sndMem, rcvMem atomic.Int64
	finSent        bool
	finSeq         seq.Value // the FIN's sequence number, once sent
	// Receive sequence variables.
	irs    seq.Value
	rcvNxt seq.Value
	rcvAdv seq.Value // right edge of the window we advertised
	// oowAt is when an unacceptable ACK was last answered, in units of
	// 2^20 ns (oowLimited); 0 for never.
	oowAt uint32
	// rcvBuf is made by the first data received, at rcvSize; shared, as
	// the loop fills it and the application reads it.
	rcvBuf  atomic.Pointer[ring.Bytes]
	rcvSize int
	tune    tcpTune
	// held are frames whose bytes stand in rcvBuf uncopied (tcp_hold.go);
	// shared, as the application reads them.
	held   atomic.Pointer[rcvHeld]
	ooo    oooQueue
	finRcv bool // a FIN was received in order: no more data
	// dsack is a duplicate segment's range that the next segment we send
	// reports as a D-SACK block (RFC 2883), when dsackSet.
	dsackSet bool
	dsack    seqRange

	// lastAckSent is the acknowledgment number we last sent: RFC 7323
	// §4.3's Last.ACK.sent, which decides what updates TS.Recent.
	lastAckSent seq.Value

	// Negotiated options.
	mss       int  // the largest segment payload we send
	peerMSS   int  // what the peer announced
	advMSS    int  // what we announced
	sndScale  uint // peer's window scale (RFC 7323 §2.3)
	rcvScale  uint // ours
	wsOK      bool
	sackOK    bool
	tsOK      bool
	tsRecent  uint32 // RFC 7323 §4.3
	tsRecentT int64  // when tsRecent was updated, for the 24-day PAWS rule
	tsOffset  uint32 // added to our clock in TSval
	rtxTS     uint32 // TSval of the last retransmission

	// Loss recovery and congestion control.
	cc  cc.Controller
	rtt rtt.Estimator
	sb  sack.Scoreboard
	// newlySacked counts bytes SACKed by the ACK being processed.
	newlySacked int
	prr         cc.PRR
	dupAcks     int
	inRecovery  bool
	// cwndLimited: the last send stopped at the congestion window, so an
	// ACK may grow it (RFC 7661's application-limited test).
	cwndLimited bool
	recover     seq.Value // RFC 6582: sndMax when recovery began
	highRxt     seq.Value // RFC 6675 HighRxt
	// undoRetrans counts the retransmissions of the last recovery the
	// receiver has not reported as duplicates (D-SACK); when none are
	// left once it is over, its reduction was spurious (RFC 3708).
	// undoArmed until then, or a timeout.
	undoRetrans int32
	undoArmed   bool
	rescued     bool // RFC 6675 NextSeg rule 4 was used in this recovery
	// rxts are the retransmissions of this recovery still unacknowledged,
	// oldest first, to find those lost in turn.
	rxts       [maxRxtMarks]rxtMark
	nRxts      int
	rtSeq      seq.Value // the segment being timed (no timestamps), Karn
	rtTiming   bool
	rtTime     int64
	backoff    int // consecutive RTO expirations
	retrans    uint64
	lastSend   int64
	lastRecv   int64
	firstRTOAt int64 // when the oldest unacked data was first retransmitted, for the user timeout
	// nextConfirm is when forward progress next confirms the neighbour
	// the route leads to (confirmPath).
	nextConfirm int64
	// The loss timer (tcp_tlp.go): lossReorder says it times a
	// reordering window rather than a probe; lossRestart that an ACK
	// came or new data went since it was armed. tlpOut says a tail loss
	// probe is out, ending at tlpEnd; tlpRxt that it was a
	// retransmission, tlpDSACK that a D-SACK came since.
	lossReorder bool
	lossRestart bool
	tlpOut      bool
	tlpRxt      bool
	tlpDSACK    bool
	tlpEnd      seq.Value

	// ACK generation.
	ackNow bool
	// ECN (tcp_ecn.go): negotiated; echoing a CE mark until the peer's
	// CWR; a reduction to announce with CWR; and, after a reduction, the
	// ACK that ends the round trip in which ECE is not answered again.
	ecnOK, eceSend, cwrPending, ecnWaiting bool
	ecnRecover                             seq.Value
	segsUnacked                            int // full segments received since our last ACK
	onAckList                              bool

	// Options the application set.
	nodelay     bool
	keepAlive   bool
	keepIdle    time.Duration
	keepIntvl   time.Duration
	keepCnt     int
	keepProbes  int
	userTimeout time.Duration
	linger      int // -1: none; 0: RST on close; >0 seconds

	closeWrite bool // the application will write no more: send FIN after the data
	err        syscall.Errno
	softErr    syscall.Errno // the last ICMP error, reported on a timeout
	bytesAcked uint64
	bytesRecv  uint64
	segsIn     uint64
	segsOut    uint64
	orphan     bool
	// appClosed: the application closed its socket, which no longer
	// touches the rings.
	appClosed bool

	// Shared with the application.
	shState  atomic.Uint32 // tcpState, for the application's view
	shErr    atomic.Int32  // errno that ended the connection
	shRcvFin atomic.Bool   // the peer finished sending
	// growRcv and growSnd, when positive, are the sizes auto-tuning
	// wants the rings grown to by the next Read or Write (tcp_tune.go).
	growRcv, growSnd atomic.Int64
}

func (c *tcpConn) setState(s tcpState) {
	c.state = s
	c.shState.Store(uint32(s))
}

// oooQueue tracks out-of-order data already written into the receive
// ring past its end: ranges of sequence numbers, in order, plus a FIN seen
// beyond them. Data is copied once, into its final place.
type oooQueue struct {
	ranges *[maxOOORanges]seqRange // made with the first hole
	n      int
	// last is the index of the range that grew most recently (first SACK
	// block, RFC 2018 §4).
	last   int
	finSet bool
	fin    seq.Value
}

// maxOOORanges bounds the holes a receiver tracks; a segment that would
// make more is dropped (and retransmitted by the peer).
const maxOOORanges = 32

type seqRange struct{ start, end seq.Value }

// add records [start, end) and reports false when there is no room.
func (o *oooQueue) add(start, end seq.Value) bool {
	if o.ranges == nil {
		o.ranges = new([maxOOORanges]seqRange)
	}
	i := 0
	for i < o.n && o.ranges[i].end.LessThan(start) {
		i++
	}
	// Merge with every range that overlaps or touches [start, end).
	j := i
	for j < o.n && o.ranges[j].start.LessEq(end) {
		if o.ranges[j].start.LessThan(start) {
			start = o.ranges[j].start
		}
		if end.LessThan(o.ranges[j].end) {
			end = o.ranges[j].end
		}
		j++
	}
	if i == j {
		if o.n == maxOOORanges {
			return false
		}
		copy(o.ranges[i+1:o.n+1], o.ranges[i:o.n])
		o.n++
	} else {
		copy(o.ranges[i+1:], o.ranges[j:o.n])
		o.n -= j - i - 1
	}
	o.ranges[i] = seqRange{start, end}
	o.last = i
	return true
}

// holding is the index of the range held that [start, end) lies within,
// or -1.
func (o *oooQueue) holding(start, end seq.Value) int {
	for i := 0; i < o.n; i++ {
		if r := o.ranges[i]; r.start.LessEq(start) && end.LessEq(r.end) {
			return i
		}
	}
	return -1
}

// advance removes the ranges that rcvNxt reached and returns the new
// rcvNxt: the end of a range that starts at or before it.
func (o *oooQueue) advance(nxt seq.Value) seq.Value {
	k := 0
	for k < o.n && o.ranges[k].start.LessEq(nxt) {
		if nxt.LessThan(o.ranges[k].end) {
			nxt = o.ranges[k].end
		}
		k++
	}
	if k > 0 {
		copy(o.ranges[:], o.ranges[k:o.n])
		o.n -= k
		o.last = 0
	}
	return nxt
}
