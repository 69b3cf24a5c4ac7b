package stack

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/ustack/ustack/stack/internal/ring"
)

// TCPInfo describes a connection like Linux's TCP_INFO.
type TCPInfo struct {
	State          string
	Local, Remote  netip.AddrPort
	RTT, RTTVar    time.Duration
	RTO            time.Duration
	MSS            int
	Cwnd, Ssthresh int // bytes
	SendWindow     int // the peer's window, bytes
	Retransmits    uint64
	BytesAcked     uint64 // of ours, acknowledged by the peer
	BytesReceived  uint64 // in order, from the peer
	SegsIn         uint64
	SegsOut        uint64
	Unacked        int // bytes in flight
	SendQueue      int // bytes written and not yet acknowledged
	RecvQueue      int // bytes received and not yet read
	SendBuffer     int // the send buffer's size, as auto-tuning left it
	RecvBuffer     int // the receive buffer's size
	SendMemory     int // the memory the send buffer holds now, at most its size
	RecvMemory     int // the memory the receive buffer holds now
	Congestion     string
	SACK           bool
	Timestamps     bool
	WindowScale    bool
}

// info snapshots the control block; on the loop.
func (c *tcpConn) info() TCPInfo {
	in := TCPInfo{
		State: c.state.String(), Local: c.key.local, Remote: c.key.remote,
		RTT: c.rtt.SRTT(), RTTVar: c.rtt.RTTVar(), RTO: c.rtt.RTO(), MSS: c.mss,
		SendWindow: c.sndWnd, Retransmits: c.retrans,
		BytesAcked: c.bytesAcked, BytesReceived: c.bytesRecv, SegsIn: c.segsIn, SegsOut: c.segsOut,
		Unacked: int(c.sndMax.Sub(c.sndUna)),
		SACK:    c.sackOK, Timestamps: c.tsOK, WindowScale: c.wsOK,
	}
	if c.cc != nil {
		in.Cwnd, in.Ssthresh, in.Congestion = c.cc.Cwnd(), c.cc.Ssthresh(), c.cc.Name()
	}
	in.SendBuffer, in.RecvBuffer = ring.Size(c.sndSize), ring.Size(c.rcvSize)
	if sb := c.sndBuf.Load(); sb != nil {
		in.SendQueue = sb.Len() - c.sndLag
		in.SendBuffer, in.SendMemory = sb.Cap(), sb.Stored()
	}
	if rb := c.rcvBuf.Load(); rb != nil {
		in.RecvQueue = rb.Len()
		in.RecvBuffer, in.RecvMemory = rb.Cap(), rb.Stored()
	}
	return in
}

// Info returns the connection's TCP_INFO-like state.
func (t *tcpSock) Info() (TCPInfo, error) {
	var in TCPInfo
	if t.closed.Load() {
		return in, t.opError("get", net.ErrClosed)
	}
	c := t.c
	err := t.s.call(context.Background(), t.q, func(q *queue) error {
		in = c.info()
		return nil
	})
	return in, err
}

// Connections lists every TCP connection of the stack, like ss, by local
// and then remote address. On a stack with many connections,
// ConnectionTable costs its loops less.
func (s *Stack) Connections() []TCPInfo {
	var all []TCPInfo
	for _, q := range s.queues {
		s.walkConns(q, func(c *tcpConn) { all = append(all, c.info()) })
	}
	slices.SortFunc(all, func(a, b TCPInfo) int { return compareConns(false, false, a.Local, b.Local, a.Remote, b.Remote) })
	return all
}

// walkChunk is how many connections walkConns visits per turn of a loop
// (a variable for tests).
var walkChunk = 2048

// walkConns calls fn on q's loop for each of its connections. One turn of
// the loop copies the table's pointers, which reads no connection; the
// connections are then visited walkChunk at a time, and between chunks the
// loop goes on with its work, so that a walk of a million connections
// never holds it for long. Like ss, the walk is not a snapshot: a
// connection that opens during it is missed, one that closed before its
// chunk is skipped, and fn may see a state younger than the first turn.
// (Go's map iteration cannot be resumed across turns; iter.Pull's could,
// but its coroutine may not move to a loop's locked thread.)
func (s *Stack) walkConns(q *queue, fn func(c *tcpConn)) {
	var cs []*tcpConn
	err := s.call(context.Background(), q, func(q *queue) error {
		cs = make([]*tcpConn, 0, len(q.tcp.conns))
		for _, c := range q.tcp.conns {
			cs = append(cs, c)
		}
		return nil
	})
	for len(cs) > 0 && err == nil {
		chunk := cs[:min(len(cs), walkChunk)]
		cs = cs[len(chunk):]
		err = s.call(context.Background(), q, func(q *queue) error {
			for _, c := range chunk {
				// A connection is never reused once closed.
				if c.state != stateClosed {
					fn(c)
				}
			}
			return nil
		})
	}
}

