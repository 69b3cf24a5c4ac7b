package pcapsim

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// MaxSnaplen is the longest record a replay reads. Some captures record
// frames longer than the snap length in their header (writers that do not
// enforce it); like tcpdump and Wireshark, a replay ignores the header's
// value and reads records up to this length.
const MaxSnaplen = 262144

// ErrTruncated is matched (errors.Is) by the warning about a capture whose
// last record is cut short.
var ErrTruncated = errors.New("truncated record")

// RecordError is a record that ended a capture early: cut short
// (ErrTruncated) or unreadable. The records before it are replayed.
type RecordError struct {
	// Record is the number of the bad record, from 1 as tcpdump and
	// Wireshark count.
	Record int
	Err    error
}

// Error says which record ended the capture and how many were replayed.
func (e *RecordError) Error() string {
	if errors.Is(e.Err, ErrTruncated) {
		return fmt.Sprintf("pcapsim: record %d is truncated; the %d records before it were replayed", e.Record, e.Record-1)
	}
	return fmt.Sprintf("pcapsim: record %d is unreadable (%v); the %d records before it were replayed", e.Record, e.Err, e.Record-1)
}

// Unwrap returns ErrTruncated or the reader's error.
func (e *RecordError) Unwrap() error { return e.Err }

// record is one capture record as an Ethernet frame.
type record struct {
	num   int   // from 1
	at    int64 // capture timestamp, Unix nanoseconds
	frame []byte
	dir   direction
}

// reader reads a pcap or pcapng capture, gzip-compressed or not, as
// Ethernet frames.
type reader struct {
	fr   *framing
	pcap *pcapgo.Reader
	ng   *pcapgo.NgReader
	ad   adapter
	num  int
	err  error // sticky: the end of the capture
	// section counts the pcapng sections pcapgo has finished.
	section int

	// Counts of records not returned, by reason.
	skippedLink   uint64 // pcapng interfaces of unsupported link types
	skippedHeader uint64 // shorter than their link-layer header
}

var ngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// newReader starts reading a capture from r. Frames the capture says are
// to its capturing host are addressed to hostMAC.
func newReader(r io.Reader, hostMAC net.HardwareAddr) (*reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("pcapsim: not a pcap or pcapng capture: %w", noEOF(err))
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcapsim: gzip: %w", err)
		}
		br = bufio.NewReaderSize(gz, 64<<10)
		if magic, err = br.Peek(4); err != nil {
			return nil, fmt.Errorf("pcapsim: not a pcap or pcapng capture: %w", noEOF(err))
		}
	}
	rd := &reader{fr: &framing{br: br, ng: bytes.Equal(magic, ngMagic)}, ad: adapter{hostMAC: hostMAC}}
	if rd.fr.ng {
		err = guard(func() (err error) {
			rd.ng, err = pcapgo.NewNgReader(rd.fr, pcapgo.NgReaderOptions{
				WantMixedLinkType:  true,
				SkipUnknownVersion: true,
				SectionEndCallback: func([]pcapgo.NgInterface, pcapgo.NgSectionInfo) { rd.section++ },
			})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("pcapsim: pcapng: %w", noEOF(err))
		}
		return rd, nil
	}
	err = guard(func() (err error) {
		rd.pcap, err = pcapgo.NewReader(rd.fr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pcapsim: not a pcap or pcapng capture: %w", noEOF(err))
	}
	rd.pcap.SetSnaplen(MaxSnaplen)
	if !supported(rd.fr.link) {
		return nil, &LinkTypeError{LinkType: rd.fr.link}
	}
	return rd, nil
}

// noEOF reports a file that ends inside its header as what it is.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// next returns the next record, io.EOF at a clean end, a *RecordError
// for a truncated or unreadable record (after which it returns io.EOF),
// or a *LinkTypeError when the first record of a pcapng file is of a link
// type a replay does not carry. Records of unsupported link types after a
// supported first one, and records too short for their link-layer header,
// are counted and skipped.
func (r *reader) next() (record, error) {
	for r.err == nil {
		data, ts, lt, err := r.read()
		if err != nil {
			r.err = io.EOF
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				if r.fr.clean() {
					return record{}, io.EOF
				}
				err = ErrTruncated
			}
			return record{}, &RecordError{Record: r.num + 1, Err: err}
		}
		r.num++
		if !supported(lt) {
			if r.num == 1 {
				r.err = io.EOF
				return record{}, &LinkTypeError{LinkType: lt}
			}
			r.skippedLink++
			continue
		}
		frame, dir, err := r.ad.frame(lt, data)
		if err != nil {
			r.skippedHeader++
			continue
		}
		return record{num: r.num, at: unixNano(ts), frame: frame, dir: dir}, nil
	}
	return record{}, r.err
}

// guard turns a panic of pcapgo, which some malformed pcapng options
// cause (a zero timestamp resolution divisor, an option shorter than its
// value), into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pcapgo: %v", p)
		}
	}()
	return fn()
}

// read reads one record with its timestamp and link type.
func (r *reader) read() (data []byte, ts time.Time, link int, err error) {
	if r.pcap != nil {
		var ci gopacket.CaptureInfo
		err = guard(func() (err error) {
			data, ci, err = r.pcap.ZeroCopyReadPacketData()
			return err
		})
		return data, ci.Timestamp, r.fr.link, err
	}
	var ci gopacket.CaptureInfo
	err = guard(func() (err error) {
		data, ci, err = r.ng.ZeroCopyReadPacketData()
		return err
	})
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	// pcapgo's link type has lost its high bits; framing saw them.
	var lt layers.LinkType
	if len(ci.AncillaryData) > 0 {
		lt, _ = ci.AncillaryData[0].(layers.LinkType)
	}
	link = int(lt)
	if s := r.fr.sections; r.section < len(s) && ci.InterfaceIndex < len(s[r.section]) {
		link = s[r.section][ci.InterfaceIndex]
	}
	return data, ci.Timestamp, link, nil
}

// unixNano converts a capture timestamp to nanoseconds, clamped to what
// an int64 holds and to no earlier than the Unix epoch (pcapng simple
// packet blocks carry no timestamp at all).
func unixNano(t time.Time) int64 {
	sec := t.Unix()
	switch {
	case sec < 0:
		return 0
	case sec >= math.MaxInt64/1_000_000_000-1:
		return math.MaxInt64 / 2
	}
	return sec*1e9 + int64(t.Nanosecond())
}

// bytesRead is how far into the (uncompressed) capture the reader is.
func (r *reader) bytesRead() int64 { return r.fr.n }
