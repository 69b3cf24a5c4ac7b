package pcapsim

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/capture"
)

// LinkConfig describes a simulated Ethernet segment. The zero value is a
// 1500-byte link with no latency, unlimited bandwidth, 1024 frames of
// queue per host and no faults.
type LinkConfig struct {
	// MTU is the largest IP packet the link carries (default 1500).
	MTU int
	// Latency delays every frame.
	Latency time.Duration
	// Bandwidth in bits per second is each host's transmit rate onto the
	// link (0: unlimited): a frame leaves after its host's frames before
	// it were serialised.
	Bandwidth int64
	// QueueLimit bounds the frames in flight towards each host (default
	// 1024); frames beyond it are dropped, as by a switch's full port.
	QueueLimit int
	// Faults are injected at every host's attachment, in the grammar of
	// `--faults` (backend/faults): "loss=0.01,delay=1ms~100us". Each
	// attachment draws from its own stream of the network's seed.
	Faults string
	// Capture, when set, records every frame a host puts on the link, at
	// the instant it is sent. The Writer stays the caller's to close.
	Capture *capture.Writer
}

// LinkStats are a link's counts of frames.
type LinkStats struct {
	// Frames and Bytes delivered to hosts (a broadcast counts once per
	// receiver).
	Frames, Bytes uint64
	// QueueDrops: frames dropped at a receiver's full queue; TooBig:
	// frames longer than the link carries; Runts: frames shorter than an
	// Ethernet header; NoBuffer: frames a receiver's pool could not hold.
	QueueDrops, TooBig, Runts, NoBuffer uint64
}

// Link is a simulated Ethernet segment shared by the hosts attached to
// it: a frame goes to the host whose MAC it is addressed to, and a
// broadcast, multicast or unknown unicast frame to every other host, as
// a learning switch forwards once it has learned everyone.
type Link struct {
	net   *Network
	cfg   LinkConfig
	mu    sync.Mutex
	ports []*port
	stats LinkStats
}

// Stats returns the link's counts so far.
func (l *Link) Stats() LinkStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// port is a host's attachment to a link: a backend.Backend and
// backend.Scheduler for a Manual stack. Frames are copied into the
// receiver's pool as they cross, so every buffer stays with the port it
// came from and a host's pool is back to zero once its stack closed.
type port struct {
	link   *Link
	caps   backend.Caps
	pool   *backend.Pool
	free   int64   // when the port's transmitter is next free (bandwidth)
	ring   []entry // frames in flight towards this port, in arrival order
	head   int
	closed bool
	stats  backend.QueueStats
}

type entry struct {
	f  *backend.Frame
	at int64
}

func (l *Link) attach(mac net.HardwareAddr, poolSize int) (*port, error) {
	pool, err := backend.NewPool(backend.PoolConfig{Count: poolSize})
	if err != nil {
		return nil, fmt.Errorf("pcapsim: %w", err)
	}
	p := &port{link: l, pool: pool}
	p.caps = backend.Caps{Name: "sim", MAC: mac, MTU: l.cfg.MTU, Queues: 1, BufSize: pool.BufSize(), Buffers: poolSize}
	l.mu.Lock()
	l.ports = append(l.ports, p)
	l.mu.Unlock()
	return p, nil
}

func (p *port) Caps() backend.Caps { return p.caps }

func (p *port) Recv(q int, frames []*backend.Frame) (int, error) {
	if q != 0 {
		return 0, backend.ErrQueue
	}
	l := p.link
	now := l.net.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.closed {
		return 0, backend.ErrClosed
	}
	n := 0
	for n < len(frames) && p.head < len(p.ring) && p.ring[p.head].at <= now {
		e := p.ring[p.head]
		p.ring[p.head] = entry{}
		p.head++
		e.f.Timestamp = e.at
		frames[n] = e.f
		n++
		p.stats.RxPackets++
		p.stats.RxBytes += uint64(e.f.Len())
	}
	if p.head == len(p.ring) {
		p.ring, p.head = p.ring[:0], 0
	}
	return n, nil
}

