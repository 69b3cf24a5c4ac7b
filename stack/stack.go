// Package stack is ustack's TCP/IP stack: a deterministic core per queue
// over the backend contract, and the runtime that drives it and gives
// applications net.Conn, net.Listener and net.PacketConn.
package stack

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/internal/reasm"
	"github.com/ustack/ustack/stack/tcp/isn"
	"github.com/ustack/ustack/stack/wire"
)

// Stack is a TCP/IP stack over one or more backends. It runs a loop per
// backend queue; each TCP connection belongs to the queue its device
// steers it to, and queue 0 owns what the queues share (interfaces,
// addresses, routes, neighbours).
type Stack struct {
	cfg    Config
	clock  backend.Clock
	log    *slog.Logger
	ifaces []*iface
	lo     *iface
	queues []*queue
	// flows and neigh are what queues share when there are several:
	// which queue owns each TCP connection, and queue 0's neighbours.
	flows     flowTable
	neigh     atomic.Pointer[neighSnapshot]
	nextQueue atomic.Uint64

	closing atomic.Bool
	// bufMem is the TCP buffer memory in use (Limits.BufferMemory);
	// stored is the memory the rings' stores hold (BufferStored).
	bufMem, stored atomic.Int64
	// pollMu serialises Poll with API calls on a Manual stack.
	pollMu sync.Mutex
	closed chan struct{}
	wg     sync.WaitGroup
	// wakeCh wakes a loop that waits on several backends, or on none
	// once its device is gone.
	wakeCh []chan struct{}
	// failed is closed, once, when a device has gone away; failErr says
	// which (see Failed).
	failed   chan struct{}
	failOnce sync.Once
	failErr  error
}

// New makes a stack and, unless cfg.Manual, starts its loops: one per
// queue of the backends, which must all have as many.
func New(cfg Config) (*Stack, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		if _, err := crand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("stack: seed: %w", err)
		}
		seed = binary.LittleEndian.Uint64(b[:])
	}
	s := &Stack{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, closed: make(chan struct{}), failed: make(chan struct{})}
	addrs := make([][]netip.Prefix, len(cfg.Interfaces))
	for i, ic := range cfg.Interfaces {
		caps := ic.Backend.Caps()
		ifc := &iface{idx: i, name: ic.Name, be: ic.Backend, caps: caps, mtu: caps.MTU}
		if ic.MTU > 0 && ic.MTU < ifc.mtu {
			ifc.mtu = ic.MTU
		}
		mac := caps.MAC
		if ic.MAC != nil {
			mac = ic.MAC
		}
		if len(mac) != 6 {
			return nil, fmt.Errorf("stack: interface %s: backend has no Ethernet address", ic.Name)
		}
		ifc.mac = wire.MAC(mac)
		ifc.rxCsum = caps.Offloads.RxCsum
		ifc.txCsum = caps.Offloads.TxCsum
		ifc.sg = caps.Offloads.SG
		ifc.holdMax = holdLimit(caps.Buffers)
		if caps.Offloads.TSO {
			ifc.tsoMax = caps.Offloads.TSOMax
		}
		for _, p := range ic.Addrs {
			addrs[i] = append(addrs[i], netip.PrefixFrom(p.Addr().Unmap(), p.Bits()))
		}
		s.ifaces = append(s.ifaces, ifc)
	}
	nq := max(s.ifaces[0].caps.Queues, 1)
	for _, ifc := range s.ifaces[1:] {
		if n := max(ifc.caps.Queues, 1); n != nq {
			return nil, fmt.Errorf("stack: interface %s has %d queues and %s %d: every interface needs as many", ifc.name, n, s.ifaces[0].name, nq)
		}
	}
	s.lo = &iface{idx: len(s.ifaces), name: "lo", be: newLoopback(nq), mtu: loopbackMTU, loopback: true, rxCsum: true, txCsum: true}
	s.lo.caps = s.lo.be.Caps()
	s.lo.holdMax = holdLimit(s.lo.caps.Buffers)
	// IPv6 addresses join the shared state once in use (ndp.publish).
	addrs4 := make([][]netip.Prefix, len(addrs))
	for i, ps := range addrs {
		for _, p := range ps {
			if p.Addr().Is4() {
				addrs4[i] = append(addrs4[i], p)
			}
		}
	}
	sh := newShared(s.ifaces, s.lo, addrs4, cfg.Routes)
	s.flows.owners = map[connKey]int{}
	for id := range nq {
		q := s.newQueue(id, seed, sh)
		s.queues = append(s.queues, q)
		s.wakeCh = append(s.wakeCh, make(chan struct{}, 1))
	}
	for _, q := range s.queues {
		q.inbox = make([]*handoffRing, nq)
		for from := range nq {
			if from != q.id {
				q.inbox[from] = &handoffRing{}
			}
		}
		q.wakeNext = make([]bool, nq)
	}
	// Queue 0 owns the neighbour caches and the addresses.
	q := s.queues[0]
	q.arp = newARPCache(q, &s.cfg.ARP)
	q.nd = newNDP(q, &s.cfg.IPv6, seed, s.ifaces, addrs)
	for i, ic := range cfg.Interfaces {
		for _, n := range ic.Neighbors {
			if n.Addr.Is4() || n.Addr.Is4In6() {
				q.arp.addStatic(s.ifaces[i], n.Addr.Unmap(), wire.MAC(n.MAC))
			} else {
				q.nd.addStatic(s.ifaces[i], n.Addr.WithZone(""), wire.MAC(n.MAC))
			}
		}
	}
	if s.multiQueue() {
		q.publishNeighbors()
	}
	for _, ifc := range s.ifaces {
		q.announce(ifc)
	}
	for _, ifc := range s.ifaces {
		for _, p := range addrs[ifc.idx] {
			if p.Addr().Is4() {
				s.log.Info("address up", "addr", p, "source", "static", "iface", ifc.name)
			}
		}
	}
	// IPv6 addresses are up once found unique (RFC 4862 §5.4).
	q.nd.start()
	if !cfg.Manual {
		for _, q := range s.queues {
			s.wg.Add(1)
			go s.run(q)
		}
	}
	return s, nil
}

