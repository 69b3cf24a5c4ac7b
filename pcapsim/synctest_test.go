package pcapsim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack"
)

// An unmodified net/http server and clients on goroutines, on stacks of a
// simulated lossy network inside a synctest bubble: every request is
// answered, in virtual time that costs no wall time.
func TestNetworkGoroutinesInSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewNetwork(NetworkConfig{Seed: 3, Goroutines: true})
		link, err := n.NewLink(LinkConfig{Latency: 5 * time.Millisecond, Bandwidth: 10e6, Faults: "loss=0.02"})
		require.NoError(t, err)
		srv, err := n.AddHost(HostConfig{Name: "server", Interfaces: []HostInterface{{Link: link, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}})
		require.NoError(t, err)
		ln, err := srv.Stack.Listen("tcp", ":80")
		require.NoError(t, err)
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s", r.URL.Path)
		})}
		go hs.Serve(ln)

		var clients []*Host
		for i := range 3 {
			h, err := n.AddHost(HostConfig{Name: fmt.Sprintf("client%d", i), Interfaces: []HostInterface{{Link: link, Addrs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)}), 24)}}}})
			require.NoError(t, err)
			clients = append(clients, h)
		}
		// The network is built; from here on the driver owns it.
		ctx, cancel := context.WithCancel(context.Background())
		driven := make(chan error)
		go func() { driven <- n.Drive(ctx, synctest.Wait) }()

		start := time.Now()
		var wg sync.WaitGroup
		for i, h := range clients {
			c := &http.Client{Transport: &http.Transport{DialContext: h.Stack.DialContext}}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.CloseIdleConnections()
				for j := range 10 {
					resp, err := c.Get(fmt.Sprintf("http://10.0.0.1/%d/%d", i, j))
					if !assert.NoError(t, err) {
						return
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.NoError(t, err)
					assert.Equal(t, fmt.Sprintf("hello /%d/%d", i, j), string(b))
				}
			}()
		}
		wg.Wait()
		t.Logf("30 requests in %v of virtual time", time.Since(start))
		hs.Close()
		cancel()
		require.NoError(t, <-driven)
		require.NoError(t, n.Close())
	})
}

// A capture's conversation played against a net/http handler on
// goroutines inside a synctest bubble.
func TestConverseGoroutinesInSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep, err := Converse(context.Background(), ConverseOptions{
			In:         "testdata/converse-http.pcap",
			Goroutines: true,
			Wait:       synctest.Wait,
			Serve: func(s *stack.Stack) ([]App, error) {
				ln, err := s.Listen("tcp", ":80")
				if err != nil {
					return nil, err
				}
				go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header()["Date"] = []string{"Sat, 01 Jan 2000 00:00:00 GMT"}
					io.WriteString(w, "hello, world\n")
				}))
				return nil, nil
			},
		})
		require.NoError(t, err)
		require.Len(t, rep.Conversations, 1)
		c := rep.Conversations[0]
		assert.Equal(t, -1, c.FirstDifference, "the handler answers byte for byte as recorded")
		assert.Empty(t, c.Differences)
	})
}
