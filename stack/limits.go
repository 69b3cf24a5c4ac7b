package stack

import (
	"fmt"
	"time"

	"github.com/ustack/ustack/stack/internal/reasm"
)

// LimitsConfig bounds the memory that peers can make the stack hold,
// beyond the limits that live with their protocol: TCPConfig's
// MaxConnections, SynBacklog and MaxOrphans, ARPConfig's and IPv6Config's
// MaxEntries (the neighbour caches) and ReassemblyConfig's MaxBytes and
// MaxDatagrams. Reaching any of them is counted and logged at warning
// level, at most once per LogInterval per limit.
type LimitsConfig struct {
	// BufferMemory bounds the send and receive buffers of all TCP
	// connections together (default 8 GiB), as Linux's tcp_mem. A buffer
	// counts, at its size, from when it first holds more than 512 bytes
	// (its smallest memory), so that idle connections, and those that
	// carry only small requests and answers, count nothing. A connection
	// whose buffers would not fit is reset once established
	// (TCPCounters.AbortOnMemory) or refused with ENOBUFS when dialled;
	// one whose buffer finds no room when it comes to count is reset, and
	// a Write that would make it count fails with ENOBUFS; a buffer is not
	// grown past it. UDP sockets are
	// opened only by local applications, so peers cannot multiply them;
	// they are not counted.
	BufferMemory int
	// SocketBuffer bounds one socket's send or receive buffer, whatever
	// SetReadBuffer and SetWriteBuffer ask (default 16 MiB, as Linux's
	// rmem_max and wmem_max are the ceiling of SO_RCVBUF and SO_SNDBUF).
	SocketBuffer int
	// AcceptBacklog bounds every listener's accept queue, whatever
	// backlog ListenBacklog asks (default 4096, Linux's somaxconn).
	AcceptBacklog int
	// LogInterval is the shortest time between two logs of one limit
	// being reached (default 10s); the log says how many times it was
	// reached meanwhile.
	LogInterval time.Duration
}

// checkLimits refuses negative limits: zero takes the default, and a
// negative bound is a mistake rather than a wish for the default.
func (c *Config) checkLimits() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"limits buffer memory", c.Limits.BufferMemory},
		{"limits socket buffer", c.Limits.SocketBuffer},
		{"limits accept backlog", c.Limits.AcceptBacklog},
		{"limits log interval", int(c.Limits.LogInterval)},
		{"tcp max connections", c.TCP.MaxConnections},
		{"tcp syn backlog", c.TCP.SynBacklog},
		{"tcp max orphans", c.TCP.MaxOrphans},
		{"tcp send buffer", c.TCP.SendBuffer},
		{"tcp recv buffer", c.TCP.RecvBuffer},
		{"tcp send buffer max", c.TCP.SendBufferMax},
		{"tcp recv buffer max", c.TCP.RecvBufferMax},
		{"udp send buffer", c.UDP.SendBuffer},
		{"udp recv buffer", c.UDP.RecvBuffer},
		{"arp max entries", c.ARP.MaxEntries},
		{"arp queue len", c.ARP.QueueLen},
		{"ipv6 max entries", c.IPv6.MaxEntries},
		{"ipv6 queue len", c.IPv6.QueueLen},
		{"reassembly max bytes", c.Reassembly.MaxBytes},
		{"reassembly max datagrams", c.Reassembly.MaxDatagrams},
	} {
		if f.v < 0 {
			return fmt.Errorf("stack: %s %d: want a positive number, or 0 for the default", f.name, f.v)
		}
	}
	return nil
}

// defaultBufferMax is where buffer auto-tuning stops by default, as
// Linux's tcp_wmem maximum.
const defaultBufferMax = 4 << 20