// newQueue makes queue id. Queue 0 draws from the seed as a stack of one
// queue always has; the others from streams of their own.
func (s *Stack) newQueue(id int, seed uint64, sh *shared) *queue {
	cfg := &s.cfg
	q := &queue{
		s:   s,
		id:  id,
		now: s.clock.Now(),
		log: s.log,
		rng: rand.New(rand.NewPCG(seed, 0x75737461636b+uint64(id))),
		tx:  make([][]*backend.Frame, len(s.ifaces)+1),
		// A device may give fewer frames per Recv than asked for
		// (DPDK: its burst size): receive learns how many make a full
		// burst.
		rxFull: make([]int, len(s.ifaces)+1),
		reasm: reasm.New(reasm.Config{
			Timeout:      cfg.Reassembly.Timeout,
			MaxDatagram:  65535 - wire.IPv4HeaderLen,
			MaxBytes:     cfg.Reassembly.MaxBytes,
			MaxDatagrams: cfg.Reassembly.MaxDatagrams,
			// A 65,515-byte datagram over a 576-byte path is 119
			// fragments.
			MaxFragments: 128,
		}),
	}
	q.sh.Store(sh)
	q.tcp.init()
	// One ISN secret for every queue: a SYN cookie is checked by the
	// queue its ACK reaches.
	q.isn = isn.New(seed)
	q.challenge = icmpLimiter{tokens: 1000, burst: 1000, rate: 1000 / 1e9}
	q.reasmT.Handler = reasmTimer{q}
	r6 := reasm.IPv6Config()
	r6.MaxBytes, r6.MaxDatagrams, r6.MaxFragments = cfg.Reassembly.MaxBytes, cfg.Reassembly.MaxDatagrams, 128
	q.reasm6 = reasm.New(r6)
	q.reasm6T.Handler = reasm6Timer{q}
	q.ipID = uint16(q.rng.Uint32())
	q.icmp = icmpLimiter{
		tokens: float64(cfg.ICMP.RateBurst),
		burst:  float64(cfg.ICMP.RateBurst),
		rate:   float64(cfg.ICMP.RateLimit) / 1e9,
	}
	return q
}

func (s *Stack) shared() *shared { return s.queues[0].shared() }

// run is a queue's loop: drive the core with real time, then block until
// frames may be ready, the next deadline, or a wake-up.
func (s *Stack) run(q *queue) {
	defer s.wg.Done()
	if s.lockThread() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if s.cfg.LoopStart != nil {
		if err := s.cfg.LoopStart(q.id); err != nil {
			s.log.Error("queue loop cannot start", "queue", q.id, "err", err)
			return
		}
		if s.cfg.LoopEnd != nil {
			defer s.cfg.LoopEnd(q.id)
		}
	}
	// t times the waits on the loop's wake channel (waitWake).
	t := time.NewTimer(time.Hour)
	t.Stop()
	if len(s.ifaces) == 1 {
		ifc := s.ifaces[0]
		for !s.closing.Load() {
			next := q.poll(s.clock.Now())
			if next != 0 && next <= s.clock.Now() {
				continue
			}
			if s.gone() {
				// No device to wait on: the wake channel alone.
				s.waitWake(q, t, next, s.clock.Now())
			} else if err := ifc.be.Wait(q.id, next); errors.Is(err, backend.ErrGone) {
				s.fail(ifc, err)
			}
		}
		return
	}
	// Several devices: a helper per device blocks in its Wait and wakes
	// the loop, which waits on its channel; the helper waits again only
	// after the loop has polled, so it does not spin on ready frames.
	stop := make(chan struct{})
	polled := make([]chan struct{}, len(s.ifaces))
	var waiters sync.WaitGroup
	for i, ifc := range s.ifaces {
		polled[i] = make(chan struct{}, 1)
		waiters.Add(1)
		go func() {
			defer waiters.Done()
			for {
				if err := ifc.be.Wait(q.id, 0); errors.Is(err, backend.ErrGone) {
					// The loop goes on with the other devices.
					s.fail(ifc, err)
					return
				}
				notify(s.wakeCh[q.id])
				select {
				case <-stop:
					return
				case <-polled[i]:
				}
			}
		}()
	}
	for !s.closing.Load() {
		next := q.poll(s.clock.Now())
		for _, c := range polled {
			notify(c)
		}
		now := s.clock.Now()
		if next != 0 && next <= now {
			continue
		}
		s.waitWake(q, t, next, now)
	}
	close(stop)
	for _, ifc := range s.ifaces {
		ifc.be.Wake(q.id)
	}
	waiters.Wait()
}

