// Package capture is pcap capture middleware: a backend.Backend that wraps
// another and records every frame it receives and every frame it sends to a
// pcap file (gopacket's pcapgo), with timestamps from the stack's clock, so
// that a simulation on virtual time writes a capture in virtual time.
//
// A capture shows what the wire carries: partial checksums are completed in
// the copy written (the live frame is not touched), and TSO and GRO frames
// are recorded whole, which is why the snap length is larger than 65535.
// Writer rotates the file by size.
package capture

import (
	"sync/atomic"

	"github.com/ustack/ustack/backend"
)

// Backend records the frames crossing an inner backend. It implements
// backend.Backend, backend.Scheduler, backend.StatsReader and
// backend.DeviceStatsReader (the inner backend's, when it has them).
type Backend struct {
	inner  backend.Backend
	sched  backend.Scheduler
	w      *Writer
	clock  backend.Clock
	queues []*sendScratch
	errs   atomic.Uint64
}

// sendScratch holds copies of the frames of one Send burst: a frame
// accepted by the inner backend may be gone by the time Send returns.
type sendScratch struct {
	buf  []byte
	recs []record
}

type record struct{ off, n, orig int }

// Wrap returns inner with its traffic recorded to w, timestamped by clock
// (a real clock when nil). The Writer is not closed with the backend, as it
// may be shared by several: its owner closes it after them.
func Wrap(inner backend.Backend, w *Writer, clock backend.Clock) *Backend {
	if clock == nil {
		clock = backend.NewRealClock()
	}
	b := &Backend{inner: inner, w: w, clock: clock}
	b.sched, _ = inner.(backend.Scheduler)
	for range max(inner.Caps().Queues, 1) {
		b.queues = append(b.queues, &sendScratch{})
	}
	return b
}

// WriteErrors counts frames that could not be recorded. Capture never fails
// the traffic it records; Writer.Close reports the first error.
func (b *Backend) WriteErrors() uint64 { return b.errs.Load() }

// Caps implements backend.Backend: the inner backend's.
func (b *Backend) Caps() backend.Caps { return b.inner.Caps() }

// Inner is the wrapped backend (backend.Wrapper).
func (b *Backend) Inner() backend.Backend { return b.inner }

// Alloc implements backend.Backend.
func (b *Backend) Alloc(q int, frames []*backend.Frame, size int) int {
	return b.inner.Alloc(q, frames, size)
}

// Recv implements backend.Backend, recording the frames received.
func (b *Backend) Recv(q int, frames []*backend.Frame) (int, error) {
	n, err := b.inner.Recv(q, frames)
	if n > 0 {
		if b.w.WriteFrames(b.clock.Now(), frames[:n]) != nil {
			b.errs.Add(uint64(n))
		}
	}
	return n, err
}

// Send implements backend.Backend, recording the frames the inner backend
// accepts.
func (b *Backend) Send(q int, frames []*backend.Frame) (int, error) {
	if q < 0 || q >= len(b.queues) || len(frames) == 0 {
		return b.inner.Send(q, frames)
	}
	s := b.queues[q]
	ts := b.clock.Now()
	s.buf, s.recs = s.buf[:0], s.recs[:0]
	for _, f := range frames {
		off := len(s.buf)
		s.buf = appendFrame(s.buf, f)
		s.recs = append(s.recs, record{off: off, n: len(s.buf) - off, orig: f.Len()})
	}
	n, err := b.inner.Send(q, frames)
	if n > 0 {
		b.w.mu.Lock()
		for _, r := range s.recs[:n] {
			if b.w.write(ts, s.buf[r.off:r.off+r.n], r.orig) != nil {
				b.errs.Add(1)
			}
		}
		b.w.mu.Unlock()
	}
	return n, err
}

// Wait implements backend.Backend.
func (b *Backend) Wait(q int, deadline int64) error { return b.inner.Wait(q, deadline) }

// Wake implements backend.Backend.
func (b *Backend) Wake(q int) { b.inner.Wake(q) }

// NextArrival implements backend.Scheduler: the inner backend's, or none
// when it does not schedule.
func (b *Backend) NextArrival(q int) (int64, bool) {
	if b.sched == nil {
		return 0, false
	}
	return b.sched.NextArrival(q)
}

// QueueStats implements backend.StatsReader with the inner backend's
// counters, or zeros when it keeps none.
func (b *Backend) QueueStats(q int) backend.QueueStats {
	if sr, ok := b.inner.(backend.StatsReader); ok {
		return sr.QueueStats(q)
	}
	return backend.QueueStats{}
}

// DeviceStats implements backend.DeviceStatsReader with the inner
// backend's, or none when it has none.
func (b *Backend) DeviceStats() (string, []backend.DeviceStat, error) {
	if dr, ok := b.inner.(backend.DeviceStatsReader); ok {
		return dr.DeviceStats()
	}
	return "", nil, nil
}

// Outstanding implements backend.Backend.
func (b *Backend) Outstanding() int { return b.inner.Outstanding() }

// Close implements backend.Backend: it flushes the capture and closes the
// inner backend.
func (b *Backend) Close() error {
	ferr := b.w.Flush()
	if err := b.inner.Close(); err != nil {
		return err
	}
	return ferr
}
