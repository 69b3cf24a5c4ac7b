package main

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack"
)

// The limits come from flags or config keys of the same names; bad values
// are refused in one line naming the flag.
func TestLimitFlagsSetTheStackLimits(t *testing.T) {
	path := writeConfig(t, "addr = [\"10.0.0.2/24\"]\nmax-conns = 5000\nbuffer-memory = \"256MiB\"\n")
	fs := newFlags("serve", io.Discard)
	var f stackFlags
	f.register(fs)
	require.NoError(t, fs.Parse([]string{"--config", path, "--syn-backlog", "64", "--accept-backlog", "128",
		"--neighbours", "512", "--socket-buffer-max", "4MiB", "--reasm-memory", "1MiB", "--syn-cookies", "always", "--max-orphans", "10"}))
	require.NoError(t, f.load(fs))
	cfg := f.stackConfig(nil, nil, nil)
	assert.Equal(t, 5000, cfg.TCP.MaxConnections)
	assert.Equal(t, 64, cfg.TCP.SynBacklog)
	assert.Equal(t, 10, cfg.TCP.MaxOrphans)
	assert.Equal(t, "always", cfg.TCP.SynCookies)
	assert.Equal(t, stack.LimitsConfig{BufferMemory: 256 << 20, SocketBuffer: 4 << 20, AcceptBacklog: 128}, cfg.Limits)
	assert.Equal(t, 512, cfg.ARP.MaxEntries)
	assert.Equal(t, 512, cfg.IPv6.MaxEntries)
	assert.Equal(t, 1<<20, cfg.Reassembly.MaxBytes)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-conns", "-1"}, "--max-conns -1"},
		{[]string{"--neighbours", "-3"}, "--neighbours -3"},
		{[]string{"--buffer-memory", "lots"}, `--buffer-memory "lots"`},
		{[]string{"--socket-buffer-max", "10"}, `--socket-buffer-max "10"`},
		{[]string{"--syn-cookies", "sometimes"}, `--syn-cookies "sometimes"`},
	} {
		code, _, errs := runArgs(append([]string{"serve", "--addr", "10.0.0.2/24"}, c.args...)...)
		assert.NotZero(t, code, c.args)
		assert.Contains(t, errs, c.want)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(errs), "\n")+1, "one line: %q", errs)
	}
}
