package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/ustack/ustack/pcapsim"
	"github.com/ustack/ustack/stack"
)

// runReplay is `ustack replay`: a capture fed through the stack on virtual
// time, what the stack sends written to --out.
func runReplay(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	in := fs.String("in", "", "capture to replay: pcap or pcapng; Ethernet, raw IP, BSD loopback or Linux cooked (required)")
	out := fs.String("out", "", "pcap file for what the stack sends, written whatever happens (required)")
	var addrs prefixList
	fs.Var(&addrs, "addr", "the stack's address as CIDR, repeatable (default: --adopt)")
	adopt := fs.Bool("adopt", false, "take the address and MAC of the host that received the capture's first SYN (the default without --addr)")
	mac := fs.String("mac", "", "the stack's MAC (default: the adopted host's, else generated from --seed)")
	var listen portFlag
	fs.Var(&listen, "listen", "TCP port to listen on, answering SYNs with SYN-ACKs rather than resets; repeatable")
	seed := fs.Uint64("seed", 1, "seed of the stack: the same seed and capture give the same output")
	drain := fs.Duration("drain", pcapsim.DefaultDrain, "virtual time to run after the last frame")
	mbuf := fs.Bool("mbuf", false, "DPDK-shaped memory: 2 KiB buffers from a bounded pool, chained")
	outgoing := fs.Bool("outgoing", false, "feed the frames a cooked capture marks as sent by its host (skipped by default)")
	vlanID := fs.Int("vlan", 0, "put the stack on this IEEE 802.1Q VLAN of the capture (default: the adopted host's; with --addr, untagged)")
	level := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	converse := fs.Bool("converse", false, "play the client's side of each TCP conversation against the stack's services and compare the answers")
	report := fs.String("report", "", "with --converse: write the JSON report to this file")
	var svc serviceFlags
	svc.register(fs)
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	switch {
	case *in == "":
		return errors.New("--in: a capture to replay is required")
	case *report != "" && !*converse:
		return errors.New("--report: only with --converse")
	case *converse && *adopt:
		return errors.New("--converse and --adopt: a conversation replay stands in for each server, --addr rewrites them")
	case *out == "" && !*converse:
		return errors.New("--out: a file for the output is required")
	case *adopt && len(addrs) > 0:
		return errors.New("--adopt and --addr: give one or the other")
	case *drain < 0:
		return fmt.Errorf("--drain %v: want a duration of zero or more", *drain)
	case *vlanID < 0 || *vlanID > 4094:
		return fmt.Errorf("--vlan %d: want a VLAN ID from 1 to 4094", *vlanID)
	case *vlanID != 0 && *converse:
		return errors.New("--vlan: not with --converse, whose conversations are read through their tags")
	}
	for _, p := range addrs {
		if a := p.Addr(); a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return fmt.Errorf("--addr %v: not a unicast host address", p)
		}
	}
	var hw net.HardwareAddr
	if *mac != "" {
		var err error
		if hw, err = net.ParseMAC(*mac); err != nil || len(hw) != 6 || hw[0]&1 != 0 {
			return fmt.Errorf("--mac %q: want a unicast Ethernet address such as 02:00:00:00:00:01", *mac)
		}
	}
	lvl, err := logLevel(*level)
	if err != nil {
		return err
	}
	serve, err := svc.services()
	if err != nil {
		return err
	}
	if *converse {
		return runConverse(*in, *out, *report, addrs, *seed, serve, lvl, stdout, stderr)
	}
	d := *drain
	if d == 0 {
		d = -1 // none, where pcapsim's zero is its default
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var lastReport time.Time
	sum, err := pcapsim.Replay(ctx, pcapsim.Options{
		In: *in, Out: *out,
		Addrs: addrs, MAC: hw, Listen: listen, Serve: serve,
		Seed: *seed, Drain: d, Mbuf: *mbuf, Outgoing: *outgoing, VLAN: *vlanID,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})),
		Progress: func(p pcapsim.Progress) {
			// At most a line a second, and none for short replays.
			if p.Wall < time.Second || time.Since(lastReport) < time.Second {
				return
			}
			lastReport = time.Now()
			done := ""
			if p.Size > 0 {
				done = fmt.Sprintf(" (%d%% read)", min(100, 100*p.BytesRead/p.Size))
			}
			fmt.Fprintf(stderr, "ustack replay: %d frames in%s, %d out, %v of virtual time\n", p.FramesIn, done, p.FramesOut, p.Virtual.Round(time.Millisecond))
		},
	})
	if sum.Truncated != nil {
		fmt.Fprintf(stderr, "ustack replay: warning: %v\n", sum.Truncated)
	}
	if sum.MAC != nil {
		printSummary(stdout, *in, *out, sum)
	}
	return err
}

