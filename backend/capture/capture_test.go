package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack/wire"
)

const start = int64(1_700_000_000_123_456_789)

// tcpFrame is an Ethernet/IPv4/TCP frame from b with payload and its
// checksum left partial; with mss > 0 it is a TSO frame.
func tcpFrame(t *testing.T, b backend.Backend, seq uint32, payload []byte, mss int) *backend.Frame {
	t.Helper()
	data := make([]byte, 54+len(payload))
	binary.BigEndian.PutUint16(data[12:], 0x0800)
	ip := data[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
	ip[6], ip[8], ip[9] = 0x40, 64, 6
	copy(ip[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})
	binary.BigEndian.PutUint16(ip[10:], wire.Checksum(ip, 0))
	th := data[34:]
	binary.BigEndian.PutUint16(th[0:], 40000)
	binary.BigEndian.PutUint16(th[2:], 80)
	binary.BigEndian.PutUint32(th[4:], seq)
	th[12], th[13] = 5<<4, 0x18
	binary.BigEndian.PutUint16(th[14:], 65535)
	copy(th[20:], payload)
	binary.BigEndian.PutUint16(th[16:], wire.Fold(wire.PseudoHeaderSum(ip[12:16], ip[16:20], 6, len(th))))
	fs := make([]*backend.Frame, 1)
	require.Equal(t, 1, b.Alloc(0, fs, len(data)))
	f := fs[0]
	require.True(t, f.SetLen(len(data)))
	f.CopyFrom(data, 0)
	f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 16
	if mss > 0 {
		f.GSO, f.GSOSize = backend.GSOTCPv4, uint16(mss)
	}
	return f
}

func payload(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + seed)
	}
	return b
}

// wireBytes is what a capture of f must hold: its bytes with the partial
// checksum completed.
func wireBytes(t *testing.T, f *backend.Frame) []byte {
	t.Helper()
	b := f.AppendTo(nil)
	if f.Csum == backend.CsumPartial {
		require.NoError(t, offload.CompleteChecksumBytes(b, int(f.CsumStart), int(f.CsumOffset)))
	}
	return b
}

type rec struct {
	ts   int64
	data []byte
	orig int
}

// readAll reads every record of a pcap capture and requires it to be an
// Ethernet capture with nanosecond timestamps and our snap length.
func readAll(t *testing.T, r io.Reader) []rec {
	t.Helper()
	pr, err := pcapgo.NewReader(r)
	require.NoError(t, err)
	assert.Equal(t, layers.LinkTypeEthernet, pr.LinkType())
	assert.Equal(t, uint32(Snaplen), pr.Snaplen())
	var out []rec
	for {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, rec{ts: ci.Timestamp.UnixNano(), data: append([]byte(nil), data...), orig: ci.Length})
	}
}

func TestCaptureOverPipe(t *testing.T) {
	for _, mbuf := range []bool{false, true} {
		t.Run(fmt.Sprintf("mbuf %v", mbuf), func(t *testing.T) {
			clock := backend.NewVirtualClock(start)
			a, b, err := pipe.New(pipe.Config{Clock: clock, Mbuf: mbuf, Offloads: true, QueueDepth: 3, Latency: 10 * time.Millisecond})
			require.NoError(t, err)
			var outA, outB bytes.Buffer
			wa, err := NewWriter(&outA)
			require.NoError(t, err)
			wb, err := NewWriter(&outB)
			require.NoError(t, err)
			ca, cb := Wrap(a, wa, clock), Wrap(b, wb, clock)

			var sent, received []rec
			frames := []*backend.Frame{
				tcpFrame(t, ca, 1, payload(100, 1), 0),
				tcpFrame(t, ca, 2, payload(65535-40, 2), 1448),
				tcpFrame(t, ca, 3, payload(1001, 3), 0),
				tcpFrame(t, ca, 4, payload(10, 4), 0),
			}
			frames[2].Csum = backend.CsumNone
			frames[2].Bytes()[50] = 0xaa // a checksum we must not touch
			live := make([][]byte, len(frames))
			for i, f := range frames {
				live[i] = f.AppendTo(nil)
				if i < 3 {
					sent = append(sent, rec{ts: start + int64(i)*int64(time.Millisecond), data: wireBytes(t, f), orig: f.Len()})
				}
			}
			for i := range 3 {
				clock.Set(start + int64(i)*int64(time.Millisecond))
				n, err := ca.Send(0, frames[i:i+1])
				require.NoError(t, err)
				require.Equal(t, 1, n)
			}
			n, err := ca.Send(0, frames[3:])
			require.NoError(t, err)
			require.Zero(t, n, "the pipe is full: nothing recorded")
			backend.ReleaseOne(frames[3])

			in := make([]*backend.Frame, 4)
			for i := range 3 {
				at, ok := cb.NextArrival(0)
				require.True(t, ok)
				clock.Set(at + 10)
				n, err := cb.Recv(0, in)
				require.NoError(t, err)
				require.Equal(t, 1, n)
				f := in[0]
				assert.Equal(t, live[i], f.AppendTo(nil), "the live frame is left alone")
				received = append(received, rec{ts: at + 10, data: wireBytes(t, f), orig: f.Len()})
				backend.ReleaseOne(f)
			}
			require.NoError(t, ca.Close())
			require.NoError(t, cb.Close())
			require.NoError(t, wa.Close())
			require.NoError(t, wb.Close())
			assert.Zero(t, a.Outstanding())
			assert.Zero(t, b.Outstanding())

			assert.Equal(t, sent, readAll(t, &outA))
			assert.Equal(t, received, readAll(t, bytes.NewReader(outB.Bytes())))
			for i, r := range readAll(t, bytes.NewReader(outB.Bytes())) {
				p := gopacket.NewPacket(r.data, layers.LayerTypeEthernet, gopacket.Default)
				require.Nil(t, p.ErrorLayer())
				tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				require.NoError(t, tcp.SetNetworkLayerForChecksum(p.NetworkLayer()))
				c, err := tcp.ComputeChecksum()
				require.NoError(t, err)
				if i == 2 {
					assert.NotZero(t, c, "a bad checksum stays bad")
				} else {
					assert.Zero(t, c, "record %d shows a valid checksum", i)
				}
			}
		})
	}
}

