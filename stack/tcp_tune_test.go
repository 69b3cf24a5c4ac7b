package stack

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend/pipe"
)

// tunedTransfer sends data from p.a to p.b, the receiver reading with
// read (nil: io.ReadAll), set running on each end's socket before any data
// moves, and returns both sockets' TCP_INFO taken before they close and
// the largest window the sender saw while it wrote. The data must arrive
// whole.
func tunedTransfer(t *testing.T, p *pair, data []byte, set func(c *tcpSock), read func(c net.Conn) []byte) (cl, srv TCPInfo, maxWnd int) {
	t.Helper()
	ln, err := p.b.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	type result struct {
		b  []byte
		in TCPInfo
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{}
			return
		}
		defer c.Close()
		set(c.(*tcpSock))
		if read == nil {
			read = func(c net.Conn) []byte { b, _ := io.ReadAll(c); return b }
		}
		b := read(c)
		in, _ := c.(*tcpSock).Info()
		got <- result{b, in}
	}()
	c, err := p.a.Dial("tcp", "10.0.0.2:80")
	require.NoError(t, err)
	set(c.(*tcpSock))
	wrote := make(chan struct{})
	seen := make(chan int, 1)
	go func() {
		m := 0
		for {
			if in, err := c.(*tcpSock).Info(); err == nil {
				m = max(m, in.SendWindow)
			}
			select {
			case <-wrote:
				seen <- m
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	_, err = c.Write(data)
	close(wrote)
	maxWnd = <-seen
	require.NoError(t, err)
	cl, err = c.(*tcpSock).Info()
	require.NoError(t, err)
	require.NoError(t, c.Close())
	select {
	case r := <-got:
		require.Equal(t, sha256.Sum256(data), sha256.Sum256(r.b), "data arrived whole")
		return cl, r.in, maxWnd
	case <-time.After(30 * time.Second):
		t.Fatal("transfer hung")
	}
	return cl, srv, maxWnd
}

// A bulk transfer grows both buffers from 256 KiB towards the 4 MiB
// maximum (both rings are swapped for larger ones while data flows, with
// frames sent by reference and frames held on the virtio link), and the
// SYN's window scale covers the maximum.
func TestTCPBuffersAutoTune(t *testing.T) {
	for _, mtu := range []int{1500, 65535} {
		t.Run(fmt.Sprint(mtu), func(t *testing.T) { autoTune(t, mtu) })
	}
}

func autoTune(t *testing.T, mtu int) {
	pipeModes(t, pipe.Config{MTU: mtu}, func(t *testing.T, p *pair) {
		cl, srv, wnd := tunedTransfer(t, p, randomBytes(3, 48<<20), func(*tcpSock) {}, nil)
		assert.Greater(t, cl.SendBuffer, 256<<10, "the sender's buffer grew")
		assert.LessOrEqual(t, cl.SendBuffer, 4<<20)
		assert.Greater(t, srv.RecvBuffer, 256<<10, "the receiver's buffer grew")
		assert.LessOrEqual(t, srv.RecvBuffer, 4<<20)
		assert.Equal(t, 256<<10, cl.RecvBuffer, "nothing came the other way")
		assert.Equal(t, 256<<10, srv.SendBuffer)
		assert.Greater(t, wnd, 256<<10, "the grown receive buffer was advertised")
	})
}

// A size the application set is kept: SetReadBuffer and SetWriteBuffer
// turn tuning off, as SO_RCVBUF and SO_SNDBUF do on Linux.
func TestTCPBuffersSetByApplicationStay(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		set := func(c *tcpSock) {
			require.NoError(t, c.SetReadBuffer(512<<10))
			require.NoError(t, c.SetWriteBuffer(512<<10))
		}
		cl, srv, wnd := tunedTransfer(t, p, randomBytes(4, 32<<20), set, nil)
		assert.Equal(t, 512<<10, cl.SendBuffer)
		assert.Equal(t, 512<<10, srv.RecvBuffer)
		assert.LessOrEqual(t, wnd, 512<<10)
	})
}

// A reader that takes a little now and then reads far less per round
// trip than a window: its buffer does not grow, whatever the sender does.
func TestTCPBuffersSlowReaderStaysSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("reads for a second: skipped with -short")
	}
	p := newPair(t, pipe.Config{}, nil)
	defer p.close(t)
	slow := func(c net.Conn) []byte {
		var all []byte
		buf := make([]byte, 2<<10)
		for {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				return all
			}
			time.Sleep(time.Millisecond)
		}
	}
	_, srv, _ := tunedTransfer(t, p, randomBytes(5, 1<<20), func(*tcpSock) {}, slow)
	assert.Equal(t, 256<<10, srv.RecvBuffer)
}

// Tuning's maxima are checked against the sizes connections start with
// and against the socket buffer limit, and a maximum equal to the start
// size turns tuning off and keeps the window scale small.
func TestTCPBufferMaxConfig(t *testing.T) {
	newStack := func(tcp TCPConfig, lim LimitsConfig) (*Stack, error) {
		ea, _, err := pipe.New(pipe.Config{})
		require.NoError(t, err)
		return New(Config{
			Interfaces: []InterfaceConfig{{Backend: ea, Addrs: []netip.Prefix{addrA}}},
			TCP:        tcp, Limits: lim, Logger: quietLogger(),
		})
	}
	_, err := newStack(TCPConfig{RecvBuffer: 1 << 20, RecvBufferMax: 512 << 10}, LimitsConfig{})
	assert.ErrorContains(t, err, "tcp recv buffer max 524288: below the recv buffer 1048576")
	_, err = newStack(TCPConfig{SendBufferMax: 32 << 20}, LimitsConfig{})
	assert.ErrorContains(t, err, "tcp send buffer max 33554432: above the socket buffer limit")
	_, err = newStack(TCPConfig{SendBufferMax: -1}, LimitsConfig{})
	assert.ErrorContains(t, err, "tcp send buffer max -1")

	s, err := newStack(TCPConfig{SendBuffer: 8 << 20}, LimitsConfig{})
	require.NoError(t, err)
	assert.Equal(t, 8<<20, s.cfg.TCP.SendBufferMax, "a larger start size raises the default maximum")
	assert.Equal(t, 4<<20, s.cfg.TCP.RecvBufferMax)
	require.NoError(t, s.Close())
	s, err = newStack(TCPConfig{}, LimitsConfig{SocketBuffer: 1 << 20})
	require.NoError(t, err)
	assert.Equal(t, 1<<20, s.cfg.TCP.RecvBufferMax, "the default maximum stays within the socket buffer limit")
	require.NoError(t, s.Close())

	p := newPairWith(t, pipe.Config{}, nil, Config{TCP: TCPConfig{RecvBufferMax: 256 << 10, SendBufferMax: 256 << 10}})
	defer p.close(t)
	cl, srv, wnd := tunedTransfer(t, p, randomBytes(6, 16<<20), func(*tcpSock) {}, nil)
	assert.Equal(t, 256<<10, cl.SendBuffer)
	assert.Equal(t, 256<<10, srv.RecvBuffer)
	assert.LessOrEqual(t, wnd, 256<<10)
	assert.Equal(t, uint(3), windowScaleFor(256<<10))
}
