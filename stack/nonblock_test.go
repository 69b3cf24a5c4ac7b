package stack

import (
	"io"
	"testing"

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
