package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A capture of a real run over TAP opens in tshark with no malformed
// packets and no bad checksums, rotated files included. The HTTP body is
// pseudo-random bytes: tshark's HTTP dissector, meeting them mid-stream in
// a rotated file, reads about one random segment in a hundred as a broken
// header and calls it malformed, so port 80 is decoded as plain data and
// the check is of what ustack frames: Ethernet, IP and TCP.
func TestTAPCaptureIsWellFormed(t *testing.T) {
	requireRoot(t, "curl", "tshark")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "run.pcap")
	n := newNetns(t, "--http", ":80", "--echo", "7", "--pcap", pcap, "--pcap-max-size", "4MiB", "--pcap-files", "3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := n.exec(ctx, nil, "curl", "-sS", "--fail", "-o", "/dev/null", fmt.Sprintf("http://%s/bytes/%d", n.ustack, 8<<20))
	require.NoError(t, err)
	_, err = n.exec(ctx, nil, "curl", "-sS", "--fail", "-o", "/dev/null", "--data-binary", "@/etc/os-release", fmt.Sprintf("http://%s/sha256", n.ustack))
	require.NoError(t, err)
	n.stop()
	files, _ := filepath.Glob(pcap + "*")
	require.GreaterOrEqual(t, len(files), 2, "rotated: %v", files)
	assert.LessOrEqual(t, len(files), 4)
	for _, f := range files {
		st, err := os.Stat(f)
		require.NoError(t, err)
		assert.LessOrEqual(t, st.Size(), int64(4<<20)+70000, f)
		out, err := n.exec(ctx, nil, "tshark", "-n", "-r", f, "-d", "tcp.port==80,data", "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
			"-Y", "_ws.malformed || ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\"")
		require.NoError(t, err)
		assert.Empty(t, strings.TrimSpace(string(out)), "%s has malformed or bad-checksum frames", f)
		count, err := n.exec(ctx, nil, "tshark", "-n", "-r", f)
		require.NoError(t, err)
		assert.NotEmpty(t, count)
	}
}
