package pcapsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/faults"
	"github.com/ustack/ustack/stack"
)

// SimStart is the virtual time a simulated network starts at (Unix
// nanoseconds): midnight of 1 January 2000 UTC, where testing/synctest's
// clock starts too.
const SimStart = int64(946684800) * int64(time.Second)

// NetworkConfig configures a simulated network.
type NetworkConfig struct {
	// Seed is the source of the hosts' seeds and of the faults' streams:
	// the same seed and the same applications give byte-identical
	// traffic. 0 is taken as 1.
	Seed uint64
	// Goroutines makes a network for applications on goroutines inside a
	// testing/synctest bubble: its clock is the bubble's (time.Now), and
	// Drive steps it. Create it inside the bubble. Otherwise the network
	// has a virtual clock starting at SimStart, its applications are
	// in-core (App), and Run steps it.
	Goroutines bool
	// PoolSize bounds each host's buffers per link (default 16384).
	PoolSize int
	// Logger receives the stacks' logs (default: none).
	Logger *slog.Logger
}

// Network is a simulated network: stacks (Hosts) on shared links (Link),
// driven by a discrete-event scheduler on virtual time. Each step polls
// every stack and application at the current instant, again while any of
// them has work at that instant, then advances the clock to the earliest
// deadline of a stack or arrival of a frame: a simulation takes as long
// as the work, not as long as its virtual time.
//
// A Network is not safe for concurrent use: one goroutine builds it and
// steps it (Run, Drive); applications on other goroutines use only the
// stacks' own API.
type Network struct {
	cfg    NetworkConfig
	clock  backend.Clock
	vclock *backend.VirtualClock // nil with Goroutines
	links  []*Link
	hosts  []*Host
	raw    []*port // attachments without a stack, driven by an App
	apps   []App
	seeds  uint64
	woken  atomic.Bool
	wake   chan struct{}
	closed bool
	// Steps are the discrete-event steps taken so far.
	steps int
}

// App is an in-core application: it runs in the goroutine that steps the
// network, after every round of polls, at virtual time now (Unix
// nanoseconds). It acts through the stacks' nonblocking calls
// (stack.Stack.StartDial, stack.NonblockingListener,
// stack.NonblockingConn) and never waits; it returns the instant it next
// wants to run (0: only when the network has news for it).
type App func(now int64) (next int64)

// NewNetwork makes an empty simulated network.
func NewNetwork(cfg NetworkConfig) *Network {
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 16384
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Network{cfg: cfg, wake: make(chan struct{}, 1)}
	if cfg.Goroutines {
		n.clock = backend.NewRealClock()
	} else {
		n.vclock = backend.NewVirtualClock(SimStart)
		n.clock = n.vclock
	}
	return n
}

// Now is the network's time, Unix nanoseconds.
func (n *Network) Now() int64 { return n.clock.Now() }

// Clock is the network's clock.
func (n *Network) Clock() backend.Clock { return n.clock }

// Steps are the discrete-event steps taken so far.
func (n *Network) Steps() int { return n.steps }

// NewLink adds an Ethernet segment.
func (n *Network) NewLink(cfg LinkConfig) (*Link, error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("pcapsim: link mtu %d out of range 68..65535", cfg.MTU)
	}
	if cfg.QueueLimit == 0 {
		cfg.QueueLimit = 1024
	}
	if cfg.QueueLimit < 0 || cfg.Latency < 0 || cfg.Bandwidth < 0 {
		return nil, fmt.Errorf("pcapsim: link queue limit %d, latency %v, bandwidth %d: want none negative", cfg.QueueLimit, cfg.Latency, cfg.Bandwidth)
	}
	if _, err := faults.Parse(cfg.Faults); err != nil {
		return nil, fmt.Errorf("pcapsim: link faults: %w", err)
	}
	l := &Link{net: n, cfg: cfg}
	n.links = append(n.links, l)
	return l, nil
}

// HostConfig configures a host of a simulated network.
type HostConfig struct {
	// Name names the host in errors.
	Name string
	// Interfaces attach the host to links, one interface each.
	Interfaces []HostInterface
	// Routes are the host's static routes, beyond its on-link prefixes.
	Routes []stack.Route
	// Configure, when set, adjusts the stack's configuration before the
	// stack is made (TCP buffer sizes, connection limits...).
	Configure func(*stack.Config)
}

