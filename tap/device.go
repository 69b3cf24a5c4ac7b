package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
)

// Device is an open TAP device; it implements backend.Backend and
// backend.StatsReader.
//
// Memory: every frame comes from the device's pool (Pool). Frames Recv
// returns are lent to the caller, who releases them; frames from Alloc
// belong to the caller until Send accepts them; Send releases what it
// accepted once the kernel has copied it. Received frames longer than
// Caps().BufSize, large GRO frames on the fast path, are chains of two
// buffers.
type Device struct {
	cfg      Config
	caps     backend.Caps
	pool     *backend.Pool
	queues   []*queue
	vnet     bool  // the virtio-net header fast path is on
	refused  error // why auto mode fell back to plain frames
	attached bool  // the device existed before Open
	hostMAC  net.HardwareAddr

	rxSize, rxRoom   int // asked of the pool for a receive head buffer; its data room
	bigSize, bigRoom int // the same for the fast path's overflow buffer; 0 when not needed
	wakeOne          [8]byte

	// held counts the pool buffers the device keeps as receive spares, so
	// Outstanding reports only what the caller has.
	held   atomic.Int64
	closed atomic.Bool
}

// Open opens the TAP device cfg describes: it attaches to an existing TAP
// device of that name, with the flags it was created with and leaving its
// persist flag alone, or creates one that disappears again at Close. It sets
// the MTU, assigns HostAddrs and brings the link up.
//
// Errors name the device and wrap the kernel's errno: a device another
// process holds is "tap NAME: in use by another process" (syscall.EBUSY),
// a caller without CAP_NET_ADMIN gets "tap NAME: permission denied (need
// root or CAP_NET_ADMIN)" (os.ErrPermission), a missing clone device names
// its path (os.ErrNotExist).
func Open(cfg Config) (*Device, error) { return open(cfg, fastOffloads) }

// open is Open asking for offloads on the fast path; tests ask for flags
// the kernel refuses, to see the fallback.
func open(cfg Config, offloads int) (*Device, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	attached, multiQueue, err := probe(&cfg)
	if err != nil {
		return nil, err
	}
	vnet := cfg.Offload != OffloadOff
	fds, name, err := openQueues(&cfg, multiQueue, vnet, offloads)
	var refused *fastPathError
	if errors.As(err, &refused) {
		if cfg.Offload == OffloadOn {
			return nil, refuse(cfg.Name, refused, "%v", refused)
		}
		vnet = false
		fds, name, err = openQueues(&cfg, multiQueue, false, 0)
	}
	if err != nil {
		return nil, err
	}
	d, err := newDevice(&cfg, name, fds, vnet)
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	d.attached = attached
	if refused != nil {
		d.refused = refused
	}
	return d, nil
}

