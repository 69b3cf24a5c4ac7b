package benchmark

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// CRR opens a connection, exchanges a 1-byte request and response, and
// closes it, one connection at a time, for cfg.Duration; it reports
// connections per second and the latency of a whole connection. The server
// closes first, as an HTTP/1.0 server does, so TIME-WAIT stays on its side
// and the client's ports are free for reuse.
func CRR(cfg Config) (Result, error) {
	p, r, err := start("crr", &cfg)
	if err != nil {
		return r, err
	}
	defer p.Close()
	ln, err := p.Listen(port)
	if err != nil {
		return r, err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	acceptLoop(ln, &wg, answerOnce)

	ctx, cancel := context.WithTimeout(context.Background(), cfg.warmup()+cfg.Duration+10*time.Second)
	defer cancel()
	var h histogram
	var m meter
	var n uint64
	buf := make([]byte, 1)
	warm := time.Now().Add(cfg.warmup())
	end := warm.Add(cfg.Duration)
	measuring := false
	for {
		t0 := time.Now()
		if !measuring && !t0.Before(warm) {
			m.begin(p)
			measuring = true
			t0 = time.Now()
		}
		if !t0.Before(end) {
			break
		}
		if err := connectRequestResponse(ctx, p, buf); err != nil {
			return r, fmt.Errorf("crr: connection %d: %w", n, err)
		}
		if measuring {
			h.record(time.Since(t0))
			n++
		}
	}
	s := m.end()
	s.fill(&r)
	r.CPS = float64(n) / s.elapsed.Seconds()
	r.P50us = micros(h.quantile(0.50))
	r.P99us = micros(h.quantile(0.99))
	return r, nil
}

// connectRequestResponse is one CRR transaction from the client's side.
func connectRequestResponse(ctx context.Context, p Pair, buf []byte) error {
	c, err := p.Dial(ctx, port)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := transact(c, buf); err != nil {
		return err
	}
	// Wait for the server's FIN so that the client closes passively.
	if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("after the response: want EOF, got %v", err)
	}
	return nil
}

// answerOnce answers one byte and closes.
func answerOnce(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		return
	}
	c.Write(buf)
}
