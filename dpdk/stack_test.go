//go:build dpdk

package dpdk

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack"
)

// Two Manual stacks on the two ports of a RingPair, driven by one locked
// goroutine (an lcore): the stack's own cost per packet on a DPDK port,
// with nothing but memory between the stacks.

var ringPairs atomic.Int32

// ringStacks opens a ring pair and runs a stack on each port, 10.0.0.1
// and 10.0.0.2, on a virtual clock; tests poison released buffers.
func ringStacks(tb testing.TB) (a, b *stack.Stack, pa, pb *Port, clock *backend.VirtualClock) {
	tb.Helper()
	skipWithoutEAL(tb)
	lockThread(tb)
	n := ringPairs.Add(1)
	na, nb, err := RingPair(fmt.Sprintf("rp%da", n), fmt.Sprintf("rp%db", n), 1, 1024)
	require.NoError(tb, err)
	clock = backend.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	_, bench := tb.(*testing.B)
	pa = openPort(tb, Config{Port: na, RxDesc: 512, TxDesc: 512, Mbufs: 4095, Clock: clock, Poison: !bench})
	pb = openPort(tb, Config{Port: nb, RxDesc: 512, TxDesc: 512, Mbufs: 4095, Clock: clock, Poison: !bench})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mk := func(p *Port, addr string, mac byte, seed uint64) *stack.Stack {
		s, err := stack.New(stack.Config{
			Interfaces: []stack.InterfaceConfig{{Name: "eth0", Backend: p,
				Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}, MAC: net.HardwareAddr{2, 0, 0, 0, 0, mac}}},
			Seed: seed, Clock: clock, Manual: true, Logger: log})
		require.NoError(tb, err)
		tb.Cleanup(func() { s.Close() })
		return s
	}
	a = mk(pa, "10.0.0.1/24", 1, 1)
	b = mk(pb, "10.0.0.2/24", 2, 2)
	return a, b, pa, pb, clock
}

type udpConn interface {
	ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(p []byte, ap netip.AddrPort) (int, error)
}

// udpEcho is a client on a and an echo server on b, neighbours resolved.
type udpEcho struct {
	a, b     *stack.Stack
	c, srv   udpConn
	to       netip.AddrPort
	clock    *backend.VirtualClock
	msg, buf []byte
}

func newUDPEcho(tb testing.TB) *udpEcho {
	a, b, _, _, clock := ringStacks(tb)
	s, err := b.ListenPacket("udp", ":7")
	require.NoError(tb, err)
	c, err := a.ListenPacket("udp", ":0")
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close(); s.Close() })
	e := &udpEcho{a: a, b: b, c: c.(udpConn), srv: s.(udpConn), to: netip.MustParseAddrPort("10.0.0.2:7"),
		clock: clock, msg: make([]byte, 64), buf: make([]byte, 2048)}
	// The first datagram waits for ARP.
	e.c.WriteToUDPAddrPort(e.msg, e.to)
	for range 4 {
		a.Poll(clock.Now())
		b.Poll(clock.Now())
	}
	n, _, err := e.srv.ReadFromUDPAddrPort(e.buf)
	require.NoError(tb, err)
	require.Equal(tb, len(e.msg), n)
	return e
}

// round sends one datagram to the server and back.
func (e *udpEcho) round(tb testing.TB) {
	now := e.clock.Now()
	if _, err := e.c.WriteToUDPAddrPort(e.msg, e.to); err != nil {
		tb.Fatal(err)
	}
	e.a.Poll(now)
	e.b.Poll(now)
	n, from, err := e.srv.ReadFromUDPAddrPort(e.buf)
	if err != nil || n != len(e.msg) {
		tb.Fatalf("server read %d, %v", n, err)
	}
	if _, err := e.srv.WriteToUDPAddrPort(e.buf[:n], from); err != nil {
		tb.Fatal(err)
	}
	e.b.Poll(now)
	e.a.Poll(now)
	if n, _, err := e.c.ReadFromUDPAddrPort(e.buf); err != nil || n != len(e.msg) {
		tb.Fatalf("client read %d, %v", n, err)
	}
}

// The UDP echo path through two stacks on DPDK ports allocates nothing.
func TestStackUDPEchoOnRingAllocatesNothing(t *testing.T) {
	e := newUDPEcho(t)
	for range 100 {
		e.round(t)
	}
	require.Zero(t, testing.AllocsPerRun(1000, func() { e.round(t) }), "allocations per echo (two datagrams)")
}

// BenchmarkStackUDPEcho: a 64-byte datagram to an echo server and back,
// through two stacks on a ring pair; pps counts both datagrams.
func BenchmarkStackUDPEcho(b *testing.B) {
	e := newUDPEcho(b)
	b.ReportAllocs()
	cpu := threadCPU(b)
	for b.Loop() {
		e.round(b)
	}
	frames := float64(2 * b.N)
	b.ReportMetric(frames/b.Elapsed().Seconds(), "pps")
	b.ReportMetric(float64(threadCPU(b)-cpu)/frames, "cpu-ns/frame")
}

// BenchmarkStackTCPBulk: one connection moving data from a to b as fast
// as one goroutine polling both stacks can; pps counts the frames both
// ports sent (data and ACKs).
func BenchmarkStackTCPBulk(b *testing.B) {
	sa, sb, pa, pb, clock := ringStacks(b)
	lnI, err := sb.Listen("tcp", ":80")
	require.NoError(b, err)
	ln := lnI.(stack.NonblockingListener)
	cl, err := sa.StartDial("tcp", "10.0.0.2:80")
	require.NoError(b, err)
	var srv stack.NonblockingConn
	for i := 0; srv == nil && i < 1000; i++ {
		sa.Poll(clock.Now())
		sb.Poll(clock.Now())
		srv, err = ln.TryAccept()
		require.NoError(b, err)
	}
	require.NotNil(b, srv)
	b.Cleanup(func() { cl.Close(); srv.Close(); ln.Close() })
	data, buf := make([]byte, 256<<10), make([]byte, 256<<10)
	pump := func(bytes int) {
		for moved := 0; moved < bytes; {
			if _, err := cl.TryWrite(data); err != nil {
				b.Fatal(err)
			}
			// Time moves a little each turn, as on a wire, so that
			// the stacks' timers (delayed ACKs) run.
			clock.Advance(10 * time.Microsecond)
			sa.Poll(clock.Now())
			sb.Poll(clock.Now())
			for {
				n, err := srv.TryRead(buf)
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
				moved += n
			}
		}
	}
	pump(8 << 20) // past slow start
	const chunk = 1 << 20
	b.SetBytes(chunk)
	b.ReportAllocs()
	before := pa.QueueStats(0).TxPackets + pb.QueueStats(0).TxPackets
	cpu := threadCPU(b)
	for b.Loop() {
		pump(chunk)
	}
	frames := float64(pa.QueueStats(0).TxPackets + pb.QueueStats(0).TxPackets - before)
	b.ReportMetric(frames/b.Elapsed().Seconds(), "pps")
	b.ReportMetric(float64(threadCPU(b)-cpu)/frames, "cpu-ns/frame")
	b.ReportMetric(float64(b.N)*chunk*8/b.Elapsed().Seconds()/1e9, "Gbit/s")
}
