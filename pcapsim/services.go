package pcapsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/ustack/ustack/stack"
	"github.com/ustack/ustack/stack/services"
)

// The built-in services of `ustack serve`, in-core: they run in the
// goroutine that steps a replay or a simulated network, so that what the
// stack sends depends on nothing but the input and the seed. Each takes a
// listener of a Manual stack and returns the App that serves it.

// Echo serves TCP echo (RFC 862) in-core: what a connection sends comes
// back; its FIN is answered with a FIN once everything is echoed.
func Echo(ln net.Listener) (App, error) {
	return serveInCore(ln, func() handler { return &echoHandler{} })
}

// Discard serves TCP discard (RFC 863) in-core.
func Discard(ln net.Listener) (App, error) {
	return serveInCore(ln, func() handler { return discardHandler{} })
}

// HTTP serves the HTTP service of `ustack serve` in-core, HTTP/1.1 with
// keep-alive: GET / a short banner, GET /bytes/N N pseudo-random bytes
// with X-Sha256, POST /sha256 the SHA-256 of the body; anything else 404
// or 400. Files (--root) are not served in-core.
func HTTP(ln net.Listener) (App, error) {
	return serveInCore(ln, func() handler { return &httpHandler{} })
}

// handler is the protocol of an in-core service on one connection: it is
// given what arrived and says what to send.
type handler interface {
	// input takes bytes received (eof: the peer closed its side) and
	// queues the answer on out; done reports that the connection should
	// be closed once out is sent.
	input(p []byte, eof bool, out *outQueue) (done bool)
}

// outQueue is what a connection has to send: readers drained in order.
type outQueue struct{ rs []io.Reader }

func (o *outQueue) bytes(b []byte) {
	if len(b) > 0 {
		o.rs = append(o.rs, bytes.NewReader(bytes.Clone(b)))
	}
}
func (o *outQueue) reader(r io.Reader) { o.rs = append(o.rs, r) }
func (o *outQueue) empty() bool        { return len(o.rs) == 0 }

type inCoreConn struct {
	c       stack.NonblockingConn
	h       handler
	out     outQueue
	pending []byte // read from out.rs, not yet taken by the send buffer
	eof     bool
	done    bool
}

// serveInCore accepts on ln and runs a handler per connection.
func serveInCore(ln net.Listener, newHandler func() handler) (App, error) {
	nl, ok := ln.(stack.NonblockingListener)
	if !ok {
		return nil, fmt.Errorf("pcapsim: in-core services need a listener of the stack, not %T", ln)
	}
	var conns []*inCoreConn
	buf := make([]byte, 64<<10)
	return func(now int64) int64 {
		for {
			c, err := nl.TryAccept()
			if err != nil || c == nil {
				break
			}
			conns = append(conns, &inCoreConn{c: c, h: newHandler()})
		}
		live := conns[:0]
		for _, ic := range conns {
			if ic.step(buf) {
				live = append(live, ic)
			} else {
				ic.c.Close()
			}
		}
		clear(conns[len(live):])
		conns = live
		return 0
	}, nil
}

// step moves what it can and reports whether the connection lives on.
func (ic *inCoreConn) step(buf []byte) bool {
	for !ic.eof && !ic.done {
		n, err := ic.c.TryRead(buf)
		if n == 0 && err == nil {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return false
		}
		ic.eof = err != nil
		ic.done = ic.h.input(buf[:n], ic.eof, &ic.out)
	}
	for {
		if len(ic.pending) == 0 {
			if ic.out.empty() {
				break
			}
			n, err := ic.out.rs[0].Read(buf)
			if err != nil {
				ic.out.rs = ic.out.rs[1:]
			}
			ic.pending = append(ic.pending[:0], buf[:n]...)
			continue
		}
		n, err := ic.c.TryWrite(ic.pending)
		if err != nil {
			return false
		}
		if n == 0 {
			return true
		}
		ic.pending = ic.pending[n:]
	}
	if ic.done || ic.eof {
		// Everything answered: close, with FIN.
		return false
	}
	return true
}

type echoHandler struct{}

func (*echoHandler) input(p []byte, eof bool, out *outQueue) bool {
	out.bytes(p)
	return false
}

type discardHandler struct{}

func (discardHandler) input([]byte, bool, *outQueue) bool { return false }

// httpHandler parses HTTP/1.1 requests, pipelined or not, and answers
// them in order.
type httpHandler struct {
	in       []byte
	body     int64     // body bytes of the current POST still to come
	sum      hash.Hash // of a POST /sha256 body; nil for a body skipped
	inBody   bool
	closeReq bool // the current request asked to close
}

