// Package pipe is an in-memory Ethernet link between two backends: what one
// end sends, the other receives, after the configured latency and at the
// configured bandwidth. It can offload like a virtio NIC (checksums, 64 KiB
// TSO, large frames on receive) and can hand out DPDK-shaped memory (2 KiB
// buffers from a bounded pool, chained, poisoned on release), so that every
// test of the stack runs on the memory layout it meets on DPDK.
//
// Frames cross the pipe without copying: the receiving stack releases them
// to the sending end's pool.
package pipe

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ustack/ustack/backend"
)

// Config describes a pipe. The zero value is a usable 1500-byte link with
// one queue, no latency, unlimited bandwidth and no offloads.
type Config struct {
	// MTU is the largest IP packet the link carries (default 1500).
	MTU int
	// Queues is the number of queues of each end (default 1). With more
	// than one, each end steers received frames to queues by a Toeplitz hash.
	Queues int
	// QueueDepth bounds the frames in flight towards each receive queue
	// (default 4096); Send accepts fewer when the queue is full.
	QueueDepth int
	// Latency delays every frame.
	Latency time.Duration
	// Bandwidth in bits per second limits the rate of each direction (0:
	// unlimited): a frame leaves after the frames before it were serialised.
	Bandwidth int64
	// Offloads makes both ends offload like a virtio NIC: transmit checksum,
	// TSO up to 64 KiB, and receive of large (coalesced) frames with trusted
	// checksums.
	Offloads bool
	// Mbuf gives each end a bounded pool of MbufDataRoom buffers with chains
	// above that, poisoned on release.
	Mbuf bool
	// PoolSize bounds each end's buffers (default 16384 in mbuf mode, 65536
	// otherwise).
	PoolSize int
	// Poison fills released buffers with backend.PoisonByte (always on in
	// mbuf mode).
	Poison bool
	// Clock timestamps frames and times latency; default a real clock.
	Clock backend.Clock
	// MACs of the two ends; default 02:00:00:00:00:01 and :02.
	MACs [2]net.HardwareAddr
}

// TSOMax is the largest IP packet a pipe with offloads carries in one frame.
const TSOMax = 65535

func (c *Config) fill() error {
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if c.MTU < 68 || c.MTU > 65535 {
		return fmt.Errorf("pipe: mtu %d out of range 68..65535", c.MTU)
	}
	if c.Queues == 0 {
		c.Queues = 1
	}
	if c.Queues < 0 || c.Queues > 64 {
		return fmt.Errorf("pipe: queues %d out of range 1..64", c.Queues)
	}
	if c.QueueDepth == 0 {
		c.QueueDepth = 4096
	}
	if c.QueueDepth < 0 {
		return fmt.Errorf("pipe: queue depth %d is negative", c.QueueDepth)
	}
	if c.Latency < 0 {
		return fmt.Errorf("pipe: latency %v is negative", c.Latency)
	}
	if c.Bandwidth < 0 {
		return fmt.Errorf("pipe: bandwidth %d is negative", c.Bandwidth)
	}
	if c.PoolSize == 0 {
		c.PoolSize = 65536
		if c.Mbuf {
			c.PoolSize = 16384
		}
	}
	if c.Clock == nil {
		c.Clock = backend.NewRealClock()
	}
	for i := range c.MACs {
		if c.MACs[i] == nil {
			c.MACs[i] = net.HardwareAddr{0x02, 0, 0, 0, 0, byte(i + 1)}
		}
		if len(c.MACs[i]) != 6 {
			return fmt.Errorf("pipe: mac %v is not 6 bytes", c.MACs[i])
		}
	}
	return nil
}

