package stack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/ustack/ustack/backend/pipe"
)

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func TestTCPConnectTransferClose(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		ln, err := p.b.Listen("tcp", ":80")
		require.NoError(t, err)
		data := randomBytes(1, 4<<20)
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			b, _ := io.ReadAll(c)
			c.Close()
			got <- b
		}()
		c, err := p.a.Dial("tcp", "10.0.0.2:80")
		require.NoError(t, err)
		assert.Equal(t, "10.0.0.2:80", c.RemoteAddr().String())
		_, err = c.Write(data)
		require.NoError(t, err)
		require.NoError(t, c.Close())
		select {
		case b := <-got:
			require.Equal(t, sha256.Sum256(data), sha256.Sum256(b))
		case <-time.After(20 * time.Second):
			t.Fatal("transfer hung")
		}
		ln.Close()
		ca, cb := p.a.Counters().TCP, p.b.Counters().TCP
		assert.Equal(t, uint64(1), ca.ActiveOpens)
		assert.Equal(t, uint64(1), cb.PassiveOpens)
	})
}

func TestTCPRefusedWithRST(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		_, err := p.a.Dial("tcp", "10.0.0.2:81")
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		var oe *net.OpError
		assert.ErrorAs(t, err, &oe)
	})
}

func TestTCPEchoBothWaysAndHalfClose(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		ln, err := p.b.Listen("tcp", "10.0.0.2:7")
		require.NoError(t, err)
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.(interface{ CloseWrite() error }).CloseWrite()
			c.Close()
		}()
		c, err := p.a.Dial("tcp", "10.0.0.2:7")
		require.NoError(t, err)
		data := randomBytes(2, 1<<20)
		go func() {
			c.Write(data)
			c.(interface{ CloseWrite() error }).CloseWrite()
		}()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		back, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, back))
		c.Close()
	})
}

func TestTCPNettestConn(t *testing.T) {
	p := newPair(t, pipe.Config{}, nil)
	defer p.close(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ln, err := p.b.Listen("tcp", ":0")
		if err != nil {
			return nil, nil, nil, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		acc := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			acc <- c
		}()
		c1, err = p.a.Dial("tcp", "10.0.0.2:"+strconv.Itoa(port))
		if err != nil {
			ln.Close()
			return nil, nil, nil, err
		}
		c2 = <-acc
		stop = func() {
			c1.Close()
			if c2 != nil {
				c2.Close()
			}
			ln.Close()
		}
		return c1, c2, stop, nil
	})
}

func TestTCPNetHTTP16MiB(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		ln, err := p.b.Listen("tcp", ":80")
		require.NoError(t, err)
		body := randomBytes(3, 16<<20)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{DialContext: p.a.DialContext}, Timeout: 30 * time.Second}
		resp, err := client.Get("http://10.0.0.2/")
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, sha256.Sum256(body), sha256.Sum256(got))
		client.CloseIdleConnections()
	})
}

func TestTCPDialContextCancel(t *testing.T) {
	p := newPair(t, pipe.Config{Latency: time.Hour}, nil)
	defer p.close(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.a.DialContext(ctx, "tcp", "10.0.0.2:80")
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
}

func TestTCPListenErrors(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		ln, err := p.a.Listen("tcp", ":8080")
		require.NoError(t, err)
		_, err = p.a.Listen("tcp", "10.0.0.1:8080")
		assert.ErrorIs(t, err, syscall.EADDRINUSE)
		require.NoError(t, ln.Close())
		ln2, err := p.a.Listen("tcp", "10.0.0.1:8080")
		require.NoError(t, err)
		ln2.Close()
		_, err = p.a.Listen("tcp", "192.0.2.1:80")
		assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL)
	})
}

var _ = netip.Addr{}

func TestTCPBufferSizesChangeMidStream(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		ln, err := p.b.Listen("tcp", ":80")
		require.NoError(t, err)
		defer ln.Close()
		data := randomBytes(9, 8<<20)
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			buf := make([]byte, 100)
			io.ReadFull(c, buf)
			require.NoError(t, c.(*tcpSock).SetReadBuffer(4<<20))
			rest, _ := io.ReadAll(c)
			c.Close()
			got <- append(buf, rest...)
		}()
		c, err := p.a.Dial("tcp", "10.0.0.2:80")
		require.NoError(t, err)
		_, err = c.Write(data[:1<<20])
		require.NoError(t, err)
		require.NoError(t, c.(*tcpSock).SetWriteBuffer(2<<20))
		_, err = c.Write(data[1<<20:])
		require.NoError(t, err)
		c.Close()
		b := <-got
		assert.Equal(t, sha256.Sum256(data), sha256.Sum256(b))
		_, err = c.(*tcpSock).Info()
		assert.ErrorIs(t, err, net.ErrClosed)
	})
}

// Shutdown finishes connections with FIN: the peer reads every byte and
// then EOF, not a reset.
func TestStackShutdownFinishesConnectionsWithFIN(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		ln, err := p.b.Listen("tcp", ":80")
		require.NoError(t, err)
		data := randomBytes(4, 200<<10) // fits the send buffer: Write returns
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			c.Write(data) // left open: Shutdown must finish it
			accepted <- c
		}()
		c, err := p.a.Dial("tcp", "10.0.0.2:80")
		require.NoError(t, err)
		<-accepted
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, p.b.Shutdown(ctx))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		require.NoError(t, err, "EOF, not a reset")
		assert.True(t, bytes.Equal(data, got))
		c.Close()
	})
}
