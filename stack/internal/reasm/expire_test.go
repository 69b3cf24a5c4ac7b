package reasm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExpire steps time explicitly: nothing at timeout-1, the datagram at
// timeout, with the header of its first fragment only if that arrived
// (RFC 792; RFC 8200 §4.5).
func TestExpire(t *testing.T) {
	payload := fill(20, 4000)
	fs := split(payload, 1480)
	tests := []struct {
		name    string
		cfg     Config
		frags   []frag
		first   bool
		timeout int64
	}{
		{"v4 first fragment arrived", IPv4Config(), fs[:1], true, 30 * sec},
		{"v4 first and last arrived", IPv4Config(), []frag{fs[2], fs[0]}, true, 30 * sec},
		{"v4 first fragment missing", IPv4Config(), fs[1:], false, 30 * sec},
		{"v6 first fragment arrived", IPv6Config(), fs[:2], true, 60 * sec},
		{"v6 first fragment missing", IPv6Config(), fs[2:], false, 60 * sec},
		{"custom timeout", Config{Timeout: 5 * time.Second}, fs[1:2], false, 5 * sec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.cfg)
			k := key4(77)
			_, ok := r.NextDeadline()
			require.False(t, ok)

			// The first fragment at time 0 starts the timer; later ones
			// do not extend it.
			for i, f := range tt.frags {
				require.Equal(t, Pending, add(t, r, k, f, int64(i)*sec).Status)
			}
			deadline, ok := r.NextDeadline()
			require.True(t, ok)
			require.Equal(t, tt.timeout, deadline)

			assert.Zero(t, r.Expire(0, func(Expired) { t.Fatal("expired at time 0") }))
			assert.Zero(t, r.Expire(tt.timeout-1, func(Expired) { t.Fatal("expired at timeout-1") }))
			require.Equal(t, 1, r.Len())

			var got []Expired
			n := r.Expire(tt.timeout, func(e Expired) {
				// Copy: the slices are valid only during the callback.
				e.Header = clone(e.Header)
				e.Data = clone(e.Data)
				got = append(got, e)
			})
			require.Equal(t, 1, n)
			want := Expired{Key: k, First: tt.first}
			if tt.first {
				want.Header = header(k)
				want.Data = fs[0].data
			}
			require.Equal(t, []Expired{want}, got)
			require.NoError(t, r.check())

			assert.Zero(t, r.Len())
			assert.Zero(t, r.Bytes())
			_, ok = r.NextDeadline()
			assert.False(t, ok)
			s := r.Stats()
			assert.Equal(t, uint64(1), s.Timeouts)
			assert.Equal(t, uint64(1), s.ReasmFails)
		})
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// TestExpireOrder checks that datagrams expire oldest first and only when
// due, and that NextDeadline follows.
func TestExpireOrder(t *testing.T) {
	r := New(Config{Timeout: 10 * time.Second})
	data := fill(21, 16)
	for i := range 5 {
		require.Equal(t, Pending, add(t, r, key4(uint32(i)), frag{off: 8, data: data}, int64(i)*sec).Status)
	}
	var ids []uint32
	collect := func(e Expired) { ids = append(ids, e.Key.ID) }

	assert.Equal(t, 2, r.Expire(11*sec, collect))
	assert.Equal(t, []uint32{0, 1}, ids)
	deadline, ok := r.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, 12*sec, deadline)

	assert.Equal(t, 3, r.Expire(100*sec, collect))
	assert.Equal(t, []uint32{0, 1, 2, 3, 4}, ids)
	assert.Zero(t, r.Len())
	assert.Zero(t, r.Bytes())
}

// TestExpireNilCallback checks that Expire without a callback still counts.
func TestExpireNilCallback(t *testing.T) {
	r := New(Config{})
	require.Equal(t, Pending, add(t, r, key4(1), frag{off: 0, more: true, data: make([]byte, 8)}, 0).Status)
	assert.Equal(t, 1, r.Expire(30*sec, nil))
	assert.Equal(t, uint64(1), r.Stats().Timeouts)
}
