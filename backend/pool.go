package backend

import (
	"fmt"
	"sync"
)

// MbufDataRoom is the data room of one buffer in mbuf-like mode, as DPDK's
// RTE_MBUF_DEFAULT_DATAROOM.
const MbufDataRoom = 2048

// PoisonByte fills released buffers when poisoning is on, so a use after
// release reads obvious garbage.
const PoisonByte = 0xdb

// PoolConfig configures a Pool.
type PoolConfig struct {
	// Mbuf selects DPDK-shaped memory: Count buffers of Headroom+DataRoom
	// bytes allocated up front, frames larger than one buffer chained. When
	// false, each frame is one contiguous buffer sized for it and the pool
	// grows on demand up to Count buffers (0: no limit).
	Mbuf bool
	// DataRoom is the data room of one buffer in mbuf mode (default
	// MbufDataRoom).
	DataRoom int
	// Count bounds the number of buffers.
	Count int
	// Poison fills buffers with PoisonByte when they are released.
	Poison bool
}

// Pool is a bounded buffer pool in Go memory, safe for use by several
// goroutines (a pipe hands one end's buffers to the other's stack). Backends
// without memory of their own (pipe, TAP, pcap replay) allocate from it.
type Pool struct {
	cfg PoolConfig

	mu          sync.Mutex
	free        []*Frame             // mbuf mode
	classes     [numClasses][]*Frame // plain mode, by size class
	created     int
	outstanding int
	allocFails  uint64
}

// Plain-mode size classes: 2 KiB << i.
const numClasses = 8

func classOf(size int) int {
	for c := 0; c < numClasses; c++ {
		if size <= 2048<<c {
			return c
		}
	}
	return -1
}

// NewPool makes a pool.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if cfg.Count < 0 {
		return nil, fmt.Errorf("pool: buffer count %d is negative", cfg.Count)
	}
	if cfg.Mbuf {
		if cfg.DataRoom == 0 {
			cfg.DataRoom = MbufDataRoom
		}
		if cfg.DataRoom < ContiguousHeader {
			return nil, fmt.Errorf("pool: data room %d is smaller than the %d contiguous header bytes", cfg.DataRoom, ContiguousHeader)
		}
		if cfg.Count == 0 {
			return nil, fmt.Errorf("pool: mbuf mode needs a buffer count")
		}
	}
	p := &Pool{cfg: cfg}
	if cfg.Mbuf {
		bufLen := Headroom + cfg.DataRoom
		slab := make([]byte, bufLen*cfg.Count)
		frames := make([]Frame, cfg.Count)
		p.free = make([]*Frame, cfg.Count)
		for i := range frames {
			f := &frames[i]
			f.Init(slab[i*bufLen:(i+1)*bufLen:(i+1)*bufLen], Headroom, p)
			f.refs = 0
			p.free[i] = f
		}
		p.created = cfg.Count
	}
	return p, nil
}

// Config is the pool's configuration.
func (p *Pool) Config() PoolConfig { return p.cfg }

// BufSize is the data room of one buffer (mbuf mode) or the largest frame
// one buffer holds (plain mode).
func (p *Pool) BufSize() int {
	if p.cfg.Mbuf {
		return p.cfg.DataRoom
	}
	return 2048<<(numClasses-1) - Headroom
}

// Alloc fills frames with frames able to hold size bytes after Headroom
// bytes of headroom, and returns how many it could allocate.
func (p *Pool) Alloc(frames []*Frame, size int) int {
	if size < 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range frames {
		var f *Frame
		if p.cfg.Mbuf {
			f = p.allocChain(size)
		} else {
			f = p.allocPlain(size)
		}
		if f == nil {
			p.allocFails++
			return i
		}
		frames[i] = f
	}
	return len(frames)
}

// AllocOne allocates one frame, or returns nil when the pool is short.
func (p *Pool) AllocOne(size int) *Frame {
	var one [1]*Frame
	if p.Alloc(one[:], size) == 0 {
		return nil
	}
	return one[0]
}

func (p *Pool) allocChain(size int) *Frame {
	room := p.cfg.DataRoom
	need := 1
	if size > room {
		need += (size - room + Headroom + room - 1) / (Headroom + room)
	}
	if need > len(p.free) {
		return nil
	}
	var head *Frame
	for i := 0; i < need; i++ {
		b := p.free[len(p.free)-1]
		p.free[len(p.free)-1] = nil
		p.free = p.free[:len(p.free)-1]
		if head == nil {
			b.Reuse(Headroom)
			head = b
		} else {
			// Buffers after the first need no headroom: their whole
			// store is data room.
			b.Reuse(0)
			b.refs = 0
			head.Chain(b)
		}
	}
	p.outstanding += need
	return head
}

func (p *Pool) allocPlain(size int) *Frame {
	c := classOf(Headroom + size)
	if c < 0 {
		return nil
	}
	var f *Frame
	if l := p.classes[c]; len(l) > 0 {
		f = l[len(l)-1]
		l[len(l)-1] = nil
		p.classes[c] = l[:len(l)-1]
	} else {
		if p.cfg.Count > 0 && p.created >= p.cfg.Count {
			return nil
		}
		f = &Frame{}
		f.Init(make([]byte, 2048<<c), Headroom, p)
		p.created++
	}
	f.Reuse(Headroom)
	p.outstanding++
	return f
}

// FreeChains implements Owner.
func (p *Pool) FreeChains(heads []*Frame) {
	p.mu.Lock()
	for _, h := range heads {
		p.freeChain(h)
	}
	p.mu.Unlock()
}

// FreeChain implements Owner.
func (p *Pool) FreeChain(head *Frame) {
	p.mu.Lock()
	p.freeChain(head)
	p.mu.Unlock()
}

func (p *Pool) freeChain(h *Frame) {
	for b := h; b != nil; {
		next := b.next
		b.next = nil
		b.refs = 0
		b.n = 0
		b.total = 0
		if p.cfg.Poison {
			Poison(b.store)
		}
		if p.cfg.Mbuf {
			p.free = append(p.free, b)
		} else {
			c := classOf(len(b.store))
			p.classes[c] = append(p.classes[c], b)
		}
		p.outstanding--
		b = next
	}
}

// Poison fills b with PoisonByte: what a backend does to a buffer it takes
// back when poisoning is on.
func Poison(b []byte) {
	for i := range b {
		b[i] = PoisonByte
	}
}

// Outstanding is the number of buffers allocated and not yet freed.
func (p *Pool) Outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outstanding
}

// AllocFailures counts allocations refused because the pool was short.
func (p *Pool) AllocFailures() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocFails
}