func TestRotation(t *testing.T) {
	for _, c := range []struct {
		maxFiles int
		files    [][]int // packet numbers in NAME, NAME.1, NAME.2...
	}{
		{2, [][]int{{10}, {7, 8, 9}, {4, 5, 6}}},
		{0, [][]int{{10}, {7, 8, 9}}},
		{5, [][]int{{10}, {7, 8, 9}, {4, 5, 6}, {1, 2, 3}}},
	} {
		t.Run(fmt.Sprintf("keep %d", c.maxFiles), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ustack.pcap")
			maxBytes := int64(24 + 3*(16+100))
			w, err := Create(path, Options{MaxBytes: maxBytes, MaxFiles: c.maxFiles})
			require.NoError(t, err)
			for i := 1; i <= 10; i++ {
				data := bytes.Repeat([]byte{byte(i)}, 100)
				require.NoError(t, w.WritePacket(int64(i)*1e9, data))
			}
			require.NoError(t, w.Close())
			names, err := filepath.Glob(path + "*")
			require.NoError(t, err)
			assert.Len(t, names, len(c.files))
			for i, want := range c.files {
				name := path
				if i > 0 {
					name = fmt.Sprintf("%s.%d", path, i)
				}
				f, err := os.Open(name)
				require.NoError(t, err)
				st, err := f.Stat()
				require.NoError(t, err)
				assert.LessOrEqual(t, st.Size(), maxBytes)
				var got []int
				for _, r := range readAll(t, f) {
					got = append(got, int(r.data[0]))
					assert.Equal(t, int64(r.data[0])*1e9, r.ts)
				}
				f.Close()
				assert.Equal(t, want, got, name)
				if c.maxFiles == 2 {
					tshark(t, name)
				}
			}
		})
	}
}

func TestRotationKeepsOversizeRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.pcap")
	w, err := Create(path, Options{MaxBytes: 100, MaxFiles: 1})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, w.WritePacket(int64(i), make([]byte, 500)))
	}
	require.NoError(t, w.Close())
	for _, name := range []string{path, path + ".1"} {
		f, err := os.Open(name)
		require.NoError(t, err)
		assert.Len(t, readAll(t, f), 1, name)
		f.Close()
	}
}

func TestWriterRefuses(t *testing.T) {
	_, err := Create(filepath.Join(t.TempDir(), "x.pcap"), Options{MaxFiles: -1})
	assert.ErrorContains(t, err, "negative")
	_, err = Create(filepath.Join(t.TempDir(), "no", "such", "dir.pcap"), Options{})
	assert.Error(t, err)
}

// failing is an io.Writer that fails after some bytes.
type failing struct{ left int }

func (f *failing) Write(p []byte) (int, error) {
	if len(p) > f.left {
		return 0, errors.New("disk full")
	}
	f.left -= len(p)
	return len(p), nil
}

