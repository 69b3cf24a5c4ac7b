package pcapsim

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// framing stands between a capture file and pcapgo and hands the file over
// one record (pcap) or block (pcapng) at a time, after checking the
// record's header:
//
//   - At the end of the file it tells a clean end from a record cut short,
//     which pcapgo reports alike as io.EOF in some states.
//   - A record whose captured length is beyond MaxSnaplen or its block is
//     not handed over (an error instead), so pcapgo allocates no more than
//     a record can hold; an interface's snap length above MaxSnaplen is
//     lowered in the bytes handed over for the same reason.
//   - It notes the link types, which gopacket v1.1.19 truncates to 8 bits
//     (Linux cooked capture v2 is 276), and counts the bytes handed over,
//     for progress reports.
type framing struct {
	br     *bufio.Reader
	ng     bool
	opened bool // pcap: the file header was handed over
	order  binary.ByteOrder
	left   int64 // bytes of the current record or block not yet handed over
	pos    int64 // of the current record or block handed over
	cut    bool  // the file ends inside a header
	err    error // a header made no sense: nothing more is handed over
	n      int64

	// patch replaces the bytes of the current block at offset patchAt.
	patch   []byte
	patchAt int64

	// link is a pcap file's link type; sections are the link types of
	// each pcapng section's interfaces, in order, and snap0 the snap
	// length of the current section's first interface.
	link     int
	sections [][]int
	snap0    uint32
}

// pcapng block types.
const (
	ngSectionHeader        = 0x0a0d0d0a // the same in both byte orders
	ngInterfaceDescription = 1
	ngPacket               = 2 // obsolete, still written by old tools
	ngSimplePacket         = 3
	ngEnhancedPacket       = 6
)

// corruptError is a record header that makes no sense.
type corruptError struct{ what string }

func (e *corruptError) Error() string { return e.what }

func (f *framing) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.left == 0 {
		if err := f.nextUnit(); err != nil {
			if _, ok := err.(*corruptError); ok {
				f.err = err
			}
			return 0, err
		}
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.br.Read(p)
	for i := range f.patch {
		if at := f.patchAt + int64(i) - f.pos; at >= 0 && at < int64(n) {
			p[at] = f.patch[i]
		}
	}
	f.left -= int64(n)
	f.pos += int64(n)
	f.n += int64(n)
	return n, err
}

// clean says whether the bytes handed over end at a record boundary.
func (f *framing) clean() bool { return f.err == nil && !f.cut && f.left == 0 }

// nextUnit reads the header of the next record or block and sets how
// many bytes it spans. At the end of the file it returns io.EOF; a file
// that ends inside a header hands over what there is.
func (f *framing) nextUnit() error {
	f.pos, f.patch = 0, nil
	want := 8
	switch {
	case !f.ng && !f.opened:
		want = 24
	case !f.ng:
		want = 16
	}
	h, err := f.br.Peek(want)
	if f.ng && len(h) == 8 {
		// Enough to know the block and how much of its body to check.
		switch f.blockType(h) {
		case ngSectionHeader, ngInterfaceDescription:
			h, err = f.br.Peek(16)
		case ngEnhancedPacket, ngPacket:
			h, err = f.br.Peek(28)
		case ngSimplePacket:
			h, err = f.br.Peek(12)
		}
	}
	if len(h) == 0 {
		if err == nil {
			err = io.EOF
		}
		return err
	}
	if err != nil {
		// Cut inside the header: hand over what there is.
		f.cut = true
		f.left = int64(len(h))
		return nil
	}
	if !f.ng {
		return f.pcapUnit(h)
	}
	return f.ngUnit(h)
}

func (f *framing) blockType(h []byte) uint32 {
	if binary.LittleEndian.Uint32(h) == ngSectionHeader {
		return ngSectionHeader
	}
	if f.order == nil {
		return 0
	}
	return f.order.Uint32(h)
}

func (f *framing) pcapUnit(h []byte) error {
	if !f.opened {
		f.opened = true
		f.order = binary.BigEndian
		if m := binary.LittleEndian.Uint32(h); m == 0xa1b2c3d4 || m == 0xa1b23c4d {
			f.order = binary.LittleEndian
		}
		// The low 26 bits are the link type; the others may say whether
		// frames carry an FCS.
		f.link = int(f.order.Uint32(h[20:24]) & 0x03ffffff)
		f.left = 24
		return nil
	}
	caplen := f.order.Uint32(h[8:12])
	if caplen > MaxSnaplen {
		return &corruptError{fmt.Sprintf("captured length %d beyond %d", caplen, MaxSnaplen)}
	}
	f.left = 16 + int64(caplen)
	return nil
}

func (f *framing) ngUnit(h []byte) error {
	typ := f.blockType(h)
	if typ == ngSectionHeader {
		switch {
		case binary.LittleEndian.Uint32(h[8:12]) == 0x1a2b3c4d:
			f.order = binary.LittleEndian
		case binary.BigEndian.Uint32(h[8:12]) == 0x1a2b3c4d:
			f.order = binary.BigEndian
		default:
			return &corruptError{"section header without a byte-order magic"}
		}
		f.sections = append(f.sections, nil)
		f.snap0 = 0
	}
	if f.order == nil {
		return &corruptError{"blocks before a section header"}
	}
	total := int64(f.order.Uint32(h[4:8]))
	if total%4 != 0 || total < int64(len(h))+4 {
		return &corruptError{fmt.Sprintf("block of type %d with length %d", typ, total)}
	}
	f.left = total
	last := len(f.sections) - 1
	switch typ {
	case ngInterfaceDescription:
		f.sections[last] = append(f.sections[last], int(f.order.Uint16(h[8:10])))
		snap := f.order.Uint32(h[12:16])
		if snap > MaxSnaplen {
			f.patch, f.patchAt = make([]byte, 4), 12
			f.order.PutUint32(f.patch, MaxSnaplen)
			snap = MaxSnaplen
		}
		if len(f.sections[last]) == 1 {
			f.snap0 = snap
		}
	case ngEnhancedPacket, ngPacket:
		if caplen := int64(f.order.Uint32(h[20:24])); caplen > MaxSnaplen || caplen > total-32 {
			return &corruptError{fmt.Sprintf("captured length %d beyond its %d-byte block", caplen, total)}
		}
	case ngSimplePacket:
		caplen := int64(f.order.Uint32(h[8:12]))
		if f.snap0 != 0 {
			caplen = min(caplen, int64(f.snap0))
		}
		if caplen > total-16 {
			return &corruptError{fmt.Sprintf("packet length %d beyond its %d-byte block", caplen, total)}
		}
	}
	return nil
}
