package services

import (
	"errors"
	"io"
	"net"
	"net/netip"
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
	copyGrowing(c, c)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// Discard reads and drops everything (RFC 863).
func Discard(c net.Conn) { copyGrowing(io.Discard, c) }

// copyGrowing copies r to w until r ends or either fails, through a
// buffer that starts at 2 KiB and doubles, up to 64 KiB, each time a read
// fills it: an idle or interactive connection holds 2 KiB for its life
// (10,000 of them 20 MB, not 640), a bulk one soon reads 64 KiB at a time.
func copyGrowing(w io.Writer, r io.Reader) {
	buf := make([]byte, 2<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if n == len(buf) && len(buf) < 64<<10 {
				buf = make([]byte, 2*len(buf))
			}
		}
		if err != nil {
			return
		}
	}
}

// UDPEcho answers every datagram with itself (RFC 862) until pc is closed.
// A socket with netip addresses (ustack's, net.UDPConn) is served without
// an allocation per datagram.
func UDPEcho(pc net.PacketConn) error {
	if ap, ok := pc.(addrPortConn); ok {
		return echoDatagrams(ap.ReadFromUDPAddrPort, ap.WriteToUDPAddrPort)
	}
	return echoDatagrams(pc.ReadFrom, pc.WriteTo)
}

// echoDatagrams sends back every datagram read to where it came from,
// until the socket is closed.
func echoDatagrams[A any](read func([]byte) (int, A, error), write func([]byte, A) (int, error)) error {
	buf := make([]byte, 65536)
	for {
		n, from, err := read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		write(buf[:n], from)
	}
}

// addrPortConn is a datagram socket that names peers with netip.AddrPort.
type addrPortConn interface {
	ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(p []byte, addr netip.AddrPort) (int, error)
}
