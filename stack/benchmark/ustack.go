package benchmark

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/faults"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack"
)

// UStack is ustack: two real-time stacks (each with its loop on its own
// goroutine) on the two ends of an in-memory pipe.
var UStack = Stack{Name: "ustack", New: newUStackPair}

var (
	clientAddr = netip.MustParsePrefix("10.0.0.1/24")
	serverAddr = netip.MustParsePrefix("10.0.0.2/24")
)

type ustackPair struct {
	client, server *stack.Stack
}

func newUStackPair(l Link) (Pair, error) {
	if l.MTU == 0 {
		l.MTU = 1500
	}
	pa, pb, err := pipe.New(pipe.Config{MTU: l.MTU, Offloads: l.Offload})
	if err != nil {
		return nil, err
	}
	var ea, eb backend.Backend = pa, pb
	if l.Loss > 0 {
		// Frames leaving each end are lost; the other end's receive
		// path is the wire's far side.
		spec := faults.Spec{Tx: faults.Dir{Loss: l.Loss}}
		clock := backend.NewRealClock()
		if ea, err = faults.Wrap(pa, spec, 1, clock); err == nil {
			eb, err = faults.Wrap(pb, spec, 2, clock)
		}
		if err != nil {
			pa.Close()
			pb.Close()
			return nil, err
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Backend: ea, Addrs: []netip.Prefix{clientAddr}}}, Seed: 1, Logger: quiet})
	if err != nil {
		ea.Close()
		eb.Close()
		return nil, err
	}
	server, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Backend: eb, Addrs: []netip.Prefix{serverAddr}}}, Seed: 2, Logger: quiet})
	if err != nil {
		client.Close()
		eb.Close()
		return nil, err
	}
	return &ustackPair{client: client, server: server}, nil
}

func (p *ustackPair) Listen(port uint16) (net.Listener, error) {
	return p.server.Listen("tcp", ":"+strconv.Itoa(int(port)))
}

func (p *ustackPair) Dial(ctx context.Context, port uint16) (net.Conn, error) {
	return p.client.DialContext(ctx, "tcp", netip.AddrPortFrom(serverAddr.Addr(), port).String())
}

// Frames counts what the stacks handed to the link: every frame crosses
// it once.
func (p *ustackPair) Frames() uint64 {
	return p.client.Counters().Link.OutFrames + p.server.Counters().Link.OutFrames
}

func (p *ustackPair) Close() error {
	return errors.Join(p.client.Close(), p.server.Close())
}
