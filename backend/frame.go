package backend

import "unsafe"

// Headroom is the space every buffer allocated for sending keeps in front of
// its data, so the stack can prepend headers without copying.
const Headroom = 128

// ContiguousHeader is how many leading bytes of a frame are always in its
// first buffer (or the whole frame, when it is shorter).
const ContiguousHeader = 128

// CsumState says what is known about a frame's transport checksum.
type CsumState uint8

const (
	// CsumNone: nothing is known; whoever needs the checksum checks it.
	CsumNone CsumState = iota
	// CsumPartial: the checksum field holds the pseudo-header sum only; the
	// device (or whoever carries the frame to a wire) completes the sum from
	// CsumStart to the end of the frame and stores it at CsumStart+CsumOffset.
	CsumPartial
	// CsumVerified: the device checked the IP and transport checksums and
	// they are good.
	CsumVerified
	// CsumBad: the device checked a checksum and it is wrong.
	CsumBad
)

func (c CsumState) String() string {
	switch c {
	case CsumNone:
		return "none"
	case CsumPartial:
		return "partial"
	case CsumVerified:
		return "verified"
	case CsumBad:
		return "bad"
	}
	return "unknown"
}

// GSOType says how a frame larger than the MTU is to be cut into segments.
type GSOType uint8

const (
	// GSONone: the frame is sent as it is.
	GSONone GSOType = iota
	// GSOTCPv4 and GSOTCPv6: TCP segmentation of GSOSize payload bytes per
	// segment (TSO); on receive, a coalesced (GRO/LRO) TCP frame.
	GSOTCPv4
	GSOTCPv6
	// GSOUDP: UDP segmentation (USO) of GSOSize payload bytes per datagram.
	GSOUDP
)

func (g GSOType) String() string {
	switch g {
	case GSONone:
		return "none"
	case GSOTCPv4:
		return "tcpv4"
	case GSOTCPv6:
		return "tcpv6"
	case GSOUDP:
		return "udp"
	}
	return "unknown"
}

// Meta is the per-frame metadata a backend and the stack exchange. It lives
// in the first buffer of a frame.
type Meta struct {
	// L2Len, L3Len and L4Len are header lengths in bytes, filled by whoever
	// knows them (the stack on send; a device that parsed them on receive).
	L2Len, L3Len, L4Len uint16
	// Csum is the checksum state; CsumStart and CsumOffset locate the sum to
	// complete when Csum is CsumPartial.
	Csum       CsumState
	CsumStart  uint16
	CsumOffset uint16
	// GSO and GSOSize describe segmentation offload (send) or coalescing
	// (receive).
	GSO     GSOType
	GSOSize uint16
	// VLAN is the 802.1Q TCI stripped by the device when HasVLAN is set.
	VLAN    uint16
	HasVLAN bool
	// RSSHash is the receive-side steering hash when HasRSS is set.
	RSSHash uint32
	HasRSS  bool
	// Timestamp is the receive time in the backend's clock (nanoseconds), or
	// zero when unknown.
	Timestamp int64
}

// Owner is whatever a frame's buffers go back to when it is released: a
// pool, a mempool, a ring. Every buffer of a chain has the head's owner, and
// an owner frees whole chains. Only backends implement and call it; the stack
// uses Release.
type Owner interface {
	// FreeChains takes back the chains headed by each of heads. It is called
	// once per run of frames with the same owner, so a pool can take its lock
	// once per burst.
	FreeChains(heads []*Frame)
	// FreeChain takes back one chain.
	FreeChain(head *Frame)
}

// Frame is one backend buffer and, when it is the head of a chain, a whole
// Ethernet frame. The frame's bytes are the data windows of the buffers of
// the chain in order; the first ContiguousHeader bytes are in the head.
//
// Ownership: a Frame is owned by exactly one party at a time. Frames returned
// by Recv are lent to the caller; frames from Alloc belong to the caller;
// Send takes those it accepts. The owner ends its ownership with Release or
// by handing the frame to Send. A held frame (Ref) needs one Release per
// reference. Never keep a slice of a frame's bytes after releasing it.
type Frame struct {
	Meta

	store  []byte // the whole buffer; data is store[off:off+n]
	off, n int
	total  int    // bytes in the whole chain; valid in the head
	next   *Frame // next buffer of the chain
	refs   int32
	owner  Owner
	// Handle is the backend's own reference for this buffer (an mbuf
	// address on DPDK). The stack never reads it.
	Handle uintptr
	// Queue is the queue the frame was received on or allocated for.
	Queue int
}

// Bytes returns this buffer's data window. On a chain, the head's Bytes are
// the frame's first bytes (at least ContiguousHeader of them when the frame
// is that long).
func (f *Frame) Bytes() []byte { return f.store[f.off : f.off+f.n : f.off+f.n] }

// Next is the next buffer of the chain, or nil.
func (f *Frame) Next() *Frame { return f.next }

// Len is the frame's length: the sum of the chain's data windows.
func (f *Frame) Len() int { return f.total }

