package faults

import (
	"math/rand/v2"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
	"github.com/ustack/ustack/stack/wire"
)

// ReorderHold is how long a frame held back for reordering waits for a
// frame to overtake it before it goes on alone.
const ReorderHold = time.Millisecond

// RateQueueBytes bounds the queue in front of a rate limit: a frame that
// would find more than this many bytes waiting to be serialised is dropped
// (tail drop, counted as RateDropped), as a router's buffer would.
const RateQueueBytes = 1 << 20

// DirStats counts what fault injection did to one direction.
type DirStats struct {
	// Dropped: frames lost to Loss.
	Dropped uint64
	// Duplicated: copies made by Dup. DupSkipped: duplicates not made
	// because the backend had no buffer for the copy.
	Duplicated, DupSkipped uint64
	// Reordered: frames held back behind the next one.
	Reordered uint64
	// Corrupted: frames with a bit flipped. Truncated: frames cut short.
	// CorruptSkipped: corruptions not made because the frame's bytes were
	// another's (Offloads.SG) and the backend had no buffer for a copy.
	Corrupted, Truncated, CorruptSkipped uint64
	// CEMarked: ECN-capable packets marked Congestion Experienced.
	CEMarked uint64
	// Delayed: frames held past the instant they were offered, by Delay or
	// by the rate limit.
	Delayed uint64
	// RateDropped: frames dropped because the queue in front of the rate
	// limit was full.
	RateDropped uint64
	// HoldDropped: frames dropped because the hold queue was full.
	HoldDropped uint64
	// Segmented: GSO frames cut into wire-sized frames before per-frame
	// faults. SegmentFailed: GSO frames passed on whole because they could
	// not be cut (malformed, unverified on receive, no buffers).
	Segmented, SegmentFailed uint64
}

// counter is one of DirStats' counters under its name in metrics.
type counter struct {
	name string
	v    *uint64
}

// counters are s's counters, named, in one order for list and add.
func (s *DirStats) counters() [13]counter {
	return [...]counter{
		{"dropped", &s.Dropped},
		{"duplicated", &s.Duplicated},
		{"dup_skipped", &s.DupSkipped},
		{"reordered", &s.Reordered},
		{"corrupted", &s.Corrupted},
		{"truncated", &s.Truncated},
		{"corrupt_skipped", &s.CorruptSkipped},
		{"ce_marked", &s.CEMarked},
		{"delayed", &s.Delayed},
		{"rate_dropped", &s.RateDropped},
		{"hold_dropped", &s.HoldDropped},
		{"segmented", &s.Segmented},
		{"segment_failed", &s.SegmentFailed},
	}
}

// list is s as named statistics.
func (s *DirStats) list() []backend.DeviceStat {
	cs := s.counters()
	out := make([]backend.DeviceStat, len(cs))
	for i, c := range cs {
		out[i] = backend.DeviceStat{Name: c.name, Value: *c.v}
	}
	return out
}

func (s *DirStats) add(o *DirStats) {
	oc := o.counters()
	for i, c := range s.counters() {
		*c.v += *oc[i].v
	}
}

// path is one direction of one queue: its faults, its random stream and the
// frames it holds.
type path struct {
	cfg  Dir
	isRx bool
	// active: some fault applies, so frames go through the path at all.
	active bool
	rng    *rand.Rand
	// held frames, in order of due time
	ring ring
	// slot is the frame held back for reordering, until the next frame
	// overtakes it or slotExpiry.
	slot       *backend.Frame
	slotExpiry int64
	// lastReady and lastDue keep delays and serialisation in order.
	lastReady, lastDue int64
	// rateBacklog is RateQueueBytes as nanoseconds of serialisation.
	rateBacklog int64
	// blocked: the inner backend refused a due transmit frame.
	blocked bool
	stats   DirStats
}

func newPath(cfg Dir, isRx bool, seed uint64, queue int) path {
	stream := uint64(queue) << 1
	if isRx {
		stream |= 1
	}
	p := path{
		cfg:    cfg,
		isRx:   isRx,
		active: !cfg.IsZero(),
		rng:    rand.New(rand.NewPCG(splitmix(seed), splitmix(stream^0x9e3779b97f4a7c15))),
	}
	if p.active {
		p.ring.buf = make([]entry, initialHeld)
	}
	if cfg.Rate > 0 {
		p.rateBacklog = RateQueueBytes * 8 * int64(time.Second) / cfg.Rate
	}
	return p
}

