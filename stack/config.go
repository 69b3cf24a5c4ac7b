package stack

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ustack/ustack/backend"
)

// Config configures a Stack. Zero values take the documented defaults.
type Config struct {
	// Interfaces are the stack's network interfaces, each on its own
	// backend. At least one is needed.
	Interfaces []InterfaceConfig
	// Routes are static routes, in addition to the on-link prefixes of the
	// interfaces' addresses. A default route is a route for 0.0.0.0/0.
	Routes []Route
	// Seed is the source of all randomness (IP IDs, ephemeral ports, ISN
	// secrets); 0 draws one from crypto/rand. Same seed and same input give
	// byte-identical output.
	Seed uint64
	// Clock drives the stack; default the real clock. Simulations pass a
	// backend.VirtualClock and set Manual.
	Clock backend.Clock
	// Manual: no loop goroutines; the caller drives the stack with Poll.
	Manual bool
	// Logger receives the stack's logs; default slog.Default().
	Logger *slog.Logger
	// LoopStart, when set, runs first on each queue's loop, on an OS
	// thread locked to the loop (DPDK registers the thread as an lcore
	// there). Loops are locked to their threads also when a backend is
	// BusyPoll, and otherwise not.
	// An error stops the stack's loop for that queue and is logged.
	LoopStart func(queue int) error
	// LoopEnd, when set, runs last on each queue's loop that LoopStart
	// started, on the same thread, before it is unlocked (DPDK gives the
	// thread's lcore and CPUs back there).
	LoopEnd func(queue int)

	ARP        ARPConfig
	IPv6       IPv6Config
	ICMP       ICMPConfig
	Reassembly ReassemblyConfig
	UDP        UDPConfig
	TCP        TCPConfig
	Limits     LimitsConfig
}

// InterfaceConfig is one network interface.
type InterfaceConfig struct {
	// Name names the interface in routes and logs (default "ethN").
	Name string
	// Backend carries the interface's frames. The stack closes it.
	Backend backend.Backend
	// Addrs are the interface's addresses with their prefix lengths.
	Addrs []netip.Prefix
	// DHCP asks a DHCP server for an IPv4 address (RFC 2131), with its
	// subnet, default router and DNS servers, besides Addrs.
	DHCP bool
	// MTU overrides the backend's MTU when smaller (0: the backend's).
	MTU int
	// MAC overrides the backend's address.
	MAC net.HardwareAddr
	// Neighbors are static neighbour entries: never resolved, never
	// expired (a replayed capture's hosts, a point-to-point peer).
	Neighbors []Neighbor
}

// Neighbor is a static neighbour entry.
type Neighbor struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// Route sends packets for Prefix to Via (a gateway; zero for on-link) out
// of Interface (by name; empty: the interface with Via on-link).
type Route struct {
	Prefix    netip.Prefix
	Via       netip.Addr
	Interface string
}

// ARPConfig tunes the IPv4 neighbour cache (RFC 826, RFC 1122 §2.3.2.1).
type ARPConfig struct {
	// Reachable is how long a resolved entry is used without
	// confirmation (default 30s).
	Reachable time.Duration
	// RetryInterval is the time between requests for one address
	// (default 1s): at most one request per address per interval.
	RetryInterval time.Duration
	// Retries is the number of requests before giving up (default 3).
	Retries int
	// QueueLen is the number of packets queued per unresolved address
	// (default 3, as Linux's unres_qlen in packets).
	QueueLen int
	// MaxEntries bounds the cache (default 1024).
	MaxEntries int
	// Probes is the number of ARP probes that check an address a DHCP
	// server leases is free before it is used (RFC 2131 §4.4.1, RFC 5227
	// §2.1), RetryInterval apart (default 1). Negative: none. A host
	// that answers, or probes for the same address, has the lease
	// declined.
	Probes int
}