// Segments is the number of buffers in the chain.
func (f *Frame) Segments() int {
	n := 0
	for b := f; b != nil; b = b.next {
		n++
	}
	return n
}

// Headroom is how many bytes Prepend can add in front of the data.
func (f *Frame) Headroom() int { return f.off }

// Tailroom is how many bytes the last buffer of the chain can grow by.
func (f *Frame) Tailroom() int {
	l := f.last()
	return len(l.store) - l.off - l.n
}

func (f *Frame) last() *Frame {
	l := f
	for l.next != nil {
		l = l.next
	}
	return l
}

// Prepend grows the frame by n bytes at the front and returns them. It
// returns nil and changes nothing when the headroom is too small.
func (f *Frame) Prepend(n int) []byte {
	if n < 0 || n > f.off {
		return nil
	}
	f.off -= n
	f.n += n
	f.total += n
	return f.store[f.off : f.off+n]
}

// TrimFront removes n bytes from the front of the frame's first buffer; it
// refuses (false) to cut into a second buffer.
func (f *Frame) TrimFront(n int) bool {
	if n < 0 || n > f.n {
		return false
	}
	f.off += n
	f.n -= n
	f.total -= n
	return true
}

// Truncate shortens the frame to n bytes, leaving buffers past the end empty
// (they stay in the chain until release).
func (f *Frame) Truncate(n int) {
	if n < 0 {
		n = 0
	}
	if n >= f.total {
		return
	}
	f.total = n
	for b := f; b != nil; b = b.next {
		if n < b.n {
			b.n = n
		}
		n -= b.n
	}
}

// Extend grows the frame by n bytes at its end, over the chain's spare
// capacity, and reports whether there was room. The new bytes are not zeroed.
func (f *Frame) Extend(n int) bool {
	if n < 0 {
		return false
	}
	room := 0
	for b := f; b != nil; b = b.next {
		if b.next == nil || b.next.n == 0 {
			room += len(b.store) - b.off - b.n
		}
	}
	if n > room {
		return false
	}
	f.total += n
	for b := f; b != nil && n > 0; b = b.next {
		if b.next != nil && b.next.n > 0 {
			continue
		}
		k := min(n, len(b.store)-b.off-b.n)
		b.n += k
		n -= k
	}
	return true
}

// SetLen sets the frame's length to n within the chain's capacity: the head
// is filled first, then each following buffer. It reports false and changes
// nothing when the chain is too small.
func (f *Frame) SetLen(n int) bool {
	if n < 0 || n > f.Cap() {
		return false
	}
	f.total = n
	for b := f; b != nil; b = b.next {
		b.n = min(n, len(b.store)-b.off)
		n -= b.n
	}
	return true
}

// Cap is the most bytes the chain can hold from its current start.
func (f *Frame) Cap() int {
	c := 0
	for b := f; b != nil; b = b.next {
		c += len(b.store) - b.off
	}
	return c
}

// CopyTo copies the frame's bytes from offset off into dst and returns how
// many it copied.
func (f *Frame) CopyTo(dst []byte, off int) int {
	done := 0
	for b := f; b != nil && len(dst) > done; b = b.next {
		if off >= b.n {
			off -= b.n
			continue
		}
		done += copy(dst[done:], b.store[b.off+off:b.off+b.n])
		off = 0
	}
	return done
}

// CopyFrom copies src into the frame starting at offset off, within the
// frame's current length, and returns how many bytes it copied.
func (f *Frame) CopyFrom(src []byte, off int) int {
	done := 0
	for b := f; b != nil && len(src) > done; b = b.next {
		if off >= b.n {
			off -= b.n
			continue
		}
		done += copy(b.store[b.off+off:b.off+b.n], src[done:])
		off = 0
	}
	return done
}

// AppendTo appends the whole frame's bytes to dst.
func (f *Frame) AppendTo(dst []byte) []byte {
	for b := f; b != nil; b = b.next {
		dst = append(dst, b.store[b.off:b.off+b.n]...)
	}
	return dst
}

// Ref adds a reference: the frame then needs one more Release before its
// buffers go back to their owner.
func (f *Frame) Ref() { f.refs++ }

// Reuse readies a released buffer of the calling backend for a new life,
// keeping its store and owner: the data window at headroom (cut to the
// store), length 0, no metadata, no chain, one reference. A backend that
// keeps released frames for its next allocation calls it.
func (f *Frame) Reuse(headroom int) {
	f.Meta = Meta{}
	f.off = min(max(headroom, 0), len(f.store))
	f.n = 0
	f.total = 0
	f.next = nil
	f.refs = 1
}

// Init makes f a fresh single-buffer frame over store, owned by owner, with
// its data window starting at headroom. Backends call it when they create or
// recycle a buffer, and so does the stack for frames over its own memory,
// which it sends on a backend that offers Offloads.SG.
func (f *Frame) Init(store []byte, headroom int, owner Owner) {
	f.store = store
	f.owner = owner
	f.Reuse(headroom)
}

