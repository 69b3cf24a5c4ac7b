package services

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Serve accepts connections on ln and runs handle on each in its own
// goroutine until ln is closed; it then waits for the handlers.
func Serve(ln net.Listener, handle func(net.Conn)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			handle(c)
		}()
	}
}

// Echo writes back what it reads (RFC 862).
func Echo(c net.Conn) {
	io.CopyBuffer(c, c, make([]byte, 64<<10))
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// Discard reads and drops everything (RFC 863).
func Discard(c net.Conn) { io.CopyBuffer(io.Discard, c, make([]byte, 64<<10)) }

// UDPEcho answers every datagram with itself (RFC 862) until pc is closed.
func UDPEcho(pc net.PacketConn) error {
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		pc.WriteTo(buf[:n], from)
	}
}