func newDevice(cfg *Config, name string, fds []int, vnet bool) (*Device, error) {
	link, err := configureLink(cfg, name)
	if err != nil {
		return nil, err
	}
	pool, err := backend.NewPool(backend.PoolConfig{Count: cfg.PoolSize, Poison: cfg.Poison})
	if err != nil {
		return nil, refuse(name, err, "%v", err)
	}
	d := &Device{cfg: *cfg, pool: pool, vnet: vnet, hostMAC: link.hostMAC}
	binary.NativeEndian.PutUint64(d.wakeOne[:], 1)
	// A head buffer holds an MTU-sized frame with two VLAN tags; we read
	// into all of its data room, whatever the pool's size class gives.
	d.rxSize = link.mtu + 14 + 8
	if d.rxRoom, err = dataRoom(pool, d.rxSize); err != nil {
		return nil, refuse(name, err, "receive buffers: %v", err)
	}
	if vnet && d.rxRoom < maxFrame {
		d.bigSize = maxFrame - d.rxRoom
		if d.bigRoom, err = dataRoom(pool, d.bigSize); err != nil {
			return nil, refuse(name, err, "receive buffers: %v", err)
		}
	}
	for _, fd := range fds {
		q, err := newQueue(fd)
		if err != nil {
			// Open closes the TAP descriptors; the eventfds are ours.
			for _, q := range d.queues {
				unix.Close(q.efd)
			}
			return nil, refuse(name, err, "eventfd: %v", err)
		}
		d.queues = append(d.queues, q)
	}
	d.caps = backend.Caps{
		Name:    name,
		MAC:     cfg.MAC,
		MTU:     link.mtu,
		Queues:  len(fds),
		BufSize: d.rxRoom,
		Buffers: cfg.PoolSize / len(fds),
	}
	if vnet {
		d.caps.Offloads = backend.Offloads{RxCsum: true, TxCsum: true, TSO: true, TSOMax: 65535, GRO: true}
	}
	// A chain is written with one writev, and segmented in software
	// from where it lies: the stack's memory is as good as the pool's.
	d.caps.Offloads.SG = true
	if len(fds) > 1 {
		// The kernel records the queue a flow last sent on (tun_flow_update)
		// and sends that flow's frames back to it; until it has, by the
		// flow's hash.
		d.caps.Steering = backend.SteerTxQueue
	}
	return d, nil
}

// dataRoom is the data room of the buffers the pool hands out for size.
func dataRoom(pool *backend.Pool, size int) (int, error) {
	f := pool.AllocOne(size)
	if f == nil {
		return 0, errors.New("pool too small for one buffer")
	}
	defer backend.ReleaseOne(f)
	return f.Cap(), nil
}

// Caps implements backend.Backend. BufSize is the data room of a receive
// buffer: longer received frames are chains. Alloc hands out single
// buffers of up to the pool's BufSize.
func (d *Device) Caps() backend.Caps { return d.caps }

// Pool is the device's buffer pool.
func (d *Device) Pool() *backend.Pool { return d.pool }

// HostMAC is the kernel side's Ethernet address: the destination of frames
// for the host.
func (d *Device) HostMAC() net.HardwareAddr { return d.hostMAC }

// Attached reports whether Open attached to a device that existed before,
// which Close leaves in place.
func (d *Device) Attached() bool { return d.attached }

// Offload reports whether the virtio-net header fast path is on (checksum
// offload, TSO and GRO) and, when Config.Offload was auto and the kernel
// refused it, why the device fell back to plain frames.
func (d *Device) Offload() (fast bool, refused error) { return d.vnet, d.refused }

func (d *Device) queue(q int) (*queue, error) {
	if q < 0 || q >= len(d.queues) {
		return nil, backend.ErrQueue
	}
	return d.queues[q], nil
}

func (d *Device) errorf(op string, err error) error {
	return fmt.Errorf("tap %s: %s: %w", d.caps.Name, op, err)
}

