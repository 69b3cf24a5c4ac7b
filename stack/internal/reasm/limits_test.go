package reasm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryCapEvictsOldest fills the memory with three datagrams and checks
// that a fourth evicts the oldest, and only as many as needed.
func TestMemoryCapEvictsOldest(t *testing.T) {
	// Each first fragment of 1480 bytes takes a 4 KiB buffer (room for a
	// second fragment) plus a 64-byte header buffer.
	const each = 4096 + 64
	r := New(Config{MaxBytes: 3 * each})
	data := fill(30, 1480)
	first := frag{off: 0, more: true, data: data}
	for i := range 3 {
		require.Equal(t, Pending, add(t, r, key4(uint32(i)), first, int64(i)).Status)
	}
	require.Equal(t, 3*each, r.Bytes())

	require.Equal(t, Pending, add(t, r, key4(3), first, 3).Status)
	assert.Equal(t, 3, r.Len())
	assert.Equal(t, 3*each, r.Bytes())
	assert.Equal(t, uint64(1), r.Stats().MemoryFull)
	assert.Equal(t, uint64(1), r.Stats().ReasmFails)

	// Datagram 0 is gone: its next fragment starts a new one.
	_, ok := r.table[key4(0)]
	assert.False(t, ok)
	for _, id := range []uint32{1, 2, 3} {
		_, ok := r.table[key4(id)]
		assert.True(t, ok, "datagram %d", id)
	}

	// Datagram 1, now the oldest, grows to an 8 KiB buffer: the oldest
	// other datagram, 2, makes room, since a datagram is never evicted to
	// make room for itself.
	more := frag{off: 1480, more: true, data: fill(31, 2960)}
	require.Equal(t, Pending, add(t, r, key4(1), more, 4).Status)
	_, ok = r.table[key4(2)]
	assert.False(t, ok, "datagram 2 was the oldest other")
	assert.LessOrEqual(t, r.Bytes(), 3*each)
	assert.Equal(t, uint64(2), r.Stats().MemoryFull)
}

// TestMemoryCapDatagramTooLargeAlone checks that a datagram that could not
// fit even alone is dropped without evicting the others.
func TestMemoryCapDatagramTooLargeAlone(t *testing.T) {
	r := New(Config{MaxBytes: 8192})
	small := frag{off: 0, more: true, data: fill(32, 64)}
	require.Equal(t, Pending, add(t, r, key4(1), small, 0).Status)
	before := r.Bytes()

	res := add(t, r, key4(2), frag{off: 0, more: true, data: make([]byte, 8192)}, 0)
	require.Equal(t, Result{Status: Dropped, Reason: MemoryFull}, res)
	assert.Equal(t, 1, r.Len(), "the small datagram stays")
	assert.Equal(t, before, r.Bytes())
	assert.Equal(t, uint64(1), r.Stats().MemoryFull)

	// Not remembered as discarded: memory pressure is not the datagram's
	// fault.
	_, ok := r.table[key4(2)]
	assert.False(t, ok)
}

// TestMaxDatagramsEvictsOldest checks that a new datagram beyond the limit
// evicts the oldest, and that a discarded datagram goes without counting
// again.
func TestMaxDatagramsEvictsOldest(t *testing.T) {
	r := New(Config{MaxDatagrams: 2})
	data := fill(33, 64)
	f := frag{off: 8, more: true, data: data[8:16]}
	require.Equal(t, Pending, add(t, r, key4(1), f, 0).Status)
	require.Equal(t, Pending, add(t, r, key4(2), f, 1).Status)
	require.Equal(t, Pending, add(t, r, key4(3), f, 2).Status)
	assert.Equal(t, 2, r.Len())
	assert.Equal(t, uint64(1), r.Stats().TooManyDatagrams)
	_, ok := r.table[key4(1)]
	assert.False(t, ok)

	// Datagram 2 fails; evicting it later counts nothing more.
	require.Equal(t, Overlap, add(t, r, key4(2), frag{off: 8, more: true, data: data[16:24]}, 3).Reason)
	require.Equal(t, Pending, add(t, r, key4(4), f, 4).Status)
	s := r.Stats()
	assert.Equal(t, uint64(1), s.TooManyDatagrams)
	assert.Equal(t, uint64(2), s.ReasmFails)
	_, ok = r.table[key4(2)]
	assert.False(t, ok)
}