// InitData is Init for a buffer that arrives full: its data window is the
// n bytes at headroom (cut to what store holds).
func (f *Frame) InitData(store []byte, headroom, n int, owner Owner) {
	f.Init(store, headroom, owner)
	f.n = max(min(n, len(store)-f.off), 0)
	f.total = f.n
}

// Chain appends buffer b (and its own chain) to the end of f's chain.
// Backends use it to build multi-buffer frames.
func (f *Frame) Chain(b *Frame) {
	f.last().next = b
	f.total += b.total
}

// Release ends the caller's ownership of each frame (one reference each).
// Chains whose last reference goes are returned to their owners, one call per
// run of frames with the same owner. Release reorders and clears fs: the
// caller must not use its elements afterwards.
func Release(fs []*Frame) {
	if !releaseBurst(fs) {
		releaseEach(fs)
	}
	clear(fs)
}

// releaseBurst releases fs in one call to their owner when every frame is
// there, of one owner, and loses its last reference here: a device's
// receive burst, the common case. It reports false, having changed
// nothing, otherwise.
func releaseBurst(fs []*Frame) bool {
	if len(fs) == 0 || fs[0] == nil {
		return len(fs) == 0
	}
	owner := fs[0].owner
	for _, f := range fs {
		if f == nil || f.refs != 1 || !sameOwner(f.owner, owner) {
			return false
		}
	}
	for _, f := range fs {
		f.refs = 0
	}
	owner.FreeChains(fs)
	return true
}

// releaseEach is Release for any mix of frames: it drops a reference of
// each, gathers those whose last went at the front of fs, and hands them
// to their owners a run at a time.
func releaseEach(fs []*Frame) {
	n := 0
	for _, f := range fs {
		if f == nil {
			continue
		}
		f.refs--
		if f.refs > 0 {
			continue
		}
		if f.refs < 0 {
			panic("backend: frame released more often than referenced")
		}
		fs[n] = f
		n++
	}
	for start := 0; start < n; {
		owner := fs[start].owner
		end := start + 1
		for end < n && sameOwner(fs[end].owner, owner) {
			end++
		}
		owner.FreeChains(fs[start:end])
		start = end
	}
}

// sameOwner reports whether a and b are the same owner: the same dynamic
// type and data word, without the runtime's general interface comparison.
// Owners are pointers, for which that is equality; two equal owners of a
// value type would count as different, which costs Release one more call.
func sameOwner(a, b Owner) bool {
	x, y := (*[2]unsafe.Pointer)(unsafe.Pointer(&a)), (*[2]unsafe.Pointer)(unsafe.Pointer(&b))
	return x[0] == y[0] && x[1] == y[1]
}

// ReleaseOne releases a single frame.
func ReleaseOne(f *Frame) {
	if f == nil {
		return
	}
	f.refs--
	if f.refs > 0 {
		return
	}
	if f.refs < 0 {
		panic("backend: frame released more often than referenced")
	}
	f.owner.FreeChain(f)
}

// OwnedBy reports whether o owns f's buffers: a backend's check that a
// frame handed to Send is one of its own. Only backends call it.
func (f *Frame) OwnedBy(o Owner) bool { return sameOwner(f.owner, o) }

// Layout is where a Frame keeps its unexported fields, for a backend that
// fills frames outside Go: DPDK's burst calls write the frames kept in the
// mbufs' private areas in C, and the dpdk package checks its C declaration
// against these offsets once. Meta's fields are exported; unsafe.Offsetof
// finds them.
type Layout struct {
	Size                                  uintptr
	Store, Off, N, Total, Next, Refs, Own uintptr
	Handle, Queue                         uintptr
}

// FrameLayout returns Frame's layout.
func FrameLayout() Layout {
	var f Frame
	return Layout{
		Size:   unsafe.Sizeof(f),
		Store:  unsafe.Offsetof(f.store),
		Off:    unsafe.Offsetof(f.off),
		N:      unsafe.Offsetof(f.n),
		Total:  unsafe.Offsetof(f.total),
		Next:   unsafe.Offsetof(f.next),
		Refs:   unsafe.Offsetof(f.refs),
		Own:    unsafe.Offsetof(f.owner),
		Handle: unsafe.Offsetof(f.Handle),
		Queue:  unsafe.Offsetof(f.Queue),
	}
}

// LastRef reports whether the caller holds the frame's only reference,
// so that Take would return true. Only backends call it.
func (f *Frame) LastRef() bool { return f.refs == 1 }

// Take is Release for a backend's Send: it ends the caller's ownership of
// f (one reference) and reports whether that was the last reference, in
// which case the buffers are the backend's to transmit and free rather
// than going back to their owner. A frame others still hold reports false
// and stays valid for them. Send undoes a Take of a frame it does not
// accept with Ref. Only backends call it.
func (f *Frame) Take() bool {
	f.refs--
	if f.refs < 0 {
		panic("backend: frame released more often than referenced")
	}
	return f.refs == 0
}
