package stack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// seg4 feeds the peer's segment carrying data[from:to] of the connection
// whose first data byte is base, delivered as how says.
func seg4(h *harness, p *tcpPeer, base uint32, data []byte, from, to int, how feed) {
	b := frag4(peer4, our4, wire.IPProtoTCP, 1, 0, false,
		tcpHdr(peer4, our4, 40000, 80, base+uint32(from), p.ack, wire.TCPFlagACK, nil, data[from:to]))
	fixSums(b)
	h.inAs(b, how)
}

// readAll reads what s has, until a Read would block.
func readAll(t *testing.T, s *tcpSock) []byte {
	var got []byte
	for ringLen(s.c.rcvBuf.Load()) > 0 {
		b, err := readNow(t, s, 3000)
		require.NoError(t, err)
		got = append(got, b...)
	}
	return got
}

// Large in-order segments are held, not copied, until read; small ones,
// out-of-order ones and those past the queue's limit (a quarter of the
// device's buffers) are copied; a read takes each from where it is, in
// order, also after the receive buffer was resized; nothing is held once
// read.
func TestTCPHoldsLargeSegmentsUntilRead(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, _, s := estab(t, h)
	h.s.ifaces[0].holdMax = holdLimit(12) // three held buffers at most
	q := h.s.queues[0]
	base := p.seq
	data := randomBytes(9, 80000)
	held := func() int64 { return q.held.Load() }

	seg4(h, p, base, data, 0, 8000, feed{})
	assert.EqualValues(t, 1, held(), "a large segment is held")
	seg4(h, p, base, data, 8000, 8100, feed{})
	seg4(h, p, base, data, 8200, 16000, feed{})
	assert.EqualValues(t, 1, held(), "small and out-of-order segments are copied")
	seg4(h, p, base, data, 8100, 8200, feed{})
	seg4(h, p, base, data, 16000, 24000, feed{csum: backend.CsumVerified})
	seg4(h, p, base, data, 24000, 32000, feed{})
	assert.EqualValues(t, 3, held())
	seg4(h, p, base, data, 32000, 40000, feed{})
	assert.EqualValues(t, 3, held(), "past the limit, bytes are copied")
	tc := h.s.Counters().TCP
	assert.EqualValues(t, 3, tc.HeldSegments)
	assert.EqualValues(t, 1, tc.HoldCapped)

	got := make([]byte, 0, len(data))
	b, err := readNow(t, s, 5000)
	require.NoError(t, err)
	got = append(got, b...)
	require.NoError(t, s.SetReadBuffer(1<<20))
	h.poll()
	got = append(got, readAll(t, s)...)
	assert.Zero(t, held(), "what was read is let go")

	h.s.ifaces[0].holdMax = holdUnbounded
	seg4(h, p, base, data, 40000, 60000, feed{chain: true})
	assert.Positive(t, held(), "a chained segment is held too")
	seg4(h, p, base, data, 60000, 80000, feed{})
	got = append(got, readAll(t, s)...)
	assert.Equal(t, data, got)
	assert.Zero(t, held())
	p.seq = base + uint32(len(data))
	stillHealthy(t, p, s)
}

// What the application has not read when the stack closes goes back to
// the device, and a read after that finds no stale bytes.
func TestTCPHeldDataGoesBackOnClose(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, _, s := estab(t, h)
	data := randomBytes(10, 20000)
	seg4(h, p, p.seq, data, 0, 10000, feed{})
	seg4(h, p, p.seq, data, 10000, 20000, feed{chain: true})
	require.Positive(t, h.s.queues[0].held.Load())
	require.NoError(t, h.s.Close())
	assert.Zero(t, h.s.queues[0].held.Load())
	assert.Zero(t, h.fd.Outstanding(), "the held frames went back")
	b := make([]byte, 100)
	n, _ := s.Read(b)
	assert.Zero(t, n, "no bytes of frames given back")
}

// A connection holds as many frames as its largest receive ring has 8
// KiB stretches (frameSlots), not 64: a 4 MiB ring of unread 8000-byte
// segments holds all of them.
func TestTCPHoldsAFrameForEvery8KiBOfTheRing(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, _, s := estab(t, h)
	require.NoError(t, s.SetReadBuffer(4<<20))
	h.poll()
	base := p.seq
	const segs = 100
	data := randomBytes(10, segs*8000)
	for i := range segs {
		seg4(h, p, base, data, i*8000, (i+1)*8000, feed{})
	}
	tc := h.s.Counters().TCP
	assert.EqualValues(t, segs, tc.HeldSegments, "every segment held, none copied")
	assert.EqualValues(t, segs, h.s.queues[0].held.Load())
	got := readAll(t, s)
	assert.Equal(t, data, got)
	assert.Zero(t, h.s.queues[0].held.Load())
	p.seq = base + uint32(len(data))
	stillHealthy(t, p, s)
}

