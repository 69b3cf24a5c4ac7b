package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack"
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
		{[]string{"serve", "--addr", "10.0.0.1/24", "--gateway", "nowhere"}, `"nowhere" for flag -gateway: want an IP address`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--gateway", "10.0.0.254", "--gateway", "10.0.0.1"}, "a second IPv4 gateway after 10.0.0.254"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--mac", "zz"}, `--mac "zz"`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--host-addr", "10.0.0.2"}, "-host-addr"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--host-addr", "10.0.0.2/24", "--host-addr", "10.0.1.2/24"}, "one IPv4 host address"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--echo", "70000"}, `--echo "70000"`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--route", "10.1.0.0/16"}, "-route"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--backend", "dpdk"}, "rebuild"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--backend", "dpdk", "--eal", "-l 0 --vdev='net_tap0"}, `--eal "-l 0 --vdev='net_tap0": a single quote is not closed`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--eal", "-l 0", "--port", "0"}, "--eal is a flag of --backend dpdk, not of --backend tap"},
		{[]string{"get", "--backend", "dpdk", "--tap", "t0", "--addr", "10.0.0.1/24", "http://x/"}, "--tap is a flag of --backend tap, not of --backend dpdk"},
		{[]string{"serve", "--backend", "pcap", "--in", "a.pcap", "--out", "b.pcap", "--mbufs", "9"}, "--mbufs is a flag of --backend dpdk, not of --backend pcap"},
		{[]string{"serve"}, "--addr"},
		{[]string{"serve", "--addr", "dhcp", "--addr-gen", "random"}, `--addr-gen "random"`},
		{[]string{"serve", "--addr", "fd00::2/64", "--dad-transmits", "-1"}, "--dad-transmits -1"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--vlan", "4095"}, "--vlan 4095"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--ecn", "maybe"}, `--ecn "maybe"`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--metrics-conns", "-5"}, "--metrics-conns -5"},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--udp-echo", "7", "--join", "10.0.0.9"}, `invalid value "10.0.0.9" for flag -join: want a multicast group`},
		{[]string{"serve", "--addr", "10.0.0.1/24", "--join", "239.1.2.3"}, "--join: the group's datagrams are echoed on the --udp-echo port"},
		{[]string{"serve", "--backend", "pcap", "--in", "a.pcap", "--out", "b.pcap", "--addr-gen", "eui64"}, "not --addr-gen"},
		{[]string{"serve", "--addr", "dhcpv6"}, "dhcp, or auto"},
		{[]string{"get", "--addr", "10.0.0.1/24"}, "missing URL"},
		{[]string{"get", "--addr", "10.0.0.1/24", "ftp://x/"}, `URL "ftp://x/"`},
		{[]string{"get", "--addr", "10.0.0.1/24", "--output", "/nonexistent/dir/body", "http://x/"}, "--output: open /nonexistent/dir/body"},
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

func writeConfig(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "ustack.toml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

// The file fills in what the command line does not say; the command line
// wins; unknown keys and bad values are refused naming key and value.
func TestConfigFilePrecedenceAndRefusals(t *testing.T) {
	good := writeConfig(t, "addr = [\"10.0.0.2/24\", \"10.0.1.2/24\", \"fd00::2/64\"]\nmtu = 9000\ngateway = [\"10.0.0.1\", \"fd00::1\"]\nlog-level = \"debug\"\n")
	fs := newFlags("serve", io.Discard)
	var f stackFlags
	f.register(fs)
	require.NoError(t, fs.Parse([]string{"--config", good, "--mtu", "1400"}))
	require.NoError(t, f.load(fs))
	assert.Equal(t, 1400, f.mtu, "the command line wins")
	assert.Len(t, f.addrs.prefixes, 3)
	assert.Equal(t, []stack.Route{
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("10.0.0.1")},
		{Prefix: netip.MustParsePrefix("::/0"), Via: netip.MustParseAddr("fd00::1")},
	}, f.gateway.routes(), "a default route per family")
	assert.Equal(t, "debug", f.logLevel)

	for _, c := range []struct {
		text, want string
	}{
		{"adress = \"10.0.0.2/24\"\n", `unknown key "adress"`},
		{"addr = \"10.0.0.2\"\n", `addr = "10.0.0.2": want an address with a prefix length`},
		{"addr = [\"10.0.0.2/24\"]\nmtu = \"big\"\n", `mtu = "big"`},
		{"addr = [\"10.0.0.2/24\"]\ngateway = \"nowhere\"\n", `gateway = "nowhere": want an IP address`},
		{"addr = [\"10.0.0.2/24\"]\nfaults = \"loss=7\"\n", "loss=7"},
		{"addr = [\"10.0.0.2/24\"\n", "line"},
		{"[tap]\nname = \"x\"\n", "tap = map[name:x]: tables are not flags"},
		{"[dpdk]\nport = 1\n", `unknown key "dpdk"`},
	} {
		path := writeConfig(t, c.text)
		code, _, errs := runArgs("serve", "--config", path)
		assert.NotZero(t, code, c.text)
		assert.Contains(t, errs, c.want, c.text)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(errs), "\n")+1, "one line: %q", errs)
	}
	code, _, errs := runArgs("serve", "--config", "/nonexistent.toml")
	assert.NotZero(t, code)
	assert.Contains(t, errs, "/nonexistent.toml")
}

// The IPv6 addressing flags reach the stack's configuration.
func TestIPv6FlagsSetTheStackConfig(t *testing.T) {
	for _, c := range []struct {
		args []string
		want stack.IPv6Config
	}{
		{nil, stack.IPv6Config{AddrGen: "stable", DADTransmits: 1}},
		{[]string{"--addr-gen", "eui64", "--stable-secret", "s3cret", "--dad-transmits", "3"}, stack.IPv6Config{AddrGen: "eui64", StableSecret: "s3cret", DADTransmits: 3}},
		{[]string{"--dad-transmits", "0"}, stack.IPv6Config{AddrGen: "stable", DADTransmits: -1}},
	} {
		fs := newFlags("serve", io.Discard)
		var f stackFlags
		f.register(fs)
		require.NoError(t, fs.Parse(append([]string{"--addr", "fd00::2/64"}, c.args...)))
		require.NoError(t, f.load(fs))
		cfg := f.stackConfig(nil, nil, nil)
		assert.Equal(t, c.want, cfg.IPv6, c.args)
		assert.Equal(t, c.want.DADTransmits, cfg.ARP.Probes, "ARP probes of DHCP leases, %v", c.args)
	}
}
