package benchmark

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// bulkChunk is what the sender writes and the receiver reads per call, as
// iperf3's default 128 KiB.
const bulkChunk = 128 << 10

// Bulk moves data from the client to the server over one connection for
// cfg.Duration and reports the goodput per wall-second and per
// CPU-second.
func Bulk(cfg Config) (Result, error) {
	p, r, err := start("bulk", &cfg)
	if err != nil {
		return r, err
	}
	defer p.Close()
	ln, err := p.Listen(port)
	if err != nil {
		return r, err
	}
	defer ln.Close()

	var received atomic.Int64
	var wg sync.WaitGroup
	srvErr := make(chan error, 1)
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		buf := make([]byte, bulkChunk)
		for {
			n, err := c.Read(buf)
			received.Add(int64(n))
			if err != nil {
				if !errors.Is(err, io.EOF) {
					srvErr <- fmt.Errorf("receiver: %w", err)
				}
				return
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.Dial(ctx, port)
	if err != nil {
		return r, err
	}
	var stop atomic.Bool
	cliErr := make(chan error, 1)
	wg.Go(func() {
		buf := make([]byte, bulkChunk)
		for i := range buf {
			buf[i] = byte(i)
		}
		for !stop.Load() {
			if _, err := c.Write(buf); err != nil {
				if !stop.Load() {
					cliErr <- fmt.Errorf("sender: %w", err)
				}
				break
			}
		}
		c.Close()
	})

	time.Sleep(cfg.warmup())
	var m meter
	m.begin(p)
	before := received.Load()
	time.Sleep(cfg.Duration)
	moved := received.Load() - before
	s := m.end()
	stop.Store(true)
	// A sender blocked on a receiver that failed gives up.
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	wg.Wait()

	select {
	case err := <-cliErr:
		return r, err
	case err := <-srvErr:
		return r, err
	default:
	}
	if moved == 0 {
		return r, errors.New("bulk: no data moved")
	}
	s.fill(&r)
	bits := float64(moved) * 8
	r.GbitPerS = bits / s.elapsed.Seconds() / 1e9
	if s.cpu > 0 {
		r.GbitPerCPUS = bits / s.cpu.Seconds() / 1e9
	}
	return r, nil
}

// acceptLoop accepts until the listener closes, handing each connection to
// serve on its own goroutine, as a Go server does.
func acceptLoop(ln net.Listener, wg *sync.WaitGroup, serve func(net.Conn)) {
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serve(c) })
		}
	})
}
