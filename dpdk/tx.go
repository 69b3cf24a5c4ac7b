//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
)

// Transmit flags of an mbuf, as Go values.
const (
	txTCPSeg  = uint64(C.RTE_MBUF_F_TX_TCP_SEG)
	txTCPCsum = uint64(C.RTE_MBUF_F_TX_TCP_CKSUM)
	txUDPCsum = uint64(C.RTE_MBUF_F_TX_UDP_CKSUM)
	txIPCsum  = uint64(C.RTE_MBUF_F_TX_IP_CKSUM)
	txIPv4    = uint64(C.RTE_MBUF_F_TX_IPV4)
	txIPv6    = uint64(C.RTE_MBUF_F_TX_IPV6)
)

// asM converts a frame known to be an mframe.
func asM(f *backend.Frame) *mframe { return (*mframe)(unsafe.Pointer(f)) }

// Alloc implements backend.Backend: rte_pktmbuf_alloc_bulk from the
// queue's mempool, one call for the whole request when the pool has enough
// (otherwise as many whole frames as it has). A frame longer than
// Caps().BufSize is a chain: the first mbuf keeps backend.Headroom bytes of
// headroom, the others are all data room.
func (p *Port) Alloc(q int, frames []*backend.Frame, size int) int {
	qu, err := p.queue(q)
	if err != nil {
		return 0
	}
	qu.mu.Lock()
	n := qu.allocLocked(frames, size)
	qu.mu.Unlock()
	return n
}

// Send implements backend.Backend: it writes each frame's data windows back
// into its mbufs (data_off, data_len, pkt_len, nb_segs, next) and the
// offload requests its metadata makes, and hands bursts of up to
// Config.Burst frames to rte_eth_tx_burst. It returns how many frames the
// device took; when its ring is full the rest stay the caller's.
//
// Offloads: a CsumPartial TCP or UDP frame goes out with
// RTE_MBUF_F_TX_{TCP,UDP}_CKSUM when the port has TX checksum offload, and
// is completed in software otherwise; a GSOTCPv4 frame goes out with
// RTE_MBUF_F_TX_TCP_SEG when the port has TSO; other GSO frames are cut in
// software (package offload). Frames no wire could carry (shorter than an
// Ethernet header, longer than the MTU without GSO, malformed offload
// requests) are accepted, dropped and counted in TxDrops. Frames another
// backend made are copied into mbufs (DPDK must never see Go memory).
func (p *Port) Send(q int, frames []*backend.Frame) (int, error) {
	qu, err := p.queue(q)
	if err != nil {
		return 0, err
	}
	if p.closing.Load() {
		return 0, backend.ErrClosed
	}
	if len(frames) <= qu.burst {
		if n, ok := qu.sendPlain(frames); ok {
			return n, nil
		}
	}
	done := 0
	for done < len(frames) {
		if p.softGSO(frames[done]) {
			ok, err := qu.sendSegmented(frames[done])
			if ok {
				done++
			}
			if !ok || err != nil {
				return done, err
			}
			continue
		}
		end := done + 1
		for end < len(frames) && end-done < qu.burst && !p.softGSO(frames[end]) {
			end++
		}
		n, err := qu.sendBatch(frames[done:end])
		want := end - done
		done += n
		if n < want || err != nil {
			return done, err
		}
	}
	return done, nil
}

// softGSO reports whether f needs segmenting in software.
func (p *Port) softGSO(f *backend.Frame) bool {
	if f.GSO == backend.GSONone {
		return false
	}
	if f.GSO != backend.GSOTCPv4 || !p.tso {
		return true
	}
	return p.tsoSegMax > 0 && tsoHeaderLen(f)+int(f.GSOSize) > p.tsoSegMax
}

// tsoHeaderLen is the length of a TCP/IPv4 frame's Ethernet, IP and TCP
// headers, or a length no device takes when they are not all there.
func tsoHeaderLen(f *backend.Frame) int {
	head := f.Bytes()
	l2 := l2Len(f, head)
	if l2+20 > len(head) {
		return maxFrame
	}
	l3 := int(head[l2]&0xf) * 4
	if l2+l3+13 > len(head) {
		return maxFrame
	}
	return l2 + l3 + int(head[l2+l3+12]>>4)*4
}