// New makes a pipe and returns its two ends.
func New(cfg Config) (*End, *End, error) {
	if err := cfg.fill(); err != nil {
		return nil, nil, err
	}
	ab := newLink(&cfg)
	ba := newLink(&cfg)
	a, err := newEnd(&cfg, 0, ba, ab)
	if err != nil {
		return nil, nil, err
	}
	b, err := newEnd(&cfg, 1, ab, ba)
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// End is one end of a pipe; it implements backend.Backend,
// backend.Scheduler and backend.StatsReader.
type End struct {
	cfg    *Config
	caps   backend.Caps
	pool   *backend.Pool
	in     *link // frames towards this end
	out    *link // frames from this end
	idx    int
	stats  []queueStats
	closed atomic.Bool
}

type queueStats struct {
	mu sync.Mutex
	backend.QueueStats
}

func newEnd(cfg *Config, idx int, in, out *link) (*End, error) {
	pool, err := backend.NewPool(backend.PoolConfig{
		Mbuf:   cfg.Mbuf,
		Count:  cfg.PoolSize,
		Poison: cfg.Poison || cfg.Mbuf,
	})
	if err != nil {
		return nil, err
	}
	e := &End{cfg: cfg, pool: pool, in: in, out: out, idx: idx, stats: make([]queueStats, cfg.Queues)}
	e.caps = backend.Caps{
		Name:    fmt.Sprintf("pipe%d", idx),
		MAC:     cfg.MACs[idx],
		MTU:     cfg.MTU,
		Queues:  cfg.Queues,
		BufSize: pool.BufSize(),
		// What arrives is the peer's, from a pool of the same size that
		// its queues share.
		Buffers: cfg.PoolSize / cfg.Queues,
	}
	if cfg.Offloads {
		e.caps.Offloads = backend.Offloads{RxCsum: true, TxCsum: true, TSO: true, TSOMax: TSOMax, GRO: true}
	}
	// The pipe carries frames by reference, whoever's memory they are
	// in, as a virtio NIC gathers them from the guest's pages; but a pipe
	// shaped like DPDK takes only its own buffers, as DPDK does.
	e.caps.Offloads.SG = !cfg.Mbuf
	if cfg.Queues > 1 {
		e.caps.Steering = backend.SteerToeplitz
		e.caps.ToeplitzKey = backend.DefaultToeplitzKey
		e.caps.ToeplitzTable = in.table
		e.caps.ToeplitzFields = backend.HashIPv4 | backend.HashTCPv4 | backend.HashUDPv4 |
			backend.HashIPv6 | backend.HashTCPv6 | backend.HashUDPv6
	}
	return e, nil
}

// Caps implements backend.Backend.
func (e *End) Caps() backend.Caps { return e.caps }

// Pool is the end's buffer pool.
func (e *End) Pool() *backend.Pool { return e.pool }

// Recv implements backend.Backend.
func (e *End) Recv(q int, frames []*backend.Frame) (int, error) {
	if q < 0 || q >= len(e.in.queues) {
		return 0, backend.ErrQueue
	}
	n, bytes, err := e.in.pop(q, frames, e.cfg.Clock)
	st := &e.stats[q]
	st.mu.Lock()
	if n == 0 {
		st.EmptyPolls++
	} else {
		st.Bursts++
		st.RxPackets += uint64(n)
		st.RxBytes += uint64(bytes)
	}
	st.mu.Unlock()
	return n, err
}

// Alloc implements backend.Backend.
func (e *End) Alloc(q int, frames []*backend.Frame, size int) int {
	n := e.pool.Alloc(frames, size)
	for _, f := range frames[:n] {
		f.Queue = q
	}
	if n < len(frames) && q >= 0 && q < len(e.stats) {
		st := &e.stats[q]
		st.mu.Lock()
		st.AllocFails++
		st.mu.Unlock()
	}
	return n
}

// Send implements backend.Backend. Frames too large for the link are
// accepted and dropped (counted as TxDrops), as a NIC would.
func (e *End) Send(q int, frames []*backend.Frame) (int, error) {
	if q < 0 || q >= len(e.stats) {
		return 0, backend.ErrQueue
	}
	if e.closed.Load() {
		return 0, backend.ErrClosed
	}
	n, drops, bytes, err := e.out.push(e, frames, e.cfg.Clock.Now())
	st := &e.stats[q]
	st.mu.Lock()
	st.TxPackets += uint64(n) - drops
	st.TxBytes += bytes
	st.TxDrops += drops
	st.mu.Unlock()
	return n, err
}

// fits says whether the link can carry f.
func (e *End) fits(f *backend.Frame) bool {
	l2 := 14
	if h := f.Bytes(); len(h) >= 14 && binary.BigEndian.Uint16(h[12:]) == 0x8100 {
		l2 = 18
	}
	if f.GSO != backend.GSONone {
		return e.cfg.Offloads && f.Len() <= TSOMax+l2 && f.GSOSize > 0
	}
	if f.Csum == backend.CsumPartial && !e.cfg.Offloads {
		return false
	}
	return f.Len() <= e.cfg.MTU+l2 && f.Len() >= 14
}

// Wait implements backend.Backend.
func (e *End) Wait(q int, deadline int64) error {
	if q < 0 || q >= len(e.in.queues) {
		return backend.ErrQueue
	}
	return e.in.wait(q, deadline, e.cfg.Clock)
}

// Wake implements backend.Backend.
func (e *End) Wake(q int) {
	if q >= 0 && q < len(e.in.queues) {
		e.in.queues[q].notify()
	}
}

// NextArrival implements backend.Scheduler.
func (e *End) NextArrival(q int) (int64, bool) {
	if q < 0 || q >= len(e.in.queues) {
		return 0, false
	}
	at, ok, _ := e.in.next(q)
	return at, ok
}

// Outstanding implements backend.Backend: buffers of this end's pool not
// yet back, wherever they are (in the peer's hands, in flight, with the
// caller).
func (e *End) Outstanding() int { return e.pool.Outstanding() }

// QueueStats implements backend.StatsReader.
func (e *End) QueueStats(q int) backend.QueueStats {
	if q < 0 || q >= len(e.stats) {
		return backend.QueueStats{}
	}
	st := &e.stats[q]
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.QueueStats
}

// Close implements backend.Backend: frames in flight towards this end are
// released and nothing more is delivered to it.
func (e *End) Close() error {
	e.closed.Store(true)
	e.in.close()
	return nil
}