// IPv6Config tunes IPv6 Neighbor Discovery (RFC 4861) and duplicate
// address detection (RFC 4862). The defaults are the RFCs' constants. Every
// interface gets a link-local address from its MAC (RFC 4291 Appendix A)
// besides the IPv6 addresses in InterfaceConfig.Addrs; each is used once
// duplicate address detection finds it unique.
type IPv6Config struct {
	// DADTransmits is the number of Neighbor Solicitations sent to check
	// an address before using it (RFC 4862 DupAddrDetectTransmits, default
	// 1). Negative: none, addresses are used at once.
	DADTransmits int
	// RetransTimer is the time between Neighbor Solicitations for one
	// address: duplicate address detection, resolution and probes
	// (RFC 4861 RETRANS_TIMER, default 1s). A router's advertisement
	// overrides it.
	RetransTimer time.Duration
	// ReachableTime is how long a neighbour is used without confirmation
	// (RFC 4861 REACHABLE_TIME, default 30s). A router's advertisement
	// overrides it.
	ReachableTime time.Duration
	// DelayFirstProbe is how long a stale neighbour in use waits before it
	// is probed (RFC 4861 DELAY_FIRST_PROBE_TIME, default 5s).
	DelayFirstProbe time.Duration
	// Solicits is the number of solicitations of one resolution, and of
	// one probe of a known neighbour, before giving up (RFC 4861
	// MAX_MULTICAST_SOLICIT and MAX_UNICAST_SOLICIT, default 3).
	Solicits int
	// RouterSolicitations is the number of Router Solicitations sent at
	// start until a router advertises (RFC 4861 MAX_RTR_SOLICITATIONS,
	// default 3), RouterSolicitationInterval apart (default 4s). Negative:
	// none.
	RouterSolicitations        int
	RouterSolicitationInterval time.Duration
	// StartDelay bounds the random delay before an interface's first
	// solicitation, for duplicate address detection and for routers, so
	// that hosts starting together do not send at once (RFC 4861
	// MAX_RTR_SOLICITATION_DELAY, default 1s). Negative: none.
	StartDelay time.Duration
	// QueueLen is the number of packets queued per unresolved address
	// (default 3); MaxEntries bounds the neighbour cache (default 1024).
	QueueLen   int
	MaxEntries int
	// AddrGen is how addresses from router advertisements (SLAAC, RFC
	// 4862 §5.5.3) get their interface identifiers: "stable" (default),
	// opaque and stable per prefix and interface (RFC 7217), or "eui64",
	// from the MAC (RFC 4291 Appendix A), which tells every network the
	// host's hardware. The link-local address is always from the MAC.
	AddrGen string
	// StableSecret is RFC 7217's secret key. Empty: a fixed key, so
	// addresses stay the same across restarts but whoever knows the MAC
	// can compute them; a secret kept across restarts makes them both
	// stable and unpredictable.
	StableSecret string
	// NoSLAAC: prefixes that routers advertise for autoconfiguration give
	// no addresses.
	NoSLAAC bool
	// NoDHCPv6: a router's M flag (addresses from DHCPv6) or O flag (DNS
	// servers from DHCPv6) starts no DHCPv6 client (RFC 8415).
	NoDHCPv6 bool
	// MLDReports is the number of unsolicited MLDv2 reports sent when a
	// group is joined or left (RFC 3810 §9.1 Robustness Variable, default
	// 2), up to a second apart (§9.11). Negative: no MLD at all, queries
	// are not answered either (for captures that must replay unchanged).
	MLDReports int
}

// ICMPConfig tunes ICMP error generation.
type ICMPConfig struct {
	// RateLimit is the number of ICMP error messages sent per second
	// (default 1000), with a burst of RateBurst (default 50), like Linux's
	// icmp_msgs_per_sec and icmp_msgs_burst.
	RateLimit int
	RateBurst int
	// IgnoreRedirects: ICMP and ICMPv6 redirects are counted and not
	// followed (Linux's accept_redirects=0), for links where a host
	// could forge one as the router.
	IgnoreRedirects bool
}

// ReassemblyConfig bounds IP fragment reassembly.
type ReassemblyConfig struct {
	// Timeout for an incomplete IPv4 datagram (default 30s, RFC 791's
	// suggested upper bound is 15s; Linux uses 30s). IPv6 datagrams have
	// RFC 8200 §4.5's 60s.
	Timeout time.Duration
	// MaxBytes held by all incomplete datagrams (default 4 MiB).
	MaxBytes int
	// MaxDatagrams in progress (default 1024).
	MaxDatagrams int
}

// UDPConfig tunes UDP sockets.
type UDPConfig struct {
	// RecvBuffer and SendBuffer are the default socket buffer sizes in
	// bytes (default 256 KiB each; never below what the largest datagram needs).
	RecvBuffer int
	SendBuffer int
}

