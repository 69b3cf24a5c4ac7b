package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack"
	"github.com/ustack/ustack/stack/metrics"
)

// `ustack stats` prints a live stack's counters and its connections by
// state; with --connections, the connections the metrics list as a table
// like ss, and how many they leave out.
func TestStatsPrintsCountersAndConnections(t *testing.T) {
	ea, eb, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	newStack := func(be *pipe.End, addr string, seed uint64) *stack.Stack {
		s, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Name: "eth0", Backend: be, Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}}}, Seed: seed, Logger: log})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newStack(ea, "10.0.0.1/24", 1), newStack(eb, "10.0.0.2/24", 2)
	ln, err := b.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	for range 2 {
		c, err := a.Dial("tcp", "10.0.0.2:80")
		require.NoError(t, err)
		defer c.Close()
		s, err := ln.Accept()
		require.NoError(t, err)
		defer s.Close()
	}
	srv := httptest.NewServer(metrics.Handler(metrics.Source{Stack: b, ListConnections: 1}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	code, out, errs := runArgs("stats", "--metrics", host)
	require.Zero(t, code, errs)
	assert.Regexp(t, `(?m)^tcp_passive_opens +2$`, out)
	assert.Regexp(t, `(?m)^tcp_connections\{state="ESTABLISHED"\} +2$`, out)
	assert.NotContains(t, out, `state="TIME-WAIT"`, "zero gauges are left out")
	assert.NotContains(t, out, "connection_info")

	code, out, errs = runArgs("stats", "--metrics", host, "--connections")
	require.Zero(t, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	assert.Regexp(t, `^State +Recv-Q +Send-Q +Local +Peer +RTT\(ms\) +Cwnd +Mem$`, lines[0])
	assert.Regexp(t, `^ESTABLISHED +0 +0 +10\.0\.0\.2:80 +10\.0\.0\.1:\d+ +\d+\.\d{3} +\d+ +0$`, lines[1])
	assert.Equal(t, "1 more connections, not listed (serve's --metrics-conns)", lines[2])
}
