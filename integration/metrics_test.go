package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The counters at --metrics move with real traffic over TAP: a ping and an
// HTTP download show up in ICMP, TCP, IP and queue counters, and an open
// connection in the connection table; `ustack stats` prints the same.
func TestTAPMetricsMoveWithTraffic(t *testing.T) {
	requireRoot(t, "ping", "curl")
	n := newNetns(t, "--http", ":80", "--metrics", "127.0.0.1:9100")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := scrape(t, n)

	_, err := n.exec(ctx, nil, "ping", "-c", "4", "-i", "0.2", "-W", "2", n.ustack)
	require.NoError(t, err)
	_, err = n.exec(ctx, nil, "curl", "-sS", "--fail", "-o", "/dev/null", fmt.Sprintf("http://%s/bytes/%d", n.ustack, 1<<20))
	require.NoError(t, err)

	after := scrape(t, n)
	rose := func(name string, atLeast float64) {
		t.Helper()
		assert.GreaterOrEqual(t, after[name]-before[name], atLeast, name)
	}
	rose("ustack_icmp_in_echos_total", 4)
	rose("ustack_icmp_out_echo_reps_total", 4)
	rose("ustack_tcp_passive_opens_total", 1)
	rose("ustack_tcp_in_segs_total", 10)
	rose("ustack_tcp_out_segs_total", 10)
	rose("ustack_ip_in_receives_total", 14)
	rose(`ustack_queue_rx_packets_total{iface="eth0",queue="0"}`, 14)
	rose(`ustack_queue_tx_bytes_total{iface="eth0",queue="0"}`, 1<<20)
	assert.Contains(t, after, `ustack_tcp_connections{state="ESTABLISHED"}`, "connections by state")
	assert.Contains(t, after, "ustack_tcp_connections_unlisted")

	out, err := n.exec(ctx, nil, ustackBin, "stats", "--metrics", "127.0.0.1:9100")
	require.NoError(t, err)
	assert.Contains(t, string(out), "passive_opens")
	assert.Contains(t, string(out), "in_echos")
	out, err = n.exec(ctx, nil, ustackBin, "stats", "--metrics", "127.0.0.1:9100", "--connections")
	require.NoError(t, err)
	assert.Regexp(t, `^State +Recv-Q +Send-Q +Local +Peer`, string(out))
}

// scrape reads the Prometheus text served in the namespace into a map of
// series (name with labels) to value.
func scrape(t *testing.T, n *netns) map[string]float64 {
	t.Helper()
	out, err := n.exec(context.Background(), nil, "curl", "-sS", "--fail", "http://127.0.0.1:9100/metrics")
	require.NoError(t, err)
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "a sample line: %q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		m[line[:i]] = v
	}
	require.Contains(t, m, "ustack_tcp_in_segs_total", "the scrape has the TCP counters")
	return m
}
