package stack

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend/pipe"
)

// bulkPair is an established connection between two Manual stacks on a
// pipe, for driving bulk transfer by hand.
type bulkPair struct {
	n       *simNet
	cl, srv *tcpSock
	buf     []byte
	data    []byte
}

func newBulkPair(tb testing.TB, link pipe.Config) *bulkPair {
	return newBulkPairOn(tb, newSimNetOn(tb, 1, "", link), netip.MustParseAddrPort("10.0.0.2:80"))
}

// newBulkPairOn is newBulkPair on the network n, to remote.
func newBulkPairOn(tb testing.TB, n *simNet, remote netip.AddrPort) *bulkPair {
	lnI, err := n.b.Listen("tcp", fmt.Sprintf(":%d", remote.Port()))
	require.NoError(tb, err)
	ln := lnI.(*tcpListener)
	cl := dialManual(tb, n.a, remote)
	p := &bulkPair{n: n, cl: cl, buf: make([]byte, 256<<10), data: make([]byte, 256<<10)}
	for i := 0; p.srv == nil && i < 1000; i++ {
		n.step()
		p.srv = tryAccept(ln)
	}
	require.NotNil(tb, p.srv)
	return p
}

// pump moves at least bytes from client to server and returns how many
// segments the client sent meanwhile.
func (p *bulkPair) pump(tb testing.TB, bytes int) {
	moved := 0
	for moved < bytes {
		p.cl.writeSome(p.data)
		p.n.step()
		for {
			r := p.srv.readSome(p.buf)
			if r == 0 {
				break
			}
			moved += r
		}
		if e := p.cl.c.shErr.Load(); e != 0 {
			tb.Fatalf("connection failed: %v", syscall.Errno(e))
		}
	}
}

func (p *bulkPair) close() {
	p.cl.Close()
	p.srv.Close()
	for range 20 {
		p.n.step()
	}
	p.n.close()
}

// Steady-state bulk transfer allocates nothing per segment, on every kind
// of link (with segments sent by reference and received frames held on
// jumbo and virtio ones).
func TestTCPBulkAllocatesNothingPerSegment(t *testing.T) {
	for _, link := range simLinks {
		p := newBulkPair(t, link.cfg)
		p.pump(t, 8<<20) // past slow start
		before := p.n.a.Counters().TCP.OutSegs
		allocs := testing.AllocsPerRun(20, func() { p.pump(t, 1<<20) })
		segs := float64(p.n.a.Counters().TCP.OutSegs-before) / 21
		t.Logf("%s: %.0f segments per MiB, %.2f allocations per MiB", link.name, segs, allocs)
		require.Zero(t, allocs, "allocations per MiB of bulk transfer on %s", link.name)
		p.close()
	}
}

// BenchmarkTCPBulk reports bulk throughput between two stacks on one
// goroutine (the CPU cost of both ends) over each kind of pipe.
func BenchmarkTCPBulk(b *testing.B) {
	for _, link := range simLinks {
		b.Run(link.name, func(b *testing.B) {
			p := newBulkPair(b, link.cfg)
			p.pump(b, 8<<20)
			const chunk = 1 << 20
			b.SetBytes(chunk)
			b.ReportAllocs()
			start := time.Now()
			b.ResetTimer()
			for range b.N {
				p.pump(b, chunk)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)*chunk*8/time.Since(start).Seconds()/1e9, "Gbit/s")
			p.close()
		})
	}
}
