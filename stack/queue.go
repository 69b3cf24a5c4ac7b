package stack

import (
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/reasm"
	"github.com/ustack/ustack/stack/internal/ring"
	"github.com/ustack/ustack/stack/internal/timer"
	"github.com/ustack/ustack/stack/tcp/isn"
	"github.com/ustack/ustack/stack/wire"
)

// burst is how many frames a queue receives or sends per backend call.
const burst = 64

// queue is the deterministic core of one queue: it owns its sockets,
// timers and counters, and only its loop touches them. Poll drives it with
// explicit time; it never blocks, locks or reads the wall clock (the
// command list and ready list it drains are filled by other goroutines
// without blocking it).
type queue struct {
	s   *Stack
	id  int
	now int64
	log *slog.Logger
	rng *rand.Rand

	sh       atomic.Pointer[shared]
	timers   timer.Heap
	counters Counters
	arp      *arpCache
	nd       *ndp
	reasm    *reasm.Reassembler
	reasm6   *reasm.Reassembler
	udp      udpTable
	tcp      tcpTable
	isn      isn.Generator
	seg      segment
	ackList  []*tcpConn
	// challenge limits RFC 5961 challenge ACKs (Linux: 1000/s).
	challenge   icmpLimiter
	portCounter uint32
	pmtu        pmtuCache
	icmp        icmpLimiter
	limits      limitLog
	ipID        uint16

	rx [burst]*backend.Frame
	// rxFull is, per interface, the most frames one Recv has given: a
	// burst that long is full, and more frames are likely waiting.
	rxFull []int
	one    [1]*backend.Frame
	tx     [][]*backend.Frame // per interface: frames to send this turn
	lin    []byte             // scratch: a chained frame made contiguous
	// gather is the chain being received when lin holds only its
	// headers (input, rxWrite).
	gather *backend.Frame

	// Scratch space for building packets and ring records.
	l4hdr [64]byte
	// ipOpts is scratch for the options an echo reply returns.
	ipOpts  [ipOptMaxLen]byte
	quote   []byte
	txHdr   [recHdrLen]byte
	reasmT  timer.Timer
	reasm6T timer.Timer
	whole6  []byte // a reassembled IPv6 packet

	// Frames between queues: inbox[i] is the ring from queue i (nil for
	// this queue); wakeNext marks the queues this turn passed frames to.
	inbox    []*handoffRing
	wakeNext []bool
	// cur is the frame being received from a device (nil for a
	// reassembled datagram or a frame passed here), and curIfc its
	// interface; taken says it was passed to another queue.
	cur    *backend.Frame
	curIfc *iface
	taken  bool
	// neighDirty: queue 0's neighbour caches changed this turn.
	neighDirty bool

	ready  readyList
	sg     sgFrames     // frames sent by reference (Offloads.SG)
	held   atomic.Int64 // buffers connections hold received data in (tcp_hold.go)
	cmdMu  sync.Mutex
	cmds   []func(q *queue)
	hasCmd atomic.Bool
}

func (q *queue) shared() *shared { return q.sh.Load() }

// poll runs one turn of the queue at time now: commands from applications,
// received frames, sockets with data to send, due timers, then one
// transmit flush per interface. It returns the next instant it needs to run
// (0: only when frames arrive or it is woken).
func (q *queue) poll(now int64) int64 {
	if now > q.now {
		q.now = now
	}
	q.runCommands()
	multi := q.s.multiQueue()
	if multi {
		q.takeHandoffs()
	}
	sh := q.shared()
	behind := false
	for _, ifc := range sh.ifaces {
		behind = q.receive(ifc, 4) || behind
	}
	q.tcp.overload(behind)
	q.ready.drain(q)
	q.timers.Run(q.now)
	q.flush()
	// Loopback traffic is received in the same turn, a bounded number of
	// times so two sockets talking to each other cannot starve the wire.
	lo := sh.lo.be.(*loopback)
	for i := 0; i < 8 && lo.pending(q.id); i++ {
		q.receive(sh.lo, 1)
		q.ready.drain(q)
		q.flush()
	}
	if multi {
		if q.id == 0 {
			q.publishNeighbors()
		}
		q.wakeOthers()
		if q.handoffsPending() {
			return q.now
		}
	}
	if lo.pending(q.id) || q.hasCmd.Load() {
		return q.now
	}
	next, ok := q.timers.Next()
	if !ok {
		return 0
	}
	return next
}

// receive takes up to bursts bursts from ifc and runs them through the
// stack. Frames are released at the end of the burst: whatever the stack
// keeps, it has copied. It reports whether every burst was full, so that
// frames are likely still waiting on the device.
func (q *queue) receive(ifc *iface, bursts int) bool {
	for range bursts {
		n, err := ifc.be.Recv(q.id, q.rx[:])
		if err != nil || n == 0 {
			return false
		}
		full := &q.rxFull[ifc.idx]
		*full = max(*full, n)
		q.counters.Link.InFrames += uint64(n)
		for i, f := range q.rx[:n] {
			q.cur, q.curIfc, q.taken = f, ifc, false
			q.input(ifc, f)
			if q.taken {
				q.rx[i] = nil
			}
		}
		q.cur, q.curIfc = nil, nil
		// One ACK per connection for the whole burst.
		q.flushAcks()
		backend.Release(q.rx[:n])
		if n < *full {
			return false
		}
	}
	return true
}

