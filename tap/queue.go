package tap

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

// spareMax bounds the receive buffers a queue allocates ahead: one burst's
// worth, so the pool lock is taken once per burst, not once per frame.
const spareMax = 64

// maxIovecs bounds the buffers of one frame written with one writev; longer
// chains are copied into a scratch buffer first.
const maxIovecs = 64

// maxFrame is the longest frame the kernel hands a TAP queue with offloads
// on: a 64 KiB IP packet behind an Ethernet header with two VLAN tags.
const maxFrame = 65535 + 14 + 8

// queue is one queue pair: a file descriptor attached to the device, the
// eventfd that Wake writes, and the scratch that keeps Recv, Send and Wait
// free of allocation.
type queue struct {
	// mu is held for reading by every call that uses the descriptors and
	// for writing by Close, which so never closes a descriptor another
	// goroutine is in a system call on (its number could be reused).
	mu  sync.RWMutex
	fd  int // the TAP queue, O_NONBLOCK
	efd int // eventfd written by Wake

	// spares are receive head buffers allocated ahead; the last one is the
	// next to read into. big is the overflow buffer of the fast path: a
	// frame longer than a head buffer continues in it and the two become a
	// chain, so large GRO frames cost one 64 KiB buffer and no copy.
	spares  []*backend.Frame
	big     *backend.Frame
	bigSlot [1]*backend.Frame

	rxHdr [vnetHdrLen]byte
	txHdr [vnetHdrLen]byte
	rxIov [3]unix.Iovec
	txIov []unix.Iovec
	pfd   [2]unix.PollFd
	ts    unix.Timespec
	efdIn [8]byte

	lin  []byte           // linearised long chains, made on first need
	segs []*backend.Frame // software segmentation, made on first need

	stats counters
}

// counters are a queue's statistics: written by the queue's goroutine, read
// from any.
type counters struct {
	rxPackets, rxBytes atomic.Uint64
	txPackets, txBytes atomic.Uint64
	rxDrops, txDrops   atomic.Uint64
	emptyPolls, bursts atomic.Uint64
	allocFails         atomic.Uint64
	_                  [64]byte // keep the next queue's hot fields off this line
}

func (c *counters) snapshot() backend.QueueStats {
	return backend.QueueStats{
		RxPackets:  c.rxPackets.Load(),
		RxBytes:    c.rxBytes.Load(),
		TxPackets:  c.txPackets.Load(),
		TxBytes:    c.txBytes.Load(),
		RxDrops:    c.rxDrops.Load(),
		TxDrops:    c.txDrops.Load(),
		EmptyPolls: c.emptyPolls.Load(),
		Bursts:     c.bursts.Load(),
		AllocFails: c.allocFails.Load(),
	}
}

func newQueue(fd int) (*queue, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	q := &queue{
		fd:     fd,
		efd:    efd,
		spares: make([]*backend.Frame, 0, spareMax),
		txIov:  make([]unix.Iovec, 0, maxIovecs+1),
	}
	q.rxIov[0].Base = &q.rxHdr[0]
	q.rxIov[0].SetLen(vnetHdrLen)
	q.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	q.pfd[1] = unix.PollFd{Fd: int32(efd), Events: unix.POLLIN}
	return q, nil
}

// setIovec points v at b, which must not be empty.
func setIovec(v *unix.Iovec, b []byte) {
	v.Base = &b[0]
	v.SetLen(len(b))
}

// readv and writev call the kernel directly on the descriptor: os.File
// would go through the runtime poller, which we do not want (Wait polls),
// and unix.Readv builds its iovec slice on every call. They return the
// errno unboxed, so the hot path compares numbers, not interfaces.
func readv(fd int, iov []unix.Iovec) (int, unix.Errno) {
	n, _, e := unix.Syscall(unix.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	return int(n), e
}

func writev(fd int, iov []unix.Iovec) (int, unix.Errno) {
	n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	return int(n), e
}

func read(fd int, b []byte) (int, unix.Errno) {
	n, _, e := unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

func write(fd int, b []byte) (int, unix.Errno) {
	n, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}
