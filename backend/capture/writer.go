package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
)

// Snaplen is the longest record a capture keeps of a frame: more than the
// 65535 bytes of classic captures, because TSO and GRO frames are up to
// 64 KiB of IP packet plus their Ethernet header.
const Snaplen = 262144

// The pcap framing (libpcap's classic format, nanosecond timestamps).
const (
	fileHeaderLen   = 24
	recordHeaderLen = 16
)

// Options configure a capture file.
type Options struct {
	// MaxBytes rotates the file when a record would take it past MaxBytes
	// bytes (0: never). A file always takes at least one record.
	MaxBytes int64
	// MaxFiles is how many rotated files are kept, NAME.1 (the newest) to
	// NAME.MaxFiles; older ones are removed. 0 keeps one.
	MaxFiles int
	// OnError, when set, is told of the first error writing the capture
	// (a full disk), when it happens: the capture then writes nothing
	// more, while the frames go on. Close returns it too. It is called
	// with the Writer's lock held and must not call the Writer.
	OnError func(error)
}

// Writer writes frames to a pcap capture, safely from several goroutines
// (each queue of a backend writes from its own). Records are buffered:
// Flush or Close puts them in the file.
type Writer struct {
	mu      sync.Mutex
	path    string // "" when writing to an io.Writer
	opts    Options
	file    *os.File
	bw      *bufio.Writer
	pw      *pcapgo.Writer
	size    int64 // bytes in the current file
	records int   // records in the current file
	scratch []byte
	err     error // the first error, after which nothing is written
	closed  bool
}

// Create starts a capture file at path, replacing any file there, with
// size-based rotation as opts say.
func Create(path string, opts Options) (*Writer, error) {
	if opts.MaxBytes < 0 || opts.MaxFiles < 0 {
		return nil, fmt.Errorf("capture: negative rotation limits %+v", opts)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	w := &Writer{path: path, opts: opts, file: f}
	w.start(f)
	if err := w.header(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// NewWriter starts a capture on out, without rotation. Closing the Writer
// flushes it but does not close out.
func NewWriter(out io.Writer) (*Writer, error) {
	w := &Writer{}
	w.start(out)
	if err := w.header(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) start(out io.Writer) {
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(out, 1<<16)
		w.pw = pcapgo.NewWriterNanos(w.bw)
	} else {
		w.bw.Reset(out)
	}
}

func (w *Writer) header() error {
	if err := w.pw.WriteFileHeader(Snaplen, layers.LinkTypeEthernet); err != nil {
		return w.fail(err)
	}
	w.size, w.records = fileHeaderLen, 0
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("capture: %w", err)
		if w.opts.OnError != nil {
			w.opts.OnError(w.err)
		}
	}
	return w.err
}

// WritePacket writes data as a record captured at ts (nanoseconds of the
// clock the capture follows), cut to Snaplen.
func (w *Writer) WritePacket(ts int64, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(ts, data[:min(len(data), Snaplen)], len(data))
}

// WriteFrame writes frame f as a record captured at ts. A partial checksum
// is completed in the copy written, so that the capture shows what the
// wire carries; f itself is not changed.
func (w *Writer) WriteFrame(ts int64, f *backend.Frame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writeFrame(ts, f)
}

// WriteFrames writes each of frames as WriteFrame does, taking the lock
// once.
func (w *Writer) WriteFrames(ts int64, frames []*backend.Frame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range frames {
		if err := w.writeFrame(ts, f); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) writeFrame(ts int64, f *backend.Frame) error {
	if head := f.Bytes(); f.Csum != backend.CsumPartial && len(head) >= min(f.Len(), Snaplen) {
		return w.write(ts, head[:min(f.Len(), Snaplen)], f.Len())
	}
	w.scratch = appendFrame(w.scratch[:0], f)
	return w.write(ts, w.scratch, f.Len())
}

// appendFrame appends what a capture records of f to dst: its first
// Snaplen bytes, with a partial checksum completed when the whole frame is
// kept.
func appendFrame(dst []byte, f *backend.Frame) []byte {
	off, k := len(dst), min(f.Len(), Snaplen)
	if cap(dst)-off < k {
		dst = append(dst[:cap(dst)], make([]byte, off+k-cap(dst))...)
	}
	dst = dst[:off+k]
	f.CopyTo(dst[off:], 0)
	if f.Csum == backend.CsumPartial && k == f.Len() {
		// A frame whose partial checksum cannot be completed is recorded
		// as it is: the capture shows what was wrong with it.
		_ = offload.CompleteChecksumBytes(dst[off:], int(f.CsumStart), int(f.CsumOffset))
	}
	return dst
}

// write writes one record of data, originally orig bytes long. Called with
// w.mu held.
func (w *Writer) write(ts int64, data []byte, orig int) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errClosed
	}
	rec := int64(recordHeaderLen + len(data))
	if w.path != "" && w.opts.MaxBytes > 0 && w.records > 0 && w.size+rec > w.opts.MaxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, ts), CaptureLength: len(data), Length: orig}
	if err := w.pw.WritePacket(ci, data); err != nil {
		return w.fail(err)
	}
	w.size += rec
	w.records++
	return nil
}

var errClosed = errors.New("capture: writer closed")

// rotated is the name of the i-th rotated file.
func (w *Writer) rotated(i int) string { return fmt.Sprintf("%s.%d", w.path, i) }

// rotate closes the current file, shifts NAME.i to NAME.i+1 (dropping the
// oldest), renames the file NAME.1 and starts a new NAME. Called with w.mu
// held.
func (w *Writer) rotate() error {
	if err := w.bw.Flush(); err != nil {
		return w.fail(err)
	}
	if err := w.file.Close(); err != nil {
		return w.fail(err)
	}
	keep := max(w.opts.MaxFiles, 1)
	if err := os.Remove(w.rotated(keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return w.fail(err)
	}
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(w.rotated(i), w.rotated(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return w.fail(err)
		}
	}
	if err := os.Rename(w.path, w.rotated(1)); err != nil {
		return w.fail(err)
	}
	f, err := os.Create(w.path)
	if err != nil {
		return w.fail(err)
	}
	w.file = f
	w.start(f)
	return w.header()
}

// Flush writes buffered records to the file.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		return w.fail(err)
	}
	return nil
}

// Close flushes the capture and closes its file. It reports the first
// error the Writer met, if any.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.fail(err)
		}
	}
	if w.file != nil {
		if err := w.file.Close(); err != nil {
			w.fail(err)
		}
	}
	return w.err
}
