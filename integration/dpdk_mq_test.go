//go:build dpdk

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With --queues 2 on net_tap, the kernel spreads the connections it opens
// over both queues of the port, over IPv4 and IPv6, and ustack serves each
// on the queue it arrived on. The kernel's multi-queue tap steers a flow
// to the queue ustack last sent it on, so few frames arrive at a queue
// that does not own their connection: none would if every queue sent its
// own frames, whatever state its neighbour is in.
func TestDPDKMultiQueue(t *testing.T) {
	requireDPDK(t, "curl", "xargs", "sh", "sysctl")
	n, d := newDPDKServe(t, "--addr", "fd7e::2/64", "--http", ":80", "--queues", "2", "--metrics", "127.0.0.1:9100")
	d.enableIPv6(t, "fd7e::1/64")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var before map[string]float64
	for _, host := range []string{n.ustack, "[fd7e::2]"} {
		t.Run(host, func(t *testing.T) {
			url := fmt.Sprintf("http://%s/bytes/20000", host)
			script := fmt.Sprintf(`seq 200 | xargs -P 20 -I{} curl -g -sS --fail -o /dev/null -w '%%{http_code} %%{size_download}\n' '%s' | grep -c '^200 20000$'`, url)
			out, err := n.exec(ctx, nil, "sh", "-c", script)
			require.NoError(t, err, "ustack:\n%s", n.stderr.String())
			assert.Equal(t, "200", strings.TrimSpace(string(out)), "concurrent requests served whole")

			m := scrape(t, n)
			delta := func(name string) float64 { return m[name] - before[name] }
			frames := 0.0
			for q := range 2 {
				got := delta(fmt.Sprintf(`ustack_queue_rx_packets_total{iface="eth0",queue="%d"}`, q))
				assert.Positive(t, got, "frames received on queue %d", q)
				frames += got
			}
			assert.GreaterOrEqual(t, delta("ustack_tcp_passive_opens_total"), 200.0)
			misses := delta("ustack_queue_steer_misses_total")
			t.Logf("%v frames, steer misses %v, handoffs %v", frames, misses, delta("ustack_queue_handoffs_total"))
			assert.Less(t, misses, frames/10, "frames that came to a queue not their connection's")
			before = m
		})
	}
}

// `ustack get --queues 2` on net_tap: the connection ustack opens is owned
// by the queue that dialled, whichever queue the kernel answers on.
func TestDPDKMultiQueueGet(t *testing.T) {
	requireDPDK(t, "sysctl")
	n := newDPDKNetns(t)
	d := newDPDKPort(n.name)
	data := randomBytes(8 << 20)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) })}
	ln := n.listen("0.0.0.0:8080")
	go srv.Serve(ln)
	defer srv.Close()

	out, err := dpdkGet(t, n, d, "http://"+n.host+":8080/data", "--queues", "2")
	require.NoError(t, err, out)
	sum := sha256.Sum256(data)
	assert.Contains(t, out, "sha256 "+hex.EncodeToString(sum[:]))
}
