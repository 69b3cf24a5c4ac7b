package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/capture"
	"github.com/ustack/ustack/backend/faults"
	"github.com/ustack/ustack/backend/vlan"
	"github.com/ustack/ustack/dpdk"
	"github.com/ustack/ustack/stack"
	"github.com/ustack/ustack/stack/metrics"
	"github.com/ustack/ustack/tap"
)

// stackFlags are the flags every command that runs a stack on a device
// shares (DESIGN.md "Common flags" and the backend flags).
type stackFlags struct {
	backend  string
	addrs    addrFlag
	addrGen  string
	secret   string
	dad      int
	vlan     int
	ecn      string
	gateway  gatewayFlag
	routes   routeList
	mac      string
	mtu      int
	seed     uint64
	pcap     string
	pcapMax  string
	pcapKeep int
	faults   string
	logLevel string
	logFmt   string
	dns      string
	metrics  string
	// metricsConns bounds the connections /metrics lists one by one.
	metricsConns int
	config       string

	tapName string
	in, out string // pcap backend
	eal     string
	port    string
	mbufs   int
	burst   int
	rxDesc  int
	txDesc  int
	// dpdkPort is the DPDK port openDevice opened: each queue loop's
	// thread is registered with it and bound to a core (stackConfig), and
	// start watches its link.
	dpdkPort *dpdk.Port
	// tapDev is the TAP device openDevice opened: start watches what the
	// kernel drops on its way to the stack.
	tapDev *tap.Device
	// stopLinkWatch ends start's watch on the link (DPDK) or on the
	// kernel's drops (TAP), before a shutdown takes the device down; it
	// may be called more than once.
	stopLinkWatch func()
	hostAddrs     prefixList
	queues        int
	offload       string
	limits        limitFlags
}

// prefixList is a repeatable --addr.
type prefixList []netip.Prefix

func (l *prefixList) String() string { return fmt.Sprint(*l) }
func (l *prefixList) Set(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("want an address with a prefix length such as 10.0.0.2/24")
	}
	*l = append(*l, p)
	return nil
}

// addrFlag is the stack's repeatable --addr: addresses, "dhcp" to ask a
// DHCP server for one, or "auto" for none but those IPv6 configures from
// router advertisements (SLAAC, DHCPv6), which every stack takes anyway.
type addrFlag struct {
	prefixes prefixList
	dhcp     bool
	auto     bool
}

func (a *addrFlag) String() string {
	s := a.prefixes.String()
	if a.dhcp {
		s += " dhcp"
	}
	if a.auto {
		s += " auto"
	}
	return s
}

func (a *addrFlag) Set(s string) error {
	switch s {
	case "dhcp":
		a.dhcp = true
		return nil
	case "auto":
		a.auto = true
		return nil
	}
	if err := a.prefixes.Set(s); err != nil {
		return fmt.Errorf("want an address with a prefix length such as 10.0.0.2/24, dhcp, or auto")
	}
	return nil
}

// gatewayFlag is the repeatable --gateway: the default gateway of each
// address family, at most one each.
type gatewayFlag struct{ v4, v6 netip.Addr }

func (g *gatewayFlag) String() string {
	var s []string
	for _, a := range []netip.Addr{g.v4, g.v6} {
		if a.IsValid() {
			s = append(s, a.String())
		}
	}
	return strings.Join(s, " ")
}

func (g *gatewayFlag) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return errors.New("want an IP address such as 10.0.0.1 or fd00::1")
	}
	at, family := &g.v4, "IPv4"
	if a.Is6() && !a.Is4In6() {
		at, family = &g.v6, "IPv6"
	} else {
		a = a.Unmap()
	}
	if at.IsValid() {
		return fmt.Errorf("a second %s gateway after %v: one per address family", family, *at)
	}
	*at = a
	return nil
}

// routes are the default routes the gateways give.
func (g *gatewayFlag) routes() []stack.Route {
	var r []stack.Route
	if g.v4.IsValid() {
		r = append(r, stack.Route{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: g.v4})
	}
	if g.v6.IsValid() {
		r = append(r, stack.Route{Prefix: netip.MustParsePrefix("::/0"), Via: g.v6})
	}
	return r
}

func (g *gatewayFlag) set() bool { return g.v4.IsValid() || g.v6.IsValid() }

// routeList is a repeatable --route CIDR=via.
type routeList []stack.Route

