package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSnakeNamesReadLikeTheMIB(t *testing.T) {
	for in, want := range map[string]string{
		"IPv6":               "ipv6",
		"ICMPv6":             "icmpv6",
		"InNeighborSolicits": "in_neighbor_solicits",
		"Ip6InReceives":      "ip6_in_receives",
		"InEchos":            "in_echos", "OutEchoReps": "out_echo_reps", "PassiveOpens": "passive_opens",
		"InSegs": "in_segs", "RTOs": "rtos", "DSACKs": "dsacks", "PMTUUpdates": "pmtu_updates",
		"ICMPOutOfWindow": "icmp_out_of_window", "InCsumErrors": "in_csum_errors", "TCP": "tcp",
		"ICMP": "icmp", "IP": "ip", "ReasmOKs": "reasm_oks",
	} {
		assert.Equal(t, want, snake(in), in)
	}
}

// linkedStacks are stacks a (10.0.0.1) and b (10.0.0.2) on the two ends of
// a pipe; eb is b's end.
func linkedStacks(t *testing.T) (a, b *stack.Stack, eb *pipe.End) {
	t.Helper()
	ea, eb, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err = stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Name: "a", Backend: ea, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}, Seed: 1, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	b, err = stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Name: "b", Backend: eb, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}}, Seed: 2, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return a, b, eb
}

// Metrics move with traffic over a real backend (the pipe).
func TestMetricsMoveWithTraffic(t *testing.T) {
	a, b, eb := linkedStacks(t)
	srv := httptest.NewServer(Handler(Source{Stack: b, Backends: map[string]backend.Backend{"b": eb}}))
	defer srv.Close()
	scrape := func() string {
		resp, err := http.Get(srv.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	before := scrape()
	assert.Contains(t, before, "ustack_icmp_in_echos_total 0\n")
	ln, err := b.Listen("tcp", ":80")
	require.NoError(t, err)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	c, err := a.Dial("tcp", "10.0.0.2:80")
	require.NoError(t, err)
	c.Write(make([]byte, 100000))
	time.Sleep(50 * time.Millisecond)
	after := scrape()
	assert.Contains(t, after, "ustack_tcp_passive_opens_total 1\n")
	assert.Regexp(t, `ustack_tcp_in_segs_total [1-9]`, after)
	assert.Regexp(t, `ustack_queue_rx_packets_total\{iface="b",queue="0"\} [1-9]`, after)
	assert.Contains(t, after, `ustack_tcp_connection_info{state="ESTABLISHED",local="10.0.0.2:80"`)
	c.Close()
	ln.Close()
}

// devStats is a backend whose device keeps statistics of its own.
type devStats struct {
	*pipe.End
	stats []backend.DeviceStat
}

func (d devStats) DeviceStats() (string, []backend.DeviceStat, error) { return "dpdk", d.stats, nil }

// lonelyStack is a stack on one end of a pipe, and the other end; both
// close with the test.
func lonelyStack(t *testing.T) (*stack.Stack, *pipe.End) {
	ea, eb, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Name: "a", Backend: ea, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}, Seed: 1, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		eb.Close()
	})
	return s, eb
}

// Device statistics (DPDK's link and xstats) are ustack_<kind>_<name>
// families labelled by interface, each family once.
func TestDeviceStatsAreFamiliesLabelledByInterface(t *testing.T) {
	s, eb := lonelyStack(t)
	stats := func(rx uint64) []backend.DeviceStat {
		return []backend.DeviceStat{
			{Name: "link_up", Value: 1, Gauge: true},
			{Name: "rx_good_packets", Value: rx},
			{Name: "rx_q0-Errors", Value: 3},
		}
	}
	var out strings.Builder
	Write(&out, Source{Stack: s, Backends: map[string]backend.Backend{
		"eth1": devStats{eb, stats(7)}, "eth0": devStats{eb, stats(5)}, "lo": eb,
	}})
	got := out.String()
	assert.Contains(t, got, "# TYPE ustack_dpdk_link_up gauge\nustack_dpdk_link_up{iface=\"eth0\"} 1\nustack_dpdk_link_up{iface=\"eth1\"} 1\n")
	assert.Contains(t, got, "# TYPE ustack_dpdk_rx_good_packets_total counter\n"+
		"ustack_dpdk_rx_good_packets_total{iface=\"eth0\"} 5\nustack_dpdk_rx_good_packets_total{iface=\"eth1\"} 7\n")
	assert.Contains(t, got, "ustack_dpdk_rx_q0_errors_total{iface=\"eth0\"} 3\n")
	assert.Equal(t, 1, strings.Count(got, "# TYPE ustack_dpdk_rx_good_packets_total "))
	assert.NotContains(t, got, `iface="lo"} `, "a device without statistics of its own")
}

