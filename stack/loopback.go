package stack

import (
	"net"

	"github.com/ustack/ustack/backend"
)

// loopback is the backend of the loopback interface: what a queue sends on
// it, the same queue receives on its next turn. Each queue has its own
// FIFO, touched by that queue's loop only, so it needs no lock; the pool is
// shared and locks itself.
type loopback struct {
	pool   *backend.Pool
	queues []loFIFO
}

type loFIFO struct {
	frames []*backend.Frame
	head   int
}

// loopbackMTU is the loopback interface's MTU, as Linux's lo.
const loopbackMTU = 65536 - 14

// loopbackBuffers is the size of the loopback's pool, which its queues
// share.
const loopbackBuffers = 4096

// poisonLoopback makes the loopback's pool fill released buffers with
// backend.PoisonByte, as the pipes' do in tests: the stack's tests set it,
// so that a held frame read after its release shows.
var poisonLoopback bool

func newLoopback(queues int) *loopback {
	pool, _ := backend.NewPool(backend.PoolConfig{Count: loopbackBuffers, Poison: poisonLoopback})
	return &loopback{pool: pool, queues: make([]loFIFO, queues)}
}

func (l *loopback) Caps() backend.Caps {
	return backend.Caps{
		Name:     "lo",
		MAC:      net.HardwareAddr{0, 0, 0, 0, 0, 0},
		MTU:      loopbackMTU,
		Queues:   len(l.queues),
		BufSize:  l.pool.BufSize(),
		Buffers:  loopbackBuffers / len(l.queues),
		Offloads: backend.Offloads{RxCsum: true, TxCsum: true},
	}
}

func (l *loopback) Recv(q int, frames []*backend.Frame) (int, error) {
	lq := &l.queues[q]
	n := copy(frames, lq.frames[lq.head:])
	clear(lq.frames[lq.head : lq.head+n])
	lq.head += n
	if lq.head == len(lq.frames) {
		lq.frames, lq.head = lq.frames[:0], 0
	}
	return n, nil
}

func (l *loopback) Alloc(_ int, frames []*backend.Frame, size int) int {
	return l.pool.Alloc(frames, size)
}

func (l *loopback) Send(q int, frames []*backend.Frame) (int, error) {
	lq := &l.queues[q]
	lq.frames = append(lq.frames, frames...)
	clear(frames)
	return len(frames), nil
}

func (l *loopback) pending(q int) bool { return l.queues[q].head < len(l.queues[q].frames) }

func (l *loopback) Wait(int, int64) error { return nil }
func (l *loopback) Wake(int)              {}
func (l *loopback) Outstanding() int      { return l.pool.Outstanding() }

func (l *loopback) Close() error {
	for i := range l.queues {
		lq := &l.queues[i]
		backend.Release(lq.frames[lq.head:])
		lq.frames, lq.head = nil, 0
	}
	return nil
}
