package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With --queues 2 the TAP device is multi-queue: the kernel spreads the
// connections it opens over both queues, over IPv4 and IPv6, ustack serves
// each on the queue it arrived on, and every request succeeds.
func TestTAPMultiQueue(t *testing.T) {
	requireRoot(t, "curl", "xargs", "sh")
	n := newNetns(t, "--host-addr", "fd7f::1/64", "--addr", "fd7f::2/64", "--http", ":80", "--queues", "2", "--metrics", "127.0.0.1:9100")
	n.waitLog(`msg="address up" addr=(fd7f::2)/64`, 10*time.Second)
	servedOnBothQueues(t, n, n.ustack, "[fd7f::2]")
}

// servedOnBothQueues makes 200 concurrent requests to each of hosts (an
// address of each family) of n, a `ustack serve --http :80 --queues 2
// --metrics 127.0.0.1:9100`, and checks per family that each was served
// whole, that both queues received and sent, and that under a tenth of the
// frames came to a queue not their connection's. The kernel's multi-queue
// tap steers a flow to the queue ustack last sent it on, so none would if
// every queue sent its own frames, whatever state their neighbour is in.
func servedOnBothQueues(t *testing.T, n *netns, hosts ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var before map[string]float64
	for _, host := range hosts {
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
				assert.Positive(t, delta(fmt.Sprintf(`ustack_queue_tx_packets_total{iface="eth0",queue="%d"}`, q)), "frames sent on queue %d", q)
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