// Recv implements backend.Backend: it reads frames until the kernel has no
// more (EAGAIN) or frames is full. A frame cut short by the kernel because
// it outgrew our buffers is dropped and counted in RxDrops.
func (d *Device) Recv(q int, frames []*backend.Frame) (int, error) {
	qu, err := d.queue(q)
	if err != nil {
		return 0, err
	}
	qu.mu.RLock()
	defer qu.mu.RUnlock()
	if d.closed.Load() {
		return 0, backend.ErrClosed
	}
	var (
		n, bytes, held int
		drops          uint64
		now            int64
	)
	for n < len(frames) {
		if len(qu.spares) == 0 {
			got := d.pool.Alloc(qu.spares[:min(len(frames)-n, spareMax)], d.rxSize)
			qu.spares = qu.spares[:got]
			held += got
			if got == 0 {
				qu.stats.allocFails.Add(1)
				break
			}
		}
		if qu.big == nil && d.bigSize > 0 && d.pool.Alloc(qu.bigSlot[:], d.bigSize) == 1 {
			qu.big, qu.bigSlot[0] = qu.bigSlot[0], nil
			held++
		}
		f := qu.spares[len(qu.spares)-1]
		r, e := d.readFrame(qu, f)
		if e != 0 {
			if e == unix.EINTR {
				continue
			}
			switch e {
			case unix.EAGAIN:
			case unix.EBADFD:
				// The device the descriptor was attached to is gone.
				err = d.errorf("read", backend.ErrGone)
			default:
				err = d.errorf("read", e)
			}
			break
		}
		room := d.rxRoom
		if qu.big != nil {
			room += d.bigRoom
		}
		if r < 14 || r > room {
			drops++
			continue
		}
		if r <= d.rxRoom {
			f.SetLen(r)
		} else {
			f.SetLen(d.rxRoom)
			qu.big.SetLen(r - d.rxRoom)
			f.Chain(qu.big)
			qu.big = nil
			held--
		}
		qu.spares = qu.spares[:len(qu.spares)-1]
		held--
		if now == 0 {
			now = d.cfg.Clock.Now()
		}
		f.Meta = backend.Meta{Timestamp: now}
		if d.vnet {
			var h vnetHdr
			h.decode(qu.rxHdr[:])
			h.toMeta(&f.Meta)
		}
		f.Queue = q
		frames[n] = f
		n++
		bytes += r
	}
	if held != 0 {
		d.held.Add(int64(held))
	}
	st := &qu.stats
	if drops > 0 {
		st.rxDrops.Add(drops)
	}
	if n == 0 {
		st.emptyPolls.Add(1)
	} else {
		st.bursts.Add(1)
		st.rxPackets.Add(uint64(n))
		st.rxBytes.Add(uint64(bytes))
	}
	return n, err
}

// readFrame reads one frame into head buffer f and, on the fast path, the
// queue's overflow buffer after it. It returns the frame's length as the
// kernel reports it: longer than the buffers when the kernel cut it short.
func (d *Device) readFrame(qu *queue, f *backend.Frame) (int, unix.Errno) {
	f.SetLen(d.rxRoom)
	head := f.Bytes()
	if !d.vnet {
		return read(qu.fd, head)
	}
	setIovec(&qu.rxIov[1], head)
	iov := qu.rxIov[:2]
	if qu.big != nil {
		qu.big.SetLen(d.bigRoom)
		setIovec(&qu.rxIov[2], qu.big.Bytes())
		iov = qu.rxIov[:3]
	}
	n, e := readv(qu.fd, iov)
	return n - vnetHdrLen, e
}

// Alloc implements backend.Backend.
func (d *Device) Alloc(q int, frames []*backend.Frame, size int) int {
	n := d.pool.Alloc(frames, size)
	for _, f := range frames[:n] {
		f.Queue = q
	}
	if n < len(frames) && q >= 0 && q < len(d.queues) {
		d.queues[q].stats.allocFails.Add(1)
	}
	return n
}

// Send implements backend.Backend. It writes each frame to the kernel and
// stops at the first EAGAIN. A frame the kernel refuses for another reason,
// or that no wire could carry (longer than the MTU without GSO), is
// accepted, dropped and counted in TxDrops. On the fast path partial
// checksums and TCP GSO go to the kernel in the virtio-net header; on the
// plain path, and for GSO the header cannot describe, they are done here in
// software.
func (d *Device) Send(q int, frames []*backend.Frame) (int, error) {
	qu, err := d.queue(q)
	if err != nil {
		return 0, err
	}
	qu.mu.RLock()
	if d.closed.Load() {
		qu.mu.RUnlock()
		return 0, backend.ErrClosed
	}
	var pkts, bytes, drops int
	n := 0
	for ; n < len(frames); n++ {
		p, b, dr, again := d.sendFrame(qu, frames[n])
		if again {
			break
		}
		pkts += p
		bytes += b
		drops += dr
	}
	qu.mu.RUnlock()
	// Released outside the lock: the owner of a frame in the stack's
	// memory (Offloads.SG) may wake the queue, which takes it again.
	backend.Release(frames[:n])
	st := &qu.stats
	if pkts > 0 {
		st.txPackets.Add(uint64(pkts))
		st.txBytes.Add(uint64(bytes))
	}
	if drops > 0 {
		st.txDrops.Add(uint64(drops))
	}
	return n, nil
}

