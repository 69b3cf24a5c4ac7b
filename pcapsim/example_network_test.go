package pcapsim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/ustack/ustack/pcapsim"
	"github.com/ustack/ustack/stack"
)

// ExampleNetwork simulates a server and a client on a lossy 10 Mbit/s
// link with 20 ms of latency, entirely in-core on virtual time: the
// server runs the built-in echo service, the client an App that sends a
// line and reads it back. The same seed gives the same run, to the
// nanosecond.
func ExampleNetwork() {
	n := pcapsim.NewNetwork(pcapsim.NetworkConfig{Seed: 42})
	link, _ := n.NewLink(pcapsim.LinkConfig{Latency: 20 * time.Millisecond, Bandwidth: 10e6, Faults: "loss=0.1"})
	srv, _ := n.AddHost(pcapsim.HostConfig{Name: "server", Interfaces: []pcapsim.HostInterface{{Link: link, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}})
	cli, _ := n.AddHost(pcapsim.HostConfig{Name: "client", Interfaces: []pcapsim.HostInterface{{Link: link, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}}})
	ln, _ := srv.Stack.Listen("tcp", ":7")
	echo, _ := pcapsim.Echo(ln)
	n.AddApp(echo)

	var conn stack.NonblockingConn
	msg, got := []byte("hello, simulated world\n"), []byte(nil)
	sent := 0
	n.AddApp(func(now int64) int64 {
		if conn == nil {
			conn, _ = cli.Stack.StartDial("tcp", "10.0.0.1:7")
		}
		w, _ := conn.TryWrite(msg[sent:])
		sent += w
		buf := make([]byte, 64)
		r, _ := conn.TryRead(buf)
		got = append(got, buf[:r]...)
		return 0
	})
	start := n.Now()
	done, err := n.RunUntil(time.Minute, func() bool { return len(got) == len(msg) })
	fmt.Printf("echoed %q: %v %v\n", got, done, err)
	fmt.Println("virtual time", time.Duration(n.Now()-start))
	conn.Close()
	n.Run(time.Second)
	fmt.Println("closed:", n.Close())
	// Output:
	// echoed "hello, simulated world\n": true <nil>
	// virtual time 100.3616ms
	// closed: <nil>
}

// ExampleNetwork_Drive serves an unmodified net/http handler on a
// simulated stack and fetches from it with net/http clients on other
// stacks, over a link that duplicates and reorders frames. Goroutines run
// the server and the clients; Drive steps the network. In a test, create
// the network inside testing/synctest.Test and pass synctest.Wait to
// Drive: virtual time then costs no wall time. Here, outside a bubble,
// the network runs in real time.
func ExampleNetwork_Drive() {
	n := pcapsim.NewNetwork(pcapsim.NetworkConfig{Seed: 1, Goroutines: true})
	link, _ := n.NewLink(pcapsim.LinkConfig{Latency: time.Millisecond, Faults: "dup=0.1,reorder=0.1"})
	srv, _ := n.AddHost(pcapsim.HostConfig{Name: "server", Interfaces: []pcapsim.HostInterface{{Link: link, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}})
	cli, _ := n.AddHost(pcapsim.HostConfig{Name: "client", Interfaces: []pcapsim.HostInterface{{Link: link, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}}})
	ln, _ := srv.Stack.Listen("tcp", ":80")
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	})}
	go hs.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	driven := make(chan error)
	go func() { driven <- n.Drive(ctx, nil) }()

	c := &http.Client{Transport: &http.Transport{DialContext: cli.Stack.DialContext}}
	for _, path := range []string{"/a", "/b"} {
		resp, err := c.Get("http://10.0.0.1" + path)
		if err != nil {
			fmt.Println(err)
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status, string(b))
	}
	c.CloseIdleConnections()
	hs.Close()
	cancel()
	<-driven
	fmt.Println("closed:", n.Close())
	// Output:
	// 200 OK hello from /a
	// 200 OK hello from /b
	// closed: <nil>
}

// ExampleConverse plays the client's side of a recorded HTTP exchange
// against a net/http handler of one's own, on a simulated link, and
// reports how its answer differs from the recorded server's. In a test,
// run it inside testing/synctest.Test with Wait: synctest.Wait.
func ExampleConverse() {
	rep, err := pcapsim.Converse(context.Background(), pcapsim.ConverseOptions{
		In:         filepath.Join("testdata", "converse-http.pcap"),
		Goroutines: true,
		Patience:   100 * time.Millisecond,
		Serve: func(s *stack.Stack) ([]pcapsim.App, error) {
			ln, err := s.Listen("tcp", ":80")
			if err != nil {
				return nil, err
			}
			go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintln(w, "hello, stack")
			}))
			return nil, nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range rep.Conversations {
		fmt.Println(c.Client, ">", c.Live, "expected", c.ExpectedBytes, "got", c.SentBytes, "first difference at", c.FirstDifference)
		fmt.Println("flags", c.RecordedFlags, c.StackFlags)
	}
	// Output:
	// 10.0.0.2:40000 > 10.0.0.1:80 expected 130 got 130 first difference at 23
	// flags [SYN-ACK data client-FIN FIN] [SYN-ACK data client-FIN FIN]
}