// lockThread says whether a loop owns its OS thread: LoopStart may
// register the thread, and a busy-polling device polls from one thread.
// Otherwise the loop is an ordinary goroutine, so a wake-up runs it on
// whichever thread is free instead of handing off to a parked one.
func (s *Stack) lockThread() bool {
	if s.cfg.LoopStart != nil {
		return true
	}
	for _, ifc := range s.ifaces {
		if ifc.caps.BusyPoll {
			return true
		}
	}
	return false
}

// wake makes q's loop run soon. A Manual stack has no loop: its
// backends' Wake tells the driver (a simulator) that the stack has work
// for the next Poll.
func (s *Stack) wake(q *queue) {
	if s.gone() {
		notify(s.wakeCh[q.id])
	}
	if len(s.ifaces) == 1 || s.cfg.Manual {
		for _, ifc := range s.ifaces {
			ifc.be.Wake(q.id)
		}
		return
	}
	notify(s.wakeCh[q.id])
}

// fail records that device ifc has gone away (backend.ErrGone), once for
// the stack: it logs it and closes Failed. The loops go on, without
// waiting on the device, so that the API keeps working until Close.
func (s *Stack) fail(ifc *iface, err error) {
	s.failOnce.Do(func() {
		s.failErr = fmt.Errorf("%s: %w", ifc.name, err)
		s.log.Error("device is gone: nothing passes on it any more", "iface", ifc.name, "err", err)
		close(s.failed)
	})
}

// gone reports whether a device has gone away (Failed is closed).
func (s *Stack) gone() bool {
	select {
	case <-s.failed:
		return true
	default:
		return false
	}
}

// waitWake is a loop's wait on its wake channel, with timer t (stopped
// between waits): until the deadline next (0 for none), now being now, or
// a wake-up.
func (s *Stack) waitWake(q *queue, t *time.Timer, next, now int64) {
	if next != 0 {
		t.Reset(time.Duration(next - now))
	}
	select {
	case <-s.wakeCh[q.id]:
	case <-t.C:
	}
	t.Stop()
}

// Failed is closed when a device the stack runs on has gone away (a TAP
// device deleted, see backend.ErrGone), and Err then says which: nothing
// passes on it any more. The stack's API keeps working (connections time
// out, sends go nowhere) until Close; an application that cannot do
// without the device closes the stack.
func (s *Stack) Failed() <-chan struct{} { return s.failed }

// Err is the error of the device that closed Failed, or nil.
func (s *Stack) Err() error {
	if s.gone() {
		return s.failErr
	}
	return nil
}

// Poll runs every queue once at time now and returns the earliest instant
// the stack needs to run again (0: only when frames arrive). It is for
// stacks made with Manual: simulations and replays drive them on virtual
// time.
func (s *Stack) Poll(now int64) int64 {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	var next int64
	for _, q := range s.queues {
		n := q.poll(now)
		if n != 0 && (next == 0 || n < next) {
			next = n
		}
	}
	// A queue may have passed frames to one that ran before it.
	for _, q := range s.queues[:len(s.queues)-1] {
		if q.handoffsPending() {
			return q.now
		}
	}
	return next
}

// Counters returns the sum of every queue's counters.
func (s *Stack) Counters() Counters {
	var total Counters
	for _, q := range s.queues {
		c := q.snapshotCounters()
		addCounters(&total, &c)
	}
	return total
}

// Close gives DHCP leases back, stops the loops, closes every socket and
// backend, and releases every buffer the stack holds.
func (s *Stack) Close() error {
	s.releaseLeases()
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	for _, q := range s.queues {
		s.wake(q)
		if !s.cfg.Manual {
			for _, ifc := range s.ifaces {
				ifc.be.Wake(q.id)
			}
		}
	}
	s.wg.Wait()
	// Queue 0 last: the others' resets may pass it frames to resolve,
	// which it releases.
	for i := len(s.queues) - 1; i >= 0; i-- {
		s.queues[i].close()
	}
	var errs []error
	for _, ifc := range s.ifaces {
		if err := ifc.be.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ifc.name, err))
		}
	}
	s.lo.be.Close()
	close(s.closed)
	return errors.Join(errs...)
}

// Outstanding is the number of buffers the stack's loopback holds and of
// frames it sent by reference (Offloads.SG) not yet released; with the
// backends' own counts it proves a stack and its peers released
// everything.
func (s *Stack) Outstanding() int {
	n := s.lo.be.Outstanding()
	for _, q := range s.queues {
		n += q.sg.outstanding()
	}
	return n
}

// errClosed is returned for operations on a closed stack.
var errClosed = net.ErrClosed
