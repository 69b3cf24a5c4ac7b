package stack

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/faults"
	"github.com/ustack/ustack/backend/pipe"
)

func TestLongestPrefixMatchAndSourceSelection(t *testing.T) {
	lo := &iface{name: "lo", loopback: true}
	e0, e1 := &iface{idx: 0, name: "e0"}, &iface{idx: 1, name: "e1"}
	sh := newShared([]*iface{e0, e1}, lo, [][]netip.Prefix{
		{netip.MustParsePrefix("10.0.0.1/24")},
		{netip.MustParsePrefix("10.1.0.1/16"), netip.MustParsePrefix("10.1.2.1/24")},
	}, []Route{
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("10.0.0.254")},
		{Prefix: netip.MustParsePrefix("192.168.0.0/16"), Via: netip.MustParseAddr("10.1.0.9")},
		{Prefix: netip.MustParsePrefix("192.168.7.0/24"), Via: netip.MustParseAddr("10.0.0.7"), Interface: "e0"},
	})
	for _, c := range []struct {
		dst, ifc, hop, src string
		local              bool
	}{
		{"10.0.0.5", "e0", "10.0.0.5", "10.0.0.1", false},
		{"10.1.2.5", "e1", "10.1.2.5", "10.1.2.1", false},
		{"10.1.9.5", "e1", "10.1.9.5", "10.1.0.1", false},
		{"8.8.8.8", "e0", "10.0.0.254", "10.0.0.1", false},
		{"192.168.1.1", "e1", "10.1.0.9", "10.1.0.1", false},
		{"192.168.7.1", "e0", "10.0.0.7", "10.0.0.1", false},
		{"10.1.2.1", "lo", "10.1.2.1", "10.1.2.1", true},
		{"127.9.9.9", "lo", "127.9.9.9", "127.0.0.1", true},
	} {
		t.Run(c.dst, func(t *testing.T) {
			nh, ok := sh.lookup(netip.MustParseAddr(c.dst))
			require.True(t, ok)
			assert.Equal(t, c.ifc, nh.ifc.name)
			assert.Equal(t, c.hop, nh.addr.String())
			assert.Equal(t, c.src, nh.src.String())
			assert.Equal(t, c.local, nh.local)
		})
	}
	assert.True(t, sh.bcast.get(netip.MustParseAddr("10.1.255.255")) == e1)
}

func TestConfigRefusesBadInterfacesAndRoutes(t *testing.T) {
	ea, _, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no interfaces"},
		{Config{Interfaces: []InterfaceConfig{{Name: "x"}}}, "interface x has no backend"},
		{Config{Interfaces: []InterfaceConfig{{Backend: ea, Addrs: []netip.Prefix{netip.MustParsePrefix("224.0.0.1/4")}}}}, "not a unicast address"},
		{Config{Interfaces: []InterfaceConfig{{Backend: ea}}, Routes: []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Interface: "nope"}}}, `no interface "nope"`},
		{Config{Interfaces: []InterfaceConfig{{Backend: ea}}, TCP: TCPConfig{Congestion: "vegas"}}, `congestion control "vegas"`},
		{Config{Interfaces: []InterfaceConfig{{Backend: ea}, {Backend: ea, Name: "eth0"}}}, `"eth0" used twice`},
	} {
		_, err := New(c.cfg)
		assert.ErrorContains(t, err, c.want)
	}
}

