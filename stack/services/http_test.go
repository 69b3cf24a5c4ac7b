package services

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// GET /bytes/N answers N bytes and their digest; POST /sha256 the body's.
func TestHTTPBytesAndSHA256(t *testing.T) {
	h := HTTP("")
	for _, n := range []int{0, 100, copyBufSize - 1, copyBufSize, 3*copyBufSize + 7} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/bytes/"+strconv.Itoa(n), nil))
		require.Equal(t, http.StatusOK, rec.Code)
		body := rec.Body.Bytes()
		require.Len(t, body, n)
		sum := sha256.Sum256(body)
		assert.Equal(t, hex.EncodeToString(sum[:]), rec.Header().Get("X-Sha256"), "n=%d", n)

		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/sha256", strings.NewReader(string(body))))
		assert.Equal(t, hex.EncodeToString(sum[:])+"\n", rec.Body.String(), "n=%d", n)
	}
}

// A short answer costs about its own size, not a long copy's buffer: at
// 15,000 requests a second, 256 KiB each was most of serve's work (GC).
func TestHTTPShortAnswersAllocateLittle(t *testing.T) {
	h := HTTP("")
	req := httptest.NewRequest(http.MethodGet, "/bytes/100", nil)
	serve := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		io.Copy(io.Discard, rec.Body)
	}
	serve()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	const n = 100
	for range n {
		serve()
	}
	runtime.ReadMemStats(&b)
	assert.Less(t, (b.TotalAlloc-a.TotalAlloc)/n, uint64(16<<10), "bytes allocated per request")
}