// maxHeader bounds a request's head: longer heads are refused.
const maxHeader = 16 << 10

func (h *httpHandler) input(p []byte, eof bool, out *outQueue) bool {
	h.in = append(h.in, p...)
	for {
		if h.inBody {
			n := min(int64(len(h.in)), h.body)
			if h.sum != nil {
				h.sum.Write(h.in[:n])
			}
			h.in, h.body = h.in[n:], h.body-n
			if h.body > 0 {
				return eof
			}
			h.inBody = false
			if h.sum != nil {
				out.bytes(response(200, "text/plain", hex.EncodeToString(h.sum.Sum(nil))+"\n", h.closeReq))
			}
			if h.closeReq {
				return true
			}
			continue
		}
		end, skip := headEnd(h.in)
		if end < 0 {
			// A bad request line is answered once it is whole, before
			// any header, as net/http does.
			if i := bytes.IndexByte(h.in, '\n'); i >= 0 {
				if _, _, _, ok := requestLine(string(h.in[:i])); !ok {
					out.bytes(response(400, "text/plain", "bad request line\n", true))
					return true
				}
			}
			if len(h.in) > maxHeader {
				out.bytes(response(431, "text/plain", "request header too large\n", true))
				return true
			}
			return eof
		}
		head := strings.ReplaceAll(string(h.in[:end]), "\r\n", "\n")
		h.in = h.in[end+skip:]
		if done := h.request(head, out); done {
			return true
		}
	}
}

// headEnd finds the empty line that ends a request head: CRLF CRLF, or
// bare LFs, which servers accept (RFC 9112 §2.2). It returns the head's
// length and that of the empty line's terminator, or -1.
func headEnd(b []byte) (end, skip int) {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i, 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i, 3
		}
	}
	return -1, 0
}

// request answers one request head; it reports whether the connection
// ends with it.
func (h *httpHandler) request(head string, out *outQueue) bool {
	lines := strings.Split(head, "\n")
	method, path, version, ok := requestLine(lines[0])
	if !ok {
		out.bytes(response(400, "text/plain", "bad request line\n", true))
		return true
	}
	if version[len("HTTP/")] != '1' {
		out.bytes(response(505, "text/plain", "unsupported protocol version\n", true))
		return true
	}
	h.closeReq = version == "HTTP/1.0"
	var length int64
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "connection":
			h.closeReq = strings.EqualFold(v, "close") || h.closeReq && !strings.EqualFold(v, "keep-alive")
		case "content-length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				out.bytes(response(400, "text/plain", "bad content-length\n", true))
				return true
			}
			length = n
		}
	}
	switch {
	case method == "POST" && path == "/sha256":
		h.sum, h.body, h.inBody = sha256.New(), length, true
		return false
	case method == "GET" && path == "/":
		out.bytes(response(200, "text/plain; charset=utf-8", "ustack: a userspace TCP/IP stack in Go\n", h.closeReq))
	case method == "GET" && strings.HasPrefix(path, "/bytes/"):
		n, err := strconv.ParseInt(path[len("/bytes/"):], 10, 64)
		if err != nil || n < 0 || n > services.MaxBytes {
			out.bytes(response(400, "text/plain", fmt.Sprintf("bad byte count %q\n", path[len("/bytes/"):]), h.closeReq))
			break
		}
		out.bytes(fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nX-Sha256: %s\r\n%s\r\n", n, services.BytesSHA256(n), connectionHeader(h.closeReq)))
		out.reader(services.NewBytes(n))
	default:
		// A body we do not want is skipped.
		h.sum, h.body, h.inBody = nil, length, length > 0
		out.bytes(response(404, "text/plain", "404 page not found\n", h.closeReq))
		if h.inBody {
			return false
		}
	}
	return h.closeReq
}

// requestLine splits a request line (RFC 9112 §3) into its method,
// target and version, HTTP/ and a digit, a dot and a digit.
func requestLine(line string) (method, target, version string, ok bool) {
	parts := strings.Fields(line)
	if len(parts) != 3 {
		return "", "", "", false
	}
	v := parts[2]
	if len(v) != len("HTTP/1.1") || !strings.HasPrefix(v, "HTTP/") || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return "", "", "", false
	}
	return parts[0], parts[1], v, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func connectionHeader(close bool) string {
	if close {
		return "Connection: close\r\n"
	}
	return ""
}

func response(code int, ctype, body string, close bool) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s", code, http.StatusText(code), ctype, len(body), connectionHeader(close), body)
}