// splitmix is SplitMix64's finaliser: it spreads nearby seeds and queue
// numbers over unrelated PCG states.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (p *path) roll(prob float64) bool {
	return prob > 0 && p.rng.Float64() < prob
}

// frame applies the per-frame faults to f, offered at now, and queues what
// is left of it.
func (p *path) frame(q *queue, f *backend.Frame, now int64) {
	if p.roll(p.cfg.Loss) {
		backend.ReleaseOne(f)
		p.stats.Dropped++
		return
	}
	var dup *backend.Frame
	if p.roll(p.cfg.Dup) {
		if dup = q.clone(f); dup == nil {
			p.stats.DupSkipped++
		} else {
			p.stats.Duplicated++
		}
	}
	f = p.damage(q, f)
	p.reorder(f, now)
	if dup != nil {
		dup = p.damage(q, dup)
		p.reorder(dup, now)
	}
}

// damage corrupts or truncates f, by chance, and returns the frame to pass
// on. Truncation changes only the frame's length, never its bytes.
func (p *path) damage(q *queue, f *backend.Frame) *backend.Frame {
	if p.roll(p.cfg.Corrupt) {
		f = p.corruptOwn(q, f)
	}
	if p.roll(p.cfg.CE) && ecnCapable(f) {
		var ok bool
		if f, ok = p.own(q, f); ok && markCE(f) {
			p.stats.CEMarked++
		}
	}
	if p.roll(p.cfg.Truncate) && p.truncate(f) {
		p.stats.Truncated++
	}
	return f
}

// corruptOwn corrupts f, or, when f's bytes may be another's
// (queue.gathers: a sender's, who sends them again), a copy of f that
// takes its place; without a buffer for the copy, nothing.
func (p *path) corruptOwn(q *queue, f *backend.Frame) *backend.Frame {
	f, ok := p.own(q, f)
	if !ok {
		p.stats.CorruptSkipped++
		return f
	}
	if p.corrupt(f) {
		p.stats.Corrupted++
	}
	return f
}

// own returns f, or when f's bytes may be another's (queue.gathers) a copy
// of f that takes its place, for a fault to write to; false, and f as it
// is, when there is no buffer for the copy.
func (p *path) own(q *queue, f *backend.Frame) (*backend.Frame, bool) {
	if !q.gathers {
		return f, true
	}
	c := q.clone(f)
	if c == nil {
		return f, false
	}
	backend.ReleaseOne(f)
	return c, true
}

// ecnCapable reports whether f carries an IP packet whose ECN field says
// ECT(0) or ECT(1) (RFC 3168 §5).
func ecnCapable(f *backend.Frame) bool {
	var buf [maxIPHeader]byte
	_, _, ok := ectHeader(f, &buf)
	return ok
}

// maxIPHeader is the longest IPv4 header, and more than the first bytes
// of an IPv6 one that hold its traffic class.
const maxIPHeader = 60

// ectHeader reads the IP header of f into buf, when f carries an IP
// packet whose ECN field says ECT(0) or ECT(1), and returns it with its
// offset in f.
func ectHeader(f *backend.Frame, buf *[maxIPHeader]byte) (hdr []byte, off int, ok bool) {
	h, err := offload.ParseHeaders(f)
	if err != nil || h.IPVersion == 0 {
		return nil, 0, false
	}
	hdr = buf[:min(int(h.L3Len), len(buf))]
	f.CopyTo(hdr, h.L2Len)
	var ecn uint8
	if h.IPVersion == 4 {
		ecn = wire.IPv4(hdr).ECN()
	} else {
		ecn = wire.IPv6(hdr).ECN()
	}
	return hdr, h.L2Len, ecn == 1 || ecn == 2
}

// markCE sets the ECN field of f's ECN-capable IP packet to CE, mending an
// IPv4 header's checksum; it reports whether f had one.
func markCE(f *backend.Frame) bool {
	var buf [maxIPHeader]byte
	hdr, off, ok := ectHeader(f, &buf)
	if !ok {
		return false
	}
	if ip := wire.IPv4(hdr); ip.Version() == 4 {
		ip.SetTOS(ip.TOS() | 3)
		ip.SetChecksum(ip.ComputeChecksum())
	} else {
		hdr[1] |= 3 << 4 // the traffic class spans the first two bytes
	}
	f.CopyFrom(hdr, off)
	return true
}

