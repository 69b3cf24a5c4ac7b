package gvisor

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// queueDepth bounds the frames waiting for a receiver, as the ustack pipe's
// default QueueDepth; beyond it a frame is dropped, as a full NIC ring
// drops.
const queueDepth = 4096

// gsoMaxSize is the largest GSO packet with offloads: virtio's 64 KiB, as
// gVisor's fdbased endpoint offers on a host with TSO.
const gsoMaxSize = 1 << 16

// endpoint is one end of an in-memory link with the ustack pipe's
// semantics: no latency, unlimited bandwidth, frames handed over without
// copying (as gVisor's own link/pipe does), received in batches by a
// goroutine per end (as fdbased's dispatcher receives), and with offloads,
// GSO frames delivered whole with trusted checksums (as after GRO).
//
// It carries Ethernet frames: wrapped in gVisor's ethernet endpoint, the
// stacks resolve each other with ARP as ustack's do.
type endpoint struct {
	mtu     uint32 // of a frame, Ethernet header included
	offload bool
	addr    tcpip.LinkAddress
	peer    *endpoint
	frames  *atomic.Uint64 // frames that crossed the link, both ways

	mu         sync.Mutex
	dispatcher stack.NetworkDispatcher
	queue      []*stack.PacketBuffer // received frames the loop has not taken
	spare      []*stack.PacketBuffer // the loop's batch, reused
	closed     bool
	drops      uint64

	// loss is the probability that a frame this end writes is lost,
	// drawn from rng under lossMu (the stack writes from several
	// goroutines).
	loss   float64
	lossMu sync.Mutex
	rng    *rand.Rand

	wake chan struct{}
	done chan struct{}
}

var (
	_ stack.LinkEndpoint = (*endpoint)(nil)
	_ stack.GSOEndpoint  = (*endpoint)(nil)
)

// newLink makes the two ends of a link carrying IP packets of up to mtu
// bytes, each losing a frame it writes with probability loss, and starts
// their receive loops.
func newLink(mtu int, offload bool, loss float64) (a, b *endpoint) {
	frames := new(atomic.Uint64)
	mk := func(mac byte) *endpoint {
		e := &endpoint{
			mtu:     uint32(mtu + header.EthernetMinimumSize),
			offload: offload,
			loss:    loss,
			rng:     rand.New(rand.NewPCG(uint64(mac), 0x75737461636b)),
			addr:    tcpip.LinkAddress([]byte{0x02, 0, 0, 0, 0, mac}),
			frames:  frames,
			queue:   make([]*stack.PacketBuffer, 0, 64),
			spare:   make([]*stack.PacketBuffer, 0, 64),
			wake:    make(chan struct{}, 1),
			done:    make(chan struct{}),
		}
		go e.loop()
		return e
	}
	a, b = mk(1), mk(2)
	a.peer, b.peer = b, a
	return a, b
}

// loop delivers received frames to the stack, a batch per wake-up.
func (e *endpoint) loop() {
	defer close(e.done)
	for e.await() {
		e.mu.Lock()
		batch := e.queue
		e.queue = e.spare[:0]
		d, closed := e.dispatcher, e.closed
		e.mu.Unlock()
		for i, pkt := range batch {
			if d != nil && !closed {
				d.DeliverNetworkPacket(0, pkt) // the Ethernet header names the protocol
			}
			pkt.DecRef()
			batch[i] = nil
		}
		e.mu.Lock()
		e.spare = batch[:0]
		e.mu.Unlock()
		if closed {
			return
		}
	}
}

// await waits for a wake-up as the ustack pipe's Wait does, so the two
// links hand frames over alike: it yields the processor a few times
// (waitYields) looking for one, then blocks. It reports false once the
// link is closed.
func (e *endpoint) await() bool {
	for range waitYields {
		select {
		case _, ok := <-e.wake:
			return ok
		default:
		}
		runtime.Gosched()
	}
	_, ok := <-e.wake
	return ok
}

// waitYields is the ustack pipe's: how many times a receive loop yields
// before it blocks.
const waitYields = 5

// receive queues frames for this end's loop, dropping what does not fit.
func (e *endpoint) receive(pkts []*stack.PacketBuffer) {
	e.mu.Lock()
	for _, pkt := range pkts {
		if e.closed || len(e.queue) >= queueDepth {
			e.drops++
			pkt.DecRef()
			continue
		}
		e.queue = append(e.queue, pkt)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// WritePackets implements stack.LinkWriter: each frame becomes a fresh
// packet for the peer sharing the frame's buffers.
func (e *endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	var batch [64]*stack.PacketBuffer
	in := batch[:0]
	n := 0
	for _, pkt := range pkts.AsSlice() {
		n++
		if e.lost() {
			continue
		}
		in = append(in, stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()}))
		if len(in) == len(batch) {
			e.peer.receive(in)
			in = in[:0]
		}
	}
	if len(in) > 0 {
		e.peer.receive(in)
	}
	e.frames.Add(uint64(n))
	return n, nil
}

// lost draws whether the next frame written is lost.
func (e *endpoint) lost() bool {
	if e.loss == 0 {
		return false
	}
	e.lossMu.Lock()
	defer e.lossMu.Unlock()
	return e.rng.Float64() < e.loss
}

// Attach implements stack.NetworkLinkEndpoint.
func (e *endpoint) Attach(d stack.NetworkDispatcher) {
	e.mu.Lock()
	e.dispatcher = d
	e.mu.Unlock()
}

// IsAttached implements stack.NetworkLinkEndpoint.
func (e *endpoint) IsAttached() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dispatcher != nil
}

// MTU implements stack.NetworkLinkEndpoint; the Ethernet endpoint
// wrapping this one takes its header off.
func (e *endpoint) MTU() uint32 { return e.mtu }

// SetMTU implements stack.NetworkLinkEndpoint.
func (e *endpoint) SetMTU(mtu uint32) { e.mtu = mtu }

// Capabilities implements stack.NetworkLinkEndpoint.
func (e *endpoint) Capabilities() stack.LinkEndpointCapabilities {
	if e.offload {
		return stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
	}
	return 0
}

// GSOMaxSize implements stack.GSOEndpoint.
func (e *endpoint) GSOMaxSize() uint32 {
	if e.offload {
		return gsoMaxSize
	}
	return 0
}

// SupportedGSO implements stack.GSOEndpoint: with offloads the stack
// hands over TCP segments of up to 64 KiB, as to a host NIC with TSO.
func (e *endpoint) SupportedGSO() stack.SupportedGSO {
	if e.offload {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

// MaxHeaderLength implements stack.NetworkLinkEndpoint.
func (*endpoint) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.NetworkLinkEndpoint.
func (e *endpoint) LinkAddress() tcpip.LinkAddress { return e.addr }

// SetLinkAddress implements stack.NetworkLinkEndpoint.
func (e *endpoint) SetLinkAddress(addr tcpip.LinkAddress) { e.addr = addr }

// Wait implements stack.NetworkLinkEndpoint: it waits for the receive loop
// to stop once the endpoint is closed.
func (e *endpoint) Wait() {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		<-e.done
	}
}

// ARPHardwareType implements stack.NetworkLinkEndpoint.
func (*endpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.NetworkLinkEndpoint.
func (*endpoint) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.NetworkLinkEndpoint.
func (*endpoint) ParseHeader(*stack.PacketBuffer) bool { return true }

// Close implements stack.NetworkLinkEndpoint: frames waiting are dropped
// and the receive loop stops.
func (e *endpoint) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// SetOnCloseAction implements stack.NetworkLinkEndpoint.
func (*endpoint) SetOnCloseAction(func()) {}
