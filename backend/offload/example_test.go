package offload_test

import (
	"encoding/binary"
	"fmt"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
	"github.com/ustack/ustack/stack/wire"
)

// ExampleSegment cuts a TSO frame, as a stack hands it to a device with TX
// checksum offload, into the frames a wire carries.
func ExampleSegment() {
	pool, _ := backend.NewPool(backend.PoolConfig{Mbuf: true, Count: 64})

	// Ethernet, IPv4 and TCP headers and 4000 bytes of payload.
	data := make([]byte, 14+20+20+4000)
	binary.BigEndian.PutUint16(data[12:], 0x0800)
	ip := data[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(len(data)-14))
	copy(ip[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})
	binary.BigEndian.PutUint16(ip[10:], wire.Checksum(ip, 0))
	tcp := data[34:]
	binary.BigEndian.PutUint32(tcp[4:], 1000) // sequence number
	tcp[12], tcp[13] = 5<<4, 0x18             // ACK, PSH
	// The partial checksum: the pseudo-header sum, folded, not complemented.
	binary.BigEndian.PutUint16(tcp[16:], wire.Fold(wire.PseudoHeaderSum(ip[12:16], ip[16:20], 6, len(tcp))))

	f := pool.AllocOne(len(data))
	f.SetLen(len(data))
	f.CopyFrom(data, 0)
	f.GSO, f.GSOSize = backend.GSOTCPv4, 1448
	f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 16

	segs := make([]*backend.Frame, 8)
	n, err := offload.Segment(segs, f, pool, offload.SegmentOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range segs[:n] {
		var th [20]byte
		s.CopyTo(th[:], 34)
		fmt.Printf("%d bytes, seq %d, psh %v, checksum %v\n",
			s.Len(), binary.BigEndian.Uint32(th[4:]), th[13]&0x08 != 0, offload.VerifyChecksums(s))
	}
	backend.Release(segs[:n])
	backend.ReleaseOne(f)
	fmt.Println("outstanding:", pool.Outstanding())
	// Output:
	// 1502 bytes, seq 1000, psh false, checksum verified
	// 1502 bytes, seq 2448, psh false, checksum verified
	// 1158 bytes, seq 3896, psh true, checksum verified
	// outstanding: 0
}
