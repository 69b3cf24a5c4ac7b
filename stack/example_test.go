package stack_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack"
)

var quiet = slog.New(slog.DiscardHandler)

// twoStacks connects a client stack (10.9.0.2) and a server stack
// (10.9.0.1) by an in-memory link, as two hosts on one Ethernet.
func twoStacks() (client, server *stack.Stack) {
	ea, eb, err := pipe.New(pipe.Config{})
	if err != nil {
		log.Fatal(err)
	}
	client, err = stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{
		{Backend: ea, Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/24")}},
	}, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	server, err = stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{
		{Backend: eb, Addrs: []netip.Prefix{netip.MustParsePrefix("10.9.0.1/24")}},
	}, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	return client, server
}

// An unmodified net/http server and client, each on its own stack.
func Example() {
	client, server := twoStacks()
	defer client.Close()
	defer server.Close()

	ln, err := server.Listen("tcp", ":80")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "hello %s", host)
	}))

	c := &http.Client{Transport: &http.Transport{DialContext: client.DialContext}}
	resp, err := c.Get("http://10.9.0.1/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status)
	fmt.Printf("%s\n", body)
	// Output:
	// 200 OK
	// hello 10.9.0.2
}

// Names resolved by net.Resolver through the stack: Stack.Resolver's Dial
// goes to the DNS server over the stack's UDP, whatever server the system
// would use. Without a server it asks those the stack learned from DHCP or
// router advertisements (Stack.DNSServers).
func Example_resolver() {
	client, server := twoStacks()
	defer client.Close()
	defer server.Close()

	pc, err := server.ListenPacket("udp", ":53")
	if err != nil {
		log.Fatal(err)
	}
	go serveDNS(pc, netip.MustParseAddr("10.9.0.80"))

	r := client.Resolver(netip.MustParseAddrPort("10.9.0.1:53"))
	addrs, err := r.LookupNetIP(context.Background(), "ip4", "www.example.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(addrs)
	// Output: [10.9.0.80]
}

// serveDNS answers every A question with addr, until pc is closed.
func serveDNS(pc net.PacketConn, addr netip.Addr) {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.EnableCompression()
		_ = b.StartQuestions()
		_ = b.Question(q)
		_ = b.StartAnswers()
		if q.Type == dnsmessage.TypeA {
			_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.AResource{A: addr.As4()})
		}
		msg, err := b.Finish()
		if err != nil {
			continue
		}
		_, _ = pc.WriteTo(msg, from)
	}
}

// A multicast group: the server's stack joins it, the client sends to it.
func ExampleStack_ListenMulticastUDP() {
	client, server := twoStacks()
	defer client.Close()
	defer server.Close()

	group := &net.UDPAddr{IP: net.IPv4(239, 1, 2, 3), Port: 5000}
	member, err := server.ListenMulticastUDP("udp4", "", group)
	if err != nil {
		log.Fatal(err)
	}
	defer member.Close()

	sender, err := client.ListenPacket("udp4", ":0")
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.WriteTo([]byte("to all members"), group); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 100)
	n, from, err := member.ReadFrom(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from %s\n", buf[:n], from.(*net.UDPAddr).IP)
	// Output: to all members from 10.9.0.2
}
