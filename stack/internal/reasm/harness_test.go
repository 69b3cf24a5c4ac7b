package reasm

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// An op is one call a harness makes: Add of a fragment whose bytes are
// derived from its key and positions (see pattern), or Expire.
type op struct {
	expire  bool
	key     int   // index into harnessKeys
	off, n  int   // fragment offset and length in bytes
	more    bool  // More Fragments
	corrupt bool  // the bytes differ from the pattern (an overlap attack)
	dt      int64 // nanoseconds to advance the clock before the call
}

// harnessKeys are the keys ops name: decoded ops use the first 8, the
// workload all of them, in turn, as a sender's Identification wraps.
var harnessKeys = func() []Key {
	var ks []Key
	for id := range uint32(32) {
		ks = append(ks, key4(id), key6(id))
	}
	return ks
}()

// pattern returns the byte a fragment of key k carries at payload position
// p; corrupt fragments carry another.
func pattern(k, p int, corrupt bool) byte {
	b := byte(p) ^ byte(p>>8)*0x3b ^ byte(k)*0x3d
	if corrupt {
		b ^= 0xa5
	}
	return b
}

// decodeConfig reads limits small enough for a fuzzer to reach from the
// first two bytes of b.
func decodeConfig(b []byte) (Config, []byte) {
	var c0, c1 byte
	if len(b) >= 2 {
		c0, c1, b = b[0], b[1], b[2:]
	}
	return Config{
		MaxBytes:       256 << (c0 & 7),
		AcceptOverlaps: c0&8 != 0,
		MaxFragments:   1 + int(c0>>4),
		MaxDatagrams:   1 + int(c1&7),
		MaxDatagram:    []int{256, 2048, 8192, 65515}[(c1>>3)&3],
		Timeout:        time.Duration(1+c1>>5) * time.Second,
	}, b
}

// maxOps bounds the ops decoded from one input. Long inputs slow the
// fuzzer's minimizer, whose work grows with the square of the input's
// length, until it stalls; TestRandomOps and TestDeterminism run long
// sequences instead.
const maxOps = 64

// decodeOps reads up to maxOps ops from b, four bytes each.
func decodeOps(b []byte) []op {
	var ops []op
	for ; len(b) >= 4 && len(ops) < maxOps; b = b[4:] {
		o := op{
			expire:  b[0]&3 == 3,
			key:     int(b[0]>>2) & 7,
			more:    b[0]&0x20 != 0,
			corrupt: b[0]&0x40 != 0,
			off:     8 * (int(b[1]) | int(b[2]&3)<<8),
			n:       8 * int(b[3]&0x3f), // up to 504 bytes keeps executions fast
			dt:      int64(b[2]>>2) * int64(50*time.Millisecond),
		}
		if b[0]&0x80 != 0 {
			o.n += 1 + int(b[1]&7) // not a multiple of 8
		}
		ops = append(ops, o)
	}
	return ops
}

// workload returns a realistic sequence: datagrams of random sizes cut into
// fragments, interleaved across keys, shuffled, with losses, duplicates,
// overlapping and corrupt fragments, expiries and time passing.
func workload(seed uint64, n int) []op {
	rng := rand.New(rand.NewPCG(seed, 2))
	var pending []op
	var ops []op
	next := 0
	for len(ops) < n {
		if len(pending) < 8 || rng.IntN(4) == 0 {
			k := next % len(harnessKeys)
			next++
			size := 1 + rng.IntN(9000)
			fsize := 8 * (8 + rng.IntN(200))
			for off := 0; off < size; off += fsize {
				end := min(off+fsize, size)
				f := op{key: k, off: off, n: end - off, more: end < size}
				switch x := rng.IntN(100); {
				case x < 3: // lost
					continue
				case x < 6: // duplicated
					pending = append(pending, f)
				case x < 7: // overlapping
					pending = append(pending, op{key: k, off: off, n: 8 * (1 + rng.IntN(4)), more: true, corrupt: rng.IntN(2) == 0})
				}
				pending = append(pending, f)
			}
		}
		i := rng.IntN(min(len(pending), 16))
		o := pending[i]
		pending = append(pending[:i], pending[i+1:]...)
		o.dt = int64(rng.IntN(20)) * int64(time.Millisecond)
		ops = append(ops, o)
		if rng.IntN(50) == 0 {
			ops = append(ops, op{expire: true, dt: int64(rng.IntN(40)) * int64(time.Second)})
		}
	}
	return ops
}

// A harness drives a Reassembler with ops, checks what comes out against
// what went in, and records a transcript.
type harness struct {
	t     testing.TB
	r     *Reassembler
	now   int64
	given [][]byte  // per key, per position: bit 1 clean bytes given, bit 2 corrupt
	hdrs  [][2]bool // per key: clean / corrupt header given at offset 0
	// record turns the transcript on; log is the transcript.
	record bool
	log    []string
}