// faulty is fault-injection middleware as metrics sees it; layer wraps
// another backend.
type faulty struct{ *pipe.End }

func (faulty) FaultStats() (rx, tx []backend.DeviceStat) {
	return []backend.DeviceStat{{Name: "dropped", Value: 4}, {Name: "ce_marked", Value: 1}},
		[]backend.DeviceStat{{Name: "dropped", Value: 2}, {Name: "ce_marked", Value: 0}}
}

type layer struct {
	*pipe.End
	inner backend.Backend
}

func (l layer) Inner() backend.Backend { return l.inner }

// The counters of fault injection are found under other middleware, and
// written per interface and direction.
func TestFaultStatsFoundUnderOtherLayers(t *testing.T) {
	s, eb := lonelyStack(t)
	var out strings.Builder
	Write(&out, Source{Stack: s, Backends: map[string]backend.Backend{
		"eth0": layer{eb, layer{eb, faulty{eb}}}, "eth1": layer{eb, eb},
	}})
	got := out.String()
	assert.Contains(t, got, "# TYPE ustack_faults_dropped_total counter\n"+
		"ustack_faults_dropped_total{iface=\"eth0\",dir=\"rx\"} 4\nustack_faults_dropped_total{iface=\"eth0\",dir=\"tx\"} 2\n")
	assert.Contains(t, got, "ustack_faults_ce_marked_total{iface=\"eth0\",dir=\"rx\"} 1\n")
	assert.NotContains(t, got, `ustack_faults_dropped_total{iface="eth1"`)
}

// Every connection is counted by state; the list is bounded, and says how
// many it leaves out.
func TestConnectionsAreCountedAndListedUpToTheBound(t *testing.T) {
	a, b, _ := linkedStacks(t)
	ln, err := b.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	for range 3 {
		c, err := a.Dial("tcp", "10.0.0.2:80")
		require.NoError(t, err)
		defer c.Close()
		s, err := ln.Accept()
		require.NoError(t, err)
		defer s.Close()
	}
	scrape := func(list int) string {
		var out strings.Builder
		Write(&out, Source{Stack: b, ListConnections: list})
		return out.String()
	}
	got := scrape(0)
	assert.Contains(t, got, "# TYPE ustack_tcp_connections gauge\n")
	assert.Contains(t, got, "ustack_tcp_connections{state=\"ESTABLISHED\"} 3\n")
	assert.Contains(t, got, "ustack_tcp_connections{state=\"TIME-WAIT\"} 0\n", "states without connections too")
	assert.Contains(t, got, "ustack_tcp_connections_unlisted 0\n")
	assert.Equal(t, 3, strings.Count(got, "ustack_tcp_connection_info{"))
	got = scrape(2)
	assert.Equal(t, 2, strings.Count(got, "ustack_tcp_connection_info{"))
	assert.Contains(t, got, "ustack_tcp_connections_unlisted 1\n")
	got = scrape(-1)
	assert.Zero(t, strings.Count(got, "ustack_tcp_connection_info{"))
	assert.Contains(t, got, "ustack_tcp_connections{state=\"ESTABLISHED\"} 3\n")
	assert.Contains(t, got, "ustack_tcp_connections_unlisted 3\n")
}

// The stack's buffer memory and the process's own gauges, under the names
// of Prometheus's Go client.
func TestGaugesOfMemoryAndTheProcess(t *testing.T) {
	ea, eb, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	defer eb.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Name: "a", Backend: ea, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}},
		Limits: stack.LimitsConfig{BufferMemory: 64 << 20}, Seed: 1, Logger: log})
	require.NoError(t, err)
	defer s.Close()
	var out strings.Builder
	Write(&out, Source{Stack: s})
	m := map[string]float64{}
	for line := range strings.SplitSeq(out.String(), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if ok && !strings.HasPrefix(line, "#") {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			m[name] = f
		}
	}
	assert.Contains(t, out.String(), "# TYPE ustack_tcp_buffer_memory_bytes gauge\nustack_tcp_buffer_memory_bytes 0\n")
	assert.Equal(t, float64(64<<20), m["ustack_tcp_buffer_memory_limit_bytes"])
	assert.Positive(t, m["go_goroutines"])
	assert.Positive(t, m["go_memstats_heap_alloc_bytes"])
	assert.Positive(t, m["process_resident_memory_bytes"])
	assert.Greater(t, m["process_virtual_memory_bytes"], m["process_resident_memory_bytes"])
	assert.Positive(t, m["process_open_fds"])
	assert.GreaterOrEqual(t, m["process_max_fds"], m["process_open_fds"])
	assert.Contains(t, m, "process_cpu_seconds_total", "in ticks of 10 ms: 0 this early")
	start := time.Unix(int64(m["process_start_time_seconds"]), 0)
	assert.WithinDuration(t, time.Now(), start, time.Hour, "the test process started %v", start)
}
