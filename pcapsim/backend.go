package pcapsim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/capture"
	"github.com/ustack/ustack/backend/offload"
)

// Config configures a replay Backend. The zero value replays onto a
// 1500-byte link with a generated MAC, on a virtual clock, discarding what
// the stack sends.
type Config struct {
	// MAC is the backend's Ethernet address, the stack's. Frames a raw IP
	// or cooked capture records as received by its host are addressed to
	// it. Default GeneratedMAC(Seed).
	MAC net.HardwareAddr
	// Seed draws the generated MAC.
	Seed uint64
	// MTU is the largest IP packet the stack sends (default 1500). Frames
	// from the capture are delivered whatever their length.
	MTU int
	// Mbuf gives DPDK-shaped memory: 2 KiB buffers from a bounded pool,
	// chained, poisoned on release. Otherwise each frame is one buffer.
	Mbuf bool
	// PoolSize bounds the buffers (default 4096).
	PoolSize int
	// Clock delivers the frames: each becomes receivable when the clock
	// reaches its timestamp. Default a backend.VirtualClock reading the
	// first frame's time; the caller advances it.
	Clock backend.Clock
	// Output receives what the stack sends, timestamped by Clock. The
	// Writer stays the caller's to close, after the Backend. Nil: sent
	// frames are counted and dropped.
	Output *capture.Writer
	// Outgoing feeds the frames a Linux cooked capture marks as sent by
	// its host (PACKET_OUTGOING). By default they are skipped: they are
	// the captured host's transmissions, which the stack replaces.
	Outgoing bool
}

// Backend replays a capture to a stack: each frame becomes receivable at
// its capture timestamp on the configured clock (backend.Scheduler tells
// when), copied into a buffer from the backend's pool and lent to the
// stack. What the stack sends is written to Config.Output and released.
// It has one queue and no offloads; it implements backend.Backend,
// backend.Scheduler and backend.StatsReader.
//
// Raw IP and Linux cooked captures are delivered as Ethernet frames with
// made-up addresses; the package documentation says how they are chosen.
type Backend struct {
	cfg   Config
	caps  backend.Caps
	pool  *backend.Pool
	clock backend.Clock
	file  io.Closer

	mu       sync.Mutex
	rd       *reader
	pending  []byte // the next frame, when havePend
	pendAt   int64
	havePend bool
	last     int64 // delivery time of the last frame, never decreasing
	warning  error
	stats    backend.QueueStats
	skipOut  uint64 // outgoing frames skipped
	oversize uint64 // frames no buffer of the pool could hold
	partial  uint64 // frames whose checksum their sender left to the NIC
	closed   bool
	wake     chan struct{}
	timer    *time.Timer
}

// Open opens the capture at path for replay. A capture of a link type a
// replay does not carry is refused with a *LinkTypeError.
func Open(path string, cfg Config) (*Backend, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pcapsim: %w", err)
	}
	b, err := New(f, cfg)
	if err != nil {
		f.Close()
		return nil, err
	}
	b.file = f
	return b, nil
}

// New replays the capture read from r (pcap or pcapng, microsecond or
// nanosecond timestamps, optionally gzip-compressed).
func New(r io.Reader, cfg Config) (*Backend, error) {
	if cfg.MAC == nil {
		cfg.MAC = GeneratedMAC(cfg.Seed)
	}
	if len(cfg.MAC) != 6 || cfg.MAC[0]&1 != 0 {
		return nil, fmt.Errorf("pcapsim: mac %v is not a unicast Ethernet address", cfg.MAC)
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("pcapsim: mtu %d out of range 68..65535", cfg.MTU)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 4096
	}
	if cfg.PoolSize < 64 {
		return nil, fmt.Errorf("pcapsim: pool size %d below 64 buffers", cfg.PoolSize)
	}
	pool, err := backend.NewPool(backend.PoolConfig{Mbuf: cfg.Mbuf, Count: cfg.PoolSize, Poison: cfg.Mbuf})
	if err != nil {
		return nil, fmt.Errorf("pcapsim: %w", err)
	}
	rd, err := newReader(r, cfg.MAC)
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, pool: pool, rd: rd, wake: make(chan struct{}, 1)}
	b.caps = backend.Caps{Name: "pcap", MAC: cfg.MAC, MTU: cfg.MTU, Queues: 1, BufSize: pool.BufSize(), Buffers: cfg.PoolSize}
	// Read ahead one frame: it tells when the first arrives, and a
	// pcapng file of an unsupported link type is refused here.
	if err := b.advance(); err != nil {
		return nil, err
	}
	b.clock = cfg.Clock
	if b.clock == nil {
		b.clock = backend.NewVirtualClock(b.pendAt)
	}
	b.timer = time.NewTimer(time.Hour)
	b.timer.Stop()
	return b, nil
}

