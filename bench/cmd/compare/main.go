// Command compare runs ustack's benchmark scenarios on ustack and on
// gVisor's netstack in the same run, measured the same way, and prints the
// figures side by side with their ratios (above 1: ustack is better).
//
//	go run ./cmd/compare [--duration 3s] [--conns 10000] [--loss 0.01] [--json]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ustack/ustack/bench/gvisor"
	"github.com/ustack/ustack/stack/benchmark"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "compare: %v\n", err)
			os.Exit(2)
		}
	}
}

// A case is one scenario on one link, run on both stacks.
type benchCase struct {
	scenario string
	link     benchmark.Link
}

// comparison is a case's results on both stacks; its JSON is one line of
// --json output.
type comparison struct {
	Scenario string             `json:"scenario"`
	MTU      int                `json:"mtu"`
	Offload  bool               `json:"offload"`
	Loss     float64            `json:"loss,omitempty"`
	UStack   benchmark.Result   `json:"ustack"`
	GVisor   benchmark.Result   `json:"gvisor"`
	Ratios   map[string]float64 `json:"ratios"` // above 1: ustack is better
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 3*time.Second, "how long bulk, rr and crr measure on each stack, after a warm-up")
	conns := fs.Int("conns", 10000, "idle connections the conns scenario opens")
	asJSON := fs.Bool("json", false, "print one JSON object per case: both results and the ratios")
	scenarios := fs.String("scenarios", strings.Join(benchmark.Scenarios, ","), "scenarios to run, comma-separated")
	mtus := fs.String("mtu", "1500,65535", "link MTUs for bulk, comma-separated (rr, crr and conns use the first)")
	offloads := fs.String("offload", "on,off", "offload settings to run, comma-separated")
	loss := fs.Float64("loss", 0.01, "with bulk, one more case: the link loses this share of the frames each way (no offloads, the first MTU); 0 for none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cases, err := plan(*scenarios, *mtus, *offloads, *loss)
	if err != nil {
		return err
	}
	var table []comparison
	enc := json.NewEncoder(stdout)
	for _, c := range cases {
		cmp := comparison{Scenario: c.scenario, MTU: c.link.MTU, Offload: c.link.Offload, Loss: c.link.Loss}
		for _, st := range []benchmark.Stack{benchmark.UStack, gvisor.Stack} {
			fmt.Fprintf(stderr, "%s mtu %d offload %v on %s...\n", label(c.scenario, c.link.Loss), c.link.MTU, onOff(c.link.Offload), st.Name)
			r, err := benchmark.Run(c.scenario, benchmark.Config{Stack: st, Link: c.link, Duration: *duration, Conns: *conns})
			if err != nil {
				return err
			}
			if st.Name == benchmark.UStack.Name {
				cmp.UStack = r
			} else {
				cmp.GVisor = r
			}
		}
		cmp.Ratios = map[string]float64{}
		for _, m := range metrics[c.scenario] {
			if r, ok := m.ratio(cmp.UStack, cmp.GVisor); ok {
				cmp.Ratios[m.key] = r
			}
		}
		if *asJSON {
			if err := enc.Encode(cmp); err != nil {
				return err
			}
			continue
		}
		table = append(table, cmp)
	}
	if !*asJSON {
		printTable(stdout, table)
	}
	return nil
}

// plan lists the cases: bulk at every MTU, the others at the first, each
// with every offload setting except conns, whose memory does not depend on
// it (it runs with the first); and with loss, bulk once more on a link
// that loses that share of the frames (the first MTU, no offloads: each
// frame a segment on both stacks' links).
func plan(scenarios, mtus, offloads string, loss float64) ([]benchCase, error) {
	if loss < 0 || loss >= 1 {
		return nil, fmt.Errorf("--loss %g: want a share in [0, 1)", loss)
	}
	var mtuList []int
	for _, s := range strings.Split(mtus, ",") {
		m, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || m < 68 || m > 65535 {
			return nil, fmt.Errorf("--mtu %q: want MTUs in 68..65535, comma-separated", mtus)
		}
		mtuList = append(mtuList, m)
	}
	var offList []bool
	for _, s := range strings.Split(offloads, ",") {
		switch strings.TrimSpace(s) {
		case "on", "true":
			offList = append(offList, true)
		case "off", "false":
			offList = append(offList, false)
		default:
			return nil, fmt.Errorf("--offload %q: want on, off or both, comma-separated", offloads)
		}
	}
	var cases []benchCase
	for _, sc := range strings.Split(scenarios, ",") {
		sc = strings.TrimSpace(sc)
		if !slices.Contains(benchmark.Scenarios, sc) {
			return nil, fmt.Errorf("--scenarios: unknown scenario %q: want %s", sc, strings.Join(benchmark.Scenarios, ", "))
		}
		switch sc {
		case "bulk":
			for _, off := range offList {
				for _, m := range mtuList {
					cases = append(cases, benchCase{sc, benchmark.Link{MTU: m, Offload: off}})
				}
			}
			if loss > 0 {
				cases = append(cases, benchCase{sc, benchmark.Link{MTU: mtuList[0], Loss: loss}})
			}
		case "conns":
			cases = append(cases, benchCase{sc, benchmark.Link{MTU: mtuList[0], Offload: offList[0]}})
		default:
			for _, off := range offList {
				cases = append(cases, benchCase{sc, benchmark.Link{MTU: mtuList[0], Offload: off}})
			}
		}
	}
	return cases, nil
}

