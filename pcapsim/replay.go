package pcapsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/capture"
	"github.com/ustack/ustack/backend/vlan"
	"github.com/ustack/ustack/stack"
)

// DefaultDrain is how much virtual time a replay runs on after the last
// frame, for the stack's timers (retransmissions, delayed ACKs, ARP) to
// fire.
const DefaultDrain = 5 * time.Second

// DefaultProgressEvery is how many frames pass between progress reports.
const DefaultProgressEvery = 1000

// Iface is the name of the replay's interface in the stack.
const Iface = "pcap0"

// Options configure a Replay.
type Options struct {
	// In is the capture to replay (pcap or pcapng).
	In string
	// Out is the file the stack's frames are written to (pcap, Ethernet,
	// nanosecond timestamps of the virtual clock). It is written whatever
	// happens once the replay starts. Empty: Output, if set, receives
	// them.
	Out    string
	Output io.Writer
	// Addrs are the stack's addresses. Empty: the stack adopts the
	// capture's receiving host (Adopt): its address, prefix and MAC.
	Addrs []netip.Prefix
	// MAC is the stack's Ethernet address. Default: the adopted host's
	// when adopting, else GeneratedMAC(Seed).
	MAC net.HardwareAddr
	// Neighbors are static neighbours added to those learned from the
	// capture (Adopt's, in either mode).
	Neighbors []Neighbor
	// Listen are TCP ports the stack listens on (every address), so that
	// it answers SYNs with SYN-ACKs rather than resets.
	Listen []uint16
	// Serve starts services on the stack before the first frame:
	// listeners and the in-core Apps that serve them (Echo, Discard,
	// HTTP), run after every poll.
	Serve func(s *stack.Stack) ([]App, error)
	// Seed seeds the stack and the generated MAC. Replays are meant to be
	// reproducible: 0 is taken as 1, not drawn at random.
	Seed uint64
	// Drain is the virtual time run after the last frame (0:
	// DefaultDrain; negative: none).
	Drain time.Duration
	// Mbuf gives the backend DPDK-shaped memory (chained 2 KiB buffers).
	Mbuf bool
	// Outgoing feeds the frames a cooked capture marks as its host's own
	// transmissions (skipped by default).
	Outgoing bool
	// VLAN puts the stack on this IEEE 802.1Q VLAN of the capture, as
	// backend/vlan does on a device: frames of other VLANs and untagged
	// ones are dropped, and the stack's go out tagged. 0: the adopted
	// host's VLAN (Adoption.VLAN) when adopting, else none.
	VLAN int
	// Logger receives the stack's logs (default: none).
	Logger *slog.Logger
	// Progress, when set, is called every ProgressEvery frames (default
	// DefaultProgressEvery) delivered to the stack.
	Progress      func(Progress)
	ProgressEvery int
	// MaxSteps bounds the discrete-event steps, so that no input can hang
	// a replay (default: a million plus a hundred per frame delivered).
	MaxSteps int
}

// Progress is a long replay's state, reported to Options.Progress.
type Progress struct {
	// FramesIn were delivered to the stack; FramesOut sent by it.
	FramesIn, FramesOut uint64
	// BytesRead of the capture (uncompressed), and Size, the file's size
	// (compressed, if it is), for an estimate of the part done.
	BytesRead, Size int64
	// Virtual time since the first frame, and wall time since the start.
	Virtual, Wall time.Duration
}

// Summary is what a replay did.
type Summary struct {
	// FramesIn were delivered to the stack; FramesOut sent by it (and
	// written to the output).
	FramesIn, FramesOut uint64
	// Capture are the backend's counts of the capture's records; RxDrops
	// the frames no buffer could hold.
	Capture Stats
	RxDrops uint64
	// Counters are the stack's at the end of the drain; Drops the
	// non-zero ones that count dropped packets, by reason, and on a VLAN
	// the frames of no VLAN or of another (VLAN.Untagged,
	// VLAN.OtherVLANs), which the stack never saw.
	Counters stack.Counters
	Drops    []Count
	// Truncated is non-nil when the capture ended in a truncated
	// (errors.Is ErrTruncated) or unreadable record: a warning, the
	// records before it were replayed.
	Truncated error
	// Adoption is the host the stack stood in for, when Options.Addrs was
	// empty.
	Adoption *Adoption
	// Addrs, MAC, Neighbors and VLAN are what the stack was given.
	Addrs     []netip.Prefix
	MAC       net.HardwareAddr
	Neighbors []Neighbor
	VLAN      int
	// Start is the virtual time (Unix nanoseconds) of the first frame;
	// Virtual the virtual time replayed, drain included; Wall the wall
	// time it took.
	Start   int64
	Virtual time.Duration
	Wall    time.Duration
	// Steps are the discrete-event steps taken.
	Steps int
	// Conversations counts the TCP connections the capture opens.
	Conversations int
	// Leaked counts buffers not returned to the backend's pool after the
	// stack closed; Replay reports any as an error.
	Leaked int
}

// ErrStepLimit ends a replay that took more than Options.MaxSteps steps.
var ErrStepLimit = errors.New("pcapsim: step limit reached")

