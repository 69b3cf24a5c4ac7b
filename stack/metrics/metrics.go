// Package metrics serves a stack's counters, its backends' queue counters
// and its connection table in the Prometheus text format. Names are
// modelled on the SNMP MIB counters with the protocol in the name
// (ustack_icmp_in_echos_total, ustack_tcp_passive_opens_total), as
// `netstat -s` readers know them.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack"
)

// Source is what the handler reports on.
type Source struct {
	Stack *stack.Stack
	// Backends by interface name, for their per-queue counters.
	Backends map[string]backend.Backend
	// ListConnections bounds the connections listed one by one as
	// ustack_tcp_connection_info (0: DefaultListConnections; negative:
	// none). Every connection is counted by state in
	// ustack_tcp_connections whatever the bound.
	ListConnections int
}

// DefaultListConnections is how many connections the metrics list one by
// one unless told otherwise: a page a person reads, and a bound on each
// scrape's size and on the series a monitor keeps.
const DefaultListConnections = 1000

// Handler serves /metrics.
func Handler(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		Write(w, src)
	})
}

// Write writes every metric of src in the Prometheus text format.
func Write(w io.Writer, src Source) {
	c := src.Stack.Counters()
	writeCounters(w, reflect.ValueOf(c), "ustack")
	names := make([]string, 0, len(src.Backends))
	for n := range src.Backends {
		names = append(names, n)
	}
	slices.Sort(names)
	queueMetrics := []struct {
		name, help string
		get        func(backend.QueueStats) uint64
	}{
		{"rx_packets", "frames received", func(s backend.QueueStats) uint64 { return s.RxPackets }},
		{"rx_bytes", "bytes received", func(s backend.QueueStats) uint64 { return s.RxBytes }},
		{"tx_packets", "frames sent", func(s backend.QueueStats) uint64 { return s.TxPackets }},
		{"tx_bytes", "bytes sent", func(s backend.QueueStats) uint64 { return s.TxBytes }},
		{"rx_drops", "frames the device dropped before the stack saw them", func(s backend.QueueStats) uint64 { return s.RxDrops }},
		{"tx_drops", "frames accepted but not carried", func(s backend.QueueStats) uint64 { return s.TxDrops }},
		{"empty_polls", "receive calls that found nothing", func(s backend.QueueStats) uint64 { return s.EmptyPolls }},
		{"bursts", "receive calls that found frames", func(s backend.QueueStats) uint64 { return s.Bursts }},
		{"alloc_fails", "allocations the pool could not satisfy", func(s backend.QueueStats) uint64 { return s.AllocFails }},
	}
	for _, m := range queueMetrics {
		fmt.Fprintf(w, "# HELP ustack_queue_%s_total %s\n# TYPE ustack_queue_%s_total counter\n", m.name, m.help, m.name)
		for _, n := range names {
			sr, ok := src.Backends[n].(backend.StatsReader)
			if !ok {
				continue
			}
			for q := 0; q < src.Backends[n].Caps().Queues; q++ {
				fmt.Fprintf(w, "ustack_queue_%s_total{iface=%q,queue=\"%d\"} %d\n", m.name, n, q, m.get(sr.QueueStats(q)))
			}
		}
	}
	writeDeviceStats(w, src.Backends, names)
	writeFaultStats(w, src.Backends, names)
	writeGauges(w, src)
	writeConnections(w, src)
}

// writeConnections writes the connections counted by state, how many are
// not listed, and the list: ss -s, then ss.
func writeConnections(w io.Writer, src Source) {
	list := src.ListConnections
	if list == 0 {
		list = DefaultListConnections
	}
	tab := src.Stack.ConnectionTable(list)
	states := make([]string, 0, len(tab.States))
	for st := range tab.States {
		states = append(states, st)
	}
	slices.Sort(states)
	fmt.Fprintf(w, "# HELP ustack_tcp_connections TCP connections by state\n# TYPE ustack_tcp_connections gauge\n")
	for _, st := range states {
		fmt.Fprintf(w, "ustack_tcp_connections{state=%q} %d\n", st, tab.States[st])
	}
	fmt.Fprintf(w, "# HELP ustack_tcp_connections_unlisted TCP connections beyond the bound of ustack_tcp_connection_info's list, which has those in TIME-WAIT last\n# TYPE ustack_tcp_connections_unlisted gauge\nustack_tcp_connections_unlisted %d\n",
		tab.Total-len(tab.Listed))
	fmt.Fprintf(w, "# HELP ustack_tcp_connection_info TCP connections, like ss: state, addresses, rtt, cwnd, queues, buffer sizes and the memory the buffers hold\n# TYPE ustack_tcp_connection_info gauge\n")
	for _, ci := range tab.Listed {
		fmt.Fprintf(w, "ustack_tcp_connection_info{state=%q,local=%q,remote=%q,rtt_us=\"%d\",cwnd=\"%d\",send_queue=\"%d\",recv_queue=\"%d\",send_buffer=\"%d\",recv_buffer=\"%d\",send_memory=\"%d\",recv_memory=\"%d\"} 1\n",
			ci.State, ci.Local.String(), ci.Remote.String(), ci.RTT.Microseconds(), ci.Cwnd, ci.SendQueue, ci.RecvQueue, ci.SendBuffer, ci.RecvBuffer, ci.SendMemory, ci.RecvMemory)
	}
}

