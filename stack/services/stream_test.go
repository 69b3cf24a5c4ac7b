package services

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A copy's buffer grows from 2 KiB while reads fill it, and the bytes
// come through whole and in order.
func TestCopyGrowing(t *testing.T) {
	data := make([]byte, 1<<20+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var out strings.Builder
	r := &countingReader{r: strings.NewReader(string(data))}
	copyGrowing(&out, r)
	assert.Equal(t, string(data), out.String())
	assert.Equal(t, 64<<10, r.largest, "the buffer grew to 64 KiB")
	assert.Less(t, r.reads, 30, "and the copy read in long reads")
}

type countingReader struct {
	r              io.Reader
	reads, largest int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	c.largest = max(c.largest, len(p))
	return c.r.Read(p)
}

// echoConn is a datagram socket that names peers with netip addresses and
// answers every read with one datagram from peer; it counts what it sent.
type echoConn struct {
	net.PacketConn
	peer        netip.AddrPort
	left, wrote int
}

func (e *echoConn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	if e.left == 0 {
		return 0, netip.AddrPort{}, net.ErrClosed
	}
	e.left--
	return copy(p, "ping"), e.peer, nil
}

func (e *echoConn) WriteToUDPAddrPort(p []byte, to netip.AddrPort) (int, error) {
	if to == e.peer && string(p) == "ping" {
		e.wrote++
	}
	return len(p), nil
}

// UDP echo through netip addresses answers each datagram to its sender and
// allocates nothing per datagram.
func TestUDPEchoWithAddrPorts(t *testing.T) {
	const n = 1000
	e := &echoConn{peer: netip.MustParseAddrPort("10.0.0.1:4000"), left: n}
	allocs := testing.AllocsPerRun(1, func() {
		e.left, e.wrote = n, 0
		assert.NoError(t, UDPEcho(e))
	})
	assert.Equal(t, n, e.wrote)
	assert.LessOrEqual(t, allocs, 2.0, "the buffer, not one per datagram")
}
