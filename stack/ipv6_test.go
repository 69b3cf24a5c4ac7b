package stack

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack/wire"
)

// Two stacks over the pipe speaking IPv6: global addresses in fd00::/64
// besides their IPv4 ones, and the link-local addresses from their MACs.

var (
	addr6A = netip.MustParsePrefix("fd00::1/64")
	addr6B = netip.MustParsePrefix("fd00::2/64")
	// The pipe's default MACs are 02:00:00:00:00:01 and :02.
	ll6A = netip.MustParseAddr("fe80::ff:fe00:1")
	ll6B = netip.MustParseAddr("fe80::ff:fe00:2")
)

// fastIPv6 does duplicate address detection quickly, at once, and solicits
// no routers (there are none on the pipe).
var fastIPv6 = IPv6Config{RetransTimer: 10 * time.Millisecond, StartDelay: -1, RouterSolicitations: -1, MLDReports: -1}

// pipeModes6 is pipeModes for stacks with IPv6 addresses, once they are up.
func pipeModes6(t *testing.T, cfg pipe.Config, test func(t *testing.T, p *pair)) {
	for _, mode := range []string{"plain", "mbuf", "virtio"} {
		t.Run(mode, func(t *testing.T) {
			c := cfg
			c.Mbuf, c.Offloads = mode == "mbuf", mode == "virtio"
			// A buffer used after its release then reads 0xdb, not
			// stale bytes that look like data.
			c.Poison = true
			ea, eb, err := pipe.New(c)
			require.NoError(t, err)
			a, err := New(Config{Interfaces: []InterfaceConfig{{Backend: ea, Addrs: []netip.Prefix{addrA, addr6A}}}, Seed: 1, Logger: quietLogger(), IPv6: fastIPv6})
			require.NoError(t, err)
			b, err := New(Config{Interfaces: []InterfaceConfig{{Backend: eb, Addrs: []netip.Prefix{addrB, addr6B}}}, Seed: 2, Logger: quietLogger(), IPv6: fastIPv6})
			require.NoError(t, err)
			p := &pair{a: a, b: b, ea: ea, eb: eb}
			waitUp(t, a, ll6A, addr6A.Addr())
			waitUp(t, b, ll6B, addr6B.Addr())
			test(t, p)
			p.close(t)
		})
	}
}

// waitUp waits until duplicate address detection has taken addrs into use.
func waitUp(t *testing.T, s *Stack, addrs ...netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range addrs {
		for s.shared().own.get(a) == nil {
			require.True(t, time.Now().Before(deadline), "%v is not up", a)
			time.Sleep(time.Millisecond)
		}
	}
}

// ping6 sends an echo request through a raw ICMPv6 socket and waits for
// the reply; the stack fills in the checksum.
func ping6(t *testing.T, s *Stack, dst netip.Addr, id, seq uint16, size int) error {
	t.Helper()
	c, err := s.ListenPacket("ip6:ipv6-icmp", "")
	require.NoError(t, err)
	defer c.Close()
	msg := make([]byte, wire.ICMPv6HeaderLen+size)
	m := wire.ICMPv6(msg)
	m.SetType(wire.ICMPv6EchoRequest)
	m.SetEcho(id, seq)
	for i := range size {
		msg[8+i] = byte(i)
	}
	_, err = c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()})
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 70000)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		r := wire.ICMPv6(buf[:n])
		if r.Check() == nil && r.Type() == wire.ICMPv6EchoReply && r.EchoID() == id && r.EchoSeq() == seq {
			assert.Equal(t, dst.WithZone("").String(), from.String())
			assert.True(t, bytes.Equal(msg[8:], r.Payload()), "echoed data")
			return nil
		}
	}
}

