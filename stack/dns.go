package stack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
)

// dnsServer is a DNS server the stack learned, until when (0: as long as
// its source lasts).
type dnsServer struct {
	addr  netip.Addr
	until int64
}

// DNSServers returns the DNS servers the stack learned: from DHCP and
// DHCPv6 first, then from routers' advertisements (RFC 8106) whose
// lifetimes have not ended, each once.
func (s *Stack) DNSServers() []netip.Addr {
	return s.shared().liveDNS(s.clock.Now(), nil)
}

// liveDNS appends to r the DNS servers of sh whose lifetimes have not
// ended at now.
func (sh *shared) liveDNS(now int64, r []netip.Addr) []netip.Addr {
	for _, d := range sh.dns {
		if d.until == 0 || d.until > now {
			r = append(r, d.addr)
		}
	}
	return r
}

// WaitDNS waits until the stack knows a DNS server (DNSServers): one comes
// with a DHCP lease, or from routers' advertisements or DHCPv6, some time
// after start.
func (s *Stack) WaitDNS(ctx context.Context) error {
	return s.waitShared(ctx, func(sh *shared) bool { return len(sh.liveDNS(s.clock.Now(), nil)) > 0 })
}

// errNoDNS: there is no DNS server to ask.
var errNoDNS = errors.New("no DNS server: none given, and none learned from DHCP or router advertisements")

// Resolver returns a resolver that asks DNS servers over the stack: the
// servers given (address and port), or else those the stack learned
// (DNSServers, on port 53) at the time of each query. The host's own
// resolver configuration names no server it uses; its search domains and
// /etc/hosts still apply, as with any pure Go resolver.
func (s *Stack) Resolver(servers ...netip.AddrPort) *net.Resolver {
	var next atomic.Uint32
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			list := servers
			if len(list) == 0 {
				for _, a := range s.DNSServers() {
					list = append(list, netip.AddrPortFrom(a, 53))
				}
			}
			if len(list) == 0 {
				return nil, &net.OpError{Op: "dial", Net: network, Err: errNoDNS}
			}
			// Each attempt asks the next server, so that one that does
			// not answer is not asked again and again.
			server := list[int(next.Add(1)-1)%len(list)]
			return s.DialContext(ctx, network, server.String())
		},
	}
}
