package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/ustack/ustack/stack/services"
)

// BenchmarkTAPBulk measures bulk TCP between Linux and ustack over TAP in
// both directions, with and without the virtio-net header path, and
// kernel-to-kernel over a veth pair in the same run for reference. Each
// iteration moves 256 MiB (b.SetBytes: MB/s is the throughput).
func BenchmarkTAPBulk(b *testing.B) {
	requireRoot(b, "curl", "sh", "head")
	const size = 256 << 20
	for _, off := range []string{"on", "off"} {
		b.Run("linux-to-ustack/offload="+off, func(b *testing.B) {
			n := newNetns(b, "--http", ":80", "--offload", off)
			script := fmt.Sprintf("head -c %d /dev/zero | curl -sS --fail --data-binary @- -o /dev/null http://%s/sha256", size, n.ustack)
			b.SetBytes(size)
			for range b.N {
				if _, err := n.exec(context.Background(), nil, "sh", "-c", script); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("ustack-to-linux/offload="+off, func(b *testing.B) {
			n := newNetns(b, "--http", ":80", "--offload", off)
			url := fmt.Sprintf("http://%s/bytes/%d", n.ustack, size)
			// The first request computes the digest; later ones find it.
			n.exec(context.Background(), nil, "curl", "-sS", "-o", "/dev/null", url)
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				if _, err := n.exec(context.Background(), nil, "curl", "-sS", "--fail", "-o", "/dev/null", url); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("linux-to-linux/veth", func(b *testing.B) {
		n := newNetns(b)
		n.stop()
		peer := n.name + "p"
		run(b, "ip", "netns", "add", peer)
		b.Cleanup(func() { run(b, "ip", "netns", "del", peer) })
		run(b, "ip", "link", "add", "vb0", "netns", n.name, "type", "veth", "peer", "name", "vb1", "netns", peer)
		run(b, "ip", "-n", n.name, "addr", "add", "10.78.0.1/24", "dev", "vb0")
		run(b, "ip", "-n", peer, "addr", "add", "10.78.0.2/24", "dev", "vb1")
		run(b, "ip", "-n", n.name, "link", "set", "vb0", "up")
		run(b, "ip", "-n", peer, "link", "set", "vb1", "up")
		ln := listenIn(b, peer, "10.78.0.2:80")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			io.CopyN(w, services.NewBytes(size), size)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		b.SetBytes(size)
		for range b.N {
			if _, err := n.exec(context.Background(), nil, "curl", "-sS", "--fail", "-o", "/dev/null", "http://10.78.0.2/"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