// A read that found no held frames reads only the bytes published before
// it looked: a large segment the loop holds meanwhile, the connection's
// first, is read from its frame by the next read, not from the ring's
// stale bytes where it only has a place. (Read through io.Copy, the race
// gave an echo of the right length with wrong bytes, or a panic when the
// next read found the ring past the held frame.)
func TestTCPReadRacingTheFirstHeldFrameLeavesItsBytes(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, _, s := estab(t, h)
	base := p.seq
	data := randomBytes(11, 9000)
	seg4(h, p, base, data, 0, 1000, feed{})
	rb := s.c.rcvBuf.Load()
	require.NotNil(t, rb)
	require.Nil(t, s.c.held.Load(), "a small segment is copied")
	avail, held := rb.Len(), s.c.held.Load() // the reader looks

	seg4(h, p, base, data, 1000, 9000, feed{})
	require.EqualValues(t, 1, h.s.Counters().TCP.HeldSegments)
	buf := make([]byte, 5000)
	n := readFrom(rb, avail, held, buf) // and reads
	require.Equal(t, 1000, n, "only what was there when the reader looked")
	got := append([]byte(nil), buf[:n]...)
	got = append(got, readAll(t, s)...)
	assert.Equal(t, data, got)
	assert.Zero(t, h.s.queues[0].held.Load())
	p.seq = base + uint32(len(data))
	stillHealthy(t, p, s)
}

// A receive ring's memory follows what it holds: it grows as data comes
// and, once the application has read everything, the loop gives a large
// store back at its next turn for the connection (here, the answer the
// application writes), so that a connection idle after a large request
// holds little. Data that comes later finds a new store.
func TestTCPReceiveStoreGivenBackOnceRead(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, _, s := estab(t, h)
	base := p.seq
	data := randomBytes(11, 30000)
	for off := 0; off < len(data); off += 1000 {
		seg4(h, p, base, data, off, off+1000, feed{})
	}
	rb := s.c.rcvBuf.Load()
	assert.Equal(t, 32768, rb.Stored(), "grown as far as the bytes needed")
	assert.Equal(t, data, readAll(t, s))
	assert.Equal(t, 32768, rb.Stored(), "the loop has not run since the read")
	assert.Equal(t, 32768, h.s.BufferStored())

	_, err := s.Write([]byte("answer"))
	require.NoError(t, err)
	h.poll()
	assert.Zero(t, rb.Stored(), "given back once read")
	assert.Equal(t, 512, h.s.BufferStored(), "the answer's send store")
	p.seq = base + uint32(len(data))
	stillHealthy(t, p, s)
}

// A send ring's memory goes back once everything sent is acknowledged, so
// that a connection idle after a large answer holds little; the next
// write takes one as large (from the pool, where a busy connection's
// comes straight back).
func TestTCPSendStoreGivenBackOnceAcknowledged(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, sa, s := estab(t, h)
	writeNow(t, h, s, bytesOf(20000, 'a'))
	sent := 0
	for _, seg := range p.segs() {
		sent += len(seg.Payload)
	}
	require.Positive(t, sent)
	sb := s.c.sndBuf.Load()
	assert.Equal(t, 32768, sb.Stored())
	in, err := s.Info()
	require.NoError(t, err)
	assert.Equal(t, 32768, in.SendMemory, "Info says what the buffer holds")
	assert.Equal(t, 256<<10, in.SendBuffer, "and its size")
	p.ack = sa.Seq + 1 + uint32(sent)
	p.send("A", nil)
	if sent < 20000 {
		assert.Equal(t, 32768, sb.Stored(), "not while bytes are unacknowledged")
		for got := p.segs(); len(got) > 0; got = p.segs() {
			for _, seg := range got {
				sent += len(seg.Payload)
			}
			p.ack = sa.Seq + 1 + uint32(sent)
			p.send("A", nil)
		}
	}
	require.Equal(t, 20000, sent)
	assert.Zero(t, sb.Stored(), "given back once acknowledged")
	assert.Zero(t, h.s.BufferStored())
	in, err = s.Info()
	require.NoError(t, err)
	assert.Zero(t, in.SendMemory)
	writeNow(t, h, s, []byte("more"))
	assert.Equal(t, 32768, sb.Stored(), "a store as large as the last, from the pool")
	segs := p.segs()
	require.Len(t, segs, 1)
	assert.Equal(t, "more", string(segs[0].Payload))
}
