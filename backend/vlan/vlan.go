// Package vlan puts a stack on one IEEE 802.1Q VLAN of its device: a
// backend.Backend that wraps another, tags every frame sent with the VLAN
// and takes from the device only the frames of that VLAN, untagged for
// the stack, whose Ethernet stays untagged.
//
// A frame the device tagged in its bytes loses the tag; one whose tag the
// device stripped into its metadata (Frame.HasVLAN, a NIC's VLAN
// stripping) is taken when the VLAN matches. Untagged frames and other
// VLANs' are dropped and counted. Transmit offloads are turned off (the
// stack checksums and segments), so that no offset in a frame's metadata
// is off by the tag; receive offloads stay.
package vlan

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ustack/ustack/backend"
)

const (
	tpid   = 0x8100 // 802.1Q
	tagLen = 4
	macs   = 12 // destination and source addresses, before the tag
)

// Backend is a device seen through one VLAN. It implements backend.Backend
// and, when the inner backend does, backend.Scheduler,
// backend.StatsReader and backend.DeviceStatsReader.
type Backend struct {
	inner backend.Backend
	id    uint16
	caps  backend.Caps
	// Frames received and dropped: untagged, or of another VLAN.
	untagged, other atomic.Uint64
}

// Wrap puts the stack on VLAN id (1 to 4094) of inner.
func Wrap(inner backend.Backend, id int) (*Backend, error) {
	if id < 1 || id > 4094 {
		return nil, fmt.Errorf("vlan %d: want 1 to 4094", id)
	}
	caps := inner.Caps()
	caps.Offloads.TxCsum, caps.Offloads.TSO, caps.Offloads.TSOMax, caps.Offloads.SG = false, false, 0, false
	return &Backend{inner: inner, id: uint16(id), caps: caps}, nil
}

// Stats are the frames dropped for not being of the VLAN.
type Stats struct {
	Untagged   uint64
	OtherVLANs uint64
}

// Stats returns the drop counters.
func (b *Backend) Stats() Stats {
	return Stats{Untagged: b.untagged.Load(), OtherVLANs: b.other.Load()}
}

// Inner is the wrapped backend.
func (b *Backend) Inner() backend.Backend { return b.inner }

// Caps implements backend.Backend: the inner backend's without transmit
// offloads.
func (b *Backend) Caps() backend.Caps { return b.caps }

// Recv implements backend.Backend: the inner backend's frames of the VLAN,
// untagged; the others are released here.
func (b *Backend) Recv(q int, frames []*backend.Frame) (int, error) {
	n, err := b.inner.Recv(q, frames)
	k := 0
	for _, f := range frames[:n] {
		if b.untag(f) {
			frames[k] = f
			k++
		} else {
			backend.ReleaseOne(f)
		}
	}
	clear(frames[k:n])
	return k, err
}

// untag takes the VLAN's tag off f and reports whether f is of the VLAN.
func (b *Backend) untag(f *backend.Frame) bool {
	if f.HasVLAN {
		if f.VLAN&0x0fff != b.id {
			b.other.Add(1)
			return false
		}
		f.HasVLAN, f.VLAN = false, 0
		return true
	}
	d := f.Bytes()
	if len(d) < macs+tagLen+2 || uint16(d[macs])<<8|uint16(d[macs+1]) != tpid {
		b.untagged.Add(1)
		return false
	}
	if (uint16(d[macs+2])<<8|uint16(d[macs+3]))&0x0fff != b.id {
		b.other.Add(1)
		return false
	}
	strip(f)
	return true
}

// shiftMeta moves the header offsets of f's metadata by delta bytes.
func shiftMeta(f *backend.Frame, delta int) {
	if f.L2Len != 0 {
		f.L2Len = uint16(int(f.L2Len) + delta)
	}
	if f.Csum == backend.CsumPartial {
		f.CsumStart = uint16(int(f.CsumStart) + delta)
	}
}

// errNoHeadroom: a frame to send has no room for the tag before it.
var errNoHeadroom = errors.New("vlan: no headroom for the tag")

// Send implements backend.Backend: the frames go out tagged. Those the
// inner backend does not take get their tag back off, to be sent again.
func (b *Backend) Send(q int, frames []*backend.Frame) (int, error) {
	for i, f := range frames {
		if !b.tag(f) {
			for _, g := range frames[:i] {
				strip(g)
			}
			return 0, errNoHeadroom
		}
	}
	n, err := b.inner.Send(q, frames)
	for _, f := range frames[n:] {
		strip(f)
	}
	return n, err
}

// tag inserts the VLAN's tag after f's addresses.
func (b *Backend) tag(f *backend.Frame) bool {
	if len(f.Bytes()) < macs || f.Prepend(tagLen) == nil {
		return false
	}
	d := f.Bytes()
	copy(d[:macs], d[tagLen:tagLen+macs])
	d[macs], d[macs+1] = tpid>>8, tpid&0xff
	d[macs+2], d[macs+3] = byte(b.id>>8), byte(b.id)
	shiftMeta(f, tagLen)
	return true
}

// strip takes the tag after f's addresses off: a received frame's, or the
// one tag inserted into a frame not sent.
func strip(f *backend.Frame) {
	d := f.Bytes()
	copy(d[tagLen:tagLen+macs], d[:macs])
	f.TrimFront(tagLen)
	shiftMeta(f, -tagLen)
}

// Alloc implements backend.Backend: the tag goes into the headroom.
func (b *Backend) Alloc(q int, frames []*backend.Frame, size int) int {
	return b.inner.Alloc(q, frames, size)
}

// Wait implements backend.Backend.
func (b *Backend) Wait(q int, deadline int64) error { return b.inner.Wait(q, deadline) }

// Wake implements backend.Backend.
func (b *Backend) Wake(q int) { b.inner.Wake(q) }

// Outstanding implements backend.Backend.
func (b *Backend) Outstanding() int { return b.inner.Outstanding() }

// Close implements backend.Backend.
func (b *Backend) Close() error { return b.inner.Close() }

// NextArrival implements backend.Scheduler with the inner backend's.
func (b *Backend) NextArrival(q int) (int64, bool) {
	if s, ok := b.inner.(backend.Scheduler); ok {
		return s.NextArrival(q)
	}
	return 0, false
}

// QueueStats implements backend.StatsReader with the inner backend's
// counters, or zeros when it keeps none.
func (b *Backend) QueueStats(q int) backend.QueueStats {
	if sr, ok := b.inner.(backend.StatsReader); ok {
		return sr.QueueStats(q)
	}
	return backend.QueueStats{}
}

// DeviceStats implements backend.DeviceStatsReader: the inner backend's
// statistics and the frames dropped here, under the inner backend's kind
// (vlan_untagged_drops, vlan_other_drops), or under "vlan" when it has
// none (untagged_drops, other_drops).
func (b *Backend) DeviceStats() (string, []backend.DeviceStat, error) {
	kind, prefix := "vlan", ""
	var stats []backend.DeviceStat
	if dr, ok := b.inner.(backend.DeviceStatsReader); ok {
		k, s, err := dr.DeviceStats()
		if err != nil {
			return "", nil, err
		}
		if k != "" {
			kind, prefix, stats = k, "vlan_", s
		}
	}
	return kind, append(stats,
		backend.DeviceStat{Name: prefix + "untagged_drops", Value: b.untagged.Load()},
		backend.DeviceStat{Name: prefix + "other_drops", Value: b.other.Load()}), nil
}
