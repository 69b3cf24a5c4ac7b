package stack

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/pipe"
)

type addrPortConn interface {
	ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(p []byte, ap netip.AddrPort) (int, error)
}

// manualPair is two Manual stacks on a pipe, on virtual time.
func manualPair(tb testing.TB, mbuf bool) (a, b *Stack, clock *backend.VirtualClock) {
	clock = backend.NewVirtualClock(t0)
	ea, eb, err := pipe.New(pipe.Config{Clock: clock, Mbuf: mbuf})
	require.NoError(tb, err)
	a, err = New(Config{Interfaces: []InterfaceConfig{{Backend: ea, Addrs: []netip.Prefix{addrA}}}, Seed: 1, Clock: clock, Manual: true, Logger: quietLogger()})
	require.NoError(tb, err)
	b, err = New(Config{Interfaces: []InterfaceConfig{{Backend: eb, Addrs: []netip.Prefix{addrB}}}, Seed: 2, Clock: clock, Manual: true, Logger: quietLogger()})
	require.NoError(tb, err)
	return a, b, clock
}

// udpEchoRound sends one datagram from c to srv and back, polling the
// stacks by hand.
func udpEchoRound(tb testing.TB, a, b *Stack, c, srv addrPortConn, to netip.AddrPort, msg, buf []byte, now int64) {
	if _, err := c.WriteToUDPAddrPort(msg, to); err != nil {
		tb.Fatal(err)
	}
	a.Poll(now)
	b.Poll(now)
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	if err != nil || n != len(msg) {
		tb.Fatalf("server read %d, %v", n, err)
	}
	if _, err := srv.WriteToUDPAddrPort(buf[:n], from); err != nil {
		tb.Fatal(err)
	}
	b.Poll(now)
	a.Poll(now)
	if n, _, err := c.ReadFromUDPAddrPort(buf); err != nil || n != len(msg) {
		tb.Fatalf("client read %d, %v", n, err)
	}
}

func udpEchoSetup(tb testing.TB, mbuf bool) (a, b *Stack, c, srv addrPortConn, to netip.AddrPort, clock *backend.VirtualClock) {
	a, b, clock = manualPair(tb, mbuf)
	s, err := b.ListenPacket("udp", ":7")
	require.NoError(tb, err)
	cc, err := a.ListenPacket("udp", ":0")
	require.NoError(tb, err)
	to = netip.MustParseAddrPort("10.0.0.2:7")
	c, srv = cc.(addrPortConn), s.(addrPortConn)
	// Resolve neighbours before measuring.
	cc.(addrPortConn).WriteToUDPAddrPort([]byte("warm"), to)
	for range 4 {
		a.Poll(clock.Now())
		b.Poll(clock.Now())
	}
	buf := make([]byte, 2048)
	srv.ReadFromUDPAddrPort(buf)
	return a, b, c, srv, to, clock
}

func TestUDPEchoPathAllocatesNothing(t *testing.T) {
	for _, mbuf := range []bool{false, true} {
		a, b, c, srv, to, clock := udpEchoSetup(t, mbuf)
		msg, buf := make([]byte, 64), make([]byte, 2048)
		allocs := testing.AllocsPerRun(1000, func() {
			udpEchoRound(t, a, b, c, srv, to, msg, buf, clock.Now())
		})
		require.Zero(t, allocs, "mbuf=%v", mbuf)
		a.Close()
		b.Close()
	}
}

func BenchmarkUDPEcho(b *testing.B) {
	for _, mode := range []struct {
		name string
		mbuf bool
	}{{"plain", false}, {"mbuf", true}} {
		b.Run(mode.name, func(bb *testing.B) {
			sa, sb, c, srv, to, clock := udpEchoSetup(bb, mode.mbuf)
			msg, buf := make([]byte, 64), make([]byte, 2048)
			bb.ReportAllocs()
			bb.ResetTimer()
			for range bb.N {
				udpEchoRound(bb, sa, sb, c, srv, to, msg, buf, clock.Now())
			}
			bb.StopTimer()
			sa.Close()
			sb.Close()
		})
	}
}