// TCPConfig tunes TCP. Durations and sizes have Linux's defaults.
type TCPConfig struct {
	// SendBuffer and RecvBuffer are the socket buffer sizes a connection
	// starts with (default 256 KiB each).
	SendBuffer int
	RecvBuffer int
	// SendBufferMax and RecvBufferMax bound buffer auto-tuning, which
	// grows a connection's buffers while they limit it, as Linux's
	// tcp_wmem and tcp_rmem maxima: the receive buffer to about twice
	// what the application reads per round trip, the send buffer to
	// twice what the peer's window and the congestion window let fly
	// (default 4 MiB each, at most Limits.SocketBuffer; the size a
	// connection starts with turns tuning off). A connection whose
	// application set a size (SetReadBuffer, SetWriteBuffer) keeps it.
	SendBufferMax int
	RecvBufferMax int
	// MinRTO and MaxRTO bound the retransmission timeout (RFC 6298 §2.4
	// allows a lower minimum than 1 s; Linux uses 200 ms and 120 s).
	MinRTO time.Duration
	MaxRTO time.Duration
	// MSL is the maximum segment lifetime; TIME_WAIT lasts 2·MSL
	// (default 30s, so 60s as Linux's TCP_TIMEWAIT_LEN).
	MSL time.Duration
	// FinTimeout bounds FIN_WAIT_2 for connections the application has
	// closed (default 60s, Linux's tcp_fin_timeout).
	FinTimeout time.Duration
	// DelayedACK is the longest an ACK is held back (default 40 ms).
	DelayedACK time.Duration
	// KeepAliveIdle, KeepAliveInterval and KeepAliveCount are the
	// keepalive defaults (2h, 75s, 9 as Linux; Go's net enables 15s).
	KeepAliveIdle     time.Duration
	KeepAliveInterval time.Duration
	KeepAliveCount    int
	// Retries is the number of retransmissions of one segment before
	// the connection fails with ETIMEDOUT (default 15, Linux's
	// tcp_retries2); SynRetries for a SYN (default 6).
	Retries    int
	SynRetries int
	// Congestion selects the congestion control: "cubic" (default) or
	// "reno".
	Congestion string
	// MaxOrphans bounds connections closed by the application and still
	// finishing (default 8192); beyond it they are reset.
	MaxOrphans int
	// SynBacklog bounds half-open connections per listener before SYN
	// cookies are used (default 1024).
	SynBacklog int
	// MaxConnections bounds connections per queue (default 1<<20).
	MaxConnections int
	// SynCookies: "auto" (when the SYN queue is full, default), "always"
	// or "never".
	SynCookies string
	// ECN is Explicit Congestion Notification (RFC 3168): "accept"
	// (default) agrees to it when a peer's SYN asks, as Linux's
	// tcp_ecn=2; "on" also asks in our SYNs; "off" never uses it.
	ECN string
	// DisableTLP turns off tail loss probes and the reordering window
	// (RFC 8985 §7 and §6.3): losses at the end of a flight then wait for
	// the retransmission timeout. They need SACK and are on by default,
	// as Linux's tcp_early_retrans=3.
	DisableTLP bool
}

