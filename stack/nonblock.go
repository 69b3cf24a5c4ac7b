package stack

import (
	"context"
	"io"
	"net"
	"net/netip"
	"syscall"
)

// NonblockingConn is a TCP connection an in-core application drives: one
// that runs in the goroutine that polls a Manual stack (a simulator's, a
// replay's) and acts between two Polls without ever waiting, so that a
// simulation stays one goroutine and byte-for-byte reproducible.
type NonblockingConn interface {
	net.Conn
	// TryRead reads what has arrived: 0 and nil when nothing has yet,
	// io.EOF after the peer's FIN, the connection's error otherwise.
	TryRead(p []byte) (int, error)
	// TryWrite copies as much of p as the send buffer takes: 0 and nil
	// while the handshake is under way or the buffer is full.
	TryWrite(p []byte) (int, error)
}

// NonblockingListener is a TCP listener an in-core application drives.
type NonblockingListener interface {
	net.Listener
	// TryAccept returns a connection whose handshake is complete, or nil
	// and nil when there is none yet.
	TryAccept() (NonblockingConn, error)
}

var (
	_ NonblockingConn     = (*tcpSock)(nil)
	_ NonblockingListener = (*tcpListener)(nil)
)

// StartDial opens a TCP connection to address (an IP literal and a port)
// and returns at once, the SYN queued for the next Poll: for in-core
// applications of a Manual stack, which cannot wait for the handshake.
func (s *Stack) StartDial(network, address string) (NonblockingConn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: stringAddr{network, address}, Err: err}
	}
	proto, fam, ok := family(network)
	if !ok || proto != protoTCP {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	ra, err := parseAddr(network, address, proto, true)
	if err != nil {
		return nil, opErr(err)
	}
	if !ra.Addr().IsValid() || fam == 6 && ra.Addr().Is4() || fam == 4 && !ra.Addr().Is4() {
		return nil, opErr(&net.AddrError{Err: "want an address of the network's family", Addr: address})
	}
	nh, ok := s.shared().lookup(ra.Addr())
	if !ok {
		return nil, opErr(syscall.ENETUNREACH)
	}
	sock, err := s.startTCP(context.Background(), network, netip.AddrPortFrom(nh.src, 0), withoutZone(ra), nh)
	if err != nil {
		return nil, opErr(err)
	}
	return sock, nil
}

// TryRead implements NonblockingConn.
func (t *tcpSock) TryRead(p []byte) (int, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	if t.closed.Load() {
		return 0, t.opError("read", net.ErrClosed)
	}
	if t.readShut.Load() {
		return 0, io.EOF
	}
	t.applyRcvGrowth()
	if n := t.readSome(p); n > 0 {
		return n, nil
	}
	if t.c.shRcvFin.Load() {
		return 0, io.EOF
	}
	if err := t.connErr(); err != nil {
		return 0, t.opError("read", err)
	}
	if tcpState(t.c.shState.Load()) == stateClosed {
		return 0, io.EOF
	}
	return 0, nil
}

// TryWrite implements NonblockingConn.
func (t *tcpSock) TryWrite(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.closed.Load() {
		return 0, t.opError("write", net.ErrClosed)
	}
	if t.writeShut.Load() {
		return 0, t.opError("write", syscall.EPIPE)
	}
	if err := t.connErr(); err != nil {
		return 0, t.opError("write", err)
	}
	switch tcpState(t.c.shState.Load()) {
	case stateSynSent, stateSynRcvd:
		return 0, nil
	case stateEstablished, stateCloseWait:
	default:
		return 0, t.opError("write", syscall.EPIPE)
	}
	t.applySndGrowth()
	n, err := t.writeSome(p)
	if err != nil {
		return 0, t.opError("write", err)
	}
	// A short write is an application waiting for room until its next
	// TryWrite, as Write waits: what auto-tuning grows the ring for.
	t.sndWaiting.Store(n < len(p))
	return n, nil
}

// TryAccept implements NonblockingListener.
func (ln *tcpListener) TryAccept() (NonblockingConn, error) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if len(ln.accepted) > 0 {
		s := ln.accepted[0]
		ln.accepted[0] = nil
		ln.accepted = ln.accepted[1:]
		return s, nil
	}
	if ln.closed.Load() {
		return nil, &net.OpError{Op: "accept", Net: ln.netw, Addr: ln.Addr(), Err: net.ErrClosed}
	}
	return nil, nil
}
