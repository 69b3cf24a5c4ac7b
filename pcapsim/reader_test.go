package pcapsim

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll reads every record of a capture: the frames, their times, and
// how the capture ended.
func readAll(t testing.TB, b []byte) (frames [][]byte, times []int64, end error) {
	t.Helper()
	r, err := newReader(bytes.NewReader(b), GeneratedMAC(1))
	if err != nil {
		return nil, nil, err
	}
	for {
		rec, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return frames, times, err
		}
		frames = append(frames, bytes.Clone(rec.frame))
		times = append(times, rec.at)
	}
}

// threeRecords are Ethernet frames of 60, 98 and 74 bytes, a millisecond
// apart.
func threeRecords(t testing.TB) []rec {
	return []rec{
		{at: t0, data: make([]byte, 60)},
		{at: t0.Add(time.Millisecond), data: ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolICMPv4), echoRequest(1, 1)...)},
		{at: t0.Add(2 * time.Millisecond), data: ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(1, 2, 3))},
	}
}

func TestReaderReadsEveryFormat(t *testing.T) {
	recs := threeRecords(t)
	le := pcapBytes(t, linkEthernet, false, recs)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(le)
	zw.Close()
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"pcap microseconds", le},
		{"pcap nanoseconds", pcapBytes(t, linkEthernet, true, recs)},
		{"pcap big-endian", bigEndian(t, le)},
		{"pcap gzip", gz.Bytes()},
		{"pcapng", pcapngBytes(t, recs)},
	} {
		t.Run(c.name, func(t *testing.T) {
			frames, times, end := readAll(t, c.file)
			require.NoError(t, end)
			require.Len(t, frames, len(recs))
			for i, r := range recs {
				assert.Equal(t, r.data, frames[i])
				assert.Equal(t, r.at.UnixNano(), times[i])
			}
		})
	}
}

func TestReaderKeepsNanoseconds(t *testing.T) {
	_, times, err := readAll(t, pcapBytes(t, linkEthernet, true, []rec{{at: t0.Add(123456789), data: make([]byte, 60)}}))
	require.NoError(t, err)
	assert.Equal(t, t0.UnixNano()+123456789, times[0])
}

// bigEndian rewrites a little-endian microsecond pcap file in big-endian
// byte order.
func bigEndian(t testing.TB, le []byte) []byte {
	be := bytes.Clone(le)
	swap32 := func(b []byte) { binary.BigEndian.PutUint32(b, binary.LittleEndian.Uint32(b)) }
	swap16 := func(b []byte) { binary.BigEndian.PutUint16(b, binary.LittleEndian.Uint16(b)) }
	swap32(be[0:])
	swap16(be[4:])
	swap16(be[6:])
	for _, off := range []int{8, 12, 16, 20} {
		swap32(be[off:])
	}
	for off := 24; off < len(be); {
		n := int(binary.LittleEndian.Uint32(le[off+8:]))
		for _, f := range []int{0, 4, 8, 12} {
			swap32(be[off+f:])
		}
		off += 16 + n
	}
	return be
}

func TestReaderReadsRecordsLongerThanTheSnapLength(t *testing.T) {
	frame := make([]byte, 1514)
	b := pcapBytes(t, linkEthernet, false, []rec{{at: t0, data: frame}})
	binary.LittleEndian.PutUint32(b[16:], 96) // the header claims a 96-byte snap length
	frames, _, err := readAll(t, b)
	require.NoError(t, err)
	require.Len(t, frames, 1)
	assert.Len(t, frames[0], 1514)
}

// TestReaderReportsTruncationAtEveryCut cuts captures at every length: the
// complete records before the cut are read, and the end is clean exactly
// when the cut falls between records.
func TestReaderReportsTruncationAtEveryCut(t *testing.T) {
	recs := threeRecords(t)
	for _, c := range []struct {
		name   string
		file   []byte
		bounds []int // offsets where records end, the first the file header's
	}{
		{"pcap", pcapBytes(t, linkEthernet, false, recs), pcapBounds(pcapBytes(t, linkEthernet, false, recs))},
		{"pcap big-endian", bigEndian(t, pcapBytes(t, linkEthernet, false, recs)), pcapBounds(pcapBytes(t, linkEthernet, false, recs))},
		{"pcapng", pcapngBytes(t, recs), ngBounds(pcapngBytes(t, recs))},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, len(c.file), c.bounds[len(c.bounds)-1])
			for cut := c.bounds[0]; cut <= len(c.file); cut++ {
				frames, _, end := readAll(t, c.file[:cut])
				complete := 0
				clean := false
				for i, b := range c.bounds {
					if b <= cut {
						complete = i
					}
					clean = clean || b == cut
				}
				if c.name == "pcapng" {
					complete = max(complete-1, 0) // the interface block is not a record
				}
				assert.Len(t, frames, complete, "cut at %d", cut)
				if clean {
					assert.NoError(t, end, "cut at %d, between records", cut)
					continue
				}
				var re *RecordError
				if assert.ErrorAs(t, end, &re, "cut at %d", cut) {
					assert.ErrorIs(t, end, ErrTruncated)
					assert.Equal(t, complete+1, re.Record)
				}
			}
		})
	}
}

