package stack

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"syscall"
)

// call runs fn on q's loop and waits for it. On a Manual stack it runs fn
// at once, between two Polls.
func (s *Stack) call(ctx context.Context, q *queue, fn func(q *queue) error) error {
	if s.closing.Load() {
		return errClosed
	}
	if s.cfg.Manual {
		s.pollMu.Lock()
		defer s.pollMu.Unlock()
		return fn(q)
	}
	done := make(chan error, 1)
	q.post(func(q *queue) { done <- fn(q) })
	select {
	case err := <-done:
		return err
	case <-s.closed:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// family says which address family a network name allows: 4, 6, or 0 for
// both.
func family(network string) (proto uint8, fam int, ok bool) {
	switch network {
	case "udp":
		return protoUDP, 0, true
	case "udp4":
		return protoUDP, 4, true
	case "udp6":
		return protoUDP, 6, true
	case "ip4:icmp", "ip4:1":
		return protoICMP, 4, true
	}
	return 0, 0, false
}

// parseAddr parses "host:port" (or a bare host for raw IP networks) with
// an IP literal host; an empty host is the wildcard (zero Addr).
func parseAddr(network, address string, proto uint8, withPort bool) (netip.AddrPort, error) {
	host, portStr := address, "0"
	if withPort {
		var err error
		host, portStr, err = net.SplitHostPort(address)
		if err != nil {
			return netip.AddrPort{}, &net.AddrError{Err: "missing port in address", Addr: address}
		}
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		p, perr := net.LookupPort(network, portStr)
		if perr != nil {
			return netip.AddrPort{}, &net.AddrError{Err: "invalid port", Addr: address}
		}
		port = uint64(p)
	}
	if host == "" {
		return netip.AddrPortFrom(netip.Addr{}, uint16(port)), nil
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, &net.AddrError{Err: "not an IP address (host names need a resolver)", Addr: host}
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		a = netip.Addr{}
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// ListenPacket opens a datagram socket: "udp", "udp4" and "udp6" give a
// UDP socket bound to address (host:port; an empty host or port 0 bind to
// any address or an ephemeral port); "ip4:icmp" a raw ICMP socket that
// receives every ICMP message for its address, as golang.org/x/net/icmp
// expects. The returned conn also has SetBroadcast(bool).
func (s *Stack) ListenPacket(network, address string) (net.PacketConn, error) {
	return s.listenPacket(context.Background(), network, address, netip.AddrPort{})
}

func (s *Stack) listenPacket(ctx context.Context, network, address string, raddr netip.AddrPort) (*dgramSock, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: stringAddr{network, address}, Err: err}
	}
	proto, fam, ok := family(network)
	if !ok {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	ap, err := parseAddr(network, address, proto, proto == protoUDP)
	if err != nil {
		return nil, opErr(err)
	}
	if a := ap.Addr(); a.IsValid() {
		if fam == 4 && !a.Is4() || fam == 6 && a.Is4() {
			return nil, opErr(&net.AddrError{Err: "address family mismatch", Addr: address})
		}
		if _, own := s.shared().own[a]; !own && !a.IsLoopback() {
			return nil, opErr(syscall.EADDRNOTAVAIL)
		}
		if a.Is4() && fam == 0 {
			fam = 4
		}
	}
	q := s.queues[0]
	d := newDgramSock(s, q, network, proto, fam)
	d.laddr = ap
	d.raddr = raddr
	if err := s.call(ctx, q, func(q *queue) error { return q.bind(d) }); err != nil {
		return nil, opErr(err)
	}
	return d, nil
}

// DialContext connects to address on the named network with the signature
// of net.Dialer.DialContext. UDP ("udp", "udp4", "udp6") gives a connected
// datagram socket: it receives only from address, and an ICMP port
// unreachable in reply makes the next call fail with ECONNREFUSED.
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: stringAddr{network, address}, Err: err}
	}
	proto, fam, ok := family(network)
	if !ok || proto != protoUDP {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	ra, err := parseAddr(network, address, proto, true)
	if err != nil {
		return nil, opErr(err)
	}
	if !ra.Addr().IsValid() {
		ra = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ra.Port())
	}
	if fam == 6 && ra.Addr().Is4() {
		return nil, opErr(&net.AddrError{Err: "address family mismatch", Addr: address})
	}
	nh, ok := s.shared().lookup(ra.Addr())
	if !ok {
		return nil, opErr(syscall.ENETUNREACH)
	}
	d, err := s.listenPacket(ctx, network, netip.AddrPortFrom(nh.src, 0).String(), ra)
	if err != nil {
		return nil, opErr(err)
	}
	return d, nil
}

// Dial is DialContext without a context.
func (s *Stack) Dial(network, address string) (net.Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// stringAddr is a net.Addr for addresses that did not parse.
type stringAddr struct{ net, addr string }

func (a stringAddr) Network() string { return a.net }
func (a stringAddr) String() string  { return a.addr }

func sortedPorts(m map[uint16][]*dgramSock) []uint16 {
	ports := make([]uint16, 0, len(m))
	for p := range m {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	return ports
}

// shutdown closes a socket from the loop's side (the stack is closing).
func (d *dgramSock) shutdown() {
	d.closed.Store(true)
	d.closeOnce.Do(func() { close(d.done) })
}
