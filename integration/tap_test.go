package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mib100 = 100 << 20

// faultModes runs a test against ustack without faults and with 5% loss on
// its side.
var faultModes = []struct {
	name string
	args []string
}{
	{"clean", nil},
	{"loss5", []string{"--faults", "loss=0.05", "--seed", "7"}},
}

func TestTAPPing(t *testing.T) {
	requireRoot(t, "ping")
	n := newNetns(t)
	out, err := n.exec(context.Background(), nil, "ping", "-c", "5", "-i", "0.2", "-W", "2", n.ustack)
	require.NoError(t, err)
	assert.Contains(t, string(out), "5 received")
	out, err = n.exec(context.Background(), nil, "ping", "-c", "3", "-s", "4000", "-W", "2", n.ustack)
	require.NoError(t, err, "fragmented echo")
	assert.Contains(t, string(out), "3 received")
	// The reply returns the request's record route with ustack's address
	// added (RFC 1122 §3.2.2.6): the kernel's, ustack's, the kernel's.
	out, err = n.exec(context.Background(), nil, "ping", "-c", "1", "-R", "-W", "2", n.ustack)
	require.NoError(t, err, "record route")
	assert.Regexp(t, fmt.Sprintf(`RR:\s+%s\s+%s\s+%s\s`, regexp.QuoteMeta(n.host), regexp.QuoteMeta(n.ustack), regexp.QuoteMeta(n.host)), string(out))
}

func TestTAPCurlDownloadAndUpload100MiB(t *testing.T) {
	requireRoot(t, "curl")
	for _, mode := range faultModes {
		t.Run(mode.name, func(t *testing.T) {
			n := newNetns(t, append([]string{"--http", ":80"}, mode.args...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			curlDownUp(ctx, t, n, mib100)
		})
	}
}

// curlDownUp has curl in the namespace download size bytes from ustack's
// /bytes/N and upload as many to its /sha256, each checked by SHA-256.
func curlDownUp(ctx context.Context, t *testing.T, n *netns, size int) {
	t.Helper()
	start := time.Now()
	curlChecked(ctx, t, n, fmt.Sprintf("http://%s/bytes/%d", n.ustack, size))
	t.Logf("download: %.0f Mbit/s", float64(size)*8/time.Since(start).Seconds()/1e6)

	up := filepath.Join(t.TempDir(), "up")
	require.NoError(t, os.WriteFile(up, randomBytes(size), 0o600))
	start = time.Now()
	out, err := n.exec(ctx, nil, "curl", "-sS", "--fail", "--data-binary", "@"+up, fmt.Sprintf("http://%s/sha256", n.ustack))
	require.NoError(t, err)
	t.Logf("upload: %.0f Mbit/s", float64(size)*8/time.Since(start).Seconds()/1e6)
	assert.Equal(t, fileSHA(t, up)+"\n", string(out))
}

// curlChecked downloads url (of ustack's HTTP service) with curl in n,
// given args besides, and checks the body against the digest in its
// X-Sha256 header.
func curlChecked(ctx context.Context, t *testing.T, n *netns, url string, args ...string) {
	t.Helper()
	dir := t.TempDir()
	body, hdrs := filepath.Join(dir, "body"), filepath.Join(dir, "headers")
	_, err := n.exec(ctx, nil, "curl", append(args, "-sS", "--fail", "-g", "-D", hdrs, "-o", body, url)...)
	require.NoError(t, err)
	h, err := os.ReadFile(hdrs)
	require.NoError(t, err)
	assert.Equal(t, headerValue(h, "X-Sha256"), fileSHA(t, body), "the body's SHA-256 from %s", url)
}

func TestTAPEchoWithNetcat(t *testing.T) {
	requireRoot(t, "nc")
	for _, mode := range faultModes {
		t.Run(mode.name, func(t *testing.T) {
			n := newNetns(t, append([]string{"--echo", "7"}, mode.args...)...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			data := randomBytes(1 << 20)
			out, err := n.exec(ctx, bytes.NewReader(data), "nc", "-N", n.ustack, "7")
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, out), "echoed %d of %d bytes", len(out), len(data))
		})
	}
}

// ustack as the HTTP client of a server run by Linux.
func TestTAPGetFromLinuxServer(t *testing.T) {
	requireRoot(t)
	for _, mode := range faultModes {
		t.Run(mode.name, func(t *testing.T) {
			n := newNetns(t, "--udp-echo", "7")
			n.stop() // only the namespace is wanted; get brings its own stack
			ln := n.listen("0.0.0.0:8080")
			data := randomBytes(32 << 20)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/data" {
					http.NotFound(w, r)
					return
				}
				w.Write(data)
			})}
			go srv.Serve(ln)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			args := append([]string{"get", "--tap", "tap1", "--host-addr", n.host + "/24", "--addr", n.ustack + "/24"}, mode.args...)
			out, err := n.exec(ctx, nil, ustackBin, append(args, "http://"+n.host+":8080/data")...)
			require.NoError(t, err)
			sum := sha256.Sum256(data)
			assert.Contains(t, string(out), "sha256 "+hex.EncodeToString(sum[:]))
			assert.Contains(t, string(out), fmt.Sprintf("bytes %d", len(data)))
			_, err = n.exec(ctx, nil, ustackBin, append(args, "http://"+n.host+":8080/missing")...)
			require.Error(t, err, "a 404 is a failure")
			if mode.args == nil {
				// --output keeps the body; with -, on standard output.
				file := filepath.Join(t.TempDir(), "body")
				_, err = n.exec(ctx, nil, ustackBin, append(args, "--output", file, "http://"+n.host+":8080/data")...)
				require.NoError(t, err)
				got, err := os.ReadFile(file)
				require.NoError(t, err)
				assert.Equal(t, sum, sha256.Sum256(got))
				out, err = n.exec(ctx, nil, ustackBin, append(args, "--output", "-", "http://"+n.host+":8080/data")...)
				require.NoError(t, err)
				assert.Equal(t, sum, sha256.Sum256(out), "the body alone on standard output")
				// A full disk is the file's fault, not the download's.
				_, err = n.exec(ctx, nil, ustackBin, append(args, "--output", "/dev/full", "http://"+n.host+":8080/data")...)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "ustack get: --output /dev/full: write /dev/full: no space left on device")
				// No DNS server there: Linux's port unreachable ends
				// the lookup at once, and the error names the server
				// asked, not the host's resolv.conf one.
				_, err = n.exec(ctx, nil, ustackBin, append(args, "--dns", n.host, "http://nosuch.example/")...)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "lookup nosuch.example: read udp ")
				assert.Contains(t, err.Error(), n.host+":53: connection refused")
			}
		})
	}
}

