package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runBenchArgs(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = runBench(args, &out, &errb)
	return out.String(), errb.String(), err
}

// --json prints one object per scenario with every figure's key.
func TestBenchAllPrintsOneJSONObjectPerScenario(t *testing.T) {
	out, errs, err := runBenchArgs("all", "--json", "--duration", "100ms", "--conns", "50", "--offload=false")
	require.NoError(t, err, "stderr: %s", errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	for i, want := range []string{"bulk", "rr", "crr", "conns"} {
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &obj), lines[i])
		assert.Equal(t, want, obj["scenario"])
		assert.Equal(t, "ustack", obj["stack"])
		assert.Equal(t, false, obj["offload"])
		for _, key := range []string{"gbit_per_s", "gbit_per_cpu_s", "tps", "p50_us", "p99_us", "cps", "bytes_per_conn", "allocs_per_packet", "mtu", "duration_s"} {
			assert.Contains(t, obj, key, "scenario %s", want)
		}
	}
}

func TestBenchPrintsATable(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bulk", "--duration", "100ms", "--mtu", "9000"}, "Gbit/CPU-s"},
		{[]string{"rr", "--duration", "100ms"}, "transactions/s"},
		{[]string{"crr", "--duration", "100ms"}, "connections/s"},
		{[]string{"conns", "--conns", "20"}, "bytes per connection"},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			out, errs, err := runBenchArgs(c.args...)
			require.NoError(t, err, "stderr: %s", errs)
			assert.Contains(t, out, "scenario")
			assert.Contains(t, out, c.want)
			assert.Equal(t, 2, strings.Count(out, "\n"), "a header and a row:\n%s", out)
		})
	}
}

// Bad input is refused with one line naming it and a non-zero exit.
func TestBenchRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "missing scenario"},
		{[]string{"bench", "bulky"}, `scenario "bulky"`},
		{[]string{"bench", "bulk", "--bogus"}, "-bogus"},
		{[]string{"bench", "bulk", "--mtu", "20"}, "--mtu 20"},
		{[]string{"bench", "bulk", "--mtu", "lots"}, "-mtu"},
		{[]string{"bench", "rr", "--duration", "0s"}, "--duration 0s"},
		{[]string{"bench", "rr", "--duration", "soon"}, "-duration"},
		{[]string{"bench", "conns", "--conns", "0"}, "--conns 0"},
		{[]string{"bench", "conns", "--offload=maybe"}, "-offload"},
		{[]string{"bench", "bulk", "--loss", "0.01"}, "--offload=false"},
		{[]string{"bench", "bulk", "--offload=false", "--loss", "1.5"}, "--loss 1.5"},
		{[]string{"bench", "rr", "extra"}, `"extra"`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runWithBench(c.args, &out, &errb)
			assert.NotZero(t, code)
			assert.Contains(t, errb.String(), c.want)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(errb.String()), "\n")+1, "one line: %q", errb.String())
		})
	}
}

func TestBenchHelpListsFlags(t *testing.T) {
	var out, errb bytes.Buffer
	code := runWithBench([]string{"bench", "-h"}, &out, &errb)
	assert.Zero(t, code)
	for _, flag := range []string{"-json", "-mtu", "-duration", "-offload", "-conns"} {
		assert.Contains(t, out.String(), flag)
	}
}

// runWithBench runs the command line with bench registered, as main.go
// registers it.
func runWithBench(args []string, stdout, stderr *bytes.Buffer) int {
	registered := false
	for _, c := range commands {
		registered = registered || c.name == "bench"
	}
	if !registered {
		saved := commands
		commands = append(commands[:len(commands):len(commands)], command{"bench", "benchmarks between two stacks over the in-memory pipe", runBench})
		defer func() { commands = saved }()
	}
	return run(args, stdout, stderr)
}
