// Package benchmark runs ustack's benchmark scenarios between two stacks in
// one process over an in-memory link, the way `ustack bench` and the
// side-by-side comparison in bench/ run them:
//
//   - Bulk: one connection moving data one way as fast as it can.
//   - RR: one connection, 1-byte request and 1-byte response, one at a time.
//   - CRR: connect, 1-byte request, 1-byte response, close; one at a time.
//   - Conns: memory per idle established connection.
//
// The stacks run as they do in production (their own loops, applications
// on goroutines using net.Conn), and every stack is measured the same way:
// CPU is the whole process's user+sys time (getrusage), allocations are the
// runtime's Mallocs, memory is HeapInuse+StackInuse after two GCs. Another
// stack is measured by handing its Stack to the scenarios.
package benchmark

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Scenarios are the scenario names, in the order "all" runs them.
var Scenarios = []string{"bulk", "rr", "crr", "conns"}

// Link describes the link between the two stacks: no latency, unlimited
// bandwidth, and frames of at most MTU bytes of IP packet.
type Link struct {
	// MTU is the largest IP packet (default 1500).
	MTU int
	// Offload makes the link offload like a virtio NIC: transmit checksum,
	// TSO/GSO up to 64 KiB, large frames received whole with trusted
	// checksums. Without it the stacks segment and checksum in software.
	Offload bool
	// Loss is the probability that the link loses a frame, in each
	// direction, drawn from a fixed seed. It needs Offload off, so that
	// every frame is one segment on both stacks' links.
	Loss float64
}

// Pair is two stacks joined by a link: a client and a server.
type Pair interface {
	// Listen listens for TCP connections on the server's stack.
	Listen(port uint16) (net.Listener, error)
	// Dial connects from the client's stack to port on the server's.
	Dial(ctx context.Context, port uint16) (net.Conn, error)
	// Frames is the number of frames that have crossed the link so far,
	// in both directions, each counted once (a TSO/GSO frame is one).
	Frames() uint64
	// Close stops both stacks.
	Close() error
}

// Stack is a stack under test: its name and how to make a pair of it.
type Stack struct {
	Name string
	New  func(Link) (Pair, error)
}

// Config configures a scenario. Zero values take the defaults.
type Config struct {
	// Stack is the stack under test (default UStack).
	Stack Stack
	Link
	// Duration is how long bulk, rr and crr measure (default 5s), after a
	// warm-up of a tenth of it (at least 100ms, at most 1s).
	Duration time.Duration
	// Conns is the number of idle connections Conns opens (default
	// 10,000).
	Conns int
}

func (c *Config) fill() error {
	if c.Stack.New == nil {
		c.Stack = UStack
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if c.MTU < 68 || c.MTU > 65535 {
		return fmt.Errorf("mtu %d out of range 68..65535", c.MTU)
	}
	if c.Loss < 0 || c.Loss >= 1 {
		return fmt.Errorf("loss %g out of range [0, 1)", c.Loss)
	}
	if c.Loss > 0 && c.Offload {
		return fmt.Errorf("loss %g with offloads: a TSO frame would be lost whole on one stack's link and by segment on the other's", c.Loss)
	}
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	if c.Duration < 0 {
		return fmt.Errorf("duration %v is negative", c.Duration)
	}
	if c.Conns == 0 {
		c.Conns = 10000
	}
	if c.Conns < 0 {
		return fmt.Errorf("conns %d is negative", c.Conns)
	}
	return nil
}

// warmup is how long a timed scenario runs before it measures.
func (c *Config) warmup() time.Duration {
	return min(max(c.Duration/10, 100*time.Millisecond), time.Second)
}

// Result is what a scenario measured. Fields a scenario does not measure
// are zero.
type Result struct {
	Scenario  string  `json:"scenario"`
	Stack     string  `json:"stack"`
	MTU       int     `json:"mtu"`
	Offload   bool    `json:"offload"`
	Loss      float64 `json:"loss,omitempty"`
	DurationS float64 `json:"duration_s"` // the measured interval
	CPUS      float64 `json:"cpu_s"`      // user+sys time of the process in it

	// Bulk: goodput (bytes the receiving application read) per second of
	// wall time and per second of CPU time.
	GbitPerS    float64 `json:"gbit_per_s"`
	GbitPerCPUS float64 `json:"gbit_per_cpu_s"`

	// RR: transactions per second. RR and CRR: latency percentiles of
	// one transaction (a request and its response for rr, a whole
	// connection for crr).
	TPS   float64 `json:"tps"`
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`

	// CRR: connections per second (Conns: the rate it opened them at).
	CPS float64 `json:"cps"`

	// Conns: growth of HeapInuse+StackInuse per connection, both ends
	// counted, idle since the handshake and idle again after a request
	// and its answer; and the number of connections.
	BytesPerConn     float64 `json:"bytes_per_conn"`
	BytesPerUsedConn float64 `json:"bytes_per_used_conn"`
	Conns            int     `json:"conns"`

	// Every scenario: heap allocations of the whole process per frame
	// that crossed the link, and the frames.
	AllocsPerPacket float64 `json:"allocs_per_packet"`
	Packets         uint64  `json:"packets"`
}

// Run runs the named scenario.
func Run(scenario string, cfg Config) (Result, error) {
	switch scenario {
	case "bulk":
		return Bulk(cfg)
	case "rr":
		return RR(cfg)
	case "crr":
		return CRR(cfg)
	case "conns":
		return Conns(cfg)
	}
	return Result{}, fmt.Errorf("unknown scenario %q: want bulk, rr, crr or conns", scenario)
}

// start fills cfg and makes the pair.
func start(scenario string, cfg *Config) (Pair, Result, error) {
	if err := cfg.fill(); err != nil {
		return nil, Result{}, fmt.Errorf("%s: %w", scenario, err)
	}
	r := Result{Scenario: scenario, Stack: cfg.Stack.Name, MTU: cfg.MTU, Offload: cfg.Offload, Loss: cfg.Loss}
	p, err := cfg.Stack.New(cfg.Link)
	if err != nil {
		return nil, r, fmt.Errorf("%s on %s: %w", scenario, cfg.Stack.Name, err)
	}
	return p, r, nil
}

// port is where every scenario listens.
const port = 5001
