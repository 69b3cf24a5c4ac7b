package backend

import (
	"testing"

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
