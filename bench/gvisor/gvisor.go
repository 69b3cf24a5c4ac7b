// Package gvisor runs ustack's benchmark scenarios on gVisor's netstack:
// two stacks joined by an in-memory Ethernet link with the ustack pipe's
// semantics, applications on gonet's net.Conn.
package gvisor

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/ustack/ustack/stack/benchmark"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// Stack is gVisor's netstack with its default settings.
var Stack = benchmark.Stack{Name: "gvisor", New: newPair}

const nic tcpip.NICID = 1

var (
	clientAddr = netip.MustParsePrefix("10.0.0.1/24")
	serverAddr = netip.MustParsePrefix("10.0.0.2/24")
)

type pair struct {
	client, server *stack.Stack
	frames         func() uint64
}

func newPair(l benchmark.Link) (benchmark.Pair, error) {
	if l.MTU == 0 {
		l.MTU = 1500
	}
	ea, eb := newLink(l.MTU, l.Offload, l.Loss)
	client, err := newStack(ea, clientAddr)
	if err != nil {
		ea.Close()
		eb.Close()
		return nil, err
	}
	server, err := newStack(eb, serverAddr)
	if err != nil {
		client.Destroy()
		eb.Close()
		return nil, err
	}
	return &pair{client: client, server: server, frames: ea.frames.Load}, nil
}

func newStack(ep *endpoint, addr netip.Prefix) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	if err := s.CreateNIC(nic, ethernet.New(ep)); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("gvisor: create nic: %s", err)
	}
	pa := tcpip.ProtocolAddress{
		Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{
			Address:   tcpip.AddrFromSlice(addr.Addr().AsSlice()),
			PrefixLen: addr.Bits(),
		},
	}
	if err := s.AddProtocolAddress(nic, pa, stack.AddressProperties{}); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("gvisor: add address %v: %s", addr, err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: nic}})
	return s, nil
}

func (p *pair) Listen(port uint16) (net.Listener, error) {
	ln, err := gonet.ListenTCP(p.server, tcpip.FullAddress{NIC: nic, Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	return listener{ln}, nil
}

func (p *pair) Dial(ctx context.Context, port uint16) (net.Conn, error) {
	to := tcpip.FullAddress{NIC: nic, Addr: tcpip.AddrFromSlice(serverAddr.Addr().AsSlice()), Port: port}
	c, err := gonet.DialContextTCP(ctx, p.client, to, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (p *pair) Frames() uint64 { return p.frames() }

func (p *pair) Close() error {
	p.client.Close()
	p.server.Close()
	p.client.Wait()
	p.server.Wait()
	return nil
}

// listener makes Close unblock Accept, as net.Listener's contract asks.
type listener struct{ *gonet.TCPListener }

func (l listener) Close() error {
	l.Shutdown()
	return l.TCPListener.Close()
}
