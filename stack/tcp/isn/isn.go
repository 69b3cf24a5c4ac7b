// Package isn chooses TCP initial sequence numbers (RFC 6528) and makes and
// checks SYN cookies (RFC 4987 §3.6), from a secret derived from the
// stack's seed: the same seed, tuple and time give the same numbers, and no
// clock or global state is read.
package isn

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack/ustack/stack/tcp/seq"
)

// Tuple names a TCP connection from this end.
type Tuple struct {
	Local, Remote netip.AddrPort
}

// tupleLen is the encoded size of a Tuple: two 16-byte addresses (IPv4 as
// IPv4-mapped IPv6), two ports and a family byte.
const tupleLen = 16 + 2 + 16 + 2 + 1

// putTuple encodes t into b, which holds at least tupleLen bytes.
func putTuple(b []byte, t Tuple) {
	la, ra := t.Local.Addr().As16(), t.Remote.Addr().As16()
	copy(b[0:16], la[:])
	binary.BigEndian.PutUint16(b[16:], t.Local.Port())
	copy(b[18:34], ra[:])
	binary.BigEndian.PutUint16(b[34:], t.Remote.Port())
	b[36] = 6
	if t.Local.Addr().Is4() {
		b[36] = 4
	}
}

// Generator holds the secrets for initial sequence numbers and SYN
// cookies. It is a value with no mutable state, safe to copy and to share.
type Generator struct {
	isnKey    [2]uint64
	cookieKey [2]uint64
}

// New derives a generator from a 64-bit seed (splitmix64 expansion). A
// stack seeded from crypto/rand gets 64 secret bits; RFC 6528 §3 recommends
// at least 128, which FromKey provides.
func New(seed uint64) Generator {
	s := seed
	return Generator{
		isnKey:    [2]uint64{splitmix64(&s), splitmix64(&s)},
		cookieKey: [2]uint64{splitmix64(&s), splitmix64(&s)},
	}
}

// FromKey makes a generator from 256 secret bits: the first 16 bytes key
// the ISN function, the last 16 the SYN cookies.
func FromKey(key [32]byte) Generator {
	le := binary.LittleEndian
	return Generator{
		isnKey:    [2]uint64{le.Uint64(key[0:]), le.Uint64(key[8:])},
		cookieKey: [2]uint64{le.Uint64(key[16:]), le.Uint64(key[24:])},
	}
}

// splitmix64 steps the state and returns the next output (Steele, Lea and
// Flood, "Fast splittable pseudorandom number generators", 2014).
func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// ISN is the initial sequence number for a connection at time now
// (nanoseconds): RFC 6528 §3, ISN = M + F(localip, localport, remoteip,
// remoteport, secretkey), where M is a timer that ticks every 4
// microseconds and F is SipHash-2-4 keyed with the secret. Successive
// connections on one tuple get increasing numbers (RFC 9293 §3.4.1), and
// other tuples' numbers cannot be predicted from outside.
func (g Generator) ISN(t Tuple, now int64) seq.Value {
	m := uint32(now / 4000)
	return seq.Value(m + uint32(g.tupleHash(t)))
}

// TSOffset is what a connection on t adds to its millisecond clock to make
// its TSvals (RFC 7323 §7.1): unpredictable from outside, and the same for
// every connection on the tuple, so that a new connection's timestamps go
// on from the last one's. A peer holding the old connection in TIME-WAIT
// then takes the new SYN (RFC 6191) rather than dropping it as older (a
// random offset per connection gets dropped half the time, and the SYN
// waits a second for its retransmission).
func (g Generator) TSOffset(t Tuple) uint32 { return uint32(g.tupleHash(t) >> 32) }

// tupleHash is F of RFC 6528: the ISN takes its low 32 bits, TSOffset its
// high ones.
func (g Generator) tupleHash(t Tuple) uint64 {
	var b [tupleLen]byte
	putTuple(b[:], t)
	return SipHash24(g.isnKey[0], g.isnKey[1], b[:])
}
