package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hostile traffic from real tools against ustack on TAP: it keeps serving,
// logs no panic (netns.stop checks) and bounds its memory.

// rss is the resident memory of process pid in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// ustackPid is the pid of ustack itself: `ip netns exec` execs it.
func ustackPid(t *testing.T, n *netns) int {
	t.Helper()
	pid := n.cmd.Process.Pid
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	require.NoError(t, err)
	require.Equal(t, "ustack", strings.TrimSpace(string(comm)), "ip netns exec runs ustack in its own process")
	return pid
}

// stillServes fetches n bytes over HTTP and checks their digest, within
// limit.
func stillServes(t *testing.T, n *netns, size int, limit time.Duration) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit+5*time.Second)
	defer cancel()
	start := time.Now()
	curlChecked(ctx, t, n, fmt.Sprintf("http://%s/bytes/%d", n.ustack, size), "--max-time", strconv.Itoa(int(limit/time.Second)))
	took := time.Since(start)
	assert.Less(t, took, limit)
	return took
}

// During a 10 s `hping3 --flood --rand-source` SYN flood, ustack's resident
// memory stays under 256 MiB, SYN cookies engage, and an 8 MiB download
// started during the flood completes within 10 s.
func TestHdSYNFloodHping3(t *testing.T) {
	requireRoot(t, "hping3", "curl")
	// The gateway lets ustack answer the spoofed sources (with cookies);
	// the kernel drops the answers.
	n := newNetnsNamed(t, "hd", "--http", ":80", "--gateway", "10.77.0.1", "--metrics", "127.0.0.1:9100")
	pid := ustackPid(t, n)
	before := scrape(t, n)
	rss0 := rss(t, pid)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	flood := exec.CommandContext(ctx, "ip", "netns", "exec", n.name, "hping3", "--flood", "--rand-source", "-S", "-p", "80", n.ustack)
	var floodOut bytes.Buffer
	flood.Stdout, flood.Stderr = &floodOut, &floodOut
	require.NoError(t, flood.Start())

	var peak int64
	var mu sync.Mutex
	stop := make(chan struct{})
	sampled := make(chan struct{})
	var stopOnce sync.Once
	stopSampling := func() {
		stopOnce.Do(func() { close(stop) })
		<-sampled
	}
	// A failing check ends the test early: the sampler, which reads
	// ustack's memory through t, must be done by then.
	defer stopSampling()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				r := rss(t, pid)
				mu.Lock()
				peak = max(peak, r)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(2 * time.Second)
	mid := scrape(t, n)
	took := stillServes(t, n, 8<<20, 10*time.Second)
	flood.Wait()
	stopSampling()
	after := scrape(t, n)
	t.Logf("8 MiB during the flood in %v; RSS %d MiB before, peak %d MiB; SYNs in %.0f, cookies sent %.0f, shed %.0f; retransmission timeouts %.0f",
		took.Round(time.Millisecond), rss0>>20, peak>>20,
		after["ustack_tcp_in_segs_total"]-before["ustack_tcp_in_segs_total"],
		after["ustack_tcp_syn_cookies_sent_total"]-before["ustack_tcp_syn_cookies_sent_total"],
		after["ustack_tcp_syn_cookies_shed_total"]-before["ustack_tcp_syn_cookies_shed_total"],
		after["ustack_tcp_rtos_total"]-before["ustack_tcp_rtos_total"])
	assert.Less(t, peak, int64(256<<20), "resident memory under 256 MiB")
	assert.Greater(t, mid["ustack_tcp_syn_cookies_sent_total"], before["ustack_tcp_syn_cookies_sent_total"], "SYN cookies engaged")
	assert.Greater(t, after["ustack_tcp_syn_cookies_sent_total"], mid["ustack_tcp_syn_cookies_sent_total"], "and went on")
	stillServes(t, n, 1<<20, 10*time.Second)
}

// hping3's other floods, a few seconds each: UDP, ICMP, tiny fragments,
// LAND, and SYNs from the broadcast address. ustack keeps serving.
func TestHdHping3Floods(t *testing.T) {
	requireRoot(t, "hping3", "curl")
	n := newNetnsNamed(t, "hd", "--http", ":80", "--udp-echo", "7", "--gateway", "10.77.0.1", "--metrics", "127.0.0.1:9100")
	for _, f := range []struct {
		name string
		args []string
	}{
		{"udp", []string{"--udp", "--flood", "--rand-source", "-p", "7", "-d", "200"}},
		{"icmp", []string{"--icmp", "--flood", "--rand-source", "-d", "1000"}},
		{"tiny-fragments", []string{"-S", "-f", "--flood", "-p", "80", "-d", "64"}},
		{"land", []string{"-S", "--flood", "-a", n.ustack, "-s", "80", "-k", "-p", "80"}},
		{"broadcast-source", []string{"-S", "--flood", "-a", "255.255.255.255", "-p", "80"}},
	} {
		t.Run(f.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, "hping3"}, append(f.args, n.ustack)...)...).Run()
			stillServes(t, n, 1<<20, 10*time.Second)
		})
	}
	c := scrape(t, n)
	assert.Positive(t, c["ustack_ip_in_martians_total"], "LAND and broadcast sources")
	assert.Positive(t, c["ustack_ip_reasm_oks_total"], "the fragments reassembled")
}

// nmap's SYN, UDP and OS detection scans: ustack answers them (open,
// closed), keeps serving, and logs no panic.
func TestHdNmapScans(t *testing.T) {
	requireRoot(t, "nmap", "curl")
	n := newNetnsNamed(t, "hd", "--http", ":80", "--echo", "7", "--udp-echo", "7")
	for _, s := range []struct {
		name string
		args []string
		want string
	}{
		{"syn", []string{"-sS", "-p", "1-1024", "-T4"}, "80/tcp open"},
		{"udp", []string{"-sU", "-p", "7,53,161", "-T4", "--max-retries", "1"}, "7/udp"},
		{"os", []string{"-O", "-p", "7,80,81", "-T4", "--max-os-tries", "1"}, "80/tcp open"},
	} {
		t.Run(s.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := n.exec(ctx, nil, "nmap", append(s.args, n.ustack)...)
			require.NoError(t, err)
			t.Logf("%s", out)
			assert.Contains(t, string(out), s.want)
			stillServes(t, n, 1<<20, 10*time.Second)
		})
	}
}
