package stack

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack/wire"
)

// floodNet is a client stack a (10.0.0.1) and a server stack b (10.0.0.2,
// default route via a) on a 1 Gbit/s pipe, on virtual time; an attacker
// shares a's end of the wire.
type floodNet struct {
	t      testing.TB
	clock  *backend.VirtualClock
	a, b   *Stack
	ea, eb *pipe.End
	// syn is the attacker's SYN, patched for each one it sends: with an
	// MSS option, or without (bare: four NOPs), as hping3 sends them, but
	// for every mssEvery-th (0: none).
	syn      []byte
	bare     bool
	mssEvery int
	count    int
	rng      *rand.Rand
	fr       [64]*backend.Frame
}

func newFloodNet(t testing.TB, tcp TCPConfig) *floodNet {
	return newFloodNetRecvMax(t, tcp, 0)
}

// newFloodNetRecvMax is newFloodNet with b's device giving at most
// recvMax frames per Recv (0: as many as asked), as DPDK gives its burst.
func newFloodNetRecvMax(t testing.TB, tcp TCPConfig, recvMax int) *floodNet {
	clock := backend.NewVirtualClock(t0)
	ea, eb, err := pipe.New(pipe.Config{Clock: clock, Latency: 100 * time.Microsecond, Bandwidth: 1e9, PoolSize: 65536, QueueDepth: 32768})
	require.NoError(t, err)
	var bb backend.Backend = eb
	if recvMax > 0 {
		bb = recvMaxBackend{eb, recvMax}
	}
	a, err := New(Config{Interfaces: []InterfaceConfig{{Backend: ea, Addrs: []netip.Prefix{addrA}}}, Seed: 1, Clock: clock, Manual: true, Logger: quietLogger(), TCP: tcp})
	require.NoError(t, err)
	b, err := New(Config{Interfaces: []InterfaceConfig{{Backend: bb, Addrs: []netip.Prefix{addrB}}}, Seed: 2, Clock: clock, Manual: true, Logger: quietLogger(), TCP: tcp,
		Routes: []Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: addrA.Addr()}}})
	require.NoError(t, err)
	n := &floodNet{t: t, clock: clock, a: a, b: b, ea: ea, eb: eb, rng: rand.New(rand.NewPCG(7, 7))}
	n.syn = make([]byte, wire.EthernetHeaderLen+wire.IPv4HeaderLen+wire.TCPHeaderLen+4)
	e := wire.Ethernet(n.syn)
	e.SetDst(wire.MAC(eb.Caps().MAC))
	e.SetSrc(wire.MAC(ea.Caps().MAC))
	e.SetEtherType(wire.EtherTypeIPv4)
	return n
}

// recvMaxBackend gives at most max frames per Recv.
type recvMaxBackend struct {
	backend.Backend
	max int
}

func (r recvMaxBackend) Recv(q int, frames []*backend.Frame) (int, error) {
	return r.Backend.Recv(q, frames[:min(len(frames), r.max)])
}

