package stack

import (
	"context"
	"net"
	"net/netip"
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
		in.SendBuffer = sb.Cap()
	}
	if rb := c.rcvBuf.Load(); rb != nil {
		in.RecvQueue = rb.Len()
		in.RecvBuffer = rb.Cap()
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

// Connections lists every TCP connection of the stack, like ss.
func (s *Stack) Connections() []TCPInfo {
	var all []TCPInfo
	for _, q := range s.queues {
		s.call(context.Background(), q, func(q *queue) error {
			for _, c := range q.tcp.sortedConns() {
				all = append(all, c.info())
			}
			return nil
		})
	}
	return all
}
