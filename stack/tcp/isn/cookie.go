package isn

import (
	"encoding/binary"
	"time"

	"github.com/ustack/ustack/stack/tcp/seq"
)

// A SYN cookie is the server's ISN (RFC 4987 §3.6): it carries what the
// server must remember of a SYN without keeping state, and proves on the
// final ACK of the handshake that the client received the SYN-ACK.
//
//	bits 31-27  t mod 32, t = now / 64 s (the cookie's time window)
//	bits 26-24  index of the client's MSS in the cookie MSS table
//	bits 23-0   SipHash-2-4 of the tuple, t, the client's ISN, the MSS index
//	            and the timestamp option bits, under the cookie secret
//
// A cookie is accepted in its own window and the next one: between 64 and
// 128 seconds after it was made. The hash covers all of t, not only the
// five bits sent, so a cookie does not come back to life when t wraps.
//
// With timestamps (RFC 7323) the window scale and SACK-permitted options
// of the SYN travel in the low five bits of the TSval of the SYN-ACK, which
// the client echoes in TSecr, as Linux does. Without timestamps they are
// lost: the connection runs without window scaling and SACK, the known cost
// of SYN cookies (RFC 4987 §3.6).
const (
	cookieWindow = 64 * time.Second
	counterBits  = 5
	mssShift     = 24
	macMask      = 1<<mssShift - 1
	tsOptBits    = 5
	tsOptMask    = 1<<tsOptBits - 1
	noWScale     = 0xf
	sackBit      = 0x10
)

// cookieMSS are the MSS values a cookie can carry: the client's MSS is
// rounded down to one of them (anything below 1220 becomes 536, the
// default of RFC 9293 §3.7.1).
var cookieMSS = [8]int{536, 1220, 1300, 1360, 1400, 1440, 1460, 8960}

// CookieMSS is the MSS a cookie records for a client that announced mss:
// the largest table value not above it, or 536.
func CookieMSS(mss int) int { return cookieMSS[mssIndex(mss)] }

func mssIndex(mss int) int {
	for i := len(cookieMSS) - 1; i > 0; i-- {
		if mss >= cookieMSS[i] {
			return i
		}
	}
	return 0
}

// CookieOptions are the SYN options a cookie preserves.
type CookieOptions struct {
	// MSS is the client's MSS, rounded down to a table value (CookieMSS).
	MSS int
	// WScale is the client's window scale shift (0 to 14, RFC 7323
	// §2.3), or -1 when the SYN had no window scale option or the
	// connection has no timestamps.
	WScale int
	// SACKPermitted is whether the SYN had SACK-permitted (RFC 2018 §2);
	// false without timestamps.
	SACKPermitted bool
}

// EncodeCookie makes the SYN cookie for a SYN from the client on tuple t,
// with initial sequence number clientISN and options opts, at time now. ts
// says whether the SYN had the timestamp option and tsNow is the TSval the
// server would send; the returned tsval is the TSval to put in the
// SYN-ACK (tsNow with the options in its low bits, never above tsNow), or
// zero without timestamps. The cookie is the ISN of the SYN-ACK.
func (g Generator) EncodeCookie(t Tuple, now int64, clientISN seq.Value, opts CookieOptions, ts bool, tsNow uint32) (cookie seq.Value, tsval uint32) {
	idx := mssIndex(opts.MSS)
	var optBits uint32
	if ts {
		optBits = noWScale
		if opts.WScale >= 0 {
			optBits = uint32(min(opts.WScale, 14))
		}
		if opts.SACKPermitted {
			optBits |= sackBit
		}
		tsval = tsNow&^tsOptMask | optBits
		if int32(tsval-tsNow) > 0 {
			tsval -= 1 << tsOptBits // never a timestamp from the future
		}
	}
	counter := uint64(now / int64(cookieWindow))
	mac := g.cookieMAC(t, counter, clientISN, idx, ts, optBits)
	c := uint32(counter)%(1<<counterBits)<<27 | uint32(idx)<<mssShift | mac
	return seq.Value(c), tsval
}

// DecodeCookie checks the cookie echoed by the final ACK of a handshake on
// tuple t at time now: cookie is the ACK's acknowledgment number minus one
// and clientISN its sequence number minus one. ts says whether the ACK
// carries the timestamp option, and tsecr is its TSecr. It returns the
// options recorded by EncodeCookie and true, or false for a forged,
// altered or expired cookie.
func (g Generator) DecodeCookie(t Tuple, now int64, cookie, clientISN seq.Value, ts bool, tsecr uint32) (CookieOptions, bool) {
	c := uint32(cookie)
	current := uint64(now / int64(cookieWindow))
	age := (uint32(current) - c>>27) % (1 << counterBits)
	if age > 1 || uint64(age) > current {
		return CookieOptions{}, false
	}
	idx := int(c >> mssShift & 7)
	var optBits uint32
	if ts {
		optBits = tsecr & tsOptMask
	}
	if g.cookieMAC(t, current-uint64(age), clientISN, idx, ts, optBits) != c&macMask {
		return CookieOptions{}, false
	}
	opts := CookieOptions{MSS: cookieMSS[idx], WScale: -1}
	if ts {
		if w := int(optBits & noWScale); w != noWScale {
			opts.WScale = w
		}
		opts.SACKPermitted = optBits&sackBit != 0
	}
	return opts, true
}

// cookieMAC is the 24-bit keyed hash of a cookie.
func (g Generator) cookieMAC(t Tuple, counter uint64, clientISN seq.Value, idx int, ts bool, optBits uint32) uint32 {
	var b [tupleLen + 8 + 4 + 2]byte
	putTuple(b[:], t)
	binary.BigEndian.PutUint64(b[tupleLen:], counter)
	binary.BigEndian.PutUint32(b[tupleLen+8:], uint32(clientISN))
	b[tupleLen+12] = byte(idx)
	b[tupleLen+13] = byte(optBits)
	if ts {
		b[tupleLen+13] |= 0x80
	}
	return uint32(SipHash24(g.cookieKey[0], g.cookieKey[1], b[:])) & macMask
}
