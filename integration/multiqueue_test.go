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
// connections it opens over both queues, ustack serves each on the queue
// it arrived on, and every request succeeds.
func TestTAPMultiQueue(t *testing.T) {
	requireRoot(t, "curl", "xargs", "sh")
	n := newNetns(t, "--http", ":80", "--queues", "2", "--metrics", "127.0.0.1:9100")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := fmt.Sprintf("http://%s/bytes/20000", n.ustack)
	script := fmt.Sprintf(`seq 200 | xargs -P 20 -I{} curl -sS --fail -o /dev/null -w '%%{http_code} %%{size_download}\n' %s | grep -c '^200 20000$'`, url)
	out, err := n.exec(ctx, nil, "sh", "-c", script)
	require.NoError(t, err)
	assert.Equal(t, "200", strings.TrimSpace(string(out)), "concurrent requests served whole")

	m := scrape(t, n)
	for q := range 2 {
		assert.Positive(t, m[fmt.Sprintf(`ustack_queue_rx_packets_total{iface="eth0",queue="%d"}`, q)], "frames received on queue %d", q)
		assert.Positive(t, m[fmt.Sprintf(`ustack_queue_tx_packets_total{iface="eth0",queue="%d"}`, q)], "frames sent on queue %d", q)
	}
	assert.GreaterOrEqual(t, m["ustack_tcp_passive_opens_total"], 200.0)
	t.Logf("steer misses %v, handoffs %v", m["ustack_queue_steer_misses_total"], m["ustack_queue_handoffs_total"])
}