// ConnectionTable is a summary of a stack's TCP connections, like ss -s,
// with a bounded list of them.
type ConnectionTable struct {
	// States counts the connections in each state, from SYN-SENT to
	// TIME-WAIT (the names of TCPInfo.State), zeros included.
	States map[string]int
	// Total is the number of connections.
	Total int
	// Listed are some of the connections: those not in TIME-WAIT first,
	// each part by local and then remote address.
	Listed []TCPInfo
}

// ConnectionTable counts the stack's connections by state and lists up to
// list of them. Its walk of the connections spends a comparison on each
// and fills a TCPInfo only for those listed, and lets the loops work
// between chunks of it (see walkConns), so that a monitor can ask often
// of a stack with a million connections.
func (s *Stack) ConnectionTable(list int) ConnectionTable {
	list = max(list, 0)
	var counts [stateTimeWait + 1]int
	var listed []TCPInfo
	for _, q := range s.queues {
		sel := connSelection{max: list}
		s.walkConns(q, func(c *tcpConn) {
			counts[c.state]++
			sel.offer(c)
		})
		s.call(context.Background(), q, func(q *queue) error {
			for _, p := range sel.cs {
				if p.c.state != stateClosed {
					listed = append(listed, p.c.info())
				}
			}
			return nil
		})
	}
	slices.SortFunc(listed, func(a, b TCPInfo) int {
		return compareConns(a.State == "TIME-WAIT", b.State == "TIME-WAIT", a.Local, b.Local, a.Remote, b.Remote)
	})
	t := ConnectionTable{States: make(map[string]int, stateTimeWait-stateSynSent+1), Listed: listed[:min(len(listed), list)]}
	for st := stateSynSent; st <= stateTimeWait; st++ {
		t.States[st.String()] = counts[st]
		t.Total += counts[st]
	}
	return t
}

// compareConns orders connections as ConnectionTable lists them.
func compareConns(aTW, bTW bool, aLocal, bLocal, aRemote, bRemote netip.AddrPort) int {
	if aTW != bTW {
		if aTW {
			return 1
		}
		return -1
	}
	if r := aLocal.Compare(bLocal); r != 0 {
		return r
	}
	return aRemote.Compare(bRemote)
}

// connSelection keeps the first max connections offered in
// ConnectionTable's order: a max-heap by that order, whose top an earlier
// connection replaces. Each keeps the order it was offered in, as a
// connection's state may change between chunks of the walk.
type connSelection struct {
	max int
	cs  []connPick
}

// connPick is a connection offered, with whether it was in TIME-WAIT.
type connPick struct {
	c  *tcpConn
	tw bool
}

func (a connPick) compare(b connPick) int {
	return compareConns(a.tw, b.tw, a.c.key.local, b.c.key.local, a.c.key.remote, b.c.key.remote)
}

func (h *connSelection) less(i, j int) bool { return h.cs[i].compare(h.cs[j]) < 0 }

func (h *connSelection) offer(c *tcpConn) {
	p := connPick{c, c.state == stateTimeWait}
	if h.max == 0 {
		return
	}
	if len(h.cs) < h.max {
		h.cs = append(h.cs, p)
		for i := len(h.cs) - 1; i > 0; {
			up := (i - 1) / 2
			if !h.less(up, i) {
				break
			}
			h.cs[up], h.cs[i] = h.cs[i], h.cs[up]
			i = up
		}
		return
	}
	if p.compare(h.cs[0]) >= 0 {
		return
	}
	h.cs[0] = p
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.cs) && h.less(m, l) {
			m = l
		}
		if r < len(h.cs) && h.less(m, r) {
			m = r
		}
		if m == i {
			return
		}
		h.cs[m], h.cs[i] = h.cs[i], h.cs[m]
		i = m
	}
}