func TestPing6BetweenStacks(t *testing.T) {
	pipeModes6(t, pipe.Config{}, func(t *testing.T, p *pair) {
		for i, size := range []int{0, 56, 1452, 4000, 65535 - 8} {
			require.NoError(t, ping6(t, p.a, addr6B.Addr(), 7, uint16(i), size), "global, size %d", size)
			require.NoError(t, ping6(t, p.a, ll6B, 8, uint16(i), size), "link-local, size %d", size)
		}
		require.NoError(t, ping6(t, p.a, ll6B.WithZone("eth0"), 9, 1, 10), "with a zone")
		ca, cb := p.a.Counters(), p.b.Counters()
		assert.Equal(t, uint64(11), cb.ICMPv6.InEchos)
		assert.Equal(t, uint64(11), ca.ICMPv6.InEchoReplies)
		assert.Positive(t, cb.IPv6.ReasmOKs, "large echoes came in fragments")
		assert.Positive(t, ca.IPv6.FragCreates)
		assert.Positive(t, ca.ICMPv6.OutNeighborSolicits, "b was resolved")
		assert.Positive(t, cb.ICMPv6.OutNeighborAdvertisements)
		assert.Zero(t, ca.ARP.OutRequests-1, "no ARP beyond the gratuitous request")
	})
}

func TestUDPEcho6(t *testing.T) {
	pipeModes6(t, pipe.Config{}, func(t *testing.T, p *pair) {
		srv, err := p.b.ListenPacket("udp6", ":7")
		require.NoError(t, err)
		done := serveUDPEcho(t, srv)
		c, err := p.a.Dial("udp6", "[fd00::2]:7")
		require.NoError(t, err)
		echoEach(t, c, 0, 1, 1452, 1453, 9000, 65527)
		assert.Equal(t, "[fd00::2]:7", c.RemoteAddr().String())
		assert.Equal(t, "fd00::1", c.LocalAddr().(*net.UDPAddr).IP.String())
		_, err = c.Write(make([]byte, 65528))
		assert.ErrorIs(t, err, syscall.EMSGSIZE)
		// udp4 sockets refuse IPv6 destinations, udp6 ones IPv4.
		c4, err := p.a.ListenPacket("udp4", ":0")
		require.NoError(t, err)
		_, err = c4.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[fd00::2]:7")))
		assert.ErrorIs(t, err, syscall.EAFNOSUPPORT)
		c4.Close()
		require.NoError(t, c.Close())
		require.NoError(t, srv.Close())
		<-done
	})
}

func TestUDPPortUnreachable6RefusesConnectedSocket(t *testing.T) {
	pipeModes6(t, pipe.Config{}, func(t *testing.T, p *pair) {
		c, err := p.a.Dial("udp", "[fd00::2]:9")
		require.NoError(t, err)
		_, err = c.Write([]byte("anyone?"))
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 10))
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.Equal(t, uint64(1), p.b.Counters().ICMPv6.OutDestUnreachs)
		c.Close()
	})
}

func TestTCPTransfer6(t *testing.T) {
	for _, offloads := range []bool{false, true} {
		t.Run(fmt.Sprintf("offloads=%v", offloads), func(t *testing.T) {
			pipeModes6(t, pipe.Config{Offloads: offloads}, func(t *testing.T, p *pair) {
				ln, err := p.b.Listen("tcp6", ":80")
				require.NoError(t, err)
				defer ln.Close()
				data := randomBytes(6, 4<<20)
				got := make(chan [32]byte, 1)
				go func() {
					c, err := ln.Accept()
					if err != nil {
						got <- [32]byte{}
						return
					}
					h := sha256.New()
					io.Copy(h, c)
					c.Close()
					got <- [32]byte(h.Sum(nil))
				}()
				c, err := p.a.Dial("tcp6", "[fd00::2]:80")
				require.NoError(t, err)
				assert.Equal(t, "[fd00::2]:80", c.RemoteAddr().String())
				in := infoOf(t, c.(*tcpSock))
				assert.Equal(t, 1500-60-12, in.MSS, "the IPv6 MTU less 40 + 20 header bytes and the timestamps")
				_, err = c.Write(data)
				require.NoError(t, err)
				require.NoError(t, c.Close())
				select {
				case sum := <-got:
					assert.Equal(t, sha256.Sum256(data), sum)
				case <-time.After(20 * time.Second):
					t.Fatal("transfer timed out")
				}
			})
		})
	}
}

