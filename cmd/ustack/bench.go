package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ustack/ustack/stack/benchmark"
)

const benchScenarios = "bulk, rr, crr, conns or all"

// runBench runs benchmark scenarios between two stacks over the in-memory
// pipe: `ustack bench SCENARIO [flags]`.
func runBench(args []string, stdout, stderr io.Writer) error {
	scenario := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		scenario, args = args[0], args[1:]
	}
	fs := newFlags("bench", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per scenario")
	mtu := fs.Int("mtu", 1500, "link MTU")
	duration := fs.Duration("duration", 5*time.Second, "how long bulk, rr and crr measure, after a warm-up")
	offload := fs.Bool("offload", true, "virtio-like offloads on the link (checksum, TSO, large frames on receive); false: the stacks segment and checksum in software")
	conns := fs.Int("conns", 10000, "idle connections the conns scenario opens")
	loss := fs.Float64("loss", 0, "share of the frames the link loses each way, from a fixed seed (needs --offload=false)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	var scenarios []string
	switch {
	case scenario == "":
		return fmt.Errorf("missing scenario: want %s", benchScenarios)
	case scenario == "all":
		scenarios = benchmark.Scenarios
	case slices.Contains(benchmark.Scenarios, scenario):
		scenarios = []string{scenario}
	default:
		return fmt.Errorf("scenario %q: want %s", scenario, benchScenarios)
	}
	if *mtu < 68 || *mtu > 65535 {
		return fmt.Errorf("--mtu %d: want 68..65535", *mtu)
	}
	if *duration <= 0 {
		return fmt.Errorf("--duration %v: want a positive duration", *duration)
	}
	if *loss < 0 || *loss >= 1 {
		return fmt.Errorf("--loss %g: want a share in [0, 1)", *loss)
	}
	if *loss > 0 && *offload {
		return fmt.Errorf("--loss %g: needs --offload=false (a TSO frame is one segment lost or many)", *loss)
	}
	// The client's connections need distinct ephemeral ports.
	if *conns <= 0 || *conns > 25000 {
		return fmt.Errorf("--conns %d: want 1..25000", *conns)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}

	cfg := benchmark.Config{
		Link:     benchmark.Link{MTU: *mtu, Offload: *offload, Loss: *loss},
		Duration: *duration,
		Conns:    *conns,
	}
	var results []benchmark.Result
	enc := json.NewEncoder(stdout)
	for _, sc := range scenarios {
		r, err := benchmark.Run(sc, cfg)
		if err != nil {
			return err
		}
		if *asJSON {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		results = append(results, r)
	}
	if !*asJSON {
		printResults(stdout, results)
	}
	return nil
}

// printResults prints a small table: one row per scenario with the
// figures that scenario measures.
func printResults(w io.Writer, results []benchmark.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tstack\tmtu\toffload\tresult\tcpu\tallocs/packet")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%.2fs in %.2fs\t%.2f\n",
			r.Scenario, r.Stack, r.MTU, onOff(r.Offload), benchSummary(r), r.CPUS, r.DurationS, r.AllocsPerPacket)
	}
	tw.Flush()
}

// benchSummary is a result's headline figures.
func benchSummary(r benchmark.Result) string {
	switch r.Scenario {
	case "bulk":
		return fmt.Sprintf("%.2f Gbit/s, %.2f Gbit/CPU-s", r.GbitPerS, r.GbitPerCPUS)
	case "rr":
		return fmt.Sprintf("%.0f transactions/s, p50 %.1f µs, p99 %.1f µs", r.TPS, r.P50us, r.P99us)
	case "crr":
		return fmt.Sprintf("%.0f connections/s, p50 %.1f µs, p99 %.1f µs", r.CPS, r.P50us, r.P99us)
	case "conns":
		return fmt.Sprintf("%.0f bytes per connection (both ends) at %d connections, %.0f after a request and answer on each", r.BytesPerConn, r.Conns, r.BytesPerUsedConn)
	}
	return ""
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