// input handles one received Ethernet frame.
func (q *queue) input(ifc *iface, f *backend.Frame) {
	if f.Next() == nil {
		q.inputBytes(ifc, f, f.Bytes())
		return
	}
	if !gatherable(f) {
		q.inputBytes(ifc, f, q.linearize(f))
		return
	}
	// Only TCP's data placement reads past the headers, and it reads
	// from the chain (rxWrite): the payload is copied once, into the
	// receive ring.
	q.lin = append(q.lin[:0], f.Bytes()...)
	q.lin = slices.Grow(q.lin, f.Len()-len(q.lin))[:f.Len()]
	q.gather = f
	q.inputBytes(ifc, f, q.lin)
	q.gather = nil
}

// gatherable says whether f, a chain, is an unfragmented TCP segment
// whose headers all lie in its first buffer and whose checksums are good:
// the stack then reads nothing past its headers but the payload TCP places
// in a receive ring. Checksums the device did not vouch for are checked
// here, over the chain, and the frame is marked CsumVerified when they are
// good; with a bad one the frame takes the ordinary path, which counts it.
func gatherable(f *backend.Frame) bool {
	h := f.Bytes()
	if len(h) < wire.EthernetHeaderLen {
		return false
	}
	var src, dst []byte
	var proto uint8
	l4, l4len := wire.EthernetHeaderLen, 0
	switch wire.Ethernet(h).EtherType() {
	case wire.EtherTypeIPv4:
		ip := wire.IPv4(h[l4:])
		if len(ip) < wire.IPv4HeaderLen || len(ip) < ip.HeaderLen() || ip.IsFragment() {
			return false
		}
		if !verified(f) && !ip.VerifyChecksum() {
			return false
		}
		src, dst, proto = ip.Src(), ip.Dst(), ip.Protocol()
		l4len = int(ip.TotalLen()) - ip.HeaderLen()
		l4 += ip.HeaderLen()
	case wire.EtherTypeIPv6:
		ip := wire.IPv6(h[l4:])
		if len(ip) < wire.IPv6HeaderLen {
			return false
		}
		src, dst, proto = ip.Src(), ip.Dst(), ip.NextHeader()
		l4len = int(ip.PayloadLen())
		l4 += wire.IPv6HeaderLen
	default:
		return false
	}
	if proto != wire.IPProtoTCP || len(h) < l4+wire.TCPHeaderLen || len(h) < l4+wire.TCP(h[l4:]).DataOffset() {
		return false
	}
	if verified(f) {
		return true
	}
	if f.Csum != backend.CsumNone || f.Len() != l4+l4len {
		return false
	}
	if wire.Fold(frameSum(f, l4, wire.PseudoHeaderSum(src, dst, wire.IPProtoTCP, l4len))) != 0xffff {
		return false
	}
	f.Csum = backend.CsumVerified
	return true
}

// rxWrite writes data, a view into the packet being received, into rb at
// off and returns how many bytes fit. For a chain made contiguous only as
// far as its headers (gatherable), the bytes come from the chain.
func (q *queue) rxWrite(rb *ring.Bytes, data []byte, off int) int {
	f := q.gather
	if f == nil || len(data) == 0 {
		return rb.WriteAt(data, off)
	}
	pos := offsetIn(q.lin, data)
	done := 0
	for b := f; b != nil && done < len(data); b = b.Next() {
		p := b.Bytes()
		if pos >= len(p) {
			pos -= len(p)
			continue
		}
		p = p[pos:min(len(p), pos+len(data)-done)]
		pos = 0
		k := rb.WriteAt(p, off+done)
		done += k
		if k < len(p) {
			break
		}
	}
	return done
}

// offsetIn is where data, a view into base however it was resliced,
// starts in base.
func offsetIn(base, data []byte) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(data))) - uintptr(unsafe.Pointer(unsafe.SliceData(base))))
}

// inputBytes handles a received Ethernet frame f whose bytes are b.
func (q *queue) inputBytes(ifc *iface, f *backend.Frame, b []byte) {
	eth := wire.Ethernet(b)
	if eth.Check() != nil {
		q.counters.Link.InTruncated++
		return
	}
	l2, err := eth.L2()
	if err != nil {
		q.counters.Link.InTruncated++
		return
	}
	if (l2.NumTags > 0 && !(l2.NumTags == 1 && l2.Tags[0].ID() == 0)) || (f.HasVLAN && f.VLAN&0x0fff != 0) {
		// The stack is on untagged networks only; tagged frames are for
		// someone else. Priority-tagged frames (VLAN 0) are untagged
		// frames with a priority (IEEE 802.1Q §6.9.1).
		q.counters.Link.InVLANDrops++
		return
	}
	dst := eth.Dst()
	if dst != ifc.mac && !dst.IsMulticast() && !ifc.loopback {
		q.counters.Link.InOtherHost++
		return
	}
	payload := b[l2.HeaderLen:]
	switch l2.EtherType {
	case wire.EtherTypeIPv4:
		q.ipv4Input(ifc, f, payload, dst.IsMulticast())
	case wire.EtherTypeIPv6:
		q.ipv6Input(ifc, f, payload, dst.IsMulticast())
	case wire.EtherTypeARP:
		// Queue 0 owns the ARP cache.
		if !ifc.loopback && !q.handOff(0) {
			q.arpInput(ifc, payload)
		}
	default:
		q.counters.Link.InUnknownTypes++
	}
}