func (l *routeList) String() string { return fmt.Sprint(*l) }
func (l *routeList) Set(s string) error {
	dst, via, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want CIDR=GATEWAY such as 192.168.0.0/16=10.0.0.1")
	}
	p, err := netip.ParsePrefix(dst)
	if err != nil {
		return fmt.Errorf("bad prefix %q", dst)
	}
	a, err := netip.ParseAddr(via)
	if err != nil {
		return fmt.Errorf("bad gateway %q", via)
	}
	*l = append(*l, stack.Route{Prefix: p, Via: a})
	return nil
}

func (f *stackFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "read flags from this TOML file (keys are flag names); the command line wins")
	fs.StringVar(&f.backend, "backend", "tap", "device backend: tap, dpdk or pcap")
	fs.Var(&f.addrs, "addr", "address with prefix length, e.g. 10.0.0.2/24, dhcp to lease one, or auto for only those IPv6 configures from router advertisements, which it does in every case (repeatable)")
	fs.StringVar(&f.addrGen, "addr-gen", "stable", "interface identifiers of IPv6 addresses from router advertisements: stable (RFC 7217) or eui64 (from the MAC)")
	fs.StringVar(&f.secret, "stable-secret", "", "RFC 7217 secret key for stable IPv6 addresses (default: a fixed key; keep one to make them unpredictable)")
	fs.IntVar(&f.dad, "dad-transmits", 1, "Neighbor Solicitations that check each IPv6 address is unique before it is used (RFC 4862), and ARP probes that check a DHCP lease (RFC 5227); 0: used at once")
	fs.Var(&f.gateway, "gateway", "default gateway; repeatable: one IPv4, one IPv6")
	fs.Var(&f.routes, "route", "static route CIDR=GATEWAY (repeatable)")
	fs.StringVar(&f.ecn, "ecn", "accept", "TCP Explicit Congestion Notification (RFC 3168): accept (when the peer asks), on (ask too) or off")
	fs.IntVar(&f.vlan, "vlan", 0, "put the stack on this IEEE 802.1Q VLAN of the device: frames go out tagged, frames of other VLANs and untagged ones are dropped; transmit offloads are off (0: untagged)")
	fs.StringVar(&f.mac, "mac", "", "Ethernet address (default: the device's, or a random local one)")
	fs.IntVar(&f.mtu, "mtu", 0, "MTU (default: the device's)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed for all randomness (0: from crypto/rand)")
	fs.StringVar(&f.pcap, "pcap", "", "capture every frame to this pcap file")
	fs.StringVar(&f.pcapMax, "pcap-max-size", "", "rotate the capture when it reaches this size (e.g. 100MiB): FILE.1, FILE.2, ...")
	fs.IntVar(&f.pcapKeep, "pcap-files", 5, "rotated capture files to keep")
	fs.StringVar(&f.faults, "faults", "", "inject faults, e.g. loss=0.05,delay=1ms~100us")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.logFmt, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.dns, "dns", "", "DNS server (IP or IP:port) for host names (default: those from DHCP or router advertisements)")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics on the host's own network")
	fs.IntVar(&f.metricsConns, "metrics-conns", metrics.DefaultListConnections, "most TCP connections --metrics lists one by one, those in TIME-WAIT last; all are counted by state (0: none)")
	fs.StringVar(&f.tapName, "tap", "ustack0", "TAP device name (tap backend)")
	fs.StringVar(&f.in, "in", "", "capture to replay on virtual time (pcap backend)")
	fs.StringVar(&f.out, "out", "", "pcap file for what the stack sends (pcap backend)")
	fs.Var(&f.hostAddrs, "host-addr", "give the kernel's side of the TAP device this address as CIDR; repeatable: one IPv4, any IPv6")
	fs.StringVar(&f.eal, "eal", "", `DPDK EAL arguments, passed through unchanged (dpdk backend), e.g. "-l 0 --vdev=net_tap0,iface=dtap0"; split as sh splits words, so quoted arguments stay whole`)
	fs.StringVar(&f.port, "port", "0", "DPDK port id or device name (dpdk backend)")
	fs.IntVar(&f.mbufs, "mbufs", 0, "mbufs per queue's mempool (dpdk backend; default 8191)")
	fs.IntVar(&f.burst, "burst", 0, "frames per receive and transmit burst (dpdk backend; default 32)")
	fs.IntVar(&f.rxDesc, "rx-desc", 0, "receive descriptors per queue (dpdk backend; default 1024)")
	fs.IntVar(&f.txDesc, "tx-desc", 0, "transmit descriptors per queue (dpdk backend; default 1024)")
	fs.IntVar(&f.queues, "queues", 1, "device queues, a stack loop each (tap: multi-queue TAP; dpdk: RSS)")
	fs.StringVar(&f.offload, "offload", "auto", "TAP offloads (virtio-net header): auto, on or off")
	f.limits.register(fs)
}