func (p *port) Alloc(q int, frames []*backend.Frame, size int) int {
	n := p.pool.Alloc(frames, size)
	for _, f := range frames[:n] {
		f.Queue = q
	}
	return n
}

// Send carries each frame to the ports it is addressed to and releases
// it. Frames the link cannot carry are taken and counted as drops.
func (p *port) Send(q int, frames []*backend.Frame) (int, error) {
	if q != 0 {
		return 0, backend.ErrQueue
	}
	l := p.link
	now := l.net.clock.Now()
	l.mu.Lock()
	if p.closed {
		l.mu.Unlock()
		return 0, backend.ErrClosed
	}
	for _, f := range frames {
		p.stats.TxPackets++
		p.stats.TxBytes += uint64(f.Len())
		l.carry(p, f, now)
	}
	l.mu.Unlock()
	if l.cfg.Capture != nil {
		// A failed write is the Writer's to report, at Close.
		_ = l.cfg.Capture.WriteFrames(now, frames)
	}
	backend.Release(frames)
	return len(frames), nil
}

// carry puts a copy of f on the queue of every port it goes to. Called
// with l.mu held.
func (l *Link) carry(from *port, f *backend.Frame, now int64) {
	switch {
	case f.Len() < ethHeaderLen:
		l.stats.Runts++
		return
	case f.Len() > l.cfg.MTU+ethHeaderLen+4: // a VLAN tag is allowed
		l.stats.TooBig++
		return
	}
	at := now
	if l.cfg.Bandwidth > 0 {
		start := max(now, from.free)
		from.free = start + int64(f.Len())*8*int64(time.Second)/l.cfg.Bandwidth
		at = from.free
	}
	at += int64(l.cfg.Latency)
	dst := f.Bytes()[:6]
	unicast := dst[0]&1 == 0
	known := false
	if unicast {
		for _, to := range l.ports {
			if to != from && !to.closed && bytes.Equal(to.caps.MAC, dst) {
				known = true
				break
			}
		}
	}
	for _, to := range l.ports {
		if to == from || to.closed || known && !bytes.Equal(to.caps.MAC, dst) {
			continue
		}
		if len(to.ring)-to.head >= l.cfg.QueueLimit {
			l.stats.QueueDrops++
			continue
		}
		c := to.pool.AllocOne(f.Len())
		if c == nil {
			l.stats.NoBuffer++
			continue
		}
		c.SetLen(f.Len())
		for b, off := f, 0; b != nil; b = b.Next() {
			off += c.CopyFrom(b.Bytes(), off)
		}
		// A frame that crossed never met a checksum offload: a
		// partial checksum stays partial, which the receiver trusts.
		c.Meta = f.Meta
		c.Timestamp = 0
		if n := len(to.ring); n > to.head {
			at = max(at, to.ring[n-1].at)
		}
		to.ring = append(to.ring, entry{f: c, at: at})
		l.stats.Frames++
		l.stats.Bytes += uint64(f.Len())
	}
}

// Wait is for stacks with loops; a simulated network's stacks are
// Manual and stepped by the Network, so Wait returns at once.
func (p *port) Wait(q int, deadline int64) error { return nil }

// Wake tells the network that the port's stack has work for its next
// Poll (an application wrote, read or closed).
func (p *port) Wake(q int) { p.link.net.wakeUp() }

func (p *port) NextArrival(q int) (int64, bool) {
	l := p.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if q != 0 || p.closed || p.head == len(p.ring) {
		return 0, false
	}
	return p.ring[p.head].at, true
}

func (p *port) Outstanding() int { return p.pool.Outstanding() }

func (p *port) QueueStats(q int) backend.QueueStats {
	l := p.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if q != 0 {
		return backend.QueueStats{}
	}
	return p.stats
}

// Close releases the frames in flight towards the port; nothing more is
// delivered to it.
func (p *port) Close() error {
	l := p.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for _, e := range p.ring[p.head:] {
		backend.ReleaseOne(e.f)
	}
	p.ring, p.head = nil, 0
	return nil
}