// lateFrame is a frame of another queue that Send finished with, returned
// to its queue after Send's own lock is released.
type lateFrame struct {
	mf   *mframe
	sent bool
}

// sendBatch sends up to a burst of frames that need no software
// segmentation and returns how many the device took (a prefix).
func (q *queue) sendBatch(fs []*backend.Frame) (int, error) {
	p := q.p
	if p.closing.Load() {
		return 0, backend.ErrClosed
	}
	// Prepare every frame: our own mbufs, or copies of others' frames.
	slabs := *p.slabs.Load()
	batch := q.batch[:0]
	offl := false
	maxLen := p.caps.MTU + 14
	for _, f := range fs {
		mf := own(slabs, f)
		if mf == nil {
			if mf = q.copyOf(f); mf == nil {
				break // no buffers: this frame and the rest stay the caller's
			}
		}
		f = &mf.Frame
		if mf.plain(maxLen) {
			// The common case, inline: one mbuf, nothing to check or
			// ask the device for.
			mf.off.flags = 0
			mf.writeOne()
		} else if q.prepare(mf) {
			offl = true
		}
		// Send takes one reference of each frame, as Release would.
		// Frames the caller still holds get one more mbuf reference
		// for the device to drop when it is done.
		if f.Take() {
			mf.st |= stLast
		}
		batch = append(batch, f)
	}
	q.batch = batch
	if len(batch) == 0 {
		return 0, nil
	}

	q.mu.Lock()
	if q.closed {
		q.giveBack(batch)
		q.flushFree()
		q.mu.Unlock()
		q.finishLate()
		return 0, backend.ErrClosed
	}
	slot := q.slot[:0]
	held := q.held[:0]
	for _, f := range batch {
		mf := asM(f)
		if mf.st&stDrop != 0 {
			continue
		}
		if mf.st&stLast == 0 {
			mf.st |= stHeld
			held = append(held, mf.m)
		}
		q.tx[len(slot)] = mf.m
		if offl {
			q.txo[len(slot)] = mf.off
		}
		slot = append(slot, mf)
	}
	if len(held) > 0 {
		C.us_refcnt(&held[0], C.uint(len(held)), 1)
	}
	q.held = held[:0]
	for start := 0; start < len(slot); {
		var off C.uintptr_t
		if offl {
			off = caddr(&q.txo[start])
		}
		r := uint32(C.us_tx(q.pid, q.qid, caddr(&q.tx[start]), off, C.uint16_t(len(slot)-start)))
		k, bad := int(r&0xffff), int(r>>16)-1
		for _, mf := range slot[start : start+k] {
			mf.st |= stSent
		}
		start += k
		if bad == k && start < len(slot) {
			// The device's preparation refused this one: a frame no
			// wire would carry.
			slot[start].st |= stDrop
			start++
			continue
		}
		break
	}
	q.slot = slot[:0]

	// The device took a prefix: the frames up to the first one neither
	// sent nor dropped.
	var pkts, bytes, drops int
	cut := len(batch)
	for i, f := range batch {
		mf := asM(f)
		sent, last := mf.st&stSent != 0, mf.st&stLast != 0
		if mf.st&(stSent|stDrop) == 0 {
			cut = i
			break
		}
		if sent {
			pkts++
			bytes += f.Len()
		} else {
			drops++
		}
		if mf.orig != nil {
			q.orig = append(q.orig, mf.orig)
		}
		mf.clearTx()
		if !last {
			// The caller holds the frame still; a sent one's mbufs
			// carry the device's extra reference.
			continue
		}
		if mf.q != q {
			q.late = append(q.late, lateFrame{mf, sent})
			continue
		}
		q.finishLocked(mf, sent)
	}
	if cut < len(batch) {
		q.giveBack(batch[cut:])
	}
	q.stats.TxPackets += uint64(pkts)
	q.stats.TxBytes += uint64(bytes)
	q.stats.TxDrops += uint64(drops)
	q.mu.Unlock()
	if len(q.late) > 0 || len(q.orig) > 0 {
		q.finishLate()
	}
	return cut, nil
}