// advance reads the next frame to deliver into pending. Called with b.mu
// held, or before b is shared.
func (b *Backend) advance() error {
	b.havePend = false
	for {
		rec, err := b.rd.next()
		if err != nil {
			var lt *LinkTypeError
			if errors.As(err, &lt) {
				return err
			}
			if !errors.Is(err, io.EOF) {
				b.warning = err
			}
			return nil
		}
		if rec.dir == dirOutgoing && !b.cfg.Outgoing {
			b.skipOut++
			continue
		}
		b.pending = append(b.pending[:0], rec.frame...)
		// Frames are delivered in capture order: a timestamp earlier
		// than the one before is taken as the one before.
		b.pendAt = max(rec.at, b.last)
		b.havePend = true
		return nil
	}
}

// Clock is the clock the backend delivers frames on.
func (b *Backend) Clock() backend.Clock { return b.clock }

// Pool is the backend's buffer pool.
func (b *Backend) Pool() *backend.Pool { return b.pool }

// Caps implements backend.Backend.
func (b *Backend) Caps() backend.Caps { return b.caps }

// Recv implements backend.Backend: it lends the frames whose time has
// come. A frame no buffer can hold is dropped (QueueStats.RxDrops).
func (b *Backend) Recv(q int, frames []*backend.Frame) (int, error) {
	if q != 0 {
		return 0, backend.ErrQueue
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, backend.ErrClosed
	}
	now := b.clock.Now()
	n := 0
	for n < len(frames) && b.havePend && b.pendAt <= now {
		data, at := b.pending, b.pendAt
		f := b.pool.AllocOne(len(data))
		if f != nil {
			f.SetLen(len(data))
			f.CopyFrom(data, 0)
			f.Timestamp = at
			if offload.MarkPartial(f) {
				// As the capturing host's stack had it: to be filled
				// in by the NIC, and trusted by the receiver.
				b.partial++
			}
			frames[n] = f
			n++
			b.stats.RxPackets++
			b.stats.RxBytes += uint64(len(data))
		} else {
			b.stats.RxDrops++
			if len(data) > b.pool.BufSize() && !b.cfg.Mbuf {
				b.oversize++
			}
		}
		b.last = at
		if err := b.advance(); err != nil {
			return n, err
		}
	}
	if n == 0 {
		b.stats.EmptyPolls++
	} else {
		b.stats.Bursts++
	}
	return n, nil
}

// Alloc implements backend.Backend.
func (b *Backend) Alloc(q int, frames []*backend.Frame, size int) int {
	n := b.pool.Alloc(frames, size)
	for _, f := range frames[:n] {
		f.Queue = q
	}
	if n < len(frames) {
		b.mu.Lock()
		b.stats.AllocFails++
		b.mu.Unlock()
	}
	return n
}

// Send implements backend.Backend: it records the frames to the output
// capture at the clock's time and releases them.
func (b *Backend) Send(q int, frames []*backend.Frame) (int, error) {
	if q != 0 {
		return 0, backend.ErrQueue
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, backend.ErrClosed
	}
	for _, f := range frames {
		b.stats.TxPackets++
		b.stats.TxBytes += uint64(f.Len())
	}
	b.mu.Unlock()
	if b.cfg.Output != nil && len(frames) > 0 {
		// A failed write is the Writer's to report, at Close; the
		// frames are still carried.
		_ = b.cfg.Output.WriteFrames(b.clock.Now(), frames)
	}
	n := len(frames)
	backend.Release(frames)
	return n, nil
}

