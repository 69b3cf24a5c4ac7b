package benchmark

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Conns opens cfg.Conns connections and leaves them idle, established on
// both ends, and reports the growth of HeapInuse+StackInuse per connection
// (client and server ends together). The applications hold the net.Conns
// without goroutines reading them, so what grows is the stacks' own state.
// Then each connection carries a request and its answer (usedMsg bytes
// each way), as a keep-alive HTTP connection does between requests, and it
// reports the growth again, over the same start: what a connection that
// was used and is idle again costs.
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

	req, ans := make([]byte, usedMsg), make([]byte, usedMsg)
	for i := 1; i <= n; i++ {
		if err := exchange(clients[i], servers[i], req, ans); err != nil {
			return r, fmt.Errorf("conns: request on connection %d: %w", i-1, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	r.BytesPerUsedConn = (float64(memInUse()) - float64(before)) / float64(n)
	return r, nil
}

// usedMsg is the size of the request and of the answer each connection
// carries: an HTTP request's and a small response's.
const usedMsg = 200

// exchange sends req from client to server and ans back, reading each in
// full.
func exchange(client, server net.Conn, req, ans []byte) error {
	if _, err := client.Write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(server, req); err != nil {
		return err
	}
	if _, err := server.Write(ans); err != nil {
		return err
	}
	_, err := io.ReadFull(client, ans)
	return err
}
