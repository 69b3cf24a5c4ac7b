package stack

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/ustack/ustack/backend/pipe"
)

// serveDNS answers A and AAAA queries for name on pc with a and aaaa until
// pc is closed.
func serveDNS(pc net.PacketConn, name string, a, aaaa netip.Addr) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		qs, err := p.AllQuestions()
		if err != nil || len(qs) != 1 {
			continue
		}
		q := qs[0]
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: q.Type, Class: dnsmessage.ClassINET, TTL: 60}
		if q.Name.String() == name {
			switch q.Type {
			case dnsmessage.TypeA:
				b.AResource(rh, dnsmessage.AResource{A: a.As4()})
			case dnsmessage.TypeAAAA:
				b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: aaaa.As16()})
			}
		}
		msg, err := b.Finish()
		if err != nil {
			continue
		}
		pc.WriteTo(msg, from)
	}
}

// Stack.Resolver asks its DNS server over the stack, here over IPv6.
func TestResolverOverTheStack(t *testing.T) {
	pipeModes6(t, pipe.Config{}, func(t *testing.T, p *pair) {
		pc, err := p.b.ListenPacket("udp", ":53")
		require.NoError(t, err)
		defer pc.Close()
		go serveDNS(pc, "svc.test.", netip.MustParseAddr("10.0.0.2"), addr6B.Addr())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := p.a.Resolver(netip.AddrPortFrom(addr6B.Addr(), 53))
		ips, err := r.LookupNetIP(ctx, "ip", "svc.test")
		require.NoError(t, err)
		assert.ElementsMatch(t, []netip.Addr{netip.MustParseAddr("10.0.0.2"), addr6B.Addr()}, unmapAll(ips))

		_, err = p.a.Resolver().LookupNetIP(ctx, "ip", "svc.test")
		require.Error(t, err, "no server given or learned")
		assert.Empty(t, p.a.DNSServers())
	})
}

func unmapAll(ips []netip.Addr) []netip.Addr {
	r := make([]netip.Addr, len(ips))
	for i, a := range ips {
		r[i] = a.Unmap()
	}
	return r
}