// NextArrival implements backend.Scheduler: when the next frame of the
// capture becomes receivable.
func (b *Backend) NextArrival(q int) (int64, bool) {
	if q != 0 {
		return 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || !b.havePend {
		return 0, false
	}
	return b.pendAt, true
}

// Wait implements backend.Backend. It sleeps in real time until the next
// frame's time or the deadline on the backend's clock: with a real clock
// that replays the capture at its own pace. A replay on a virtual clock
// is stepped by its driver (Replay) and never waits.
func (b *Backend) Wait(q int, deadline int64) error {
	if q != 0 {
		return backend.ErrQueue
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return backend.ErrClosed
	}
	at, ok := b.pendAt, b.havePend
	b.mu.Unlock()
	now := b.clock.Now()
	if ok && at <= now {
		return nil
	}
	if !ok || (deadline != 0 && deadline < at) {
		at = deadline
	}
	if at == 0 {
		<-b.wake
		return nil
	}
	if at <= now {
		return nil
	}
	b.timer.Reset(time.Duration(at - now))
	select {
	case <-b.wake:
	case <-b.timer.C:
	}
	b.timer.Stop()
	return nil
}

// Wake implements backend.Backend.
func (b *Backend) Wake(q int) {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Outstanding implements backend.Backend.
func (b *Backend) Outstanding() int { return b.pool.Outstanding() }

// QueueStats implements backend.StatsReader. RxDrops counts frames no
// buffer could hold (the pool was short, or the frame longer than a
// plain buffer).
func (b *Backend) QueueStats(q int) backend.QueueStats {
	if q != 0 {
		return backend.QueueStats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Stats are a replay backend's counts of the capture's records.
type Stats struct {
	// Records read from the capture so far (one ahead of delivery),
	// delivered or not.
	Records int
	// SkippedOutgoing: frames a cooked capture marks as its host's own
	// transmissions, not fed (Config.Outgoing).
	SkippedOutgoing uint64
	// SkippedLinkType: pcapng records of interfaces whose link type a
	// replay does not carry.
	SkippedLinkType uint64
	// SkippedShort: records shorter than their link-layer header.
	SkippedShort uint64
	// Oversize: frames longer than any buffer of the pool (also counted
	// in QueueStats.RxDrops).
	Oversize uint64
	// OffloadedChecksums: TCP and UDP packets fed as their sender's stack
	// left them, with the checksum to be filled in by its NIC (the field
	// holds the pseudo-header's sum; see a capture taken on the sending
	// host, or on a veth). The stack trusts them, as a receiver of such a
	// packet on the same host does; other bad checksums are still bad.
	OffloadedChecksums uint64
	// BytesRead is how far into the capture (uncompressed) the reader
	// is, for progress reports.
	BytesRead int64
}

// Stats returns the backend's counts so far.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{
		Records:            b.rd.num,
		SkippedOutgoing:    b.skipOut,
		SkippedLinkType:    b.rd.skippedLink,
		SkippedShort:       b.rd.skippedHeader,
		Oversize:           b.oversize,
		OffloadedChecksums: b.partial,
		BytesRead:          b.rd.bytesRead(),
	}
}

// Truncated reports a capture that ended in a truncated or unreadable
// record (a *RecordError; errors.Is(err, ErrTruncated) for a record cut
// short), once the reader has reached it; nil otherwise. The records
// before it are replayed.
func (b *Backend) Truncated() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.warning
}

// Close implements backend.Backend: it closes the capture file (when the
// backend opened it). The output Writer is the caller's to close.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.havePend = false
	b.pending = nil
	select {
	case b.wake <- struct{}{}:
	default:
	}
	if b.file != nil {
		return b.file.Close()
	}
	return nil
}
