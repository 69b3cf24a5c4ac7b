package benchmark

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Conns opens cfg.Conns connections and leaves them idle, established on
// both ends, and reports the growth of HeapInuse+StackInuse per connection
// (client and server ends together). The applications hold the net.Conns
// without goroutines reading them, so what grows is the stacks' own state.
func Conns(cfg Config) (Result, error) {
	p, r, err := start("conns", &cfg)
	if err != nil {
		return r, err
	}
	defer p.Close()
	ln, err := p.Listen(port)
	if err != nil {
		return r, err
	}
	defer ln.Close()
	n := cfg.Conns
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(n)*time.Millisecond)
	defer cancel()

	// One connection first, so that neighbours are resolved and the
	// listener is warm; it stays open and is not counted.
	accepted := make(chan net.Conn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()
	clients := make([]net.Conn, 0, n+1)
	servers := make([]net.Conn, 0, n+1)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		for _, c := range servers {
			c.Close()
		}
	}()
	open := func() error {
		c, err := p.Dial(ctx, port)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		// Accept keeps pace with Dial so the accept queue stays short.
		select {
		case s := <-accepted:
			servers = append(servers, s)
		case err := <-acceptErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	if err := open(); err != nil {
		return r, fmt.Errorf("conns: %w", err)
	}
	time.Sleep(50 * time.Millisecond)

	before := memInUse()
	var m meter
	m.begin(p)
	for i := range n {
		if err := open(); err != nil {
			return r, fmt.Errorf("conns: connection %d: %w", i, err)
		}
	}
	s := m.end()
	// Let the last handshakes' delayed ACKs and timers settle.
	time.Sleep(100 * time.Millisecond)
	after := memInUse()

	s.fill(&r)
	r.Conns = n
	r.CPS = float64(n) / s.elapsed.Seconds()
	r.BytesPerConn = (float64(after) - float64(before)) / float64(n)
	return r, nil
}
