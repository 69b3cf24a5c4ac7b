package stack

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend/pipe"
)

// trickle has p's client send a few bytes every 100 ms for d of virtual
// time, which the server reads.
func (p *bulkPair) trickle(t *testing.T, d time.Duration) {
	t.Helper()
	n := p.n
	n.stride = 100 * time.Millisecond
	defer func() { n.stride = 0 }()
	end := n.clock.Now() + int64(d)
	next := n.clock.Now()
	for now := n.clock.Now(); now < end; now = n.clock.Now() {
		if now >= next {
			p.cl.writeSome(p.data[:100])
			next = now + int64(100*time.Millisecond)
		}
		if !n.step() {
			n.clock.Set(now + int64(n.stride))
		}
		for p.srv.readSome(p.buf) > 0 {
		}
		require.Zero(t, p.cl.c.shErr.Load(), "the connection failed")
	}
}

// probes is how many ARP requests and Neighbor Solicitations s sent.
func probes(s *Stack) uint64 {
	c := s.Counters()
	return c.ARP.OutRequests + c.ICMPv6.OutNeighborSolicits
}

// A connection whose data the peer keeps acknowledging confirms the
// neighbour on the way (RFC 4861 §7.3.1): in two minutes, four reachable
// times, the sender probes it never. Once the connection falls silent the
// entry expires as before, and the next datagram has it probed.
func TestTCPProgressConfirmsNeighbour(t *testing.T) {
	for _, v := range []struct {
		name   string
		remote netip.AddrPort
		v6     bool
	}{
		{"ipv4", netip.MustParseAddrPort("10.0.0.2:80"), false},
		{"ipv6", netip.AddrPortFrom(addr6B.Addr(), 80), true},
	} {
		t.Run(v.name, func(t *testing.T) {
			link := simLink(pipe.Config{})
			var n *simNet
			if v.v6 {
				n = newSimNet6(t, 1, "", link)
			} else {
				n = newSimNetOn(t, 1, "", link)
			}
			p := newBulkPairOn(t, n, v.remote)
			p.trickle(t, time.Second)
			before := probes(n.a)
			p.trickle(t, 2*time.Minute)
			assert.Zero(t, probes(n.a)-before, "probes of a neighbour the connection confirms")

			// Silent past the reachable time, then a datagram: probed.
			p.cl.Close()
			p.srv.Close()
			n.stride = time.Second
			for end := n.clock.Now() + int64(time.Minute); n.clock.Now() < end; {
				if now := n.clock.Now(); !n.step() {
					n.clock.Set(now + int64(time.Second))
				}
			}
			n.stride = 0
			before = probes(n.a)
			u, err := n.a.ListenPacket("udp", ":0")
			require.NoError(t, err)
			_, err = u.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(v.remote.Addr(), 9)))
			require.NoError(t, err)
			for range 10 {
				n.step()
			}
			assert.Equal(t, uint64(1), probes(n.a)-before, "probes of the silent neighbour")
			require.NoError(t, u.Close())
			n.close()
		})
	}
}
