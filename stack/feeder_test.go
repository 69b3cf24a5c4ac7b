package stack

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ustack/ustack/backend"
)

// feeder is a test backend that delivers recorded frames at their
// timestamps and records what the stack sends.
type feeder struct {
	clock  backend.Clock
	pool   *backend.Pool
	small  *backend.Pool // buffers of ContiguousHeader bytes, for chains
	mac    []byte
	frames [][]byte
	times  []int64
	how    []feed
	next   int
	out    [][]byte
}

// feed is how the feeder delivers a frame: as a chain of the smallest
// buffers a frame may have, and with the checksum state a device gave it.
type feed struct {
	chain bool
	csum  backend.CsumState
}

func newFeeder(t testing.TB, clock backend.Clock, mbuf bool, mac []byte) *feeder {
	pool, err := backend.NewPool(backend.PoolConfig{Mbuf: mbuf, Count: 4096, Poison: true})
	if err != nil {
		t.Fatal(err)
	}
	small, err := backend.NewPool(backend.PoolConfig{Mbuf: true, DataRoom: backend.ContiguousHeader, Count: 8192, Poison: true})
	if err != nil {
		t.Fatal(err)
	}
	return &feeder{clock: clock, pool: pool, small: small, mac: mac}
}

func (f *feeder) add(at int64, frame []byte) { f.addAs(at, frame, feed{}) }

func (f *feeder) addAs(at int64, frame []byte, how feed) {
	f.frames = append(f.frames, frame)
	f.times = append(f.times, at)
	f.how = append(f.how, how)
}

func (f *feeder) Caps() backend.Caps {
	return backend.Caps{Name: "feeder", MAC: f.mac, MTU: 1500, Queues: 1, BufSize: f.pool.BufSize()}
}

func (f *feeder) Recv(_ int, frames []*backend.Frame) (int, error) {
	n := 0
	for n < len(frames) && f.next < len(f.frames) && f.times[f.next] <= f.clock.Now() {
		b, how := f.frames[f.next], f.how[f.next]
		f.next++
		pool := f.pool
		if how.chain {
			pool = f.small
		}
		fr := pool.AllocOne(len(b))
		if fr == nil {
			break
		}
		fr.SetLen(len(b))
		fr.CopyFrom(b, 0)
		fr.Csum = how.csum
		frames[n] = fr
		n++
	}
	return n, nil
}

func (f *feeder) nextAt() (int64, bool) {
	if f.next < len(f.frames) {
		return f.times[f.next], true
	}
	return 0, false
}

func (f *feeder) Alloc(_ int, frames []*backend.Frame, size int) int {
	return f.pool.Alloc(frames, size)
}

func (f *feeder) Send(_ int, frames []*backend.Frame) (int, error) {
	for _, fr := range frames {
		f.out = append(f.out, fr.AppendTo(nil))
	}
	backend.Release(frames)
	return len(frames), nil
}

func (f *feeder) Wait(int, int64) error { return nil }
func (f *feeder) Wake(int)              {}
func (f *feeder) Outstanding() int      { return f.pool.Outstanding() + f.small.Outstanding() }
func (f *feeder) Close() error          { return nil }

// findCorpus finds the shared captures: $USTACK_CORPUS or ../shared/corpus
// from the module root; "" when neither exists.
func findCorpus() string {
	for _, d := range []string{os.Getenv("USTACK_CORPUS"), "../../shared/corpus"} {
		if d == "" {
			continue
		}
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return ""
}

// corpusDir finds the shared captures, or skips.
func corpusDir(t testing.TB) string {
	d := findCorpus()
	if d == "" {
		t.Skip("no capture corpus: set USTACK_CORPUS or place it at ../shared/corpus")
	}
	return d
}

func corpusFiles(t testing.TB) []string { return corpusFilesIn(corpusDir(t)) }

func corpusFilesIn(dir string) []string {
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// readCapture returns a capture's frames as Ethernet frames with their
// times; raw IP captures get an Ethernet header. Other link types are
// reported as unsupported.
func readCapture(path string) (frames [][]byte, times []int64, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	var next func() ([]byte, int64, error)
	var link layers.LinkType
	if strings.HasSuffix(path, ".pcapng") {
		r, err := pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, nil, err
		}
		link = r.LinkType()
		next = func() ([]byte, int64, error) {
			d, ci, err := r.ReadPacketData()
			return d, ci.Timestamp.UnixNano(), err
		}
	} else {
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			return nil, nil, err
		}
		// Some captures record frames longer than their own snap
		// length; read them whole.
		r.SetSnaplen(1 << 18)
		link = r.LinkType()
		next = func() ([]byte, int64, error) {
			d, ci, err := r.ReadPacketData()
			return d, ci.Timestamp.UnixNano(), err
		}
	}
	for {
		d, ts, err := next()
		if err != nil {
			// A truncated last record ends the capture; what came
			// before it is replayed.
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return frames, times, nil
			}
			return frames, times, err
		}
		switch link {
		case layers.LinkTypeEthernet:
		case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12:
			eth := make([]byte, 14, 14+len(d))
			et := uint16(0x0800)
			if len(d) > 0 && d[0]>>4 == 6 {
				et = 0x86dd
			}
			binary.BigEndian.PutUint16(eth[12:], et)
			d = append(eth, d...)
		default:
			return nil, nil, errUnsupportedLink
		}
		frames = append(frames, append([]byte(nil), d...))
		times = append(times, ts)
	}
}

var errUnsupportedLink = errors.New("unsupported link type")
