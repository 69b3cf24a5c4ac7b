package timer

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type owner struct {
	Timer
	id  int
	log *[]int
}

func (o *owner) OnTimer(_ *Timer, _ int64) { *o.log = append(*o.log, o.id) }

func newOwners(n int, log *[]int) []*owner {
	os := make([]*owner, n)
	for i := range os {
		os[i] = &owner{id: i, log: log}
		os[i].Handler = os[i]
	}
	return os
}

func TestHeapFiresInTimeThenScheduleOrder(t *testing.T) {
	var log []int
	os := newOwners(4, &log)
	var h Heap
	h.Schedule(&os[0].Timer, 30)
	h.Schedule(&os[1].Timer, 10)
	h.Schedule(&os[2].Timer, 10)
	h.Schedule(&os[3].Timer, 20)
	next, ok := h.Next()
	require.True(t, ok)
	assert.Equal(t, int64(10), next)
	assert.Equal(t, 0, h.Run(9))
	assert.Equal(t, 3, h.Run(20))
	assert.Equal(t, []int{1, 2, 3}, log)
	assert.True(t, os[0].Pending())
	assert.False(t, os[1].Pending())
	assert.Equal(t, 1, h.Run(100))
	assert.Equal(t, 0, h.Len())
}

func TestHeapRescheduleAndCancel(t *testing.T) {
	var log []int
	os := newOwners(3, &log)
	var h Heap
	h.Schedule(&os[0].Timer, 10)
	h.Schedule(&os[1].Timer, 20)
	h.Schedule(&os[2].Timer, 30)
	h.Schedule(&os[0].Timer, 40)
	h.Cancel(&os[1].Timer)
	h.Cancel(&os[1].Timer)
	h.Run(100)
	assert.Equal(t, []int{2, 0}, log)
}

func TestHeapMatchesSortUnderRandomOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var log []int
	os := newOwners(200, &log)
	var h Heap
	want := map[int]int64{}
	for range 5000 {
		o := os[rng.IntN(len(os))]
		if rng.IntN(3) == 0 {
			h.Cancel(&o.Timer)
			delete(want, o.id)
		} else {
			w := int64(rng.IntN(1000))
			h.Schedule(&o.Timer, w)
			want[o.id] = w
		}
	}
	require.Equal(t, len(want), h.Len())
	last := int64(-1)
	for h.Len() > 0 {
		next, _ := h.Next()
		require.GreaterOrEqual(t, next, last)
		last = next
		before := len(log)
		h.Run(next)
		for _, id := range log[before:] {
			require.Equal(t, want[id], next)
		}
	}
	assert.Len(t, log, len(want))
}
