package stack

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/faults"
	"github.com/ustack/ustack/backend/pipe"
)

// opaque makes a pipe end report steering the stack cannot compute, as
// af_packet fanout does: the stack then cannot choose ports that steer home
// and passes frames between queues.
type opaque struct{ *pipe.End }

func (o opaque) Caps() backend.Caps {
	c := o.End.Caps()
	c.Steering = backend.SteerOpaque
	c.ToeplitzKey, c.ToeplitzTable, c.ToeplitzFields = nil, nil, 0
	return c
}

// perQueue is a counter of each of s's queues.
func perQueue(s *Stack, get func(c *Counters) uint64) []uint64 {
	var out []uint64
	for _, q := range s.queues {
		c := q.snapshotCounters()
		out = append(out, get(&c))
	}
	return out
}

// echoServer accepts on ln and echoes every connection until it closes,
// for at most a minute.
func echoServer(t *testing.T, ln net.Listener) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				// A client that gave up may leave the connection with
				// nobody to close it (its reset lost to faults).
				assert.NoError(t, c.SetDeadline(time.Now().Add(time.Minute)))
				_, err := io.Copy(c, c)
				assert.NoError(t, err)
			}()
		}
	}()
	return &wg
}

// serveEchoes runs dial while server echoes on port 80, then closes the
// listener and waits for the echo server's connections to end.
func serveEchoes(t *testing.T, server *Stack, dial func()) {
	ln, err := server.Listen("tcp", ":80")
	require.NoError(t, err)
	srv := echoServer(t, ln)
	dial()
	require.NoError(t, ln.Close())
	srv.Wait()
}

// echoMany dials conns connections to addr at once; each sends size
// pseudo-random bytes, half-closes and checks the echo by digest.
func echoMany(t *testing.T, s *Stack, addr string, conns, size int) {
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.Dial("tcp", addr)
			if !assert.NoError(t, err, "dial %d", i) {
				return
			}
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
			data := make([]byte, size)
			r := rand.NewChaCha8([32]byte{byte(i)})
			_, _ = r.Read(data)
			go func() {
				_, err := c.Write(data)
				assert.NoError(t, err)
				assert.NoError(t, c.(interface{ CloseWrite() error }).CloseWrite())
			}()
			got, err := io.ReadAll(c)
			assert.NoError(t, err, "conn %d", i)
			if sha256.Sum256(data) != sha256.Sum256(got) {
				t.Errorf("conn %d %v->%v: echoed %d of %d bytes; %s", i, c.LocalAddr(), c.RemoteAddr(), len(got), size, describeDiff(data, got))
			}
		}()
	}
	wg.Wait()
}

// describeDiff says where got, an echo of want, first differs from it and
// how far the difference runs, and whether the bytes there are ones want
// has elsewhere (misplaced) or not (foreign).
func describeDiff(want, got []byte) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	if i == len(want) || i == len(got) {
		return fmt.Sprintf("one is a prefix of the other, differing from byte %d", i)
	}
	j := i
	for j < len(want) && j < len(got) && want[j] != got[j] {
		j++
	}
	what := "foreign"
	if k := min(j, i+8); bytes.Contains(want, got[i:k]) {
		what = fmt.Sprintf("misplaced (found at %d)", bytes.Index(want, got[i:k]))
	}
	return fmt.Sprintf("first difference at byte %d, running %d bytes, %s: got % x, want % x", i, j-i, what, got[i:min(j, i+16)], want[i:min(j, i+16)])
}

func allPositive(t *testing.T, v []uint64, what string) {
	t.Helper()
	for i, n := range v {
		assert.Positive(t, n, "%s on queue %d (all: %v)", what, i, v)
	}
}

func TestMultiQueueTCPToeplitz(t *testing.T) {
	for _, queues := range []int{2, 4} {
		t.Run(fmt.Sprintf("queues=%d", queues), func(t *testing.T) {
			pipeModes(t, pipe.Config{Queues: queues}, func(t *testing.T, p *pair) {
				require.Len(t, p.a.queues, queues)
				serveEchoes(t, p.b, func() {
					echoMany(t, p.a, "10.0.0.2:80", 64, 20000)
					// Over loopback, each connection stays on the
					// queue that dialled.
					echoMany(t, p.b, "127.0.0.1:80", 8, 20000)
				})

				allPositive(t, perQueue(p.b, func(c *Counters) uint64 { return c.TCP.PassiveOpens }), "accepted connections")
				allPositive(t, perQueue(p.a, func(c *Counters) uint64 { return c.TCP.ActiveOpens }), "dialled connections")
				ca, cb := p.a.Counters(), p.b.Counters()
				assert.Equal(t, uint64(64), ca.TCP.ActiveOpens)
				assert.Equal(t, uint64(64+8), cb.TCP.PassiveOpens)
				assert.Zero(t, ca.Queue.SteerMisses, "dialled connections steer home")
				assert.Zero(t, cb.Queue.SteerMisses, "accepted connections stay where the device put them")
				assert.Zero(t, ca.Queue.HandoffDrops+cb.Queue.HandoffDrops)
			})
		})
	}
}