// sendPlain is sendBatch for the stack's usual burst: frames of this
// queue, one mbuf each, asking for no offload, whose last reference the
// caller gives up. It writes their mbufs and sends them with no other
// bookkeeping; the device owns the mbufs it took and their structs go back
// to the free list. It reports false, having changed nothing that
// sendBatch would not redo, when a frame is of another kind or the queue
// is closed.
func (q *queue) sendPlain(fs []*backend.Frame) (int, bool) {
	maxLen := q.p.caps.MTU + 14
	for i, f := range fs {
		mf := own(q.ranges[:1], f) // one of the queue's first slab
		if mf == nil || !mf.plain(maxLen) || !f.LastRef() {
			return 0, false
		}
		mf.writeOne()
		q.tx[i] = mf.m
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0, false
	}
	k := int(uint32(C.us_tx(q.pid, q.qid, caddr(&q.tx[0]), 0, C.uint16_t(len(fs)))) & 0xffff)
	bytes := 0
	for _, f := range fs[:k] {
		bytes += f.Len()
		f.Take()
		q.recycle(asM(f))
	}
	q.stats.TxPackets += uint64(k)
	q.stats.TxBytes += uint64(bytes)
	q.mu.Unlock()
	return k, true
}

// giveBack undoes Send's claim on frames the device did not take: the
// caller gets its reference back, held mbufs lose the device's, and
// copies of the caller's frames are freed. q.mu is held.
func (q *queue) giveBack(fs []*backend.Frame) {
	held := q.held[:0]
	for _, f := range fs {
		mf := asM(f)
		if mf.st&stHeld != 0 {
			held = append(held, mf.m)
		}
		copied := mf.orig != nil
		mf.clearTx()
		if copied {
			q.finishLocked(mf, false)
			continue
		}
		f.Ref()
	}
	if len(held) > 0 {
		C.us_refcnt(&held[0], C.uint(len(held)), -1)
	}
	q.held = held[:0]
}

// finishLate returns other queues' frames Send is done with, and releases
// the callers' frames that were sent as copies. No lock is held.
func (q *queue) finishLate() {
	for i, l := range q.late {
		o := l.mf.q
		o.mu.Lock()
		o.finishLocked(l.mf, l.sent)
		o.mu.Unlock()
		q.late[i] = lateFrame{}
	}
	q.late = q.late[:0]
	if len(q.orig) > 0 {
		backend.Release(q.orig)
		q.orig = q.orig[:0]
	}
}

// clearTx forgets Send's state of the frame.
func (mf *mframe) clearTx() {
	mf.st = 0
	mf.orig = nil
}

// finishLocked returns a chain Send took: the structs to the free list, and
// the mbufs to the mempool unless the device has them (sent), apart from
// empty buffers that were left out of the mbuf chain. q is the chain's
// queue, q.mu held.
func (q *queue) finishLocked(h *mframe, sent bool) {
	if h.Next() == nil {
		if !sent {
			q.queueFree(h.m)
		}
		q.recycle(h)
		return
	}
	for b := &h.Frame; b != nil; {
		mf := q.mine(b)
		b = b.Next()
		if !sent || (mf != h && len(mf.Bytes()) == 0) {
			q.queueFree(mf.m)
		}
		q.recycle(mf)
	}
}

// copyOf copies a frame another backend made into a new mbuf frame of q,
// or returns nil when the pool is short. A frame too long for any mbuf
// chain becomes an empty copy marked to drop.
func (q *queue) copyOf(f *backend.Frame) *mframe {
	n := f.Len()
	size := n
	if n > maxFrame {
		size = 0
	}
	if q.alloc.Alloc(q.one[:], size) != 1 {
		return nil
	}
	c := asM(q.one[0])
	q.one[0] = nil
	c.orig = f
	if size != n {
		c.st |= stDrop
		return c
	}
	c.SetLen(n)
	off := 0
	for b := f; b != nil; b = b.Next() {
		off += c.CopyFrom(b.Bytes(), off)
	}
	c.Meta = f.Meta
	return c
}