// sendFrame writes f, as one frame or as segments. again means the kernel
// took nothing and the frame stays the caller's.
func (d *Device) sendFrame(qu *queue, f *backend.Frame) (pkts, bytes, drops int, again bool) {
	if f.Len() < 14 || (f.GSO == backend.GSONone && f.Len() > d.caps.MTU+l2Len(f)) {
		return 0, 0, 1, false
	}
	var h vnetHdr
	switch {
	case d.vnet:
		if !h.fromFrame(f) {
			p, b, dr := d.sendSegments(qu, f)
			return p, b, dr, false
		}
		h.encode(qu.txHdr[:])
	case f.GSO != backend.GSONone:
		p, b, dr := d.sendSegments(qu, f)
		return p, b, dr, false
	case f.Csum == backend.CsumPartial:
		if offload.CompleteChecksum(f) != nil {
			return 0, 0, 1, false
		}
	}
	switch e := d.writeFrame(qu, f); e {
	case 0:
		return 1, f.Len(), 0, false
	case unix.EAGAIN:
		return 0, 0, 0, true
	}
	return 0, 0, 1, false
}

// maxSegments bounds software segmentation: a 64 KiB frame cut at 536
// bytes (the smallest IPv4 MSS) needs 123.
const maxSegments = 128

// sendSegments cuts a GSO frame the kernel is not handed as one in
// software. The frame is taken whatever happens; segments the kernel
// refuses are drops.
func (d *Device) sendSegments(qu *queue, f *backend.Frame) (pkts, bytes, drops int) {
	if qu.segs == nil {
		qu.segs = make([]*backend.Frame, maxSegments)
	}
	n, err := offload.Segment(qu.segs, f, d.pool, offload.SegmentOptions{KeepPartial: d.vnet})
	if err != nil {
		return 0, 0, 1
	}
	var h vnetHdr
	for _, s := range qu.segs[:n] {
		if d.vnet {
			h.fromFrame(s)
			h.encode(qu.txHdr[:])
		}
		if e := d.writeFrame(qu, s); e == 0 {
			pkts++
			bytes += s.Len()
		} else {
			drops++
		}
	}
	backend.Release(qu.segs[:n])
	return pkts, bytes, drops
}

// l2Len is the Ethernet header length of f with up to two VLAN tags: an MTU
// limits the IP packet, not the tags in front of it.
func l2Len(f *backend.Frame) int {
	b := f.Bytes()
	n := 14
	for n+4 <= len(b) && n < 22 {
		tpid := binary.BigEndian.Uint16(b[n-2:])
		if tpid != 0x8100 && tpid != 0x88a8 {
			break
		}
		n += 4
	}
	return n
}

// writeFrame hands f (behind the virtio-net header in qu.txHdr on the fast
// path) to the kernel with one writev over the chain's buffers: the kernel
// does the only copy.
func (d *Device) writeFrame(qu *queue, f *backend.Frame) unix.Errno {
	iov := qu.txIov[:0]
	if d.vnet {
		iov = append(iov, unix.Iovec{})
		setIovec(&iov[0], qu.txHdr[:])
	}
	for b := f; b != nil; b = b.Next() {
		p := b.Bytes()
		if len(p) == 0 {
			continue
		}
		if len(iov) == cap(iov) {
			return d.writeLinear(qu, f)
		}
		iov = append(iov, unix.Iovec{})
		setIovec(&iov[len(iov)-1], p)
	}
	for {
		if _, e := writev(qu.fd, iov); e != unix.EINTR {
			return e
		}
	}
}