// Echoes between two-queue stacks, on the real clock, with a's side losing,
// duplicating, reordering and corrupting frames both ways: each queue's
// loop recovers its own connections, whose data segments carry SACK
// blocks both ways, and every byte comes back intact.
func TestMultiQueueTCPEchoUnderFaults(t *testing.T) {
	spec, err := faults.Parse("loss=0.02,dup=0.01,reorder=0.03,corrupt=0.005")
	require.NoError(t, err)
	for _, mode := range []string{"plain", "mbuf", "virtio"} {
		t.Run(mode, func(t *testing.T) {
			cfg := pipe.Config{Queues: 2, Mbuf: mode == "mbuf", Offloads: mode == "virtio"}
			p := newPair(t, cfg, func(b backend.Backend) backend.Backend {
				fa, err := faults.Wrap(b, spec, 7, backend.NewRealClock())
				require.NoError(t, err)
				return fa
			})
			serveEchoes(t, p.b, func() { echoMany(t, p.a, "10.0.0.2:80", 16, 100000) })
			assert.Zero(t, p.a.Counters().IP.FragFails+p.b.Counters().IP.FragFails, "segments too large for the MTU")
			p.close(t)
		})
	}
}

// With steering the stack cannot compute, dialled connections' segments
// reach other queues and are passed to their owners.
func TestMultiQueueTCPOpaque(t *testing.T) {
	ea, eb, err := pipe.New(pipe.Config{Queues: 4})
	require.NoError(t, err)
	a, err := New(Config{Interfaces: []InterfaceConfig{{Backend: opaque{ea}, Addrs: []netip.Prefix{addrA}}}, Seed: 1, Logger: quietLogger()})
	require.NoError(t, err)
	b, err := New(Config{Interfaces: []InterfaceConfig{{Backend: eb, Addrs: []netip.Prefix{addrB}}}, Seed: 2, Logger: quietLogger()})
	require.NoError(t, err)
	p := &pair{a: a, b: b, ea: ea, eb: eb}
	serveEchoes(t, b, func() { echoMany(t, a, "10.0.0.2:80", 32, 20000) })
	ca := a.Counters()
	assert.Equal(t, uint64(32), ca.TCP.ActiveOpens)
	assert.Positive(t, ca.Queue.SteerMisses, "segments reached queues that do not own their connection")
	assert.Zero(t, b.Counters().Queue.SteerMisses)
	p.close(t)
}

func TestMultiQueueUDP(t *testing.T) {
	pipeModes(t, pipe.Config{Queues: 4}, func(t *testing.T, p *pair) {
		srv, err := p.b.ListenPacket("udp", ":53")
		require.NoError(t, err)
		done := serveUDPEcho(t, srv)
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := p.a.Dial("udp", "10.0.0.2:53")
				if !assert.NoError(t, err) {
					return
				}
				defer c.Close()
				buf := make([]byte, 2000)
				for j := range 5 {
					msg := bytes.Repeat([]byte{byte(i), byte(j)}, 100+i)
					// Datagrams may be lost to a resolution in progress:
					// ask again until the answer comes.
					for try := 0; ; try++ {
						require.Less(t, try, 50, "socket %d datagram %d", i, j)
						_, err := c.Write(msg)
						require.NoError(t, err)
						require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
						n, err := c.Read(buf)
						if err == nil && bytes.Equal(buf[:n], msg) {
							break
						}
					}
				}
			}()
		}
		wg.Wait()
		require.NoError(t, srv.Close())
		<-done
		allPositive(t, perQueue(p.b, func(c *Counters) uint64 { return c.UDP.InDatagrams }), "datagrams received")
		allPositive(t, perQueue(p.a, func(c *Counters) uint64 { return c.UDP.InDatagrams }), "replies received")
	})
}

// Fragments reach queue 0, which reassembles them; echo replies and raw
// sockets work from every queue.
func TestMultiQueuePingFragments(t *testing.T) {
	pipeModes(t, pipe.Config{Queues: 4}, func(t *testing.T, p *pair) {
		for i, size := range []int{56, 4000, 65507 - 8} {
			_, err := ping(t, p.a, addrB.Addr(), 9, uint16(i), size)
			require.NoError(t, err, "size %d", size)
		}
		assert.Positive(t, p.b.Counters().IP.ReasmOKs)
	})
}

