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
	if len(frames) == 0 {
		return 0, nil
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

// sendState is what Send knows of a frame of its batch.
type sendState uint8

const (
	stLast sendState = 1 << iota // Send took the caller's last reference
	stHeld                       // the caller holds it still: mbuf refcnt raised
	stDrop                       // accepted but not sent (too long, malformed)
	stSent                       // the device took it
)

// txEntry is Send's record of a frame of its batch. It is kept in Go, not
// in the frame: a frame the device took is in the device's mbuf, which
// another queue may receive, free and reuse at once.
type txEntry struct {
	f      *backend.Frame
	orig   *backend.Frame // the caller's frame, when f is a copy of it
	st     sendState
	lender uint32
	segs   int32 // mbufs in f's chain
	len    int32
	off    C.struct_us_txoff
}

// skipped is an empty buffer of a batch frame's chain that sync left out
// of its mbuf chain, to free when the device takes the rest.
type skipped struct {
	i int // the frame's index in the batch
	m *C.struct_rte_mbuf
}

// sendBatch sends up to a burst of frames that need no software
// segmentation and returns how many the device took (a prefix).
func (q *queue) sendBatch(fs []*backend.Frame) (int, error) {
	p := q.p
	if p.closing.Load() {
		return 0, backend.ErrClosed
	}
	// Prepare every frame: our own mbufs, or copies of others' frames. The
	// entries are filled in place: a txEntry holds pointers, and building
	// one to append costs a typed copy.
	ents := q.ents[:min(len(fs), cap(q.ents))]
	q.skip = q.skip[:0]
	offl := false
	maxLen := p.caps.MTU + 14
	n := 0
	for _, f := range fs[:len(ents)] {
		e := &ents[n]
		e.f, e.orig, e.st, e.off = f, nil, 0, C.struct_us_txoff{}
		if !ours(f) {
			c, drop := q.copyOf(f)
			if c == nil {
				break // no buffers: this frame and the rest stay the caller's
			}
			e.orig, e.f = f, &c.Frame
			if drop {
				e.st |= stDrop
			}
		}
		mf := asM(e.f)
		if e.st&stDrop == 0 {
			if mf.plain(maxLen) {
				mf.writeOne() // the common case: nothing to check or ask for
			} else if want, ok := q.prepare(n, mf, &e.off); !ok {
				e.st |= stDrop
			} else if want {
				offl = true
			}
		}
		e.lender = mf.lender
		e.segs = int32(e.f.Segments())
		e.len = int32(e.f.Len())
		// Send takes one reference of each frame, as Release would.
		// Frames the caller still holds get one more mbuf reference
		// for the device to drop when it is done.
		if e.f.Take() {
			e.st |= stLast
		}
		n++
	}
	ents = ents[:n]
	if n == 0 {
		return 0, nil
	}

	q.mu.Lock()
	if q.closed {
		q.giveBack(ents)
		q.dropHeld()
		q.mu.Unlock()
		q.finish()
		return 0, backend.ErrClosed
	}
	slot := q.slot[:0]
	held := q.held[:0]
	for i := range ents {
		e := &ents[i]
		if e.st&stDrop != 0 {
			continue
		}
		m := asM(e.f).mbuf()
		if e.st&stLast == 0 {
			e.st |= stHeld
			held = append(held, m)
		}
		q.tx[len(slot)] = m
		if offl {
			q.txo[len(slot)] = e.off
		}
		slot = append(slot, i)
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
		for _, i := range slot[start : start+k] {
			ents[i].st |= stSent
		}
		start += k
		if bad == k && start < len(slot) {
			// The device's preparation refused this one: a frame no
			// wire would carry.
			ents[slot[start]].st |= stDrop
			start++
			continue
		}
		break
	}
	q.slot = slot[:0]

	// The device took a prefix: the frames up to the first one neither
	// sent nor dropped. Frames it took are not to be read again.
	var pkts, bytes, drops, mine int
	cut := len(ents)
	for i := range ents {
		e := &ents[i]
		sent := e.st&stSent != 0
		if !sent && e.st&stDrop == 0 {
			cut = i
			break
		}
		if e.orig != nil {
			q.done = append(q.done, e.orig)
		}
		if !sent {
			drops++
			if e.st&stHeld != 0 {
				q.held = append(q.held, asM(e.f).mbuf())
			}
			if e.st&stLast != 0 {
				q.later = append(q.later, e.f)
			}
			continue
		}
		pkts++
		bytes += int(e.len)
		if e.st&stLast == 0 {
			continue
		}
		if e.lender == q.lender {
			mine += int(e.segs)
		} else {
			lenderOf(e.lender).out.Add(-int64(e.segs))
		}
	}
	q.out.Add(-int64(mine))
	q.giveBack(ents[cut:])
	q.dropHeld()
	q.freeSkipped(ents, cut)
	clear(ents)
	q.stats.TxPackets += uint64(pkts)
	q.stats.TxBytes += uint64(bytes)
	q.stats.TxDrops += uint64(drops)
	q.mu.Unlock()
	q.finish()
	return cut, nil
}

// freeSkipped frees the empty buffers left out of the mbuf chains of the
// frames the device took with the caller's last reference: they are not
// the device's. q.mu is held.
func (q *queue) freeSkipped(ents []txEntry, cut int) {
	segs := q.held[:0]
	for _, s := range q.skip {
		if s.i < cut && ents[s.i].st&(stSent|stLast) == stSent|stLast {
			segs = append(segs, s.m)
		}
	}
	if len(segs) > 0 {
		C.us_free_segs(&segs[0], C.uint(len(segs)))
	}
	q.held = segs[:0]
	q.skip = q.skip[:0]
}

// sendPlain is Send for the stack's usual burst: frames this queue lent,
// one mbuf each, asking for no offload, whose last reference the caller
// gives up. One cgo call checks them, writes their mbufs and sends them
// (us_send_plain). It reports false, having changed nothing, when a frame
// is of another kind or the queue is closed.
func (q *queue) sendPlain(fs []*backend.Frame) (int, bool) {
	for _, f := range fs {
		if !ours(f) {
			return 0, false
		}
	}
	// fs now holds no Go pointers: C may read it.
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0, false
	}
	r := uint64(C.us_send_plain(caddr(q.cq), caddr(&fs[0]), C.uint16_t(len(fs)), C.int64_t(q.p.caps.MTU+14)))
	if r == C.US_NOT_PLAIN {
		q.mu.Unlock()
		return 0, false
	}
	k := int(r & 0xffff)
	q.out.Add(-int64(k))
	q.stats.TxPackets += uint64(k)
	q.stats.TxBytes += r >> 16
	q.mu.Unlock()
	return k, true
}

