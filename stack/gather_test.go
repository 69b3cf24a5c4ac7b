package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack/wire"
)

// A chained TCP segment (a GRO frame of mbufs, a segment another stack
// sent by reference) is placed in the receive ring from its buffers, in
// order or not; a checksum the device did not check is checked over the
// chain, and a bad one drops the segment as on the ordinary path.
func TestTCPReceivesChainedSegments(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	p, _, s := estab(t, h)
	data := randomBytes(7, 6000)
	in := func(from, to int, csum backend.CsumState, damage bool) {
		b := frag4(peer4, our4, wire.IPProtoTCP, 1, 0, false,
			tcpHdr(peer4, our4, 40000, 80, p.seq+uint32(from), p.ack, wire.TCPFlagACK, nil, data[from:to]))
		fixSums(b)
		if damage {
			b[len(b)-1] ^= 0x40
		}
		h.inAs(b, feed{chain: true, csum: csum})
	}
	csumErrs := func() uint64 { return h.s.Counters().TCP.InCsumErrors }

	in(0, 1400, backend.CsumNone, false)
	in(1400, 2800, backend.CsumVerified, false)
	before := csumErrs()
	in(2800, 4200, backend.CsumNone, true)
	assert.Equal(t, before+1, csumErrs(), "the damaged chain is counted and dropped")
	in(5000, 6000, backend.CsumNone, false) // out of order
	in(2800, 4200, backend.CsumNone, false)
	in(4200, 5000, backend.CsumPartial, false)

	var got []byte
	for len(got) < len(data) {
		b, err := readNow(t, s, len(data))
		require.NoError(t, err)
		got = append(got, b...)
	}
	assert.Equal(t, data, got)
	p.seq += uint32(len(data))
	stillHealthy(t, p, s)
}

// holder keeps a reference to every frame its backend sends, as a device
// whose DMA is slow to finish would, until release.
type holder struct {
	backend.Backend
	held []*backend.Frame
}

func (h *holder) Send(q int, frames []*backend.Frame) (int, error) {
	for _, f := range frames {
		f.Ref()
		h.held = append(h.held, f)
	}
	return h.Backend.Send(q, frames)
}

func (h *holder) release() {
	backend.Release(h.held)
	h.held = h.held[:0]
}

// sgTransfer is a connection from a stack whose backend holds every frame
// it sends (holder) to another, over a virtio-like pipe on a virtual clock.
type sgTransfer struct {
	n     *simNet
	hold  *holder
	ln    *tcpListener
	cl    *tcpSock
	srv   *tcpSock
	data  []byte
	sent  int
	got   []byte
	buf   []byte
	setup func()
}

func newSGTransfer(t *testing.T, size int) *sgTransfer {
	clock := backend.NewVirtualClock(t0)
	ea, eb, err := pipe.New(pipe.Config{Offloads: true, Clock: clock, Latency: time.Millisecond})
	require.NoError(t, err)
	x := &sgTransfer{hold: &holder{Backend: ea}, data: randomBytes(3, size), buf: make([]byte, 64<<10)}
	x.n = newSimNetOver(t, 1, simEnds{clock, ea, eb, x.hold}, false)
	lnI, err := x.n.b.Listen("tcp", ":80")
	require.NoError(t, err)
	x.ln = lnI.(*tcpListener)
	x.cl = dialManual(t, x.n.a, netip.MustParseAddrPort("10.0.0.2:80"))
	return x
}

// run moves data until nothing more can happen; setup, when set, runs
// once the connection is accepted, before any data.
func (x *sgTransfer) run() {
	for idle := 0; idle < 2; {
		progress := false
		if x.srv == nil {
			if x.srv = tryAccept(x.ln); x.srv != nil && x.setup != nil {
				x.setup()
			}
		}
		if x.srv != nil && tcpState(x.cl.c.shState.Load()) >= stateEstablished && x.sent < len(x.data) {
			w, _ := x.cl.writeSome(x.data[x.sent:])
			x.sent += w
			progress = w > 0
		}
		for x.srv != nil {
			r := x.srv.readSome(x.buf)
			if r == 0 {
				break
			}
			x.got = append(x.got, x.buf[:r]...)
			progress = true
		}
		if x.n.step() || progress {
			idle = 0
		} else {
			idle++
		}
	}
}

// finish releases the frames until all the data is across, then closes.
func (x *sgTransfer) finish(t *testing.T) {
	for x.sent < len(x.data) || len(x.got) < len(x.data) {
		x.hold.release()
		before := len(x.got)
		x.run()
		require.Greater(t, len(x.got), before, "releasing the frames let the writer go on")
	}
	assert.Equal(t, x.data, x.got)
	require.NoError(t, x.cl.Close())
	require.NoError(t, x.srv.Close())
	for x.n.step() {
		x.hold.release()
	}
	x.hold.release()
	x.n.close()
}

// A segment sent by reference (Offloads.SG) keeps the bytes it points to
// in the send ring, acknowledged or not, until the frame is released: the
// writer waits for that room, and gets it when the last frame goes.
func TestTCPSendByReferencePinsAckedBytes(t *testing.T) {
	x := newSGTransfer(t, 1<<20)
	x.run()
	ringCap := x.cl.c.sndBuf.Load().Cap()
	require.Equal(t, ringCap, x.sent, "the writer filled the ring once")
	require.Equal(t, ringCap, len(x.got), "and all of it arrived and was acknowledged")
	assert.Equal(t, ringCap, x.cl.c.sndLag, "yet the held frames keep it")
	assert.Positive(t, x.n.a.Outstanding(), "frames sent by reference, held")
	assert.Positive(t, x.n.a.Counters().TCP.SentByReference)
	x.finish(t)
}

// A 4 MiB ring (the most tuning grows one to) full of TSO segments that
// are all still held goes by reference to its end: a connection has a pin
// for every 8 KiB of its ring, not 64 in all.
func TestTCPSendByReferencePinsAWholeTunedRing(t *testing.T) {
	x := newSGTransfer(t, 6<<20)
	x.setup = func() {
		require.NoError(t, x.cl.SetWriteBuffer(4<<20))
		require.NoError(t, x.srv.SetReadBuffer(4<<20))
	}
	x.run()
	require.Equal(t, 4<<20, x.sent, "the writer filled the ring once")
	require.Equal(t, 4<<20, len(x.got))
	segs := (4<<20 + x.cl.c.mss*44 - 1) / (x.cl.c.mss * 44) // TSO segments of 44 MSS
	assert.GreaterOrEqual(t, x.n.a.Counters().TCP.SentByReference, uint64(segs), "every segment by reference")
	x.finish(t)
}