// prepare checks a frame, completes what the device cannot do, writes its
// data windows into the mbufs and fills its offload request. It reports
// whether the frame asks for an offload; a frame to drop is marked.
func (q *queue) prepare(mf *mframe) bool {
	p := q.p
	f := &mf.Frame
	mf.off = C.struct_us_txoff{}
	if mf.st&stDrop != 0 {
		return false
	}
	n := f.Len()
	if n < 14 || n > maxFrame {
		mf.st |= stDrop
		return false
	}
	if f.GSO == backend.GSONone && f.Csum != backend.CsumPartial && n <= p.caps.MTU+14 {
		mf.sync() // the common case: nothing to check or ask for
		return false
	}
	head := f.Bytes()
	l2 := l2Len(f, head)
	if (f.GSO == backend.GSONone && n > p.caps.MTU+l2) ||
		(f.GSO != backend.GSONone && n-l2 > p.caps.Offloads.TSOMax) {
		mf.st |= stDrop
		return false
	}
	want := false
	switch {
	case f.GSO == backend.GSOTCPv4:
		if want = tsoRequest(mf, head, l2); !want {
			mf.st |= stDrop
			return false
		}
	case f.Csum == backend.CsumPartial:
		if p.txCsum {
			want = csumRequest(mf, head, l2)
		}
		if !want && offload.CompleteChecksum(f) != nil {
			mf.st |= stDrop
			return false
		}
	}
	mf.sync()
	return want
}

// plain reports whether the frame goes out as it is: one mbuf, no offload
// to ask for, no state from Send, a length a wire of MTU maxLen-14 takes.
func (mf *mframe) plain(maxLen int) bool {
	f := &mf.Frame
	n := f.Len()
	return mf.st == 0 && f.GSO == backend.GSONone && f.Csum != backend.CsumPartial && f.Next() == nil &&
		n >= 14 && n <= maxLen
}

// writeOne writes the data window of a single-buffer frame into its mbuf,
// with no offload flags.
func (mf *mframe) writeOne() {
	m, n := mf.m, mf.Len()
	m.data_off = C.uint16_t(mf.Headroom())
	m.data_len = C.uint16_t(n)
	m.pkt_len = C.uint32_t(n)
	m.nb_segs = 1
	m.next = nil
	m.ol_flags = 0
}

// sync writes the chain's data windows into its mbufs. Empty buffers after
// the first are left out of the mbuf chain (devices may not take
// zero-length descriptors); finishLocked frees them.
func (h *mframe) sync() {
	if h.Next() == nil {
		h.writeOne()
		return
	}
	var prev *C.struct_rte_mbuf
	segs := 0
	for b := &h.Frame; b != nil; b = b.Next() {
		n := len(b.Bytes())
		if n == 0 && b != &h.Frame {
			continue
		}
		m := asM(b).m // the chain is the queue's own (see mine)
		m.data_off = C.uint16_t(b.Headroom())
		m.data_len = C.uint16_t(n)
		if prev != nil {
			prev.next = m
		}
		prev = m
		segs++
	}
	prev.next = nil
	m := h.m
	m.pkt_len = C.uint32_t(h.Len())
	m.nb_segs = C.uint16_t(segs)
	m.ol_flags = 0
}

// l2Len is the Ethernet header's length: the metadata's, or parsed with up
// to two VLAN tags.
func l2Len(f *backend.Frame, b []byte) int {
	if f.L2Len != 0 {
		return int(f.L2Len)
	}
	n := 14
	for n+4 <= len(b) && n < 22 {
		if t := binary.BigEndian.Uint16(b[n-2:]); t != 0x8100 && t != 0x88a8 {
			break
		}
		n += 4
	}
	return n
}

// ipFlags is the TX flag of the IP version behind an Ethernet header of
// l2 bytes, or 0.
func ipFlags(head []byte, l2 int) uint64 {
	if l2 < 14 || l2 > len(head) {
		return 0
	}
	switch binary.BigEndian.Uint16(head[l2-2:]) {
	case 0x0800:
		return txIPv4
	case 0x86dd:
		return txIPv6
	}
	return 0
}

// Limits of the mbuf's l2_len, l3_len and l4_len bitfields.
const (
	maxL2 = 1<<7 - 1
	maxL3 = 1<<9 - 1
	maxL4 = 1<<8 - 1
)

