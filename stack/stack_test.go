package stack

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack/wire"
)

var (
	addrA = netip.MustParsePrefix("10.0.0.1/24")
	addrB = netip.MustParsePrefix("10.0.0.2/24")
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pair is two stacks on the two ends of a pipe.
type pair struct {
	a, b   *Stack
	ea, eb *pipe.End
}

// pipeModes runs test over a pipe in plain, mbuf-like and virtio-like
// mode, and checks that every buffer is back when the stacks are closed.
func pipeModes(t *testing.T, cfg pipe.Config, test func(t *testing.T, p *pair)) {
	for _, mode := range []string{"plain", "mbuf", "virtio"} {
		t.Run(mode, func(t *testing.T) {
			c := cfg
			// virtio: TSO and checksum offload; TCP sends by reference
			// from its rings and places what arrives from the chains.
			c.Mbuf, c.Offloads = mode == "mbuf", mode == "virtio"
			// A buffer used after its release then reads 0xdb, not
			// stale bytes that look like data.
			c.Poison = true
			p := newPair(t, c, nil)
			test(t, p)
			p.close(t)
		})
	}
}

func init() { poisonLoopback = true }

func newPair(t testing.TB, cfg pipe.Config, wrap func(backend.Backend) backend.Backend) *pair {
	t.Helper()
	return newPairWith(t, cfg, wrap, Config{})
}

// newPairWith is newPair with both stacks configured as base (its TCP
// settings and limits, say) but for their interface, seed and logger.
func newPairWith(t testing.TB, cfg pipe.Config, wrap func(backend.Backend) backend.Backend, base Config) *pair {
	t.Helper()
	ea, eb, err := pipe.New(cfg)
	require.NoError(t, err)
	var ba, bb backend.Backend = ea, eb
	if wrap != nil {
		ba = wrap(ea)
	}
	mk := func(be backend.Backend, addr netip.Prefix, seed uint64) *Stack {
		c := base
		c.Interfaces = []InterfaceConfig{{Backend: be, Addrs: []netip.Prefix{addr}}}
		c.Seed, c.Logger = seed, quietLogger()
		s, err := New(c)
		require.NoError(t, err)
		return s
	}
	return &pair{a: mk(ba, addrA, 1), b: mk(bb, addrB, 2), ea: ea, eb: eb}
}

func (p *pair) close(t testing.TB) {
	t.Helper()
	require.NoError(t, p.a.Close())
	require.NoError(t, p.b.Close())
	assert.Zero(t, p.ea.Outstanding(), "buffers of end a")
	assert.Zero(t, p.eb.Outstanding(), "buffers of end b")
	assert.Zero(t, p.a.Outstanding()+p.b.Outstanding(), "loopback buffers")
}

func ping(t *testing.T, s *Stack, dst netip.Addr, id, seq uint16, size int) (time.Duration, error) {
	t.Helper()
	c, err := s.ListenPacket("ip4:icmp", "")
	require.NoError(t, err)
	defer c.Close()
	msg := make([]byte, wire.ICMPv4HeaderLen+size)
	m := wire.ICMPv4(msg)
	m.SetType(wire.ICMPv4Echo)
	m.SetEcho(id, seq)
	for i := range size {
		msg[8+i] = byte(i)
	}
	m.SetChecksum(m.ComputeChecksum())
	start := time.Now()
	_, err = c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()})
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 70000)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return 0, err
		}
		r := wire.ICMPv4(buf[:n])
		if r.Check() == nil && r.Type() == wire.ICMPv4EchoReply && r.EchoID() == id && r.EchoSeq() == seq {
			assert.Equal(t, dst.String(), from.String())
			assert.True(t, bytes.Equal(msg[8:], r.Payload()), "echoed data")
			return time.Since(start), nil
		}
	}
}

func TestPingBetweenStacks(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		for i, size := range []int{0, 56, 1472, 4000, 65507 - 8} {
			_, err := ping(t, p.a, addrB.Addr(), 7, uint16(i), size)
			require.NoError(t, err, "size %d", size)
		}
		ca, cb := p.a.Counters(), p.b.Counters()
		assert.Equal(t, uint64(5), cb.ICMP.InEchos)
		assert.Equal(t, uint64(5), cb.ICMP.OutEchoReps)
		assert.Equal(t, uint64(5), ca.ICMP.InEchoReps)
		assert.Positive(t, cb.IP.ReasmOKs, "large echoes came in fragments")
		assert.Positive(t, ca.IP.FragCreates)
		assert.Equal(t, uint64(1), ca.ARP.OutRequests-1, "one request beyond the gratuitous one")
	})
}

func TestUDPEcho(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		srv, err := p.b.ListenPacket("udp", ":7")
		require.NoError(t, err)
		done := serveUDPEcho(t, srv)
		c, err := p.a.Dial("udp", "10.0.0.2:7")
		require.NoError(t, err)
		echoEach(t, c, 0, 1, 1472, 1473, 9000, 65507)
		assert.Equal(t, "10.0.0.2:7", c.RemoteAddr().String())
		require.NoError(t, c.Close())
		require.NoError(t, srv.Close())
		<-done
		var oe *net.OpError
		_, err = c.Write([]byte("x"))
		require.ErrorAs(t, err, &oe)
		assert.ErrorIs(t, err, net.ErrClosed)
	})
}

// serveUDPEcho sends every datagram srv receives back to its sender until
// srv is closed; the channel is closed once it has stopped.
func serveUDPEcho(t *testing.T, srv net.PacketConn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, err = srv.WriteTo(buf[:n], from)
			assert.NoError(t, err)
		}
	}()
	return done
}

