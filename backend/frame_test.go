package backend

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingOwner takes chains back by counting them and, with rearm,
// making them fresh again, so a benchmark can release the same frames over
// and over.
type countingOwner struct {
	calls, freed int
	rearm        bool
}

func (o *countingOwner) FreeChains(heads []*Frame) {
	o.calls++
	o.freed += len(heads)
	if o.rearm {
		for _, h := range heads {
			h.refs = 1
		}
	}
}

func (o *countingOwner) FreeChain(head *Frame) { o.FreeChains([]*Frame{head}) }

// Release hands each owner its frames whose last reference went, one
// call per run of the same owner, skips nil entries and frames still
// referenced, and clears the slice.
func TestReleaseGroupsRunsByOwner(t *testing.T) {
	a, b := &countingOwner{}, &countingOwner{}
	mk := func(o Owner) *Frame {
		f := new(Frame)
		f.Init(make([]byte, 64), 0, o)
		return f
	}
	held := mk(a)
	held.Ref()
	fs := []*Frame{mk(a), mk(a), nil, held, mk(b), mk(b), mk(a)}
	Release(fs)
	assert.Equal(t, 2, a.calls, "a's run, then b's, then a's again")
	assert.Equal(t, 3, a.freed)
	assert.Equal(t, 1, b.calls)
	assert.Equal(t, 2, b.freed)
	assert.Equal(t, int32(1), held.refs, "a frame still referenced stays")
	for i, f := range fs {
		require.Nil(t, f, "entry %d cleared", i)
	}
}

// BenchmarkRelease releases bursts of 32 frames of one owner, as a
// backend's receive burst is released.
func BenchmarkRelease(b *testing.B) {
	o := &countingOwner{rearm: true}
	frames := make([]*Frame, 32)
	for i := range frames {
		frames[i] = new(Frame)
		frames[i].Init(make([]byte, 64), 0, o)
	}
	fs := make([]*Frame, len(frames))
	b.ReportAllocs()
	for b.Loop() {
		copy(fs, frames)
		Release(fs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
}

// A frame released once more than it was referenced is a bug, found at
// once, in a burst as alone.
func TestReleaseTooOftenPanics(t *testing.T) {
	o := &countingOwner{}
	f := new(Frame)
	f.Init(make([]byte, 64), 0, o)
	Release([]*Frame{f})
	assert.Equal(t, 1, o.freed)
	assert.Panics(t, func() { Release([]*Frame{f}) })
}

// OwnedBy tells a backend's frames from others', and FrameLayout places
// the fields where Init puts them.
func TestOwnedByAndLayout(t *testing.T) {
	a, b := &countingOwner{}, &countingOwner{}
	store := make([]byte, 256)
	var f Frame
	f.InitData(store, 100, 20, a)
	assert.True(t, f.OwnedBy(a))
	assert.False(t, f.OwnedBy(b))

	l := FrameLayout()
	at := func(off uintptr) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(&f), off) }
	assert.Equal(t, unsafe.Sizeof(f), l.Size)
	assert.Equal(t, unsafe.SliceData(store), *(**byte)(at(l.Store)))
	assert.Equal(t, 100, *(*int)(at(l.Off)))
	assert.Equal(t, 20, *(*int)(at(l.N)))
	assert.Equal(t, 20, *(*int)(at(l.Total)))
	assert.Equal(t, int32(1), *(*int32)(at(l.Refs)))
	assert.True(t, sameOwner(*(*Owner)(at(l.Own)), a))
	f.Handle, f.Queue = 7, 3
	assert.Equal(t, uintptr(7), *(*uintptr)(at(l.Handle)))
	assert.Equal(t, 3, *(*int)(at(l.Queue)))
	g := new(Frame)
	f.next = g
	assert.Equal(t, g, *(**Frame)(at(l.Next)))
}