// Over IPv6, Neighbor Discovery is queue 0's, and dialled connections
// steer home as over IPv4.
func TestMultiQueueIPv6(t *testing.T) {
	pipeModes6(t, pipe.Config{Queues: 4}, func(t *testing.T, p *pair) {
		serveEchoes(t, p.b, func() { echoMany(t, p.a, "[fd00::2]:80", 32, 20000) })
		require.NoError(t, ping6(t, p.a, addr6B.Addr(), 3, 1, 4000))
		allPositive(t, perQueue(p.b, func(c *Counters) uint64 { return c.TCP.PassiveOpens }), "accepted connections")
		ca, cb := p.a.Counters(), p.b.Counters()
		assert.Equal(t, uint64(32), ca.TCP.ActiveOpens)
		assert.Zero(t, ca.Queue.SteerMisses+cb.Queue.SteerMisses)
	})
}

// On virtual time, a stack of two queues driven by Poll moves bulk data
// allocating nothing per segment, as one queue does.
func TestMultiQueueBulkAllocatesNothingPerSegment(t *testing.T) {
	for _, mbuf := range []bool{false, true} {
		p := newBulkPairOn(t, newSimNetOn(t, 1, "", pipe.Config{Queues: 2, Mbuf: mbuf, Bandwidth: 1e9, PoolSize: 32768}), netip.MustParseAddrPort("10.0.0.2:80"))
		p.pump(t, 8<<20)
		allocs := testing.AllocsPerRun(10, func() { p.pump(t, 1<<20) })
		require.Zero(t, allocs, "mbuf=%v: allocations per MiB of bulk transfer", mbuf)
		c := p.n.a.Counters()
		assert.Zero(t, c.Queue.SteerMisses)
		p.close()
	}
}

// A path MTU one queue learns, every queue uses for new connections.
func TestMultiQueuePathMTUShared(t *testing.T) {
	n := newSimNetOn(t, 1, "", pipe.Config{Queues: 4})
	dst := netip.MustParseAddr("10.0.0.9")
	s := n.a
	s.pollMu.Lock()
	s.queues[2].learnPMTU(dst, 1280)
	s.pollMu.Unlock()
	s.Poll(n.clock.Now())
	for i, q := range s.queues {
		assert.Equal(t, 1280, q.pmtu.get(dst, n.clock.Now()), "queue %d", i)
	}
	n.close()
}

// queue1Bulk opens a bulk connection from queue 1 of n.a to remote, where
// n.b listens.
func queue1Bulk(t *testing.T, n *simNet, remote netip.AddrPort) *bulkPair {
	t.Helper()
	lnI, err := n.b.Listen("tcp", fmt.Sprintf(":%d", remote.Port()))
	require.NoError(t, err)
	a := n.a
	q1 := a.queues[1]
	nh, ok := a.shared().lookup(remote.Addr())
	require.True(t, ok)
	cl := newTCPSock(a, q1, "tcp", nil)
	a.pollMu.Lock()
	c, err := q1.connect(cl, netip.AddrPortFrom(nh.src, 0), remote, nh)
	a.pollMu.Unlock()
	require.NoError(t, err)
	cl.c, cl.laddr, cl.raddr = c, c.key.local, c.key.remote
	p := &bulkPair{n: n, cl: cl, buf: make([]byte, 256<<10), data: make([]byte, 256<<10)}
	for i := 0; p.srv == nil && i < 1000; i++ {
		n.step()
		p.srv = tryAccept(lnI.(*tcpListener))
	}
	require.NotNil(t, p.srv)
	return p
}

// dueNeighbour moves bulk bytes from queue 1 of a two-queue simulation
// to its peer, then has queue 0 publish the peer's ARP entry as due for
// confirmation; it returns the connection and the entry's key.
func dueNeighbour(t *testing.T, bulk int) (*bulkPair, neighKey) {
	n := newSimNetOn(t, 1, "", pipe.Config{Queues: 2, Bandwidth: 1e9, PoolSize: 32768})
	remote := netip.MustParseAddrPort("10.0.0.2:80")
	p := queue1Bulk(t, n, remote)
	p.pump(t, bulk)
	key := neighKey{0, remote.Addr()}
	a := n.a
	a.pollMu.Lock()
	defer a.pollMu.Unlock()
	q0 := a.queues[0]
	q0.arp.entries[key].until = n.clock.Now()
	q0.neighDirty = true
	q0.publishNeighbors()
	return p, key
}

