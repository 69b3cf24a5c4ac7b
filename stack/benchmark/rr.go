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

// RR exchanges 1-byte requests and responses over one connection, one
// transaction at a time, for cfg.Duration, and reports transactions per
// second and the latency of a transaction.
func RR(cfg Config) (Result, error) {
	p, r, err := start("rr", &cfg)
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
	acceptLoop(ln, &wg, echoByte)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.Dial(ctx, port)
	if err != nil {
		return r, err
	}
	defer c.Close()

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
		if err := transact(c, buf); err != nil {
			return r, fmt.Errorf("rr: %w", err)
		}
		if measuring {
			h.record(time.Since(t0))
			n++
		}
	}
	s := m.end()
	s.fill(&r)
	r.TPS = float64(n) / s.elapsed.Seconds()
	r.P50us = micros(h.quantile(0.50))
	r.P99us = micros(h.quantile(0.99))
	return r, nil
}

// transact writes a 1-byte request and reads the 1-byte response.
func transact(c net.Conn, buf []byte) error {
	buf[0]++
	want := buf[0]
	if _, err := c.Write(buf[:1]); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return err
	}
	if buf[0] != want {
		return errors.New("response is not the request")
	}
	return nil
}

// echoByte answers every byte with itself until the peer closes.
func echoByte(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}