// fillLimits sets the defaults of the limits and checks that they agree
// with each other; fill has set the other sections' defaults.
func (c *Config) fillLimits() error {
	l := &c.Limits
	l.BufferMemory = defInt(l.BufferMemory, 8<<30)
	l.SocketBuffer = defInt(l.SocketBuffer, 16<<20)
	l.AcceptBacklog = defInt(l.AcceptBacklog, 4096)
	l.LogInterval = defDuration(l.LogInterval, 10*time.Second)
	t := &c.TCP
	t.SendBufferMax = defInt(t.SendBufferMax, min(max(t.SendBuffer, defaultBufferMax), l.SocketBuffer))
	t.RecvBufferMax = defInt(t.RecvBufferMax, min(max(t.RecvBuffer, defaultBufferMax), l.SocketBuffer))
	for _, f := range []struct {
		name string
		v    int
	}{
		{"tcp send buffer", t.SendBuffer}, {"tcp recv buffer", t.RecvBuffer},
		{"tcp send buffer max", t.SendBufferMax}, {"tcp recv buffer max", t.RecvBufferMax},
	} {
		if f.v > l.SocketBuffer {
			return fmt.Errorf("stack: %s %d: above the socket buffer limit %d", f.name, f.v, l.SocketBuffer)
		}
	}
	if t.SendBufferMax < t.SendBuffer {
		return fmt.Errorf("stack: tcp send buffer max %d: below the send buffer %d", t.SendBufferMax, t.SendBuffer)
	}
	if t.RecvBufferMax < t.RecvBuffer {
		return fmt.Errorf("stack: tcp recv buffer max %d: below the recv buffer %d", t.RecvBufferMax, t.RecvBuffer)
	}
	if c.TCP.SendBuffer+c.TCP.RecvBuffer > l.BufferMemory {
		return fmt.Errorf("stack: limits buffer memory %d: below one connection's buffers (%d)", l.BufferMemory, c.TCP.SendBuffer+c.TCP.RecvBuffer)
	}
	return nil
}

// limit names a limit whose reaching is logged.
type limit uint8

const (
	limitConnections limit = iota
	limitBufferMemory
	limitSynQueue
	limitAcceptQueue
	limitOrphans
	limitNeighbours
	limitReassembly
	numLimits
)

var limitNames = [numLimits]string{
	limitConnections:  "tcp max connections",
	limitBufferMemory: "limits buffer memory",
	limitSynQueue:     "tcp syn backlog",
	limitAcceptQueue:  "accept backlog",
	limitOrphans:      "tcp max orphans",
	limitNeighbours:   "neighbour cache max entries",
	limitReassembly:   "reassembly memory",
}

// limitLog rate-limits the logs of limits being reached: a flood reaches
// them millions of times a second, and a log line each would be a second
// flood.
type limitLog struct {
	next       [numLimits]int64
	suppressed [numLimits]uint64
}

// limitReached logs that l was reached, unless it was logged less than
// LogInterval ago; the counters count every time.
func (q *queue) limitReached(l limit) {
	ll := &q.limits
	if ll.next[l] != 0 && q.now < ll.next[l] {
		ll.suppressed[l]++
		return
	}
	q.log.Warn("limit reached", "limit", limitNames[l], "queue", q.id, "since_last_log", ll.suppressed[l])
	ll.suppressed[l] = 0
	ll.next[l] = q.now + int64(q.s.cfg.Limits.LogInterval)
}

// chargeBuffers reserves n bytes of TCP buffer memory; false when that
// would exceed Limits.BufferMemory.
func (s *Stack) chargeBuffers(n int) bool {
	if s.bufMem.Add(int64(n)) > int64(s.cfg.Limits.BufferMemory) {
		s.bufMem.Add(-int64(n))
		return false
	}
	return true
}

// bufferRoom is how much more TCP buffer memory Limits.BufferMemory
// allows now.
func (s *Stack) bufferRoom() int64 {
	return int64(s.cfg.Limits.BufferMemory) - s.bufMem.Load()
}

// BufferMemory is the TCP buffer memory in use: what Limits.BufferMemory
// bounds.
func (s *Stack) BufferMemory() int { return int(s.bufMem.Load()) }

// BufferStored is the memory the TCP rings hold now: each ring's bytes
// live in a store that grows with what it holds and goes back once it is
// empty, so this is what the buffers cost, where BufferMemory counts them
// at their sizes.
func (s *Stack) BufferStored() int { return int(s.stored.Load()) }

// BufferMemoryLimit is Limits.BufferMemory as the stack applies it (the
// default filled in).
func (s *Stack) BufferMemoryLimit() int { return s.cfg.Limits.BufferMemory }

// evictions counts the datagrams a reassembler discarded to stay within
// its memory and datagram limits.
func evictions(r *reasm.Reassembler) uint64 {
	st := r.Stats()
	return st.MemoryFull + st.TooManyDatagrams
}

// evicted returns how many other datagrams adding a fragment evicted, given
// the evictions before; reaching the limit is logged. A datagram that alone
// exceeds the memory is the fragment's own failure, counted by its caller.
func (q *queue) evicted(r *reasm.Reassembler, before uint64, res reasm.Result) uint64 {
	n := evictions(r) - before
	if res.Reason == reasm.MemoryFull {
		n--
	}
	if n > 0 {
		q.limitReached(limitReassembly)
	}
	return n
}

// maxResolving is how many entries of a neighbour cache of size entries
// may be resolving at once: half, so that packets from spoofed on-link
// addresses, each starting a resolution that will fail, cannot push the
// neighbours in use out of the cache.
func maxResolving(entries int) int { return max(entries/2, 1) }