// writeLinear copies a chain too long for one writev into a scratch buffer
// and writes that.
func (d *Device) writeLinear(qu *queue, f *backend.Frame) unix.Errno {
	if f.Len() > maxFrame {
		return unix.EMSGSIZE
	}
	if qu.lin == nil {
		qu.lin = make([]byte, 0, vnetHdrLen+maxFrame)
	}
	b := qu.lin[:0]
	if d.vnet {
		b = append(b, qu.txHdr[:]...)
	}
	b = f.AppendTo(b)
	for {
		if _, e := write(qu.fd, b); e != unix.EINTR {
			return e
		}
	}
}

// Wait implements backend.Backend: it polls the queue's descriptor and its
// eventfd, with the time left until deadline on the device's clock as the
// timeout. It returns at once when the deadline has passed. A device the
// kernel has taken away (deleted under us) is an error.
func (d *Device) Wait(q int, deadline int64) error {
	qu, err := d.queue(q)
	if err != nil {
		return err
	}
	qu.mu.RLock()
	defer qu.mu.RUnlock()
	if d.closed.Load() {
		return backend.ErrClosed
	}
	var ts *unix.Timespec
	if deadline != 0 {
		left := deadline - d.cfg.Clock.Now()
		if left <= 0 {
			return nil
		}
		qu.ts = unix.NsecToTimespec(left)
		ts = &qu.ts
	}
	qu.pfd[0].Revents, qu.pfd[1].Revents = 0, 0
	if _, err := unix.Ppoll(qu.pfd[:], ts, nil); err != nil {
		if err == unix.EINTR {
			return nil
		}
		return d.errorf("poll", err)
	}
	if qu.pfd[1].Revents != 0 {
		// Drain the counter so the next Wait blocks again; several Wakes
		// before it count as one.
		read(qu.efd, qu.efdIn[:])
	}
	if qu.pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
		return d.errorf("poll", backend.ErrGone)
	}
	return nil
}

// Wake implements backend.Backend.
func (d *Device) Wake(q int) {
	qu, err := d.queue(q)
	if err != nil {
		return
	}
	qu.mu.RLock()
	if !d.closed.Load() {
		write(qu.efd, d.wakeOne[:])
	}
	qu.mu.RUnlock()
}

// Outstanding implements backend.Backend: buffers of the pool the caller
// has (lent by Recv, allocated by Alloc), not the receive buffers the
// device keeps ready.
func (d *Device) Outstanding() int { return d.pool.Outstanding() - int(d.held.Load()) }

// QueueStats implements backend.StatsReader.
func (d *Device) QueueStats(q int) backend.QueueStats {
	qu, err := d.queue(q)
	if err != nil {
		return backend.QueueStats{}
	}
	return qu.stats.snapshot()
}

// Close implements backend.Backend. It wakes any Wait, closes the queues'
// descriptors and returns the receive buffers the device kept. A device
// Open created disappears with its last descriptor; one it attached to
// stays, as persistent as it was. Frames the caller holds may still be
// released after Close.
func (d *Device) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	// Wake first: Close waits for each queue's lock, which a blocked Wait
	// holds until it returns.
	for _, qu := range d.queues {
		write(qu.efd, d.wakeOne[:])
	}
	return d.closeQueues()
}

func (d *Device) closeQueues() error {
	var errs []error
	for _, qu := range d.queues {
		qu.mu.Lock()
		if err := unix.Close(qu.fd); err != nil {
			errs = append(errs, d.errorf("close", err))
		}
		unix.Close(qu.efd)
		n := len(qu.spares)
		backend.Release(qu.spares)
		qu.spares = qu.spares[:0]
		if qu.big != nil {
			backend.ReleaseOne(qu.big)
			qu.big = nil
			n++
		}
		d.held.Add(-int64(n))
		qu.mu.Unlock()
	}
	return errors.Join(errs...)
}