// Replay feeds a capture through a stack on virtual time. It builds a
// Manual stack (stack.Config.Manual) on a replay Backend and a
// backend.VirtualClock that starts at the first frame's time, then steps:
// it polls the stack and advances the clock to the earlier of the stack's
// next deadline and the next frame's arrival, never backwards. After the
// last frame it runs Drain more of virtual time, closes the stack, writes
// the output and checks that every buffer came back. The same capture and
// Options give byte-identical output.
//
// A Summary is returned with the error, as far as the replay got; the
// output is written whatever the error once the capture is open.
func Replay(ctx context.Context, opts Options) (Summary, error) {
	var sum Summary
	wallStart := time.Now()
	if err := opts.fill(); err != nil {
		return sum, err
	}
	var w *capture.Writer
	var err error
	switch {
	case opts.Out != "":
		w, err = capture.Create(opts.Out, capture.Options{})
	case opts.Output != nil:
		w, err = capture.NewWriter(opts.Output)
	}
	if err != nil {
		return sum, fmt.Errorf("pcapsim: output: %w", err)
	}
	err = replay(ctx, &opts, w, &sum)
	if w != nil {
		if werr := w.Close(); werr != nil && err == nil {
			err = fmt.Errorf("pcapsim: output: %w", werr)
		}
	}
	sum.Wall = time.Since(wallStart)
	return sum, err
}

