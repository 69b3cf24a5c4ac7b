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
)

// Bytes is a reproducible stream of n pseudo-random bytes: the same n
// gives the same bytes, so a client can be told their SHA-256 up front.
type Bytes struct {
	rng  *rand.ChaCha8
	left int64
}

// NewBytes returns the stream of n bytes.
func NewBytes(n int64) *Bytes {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(n))
	copy(seed[8:], "ustack /bytes/N stream")
	return &Bytes{rng: rand.NewChaCha8(seed), left: n}
}

// Read implements io.Reader.
func (b *Bytes) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, _ := b.rng.Read(p)
	b.left -= int64(n)
	return n, nil
}

// BytesSHA256 is the hex SHA-256 of the n-byte stream.
func BytesSHA256(n int64) string {
	h := sha256.New()
	io.CopyBuffer(h, NewBytes(n), make([]byte, 256<<10))
	return hex.EncodeToString(h.Sum(nil))
}