// linearize copies a chained frame into the queue's scratch buffer.
func (q *queue) linearize(f *backend.Frame) []byte {
	if cap(q.lin) < f.Len() {
		q.lin = make([]byte, f.Len())
	}
	q.lin = q.lin[:f.Len()]
	f.CopyTo(q.lin, 0)
	return q.lin
}

// alloc gets one frame able to hold size bytes for sending on ifc.
func (q *queue) alloc(ifc *iface, size int) *backend.Frame {
	if ifc.be.Alloc(q.id, q.one[:], size) == 0 {
		q.counters.Link.OutAllocFails++
		return nil
	}
	f := q.one[0]
	q.one[0] = nil
	return f
}

// sendTo fills in the destination MAC of f and queues it on ifc.
func (q *queue) sendTo(ifc *iface, dst wire.MAC, f *backend.Frame) {
	wire.Ethernet(f.Bytes()).SetDst(dst)
	q.queueTx(ifc, f)
}

// queueTx adds f to ifc's frames for this turn's flush, flushing early when
// a burst is full.
func (q *queue) queueTx(ifc *iface, f *backend.Frame) {
	q.tx[ifc.idx] = append(q.tx[ifc.idx], f)
	if len(q.tx[ifc.idx]) >= burst {
		q.flushIface(ifc)
	}
}

// flush sends every interface's queued frames: one backend call per burst.
func (q *queue) flush() {
	sh := q.shared()
	for _, ifc := range sh.ifaces {
		q.flushIface(ifc)
	}
	q.flushIface(sh.lo)
}

func (q *queue) flushIface(ifc *iface) {
	frames := q.tx[ifc.idx]
	for len(frames) > 0 {
		n, err := ifc.be.Send(q.id, frames)
		q.counters.Link.OutFrames += uint64(n)
		frames = frames[n:]
		if n == 0 || err != nil {
			// The device is full: drop rather than hold buffers across
			// turns; TCP retransmits and UDP is unreliable.
			q.counters.Link.OutDrops += uint64(len(frames))
			backend.Release(frames)
			break
		}
	}
	q.tx[ifc.idx] = q.tx[ifc.idx][:0]
}

// runCommands runs what applications asked of the queue.
func (q *queue) runCommands() {
	if !q.hasCmd.Load() {
		return
	}
	q.cmdMu.Lock()
	cmds := q.cmds
	q.cmds = nil
	q.hasCmd.Store(false)
	q.cmdMu.Unlock()
	for _, c := range cmds {
		c(q)
	}
}

// post queues fn to run on the queue's loop and wakes it.
func (q *queue) post(fn func(q *queue)) {
	q.cmdMu.Lock()
	q.cmds = append(q.cmds, fn)
	q.hasCmd.Store(true)
	q.cmdMu.Unlock()
	q.s.wake(q)
}

// close releases everything the queue holds.
func (q *queue) close() {
	q.runCommands()
	// Connections first: the resets they send may wait on a resolution,
	// which the neighbour cache then releases.
	q.tcp.closeAll(q)
	q.udp.closeAll(q)
	if q.id == 0 {
		q.arp.close()
		q.nd.close()
	}
	for _, r := range q.inbox {
		if r == nil {
			continue
		}
		for {
			h, ok := r.pop()
			if !ok {
				break
			}
			backend.ReleaseOne(h.f)
		}
	}
	for i := range q.tx {
		backend.Release(q.tx[i])
		q.tx[i] = nil
	}
}

// readyList is a lock-free list of sockets that have work for the loop
// (data to send). Applications push; the loop takes the whole list at once.
type readyList struct {
	head atomic.Pointer[readyNode]
}

// readyNode is embedded in every socket.
type readyNode struct {
	next   *readyNode
	queued atomic.Bool
	owner  readyHandler
}

type readyHandler interface {
	onReady(q *queue)
}

// push adds n unless it is already on the list.
func (l *readyList) push(n *readyNode) bool {
	if !n.queued.CompareAndSwap(false, true) {
		return false
	}
	for {
		old := l.head.Load()
		n.next = old
		if l.head.CompareAndSwap(old, n) {
			return true
		}
	}
}

// drain runs every queued socket's work, in the order they were queued.
func (l *readyList) drain(q *queue) {
	h := l.head.Swap(nil)
	if h == nil {
		return
	}
	var rev *readyNode
	for h != nil {
		next := h.next
		h.next = rev
		rev = h
		h = next
	}
	for n := rev; n != nil; {
		next := n.next
		n.next = nil
		n.queued.Store(false)
		n.owner.onReady(q)
		n = next
	}
}