// logger builds the logger from --log-level and --log-format.
func (f *stackFlags) logger(w io.Writer) (*slog.Logger, error) {
	lvl, err := logLevel(f.logLevel)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch f.logFmt {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", f.logFmt)
}

// load applies --config, then checks every flag, before any device is
// opened.
func (f *stackFlags) load(fs *flag.FlagSet) error {
	var given []string
	fs.Visit(func(fl *flag.Flag) { given = append(given, fl.Name) })
	if f.config != "" {
		if err := applyConfig(fs, f.config); err != nil {
			return err
		}
	}
	// A flag of another backend than the one chosen, on the command line,
	// is most likely a forgotten --backend: say so rather than open a TAP
	// device. A configuration file may hold every backend's.
	for _, name := range given {
		if b := backendFlags[name]; b != "" && b != f.backend {
			return fmt.Errorf("--%s is a flag of --backend %s, not of --backend %s", name, b, f.backend)
		}
	}
	return f.validate()
}

// backendFlags names the backend of each flag only one backend takes.
var backendFlags = map[string]string{
	"tap": "tap", "host-addr": "tap", "offload": "tap",
	"eal": "dpdk", "port": "dpdk", "mbufs": "dpdk", "burst": "dpdk", "rx-desc": "dpdk", "tx-desc": "dpdk",
	"in": "pcap", "out": "pcap",
}

// validate checks the flags before any device is opened.
func (f *stackFlags) validate() error {
	switch f.backend {
	case "tap", "dpdk", "pcap":
	default:
		return fmt.Errorf("--backend %q: want tap, dpdk or pcap", f.backend)
	}
	if f.backend == "pcap" {
		switch {
		case f.in == "" || f.out == "":
			return errors.New("--backend pcap: --in FILE and --out FILE are required")
		case f.faults != "" || f.pcap != "" || f.metrics != "" || f.dns != "" || f.gateway.set() || len(f.routes) > 0 || f.addrs.dhcp || f.addrs.auto:
			return errors.New("--backend pcap: a replay takes --addr CIDR, --mac and --seed; not --addr dhcp or auto, --faults, --pcap, --metrics, --dns, --gateway or --route")
		case f.addrGen != "stable" || f.secret != "" || f.dad != 1:
			// A replay's addresses are only those of --addr, in use at once.
			return errors.New("--backend pcap: a replay configures no addresses itself: not --addr-gen, --stable-secret or --dad-transmits")
		}
	} else if len(f.addrs.prefixes) == 0 && !f.addrs.dhcp && !f.addrs.auto {
		return errors.New("--addr: at least one address is needed, e.g. --addr 10.0.0.2/24, --addr dhcp, or --addr auto for IPv6's from router advertisements")
	}
	switch f.addrGen {
	case "stable", "eui64":
	default:
		return fmt.Errorf("--addr-gen %q: want stable or eui64", f.addrGen)
	}
	switch f.ecn {
	case "accept", "on", "off":
	default:
		return fmt.Errorf("--ecn %q: want accept, on or off", f.ecn)
	}
	if f.vlan < 0 || f.vlan > 4094 {
		return fmt.Errorf("--vlan %d: want a VLAN ID from 1 to 4094 (0: untagged)", f.vlan)
	}
	if f.dad < 0 || f.dad > 10 {
		return fmt.Errorf("--dad-transmits %d: want 0 to 10", f.dad)
	}
	if f.mac != "" {
		if m, err := net.ParseMAC(f.mac); err != nil || len(m) != 6 {
			return fmt.Errorf("--mac %q: not an Ethernet address", f.mac)
		}
	}
	if f.mtu < 0 || f.mtu > 65535 || (f.mtu > 0 && f.mtu < 68) {
		return fmt.Errorf("--mtu %d: want 68 to 65535", f.mtu)
	}
	if f.queues < 1 || f.queues > 64 {
		return fmt.Errorf("--queues %d: want 1 to 64", f.queues)
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"mbufs", f.mbufs}, {"burst", f.burst}, {"rx-desc", f.rxDesc}, {"tx-desc", f.txDesc}} {
		if c.v < 0 {
			return fmt.Errorf("--%s %d: want a positive count (or 0 for the default)", c.name, c.v)
		}
	}
	if err := tap.CheckHostAddrs(f.hostAddrs); err != nil {
		return fmt.Errorf("--host-addr: %w", err)
	}
	switch f.offload {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--offload %q: want auto, on or off", f.offload)
	}
	if f.dns != "" {
		if _, err := dnsServer(f.dns); err != nil {
			return err
		}
	}
	if f.pcapMax != "" {
		if n, err := parseSize(f.pcapMax); err != nil || n < 1<<10 {
			return fmt.Errorf("--pcap-max-size %q: want a size of at least 1KiB, e.g. 100MiB", f.pcapMax)
		}
	}
	if f.pcapKeep < 1 {
		return fmt.Errorf("--pcap-files %d: keep at least 1", f.pcapKeep)
	}
	if _, err := splitEAL(f.eal); err != nil {
		return fmt.Errorf("--eal %q: %w", f.eal, err)
	}
	if f.metrics != "" {
		if _, _, err := net.SplitHostPort(f.metrics); err != nil {
			return fmt.Errorf("--metrics %q: want HOST:PORT, e.g. 127.0.0.1:9100", f.metrics)
		}
	}
	if f.metricsConns < 0 {
		return fmt.Errorf("--metrics-conns %d: want 0 or more", f.metricsConns)
	}
	if _, err := faults.Parse(f.faults); err != nil {
		return fmt.Errorf("--faults: %w", err)
	}
	return f.limits.validate()
}

func dnsServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--dns %q: want an IP address", s)
	}
	return netip.AddrPortFrom(a, 53), nil
}

// openDevice opens the backend the flags name, wrapped in fault injection
// and capture when asked.
func (f *stackFlags) openDevice(clock backend.Clock, log *slog.Logger) (backend.Backend, func() error, error) {
	var be backend.Backend
	switch f.backend {
	case "tap":
		cfg := tap.Config{Name: f.tapName, MTU: f.mtu, Queues: f.queues, Offload: tap.OffloadMode(f.offload), Clock: clock, Seed: f.seed,
			HostAddrs: f.hostAddrs}
		d, err := tap.Open(cfg)
		if err != nil {
			return nil, nil, err
		}
		f.tapDev = d
		be = d
	case "dpdk":
		eal, _ := splitEAL(f.eal)
		if err := dpdk.Init(eal); err != nil {
			return nil, nil, fmt.Errorf("--backend dpdk: %w", err)
		}
		cfg := dpdk.Config{Port: f.port, Queues: f.queues, MTU: f.mtu, Clock: clock,
			Mbufs: f.mbufs, Burst: f.burst, RxDesc: f.rxDesc, TxDesc: f.txDesc}
		if f.mac != "" {
			cfg.MAC, _ = net.ParseMAC(f.mac)
		}
		p, err := dpdk.Open(cfg)
		if err != nil {
			dpdk.Cleanup()
			return nil, nil, fmt.Errorf("--port %s: %w", f.port, err)
		}
		f.dpdkPort = p
		be = p
	}
	closers := []func() error{}
	if f.faults != "" {
		spec, _ := faults.Parse(f.faults)
		fb, err := faults.Wrap(be, spec, f.seed, clock)
		if err != nil {
			be.Close()
			return nil, nil, err
		}
		be = fb
	}
	if f.pcap != "" {
		opts := capture.Options{MaxFiles: f.pcapKeep, OnError: func(err error) {
			log.Error("capture stopped: the frames go on without it", "file", f.pcap, "err", err)
		}}
		if f.pcapMax != "" {
			n, _ := parseSize(f.pcapMax)
			opts.MaxBytes = n
		}
		w, err := capture.Create(f.pcap, opts)
		if err != nil {
			be.Close()
			return nil, nil, fmt.Errorf("--pcap: %w", err)
		}
		be = capture.Wrap(be, w, clock)
		closers = append(closers, w.Close)
	}
	if f.vlan != 0 {
		// Outside the capture and the faults: they see the wire's
		// tagged frames.
		vb, err := vlan.Wrap(be, f.vlan)
		if err != nil {
			be.Close()
			return nil, nil, fmt.Errorf("--vlan: %w", err)
		}
		be = vb
	}
	done := func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		if f.backend == "dpdk" {
			errs = append(errs, dpdk.Cleanup())
		}
		return errors.Join(errs...)
	}
	return be, done, nil
}