// writeFaultStats writes what fault-injection middleware
// (backend.FaultStatsReader) anywhere in an interface's chain of backends
// did, as ustack_faults_<name>_total{iface,dir} counters.
func writeFaultStats(w io.Writer, backends map[string]backend.Backend, names []string) {
	var fs families
	for _, n := range names {
		for b := backends[n]; b != nil; {
			if fr, ok := b.(backend.FaultStatsReader); ok {
				rx, tx := fr.FaultStats()
				for _, d := range []struct {
					dir   string
					stats []backend.DeviceStat
				}{{"rx", rx}, {"tx", tx}} {
					for _, st := range d.stats {
						m := "ustack_faults_" + metricName(st.Name) + "_total"
						fs.add(m, "counter", "frames of the fault injection (--faults): "+strings.ReplaceAll(st.Name, "_", " "),
							fmt.Sprintf("%s{iface=%q,dir=%q} %d\n", m, n, d.dir, st.Value))
					}
				}
			}
			wr, ok := b.(backend.Wrapper)
			if !ok {
				break
			}
			b = wr.Inner()
		}
	}
	fs.write(w)
}

// writeDeviceStats writes the statistics devices keep themselves
// (backend.DeviceStatsReader) as ustack_<kind>_<name>_total counters and
// ustack_<kind>_<name> gauges labelled with the interface, such as
// ustack_dpdk_rx_missed_errors_total{iface="eth0"} from DPDK's xstats. A
// device whose statistics cannot be read now (closing) is left out.
func writeDeviceStats(w io.Writer, backends map[string]backend.Backend, names []string) {
	var fs families
	for _, n := range names {
		dr, ok := backends[n].(backend.DeviceStatsReader)
		if !ok {
			continue
		}
		kind, stats, err := dr.DeviceStats()
		if err != nil || kind == "" {
			continue
		}
		for _, st := range stats {
			name, typ := "ustack_"+metricName(kind)+"_"+metricName(st.Name), "gauge"
			if !st.Gauge {
				name, typ = name+"_total", "counter"
			}
			fs.add(name, typ, "", fmt.Sprintf("%s{iface=%q} %d\n", name, n, st.Value))
		}
	}
	fs.write(w)
}

// families gathers samples of several interfaces into metric families,
// each written once, in the order they first came, under its HELP (when
// it has one) and TYPE.
type families struct {
	order []string
	fams  map[string]*family
}

type family struct {
	help, typ string
	lines     []string
}

// add adds a sample line to family name, made with typ and help if new.
func (fs *families) add(name, typ, help, line string) {
	f := fs.fams[name]
	if f == nil {
		if fs.fams == nil {
			fs.fams = make(map[string]*family)
		}
		f = &family{help: help, typ: typ}
		fs.fams[name] = f
		fs.order = append(fs.order, name)
	}
	f.lines = append(f.lines, line)
}

func (fs *families) write(w io.Writer) {
	for _, name := range fs.order {
		f := fs.fams[name]
		if f.help != "" {
			fmt.Fprintf(w, "# HELP %s %s\n", name, f.help)
		}
		fmt.Fprintf(w, "# TYPE %s %s\n", name, f.typ)
		for _, l := range f.lines {
			io.WriteString(w, l)
		}
	}
}

// metricName makes a device's statistic name a Prometheus name: lower
// case, anything but letters, digits and underscores an underscore.
func metricName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// writeCounters writes each uint64 field of the nested counter structs as
// ustack_<group>_<field>_total.
func writeCounters(w io.Writer, v reflect.Value, prefix string) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		name := prefix + "_" + snake(t.Field(i).Name)
		switch f.Kind() {
		case reflect.Struct:
			group := strings.TrimSuffix(t.Field(i).Name, "Counters")
			writeCounters(w, f, prefix+"_"+snake(group))
		case reflect.Uint64:
			fmt.Fprintf(w, "# TYPE %s_total counter\n%s_total %d\n", name, name, f.Uint())
		}
	}
}

// snake turns a Go counter name into Prometheus style: InEchos →
// in_echos, OutEchoReps → out_echo_reps, RTOs → rtos, PMTUUpdates →
// pmtu_updates.
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			// "IPv6": a version suffix belongs to the acronym before it.
			version := i+2 < len(r) && r[i+1] == 'v' && unicode.IsDigit(r[i+2])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1]) && !version
			// "RTOs": a lone plural s after an acronym starts no word.
			plural := nextLower && r[i+1] == 's' && (i+2 == len(r) || unicode.IsUpper(r[i+2]))
			if prevLower || (nextLower && unicode.IsUpper(r[i-1]) && !plural) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