// corrupt flips one bit that a checksum covers: past the Ethernet header
// and within the IP packet, skipping the first 8 bytes of an IPv6 header
// (version, class, flow label, length, next header, hop limit), which no
// checksum covers. A real link's FCS catches nearly all damage; what we
// model is what slips past it to the receiver's own checksums. Frames that
// are not IP, and UDP over IPv4 sent without a checksum, have nothing that
// would notice.
func (p *path) corrupt(f *backend.Frame) bool {
	h, err := offload.ParseHeaders(f)
	lo, hi := max(h.L2Len, 14), f.Len()
	if err == nil && h.IPVersion != 0 {
		hi = h.L2Len + h.IPLen
		if h.IPVersion == 6 {
			lo += 8
		}
	}
	if hi <= lo {
		return false
	}
	unverify(f)
	off := lo + p.rng.IntN(hi-lo)
	var b [1]byte
	f.CopyTo(b[:], off)
	b[0] ^= 1 << p.rng.IntN(8)
	f.CopyFrom(b[:], off)
	return true
}

// truncate cuts f to a random length from 14 bytes (an Ethernet header)
// to one byte short of its length.
func (p *path) truncate(f *backend.Frame) bool {
	if f.Len() <= 14 {
		return false
	}
	unverify(f)
	f.Truncate(14 + p.rng.IntN(f.Len()-14))
	return true
}

// unverify makes a frame about to be damaged say nothing about its
// checksums, so that the receiver checks them and sees the damage: a
// partial checksum is completed over the intact frame, as the device would
// have done before the wire damaged it, and "verified" is forgotten.
func unverify(f *backend.Frame) {
	_ = offload.CompleteChecksum(f) // on error the receiver finds it bad anyway
	if f.Csum != backend.CsumBad {
		f.Csum = backend.CsumNone
	}
}

// reorder holds f back, by chance, until the next frame has gone ahead of
// it; otherwise it queues f and then any frame held back.
func (p *path) reorder(f *backend.Frame, now int64) {
	if p.slot == nil && p.roll(p.cfg.Reorder) {
		p.slot, p.slotExpiry = f, now+int64(ReorderHold)
		p.stats.Reordered++
		return
	}
	p.enqueue(f, now, false)
	if h := p.slot; h != nil {
		p.slot = nil
		p.enqueue(h, now, true)
	}
}

// expire lets a frame held back for reordering go on alone once its hold
// time has passed.
func (p *path) expire(now int64) {
	if h := p.slot; h != nil && p.slotExpiry <= now {
		p.slot = nil
		p.enqueue(h, p.slotExpiry, true)
	}
}

// enqueue queues f, offered at at, behind the delay and the rate limit.
func (p *path) enqueue(f *backend.Frame, at int64, held bool) {
	ready := at
	if d := int64(p.cfg.Delay); d > 0 {
		if j := int64(p.cfg.Jitter); j > 0 {
			d += p.rng.Int64N(2*j+1) - j
		}
		ready += d
	}
	// Jitter varies the delay, not the order.
	ready = max(ready, p.lastReady)
	p.lastReady = ready
	due := ready
	if p.cfg.Rate > 0 {
		start := max(ready, p.lastDue)
		ser := int64(f.Len()) * 8 * int64(time.Second) / p.cfg.Rate
		if start-ready+ser > p.rateBacklog {
			backend.ReleaseOne(f)
			p.stats.RateDropped++
			return
		}
		due = start + ser
		p.lastDue = due
	}
	if due > at {
		p.stats.Delayed++
		held = true
	}
	if !p.ring.push(entry{f: f, due: due, held: held}) {
		backend.ReleaseOne(f)
		p.stats.HoldDropped++
	}
}

// next is the earliest instant at which the path has something to do.
func (p *path) next() (int64, bool) {
	at, ok := int64(0), false
	if p.ring.n > 0 {
		at, ok = p.ring.at(0).due, true
	}
	if p.slot != nil && (!ok || p.slotExpiry < at) {
		at, ok = p.slotExpiry, true
	}
	return at, ok
}

// release releases every frame the path holds.
func (p *path) release() {
	p.ring.release()
	if p.slot != nil {
		backend.ReleaseOne(p.slot)
		p.slot = nil
	}
}