// csumRequest asks the device to complete a partial TCP or UDP checksum.
// It reports false, leaving the work to software, when the frame's
// partial checksum is not one the device understands or its headers are
// not all in the first buffer.
func csumRequest(mf *mframe, head []byte, l2 int) bool {
	f := &mf.Frame
	start, at := int(f.CsumStart), int(f.CsumOffset)
	ip := ipFlags(head, l2)
	l3 := start - l2
	if ip == 0 || l2 > maxL2 || l3 < 20 || l3 > maxL3 || start+at+2 > len(head) {
		return false
	}
	var flags uint64
	var l4, proto int
	switch at {
	case 16:
		if start+13 >= len(head) {
			return false
		}
		flags, proto, l4 = txTCPCsum, 6, int(head[start+12]>>4)*4
	case 6:
		flags, proto, l4 = txUDPCsum, 17, 8
	default:
		return false
	}
	if l4 < 8 || start+l4 > len(head) {
		return false
	}
	if ip == txIPv4 && (int(head[l2]&0xf)*4 != l3 || int(head[l2+9]) != proto) {
		return false
	}
	if ip == txIPv6 && l3 == 40 && int(head[l2+6]) != proto {
		return false
	}
	mf.off = C.struct_us_txoff{flags: C.uint64_t(flags | ip), l2: C.uint16_t(l2), l3: C.uint16_t(l3), l4: C.uint16_t(l4)}
	return true
}

// tsoRequest asks the device to segment a GSOTCPv4 frame. The device
// computes the IPv4 and TCP checksums of every segment.
func tsoRequest(mf *mframe, head []byte, l2 int) bool {
	f := &mf.Frame
	if ipFlags(head, l2) != txIPv4 || l2 > maxL2 || l2+20 > len(head) || f.GSOSize == 0 {
		return false
	}
	l3 := int(head[l2]&0xf) * 4
	if l3 < 20 || head[l2+9] != 6 || l2+l3+20 > len(head) {
		return false
	}
	l4 := int(head[l2+l3+12]>>4) * 4
	if l4 < 20 || l4 > maxL4 || l2+l3+l4 > len(head) {
		return false
	}
	mf.off = C.struct_us_txoff{
		flags: C.uint64_t(txTCPSeg | txTCPCsum | txIPv4 | txIPCsum),
		l2:    C.uint16_t(l2), l3: C.uint16_t(l3), l4: C.uint16_t(l4),
		tso: C.uint16_t(f.GSOSize),
	}
	return true
}

// sendSegmented cuts a GSO frame the device cannot take in software and
// sends the segments. ok means the frame was taken (sent, or dropped when
// malformed); segments the device refuses after a few tries are dropped.
// When the pool is short the frame stays the caller's.
func (q *queue) sendSegmented(f *backend.Frame) (ok bool, err error) {
	n, err := offload.SegmentCount(f)
	if err == nil && n > len(q.segs) {
		q.segs = make([]*backend.Frame, n)
	}
	if err == nil {
		n, err = offload.Segment(q.segs, f, &q.alloc, offload.SegmentOptions{KeepPartial: q.p.txCsum})
	}
	if errors.Is(err, offload.ErrNoBuffers) {
		return false, nil
	}
	if err != nil {
		q.addDrops(1)
		backend.ReleaseOne(f)
		return true, nil
	}
	sent := 0
	for tries := 0; sent < n && tries < 4; tries++ {
		k, err := q.sendBatch(q.segs[sent:min(n, sent+q.burst)])
		sent += k
		if err != nil {
			backend.Release(q.segs[sent:n])
			if sent == 0 {
				return false, err
			}
			backend.ReleaseOne(f)
			return true, err
		}
		if k > 0 {
			tries = -1
		}
	}
	if sent < n {
		q.addDrops(n - sent)
		backend.Release(q.segs[sent:n])
	}
	clear(q.segs[:n])
	backend.ReleaseOne(f)
	return true, nil
}

func (q *queue) addDrops(n int) {
	q.mu.Lock()
	q.stats.TxDrops += uint64(n)
	q.mu.Unlock()
}