func (o *Options) fill() error {
	if o.In == "" {
		return errors.New("pcapsim: no capture to replay")
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	switch {
	case o.Drain == 0:
		o.Drain = DefaultDrain
	case o.Drain < 0:
		o.Drain = 0
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	for _, p := range o.Addrs {
		if !p.IsValid() || !isHostAddr(p.Addr()) {
			return fmt.Errorf("pcapsim: address %v is not a unicast host address", p)
		}
	}
	if o.MAC != nil && !isUnicastMAC(o.MAC) {
		return fmt.Errorf("pcapsim: mac %v is not a unicast Ethernet address", o.MAC)
	}
	for _, n := range o.Neighbors {
		if !n.Addr.IsValid() || len(n.MAC) != 6 {
			return fmt.Errorf("pcapsim: neighbour %v at %v: want an IP address and an Ethernet address", n.Addr, n.MAC)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func replay(ctx context.Context, o *Options, w *capture.Writer, sum *Summary) error {
	cfg := Config{MAC: o.MAC, Seed: o.Seed, Mbuf: o.Mbuf, Outgoing: o.Outgoing, Output: w}
	ad, err := Adopt(o.In, cfg)
	if err != nil {
		return err
	}
	sum.Addrs = o.Addrs
	sum.Conversations = ad.Conversations
	if len(o.Addrs) == 0 {
		sum.Adoption = &ad
		sum.Addrs = ad.Prefixes()
		if cfg.MAC == nil {
			cfg.MAC = ad.MAC
		}
	}
	if cfg.MAC == nil {
		cfg.MAC = GeneratedMAC(o.Seed)
	}
	sum.MAC = cfg.MAC
	sum.Neighbors = neighbors(o.Neighbors, ad.Neighbors, sum.Addrs)

	clock := backend.NewVirtualClock(0)
	cfg.Clock = clock
	b, err := Open(o.In, cfg)
	if err != nil {
		return err
	}
	if at, ok := b.NextArrival(0); ok {
		clock.Set(at)
	}
	sum.Start = clock.Now()
	var dev backend.Backend = b
	var vb *vlan.Backend
	if sum.VLAN = o.VLAN; sum.VLAN == 0 && len(o.Addrs) == 0 {
		sum.VLAN = ad.VLAN
	}
	if sum.VLAN != 0 {
		if vb, err = vlan.Wrap(b, sum.VLAN); err != nil {
			b.Close()
			return fmt.Errorf("pcapsim: %w", err)
		}
		dev = vb
	}
	s, err := stack.New(stack.Config{
		Interfaces: []stack.InterfaceConfig{{Name: Iface, Backend: dev, Addrs: sum.Addrs, Neighbors: stackNeighbors(sum.Neighbors)}},
		Routes:     onLinkDefaults(sum.Addrs, Iface),
		Seed:       o.Seed,
		Clock:      clock,
		Manual:     true,
		Logger:     o.Logger,
		// The host a replay stands in for had its addresses in use when
		// the capture began (no duplicate address detection), and its
		// routers are the capture's hosts (no router solicitation), and
		// had joined its groups (no MLD reports); addresses come from the
		// capture, not from its routers' advertisements.
		IPv6: stack.IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1, NoSLAAC: true, NoDHCPv6: true},
	})
	if err != nil {
		b.Close()
		return err
	}
	var listeners []net.Listener
	for _, port := range o.Listen {
		ln, err := s.Listen("tcp", ":"+strconv.Itoa(int(port)))
		if err != nil {
			s.Close()
			return fmt.Errorf("pcapsim: listen on port %d: %w", port, err)
		}
		listeners = append(listeners, ln)
	}
	var apps []App
	if o.Serve != nil {
		if apps, err = o.Serve(s); err != nil {
			s.Close()
			return fmt.Errorf("pcapsim: services: %w", err)
		}
	}
	err = step(ctx, o, s, b, clock, apps, sum)

	sum.Counters = s.Counters()
	sum.Drops = Drops(sum.Counters)
	if vb != nil {
		// Not the stack's drops: the VLAN's, before the stack.
		st := vb.Stats()
		for _, c := range []Count{{"VLAN.Untagged", st.Untagged}, {"VLAN.OtherVLANs", st.OtherVLANs}} {
			if c.N > 0 {
				sum.Drops = append(sum.Drops, c)
			}
		}
	}
	st := b.QueueStats(0)
	sum.FramesIn, sum.FramesOut, sum.RxDrops = st.RxPackets, st.TxPackets, st.RxDrops
	sum.Capture = b.Stats()
	sum.Truncated = b.Truncated()
	sum.Virtual = time.Duration(clock.Now() - sum.Start)
	for _, ln := range listeners {
		ln.Close()
	}
	if cerr := s.Close(); cerr != nil && err == nil {
		err = cerr
	}
	sum.Leaked = b.Outstanding() + s.Outstanding()
	if sum.Leaked != 0 && err == nil {
		err = fmt.Errorf("pcapsim: %d buffers not returned after the stack closed", sum.Leaked)
	}
	return err
}

// step drives the stack through the capture and the drain.
func step(ctx context.Context, o *Options, s *stack.Stack, b *Backend, clock *backend.VirtualClock, apps []App, sum *Summary) error {
	now := clock.Now()
	last := now // the latest arrival seen
	var reported uint64
	wallStart := time.Now()
	size := fileSize(o.In)
	for {
		next := s.Poll(now)
		sum.Steps++
		if len(apps) > 0 {
			// The applications act on what arrived; a second poll
			// sends what they wrote at the same instant.
			for _, app := range apps {
				if at := app(now); at != 0 && (next == 0 || at < next) {
					next = at
				}
			}
			if at := s.Poll(now); at != 0 && (next == 0 || at < next) {
				next = at
			}
		}
		if o.Progress != nil {
			if st := b.QueueStats(0); st.RxPackets-reported >= uint64(o.ProgressEvery) {
				reported = st.RxPackets
				o.Progress(Progress{
					FramesIn: st.RxPackets, FramesOut: st.TxPackets,
					BytesRead: b.Stats().BytesRead, Size: size,
					Virtual: time.Duration(now - sum.Start), Wall: time.Since(wallStart),
				})
			}
		}
		limit := o.MaxSteps
		if limit == 0 {
			limit = 1_000_000 + 100*int(b.QueueStats(0).RxPackets)
		}
		if sum.Steps >= limit {
			return fmt.Errorf("%w: %d steps at %v of virtual time", ErrStepLimit, sum.Steps, time.Duration(now-sum.Start))
		}
		if sum.Steps%1024 == 1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		at, pending := b.NextArrival(0)
		if pending {
			last = at
			if at <= now {
				continue // a burst larger than one poll takes
			}
		}
		end := last + int64(o.Drain)
		ev := next
		if pending && (ev == 0 || at < ev) {
			ev = at
		}
		if ev == 0 || !pending && ev > end {
			clock.Set(end)
			if end > now {
				s.Poll(end)
				sum.Steps++
			}
			return nil
		}
		// A deadline that has come already: step a nanosecond, so a
		// timer that keeps asking for now cannot spin in place.
		now = max(ev, now+1)
		clock.Set(now)
	}
}

// neighbors merges the configured and the learned neighbours, first
// mention of an address winning, without the stack's own addresses.
func neighbors(given, learned []Neighbor, own []netip.Prefix) []Neighbor {
	var out []Neighbor
	seen := map[netip.Addr]bool{}
	for _, p := range own {
		seen[p.Addr()] = true
	}
	for _, n := range append(append([]Neighbor(nil), given...), learned...) {
		if seen[n.Addr] {
			continue
		}
		seen[n.Addr] = true
		out = append(out, n)
	}
	return out
}

func stackNeighbors(ns []Neighbor) []stack.Neighbor {
	out := make([]stack.Neighbor, len(ns))
	for i, n := range ns {
		out[i] = stack.Neighbor{Addr: n.Addr, MAC: n.MAC}
	}
	return out
}

// onLinkDefaults are default routes out of the replay's interface with no
// gateway, one per address family the stack has: every destination is on
// the link, reached through the capture's neighbours, so the stack answers
// hosts beyond its prefix as the captured host did through its router.
func onLinkDefaults(addrs []netip.Prefix, iface string) []stack.Route {
	var v4, v6 bool
	for _, p := range addrs {
		v4 = v4 || p.Addr().Is4()
		v6 = v6 || p.Addr().Is6()
	}
	var rs []stack.Route
	if v4 {
		rs = append(rs, stack.Route{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Interface: iface})
	}
	if v6 {
		rs = append(rs, stack.Route{Prefix: netip.MustParsePrefix("::/0"), Interface: iface})
	}
	return rs
}

// fileSize is the size of the file at path, or 0 when unknown.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
