// Package services are the built-in services of `ustack serve`, `ustack
// demo` and `ustack replay`: ICMP echo is the stack's own; this package has
// the HTTP service (a banner, pseudo-random bytes with their SHA-256, a
// SHA-256 of uploads, static files), TCP echo and discard, and UDP echo.
package services

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"sync"
)

// patternLen is the period of the byte streams: a prime, so a transfer bug
// that misplaces data by a power-of-two distance (a ring buffer's size, a
// window) never lands on identical bytes.
const patternLen = 1_000_003

// pattern is patternLen pseudo-random bytes, made once. Streams are windows
// onto it, so serving bytes costs a copy, not a cipher.
var pattern = sync.OnceValue(func() []byte {
	b := make([]byte, patternLen)
	rand.NewChaCha8([32]byte{'u', 's', 't', 'a', 'c', 'k'}).Read(b)
	return b
})

// Bytes is a reproducible stream of n pseudo-random bytes: the same n
// gives the same bytes, so a client can be told their SHA-256 up front.
type Bytes struct {
	off  int
	left int64
}

// NewBytes returns the stream of n bytes.
func NewBytes(n int64) *Bytes {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	h := sha256.Sum256(b[:])
	return &Bytes{off: int(binary.LittleEndian.Uint64(h[:]) % patternLen), left: n}
}

// Read implements io.Reader.
func (b *Bytes) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	pat := pattern()
	n := 0
	for n < len(p) {
		k := copy(p[n:], pat[b.off:])
		n += k
		b.off = (b.off + k) % patternLen
	}
	b.left -= int64(n)
	return n, nil
}

// digests caches BytesSHA256 for the sizes asked most recently.
var digests struct {
	sync.Mutex
	m     map[int64]string
	order []int64
}

// BytesSHA256 is the hex SHA-256 of the n-byte stream.
func BytesSHA256(n int64) string {
	digests.Lock()
	if d, ok := digests.m[n]; ok {
		digests.Unlock()
		return d
	}
	digests.Unlock()
	h := sha256.New()
	buf := copyBufs.Get().(*[copyBufSize]byte)
	io.CopyBuffer(h, NewBytes(n), buf[:])
	copyBufs.Put(buf)
	d := hex.EncodeToString(h.Sum(nil))
	digests.Lock()
	defer digests.Unlock()
	if digests.m == nil {
		digests.m = map[int64]string{}
	}
	if len(digests.order) >= 64 {
		delete(digests.m, digests.order[0])
		digests.order = digests.order[1:]
	}
	if _, ok := digests.m[n]; !ok {
		digests.m[n] = d
		digests.order = append(digests.order, n)
	}
	return d
}