// HostInterface is a host's attachment to a link.
type HostInterface struct {
	Link  *Link
	Addrs []netip.Prefix
	// MAC is the interface's Ethernet address (default: 02:73 and the
	// host and interface numbers).
	MAC net.HardwareAddr
	// Neighbors are static neighbours on the link: never resolved.
	Neighbors []Neighbor
}

// Host is a stack on a simulated network.
type Host struct {
	Name  string
	Stack *stack.Stack
	ports []*port
	bes   []backend.Backend // what the stack was given: ports, maybe in faults
}

// AddHost makes a Manual stack attached to the configured links. Its
// seed and its faults' streams derive from the network's seed and the
// order hosts are added in.
func (n *Network) AddHost(cfg HostConfig) (*Host, error) {
	if len(cfg.Interfaces) == 0 {
		return nil, fmt.Errorf("pcapsim: host %q has no interface", cfg.Name)
	}
	h := &Host{Name: cfg.Name}
	idx := len(n.hosts) + 1
	sc := stack.Config{Clock: n.clock, Manual: true, Logger: n.cfg.Logger.With("host", cfg.Name), Routes: cfg.Routes}
	fail := func(err error) (*Host, error) {
		for _, be := range h.bes {
			be.Close()
		}
		return nil, err
	}
	for i, ic := range cfg.Interfaces {
		if ic.Link == nil || ic.Link.net != n {
			return fail(fmt.Errorf("pcapsim: host %q interface %d: not a link of this network", cfg.Name, i))
		}
		mac := ic.MAC
		if mac == nil {
			mac = net.HardwareAddr{0x02, 0x73, byte(idx >> 8), byte(idx), 0, byte(i)}
		}
		p, err := ic.Link.attach(mac, n.cfg.PoolSize)
		if err != nil {
			return fail(err)
		}
		h.ports = append(h.ports, p)
		var be backend.Backend = p
		if ic.Link.cfg.Faults != "" {
			spec, _ := faults.Parse(ic.Link.cfg.Faults)
			fb, err := faults.Wrap(p, spec, n.nextSeed(), n.clock)
			if err != nil {
				p.Close()
				return fail(err)
			}
			be = fb
		}
		h.bes = append(h.bes, be)
		sc.Interfaces = append(sc.Interfaces, stack.InterfaceConfig{Name: fmt.Sprintf("sim%d", i), Backend: be, Addrs: ic.Addrs, Neighbors: stackNeighbors(ic.Neighbors)})
	}
	sc.Seed = n.nextSeed()
	if cfg.Configure != nil {
		cfg.Configure(&sc)
	}
	s, err := stack.New(sc)
	if err != nil {
		return fail(fmt.Errorf("pcapsim: host %q: %w", cfg.Name, err))
	}
	h.Stack = s
	n.hosts = append(n.hosts, h)
	return h, nil
}

// nextSeed draws the seeds of hosts and faults from the network's seed
// (splitmix64), so that adding a host changes none before it.
func (n *Network) nextSeed() uint64 {
	n.seeds++
	z := n.cfg.Seed*0x9e3779b97f4a7c15 + n.seeds*0xbf58476d1ce4e5b9
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31 | 1
}

// attachRaw attaches a port without a stack to link: an App sends and
// receives frames on it directly (a conversation's player).
func (n *Network) attachRaw(link *Link, mac net.HardwareAddr) (*port, error) {
	p, err := link.attach(mac, n.cfg.PoolSize)
	if err != nil {
		return nil, err
	}
	n.raw = append(n.raw, p)
	return p, nil
}

// AddApp adds an in-core application, run after every round of polls.
func (n *Network) AddApp(app App) { n.apps = append(n.apps, app) }

