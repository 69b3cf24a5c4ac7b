package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// runStats fetches a running ustack's metrics and prints, for a person,
// the counters that are not zero and the connections by state, or with
// --connections the connections the metrics list, like ss.
func runStats(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stats", stderr)
	addr := fs.String("metrics", "127.0.0.1:9100", "the --metrics address of the running ustack")
	all := fs.Bool("all", false, "print zero counters too")
	conns := fs.Bool("connections", false, "print the TCP connections the metrics list (up to serve's --metrics-conns), like ss")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + *addr + "/metrics")
	if err != nil {
		return fmt.Errorf("--metrics %s: %w", *addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("--metrics %s: %s", *addr, resp.Status)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if *conns {
		fmt.Fprintln(tw, "State\tRecv-Q\tSend-Q\tLocal\tPeer\tRTT(ms)\tCwnd\tMem")
	}
	unlisted := "0"
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		info, isConn := strings.CutPrefix(name, "ustack_tcp_connection_info{")
		if *conns {
			if isConn {
				l := labels(strings.TrimSuffix(info, "}"))
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l["state"], l["recv_queue"], l["send_queue"], l["local"], l["remote"], millis(l["rtt_us"]), l["cwnd"], memory(l["send_memory"], l["recv_memory"]))
			} else if name == "ustack_tcp_connections_unlisted" {
				unlisted = value
			}
			continue
		}
		if isConn || (!*all && value == "0") {
			continue
		}
		name = strings.TrimPrefix(name, "ustack_")
		name = strings.Replace(strings.TrimSuffix(name, "_total"), "_total{", "{", 1)
		fmt.Fprintf(tw, "%s\t%s\n", name, value)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unlisted != "0" {
		fmt.Fprintf(stdout, "%s more connections, not listed (serve's --metrics-conns)\n", unlisted)
	}
	return nil
}

// labels parses the labels of a Prometheus sample, k="v",... with Go's
// escapes in the values.
func labels(s string) map[string]string {
	m := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, `="`)
		if !ok {
			break
		}
		var v strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			v.WriteByte(rest[i])
		}
		m[k] = v.String()
		s = strings.TrimPrefix(rest[min(i+1, len(rest)):], ",")
	}
	return m
}

// millis writes microseconds as milliseconds.
func millis(us string) string {
	var n int64
	if _, err := fmt.Sscan(us, &n); err != nil {
		return us
	}
	return fmt.Sprintf("%.3f", float64(n)/1000)
}

// memory is the memory a connection's two buffers hold, from their labels
// (a metrics endpoint of an older ustack has none: "-").
func memory(send, recv string) string {
	var s, r int64
	if _, err := fmt.Sscan(send, &s); err != nil {
		return "-"
	}
	if _, err := fmt.Sscan(recv, &r); err != nil {
		return "-"
	}
	return strconv.FormatInt(s+r, 10)
}