func (c *Config) fill() error {
	if len(c.Interfaces) == 0 {
		return fmt.Errorf("stack: no interfaces")
	}
	if err := c.checkLimits(); err != nil {
		return err
	}
	if c.Clock == nil {
		c.Clock = backend.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	names := map[string]bool{}
	for i := range c.Interfaces {
		ic := &c.Interfaces[i]
		if ic.Name == "" {
			ic.Name = fmt.Sprintf("eth%d", i)
		}
		if names[ic.Name] {
			return fmt.Errorf("stack: interface name %q used twice", ic.Name)
		}
		names[ic.Name] = true
		if ic.Backend == nil {
			return fmt.Errorf("stack: interface %s has no backend", ic.Name)
		}
		if ic.MTU < 0 {
			return fmt.Errorf("stack: interface %s: mtu %d is negative", ic.Name, ic.MTU)
		}
		if ic.MAC != nil && len(ic.MAC) != 6 {
			return fmt.Errorf("stack: interface %s: mac %v is not an Ethernet address", ic.Name, ic.MAC)
		}
		for _, p := range ic.Addrs {
			if !p.IsValid() || p.Addr().IsUnspecified() || p.Addr().IsMulticast() {
				return fmt.Errorf("stack: interface %s: address %v is not a unicast address", ic.Name, p)
			}
		}
		for _, n := range ic.Neighbors {
			if !n.Addr.IsValid() || len(n.MAC) != 6 {
				return fmt.Errorf("stack: interface %s: neighbour %v at %v: want an IP address and an Ethernet address", ic.Name, n.Addr, n.MAC)
			}
		}
	}
	for _, r := range c.Routes {
		if !r.Prefix.IsValid() {
			return fmt.Errorf("stack: route %v: invalid prefix", r.Prefix)
		}
		if r.Interface != "" && !names[r.Interface] {
			return fmt.Errorf("stack: route %v: no interface %q", r.Prefix, r.Interface)
		}
		if r.Via.IsValid() && r.Via.Is4() != r.Prefix.Addr().Is4() {
			return fmt.Errorf("stack: route %v via %v: address families differ", r.Prefix, r.Via)
		}
	}
	a := &c.ARP
	a.Reachable = defDuration(a.Reachable, 30*time.Second)
	a.RetryInterval = defDuration(a.RetryInterval, time.Second)
	a.Retries = defInt(a.Retries, 3)
	a.QueueLen = defInt(a.QueueLen, 3)
	a.MaxEntries = defInt(a.MaxEntries, 1024)
	if a.Probes == 0 {
		a.Probes = 1
	}
	v6 := &c.IPv6
	if v6.DADTransmits == 0 {
		v6.DADTransmits = 1
	}
	v6.RetransTimer = defDuration(v6.RetransTimer, time.Second)
	v6.ReachableTime = defDuration(v6.ReachableTime, 30*time.Second)
	v6.DelayFirstProbe = defDuration(v6.DelayFirstProbe, 5*time.Second)
	v6.Solicits = defInt(v6.Solicits, 3)
	if v6.RouterSolicitations == 0 {
		v6.RouterSolicitations = 3
	}
	v6.RouterSolicitationInterval = defDuration(v6.RouterSolicitationInterval, 4*time.Second)
	if v6.StartDelay == 0 {
		v6.StartDelay = time.Second
	}
	v6.QueueLen = defInt(v6.QueueLen, 3)
	v6.MaxEntries = defInt(v6.MaxEntries, 1024)
	switch v6.AddrGen {
	case "":
		v6.AddrGen = "stable"
	case "stable", "eui64":
	default:
		return fmt.Errorf("stack: ipv6 address generation %q: want stable or eui64", v6.AddrGen)
	}
	if v6.MLDReports == 0 {
		v6.MLDReports = 2
	}
	c.ICMP.RateLimit = defInt(c.ICMP.RateLimit, 1000)
	c.ICMP.RateBurst = defInt(c.ICMP.RateBurst, 50)
	c.Reassembly.Timeout = defDuration(c.Reassembly.Timeout, 30*time.Second)
	c.Reassembly.MaxBytes = defInt(c.Reassembly.MaxBytes, 4<<20)
	c.Reassembly.MaxDatagrams = defInt(c.Reassembly.MaxDatagrams, 1024)
	c.UDP.RecvBuffer = defInt(c.UDP.RecvBuffer, 256<<10)
	c.UDP.SendBuffer = defInt(c.UDP.SendBuffer, 256<<10)
	t := &c.TCP
	t.SendBuffer = defInt(t.SendBuffer, 256<<10)
	t.RecvBuffer = defInt(t.RecvBuffer, 256<<10)
	t.MinRTO = defDuration(t.MinRTO, 200*time.Millisecond)
	t.MaxRTO = defDuration(t.MaxRTO, 120*time.Second)
	if t.MinRTO > t.MaxRTO {
		return fmt.Errorf("stack: tcp min rto %v above max rto %v", t.MinRTO, t.MaxRTO)
	}
	t.MSL = defDuration(t.MSL, 30*time.Second)
	t.FinTimeout = defDuration(t.FinTimeout, 60*time.Second)
	t.DelayedACK = defDuration(t.DelayedACK, 40*time.Millisecond)
	t.KeepAliveIdle = defDuration(t.KeepAliveIdle, 2*time.Hour)
	t.KeepAliveInterval = defDuration(t.KeepAliveInterval, 75*time.Second)
	t.KeepAliveCount = defInt(t.KeepAliveCount, 9)
	t.Retries = defInt(t.Retries, 15)
	t.SynRetries = defInt(t.SynRetries, 6)
	t.MaxOrphans = defInt(t.MaxOrphans, 8192)
	t.SynBacklog = defInt(t.SynBacklog, 1024)
	t.MaxConnections = defInt(t.MaxConnections, 1<<20)
	for _, o := range []struct {
		v      *string
		name   string
		values []string // the default first
	}{
		{&t.Congestion, "congestion control", []string{"cubic", "reno"}},
		{&t.SynCookies, "syn cookies", []string{"auto", "always", "never"}},
		{&t.ECN, "ecn", []string{"accept", "on", "off"}},
	} {
		if *o.v == "" {
			*o.v = o.values[0]
		}
		if !slices.Contains(o.values, *o.v) {
			last := len(o.values) - 1
			return fmt.Errorf("stack: tcp %s %q: want %s or %s", o.name, *o.v, strings.Join(o.values[:last], ", "), o.values[last])
		}
	}
	return c.fillLimits()
}

func defDuration(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

func defInt(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}
