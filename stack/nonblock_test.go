package stack

import (
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An in-core client and server on two Manual stacks: nothing waits, the
// driver's steps move everything.
func TestNonblockingCalls(t *testing.T) {
	n := newSimNet(t, 1, "", false, 0)
	defer n.close()
	ln, err := n.b.Listen("tcp", ":80")
	require.NoError(t, err)
	nl := ln.(NonblockingListener)
	cl, err := n.a.StartDial("tcp", "10.0.0.2:80")
	require.NoError(t, err)

	w, err := cl.TryWrite([]byte("ping"))
	require.NoError(t, err)
	assert.Zero(t, w, "no writes before the handshake")
	c, err := nl.TryAccept()
	require.NoError(t, err)
	assert.Nil(t, c, "nothing to accept yet")

	var srv NonblockingConn
	for range 100 {
		if srv, err = nl.TryAccept(); srv != nil || !n.step() {
			break
		}
	}
	require.NoError(t, err)
	require.NotNil(t, srv)
	buf := make([]byte, 16)
	r, err := srv.TryRead(buf)
	require.NoError(t, err)
	assert.Zero(t, r, "nothing has arrived")

	w, err = cl.TryWrite([]byte("ping"))
	require.NoError(t, err)
	assert.Equal(t, 4, w)
	require.NoError(t, cl.(interface{ CloseWrite() error }).CloseWrite())
	var got []byte
	for range 100 {
		r, err = srv.TryRead(buf)
		got = append(got, buf[:r]...)
		if err != nil || !n.step() {
			break
		}
	}
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, "ping", string(got))
	require.NoError(t, srv.Close())
	require.NoError(t, cl.Close())
	require.NoError(t, ln.Close())
	for i := 0; i < 10_000 && n.step(); i++ {
		// Let the closes finish before the buffers are counted.
	}
}

// In-core applications get buffer auto-tuning as goroutine ones do: a bulk
// transfer over a link whose bandwidth-delay product is several times the
// initial 256 KiB buffers grows both ends' rings at the next TryWrite and
// TryRead, and the transfer runs at the link's rate rather than a 256 KiB
// window per round trip.
func TestNonblockingBulkTunesBuffers(t *testing.T) {
	const size = 32 << 20
	n := newSimNet(t, 1, "", false, 5*time.Millisecond)
	defer n.close()
	ln, err := n.b.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	cl, err := n.a.StartDial("tcp", "10.0.0.2:80")
	require.NoError(t, err)
	data := randomBytes(6, size)
	var srv NonblockingConn
	sent, got := 0, sha256.New()
	received := 0
	buf := make([]byte, 64<<10)
	start := n.clock.Now()
	for received < size {
		if srv == nil {
			srv, err = ln.(NonblockingListener).TryAccept()
			require.NoError(t, err)
		}
		w, err := cl.TryWrite(data[sent:])
		require.NoError(t, err)
		sent += w
		for srv != nil {
			r, err := srv.TryRead(buf)
			require.NoError(t, err)
			if r == 0 {
				break
			}
			got.Write(buf[:r])
			received += r
		}
		require.True(t, n.step() || received == size, "the transfer stalled at %d bytes", received)
	}
	elapsed := time.Duration(n.clock.Now() - start)
	want := sha256.Sum256(data)
	assert.Equal(t, want[:], got.Sum(nil), "the data arrived whole")
	ci, err := cl.(*tcpSock).Info()
	require.NoError(t, err)
	si, err := srv.(*tcpSock).Info()
	require.NoError(t, err)
	assert.Greater(t, ci.SendBuffer, 256<<10, "the sender's buffer grew")
	assert.Greater(t, si.RecvBuffer, 256<<10, "the receiver's buffer grew")
	// 256 KiB per 10 ms round trip would take 1.28 s of virtual time.
	assert.Less(t, elapsed, time.Second, "32 MiB took %v", elapsed)
	require.NoError(t, srv.Close())
	require.NoError(t, cl.Close())
	for i := 0; i < 100_000 && n.step(); i++ {
		// Let the closes finish before the buffers are counted.
	}
}