// giveBack undoes Send's claim on frames the device did not take: the
// caller gets its reference back, held mbufs are noted for dropHeld, and
// copies of the caller's frames are freed. q.mu is held.
func (q *queue) giveBack(ents []txEntry) {
	for _, e := range ents {
		if e.st&stHeld != 0 {
			q.held = append(q.held, asM(e.f).mbuf())
		}
		if e.orig != nil {
			q.later = append(q.later, e.f)
			continue
		}
		e.f.Ref()
	}
}

// dropHeld takes back the mbuf reference Send added for the device from
// the held frames in q.held, which the device did not take. q.mu is held.
func (q *queue) dropHeld() {
	if len(q.held) > 0 {
		C.us_refcnt(&q.held[0], C.uint(len(q.held)), -1)
	}
	q.held = q.held[:0]
}

// finish frees the chains Send dropped and releases the callers' frames
// it sent as copies, once q.mu is released (freeing takes the lenders'
// locks, q's among them).
func (q *queue) finish() {
	if len(q.later) > 0 {
		owner.FreeChains(q.later) // Send took their last reference
		clear(q.later)
		q.later = q.later[:0]
	}
	if len(q.done) > 0 {
		backend.Release(q.done)
		q.done = q.done[:0]
	}
}

// copyOf copies a frame another backend made into a new mbuf frame of q,
// or returns nil when the pool is short. A frame too long for any mbuf
// chain becomes an empty copy to drop.
func (q *queue) copyOf(f *backend.Frame) (c *mframe, drop bool) {
	n := f.Len()
	size := n
	if n > maxFrame {
		size = 0
	}
	if q.alloc.Alloc(q.one[:], size) != 1 {
		return nil, false
	}
	c = asM(q.one[0])
	q.one[0] = nil
	if size != n {
		return c, true
	}
	c.SetLen(n)
	off := 0
	for b := f; b != nil; b = b.Next() {
		off += c.CopyFrom(b.Bytes(), off)
	}
	c.Meta = f.Meta
	return c, false
}