// printSummary prints who the stack was, the frames in and out, and the
// drops by reason.
func printSummary(w io.Writer, in, out string, sum pcapsim.Summary) {
	var addrs []string
	for _, p := range sum.Addrs {
		addrs = append(addrs, p.String())
	}
	who := "given"
	if a := sum.Adoption; a != nil {
		who = "adopted: " + map[string]string{
			pcapsim.AdoptSYN:     "received the first SYN",
			pcapsim.AdoptUnicast: "received the first unicast IP packet",
			pcapsim.AdoptARP:     "asked for by the first ARP request",
			pcapsim.AdoptNone:    "nothing to adopt, a documentation address",
		}[a.How]
		if a.Record > 0 {
			who += fmt.Sprintf(", record %d", a.Record)
		}
	}
	on := ""
	if sum.VLAN != 0 {
		on = fmt.Sprintf(" on VLAN %d", sum.VLAN)
	}
	fmt.Fprintf(w, "stack %s %v%s (%s), %d static neighbours\n", strings.Join(addrs, " "), sum.MAC, on, who, len(sum.Neighbors))
	fmt.Fprintf(w, "frames in %d, out %d; %v of virtual time in %v; %d TCP conversations\n", sum.FramesIn, sum.FramesOut, sum.Virtual.Round(time.Microsecond), sum.Wall.Round(time.Millisecond), sum.Conversations)
	if c := sum.Capture; c.SkippedOutgoing+c.SkippedLinkType+c.SkippedShort+sum.RxDrops > 0 {
		fmt.Fprintf(w, "not fed: %d outgoing, %d of other link types, %d too short, %d with no buffer\n", c.SkippedOutgoing, c.SkippedLinkType, c.SkippedShort, sum.RxDrops)
	}
	if n := sum.Capture.OffloadedChecksums; n > 0 {
		fmt.Fprintf(w, "%d TCP and UDP packets with checksums left to the sender's NIC (taken as good)\n", n)
	}
	if len(sum.Drops) == 0 {
		fmt.Fprintln(w, "drops: none")
	} else {
		var ds []string
		for _, d := range sum.Drops {
			ds = append(ds, fmt.Sprintf("%s %d", d.Name, d.N))
		}
		fmt.Fprintf(w, "drops: %s\n", strings.Join(ds, ", "))
	}
	fmt.Fprintf(w, "wrote %s\n", out)
}

// portFlag is a repeatable --listen.
type portFlag []uint16

func (f *portFlag) String() string {
	var s []string
	for _, p := range *f {
		s = append(s, strconv.Itoa(int(p)))
	}
	return strings.Join(s, ",")
}

func (f *portFlag) Set(v string) error {
	p, err := strconv.ParseUint(v, 10, 16)
	if err != nil || p == 0 {
		return errors.New("want a port number from 1 to 65535")
	}
	*f = append(*f, uint16(p))
	return nil
}

// runConverse is `ustack replay --converse`.
func runConverse(in, out, report string, addrs []netip.Prefix, seed uint64, serve func(*stack.Stack) ([]pcapsim.App, error), lvl slog.Level, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start, last := time.Now(), time.Now()
	opts := pcapsim.ConverseOptions{In: in, Addrs: addrs, Seed: seed, Serve: serve,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})),
		Progress: func(done, total int) {
			// At most a line a second, and none for short replays.
			if time.Since(start) < time.Second || time.Since(last) < time.Second {
				return
			}
			last = time.Now()
			fmt.Fprintf(stderr, "ustack replay: %d of %d conversations played\n", done, total)
		},
	}
	var outFile *os.File
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		outFile, opts.Out = f, f
	}
	rep, err := pcapsim.Converse(ctx, opts)
	if outFile != nil {
		if cerr := outFile.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("--out: %w", cerr)
		}
	}
	if err != nil {
		return err
	}
	var same, differ, skipped int
	for _, c := range rep.Conversations {
		switch {
		case c.Skipped != "":
			skipped++
		case len(c.Differences) == 0:
			same++
		default:
			differ++
		}
	}
	fmt.Fprintf(stdout, "conversations %d: %d answered as recorded, %d differently, %d skipped\n", len(rep.Conversations), same, differ, skipped)
	for _, c := range rep.Conversations {
		for _, d := range c.Differences {
			fmt.Fprintf(stdout, "  %s > %s: %s\n", c.Client, c.Live, d)
		}
		if c.Skipped != "" {
			fmt.Fprintf(stdout, "  %s > %s: skipped: %s\n", c.Client, c.Server, c.Skipped)
		}
	}
	if report != "" {
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(report, append(js, '\n'), 0o644); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s\n", report)
	}
	if out != "" {
		fmt.Fprintf(stdout, "wrote %s\n", out)
	}
	return nil
}

// serviceFlags are serve's built-in services, run in-core by replays.
type serviceFlags struct {
	http, echo, discard string
}

func (f *serviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.http, "http", "", "serve HTTP on this address (e.g. :80): GET /, GET /bytes/N, POST /sha256")
	fs.StringVar(&f.echo, "echo", "", "TCP echo port")
	fs.StringVar(&f.discard, "discard", "", "TCP discard port")
}

// services checks the flags and returns what starts the services on a
// stack, in-core; nil when none is asked for.
func (f *serviceFlags) services() (func(*stack.Stack) ([]pcapsim.App, error), error) {
	type svc struct {
		addr  string
		serve func(net.Listener) (pcapsim.App, error)
	}
	var svcs []svc
	if f.http != "" {
		if _, _, err := net.SplitHostPort(f.http); err != nil {
			return nil, fmt.Errorf("--http %q: want an address such as :80", f.http)
		}
		svcs = append(svcs, svc{f.http, pcapsim.HTTP})
	}
	for _, p := range []struct {
		name, port string
		serve      func(net.Listener) (pcapsim.App, error)
	}{{"--echo", f.echo, pcapsim.Echo}, {"--discard", f.discard, pcapsim.Discard}} {
		if p.port == "" {
			continue
		}
		if n, err := strconv.ParseUint(p.port, 10, 16); err != nil || n == 0 {
			return nil, fmt.Errorf("%s %q: want a port number 1-65535", p.name, p.port)
		}
		svcs = append(svcs, svc{":" + p.port, p.serve})
	}
	if len(svcs) == 0 {
		return nil, nil
	}
	return func(s *stack.Stack) ([]pcapsim.App, error) {
		var apps []pcapsim.App
		for _, v := range svcs {
			ln, err := s.Listen("tcp", v.addr)
			if err != nil {
				return nil, err
			}
			app, err := v.serve(ln)
			if err != nil {
				return nil, err
			}
			apps = append(apps, app)
		}
		return apps, nil
	}, nil
}
