package stack

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/internal/ring"
)

// TestSoakManyConnections keeps many connections busy for minutes of
// virtual time: each sends a message a second that the server echoes.
// The heap and the timers stay flat once all are open, and once all are
// closed and TIME-WAIT has passed, nothing is left: no connection, timer,
// buffer memory or backend buffer. By default 1,000 connections for 30
// seconds; USTACK_SOAK=1 runs 10,000 for 3 minutes.
func TestSoakManyConnections(t *testing.T) {
	conns, rounds := 1000, 30
	if os.Getenv("USTACK_SOAK") != "" {
		conns, rounds = 10_000, 180
	}
	if testing.Short() {
		t.Skip("a soak test: minutes of virtual time")
	}
	// Small buffers, as a server of many connections would have.
	n := newFloodNet(t, TCPConfig{SendBuffer: 16 << 10, RecvBuffer: 16 << 10})
	defer n.close()
	qa, qb := n.a.queues[0], n.b.queues[0]
	timersA, timersB := qa.timers.Len(), qb.timers.Len()
	lnI, err := n.b.ListenBacklog("tcp", ":80", conns)
	require.NoError(t, err)
	ln := lnI.(*tcpListener)
	cls := make([]*tcpSock, conns)
	srvs := make([]*tcpSock, 0, conns)
	for i := range cls {
		cls[i] = dialManual(t, n.a, netip.MustParseAddrPort("10.0.0.2:80"))
		if i%64 == 63 {
			n.step(0)
		}
	}
	for i := 0; len(srvs) < conns; i++ {
		require.Less(t, i, 100000, "handshakes: %d of %d accepted", len(srvs), conns)
		n.step(0)
		for s := tryAccept(ln); s != nil; s = tryAccept(ln) {
			srvs = append(srvs, s)
		}
	}

	buf := make([]byte, 4096)
	var heapWarm uint64
	var timersWarm int
	start := n.clock.Now()
	for r := range rounds {
		tick := start + int64(r)*int64(time.Second)
		for n.clock.Now() < tick && n.step(tick) {
		}
		msgs := make([][]byte, conns)
		for i, c := range cls {
			msgs[i] = []byte(fmt.Sprintf("round %d connection %d %s", r, i, bytes.Repeat([]byte{'x'}, (i*7+r)%200)))
			n, err := c.writeSome(msgs[i])
			require.NoError(t, err)
			require.Equal(t, len(msgs[i]), n)
		}
		// Echo until every client has its message back.
		got := make([][]byte, conns)
		done := 0
		for begin := n.clock.Now(); done < conns; {
			require.Less(t, n.clock.Now()-begin, int64(30*time.Second), "round %d: %d of %d echoed", r, done, conns)
			// Run the stacks for a millisecond between looks at the
			// sockets: one step per event would look at every socket
			// for each connection's timer.
			slice := n.clock.Now() + int64(time.Millisecond)
			for n.step(slice) && n.clock.Now() < slice {
			}
			for _, s := range srvs {
				if k := s.readSome(buf); k > 0 {
					n, err := s.writeSome(buf[:k])
					require.NoError(t, err)
					require.Equal(t, k, n, "the echo fits")
				}
			}
			for i, c := range cls {
				if len(got[i]) == len(msgs[i]) {
					continue
				}
				if k := c.readSome(buf); k > 0 {
					got[i] = append(got[i], buf[:k]...)
					if len(got[i]) == len(msgs[i]) {
						require.Equal(t, msgs[i], got[i], "round %d connection %d", r, i)
						done++
					}
				}
			}
		}
		if r == 3 {
			heapWarm, timersWarm = heapInuse(), qa.timers.Len()+qb.timers.Len()
		}
	}
	heapEnd, timersEnd := heapInuse(), qa.timers.Len()+qb.timers.Len()
	t.Logf("%d connections, %d rounds: heap %d MiB after warm-up, %d MiB at the end; timers %d and %d; buffer memory %d MiB + %d MiB, stored %d KiB + %d KiB",
		conns, rounds, heapWarm>>20, heapEnd>>20, timersWarm, timersEnd, n.a.BufferMemory()>>20, n.b.BufferMemory()>>20,
		n.a.BufferStored()>>10, n.b.BufferStored()>>10)
	assert.Positive(t, n.a.BufferStored())
	assert.LessOrEqual(t, n.a.BufferStored(), conns*2*ring.MinStore, "each ring holds its smallest store")
	assert.Less(t, heapEnd, heapWarm+heapWarm/10+8<<20, "the heap is flat")
	assert.LessOrEqual(t, timersEnd, timersWarm+conns/10, "the timers are flat")
	assert.Equal(t, conns, len(qa.tcp.conns))
	assert.Equal(t, conns, len(qb.tcp.conns))

	for i := range cls {
		require.NoError(t, cls[i].Close())
		require.NoError(t, srvs[i].Close())
	}
	require.NoError(t, ln.Close())
	end := n.clock.Now() + int64(3*time.Minute)
	for n.clock.Now() < end && n.step(end) {
	}
	assert.Empty(t, qa.tcp.conns, "TIME-WAIT is over")
	assert.Empty(t, qb.tcp.conns)
	assert.Zero(t, qa.tcp.orphans+qb.tcp.orphans)
	assert.LessOrEqual(t, qa.timers.Len(), timersA, "no timer left behind")
	assert.LessOrEqual(t, qb.timers.Len(), timersB, "no timer left behind")
	assert.Zero(t, n.a.BufferMemory()+n.b.BufferMemory(), "all buffer memory given back")
	assert.Zero(t, n.a.BufferStored()+n.b.BufferStored(), "every store given back")
}