func TestTAPManyConnections(t *testing.T) {
	requireRoot(t, "curl", "xargs", "sh")
	n := newNetns(t, "--http", ":80")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := fmt.Sprintf("http://%s/bytes/1000", n.ustack)
	// Sequential: one connection per request.
	script := fmt.Sprintf(`ok=0; for i in $(seq 300); do curl -sS --fail -o /dev/null %s && ok=$((ok+1)); done; echo $ok`, url)
	out, err := n.exec(ctx, nil, "sh", "-c", script)
	require.NoError(t, err)
	assert.Equal(t, "300", strings.TrimSpace(string(out)), "sequential requests that succeeded")
	// Concurrent: 50 at a time.
	script = fmt.Sprintf(`seq 500 | xargs -P 50 -I{} curl -sS --fail -o /dev/null -w '%%{http_code}\n' %s | grep -c 200`, url)
	out, err = n.exec(ctx, nil, "sh", "-c", script)
	require.NoError(t, err)
	assert.Equal(t, "500", strings.TrimSpace(string(out)), "concurrent requests that succeeded")
}

func TestTAPWrk(t *testing.T) {
	requireRoot(t, "wrk")
	n := newNetns(t, "--http", ":80")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.exec(ctx, nil, "wrk", "-t", "2", "-c", "50", "-d", "10s", fmt.Sprintf("http://%s/", n.ustack))
	require.NoError(t, err)
	t.Logf("wrk:\n%s", out)
	s := string(out)
	assert.NotContains(t, s, "Socket errors")
	assert.NotContains(t, s, "Non-2xx")
	assert.Contains(t, s, "Requests/sec")
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

func randomBytes(n int) []byte {
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	b := make([]byte, n)
	rng.Read(b)
	return b
}

var _ = exec.Command

// A TAP device deleted under `ustack serve` ends it with the device's
// error and status 1, instead of leaving it spinning on a dead descriptor.
func TestTAPDeviceDeletedEndsServe(t *testing.T) {
	requireRoot(t)
	n := newNetns(t, "--http", ":80")
	run(t, "ip", "-n", n.name, "link", "del", "tap0")
	err := waitExit(n.cmd, 5*time.Second)
	n.cmd = nil
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "serve after its device went:\n%s", n.stderr.String())
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, n.stderr.String(), `level=ERROR msg="device is gone: nothing passes on it any more" iface=eth0`)
	assert.Contains(t, n.stderr.String(), "ustack serve: eth0: tap tap0: poll: device is gone")
}