func newHarness(t testing.TB, cfg Config) *harness {
	return &harness{
		t:     t,
		r:     New(cfg),
		given: make([][]byte, len(harnessKeys)),
		hdrs:  make([][2]bool, len(harnessKeys)),
	}
}

// hdr returns the header a fragment of key k carries.
func hdr(k int, corrupt bool) []byte {
	h := []byte{'h', byte(k), 0}
	if corrupt {
		h[2] = 1
	}
	return h
}

func (h *harness) logf(format string, args ...any) {
	if h.record {
		h.log = append(h.log, fmt.Sprintf(format, args...))
	}
}

func (h *harness) failf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf(format, args...)
}

// run applies ops, failing the test on the first violated invariant.
func (h *harness) run(ops []op) {
	h.t.Helper()
	for _, o := range ops {
		h.apply(o)
		if err := h.r.check(); err != nil {
			h.failf("after %+v: %v", o, err)
		}
	}
}

func (h *harness) apply(o op) {
	h.t.Helper()
	h.now += o.dt
	if o.expire {
		n := h.r.Expire(h.now, func(e Expired) {
			h.logf("expired %v first=%v hdr=%x data=%x", e.Key, e.First, e.Header, e.Data)
			k := keyIndex(e.Key)
			if !e.First {
				if e.Header != nil || e.Data != nil {
					h.failf("expired without first fragment but with header %x data %x", e.Header, e.Data)
				}
				return
			}
			h.checkHeader(k, e.Header)
			h.checkData(k, e.Data)
		})
		h.logf("expire %d -> %d", h.now, n)
		return
	}
	data := make([]byte, o.n)
	given := h.given[o.key]
	if need := o.off + o.n; need > len(given) && o.off >= 0 {
		given = append(given, make([]byte, need-len(given))...)
		h.given[o.key] = given
	}
	bit := byte(1)
	if o.corrupt {
		bit = 2
	}
	for i := range data {
		data[i] = pattern(o.key, o.off+i, o.corrupt)
		given[o.off+i] |= bit
	}
	if o.off == 0 {
		h.hdrs[o.key][bit-1] = true
	}
	res := h.r.Add(harnessKeys[o.key], o.off, o.more, data, hdr(o.key, o.corrupt), h.now)
	if h.record {
		sum := sha256.Sum256(res.Payload)
		h.logf("add %d %d+%d more=%v corrupt=%v -> %v %v hdr=%x sum=%x",
			o.key, o.off, o.n, o.more, o.corrupt, res.Status, res.Reason, res.Header, sum[:8])
	}
	switch res.Status {
	case Complete:
		h.checkHeader(o.key, res.Header)
		if len(res.Payload) == 0 && o.n != 0 {
			h.failf("empty payload for %+v", o)
		}
		h.checkData(o.key, res.Payload)
	case Pending, Dropped:
		if res.Header != nil || res.Payload != nil {
			h.failf("%v result with data", res.Status)
		}
		if (res.Status == Dropped) != (res.Reason != NoReason) {
			h.failf("status %v with reason %v", res.Status, res.Reason)
		}
	default:
		h.failf("status %v", res.Status)
	}
}

// checkHeader checks that b is a header given at offset 0 for key k.
func (h *harness) checkHeader(k int, b []byte) {
	h.t.Helper()
	if len(b) != 3 || b[0] != 'h' || int(b[1]) != k || b[2] > 1 || !h.hdrs[k][b[2]] {
		h.failf("key %d: header %x was never given", k, b)
	}
}

// checkData checks that every byte of b, from offset 0, was given at its
// position for key k.
func (h *harness) checkData(k int, b []byte) {
	h.t.Helper()
	given := h.given[k]
	if len(b) > len(given) {
		h.failf("key %d: %d bytes, only %d positions given", k, len(b), len(given))
	}
	for p, c := range b {
		switch {
		case c == pattern(k, p, false) && given[p]&1 != 0:
		case c == pattern(k, p, true) && given[p]&2 != 0:
		default:
			h.failf("key %d: byte %d is %#x, never given there", k, p, c)
		}
	}
}

func keyIndex(k Key) int {
	for i, hk := range harnessKeys {
		if hk == k {
			return i
		}
	}
	return -1
}

// finish expires everything and checks that nothing is left.
func (h *harness) finish() {
	h.t.Helper()
	h.apply(op{expire: true, dt: int64(time.Hour)})
	if h.r.Len() != 0 || h.r.Bytes() != 0 {
		h.failf("left after expiry: %d datagrams, %d bytes", h.r.Len(), h.r.Bytes())
	}
	if _, ok := h.r.NextDeadline(); ok {
		h.failf("a deadline is left")
	}
	if err := h.r.check(); err != nil {
		h.failf("%v", err)
	}
}