// A stack with two interfaces reaches hosts on both, with the right
// source address on each, and a gateway for everything else.
func TestTwoInterfacesAndAGateway(t *testing.T) {
	a0, b, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	a1, c, err := pipe.New(pipe.Config{MACs: [2]net.HardwareAddr{{2, 0, 0, 0, 1, 1}, {2, 0, 0, 0, 1, 2}}})
	require.NoError(t, err)
	sa, err := New(Config{Interfaces: []InterfaceConfig{
		{Name: "e0", Backend: a0, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		{Name: "e1", Backend: a1, Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/24")}},
	}, Routes: []Route{{Prefix: netip.MustParsePrefix("192.168.5.0/24"), Via: netip.MustParseAddr("10.1.0.2")}}, Seed: 1, Logger: quietLogger()})
	require.NoError(t, err)
	sb, err := New(Config{Interfaces: []InterfaceConfig{{Backend: b, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}}, Seed: 2, Logger: quietLogger()})
	require.NoError(t, err)
	// C owns the address behind the gateway too, so it answers for it.
	sc, err := New(Config{Interfaces: []InterfaceConfig{{Backend: c, Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.0.2/24"), netip.MustParsePrefix("192.168.5.1/24")}}}, Seed: 3, Logger: quietLogger()})
	require.NoError(t, err)
	for _, dst := range []string{"10.0.0.2", "10.1.0.2", "192.168.5.1"} {
		_, err := ping(t, sa, netip.MustParseAddr(dst), 1, 1, 56)
		require.NoError(t, err, dst)
	}
	ln, err := sc.Listen("tcp", "192.168.5.1:80")
	require.NoError(t, err)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte(c.RemoteAddr().String()))
			c.Close()
		}
	}()
	conn, err := sa.Dial("tcp", "192.168.5.1:80")
	require.NoError(t, err)
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(buf)
	assert.Contains(t, string(buf[:n]), "10.1.0.1:", "sourced from the gateway's interface")
	conn.Close()
	ln.Close()
	for _, s := range []*Stack{sa, sb, sc} {
		require.NoError(t, s.Close())
	}
	for _, e := range []*pipe.End{a0, a1, b, c} {
		assert.Zero(t, e.Outstanding())
	}
}

// With loss and corruption on the wire, UDP datagrams are lost but never
// delivered corrupted, and the counters say why each was dropped.
func TestUDPUnderLossAndCorruptionCountsEveryDrop(t *testing.T) {
	for _, offload := range []bool{false, true} {
		clock := backend.NewVirtualClock(t0)
		ea, eb, err := pipe.New(pipe.Config{Clock: clock, Offloads: offload})
		require.NoError(t, err)
		spec, err := faults.Parse("tx:loss=0.1,tx:corrupt=0.2")
		require.NoError(t, err)
		fa, err := faults.Wrap(ea, spec, 42, clock)
		require.NoError(t, err)
		mk := func(be backend.Backend, p netip.Prefix) *Stack {
			// IPv6's start-up solicitations would cross the faulty link
			// too: only the UDP datagrams are counted.
			s, err := New(Config{Interfaces: []InterfaceConfig{{Backend: be, Addrs: []netip.Prefix{p}}}, Seed: 1, Clock: clock, Manual: true, Logger: quietLogger(), IPv6: quietIPv6})
			require.NoError(t, err)
			return s
		}
		a, b := mk(fa, addrA), mk(eb, addrB)
		srv, err := b.ListenPacket("udp", ":9")
		require.NoError(t, err)
		cl, err := a.ListenPacket("udp", ":0")
		require.NoError(t, err)
		to := netip.MustParseAddrPort("10.0.0.2:9")
		// Resolve the neighbour first, over the faulty link.
		for i := 0; i < 50 && b.Counters().UDP.InDatagrams == 0; i++ {
			cl.(addrPortConn).WriteToUDPAddrPort([]byte("hello"), to)
			for range 3 {
				a.Poll(clock.Now())
				b.Poll(clock.Now())
				clock.Advance(time.Second)
			}
		}
		rbuf := make([]byte, 2048)
		for srv.(*dgramSock).rx.Len() > 0 {
			srv.ReadFrom(rbuf)
		}
		before := b.Counters()
		const n = 2000
		msg := make([]byte, 600)
		for i := range msg {
			msg[i] = byte(i)
		}
		got := 0
		for range n {
			_, err := cl.(addrPortConn).WriteToUDPAddrPort(msg, to)
			require.NoError(t, err)
			a.Poll(clock.Now())
			clock.Advance(time.Millisecond)
			b.Poll(clock.Now())
			for srv.(*dgramSock).rx.Len() > 0 {
				m, _, err := srv.(addrPortConn).ReadFromUDPAddrPort(rbuf)
				require.NoError(t, err)
				require.Equal(t, msg, rbuf[:m], "a corrupted datagram was delivered")
				got++
			}
		}
		after := b.Counters()
		fs := fa.Stats()
		dropped := fs.Tx.Dropped
		corrupted := fs.Tx.Corrupted
		caught := (after.IP.InCsumErrors - before.IP.InCsumErrors) + (after.UDP.InCsumErrors - before.UDP.InCsumErrors) +
			(after.IP.InHdrErrors - before.IP.InHdrErrors) + (after.IP.InTruncatedPkts - before.IP.InTruncatedPkts) +
			(after.UDP.InErrors - before.UDP.InErrors - (after.UDP.InCsumErrors - before.UDP.InCsumErrors)) +
			(after.IP.InAddrErrors - before.IP.InAddrErrors) + (after.UDP.NoPorts - before.UDP.NoPorts) +
			(after.IP.InMartians - before.IP.InMartians) + (after.IP.InUnknownProtos - before.IP.InUnknownProtos) +
			(after.IP.ReasmReqds - before.IP.ReasmReqds) + (after.Link.InOtherHost - before.Link.InOtherHost)
		t.Logf("offload=%v: %d sent, %d delivered, %d dropped on the wire, %d corrupted, %d caught by the receiver", offload, n, got, dropped, corrupted, caught)
		assert.Positive(t, corrupted)
		assert.Equal(t, uint64(n), uint64(got)+dropped+caught, "every datagram is delivered intact or its drop is counted")
		srv.Close()
		cl.Close()
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
		assert.Zero(t, ea.Outstanding()+eb.Outstanding())
	}
}

// An addrTable answers the same whether its addresses are few (a slice)
// or many (a map), and the last set wins.
func TestAddrTable(t *testing.T) {
	ifcs := []*iface{{name: "a"}, {name: "b"}}
	var tab addrTable
	want := map[netip.Addr]*iface{}
	for i := range 3 * smallAddrTable {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
		tab.set(a, ifcs[i%2])
		want[a] = ifcs[i%2]
		if i == 2 {
			tab.set(a, ifcs[0]) // set again: replaced, not added
			want[a] = ifcs[0]
		}
		for a, ifc := range want {
			require.Same(t, ifc, tab.get(a), "%d addresses: %v", len(want), a)
		}
		assert.Nil(t, tab.get(netip.MustParseAddr("192.0.2.1")))
		assert.Nil(t, tab.get(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})))
	}
	assert.Nil(t, tab.small, "past %d addresses, a map", smallAddrTable)
}

// WaitRoute returns once the stack can send to the destination with a
// source of its scope: an on-link prefix with only the link-local address
// is not enough; the address SLAAC forms from the same prefix is.
func TestWaitRouteWaitsForWhatRoutersAdvertise(t *testing.T) {
	h := newHarness(t, false, Config{})
	h.at(time.Second)
	h.out()
	dst := netip.MustParseAddr("2001:db8:5::9")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, h.s.WaitRoute(ctx, dst), context.DeadlineExceeded, "nothing advertised yet")
	require.NoError(t, h.s.WaitRoute(context.Background(), netip.MustParseAddr("10.0.0.9")), "a static IPv4 address's subnet")

	done := make(chan error, 1)
	go func() { done <- h.s.WaitRoute(context.Background(), dst) }()
	h.ra(0, prefixOpt(slaacPrefix, 0x80, 3600, 1800))
	select {
	case err := <-done:
		t.Fatalf("returned with only the link-local source: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	h.ra(0, prefixOpt(slaacPrefix, flagsLA, 3600, 1800))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting with a SLAAC address in the prefix")
	}
	nh, ok := h.s.shared().lookup(dst)
	require.True(t, ok)
	assert.True(t, slaacPrefix.Contains(nh.src), "source %v", nh.src)
}
