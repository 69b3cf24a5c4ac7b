package main

import (
	"flag"
	"fmt"

	"github.com/ustack/ustack/stack"
)

// limitFlags are the stack's resource limits (stack.LimitsConfig and the
// limits of each protocol); 0 keeps the stack's default.
type limitFlags struct {
	maxConns      int
	synBacklog    int
	acceptBacklog int
	maxOrphans    int
	neighbours    int
	synCookies    string
	bufferMemory  string
	socketBuffer  string
	reasmMemory   string
}

func (l *limitFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&l.maxConns, "max-conns", 0, "most TCP connections, half-open ones included (0: 1048576)")
	fs.IntVar(&l.synBacklog, "syn-backlog", 0, "half-open connections per listener before SYN cookies (0: 1024)")
	fs.IntVar(&l.acceptBacklog, "accept-backlog", 0, "most connections waiting in a listener's accept queue (0: 4096)")
	fs.IntVar(&l.maxOrphans, "max-orphans", 0, "most closed connections still finishing (0: 8192)")
	fs.IntVar(&l.neighbours, "neighbours", 0, "entries of each neighbour cache, ARP and NDP (0: 1024)")
	fs.StringVar(&l.synCookies, "syn-cookies", "auto", "SYN cookies: auto (when the SYN queue is full), always or never")
	fs.StringVar(&l.bufferMemory, "buffer-memory", "", "TCP buffer memory of all connections together, e.g. 1GiB (default 8GiB)")
	fs.StringVar(&l.socketBuffer, "socket-buffer-max", "", "largest buffer one socket may ask for, e.g. 4MiB (default 16MiB)")
	fs.StringVar(&l.reasmMemory, "reasm-memory", "", "memory of IP fragments awaiting reassembly, e.g. 4MiB (default 4MiB)")
}

func (l *limitFlags) validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"max-conns", l.maxConns}, {"syn-backlog", l.synBacklog}, {"accept-backlog", l.acceptBacklog}, {"max-orphans", l.maxOrphans}, {"neighbours", l.neighbours}} {
		if f.v < 0 {
			return fmt.Errorf("--%s %d: want a positive number, or 0 for the default", f.name, f.v)
		}
	}
	switch l.synCookies {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("--syn-cookies %q: want auto, always or never", l.synCookies)
	}
	for _, f := range []struct{ name, v string }{{"buffer-memory", l.bufferMemory}, {"socket-buffer-max", l.socketBuffer}, {"reasm-memory", l.reasmMemory}} {
		if f.v == "" {
			continue
		}
		n, err := parseSize(f.v)
		if err != nil || n < 1<<10 || n > 1<<40 {
			return fmt.Errorf("--%s %q: want a size from 1KiB to 1TiB, e.g. 64MiB", f.name, f.v)
		}
	}
	return nil
}

// apply sets the limits in cfg; validate has checked them.
func (l *limitFlags) apply(cfg *stack.Config) {
	size := func(s string) int {
		n, _ := parseSize(s)
		return int(n)
	}
	cfg.TCP.MaxConnections = l.maxConns
	cfg.TCP.SynBacklog = l.synBacklog
	cfg.TCP.MaxOrphans = l.maxOrphans
	cfg.TCP.SynCookies = l.synCookies
	cfg.Limits.AcceptBacklog = l.acceptBacklog
	cfg.ARP.MaxEntries = l.neighbours
	cfg.IPv6.MaxEntries = l.neighbours
	cfg.Limits.BufferMemory = size(l.bufferMemory)
	cfg.Limits.SocketBuffer = size(l.socketBuffer)
	cfg.Reassembly.MaxBytes = size(l.reasmMemory)
}