// start opens the device and runs a stack on it; stop closes both and
// flushes the capture.
func (f *stackFlags) start(stderr io.Writer) (s *stack.Stack, log *slog.Logger, stop func(), err error) {
	if log, err = f.logger(stderr); err != nil {
		return nil, nil, nil, err
	}
	clock := backend.NewRealClock()
	be, closeCapture, err := f.openDevice(clock, log)
	if err != nil {
		return nil, nil, nil, err
	}
	if n := dpdk.Lcores(); f.dpdkPort != nil && f.queues > n {
		log.Warn("queue loops not bound to cores: give the EAL at least as many lcores (-l) as --queues", "queues", f.queues, "lcores", n)
	}
	if s, err = stack.New(f.stackConfig(be, clock, log)); err != nil {
		be.Close()
		closeCapture()
		return nil, nil, nil, err
	}
	stopMetrics := func() {}
	if f.metrics != "" {
		ln, err := net.Listen("tcp", f.metrics)
		if err != nil {
			s.Close()
			closeCapture()
			return nil, nil, nil, fmt.Errorf("--metrics %q: %w", f.metrics, err)
		}
		list := f.metricsConns
		if list == 0 {
			list = -1 // the flag's none is the Source's negative
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(metrics.Source{Stack: s, Backends: map[string]backend.Backend{"eth0": be}, ListConnections: list}))
		srv := &http.Server{Handler: mux}
		go srv.Serve(ln)
		stopMetrics = func() { srv.Close() }
		log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	f.stopLinkWatch = func() {}
	if p := f.dpdkPort; p != nil {
		rx := func() (uint64, error) { s, err := p.Stats(); return s.IPackets, err }
		stopLink := watchLink(log, "eth0", p.Link, rx, linkPoll)
		stopDrops := watchDrops(log, "eth0", p, dpdkDrops(p.Config().RxDesc, p.Config().Mbufs), dropPoll)
		f.stopLinkWatch = sync.OnceFunc(func() { stopLink(); stopDrops() })
	}
	if d := f.tapDev; d != nil {
		f.stopLinkWatch = sync.OnceFunc(watchDrops(log, "eth0", d, tapDrops(d.Caps().Name), dropPoll))
	}
	return s, log, func() {
		f.stopLinkWatch()
		stopMetrics()
		s.Close()
		closeCapture()
	}, nil
}

// dropPoll is how often watchDrops reads the device's counters.
const dropPoll = 10 * time.Second

// dropStat is a device statistic (backend.DeviceStat) that counts frames
// dropped before the stack saw them, and what watchDrops says when it
// grows: msg, and a hint given the value of the statistic named limit (the
// length of the queue that overflowed; none when limit is empty).
type dropStat struct {
	name, msg, limit string
	hint             func(limit uint64) string
}

// tapDrops are a TAP device's: the kernel drops what it has for the stack
// once the stack has not read the device's txqueuelen frames.
func tapDrops(dev string) []dropStat {
	return []dropStat{{
		name: "kernel_tx_dropped", msg: "the kernel dropped frames for the stack: its queue was full", limit: "kernel_tx_queue_len",
		hint: func(qlen uint64) string {
			return fmt.Sprintf("about as many frames as peers sending at once: ip link set %s txqueuelen %d", dev, max(10000, 2*qlen))
		},
	}}
}

// dpdkDrops are a DPDK port's, from its basic xstats: frames the NIC had
// no free descriptor for, and frames it had no mbuf for.
func dpdkDrops(rxDesc, mbufs int) []dropStat {
	return []dropStat{{
		name: "rx_missed_errors", msg: "the device dropped frames for the stack: its receive ring was full",
		hint: func(uint64) string {
			return fmt.Sprintf("a longer receive ring: --rx-desc (now %d), or --queues", rxDesc)
		},
	}, {
		name: "rx_mbuf_allocation_errors", msg: "the device dropped frames for the stack: no mbuf was free",
		hint: func(uint64) string { return fmt.Sprintf("more mbufs per queue: --mbufs (now %d)", mbufs) },
	}}
}

// watchDrops warns, at most once per interval and statistic, when one of
// the device's drop statistics grew, with how many and what to do, until
// the returned function is called. Each such drop costs its sender a
// retransmission, which thousands of connections at once can make seconds
// long; the counters alone say so to nobody who is not graphing them.
func watchDrops(log *slog.Logger, iface string, dev backend.DeviceStatsReader, drops []dropStat, interval time.Duration) (stop func()) {
	read := func() (map[string]uint64, bool) {
		_, stats, err := dev.DeviceStats()
		if err != nil {
			return nil, false
		}
		v := make(map[string]uint64, len(stats))
		for _, st := range stats {
			v[st.Name] = st.Value
		}
		return v, true
	}
	var last map[string]uint64 // none before the first reading: nothing to compare
	return every(interval, func() {
		now, ok := read()
		if !ok {
			return
		}
		for _, d := range drops {
			was, known := last[d.name]
			if n := now[d.name]; known && n > was {
				args := []any{"iface", iface, "dropped", n - was}
				if d.limit != "" {
					args = append(args, "queue", now[d.limit])
				}
				log.Warn(d.msg, append(args, "hint", d.hint(now[d.limit]))...)
			}
		}
		last = now
	})
}

// every calls f at once and then every interval, on a goroutine of its
// own, until the returned function is called, which waits for f to end.
func every(interval time.Duration, f func()) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			f()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// linkPoll is how often watchLink reads the link state.
const linkPoll = time.Second

// watchLink logs the link state of iface as read by link every interval,
// until the returned function is called: the state at the start, a
// warning when it goes down (nothing passes until it comes back; a NIC's
// link may take seconds to come up after the port starts), a line when it
// comes up, and a failure to read it once. A link that reads down while
// the frames received (rx) grow is said so once: net_tap reads its link by
// the netdev's name in its own network namespace, so a netdev moved to
// another reads down for good, and passes frames.
func watchLink(log *slog.Logger, iface string, link func() (dpdk.Link, error), rx func() (uint64, error), interval time.Duration) (stop func()) {
	var last dpdk.Link
	first, failed, passing := true, false, false
	lastRx, _ := rx()
	return every(interval, func() {
		l, err := link()
		n, rxErr := rx()
		switch {
		case err != nil:
			if !failed {
				log.Warn("link state unreadable", "iface", iface, "err", err)
			}
			failed = true
		case !l.Up && (first || last.Up):
			log.Warn("link down", "iface", iface)
		case l.Up && (first || !last.Up):
			log.Info("link up", "iface", iface, "link", l.String())
		case !l.Up && !passing && rxErr == nil && n > lastRx:
			log.Warn("link reads down, but frames arrive", "iface", iface, "received", n-lastRx,
				"hint", "net_tap reads its link in ustack's network namespace: was its netdev moved to another?")
			passing = true
		}
		if err == nil {
			last, first, failed = l, false, false
			passing = passing && !l.Up
		}
		if rxErr == nil {
			lastRx = n
		}
	})
}

// stackConfig turns the flags into a stack configuration.
func (f *stackFlags) stackConfig(be backend.Backend, clock backend.Clock, log *slog.Logger) stack.Config {
	ic := stack.InterfaceConfig{Name: "eth0", Backend: be, Addrs: f.addrs.prefixes, DHCP: f.addrs.dhcp, MTU: f.mtu}
	if f.mac != "" {
		ic.MAC, _ = net.ParseMAC(f.mac)
	}
	routes := append(append([]stack.Route(nil), f.routes...), f.gateway.routes()...)
	cfg := stack.Config{Interfaces: []stack.InterfaceConfig{ic}, Routes: routes, Seed: f.seed, Clock: clock, Logger: log}
	if p := f.dpdkPort; p != nil {
		cfg.LoopStart = func(q int) error {
			if err := p.ThreadInit(q); err != nil {
				return err
			}
			if lc, ok := p.Pinned(q); ok {
				log.Info("queue loop bound to a core", "queue", q, "lcore", lc)
			}
			return nil
		}
		cfg.LoopEnd = p.ThreadExit
	}
	cfg.IPv6.AddrGen, cfg.IPv6.StableSecret = f.addrGen, f.secret
	cfg.TCP.ECN = f.ecn
	cfg.IPv6.DADTransmits, cfg.ARP.Probes = f.dad, f.dad
	if f.dad == 0 {
		// The configuration's 0 is the default.
		cfg.IPv6.DADTransmits, cfg.ARP.Probes = -1, -1
	}
	f.limits.apply(&cfg)
	return cfg
}
