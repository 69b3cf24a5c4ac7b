package services

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// MaxBytes bounds /bytes/N (1 TiB): larger requests are refused.
const MaxBytes = 1 << 40

// copyBufSize is the buffer of a long copy: large enough that a transfer
// makes few Write calls, each a burst of full segments.
const copyBufSize = 256 << 10

// copyBufs keeps the buffers of long copies between requests.
var copyBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// HTTP returns the handler of the HTTP service: GET / a short banner, GET
// /bytes/N N pseudo-random bytes with their SHA-256 in X-Sha256, POST
// /sha256 the SHA-256 of the body as 64 lowercase hex digits and a newline,
// and, when root is not empty, its files under /files/.
func HTTP(root string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ustack: a userspace TCP/IP stack in Go\n")
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > MaxBytes {
			http.Error(w, fmt.Sprintf("bad byte count %q", r.PathValue("n")), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.Header().Set("X-Sha256", BytesSHA256(n))
		if r.Method == http.MethodHead {
			return
		}
		if n < copyBufSize {
			// A short answer needs no more than itself: a 256 KiB
			// buffer per request would be most of the work.
			io.CopyBuffer(w, NewBytes(n), make([]byte, max(n, 1)))
			return
		}
		buf := copyBufs.Get().(*[copyBufSize]byte)
		defer copyBufs.Put(buf)
		io.CopyBuffer(w, NewBytes(n), buf[:])
	})
	mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		buf := copyBufs.Get().(*[copyBufSize]byte)
		defer copyBufs.Put(buf)
		if _, err := io.CopyBuffer(h, r.Body, buf[:]); err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, hex.EncodeToString(h.Sum(nil))+"\n")
	})
	if root != "" {
		mux.Handle("GET /files/", http.StripPrefix("/files/", http.FileServer(http.Dir(root))))
	}
	return mux
}
