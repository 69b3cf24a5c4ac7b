package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testdata are pcapsim's small captures.
func testdata(name string) string { return filepath.Join("..", "..", "pcapsim", "testdata", name) }

func replayCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = runReplay(args, &o, &e)
	return o.String(), e.String(), err
}

// records counts the records of a pcap file.
func records(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			return n
		}
		n++
	}
}

func TestReplayCommandAdopts(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	stdout, stderr, err := replayCmd(t, "--in", testdata("icmp-echo.pcap"), "--out", out, "--adopt")
	require.NoError(t, err)
	assert.Empty(t, stderr)
	lines := strings.Split(stdout, "\n")
	require.Len(t, lines, 5)
	assert.Equal(t, "stack 10.0.0.1/24 02:00:00:00:00:01 (adopted: received the first unicast IP packet, record 1), 2 static neighbours", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "frames in 4, out 5; 8.5s of virtual time in "), lines[1])
	assert.Equal(t, []string{"drops: none", "wrote " + out, ""}, lines[2:])
	assert.Equal(t, 5, records(t, out))
}

func TestReplayCommandWithAddresses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	stdout, _, err := replayCmd(t, "--in", testdata("tcp-handshake.pcap"), "--out", out,
		"--addr", "10.0.0.1/24", "--addr", "2001:db8::1/64", "--mac", "02:00:00:00:00:01", "--listen", "80", "--seed", "3", "--drain", "0", "--mbuf")
	require.NoError(t, err)
	assert.Contains(t, stdout, "stack 10.0.0.1/24 2001:db8::1/64 02:00:00:00:00:01 (given)")
	assert.Contains(t, stdout, "frames in 2, out 3; 10ms of virtual time")
	assert.Contains(t, stdout, "drops: TCP.NoPorts 1\n")
	assert.Equal(t, 3, records(t, out), "announcement, SYN-ACK, reset")
}

func TestReplayCommandWarnsOfATruncatedRecord(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	stdout, stderr, err := replayCmd(t, "--in", testdata("truncated.pcap"), "--out", out)
	require.NoError(t, err, "exit 0")
	assert.Equal(t, "ustack replay: warning: pcapsim: record 4 is truncated; the 3 records before it were replayed\n", stderr)
	assert.Contains(t, stdout, "frames in 3, out 4")
}

func TestReplayCommandRefusesUnsupportedLinkTypes(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "wifi.pcap"), filepath.Join(dir, "out.pcap")
	b, err := os.ReadFile(testdata("arp.pcap"))
	require.NoError(t, err)
	b[20] = 105
	require.NoError(t, os.WriteFile(in, b, 0o644))
	_, _, err = replayCmd(t, "--in", in, "--out", out)
	assert.EqualError(t, err, "pcapsim: link type 105 (IEEE 802.11) not supported")
	assert.Zero(t, records(t, out), "--out is written all the same")
}

func TestReplayCommandRefusesBadFlags(t *testing.T) {
	in, out := testdata("arp.pcap"), filepath.Join(t.TempDir(), "out.pcap")
	for _, c := range []struct {
		args []string
		want string // in the one line of the error
	}{
		{[]string{"--out", out}, "--in"},
		{[]string{"--in", in}, "--out"},
		{[]string{"--in", in, "--out", out, "--addr", "10.0.0.1"}, "-addr"},
		{[]string{"--in", in, "--out", out, "--addr", "224.0.0.1/4"}, "-addr"},
		{[]string{"--in", in, "--out", out, "--addr", "10.0.0.1/24", "--adopt"}, "--adopt and --addr"},
		{[]string{"--in", in, "--out", out, "--mac", "ff:ff:ff:ff:ff:ff"}, "--mac"},
		{[]string{"--in", in, "--out", out, "--seed", "x"}, "-seed"},
		{[]string{"--in", in, "--out", out, "--drain", "-1s"}, "--drain"},
		{[]string{"--in", in, "--out", out, "--listen", "70000"}, "-listen"},
		{[]string{"--in", in, "--out", out, "--log-level", "loud"}, "--log-level"},
		{[]string{"--in", in, "--out", out, "--vlan", "4095"}, "--vlan 4095"},
		{[]string{"--in", in, "--converse", "--vlan", "7"}, "--vlan: not with --converse"},
		{[]string{"--in", in, "--out", out, "extra"}, "extra"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, stderr, err := replayCmd(t, c.args...)
			require.Error(t, err)
			msg := err.Error()
			if errors.Is(err, errUsage) {
				msg = stderr
			}
			assert.Contains(t, msg, c.want)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(msg), "\n")+1, "one line: %q", msg)
		})
	}
}

func TestReplayCommandHelpListsEveryFlag(t *testing.T) {
	stdout, _, err := replayCmd(t, "-h")
	assert.ErrorIs(t, err, flag.ErrHelp)
	for _, f := range []string{"in", "out", "addr", "adopt", "mac", "listen", "seed", "drain", "mbuf", "outgoing", "log-level"} {
		assert.Contains(t, stdout, "  -"+f)
	}
}

func TestReplayCommandConverses(t *testing.T) {
	dir := t.TempDir()
	report, out := filepath.Join(dir, "report.json"), filepath.Join(dir, "out.pcap")
	stdout, _, err := replayCmd(t, "--in", testdata("converse-echo.pcap"), "--converse", "--echo", "7", "--report", report, "--out", out)
	require.NoError(t, err)
	assert.Equal(t, "conversations 1: 1 answered as recorded, 0 differently, 0 skipped\nwrote "+report+"\nwrote "+out+"\n", stdout)
	js, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"first_difference": -1`)
	assert.Greater(t, records(t, out), 8)

	// Without the service, the stack resets: a difference, still exit 0.
	stdout, _, err = replayCmd(t, "--in", testdata("converse-echo.pcap"), "--converse")
	require.NoError(t, err)
	assert.Contains(t, stdout, "conversations 1: 0 answered as recorded, 1 differently, 0 skipped\n")
	assert.Contains(t, stdout, "the stack RST")
}

func TestServePcapBackend(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	var o, e bytes.Buffer
	err := runServe([]string{"--backend", "pcap", "--in", testdata("tcp-handshake.pcap"), "--out", out, "--http", ":80", "--log-level", "warn"}, &o, &e)
	require.NoError(t, err)
	assert.Contains(t, o.String(), "frames in 2, out ")
	assert.Contains(t, o.String(), "; 2 TCP conversations\n")
	assert.Greater(t, records(t, out), 1)

	// --vlan puts the replayed stack on a VLAN: this capture has none, so
	// nothing reaches it.
	o.Reset()
	err = runServe([]string{"--backend", "pcap", "--in", testdata("tcp-handshake.pcap"), "--out", out, "--http", ":80", "--vlan", "9", "--log-level", "warn"}, &o, &e)
	require.NoError(t, err)
	assert.Contains(t, o.String(), " on VLAN 9 (")
	assert.Contains(t, o.String(), "drops: VLAN.Untagged 2\n")

	err = runServe([]string{"--backend", "pcap", "--in", testdata("tcp-handshake.pcap")}, &o, &e)
	require.EqualError(t, err, "--backend pcap: --in FILE and --out FILE are required")
}
