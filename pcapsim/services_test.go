package pcapsim

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The in-core HTTP service refuses a bad request line as soon as the line
// is whole, before any header comes, and a version other than 1.x once the
// head is whole, with the status net/http gives them.
func TestHTTPHandlerRefusesBadRequestLines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(ln)
	defer srv.Close()
	// netHTTPStatus is the status code net/http answers line with; it
	// closes the connection after it.
	netHTTPStatus := func(line string) string {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, line)
		require.NoError(t, err)
		status, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		return strings.Fields(status)[1]
	}
	for _, line := range []string{"GET /bad.html\r\n", "HELLO\r\n", "GET / HTTP/1.1 extra\n", "GET / HTTP/1\r\n", "GET / HTTP/2.0\r\nHost: x\r\n\r\n"} {
		var out outQueue
		h := &httpHandler{}
		done := h.input([]byte(line), false, &out)
		assert.True(t, done, "%q ends the connection", line)
		require.Len(t, out.rs, 1, "%q is answered", line)
		got, err := io.ReadAll(out.rs[0])
		require.NoError(t, err)
		assert.Equal(t, netHTTPStatus(line), strings.Fields(string(got))[1], "%q", line)
	}

	// A good request line waits for the rest of the head.
	var out outQueue
	h := &httpHandler{}
	assert.False(t, h.input([]byte("GET / HTTP/1.1\r\nHost: x\r\n"), false, &out))
	assert.True(t, out.empty())
	assert.False(t, h.input([]byte("\r\n"), false, &out))
	assert.False(t, out.empty(), "answered once the head is whole")
}