// echoEach writes a datagram of each size on c and requires it back whole.
func echoEach(t *testing.T, c net.Conn, sizes ...int) {
	t.Helper()
	buf := make([]byte, 65536)
	for _, size := range sizes {
		msg := bytes.Repeat([]byte{byte(size)}, size)
		_, err := c.Write(msg)
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		require.NoError(t, err, "size %d", size)
		assert.Equal(t, msg, buf[:n])
	}
}

func TestUDPPortUnreachableRefusesConnectedSocket(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		c, err := p.a.Dial("udp", "10.0.0.2:9")
		require.NoError(t, err)
		_, err = c.Write([]byte("anyone?"))
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 10))
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		var oe *net.OpError
		assert.ErrorAs(t, err, &oe)
		assert.Equal(t, uint64(1), p.b.Counters().UDP.NoPorts)
		c.Close()
	})
}

func TestUDPReadDeadline(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		c, err := p.a.ListenPacket("udp", ":0")
		require.NoError(t, err)
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, _, err = c.ReadFrom(make([]byte, 10))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.True(t, errors.As(err, &ne))
		assert.True(t, ne.Timeout())
	})
}

func TestUDPBindErrors(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		c, err := p.a.ListenPacket("udp", "10.0.0.1:53")
		require.NoError(t, err)
		_, err = p.a.ListenPacket("udp", ":53")
		assert.ErrorIs(t, err, syscall.EADDRINUSE)
		_, err = p.a.ListenPacket("udp", "10.9.9.9:53")
		assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL)
		_, err = p.a.ListenPacket("tcpx", ":1")
		assert.Error(t, err)
		c.Close()
		c2, err := p.a.ListenPacket("udp", ":53")
		require.NoError(t, err, "the port is free again once closed")
		c2.Close()
	})
}

// A datagram's destination is checked when it is written: no route is
// ENETUNREACH, a broadcast address without SetBroadcast is EACCES. The
// socket remembers its last destination's route, and forgets it when the
// routes change or SetBroadcast does.
func TestUDPWriteErrors(t *testing.T) {
	p := newPair(t, pipe.Config{}, nil)
	defer p.close(t)
	c, err := p.a.ListenPacket("udp", ":0")
	require.NoError(t, err)
	defer c.Close()
	srv, err := p.b.ListenPacket("udp", ":9")
	require.NoError(t, err)
	defer srv.Close()
	write := func(to string) error {
		_, err := c.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(to)))
		return err
	}
	away := "192.0.2.1:9"
	assert.ErrorIs(t, write(away), syscall.ENETUNREACH)
	assert.ErrorIs(t, write(away), syscall.ENETUNREACH, "again")
	bcast := "10.0.0.255:9"
	require.NoError(t, write("10.0.0.2:9"))
	assert.ErrorIs(t, write(bcast), syscall.EACCES)
	c.(interface{ SetBroadcast(bool) }).SetBroadcast(true)
	require.NoError(t, write(bcast))
	c.(interface{ SetBroadcast(bool) }).SetBroadcast(false)
	assert.ErrorIs(t, write(bcast), syscall.EACCES, "once SetBroadcast is off again")

	// A default route via b, as a lease would bring: the loop reads the
	// new routes, and so does the next write.
	old := p.a.shared()
	sh := newShared(old.ifaces, old.lo, old.addrs, []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: addrB.Addr()}})
	for _, q := range p.a.queues {
		q.sh.Store(sh)
	}
	require.NoError(t, write("10.0.0.2:9"))
	require.NoError(t, write(away))
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 10)
	for range 2 { // the broadcast and the one to b; b is no router
		_, _, err := srv.ReadFrom(buf)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return p.b.Counters().IP.InAddrErrors == 1 }, 5*time.Second, time.Millisecond,
		"the datagram to 192.0.2.1 reached b, which does not forward it")

	// The default route moves to 10.0.0.3, which nobody answers for:
	// the loop asks for it rather than sending to b again.
	via3 := newShared(old.ifaces, old.lo, old.addrs, []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("10.0.0.3")}})
	for _, q := range p.a.queues {
		q.sh.Store(via3)
	}
	arps := p.a.Counters().ARP.OutRequests
	require.NoError(t, write(away))
	require.Eventually(t, func() bool { return p.a.Counters().ARP.OutRequests > arps }, 5*time.Second, time.Millisecond,
		"an ARP request for the new gateway")
	assert.Equal(t, uint64(1), p.b.Counters().IP.InAddrErrors, "nothing more to b")

	// And without it, 192.0.2.1 is unreachable again.
	for _, q := range p.a.queues {
		q.sh.Store(old)
	}
	assert.ErrorIs(t, write(away), syscall.ENETUNREACH, "once the route is gone")
}

func TestUDPOverLoopback(t *testing.T) {
	pipeModes(t, pipe.Config{}, func(t *testing.T, p *pair) {
		srv, err := p.a.ListenPacket("udp", "127.0.0.1:5000")
		require.NoError(t, err)
		defer srv.Close()
		c, err := p.a.Dial("udp", "127.0.0.1:5000")
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
		c2, err := p.a.Dial("udp", "10.0.0.1:5000")
		require.NoError(t, err)
		defer c2.Close()
		_, err = c2.Write([]byte("own"))
		require.NoError(t, err)
		c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c2.Read(buf)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED, "bound to 127.0.0.1 only")
	})
}
