package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ustack/ustack/dpdk"
	"github.com/ustack/ustack/pcapsim"
	"github.com/ustack/ustack/stack/services"
)

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var f stackFlags
	f.register(fs)
	httpAddr := fs.String("http", "", "serve HTTP on this address (e.g. :80): GET /, GET /bytes/N, POST /sha256, --root files under /files/")
	root := fs.String("root", "", "directory served under /files/ by --http")
	echo := fs.String("echo", "", "TCP echo port")
	discard := fs.String("discard", "", "TCP discard port")
	udpEcho := fs.String("udp-echo", "", "UDP echo port")
	var groups groupList
	fs.Var(&groups, "join", "join this multicast group and echo what is sent to it on the --udp-echo port (repeatable)")
	grace := fs.Duration("grace", time.Second, "on SIGINT/SIGTERM, let connections finish for this long")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if err := f.load(fs); err != nil {
		return err
	}
	for name, p := range map[string]string{"--echo": *echo, "--discard": *discard, "--udp-echo": *udpEcho} {
		if p == "" {
			continue
		}
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%s %q: want a port number 1-65535", name, p)
		}
	}
	if len(groups) > 0 && *udpEcho == "" {
		return errors.New("--join: the group's datagrams are echoed on the --udp-echo port: give one")
	}
	if *root != "" {
		if st, err := os.Stat(*root); err != nil || !st.IsDir() {
			return fmt.Errorf("--root %q: not a directory", *root)
		}
	}
	if f.backend == "pcap" {
		if *root != "" || *udpEcho != "" {
			return errors.New("--backend pcap: --root and --udp-echo are not served on virtual time")
		}
		svc := serviceFlags{http: *httpAddr, echo: *echo, discard: *discard}
		return servePcap(&f, svc, stdout, stderr)
	}
	// Signals are caught from before the device opens: one that comes
	// while the stack starts, or just after "ready", ends it cleanly.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	s, log, stop, err := f.start(stderr)
	if err != nil {
		return err
	}
	// The watch on a shutdown (below) outlasts stop: it runs after it.
	endWatch := func() {}
	defer func() { endWatch() }()
	defer stop()

	var wg sync.WaitGroup
	var listeners []io.Closer
	serveStream := func(port string, handle func(net.Conn)) error {
		ln, err := s.Listen("tcp", ":"+port)
		if err != nil {
			return err
		}
		listeners = append(listeners, ln)
		wg.Add(1)
		go func() { defer wg.Done(); services.Serve(ln, handle) }()
		return nil
	}
	if *echo != "" {
		if err := serveStream(*echo, services.Echo); err != nil {
			return err
		}
	}
	if *discard != "" {
		if err := serveStream(*discard, services.Discard); err != nil {
			return err
		}
	}
	if *udpEcho != "" {
		pc, err := s.ListenPacket("udp", ":"+*udpEcho)
		if err != nil {
			return err
		}
		listeners = append(listeners, pc)
		wg.Add(1)
		go func() { defer wg.Done(); services.UDPEcho(pc) }()
		port, _ := strconv.Atoi(*udpEcho)
		for _, g := range groups {
			mc, err := s.ListenMulticastUDP("udp", "", &net.UDPAddr{IP: g.AsSlice(), Port: port})
			if err != nil {
				return err
			}
			listeners = append(listeners, mc)
			wg.Add(1)
			go func() { defer wg.Done(); services.UDPEcho(mc) }()
		}
	}
	var srv *http.Server
	if *httpAddr != "" {
		ln, err := s.Listen("tcp", *httpAddr)
		if err != nil {
			return err
		}
		srv = &http.Server{Handler: services.HTTP(*root), ErrorLog: nil}
		wg.Add(1)
		go func() { defer wg.Done(); srv.Serve(ln) }()
	}
	log.Info("ready", "backend", f.backend, "http", *httpAddr, "echo", *echo, "discard", *discard, "udp-echo", *udpEcho)
	var failed error
	select {
	case got := <-sig:
		log.Info("shutting down", "signal", got.String(), "grace", *grace)
	case <-s.Failed():
		// Nothing passes any more: stop as for a signal, then fail.
		failed = s.Err()
		log.Info("shutting down", "err", failed, "grace", *grace)
	}
	// The shutdown takes the port down: its link is no news then.
	f.stopLinkWatch()
	endWatch = watchShutdown(sig, log, *grace+shutdownStuck, stderr, func(code int) {
		dpdk.Abandon()
		os.Exit(code)
	})
	ctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	for _, l := range listeners {
		l.Close()
	}
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			log.Warn("http shutdown", "err", err)
		}
	}
	// Connections the services still hold are finished with FIN within
	// the grace period; the stack then closes, flushing the capture.
	if err := s.Shutdown(ctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return failed
}

// shutdownStuck is how long past the grace period a shutdown may take
// before watchShutdown reports it stuck.
const shutdownStuck = 5 * time.Second

// watchShutdown guards a shutdown that hangs, until the returned function
// is called: another signal on sig exits at once with status 1, and a
// shutdown still running after limit writes every goroutine's stack to
// stderr, once, so that the hang can be reported.
func watchShutdown(sig <-chan os.Signal, log *slog.Logger, limit time.Duration, stderr io.Writer, exit func(int)) (end func()) {
	ended := make(chan struct{})
	go func() {
		stuck := time.NewTimer(limit)
		defer stuck.Stop()
		for {
			select {
			case got := <-sig:
				log.Error("second signal: exiting without finishing the shutdown", "signal", got.String())
				exit(1)
				return
			case <-stuck.C:
				log.Error("shutdown still running; a second SIGINT or SIGTERM exits at once. The goroutines follow", "after", limit)
				pprof.Lookup("goroutine").WriteTo(stderr, 2)
			case <-ended:
				return
			}
		}
	}()
	return func() { close(ended) }
}

// servePcap is `ustack serve --backend pcap`: the capture replayed on
// virtual time to a stack running the services in-core, as `ustack
// replay` does; --addr given, or the receiving host adopted.
func servePcap(f *stackFlags, svc serviceFlags, stdout, stderr io.Writer) error {
	log, err := f.logger(stderr)
	if err != nil {
		return err
	}
	serve, err := svc.services()
	if err != nil {
		return err
	}
	var mac net.HardwareAddr
	if f.mac != "" {
		mac, _ = net.ParseMAC(f.mac)
	}
	seed := f.seed
	if seed == 0 {
		seed = 1 // a replay is reproducible: no seed drawn at random
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("ready", "backend", "pcap", "in", f.in, "http", svc.http, "echo", svc.echo, "discard", svc.discard)
	sum, err := pcapsim.Replay(ctx, pcapsim.Options{In: f.in, Out: f.out, Addrs: f.addrs.prefixes, MAC: mac, Seed: seed, VLAN: f.vlan, Serve: serve, Logger: log})
	if sum.Truncated != nil {
		log.Warn("truncated capture", "err", sum.Truncated)
	}
	if sum.MAC != nil {
		printSummary(stdout, f.in, f.out, sum)
	}
	return err
}

// groupList is serve's repeatable --join: multicast groups.
type groupList []netip.Addr

func (l *groupList) String() string { return fmt.Sprint(*l) }
func (l *groupList) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.IsMulticast() || a.Zone() != "" {
		return errors.New("want a multicast group address such as 239.1.2.3 or ff05::1:3")
	}
	*l = append(*l, a)
	return nil
}
