package stack

import (
	"net/netip"
	"syscall"

	"github.com/ustack/ustack/stack/tcp/seq"
	"github.com/ustack/ustack/stack/wire"
)

// tcpICMPError delivers an ICMP error about one of our segments to its
// connection (RFC 1122 §4.2.3.9).
func (q *queue) tcpICMPError(m wire.ICMPv4, inner wire.IPv4, l4 []byte) {
	conn := q.tcpErrorConn(inner.SrcAddr(), inner.DstAddr(), l4)
	if conn == nil {
		return
	}
	typ, code := m.Type(), m.Code()
	if typ == wire.ICMPv4DestUnreachable && code == wire.ICMPv4FragmentationNeeded {
		conn.pathMTU(int(m.NextHopMTU()), int(inner.TotalLen()))
		return
	}
	// RFC 1122 §4.2.3.9: protocol and port unreachable abort a
	// connection being opened; everything else is a soft error.
	hard := typ == wire.ICMPv4DestUnreachable &&
		(code == wire.ICMPv4ProtoUnreachable || code == wire.ICMPv4PortUnreachable)
	conn.icmpError(icmpErrno(typ, code), hard)
}

// tcpErrorConn finds the connection an ICMP or ICMPv6 error quoting the
// segment l4 (its first 8 bytes) from src to dst is about, after RFC 5927
// §4.1's check that the quoted sequence number is one we have in flight,
// so a blind attacker cannot reset or slow connections with forged errors.
func (q *queue) tcpErrorConn(src, dst netip.Addr, l4 []byte) *tcpConn {
	local := netip.AddrPortFrom(src, uint16(l4[0])<<8|uint16(l4[1]))
	remote := netip.AddrPortFrom(dst, uint16(l4[2])<<8|uint16(l4[3]))
	conn := q.tcp.conns[connKey{local, remote}]
	if conn == nil {
		return nil
	}
	s := seq.Value(uint32(l4[4])<<24 | uint32(l4[5])<<16 | uint32(l4[6])<<8 | uint32(l4[7]))
	if !s.InRange(conn.sndUna, conn.sndMax) && !(conn.state == stateSynSent && s == conn.iss) {
		q.counters.TCP.ICMPOutOfWindow++
		return nil
	}
	return conn
}

// icmpError applies an ICMP error's errno: hard errors abort a connection
// being opened; the rest are soft, reported if the connection later times
// out (RFC 5461 §4).
func (c *tcpConn) icmpError(e syscall.Errno, hard bool) {
	if e == 0 {
		return
	}
	if hard && (c.state == stateSynSent || c.state == stateSynRcvd) {
		c.fail(e)
		return
	}
	c.softErr = e
}

// mtuPlateaus are the plateaus of RFC 1191 §7 for routers that send no
// next-hop MTU.
var mtuPlateaus = []int{65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// pathMTU lowers the connection's segment size to fit a smaller path MTU
// (RFC 1191 §6, RFC 8201 §4) and resends what no longer fits. dgramLen is
// the length of the quoted IPv4 datagram, for routers that send no MTU.
func (c *tcpConn) pathMTU(mtu, dgramLen int) {
	q := c.q
	if mtu == 0 {
		// An old router: guess the next plateau below the datagram.
		for _, p := range mtuPlateaus {
			if p < dgramLen {
				mtu = p
				break
			}
		}
	}
	// RFC 1191 §3: never below 68; RFC 8900 advises not below 576 lest a
	// forged message cripple the connection, so clamp there. IPv6 links
	// carry at least 1280 (RFC 8201 §4).
	floor := 576
	if c.key.remote.Addr().Is6() {
		floor = minMTU6
	}
	mtu = max(mtu, floor)
	mss := mtu - ipHeaderLen(c.key.remote.Addr()) - wire.TCPHeaderLen
	if c.tsOK {
		mss -= 12
	}
	if mss >= c.mss {
		return
	}
	q.counters.TCP.PMTUUpdates++
	q.learnPMTU(c.key.remote.Addr(), mtu)
	c.mss = mss
	c.cc.SetMSS(mss)
	c.sb.SetMSS(mss)
	// Resend from the first unacknowledged byte in the new size; this is
	// not congestion, so the window stays (Linux's tcp_simple_retransmit).
	if c.sndUna != c.sndMax {
		c.sndNxt = c.sndUna
		c.highRxt = c.sndUna
		c.output()
	}
}

// learnPMTU records the path MTU to dst. With several queues, every queue
// learns it (a command to each), so that new connections start from it
// whichever queue owns them.
func (q *queue) learnPMTU(dst netip.Addr, mtu int) {
	q.pmtu.set(dst, mtu, q.now)
	if !q.s.multiQueue() {
		return
	}
	for _, o := range q.s.queues {
		if o != q {
			o.post(func(o *queue) { o.pmtu.set(dst, mtu, o.now) })
		}
	}
}

// pmtuCache remembers path MTUs learned from ICMP for new connections, for
// ten minutes (RFC 1191 §6.3).
type pmtuCache struct {
	m map[netip.Addr]pmtuEntry
}

type pmtuEntry struct {
	mtu     int
	expires int64
}

const pmtuLifetime = int64(10 * 60 * 1e9)

func (p *pmtuCache) set(dst netip.Addr, mtu int, now int64) {
	if p.m == nil {
		p.m = map[netip.Addr]pmtuEntry{}
	}
	if len(p.m) >= 4096 {
		// Bounded: forget everything rather than scan (a cache, not
		// state anything depends on).
		clear(p.m)
	}
	p.m[dst] = pmtuEntry{mtu, now + pmtuLifetime}
}

// get is the path MTU known for dst, or 0.
func (p *pmtuCache) get(dst netip.Addr, now int64) int {
	e, ok := p.m[dst]
	if !ok {
		return 0
	}
	if now >= e.expires {
		delete(p.m, dst)
		return 0
	}
	return e.mtu
}

// softError is what a failing connection reports: the last ICMP error it
// heard, or the given default (RFC 5461 §4).
func (c *tcpConn) softError(def syscall.Errno) syscall.Errno {
	if c.softErr != 0 {
		return c.softErr
	}
	return def
}