// step polls both stacks and moves the clock to the next event, or to at
// when that comes first (0: no bound); false when nothing is scheduled.
func (n *floodNet) step(at int64) bool {
	now := n.clock.Now()
	next := at
	consider := func(t int64) {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	consider(n.a.Poll(now))
	consider(n.b.Poll(now))
	for _, e := range []*pipe.End{n.ea, n.eb} {
		if t, ok := e.NextArrival(0); ok {
			consider(t)
		}
	}
	if next == 0 {
		return false
	}
	n.clock.Set(max(next, now+1))
	return true
}

// flood sends count spoofed SYNs to b's port 80 from random addresses of
// 198.18.0.0/15 (RFC 2544's benchmarking range), as hping3 --rand-source
// does; it returns how many the wire took.
func (n *floodNet) flood(count int) int {
	sent := 0
	for sent < count {
		k := n.ea.Alloc(0, n.fr[:min(count-sent, len(n.fr))], len(n.syn))
		if k == 0 {
			break
		}
		for _, f := range n.fr[:k] {
			n.patchSYN()
			f.SetLen(len(n.syn))
			copy(f.Bytes(), n.syn)
		}
		m, _ := n.ea.Send(0, n.fr[:k])
		backend.Release(n.fr[m:k])
		sent += m
		if m < k {
			break
		}
	}
	return sent
}

func (n *floodNet) patchSYN() {
	src := netip.AddrFrom4([4]byte{198, 18 + byte(n.rng.IntN(2)), byte(n.rng.Uint32()), byte(n.rng.Uint32())})
	wire.IPv4Fields{ID: uint16(n.rng.Uint32()), TTL: 64, Protocol: wire.IPProtoTCP, Src: src, Dst: addrB.Addr(), PayloadLen: wire.TCPHeaderLen + 4}.
		Emit(n.syn[wire.EthernetHeaderLen:])
	tcp := wire.TCP(n.syn[wire.EthernetHeaderLen+wire.IPv4HeaderLen:])
	binary.BigEndian.PutUint16(tcp[0:], uint16(1024+n.rng.IntN(60000)))
	binary.BigEndian.PutUint16(tcp[2:], 80)
	binary.BigEndian.PutUint32(tcp[4:], n.rng.Uint32())
	binary.BigEndian.PutUint32(tcp[8:], 0)
	tcp[12] = 6 << 4
	tcp[13] = byte(wire.TCPFlagSYN)
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	binary.BigEndian.PutUint32(tcp[16:], 0)
	n.count++
	if n.bare && (n.mssEvery == 0 || n.count%n.mssEvery != 0) {
		copy(tcp[20:], []byte{1, 1, 1, 1})
	} else {
		copy(tcp[20:], []byte{2, 4, 5, 0xb4})
	}
	tcp.SetChecksum(tcp.ComputeChecksum(src, addrB.Addr()))
}

func (n *floodNet) close() {
	require.NoError(n.t, n.a.Close())
	require.NoError(n.t, n.b.Close())
	require.Zero(n.t, n.ea.Outstanding(), "a's buffers")
	require.Zero(n.t, n.eb.Outstanding(), "b's buffers")
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// floodSYNs is how many spoofed SYNs TestSYNFloodWhileTransferring sends:
// a million, or $USTACK_FLOOD_SYNS.
func floodSYNs(t *testing.T) int {
	if v := os.Getenv("USTACK_FLOOD_SYNS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "USTACK_FLOOD_SYNS")
		return n
	}
	return 1_000_000
}

// A million spoofed SYNs at a million a second (two thirds of the link)
// while the server sends over a connection it had accepted, for as long as
// the flood lasts: what it sent arrives intact at a useful rate, a
// connection opened during the flood completes through a SYN cookie, the
// SYN queue never holds more than its backlog, and the heap stays bounded.
func TestSYNFloodWhileTransferring(t *testing.T) {
	total := floodSYNs(t)
	n := newFloodNet(t, TCPConfig{})
	defer n.close()
	lnI, err := n.b.Listen("tcp", ":80")
	require.NoError(t, err)
	ln := lnI.(*tcpListener)
	cl := dialManual(t, n.a, netip.MustParseAddrPort("10.0.0.2:80"))
	var srv *tcpSock
	for i := 0; srv == nil; i++ {
		require.Less(t, i, 1000, "handshake")
		n.step(0)
		srv = tryAccept(ln)
	}
	data := randomBytes(3, 1<<20)
	sentHash, gotHash := sha256.New(), sha256.New()
	buf := make([]byte, 64<<10)
	base := heapInuse()
	var peak uint64

	// A million a second: 100 SYNs every 100 µs.
	const batch, every = 100, int64(100 * time.Microsecond)
	next := n.clock.Now()
	flooded, sent, got := 0, 0, 0
	var late *tcpSock
	start := n.clock.Now()
	for flooded < total || got < sent {
		require.Less(t, n.clock.Now()-start, int64(time.Minute), "stuck: %d of %d bytes, %d SYNs", got, sent, flooded)
		if flooded < total && n.clock.Now() >= next {
			flooded += n.flood(min(batch, total-flooded))
			next += every
			if flooded%(total/10+1) < batch {
				peak = max(peak, heapInuse())
			}
		}
		if late == nil && flooded >= total/2 {
			late = dialManual(t, n.a, netip.MustParseAddrPort("10.0.0.2:80"))
		}
		if flooded < total {
			off := sent % len(data)
			w, _ := srv.writeSome(data[off:])
			sentHash.Write(data[off : off+w])
			sent += w
		}
		for r := cl.readSome(buf); r > 0; r = cl.readSome(buf) {
			gotHash.Write(buf[:r])
			got += r
		}
		require.Zero(t, cl.c.shErr.Load(), "the healthy connection failed")
		at := int64(0)
		if flooded < total {
			at = next
		}
		if !n.step(at) {
			break
		}
	}
	require.Equal(t, sent, got, "the transfer completed")
	require.Equal(t, sentHash.Sum(nil), gotHash.Sum(nil), "intact")
	for range 100 {
		n.step(0)
	}
	peak = max(peak, heapInuse())

	c := n.b.Counters().TCP
	took := time.Duration(n.clock.Now() - start)
	t.Logf("%d SYNs and %d MiB in %v of virtual time; server: %d cookies sent, %d received; heap %d MiB before, peak %d MiB",
		flooded, got>>20, took, c.SynCookiesSent, c.SynCookiesRecv, base>>20, peak>>20)
	assert.Greater(t, float64(got)*8/took.Seconds(), 100e6, "the healthy connection kept over 100 Mbit/s")
	assert.Equal(t, total, flooded, "the wire took every SYN")
	assert.Greater(t, c.SynCookiesSent, uint64(total*9/10), "SYN cookies engaged")
	require.NotNil(t, late)
	assert.Equal(t, stateEstablished, tcpState(late.c.shState.Load()), "a connection opened during the flood")
	assert.Equal(t, uint64(1), c.SynCookiesRecv, "through a cookie")
	lq := n.b.queues[0].tcp.listeners[80]
	require.Len(t, lq, 1)
	assert.LessOrEqual(t, lq[0].synRcvd, 1024, "the SYN queue holds at most its backlog")
	assert.Less(t, len(n.b.queues[0].tcp.conns), 1024+4)
	assert.Less(t, peak, base+64<<20, "the heap grew by less than 64 MiB")
	require.NoError(t, late.Close())
	require.NoError(t, cl.Close())
	require.NoError(t, srv.Close())
	require.NoError(t, ln.Close())
}

// A queue that is behind (its last receive turn filled every burst)
// answers every other SYN that would get a cookie; one that keeps up
// answers all, and SYNs that get state are never shed. While most cookie
// SYNs come without an MSS option, as hping3's do, those that carry one,
// as every real client's does, are all answered; among a flood whose SYNs
// carry it too, they are shed every other one like the rest.
func TestSYNFloodShedsCookiesWhileBehind(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cookies    string
		syns       int
		sent, shed uint64
		halfOpen   int
		recvMax    int // frames per Recv at most (0: 64, as asked)
		bare       bool
		mssEvery   int
		clients    int // SYNs with the option after the flood's
	}{
		// Four bursts of 64 a turn: the first turn answers its 256,
		// the next two and the last (232) answer half.
		{"behind", "always", 1000, 256 + 128 + 128 + 116, 128 + 128 + 116, 0, 0, false, 0, 0},
		// A device that gives 32 at a time, as DPDK does: turns of 128,
		// six of them behind, then 104.
		{"behind, bursts of 32", "always", 1000, 128 + 6*64 + 52, 6*64 + 52, 0, 32, false, 0, 0},
		{"keeping up", "always", 200, 200, 0, 0, 0, false, 0, 0},
		{"no cookies", "auto", 1000, 0, 0, 1000, 0, false, 0, 0},
		// The flood as "behind": half the 744 SYNs of the turns behind
		// (within one) are shed, all of them bare; the last turn's ten
		// clients are all answered.
		{"bare flood, clients", "always", 1000, 256 + 373 + 10, 371, 0, 0, true, 0, 10},
		// One flood SYN in four with the option: the bare ones make up
		// the half (within two), and the clients are answered.
		{"mixed flood, clients", "always", 1000, 256 + 374 + 10, 370, 0, 0, true, 4, 10},
		{"flood with MSS, clients", "always", 1000, 256 + 128 + 128 + 121, 128 + 128 + 121, 0, 0, false, 0, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newFloodNetRecvMax(t, TCPConfig{SynCookies: tc.cookies, SynBacklog: 2048}, tc.recvMax)
			defer n.close()
			ln, err := n.b.Listen("tcp", ":80")
			require.NoError(t, err)
			defer ln.Close()
			n.bare, n.mssEvery = tc.bare, tc.mssEvery
			require.Equal(t, tc.syns, n.flood(tc.syns))
			n.bare = false
			require.Equal(t, tc.clients, n.flood(tc.clients))
			// Every SYN is on b's device (within 0.6 ms) before b polls.
			n.clock.Advance(10 * time.Millisecond)
			for range 20 {
				n.b.Poll(n.clock.Now())
			}
			c := n.b.Counters().TCP
			assert.Equal(t, tc.sent, c.SynCookiesSent, "cookies sent")
			assert.Equal(t, tc.shed, c.SynCookiesShed, "cookies shed")
			assert.Equal(t, tc.halfOpen, n.b.queues[0].tcp.listeners[80][0].synRcvd, "half-open connections")

			// Caught up, the queue answers every cookie SYN again.
			if tc.cookies == "always" {
				require.Equal(t, 10, n.flood(10))
				n.clock.Advance(10 * time.Millisecond)
				n.b.Poll(n.clock.Now())
				assert.Equal(t, tc.sent+10, n.b.Counters().TCP.SynCookiesSent)
			}
		})
	}
}
