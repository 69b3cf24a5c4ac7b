//go:build dpdk

package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With --queues 2 on net_tap, the kernel spreads the connections it opens
// over both queues of the port, over IPv4 and IPv6, and ustack serves each
// on the queue it arrived on.
//
// Given two lcores (where there are two CPUs), each queue's loop is bound
// to one; given one, neither is, and ustack says so.
func TestDPDKMultiQueue(t *testing.T) {
	requireDPDK(t, "curl", "xargs", "sh", "sysctl")
	lcores, bound := "0", []string{`msg="queue loops not bound to cores: give the EAL at least as many lcores (-l) as --queues" queues=2 lcores=1`}
	if runtime.NumCPU() >= 2 {
		lcores, bound = "0-1", []string{`msg="queue loop bound to a core" queue=0 lcore=0`, `msg="queue loop bound to a core" queue=1 lcore=1`}
	}
	n, d := newDPDKServeOn(t, lcores, "--addr", "fd7e::2/64", "--http", ":80", "--queues", "2", "--metrics", "127.0.0.1:9100")
	d.addHostIPv6(t, "fd7e::1/64")
	servedOnBothQueues(t, n, n.ustack, "[fd7e::2]")
	for _, l := range bound {
		n.waitLog("("+regexp.QuoteMeta(l)+")", 5*time.Second)
	}
}

// `ustack get --queues 2` on net_tap: the connection ustack opens is owned
// by the queue that dialled, whichever queue the kernel answers on.
func TestDPDKMultiQueueGet(t *testing.T) {
	requireDPDK(t, "sysctl")
	n := makeNetns(t, "dk-")
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
