package faults

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack/wire"
)

const start = int64(1_000_000_000)

// link is a pipe on a virtual clock with fault injection on each end.
type link struct {
	clock  *backend.VirtualClock
	a, b   *pipe.End
	fa, fb *Backend
}

// withLink runs test over a pipe in plain and mbuf mode, with spec injected
// at end a (fa) and at end b (fb) as given, and checks that every buffer is
// back at the end.
func withLink(t *testing.T, cfg pipe.Config, specA, specB string, seed uint64, test func(t *testing.T, l *link)) {
	for _, mbuf := range []bool{false, true} {
		name := "plain"
		if mbuf {
			name = "mbuf"
		}
		t.Run(name, func(t *testing.T) {
			l := newLink(t, cfg, mbuf, specA, specB, seed)
			test(t, l)
			l.close(t)
		})
	}
}

func newLink(t *testing.T, cfg pipe.Config, mbuf bool, specA, specB string, seed uint64) *link {
	t.Helper()
	l := &link{clock: backend.NewVirtualClock(start)}
	cfg.Clock, cfg.Mbuf = l.clock, mbuf
	var err error
	l.a, l.b, err = pipe.New(cfg)
	require.NoError(t, err)
	sa, err := Parse(specA)
	require.NoError(t, err)
	sb, err := Parse(specB)
	require.NoError(t, err)
	l.fa, err = Wrap(l.a, sa, seed, l.clock)
	require.NoError(t, err)
	l.fb, err = Wrap(l.b, sb, seed+1, l.clock)
	require.NoError(t, err)
	return l
}

func (l *link) close(t *testing.T) {
	t.Helper()
	require.NoError(t, l.fa.Close())
	require.NoError(t, l.fb.Close())
	assert.Zero(t, l.a.Outstanding(), "a's buffers")
	assert.Zero(t, l.b.Outstanding(), "b's buffers")
}

// send sends frames on queue 0 of from and requires all to be taken.
func send(t *testing.T, from backend.Backend, frames ...*backend.Frame) {
	t.Helper()
	n, err := from.Send(0, frames)
	require.NoError(t, err)
	require.Equal(t, len(frames), n)
}

// recvAll receives everything due on queue 0 of to, in bursts of 32.
func recvAll(t *testing.T, to backend.Backend) []*backend.Frame {
	t.Helper()
	var got []*backend.Frame
	buf := make([]*backend.Frame, 32)
	for {
		n, err := to.Recv(0, buf)
		require.NoError(t, err)
		if n == 0 {
			return got
		}
		got = append(got, buf[:n]...)
	}
}

// runUntilIdle advances the clock from one scheduled instant to the next,
// calling into both ends so that held frames move, and returns what each
// end received, until nothing is scheduled.
func (l *link) runUntilIdle(t *testing.T) (atA, atB []*backend.Frame) {
	t.Helper()
	for range 100000 {
		atA = append(atA, recvAll(t, l.fa)...)
		atB = append(atB, recvAll(t, l.fb)...)
		next, ok := int64(0), false
		for _, s := range []backend.Scheduler{l.fa, l.fb} {
			if at, aok := s.NextArrival(0); aok && (!ok || at < next) {
				next, ok = at, true
			}
		}
		if !ok {
			return atA, atB
		}
		require.GreaterOrEqual(t, next, l.clock.Now())
		if next == l.clock.Now() {
			continue
		}
		l.clock.Set(next)
	}
	require.FailNow(t, "the link never went idle")
	return nil, nil
}

// udpFrame is an Ethernet/IPv4/UDP frame of size bytes from b carrying id,
// with good checksums.
func udpFrame(t *testing.T, b backend.Backend, id uint32, size int) *backend.Frame {
	t.Helper()
	data := make([]byte, size)
	binary.BigEndian.PutUint16(data[12:], 0x0800)
	ip := data[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8], ip[9] = 64, 17
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], wire.Checksum(ip, 0))
	udp := data[34:]
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 4001)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	binary.BigEndian.PutUint32(udp[8:], id)
	for i := 12; i < len(udp); i++ {
		udp[i] = byte(int(id) + i)
	}
	binary.BigEndian.PutUint16(udp[6:], wire.Fold(wire.PseudoHeaderSum(ip[12:16], ip[16:20], 17, len(udp))))
	require.NoError(t, offload.CompleteChecksumBytes(data, 34, 6))
	return load(t, b, data)
}

func load(t *testing.T, b backend.Backend, data []byte) *backend.Frame {
	t.Helper()
	fs := make([]*backend.Frame, 1)
	require.Equal(t, 1, b.Alloc(0, fs, len(data)))
	require.True(t, fs[0].SetLen(len(data)))
	fs[0].CopyFrom(data, 0)
	return fs[0]
}

// idOf reads the id a udpFrame carries.
func idOf(f *backend.Frame) uint32 {
	var b [4]byte
	f.CopyTo(b[:], 42)
	return binary.BigEndian.Uint32(b[:])
}

func ids(frames []*backend.Frame) []uint32 {
	out := make([]uint32, len(frames))
	for i, f := range frames {
		out[i] = idOf(f)
	}
	return out
}

// tcpFrame is an Ethernet/IPv4 or IPv6/TCP frame from b with payload, its
// transport checksum left partial as a stack with TX checksum offload
// leaves it; with mss > 0 it is a TSO frame.
func tcpFrame(t *testing.T, b backend.Backend, v6 bool, seq uint32, payload []byte, mss int) *backend.Frame {
	t.Helper()
	l3 := 20
	if v6 {
		l3 = 40
	}
	data := make([]byte, 14+l3+20+len(payload))
	ip := data[14 : 14+l3]
	var src, dst []byte
	if v6 {
		binary.BigEndian.PutUint16(data[12:], 0x86dd)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(20+len(payload)))
		ip[6], ip[7] = 6, 64
		ip[8], ip[9], ip[23] = 0x20, 0x01, 1
		ip[24], ip[25], ip[39] = 0x20, 0x01, 2
		src, dst = ip[8:24], ip[24:40]
	} else {
		binary.BigEndian.PutUint16(data[12:], 0x0800)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(l3+20+len(payload)))
		binary.BigEndian.PutUint16(ip[4:], uint16(seq))
		ip[8], ip[9] = 64, 6
		copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
		binary.BigEndian.PutUint16(ip[10:], wire.Checksum(ip, 0))
		src, dst = ip[12:16], ip[16:20]
	}
	th := data[14+l3:]
	binary.BigEndian.PutUint16(th[0:], 40000)
	binary.BigEndian.PutUint16(th[2:], 80)
	binary.BigEndian.PutUint32(th[4:], seq)
	th[12], th[13] = 5<<4, 0x18 // ACK|PSH
	binary.BigEndian.PutUint16(th[14:], 65535)
	copy(th[20:], payload)
	binary.BigEndian.PutUint16(th[16:], wire.Fold(wire.PseudoHeaderSum(src, dst, 6, len(th))))
	f := load(t, b, data)
	f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, uint16(14+l3), 16
	if mss > 0 {
		f.GSO, f.GSOSize = backend.GSOTCPv4, uint16(mss)
		if v6 {
			f.GSO = backend.GSOTCPv6
		}
	}
	return f
}

func payload(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + seed + i>>9)
	}
	return b
}

func ms(n float64) int64 { return int64(n * float64(time.Millisecond)) }
