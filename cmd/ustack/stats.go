package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// runStats fetches a running ustack's metrics and prints the counters
// that are not zero, for a person.
func runStats(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stats", stderr)
	addr := fs.String("metrics", "127.0.0.1:9100", "the --metrics address of the running ustack")
	all := fs.Bool("all", false, "print zero counters too")
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
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok || (!*all && value == "0") {
			continue
		}
		name = strings.TrimPrefix(name, "ustack_")
		name = strings.Replace(strings.TrimSuffix(name, "_total"), "_total{", "{", 1)
		fmt.Fprintf(stdout, "%-60s %s\n", name, value)
	}
	return sc.Err()
}