// prepare checks the frame at index i of the batch, completes what the
// device cannot do, writes its data windows into the mbufs and fills its
// offload request. It reports whether the frame asks for an offload, and
// false for ok when it is one to drop.
func (q *queue) prepare(i int, mf *mframe, off *C.struct_us_txoff) (want, ok bool) {
	p := q.p
	f := &mf.Frame
	n := f.Len()
	if n < 14 || n > maxFrame {
		return false, false
	}
	if f.GSO == backend.GSONone && f.Csum != backend.CsumPartial && n <= p.caps.MTU+14 {
		q.sync(i, mf) // nothing to check or ask for
		return false, true
	}
	head := f.Bytes()
	l2 := l2Len(f, head)
	if (f.GSO == backend.GSONone && n > p.caps.MTU+l2) ||
		(f.GSO != backend.GSONone && n-l2 > p.caps.Offloads.TSOMax) {
		return false, false
	}
	switch {
	case f.GSO == backend.GSOTCPv4:
		if want = tsoRequest(f, off, head, l2); !want {
			return false, false
		}
	case f.Csum == backend.CsumPartial:
		if p.txCsum {
			want = csumRequest(f, off, head, l2)
		}
		if !want && offload.CompleteChecksum(f) != nil {
			return false, false
		}
	}
	q.sync(i, mf)
	return want, true
}

// plain reports whether the frame goes out as it is: one mbuf, no offload
// to ask for, a length a wire of MTU maxLen-14 takes.
func (mf *mframe) plain(maxLen int) bool {
	f := &mf.Frame
	n := f.Len()
	return f.GSO == backend.GSONone && f.Csum != backend.CsumPartial && f.Next() == nil &&
		n >= 14 && n <= maxLen
}

// writeOne writes the data window of a single-buffer frame into its mbuf,
// with no offload flags.
func (mf *mframe) writeOne() {
	m, n := mf.mbuf(), mf.Len()
	m.data_off = C.uint16_t(mf.Headroom())
	m.data_len = C.uint16_t(n)
	m.pkt_len = C.uint32_t(n)
	m.nb_segs = 1
	m.next = nil
	m.ol_flags = 0
}

// sync writes the chain's data windows into its mbufs, for the frame at
// index i of the batch. Empty buffers after the first are left out of the
// mbuf chain (devices may not take zero-length descriptors) and noted in
// q.skip.
func (q *queue) sync(i int, h *mframe) {
	if h.Next() == nil {
		h.writeOne()
		return
	}
	var prev *C.struct_rte_mbuf
	segs := 0
	for b := &h.Frame; b != nil; b = b.Next() {
		n := len(b.Bytes())
		m := asM(b).mbuf() // a chain's buffers are all the head's kind
		if n == 0 && b != &h.Frame {
			q.skip = append(q.skip, skipped{i, m})
			continue
		}
		m.data_off = C.uint16_t(b.Headroom())
		m.data_len = C.uint16_t(n)
		if prev != nil {
			prev.next = m
		}
		prev = m
		segs++
	}
	prev.next = nil
	m := h.mbuf()
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
func csumRequest(f *backend.Frame, off *C.struct_us_txoff, head []byte, l2 int) bool {
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
	*off = C.struct_us_txoff{flags: C.uint64_t(flags | ip), l2: C.uint16_t(l2), l3: C.uint16_t(l3), l4: C.uint16_t(l4)}
	return true
}

// tsoRequest asks the device to segment a GSOTCPv4 frame. The device
// computes the IPv4 and TCP checksums of every segment.
func tsoRequest(f *backend.Frame, off *C.struct_us_txoff, head []byte, l2 int) bool {
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
	*off = C.struct_us_txoff{
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
