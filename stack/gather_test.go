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

// A segment sent by reference (Offloads.SG) keeps the bytes it points to
// in the send ring, acknowledged or not, until the frame is released: the
// writer waits for that room, and gets it when the last frame goes.
func TestTCPSendByReferencePinsAckedBytes(t *testing.T) {
	clock := backend.NewVirtualClock(t0)
	ea, eb, err := pipe.New(pipe.Config{Offloads: true, Clock: clock, Latency: time.Millisecond})
	require.NoError(t, err)
	hold := &holder{Backend: ea}
	n := newSimNetOver(t, 1, clock, ea, eb, hold)
	a := n.a
	lnI, err := n.b.Listen("tcp", ":80")
	require.NoError(t, err)
	ln := lnI.(*tcpListener)
	cl := dialManual(t, a, netip.MustParseAddrPort("10.0.0.2:80"))
	data := randomBytes(3, 1<<20)
	var srv *tcpSock
	var got []byte
	sent := 0
	buf := make([]byte, 64<<10)
	// run moves data until nothing more can happen.
	run := func() {
		for idle := 0; idle < 2; {
			progress := false
			if srv == nil {
				srv = tryAccept(ln)
			}
			if tcpState(cl.c.shState.Load()) >= stateEstablished && sent < len(data) {
				w := cl.writeSome(data[sent:])
				sent += w
				progress = w > 0
			}
			for srv != nil {
				r := srv.readSome(buf)
				if r == 0 {
					break
				}
				got = append(got, buf[:r]...)
				progress = true
			}
			if n.step() || progress {
				idle = 0
			} else {
				idle++
			}
		}
	}
	run()
	ringCap := cl.c.sndBuf.Load().Cap()
	require.Equal(t, ringCap, sent, "the writer filled the ring once")
	require.Equal(t, ringCap, len(got), "and all of it arrived and was acknowledged")
	assert.Equal(t, ringCap, cl.c.sndLag, "yet the held frames keep it")
	assert.Positive(t, a.Outstanding(), "frames sent by reference, held")
	assert.Positive(t, a.Counters().TCP.SentByReference)

	hold.release()
	for sent < len(data) || len(got) < len(data) {
		hold.release()
		before := len(got)
		run()
		require.Greater(t, len(got), before, "releasing the frames let the writer go on")
	}
	assert.Equal(t, data, got)
	require.NoError(t, cl.Close())
	require.NoError(t, srv.Close())
	for n.step() {
		hold.release()
	}
	hold.release()
	n.close()
}