func TestWriteErrorsDoNotStopTraffic(t *testing.T) {
	clock := backend.NewVirtualClock(start)
	a, b, err := pipe.New(pipe.Config{Clock: clock})
	require.NoError(t, err)
	w, err := NewWriter(&failing{left: 24})
	require.NoError(t, err)
	ca := Wrap(a, w, clock)
	in := make([]*backend.Frame, 1)
	for i := range 100 {
		f := tcpFrame(t, ca, uint32(i), payload(1400, i), 0)
		f.Csum = backend.CsumNone
		n, err := ca.Send(0, []*backend.Frame{f})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, _ = b.Recv(0, in)
		require.Equal(t, 1, n)
		backend.Release(in)
	}
	assert.NotZero(t, ca.WriteErrors())
	assert.ErrorContains(t, ca.Close(), "disk full")
	assert.ErrorContains(t, w.Close(), "capture: disk full")
	require.NoError(t, b.Close())
	assert.Zero(t, a.Outstanding())
}

func TestWriterConcurrent(t *testing.T) {
	var out bytes.Buffer
	w, err := NewWriter(&out)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				require.NoError(t, w.WritePacket(int64(g*1000+i), []byte{byte(g), byte(i), 3, 4}))
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close())
	assert.Len(t, readAll(t, &out), 1000)
	assert.ErrorContains(t, w.WritePacket(0, []byte{1}), "closed")
}

func TestCaptureFileIsWellFormed(t *testing.T) {
	clock := backend.NewVirtualClock(start)
	a, b, err := pipe.New(pipe.Config{Clock: clock, Offloads: true, Mbuf: true})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "pipe.pcap")
	w, err := Create(path, Options{})
	require.NoError(t, err)
	ca := Wrap(a, w, clock)
	cb := Wrap(b, w, clock)
	in := make([]*backend.Frame, 8)
	for i := range 20 {
		clock.Advance(time.Millisecond)
		fs := []*backend.Frame{tcpFrame(t, ca, uint32(i*70000), payload(700+i, i), 0), tcpFrame(t, ca, uint32(i*70000+800), payload(20000, i), 1448)}
		n, err := ca.Send(0, fs)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, _ = cb.Recv(0, in)
		require.Equal(t, 2, n)
		backend.Release(in[:n])
	}
	require.NoError(t, ca.Close())
	require.NoError(t, cb.Close())
	require.NoError(t, w.Close())
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	assert.Len(t, readAll(t, f), 80)
	tshark(t, path)
}

// tshark checks a capture with Wireshark's dissectors when tshark is
// installed: no frame may be malformed or carry a bad IP, TCP or UDP
// checksum.
func tshark(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark is not installed: skipping the dissector check")
		return
	}
	cmd := exec.Command(bin, "-n", "-r", path,
		"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-Y", `_ws.malformed || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad"`)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark: %s", stderr.String())
	assert.Empty(t, string(bytes.TrimSpace(out)), "malformed frames in %s", path)
}

func TestTsharkAvailable(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not on PATH: captures are checked with pcapgo and gopacket only")
	}
}

func TestNoAllocationsPerBurst(t *testing.T) {
	clock := backend.NewVirtualClock(start)
	a, b, err := pipe.New(pipe.Config{Clock: clock, Offloads: true})
	require.NoError(t, err)
	w, err := NewWriter(io.Discard)
	require.NoError(t, err)
	ca, cb := Wrap(a, w, clock), Wrap(b, w, clock)
	tmpl := tcpFrame(t, ca, 1, payload(1400, 1), 0)
	data, meta := tmpl.AppendTo(nil), tmpl.Meta
	backend.ReleaseOne(tmpl)
	out := make([]*backend.Frame, 32)
	in := make([]*backend.Frame, 32)
	step := func() {
		n := ca.Alloc(0, out, len(data))
		for _, f := range out[:n] {
			f.SetLen(len(data))
			f.CopyFrom(data, 0)
			f.Meta = meta
		}
		sent, _ := ca.Send(0, out[:n])
		backend.Release(out[sent:n])
		m, _ := cb.Recv(0, in)
		backend.Release(in[:m])
	}
	for range 10 {
		step()
	}
	assert.Zero(t, testing.AllocsPerRun(200, step))
	require.NoError(t, ca.Close())
	require.NoError(t, cb.Close())
	require.NoError(t, w.Close())
	assert.Zero(t, a.Outstanding())
	assert.Zero(t, b.Outstanding())
}

// OnError hears of the first write error when it happens, once: a full
// disk (/dev/full) stops the capture, not the writes' callers.
func TestOnErrorIsToldOnce(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full")
	}
	var errs []error
	w, err := Create("/dev/full", Options{OnError: func(err error) { errs = append(errs, err) }})
	require.NoError(t, err)
	frame := payload(1500, 1)
	var first error
	for i := range 100 {
		if err := w.WritePacket(int64(i), frame); err != nil && first == nil {
			first = err
		}
	}
	require.Error(t, first, "the buffer reached the device")
	require.Len(t, errs, 1)
	assert.Equal(t, first, errs[0])
	assert.ErrorIs(t, errs[0], syscall.ENOSPC)
	assert.Equal(t, first, w.Close())
	assert.Len(t, errs, 1)
}