func (n *Network) wakeUp() {
	n.woken.Store(true)
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// maxRounds bounds the rounds of polls at one instant: a stack or an
// application that keeps asking for the same instant is then moved on by
// a nanosecond, so no input can spin the simulation in place.
const maxRounds = 64

// round polls every stack and application at now until none has work
// left at now, and returns the next instant anything is due (0: none).
func (n *Network) round(now int64) int64 {
	var next int64
	for range maxRounds {
		next = 0
		consider := func(at int64) {
			if at != 0 && (next == 0 || at < next) {
				next = at
			}
		}
		n.woken.Store(false)
		for _, h := range n.hosts {
			consider(h.Stack.Poll(now))
		}
		for _, app := range n.apps {
			consider(app(now))
		}
		for _, h := range n.hosts {
			for _, be := range h.bes {
				if at, ok := be.(backend.Scheduler).NextArrival(0); ok {
					consider(at)
				}
			}
		}
		// A raw attachment's frames are its App's to take, which ran
		// after the stacks this round: one due now and left is left
		// on purpose, not work for another round.
		for _, p := range n.raw {
			if at, ok := p.NextArrival(0); ok && at > now {
				consider(at)
			}
		}
		n.steps++
		if !n.woken.Load() && (next == 0 || next > now) {
			return next
		}
	}
	return max(next, now+1)
}

// ErrIdle ends Run's wait for a condition when nothing is scheduled any
// more: the condition can never become true.
var ErrIdle = errors.New("pcapsim: the network is idle")

// Run steps the network for d of virtual time, with in-core
// applications only (not with Goroutines).
func (n *Network) Run(d time.Duration) error {
	_, err := n.RunUntil(d, nil)
	return err
}

// RunUntil steps the network until done reports true (checked after every
// step) or d of virtual time has passed; it reports whether done became
// true. With nothing scheduled and done not true it returns ErrIdle.
func (n *Network) RunUntil(d time.Duration, done func() bool) (bool, error) {
	if n.vclock == nil {
		return false, errors.New("pcapsim: a network with Goroutines is stepped by Drive")
	}
	if n.closed {
		return false, errors.New("pcapsim: the network is closed")
	}
	end := n.vclock.Now() + int64(d)
	for {
		now := n.vclock.Now()
		next := n.round(now)
		if done != nil && done() {
			return true, nil
		}
		if next == 0 || next > end {
			n.vclock.Set(end)
			if next == 0 && done != nil {
				return false, ErrIdle
			}
			n.round(end)
			return done != nil && done(), nil
		}
		n.vclock.Set(max(next, now+1))
	}
}

// Drive steps a network made with Goroutines until ctx is done. Call it
// from a goroutine inside the testing/synctest bubble the network and its
// applications live in, with wait = synctest.Wait: before each step it
// lets every goroutine of the bubble run until it blocks, so the step
// sees all they did, and between steps it sleeps on the bubble's clock
// until the next deadline or arrival, or until an application gives a
// stack work. Outside a bubble, with wait nil, the network runs in real
// time. Goroutines make their own order within an instant: the traffic is
// reproducible as far as the applications' scheduling is.
func (n *Network) Drive(ctx context.Context, wait func()) error {
	_, err := n.DriveUntil(ctx, wait, nil)
	if err != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// DriveUntil is Drive until done reports true (checked after every
// step), which it reports, or ctx is done, whose error it returns.
func (n *Network) DriveUntil(ctx context.Context, wait func(), done func() bool) (bool, error) {
	if n.vclock != nil {
		return false, errors.New("pcapsim: Drive steps a network made with Goroutines")
	}
	if wait == nil {
		wait = func() {}
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for ctx.Err() == nil && !n.closed {
		wait()
		next := n.round(n.clock.Now())
		wait()
		if done != nil && done() {
			return true, nil
		}
		if n.woken.Load() {
			continue
		}
		var tc <-chan time.Time
		if next != 0 {
			t.Reset(time.Duration(max(next-n.clock.Now(), 1)))
			tc = t.C
		}
		select {
		case <-ctx.Done():
		case <-n.wake:
		case <-tc:
		}
		t.Stop()
	}
	return false, ctx.Err()
}

// Close closes every host's stack and checks that every buffer came
// back: a leak is an error naming the host.
func (n *Network) Close() error {
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	for _, h := range n.hosts {
		if err := h.Stack.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pcapsim: host %q: %w", h.Name, err))
		}
	}
	for _, h := range n.hosts {
		left := h.Stack.Outstanding()
		for _, p := range h.ports {
			left += p.Outstanding()
		}
		if left != 0 {
			errs = append(errs, fmt.Errorf("pcapsim: host %q: %d buffers not returned", h.Name, left))
		}
	}
	for _, p := range n.raw {
		p.Close()
		if left := p.Outstanding(); left != 0 {
			errs = append(errs, fmt.Errorf("pcapsim: raw attachment %v: %d buffers not returned", p.caps.MAC, left))
		}
	}
	return errors.Join(errs...)
}