func pcapBounds(b []byte) []int {
	bounds := []int{24}
	for off := 24; off < len(b); {
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
		bounds = append(bounds, off)
	}
	return bounds
}

// ngBounds are the ends of a pcapng file's blocks after the section
// header.
func ngBounds(b []byte) []int {
	var bounds []int
	for off := 0; off < len(b); {
		off += int(binary.LittleEndian.Uint32(b[off+4:]))
		bounds = append(bounds, off)
	}
	return bounds
}

func TestReaderRefusesUnsupportedLinkTypes(t *testing.T) {
	for _, c := range []struct {
		link uint32
		want string
	}{
		{105, "pcapsim: link type 105 (IEEE 802.11) not supported"},
		{127, "pcapsim: link type 127 (IEEE 802.11 radiotap) not supported"},
		{9, "pcapsim: link type 9 (PPP) not supported"},
		{147, "pcapsim: link type 147 (unknown) not supported"},
		{0x10000 + 1, "pcapsim: link type 65537 (unknown) not supported"},
	} {
		t.Run(c.want, func(t *testing.T) {
			_, _, err := readAll(t, pcapBytes(t, c.link, false, []rec{{at: t0, data: make([]byte, 60)}}))
			var lt *LinkTypeError
			require.ErrorAs(t, err, &lt)
			assert.Equal(t, int(c.link), lt.LinkType)
			assert.EqualError(t, err, c.want)
		})
	}
}

func TestReaderRefusesWhatIsNotACapture(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("GET / HTTP/1.1\r\n\r\n"), make([]byte, 10)} {
		_, _, err := readAll(t, b)
		assert.ErrorContains(t, err, "not a pcap or pcapng capture")
	}
}

func TestReaderSkipsRecordsShorterThanTheirLinkHeader(t *testing.T) {
	r, err := newReader(bytes.NewReader(pcapBytes(t, linkSLL, false, []rec{
		{at: t0, data: make([]byte, 10)},
		{at: t0, data: sll(packetHost, peerMAC, etherTypeIPv4, make([]byte, 20))},
	})), GeneratedMAC(1))
	require.NoError(t, err)
	rec, err := r.next()
	require.NoError(t, err)
	assert.Equal(t, 2, rec.num)
	assert.Equal(t, uint64(1), r.skippedHeader)
}

// TestReaderStopsAtImpossibleRecords: a record that claims more bytes than
// a record can hold ends the capture as unreadable, before anything is
// allocated for it; the records before it are read.
func TestReaderStopsAtImpossibleRecords(t *testing.T) {
	recs := threeRecords(t)
	pcap := pcapBytes(t, linkEthernet, false, recs)
	bounds := pcapBounds(pcap)
	binary.LittleEndian.PutUint32(pcap[bounds[1]+8:], 1<<30) // the second record's captured length

	ng := pcapngBytes(t, recs)
	nb := ngBounds(ng)
	binary.LittleEndian.PutUint32(ng[nb[2]+20:], 1<<20) // the second packet's captured length

	hugeSnap := pcapngBytes(t, recs)
	binary.LittleEndian.PutUint32(hugeSnap[nb[0]+12:], 0xffffffff) // the interface's snap length

	for _, c := range []struct {
		name   string
		file   []byte
		frames int
	}{{"pcap", pcap, 1}, {"pcapng", ng, 1}, {"pcapng snap length", hugeSnap, 3}} {
		t.Run(c.name, func(t *testing.T) {
			frames, _, end := readAll(t, c.file)
			assert.Len(t, frames, c.frames)
			if c.frames == len(recs) {
				assert.NoError(t, end)
				return
			}
			var re *RecordError
			require.ErrorAs(t, end, &re)
			assert.Equal(t, 2, re.Record)
			assert.NotErrorIs(t, end, ErrTruncated)
			assert.ErrorContains(t, end, "record 2 is unreadable")
		})
	}
}
