package stack

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// call runs fn on q's loop and waits for it. On a Manual stack it runs fn
// at once, between two Polls, and wakes the stack's driver.
func (s *Stack) call(ctx context.Context, q *queue, fn func(q *queue) error) error {
	if s.closing.Load() {
		return errClosed
	}
	if s.cfg.Manual {
		s.pollMu.Lock()
		defer s.pollMu.Unlock()
		// fn may have queued frames: the driver is to poll soon.
		defer s.wake(q)
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
	case "ip6:ipv6-icmp", "ip6:58":
		return protoICMPv6, 6, true
	case "tcp":
		return protoTCP, 0, true
	case "tcp4":
		return protoTCP, 4, true
	case "tcp6":
		return protoTCP, 6, true
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
		if strings.HasSuffix(network, "6") {
			host = "::1"
		}
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
// expects, and "ip6:ipv6-icmp" its ICMPv6 twin, which fills in the
// checksums of what it sends (RFC 3542 §3.1). IPv6 addresses go in
// brackets, with an optional zone ("[fe80::1%eth0]:53"). The returned conn
// also has SetBroadcast(bool).
func (s *Stack) ListenPacket(network, address string) (net.PacketConn, error) {
	return s.listenPacket(context.Background(), network, address, netip.AddrPort{})
}

func (s *Stack) listenPacket(ctx context.Context, network, address string, raddr netip.AddrPort) (*dgramSock, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: stringAddr{network, address}, Err: err}
	}
	proto, fam, ok := family(network)
	if !ok || proto == protoTCP {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	ap, err := parseAddr(network, address, proto, proto == protoUDP)
	if err != nil {
		return nil, opErr(err)
	}
	ap = withoutZone(ap)
	if a := ap.Addr(); a.IsValid() {
		if err := s.bindable(a, fam, address); err != nil {
			return nil, opErr(err)
		}
		if a.Is4() && fam == 0 {
			fam = 4
		}
	}
	d, err := s.openDgram(ctx, network, proto, fam, ap, raddr)
	if err != nil {
		return nil, opErr(err)
	}
	return d, nil
}

// openDgram opens a datagram socket bound to laddr. It sends from its own
// queue; every queue delivers to it, so queue 0 binds (concurrent binds
// meet in one table) and the others add it to their tables.
func (s *Stack) openDgram(ctx context.Context, network string, proto uint8, fam int, laddr, raddr netip.AddrPort) (*dgramSock, error) {
	d := newDgramSock(s, s.pickQueue(), network, proto, fam)
	d.laddr = laddr
	d.raddr = raddr
	if err := s.call(ctx, s.queues[0], func(q *queue) error { return q.bind(d) }); err != nil {
		return nil, err
	}
	for _, q := range s.queues[1:] {
		if err := s.call(ctx, q, func(q *queue) error { q.addDgram(d); return nil }); err != nil {
			return nil, err
		}
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
	if !ok || proto == protoICMP {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	ra, err := parseAddr(network, address, proto, true)
	if err != nil {
		return nil, opErr(err)
	}
	if !ra.Addr().IsValid() {
		ra = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ra.Port())
		if fam == 6 {
			ra = netip.AddrPortFrom(netip.IPv6Loopback(), ra.Port())
		}
	}
	if fam == 6 && ra.Addr().Is4() || fam == 4 && !ra.Addr().Is4() {
		return nil, opErr(&net.AddrError{Err: "address family mismatch", Addr: address})
	}
	// The zone of a link-local address picks the interface; connections
	// and sockets know addresses without it.
	nh, ok := s.shared().lookup(ra.Addr())
	if !ok {
		return nil, opErr(syscall.ENETUNREACH)
	}
	ra = withoutZone(ra)
	if proto == protoTCP {
		c, err := s.dialTCP(ctx, network, netip.AddrPortFrom(nh.src, 0), ra, nh)
		if err != nil {
			return nil, opErr(err)
		}
		return c, nil
	}
	d, err := s.listenPacket(ctx, network, netip.AddrPortFrom(nh.src, 0).String(), ra)
	if err != nil {
		return nil, opErr(err)
	}
	return d, nil
}

// startTCP opens a connection on a queue's loop: the SYN is sent, the
// handshake is under way.
func (s *Stack) startTCP(ctx context.Context, network string, local, remote netip.AddrPort, nh nextHop) (*tcpSock, error) {
	q := s.pickQueue()
	sock := newTCPSock(s, q, network, nil)
	sock.nodelay = true // Go's default
	err := s.call(ctx, q, func(q *queue) error {
		c, err := q.connect(sock, local, remote, nh)
		if err != nil {
			return err
		}
		sock.c = c
		sock.laddr, sock.raddr = c.key.local, c.key.remote
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sock, nil
}

// dialTCP opens a connection and waits for the handshake.
func (s *Stack) dialTCP(ctx context.Context, network string, local, remote netip.AddrPort, nh nextHop) (*tcpSock, error) {
	sock, err := s.startTCP(ctx, network, local, remote, nh)
	if err != nil {
		return nil, err
	}
	select {
	case <-sock.estab:
	case <-ctx.Done():
		c := sock.c
		sock.q.post(func(q *queue) { c.destroy() })
		return nil, ctx.Err()
	case <-s.closed:
		return nil, errClosed
	}
	if err := sock.connErr(); err != nil {
		return nil, err
	}
	if tcpState(sock.c.shState.Load()) == stateClosed {
		return nil, syscall.ECONNRESET
	}
	return sock, nil
}

// Listen listens for TCP connections on address ("tcp", "tcp4", "tcp6";
// host:port, an empty host for every address, port 0 for an ephemeral
// one). The backlog bounds both the half-open and the accept queue.
func (s *Stack) Listen(network, address string) (net.Listener, error) {
	return s.ListenBacklog(network, address, 1024)
}

// ListenBacklog is Listen with an explicit backlog (listen(2)'s).
func (s *Stack) ListenBacklog(network, address string, backlog int) (net.Listener, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: stringAddr{network, address}, Err: err}
	}
	proto, fam, ok := family(network)
	if !ok || proto != protoTCP {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	// As listen(2): the backlog is at least one and at most the limit
	// (Linux's somaxconn).
	backlog = min(max(backlog, 1), s.cfg.Limits.AcceptBacklog)
	ap, err := parseAddr(network, address, proto, true)
	if err != nil {
		return nil, opErr(err)
	}
	ap = withoutZone(ap)
	if a := ap.Addr(); a.IsValid() {
		if err := s.bindable(a, fam, address); err != nil {
			return nil, opErr(err)
		}
	}
	ln := &tcpListener{
		s: s, netw: network, fam: fam, laddr: ap, backlog: backlog,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	ctx := context.Background()
	if err := s.call(ctx, s.queues[0], func(q *queue) error { return q.bindListener(ln) }); err != nil {
		return nil, opErr(err)
	}
	for _, q := range s.queues[1:] {
		if err := s.call(ctx, q, func(q *queue) error { q.addListener(ln); return nil }); err != nil {
			return nil, opErr(err)
		}
	}
	return ln, nil
}

// Dial is DialContext without a context.
func (s *Stack) Dial(network, address string) (net.Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// bindable checks that a socket of family fam may bind to a (given as
// address): the family matches and the stack owns it.
func (s *Stack) bindable(a netip.Addr, fam int, address string) error {
	if fam == 4 && !a.Is4() || fam == 6 && a.Is4() {
		return &net.AddrError{Err: "address family mismatch", Addr: address}
	}
	if s.shared().own.get(a) == nil && !a.IsLoopback() {
		return syscall.EADDRNOTAVAIL
	}
	return nil
}

// withoutZone drops the zone of an IPv6 address: it names an interface
// for a route lookup, and nothing else keeps it.
func withoutZone(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
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