// A neighbour due for confirmation costs queue 0 one frame from another
// queue, which has queue 0 confirm it; the rest go out at once. The
// confirmation is queue 1's connection's progress, which queue 0 reads
// without a probe.
func TestMultiQueueNeighbourConfirmation(t *testing.T) {
	p, key := dueNeighbour(t, 1<<20)
	n, a := p.n, p.n.a
	before := a.Counters()
	p.pump(t, 1<<20)
	after := a.Counters()
	assert.Equal(t, uint64(1), after.Queue.Handoffs-before.Queue.Handoffs, "frames queue 1 passed to queue 0")
	assert.Zero(t, after.ARP.OutRequests-before.ARP.OutRequests, "queue 0 probed a neighbour queue 1's connection confirmed")
	assert.Greater(t, (*a.neigh.Load())[key].until, n.clock.Now(), "confirmed and published anew")
	p.close()
}

// A frame that a queue of a Manual stack passes to a queue that ran
// before it in the same Poll makes Poll ask to run again at once, not at
// its next timer.
func TestManualPollReportsHandoffs(t *testing.T) {
	p, _ := dueNeighbour(t, 64<<10)
	n, a := p.n, p.n.a
	before := a.Counters().Queue.Handoffs
	p.cl.writeSome(p.data[:1000])
	now := n.clock.Now()
	assert.Equal(t, now, a.Poll(now), "queue 1 passed queue 0 its segment")
	assert.Equal(t, before+1, a.Counters().Queue.Handoffs)
	p.close()
}

// A neighbour NDP learned from its solicitation is STALE (RFC 4861
// §7.2.3) until a probe confirms it, at least DELAY_FIRST_PROBE_TIME after
// its first use, and is used meanwhile (§7.3.3): by every queue, at the
// cost of one frame to queue 0, which starts the confirmation. (Were the
// other queues to pass queue 0 all their frames to it until then, a
// device that steers a flow to the queue that last sent on it, as a
// multi-queue tap does, would steer their connections to queue 0.)
func TestMultiQueueStaleNeighbourIsUsed(t *testing.T) {
	n := newSimNet6(t, 1, "", pipe.Config{Queues: 2, Bandwidth: 1e9, PoolSize: 32768})
	a, b := n.a, n.b
	u, err := b.ListenPacket("udp", "[fd00::2]:5000")
	require.NoError(t, err)
	_, err = u.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr6A.Addr(), 9)))
	require.NoError(t, err)
	key := neighKey{0, addr6B.Addr()}
	state := func() neighState {
		a.pollMu.Lock()
		defer a.pollMu.Unlock()
		if nb := a.queues[0].nd.entries[key]; nb != nil {
			return nb.state
		}
		return neighIncomplete
	}
	for i := 0; state() == neighIncomplete && i < 1000; i++ {
		n.step()
	}
	require.Contains(t, []neighState{neighStale, neighDelay}, state(), "learned from the solicitation")

	before := a.Counters()
	n.stride = time.Millisecond
	p := queue1Bulk(t, n, netip.AddrPortFrom(addr6B.Addr(), 80))
	p.pump(t, 1<<20)
	after := a.Counters()
	assert.LessOrEqual(t, after.Queue.Handoffs-before.Queue.Handoffs, uint64(2), "frames queue 1 passed to queue 0")
	assert.Equal(t, neighDelay, state(), "queue 0 waits to probe the neighbour in use")
	require.NoError(t, u.Close())
	p.close()
}

// BenchmarkMultiQueueCRR opens a connection, exchanges a byte each way and
// closes it, from many goroutines at once, with both stacks on 1, 2 and 4
// queues over the pipe (Toeplitz steering).
func BenchmarkMultiQueueCRR(b *testing.B) {
	for _, queues := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("queues=%d", queues), func(b *testing.B) {
			p := newPair(b, pipe.Config{Queues: queues}, nil)
			ln, err := p.b.Listen("tcp", ":80")
			require.NoError(b, err)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						var one [1]byte
						if _, err := io.ReadFull(c, one[:]); err == nil {
							c.Write(one[:])
						}
					}()
				}
			}()
			crr := func() {
				var one [1]byte
				c, err := p.a.Dial("tcp", "10.0.0.2:80")
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := c.Write(one[:]); err != nil {
					b.Error(err)
				}
				if _, err := io.ReadFull(c, one[:]); err != nil {
					b.Error(err)
				}
				c.Close()
			}
			// Resolve the neighbours before timing.
			crr()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					crr()
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(p.a.Counters().Queue.SteerMisses), "steer-misses")
			ln.Close()
			p.close(b)
		})
	}
}