// A wildcard "tcp" listener takes both families, and net/http works over
// IPv6, link-local with a zone included.
func TestHTTPOverIPv6(t *testing.T) {
	pipeModes6(t, pipe.Config{}, func(t *testing.T, p *pair) {
		ln, err := p.b.Listen("tcp", ":80")
		require.NoError(t, err)
		body := randomBytes(9, 1<<20)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s\n", r.RemoteAddr)
			w.Write(body)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{DialContext: p.a.DialContext}, Timeout: 30 * time.Second}
		for _, tc := range []struct{ url, from string }{
			{"http://[fd00::2]/", "[fd00::1]:"},
			{"http://[fe80::ff:fe00:2%25eth0]/", "[fe80::ff:fe00:1]:"},
			{"http://10.0.0.2/", "10.0.0.1:"},
		} {
			resp, err := client.Get(tc.url)
			require.NoError(t, err, tc.url)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			from, rest, ok := bytes.Cut(b, []byte("\n"))
			require.True(t, ok)
			assert.Contains(t, string(from), tc.from, tc.url)
			assert.Equal(t, sha256.Sum256(body), sha256.Sum256(rest), tc.url)
		}
		client.CloseIdleConnections()
	})
}

// Steady-state bulk transfer over IPv6 (between link-local addresses)
// allocates nothing per segment either.
func TestTCPBulk6AllocatesNothingPerSegment(t *testing.T) {
	for _, mbuf := range []bool{false, true} {
		n := newSimNet(t, 1, "", mbuf, 0)
		for i := 0; i < 1000 && (n.a.shared().own.get(ll6A) == nil || n.b.shared().own.get(ll6B) == nil); i++ {
			n.step()
		}
		require.NotNil(t, n.b.shared().own.get(ll6B), "duplicate address detection is over")
		lnI, err := n.b.Listen("tcp6", ":80")
		require.NoError(t, err)
		ln := lnI.(*tcpListener)
		p := &bulkPair{n: n, cl: dialManual(t, n.a, netip.AddrPortFrom(ll6B, 80)), buf: make([]byte, 256<<10), data: make([]byte, 256<<10)}
		for i := 0; p.srv == nil && i < 1000; i++ {
			n.step()
			p.srv = tryAccept(ln)
		}
		require.NotNil(t, p.srv)
		p.pump(t, 8<<20)
		allocs := testing.AllocsPerRun(20, func() { p.pump(t, 1<<20) })
		require.Zero(t, allocs, "allocations per MiB of bulk transfer")
		assert.Equal(t, 1500-60-12, infoOf(t, p.cl).MSS)
		p.close()
	}
}

// ::1 and the stack's own IPv6 addresses are delivered over the loopback
// interface.
func TestIPv6Loopback(t *testing.T) {
	pipeModes6(t, pipe.Config{}, func(t *testing.T, p *pair) {
		srv, err := p.a.ListenPacket("udp6", "localhost:5000")
		require.NoError(t, err)
		defer srv.Close()
		assert.Equal(t, "[::1]:5000", srv.LocalAddr().String())
		c, err := p.a.Dial("udp6", "[::1]:5000")
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		require.NoError(t, err)
		buf := make([]byte, 10)
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := srv.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:n]))
		assert.Equal(t, c.LocalAddr().String(), from.String())

		ln, err := p.a.Listen("tcp6", "[fd00::1]:80")
		require.NoError(t, err)
		defer ln.Close()
		go func() {
			s, err := ln.Accept()
			if err == nil {
				io.Copy(s, s)
				s.Close()
			}
		}()
		tc, err := p.a.Dial("tcp", "[fd00::1]:80")
		require.NoError(t, err)
		defer tc.Close()
		assert.Equal(t, "[fd00::1]:80", tc.RemoteAddr().String())
		msg := randomBytes(3, 200<<10)
		go tc.Write(msg)
		got := make([]byte, len(msg))
		tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(tc, got)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(msg, got))
		_, err = p.a.Dial("tcp4", "[fd00::1]:80")
		assert.Error(t, err, "tcp4 to an IPv6 address")
	})
}