// metric is one figure of a result and which way is better.
type metric struct {
	key, label string
	get        func(benchmark.Result) float64
	lower      bool // lower is better: the ratio is gVisor's over ustack's
	format     string
	floor      float64 // values below it are noise: no ratio
}

// ratio is how much better ustack is: above 1, ustack is better.
func (m metric) ratio(u, g benchmark.Result) (float64, bool) {
	a, b := m.get(u), m.get(g)
	if a < m.floor || b < m.floor {
		return 0, false
	}
	if m.lower {
		a, b = b, a
	}
	if b == 0 || math.IsNaN(a/b) {
		return 0, false
	}
	return a / b, true
}

var (
	allocs = metric{"allocs_per_packet", "allocs/packet", func(r benchmark.Result) float64 { return r.AllocsPerPacket }, true, "%.2f", 0.01}

	metrics = map[string][]metric{
		"bulk": {
			{"gbit_per_s", "Gbit/s", func(r benchmark.Result) float64 { return r.GbitPerS }, false, "%.2f", 0},
			{"gbit_per_cpu_s", "Gbit/CPU-s", func(r benchmark.Result) float64 { return r.GbitPerCPUS }, false, "%.2f", 0},
			allocs,
		},
		"rr": {
			{"tps", "transactions/s", func(r benchmark.Result) float64 { return r.TPS }, false, "%.0f", 0},
			{"tps_per_cpu_s", "transactions/CPU-s", func(r benchmark.Result) float64 { return perCPU(r.TPS, r) }, false, "%.0f", 0},
			{"p50_us", "p50 µs", func(r benchmark.Result) float64 { return r.P50us }, true, "%.1f", 0},
			{"p99_us", "p99 µs", func(r benchmark.Result) float64 { return r.P99us }, true, "%.1f", 0},
			allocs,
		},
		"crr": {
			{"cps", "connections/s", func(r benchmark.Result) float64 { return r.CPS }, false, "%.0f", 0},
			{"cps_per_cpu_s", "connections/CPU-s", func(r benchmark.Result) float64 { return perCPU(r.CPS, r) }, false, "%.0f", 0},
			{"p50_us", "p50 µs", func(r benchmark.Result) float64 { return r.P50us }, true, "%.1f", 0},
			{"p99_us", "p99 µs", func(r benchmark.Result) float64 { return r.P99us }, true, "%.1f", 0},
			allocs,
		},
		"conns": {
			{"bytes_per_conn", "bytes/connection", func(r benchmark.Result) float64 { return r.BytesPerConn }, true, "%.0f", 0},
			{"bytes_per_used_conn", "bytes/used connection", func(r benchmark.Result) float64 { return r.BytesPerUsedConn }, true, "%.0f", 0},
			{"cps", "opened/s", func(r benchmark.Result) float64 { return r.CPS }, false, "%.0f", 0},
			allocs,
		},
	}
)

// perCPU turns a rate per wall-second into one per CPU-second.
func perCPU(rate float64, r benchmark.Result) float64 {
	if r.CPUS == 0 {
		return 0
	}
	return rate * r.DurationS / r.CPUS
}

func printTable(w io.Writer, table []comparison) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmtu\toffload\tmetric\tustack\tgvisor\tratio (>1: ustack better)\t")
	for _, c := range table {
		for _, m := range metrics[c.Scenario] {
			ratio := "-"
			if r, ok := m.ratio(c.UStack, c.GVisor); ok {
				ratio = fmt.Sprintf("%.2fx", r)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t"+m.format+"\t"+m.format+"\t%s\t\n",
				label(c.Scenario, c.Loss), c.MTU, onOff(c.Offload), m.label, m.get(c.UStack), m.get(c.GVisor), ratio)
		}
	}
	tw.Flush()
}

// label names a scenario in the table, with the link's loss if any.
func label(scenario string, loss float64) string {
	if loss > 0 {
		return fmt.Sprintf("%s, %g%% loss", scenario, 100*loss)
	}
	return scenario
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
