package stack

import (
	"net"

	"github.com/ustack/ustack/backend"
)

// loopback is the backend of the loopback interface: what a queue sends on
// it, the same queue receives on its next turn. Only the owning queue's loop
// touches it, so it needs no lock.
type loopback struct {
	pool  *backend.Pool
	queue []*backend.Frame
	head  int
}

// loopbackMTU is the loopback interface's MTU, as Linux's lo.
const loopbackMTU = 65536 - 14

func newLoopback() *loopback {
	pool, _ := backend.NewPool(backend.PoolConfig{Count: 4096})
	return &loopback{pool: pool}
}

func (l *loopback) Caps() backend.Caps {
	return backend.Caps{
		Name:     "lo",
		MAC:      net.HardwareAddr{0, 0, 0, 0, 0, 0},
		MTU:      loopbackMTU,
		Queues:   1,
		BufSize:  l.pool.BufSize(),
		Offloads: backend.Offloads{RxCsum: true, TxCsum: true},
	}
}

func (l *loopback) Recv(_ int, frames []*backend.Frame) (int, error) {
	n := copy(frames, l.queue[l.head:])
	clear(l.queue[l.head : l.head+n])
	l.head += n
	if l.head == len(l.queue) {
		l.queue, l.head = l.queue[:0], 0
	}
	return n, nil
}

func (l *loopback) Alloc(_ int, frames []*backend.Frame, size int) int {
	return l.pool.Alloc(frames, size)
}

func (l *loopback) Send(_ int, frames []*backend.Frame) (int, error) {
	l.queue = append(l.queue, frames...)
	clear(frames)
	return len(frames), nil
}

func (l *loopback) pending() bool { return l.head < len(l.queue) }

func (l *loopback) Wait(int, int64) error { return nil }
func (l *loopback) Wake(int)              {}
func (l *loopback) Outstanding() int      { return l.pool.Outstanding() }

func (l *loopback) Close() error {
	backend.Release(l.queue[l.head:])
	l.queue, l.head = nil, 0
	return nil
}
