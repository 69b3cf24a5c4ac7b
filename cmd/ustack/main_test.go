package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func runArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDemoMovesDataAndVerifies(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--size", "2MiB"},
		{"demo", "--size", "2MiB", "--mbuf", "--offload=false"},
		{"demo", "--size", "1MiB", "--faults", "loss=0.02,corrupt=0.01,reorder=0.01", "--seed", "5"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			code, out, errs := runArgs(args...)
			assert.Zero(t, code, "stderr: %s", errs)
			assert.Contains(t, out, "digests match")
			assert.Regexp(t, `(?m)^sha256 [0-9a-f]{64}$`, out)
			assert.Contains(t, out, "udp echo: 200 sent")
		})
	}
}

// Bad input is refused with one line naming it and a non-zero exit.
func TestBadInputIsRefusedWithOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--bogus"}, "-bogus"},
		{[]string{"demo", "--size", "lots"}, `--size "lots"`},
		{[]string{"demo", "--faults", "lose=1"}, `unknown key "lose"`},
		{[]string{"demo", "--faults", "loss=2"}, "loss=2"},
		{[]string{"demo", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"serve", "--addr", "10.0.0.1"}, "-addr"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--backend", "carrier-pigeon"}, `--backend "carrier-pigeon"`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--mtu", "20"}, "--mtu 20"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--gateway", "nowhere"}, `--gateway "nowhere"`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--mac", "zz"}, `--mac "zz"`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--echo", "70000"}, `--echo "70000"`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--route", "10.1.0.0/16"}, "-route"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--backend", "dpdk"}, "rebuild"},
		{[]string{"serve"}, "--addr"},
		{[]string{"get", "--addr", "10.0.0.1/24"}, "missing URL"},
		{[]string{"get", "--addr", "10.0.0.1/24", "ftp://x/"}, `URL "ftp://x/"`},
		{[]string{"nosuch"}, `unknown command "nosuch"`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, _, errs := runArgs(c.args...)
			assert.NotZero(t, code)
			assert.Contains(t, errs, c.want)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(errs), "\n")+1, "one line: %q", errs)
		})
	}
}

func TestHelpListsFlags(t *testing.T) {
	for _, cmd := range []string{"demo", "serve", "get"} {
		code, out, _ := runArgs(cmd, "-h")
		assert.Zero(t, code)
		assert.Contains(t, out, "-seed")
	}
	code, out, _ := runArgs("version")
	assert.Zero(t, code)
	assert.Contains(t, out, "ustack ")
}
