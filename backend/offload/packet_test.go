package offload

import (
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
)

// pkt describes a packet a test builds by hand, byte by byte, with checksums
// from refChecksum: nothing here relies on the code under test.
type pkt struct {
	v6      bool
	vlan    bool
	proto   uint8   // 6 (default), 17, 1 or 58
	ipOpts  []byte  // IPv4 options, a multiple of 4 bytes
	ext     []uint8 // IPv6 extension headers (0, 43, 60), 8 bytes each
	frag    bool    // an IPv4 fragment (MF set)
	id      uint16
	seq     uint32
	ack     uint32
	flags   byte // TCP flags; ACK when zero
	window  uint16
	tcpOpts []byte // a multiple of 4 bytes
	payload []byte
	padding int // link padding after the IP packet
}

var (
	src4 = []byte{10, 0, 0, 1}
	dst4 = []byte{10, 0, 0, 2}
	src6 = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	dst6 = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
)

// tsOpt is a TCP timestamp option (RFC 7323) padded to 12 bytes.
func tsOpt(val, ecr uint32) []byte {
	b := []byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], val)
	binary.BigEndian.PutUint32(b[8:], ecr)
	return b
}

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed + i>>8)
	}
	return b
}

func (p pkt) protocol() uint8 {
	if p.proto == 0 {
		return 6
	}
	return p.proto
}

func (p pkt) l2Len() int {
	if p.vlan {
		return 18
	}
	return 14
}

func (p pkt) l3Len() int {
	if p.v6 {
		return 40 + 8*len(p.ext)
	}
	return 20 + len(p.ipOpts)
}

func (p pkt) l4Len() int {
	switch p.protocol() {
	case 6:
		return 20 + len(p.tcpOpts)
	case 17, 1, 58:
		return 8
	}
	return 0
}

// pseudo is the pseudo-header of the packet's transport part.
func (p pkt) pseudo() []byte {
	n := p.l4Len() + len(p.payload)
	if p.v6 {
		b := append(append([]byte{}, src6...), dst6...)
		return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 0, 0, 0, p.protocol())
	}
	b := append(append([]byte{}, src4...), dst4...)
	return append(b, 0, p.protocol(), byte(n>>8), byte(n))
}

// build returns the frame's bytes with every checksum right.
func (p pkt) build() []byte {
	b := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}
	if p.vlan {
		b = append(b, 0x81, 0x00, 0x00, 0x07)
	}
	l3 := p.l3Len()
	l4 := p.l4Len()
	if p.v6 {
		b = append(b, 0x86, 0xdd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(l3-40+l4+len(p.payload)))
		ip[7] = 64
		copy(ip[8:], src6)
		copy(ip[24:], dst6)
		next := &ip[6]
		for _, e := range p.ext {
			*next = e
			h := make([]byte, 8)
			if e != 43 {
				h[2], h[3] = 1, 4 // a PadN option
			}
			ip = append(ip, h...)
			next = &ip[len(ip)-8]
		}
		*next = p.protocol()
		b = append(b, ip...)
	} else {
		b = append(b, 0x08, 0x00)
		ip := make([]byte, 20, l3)
		ip[0] = 0x40 | byte(l3/4)
		binary.BigEndian.PutUint16(ip[2:], uint16(l3+l4+len(p.payload)))
		binary.BigEndian.PutUint16(ip[4:], p.id)
		if p.frag {
			ip[6] = 0x20
		} else {
			ip[6] = 0x40 // DF
		}
		ip[8], ip[9] = 64, p.protocol()
		copy(ip[12:], src4)
		copy(ip[16:], dst4)
		ip = append(ip, p.ipOpts...)
		binary.BigEndian.PutUint16(ip[10:], refChecksum(ip))
		b = append(b, ip...)
	}
	th := make([]byte, l4)
	switch p.protocol() {
	case 6:
		binary.BigEndian.PutUint16(th[0:], 40000)
		binary.BigEndian.PutUint16(th[2:], 80)
		binary.BigEndian.PutUint32(th[4:], p.seq)
		binary.BigEndian.PutUint32(th[8:], p.ack)
		th[12] = byte(l4/4) << 4
		th[13] = p.flags
		if th[13] == 0 {
			th[13] = 0x10
		}
		binary.BigEndian.PutUint16(th[14:], p.window+1000)
		copy(th[20:], p.tcpOpts)
	case 17:
		binary.BigEndian.PutUint16(th[0:], 4000)
		binary.BigEndian.PutUint16(th[2:], 4001)
		binary.BigEndian.PutUint16(th[4:], uint16(8+len(p.payload)))
	case 1:
		th[0] = 8 // echo request
		binary.BigEndian.PutUint16(th[4:], 7)
	case 58:
		th[0] = 128 // echo request
		binary.BigEndian.PutUint16(th[4:], 7)
	}
	l4data := append(th, p.payload...)
	if off := p.csumOffset(); off >= 0 {
		var c uint16
		if p.protocol() == 1 {
			c = refChecksum(l4data)
		} else {
			c = refChecksum(p.pseudo(), l4data)
		}
		if c == 0 && p.protocol() == 17 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4data[off:], c)
	}
	b = append(b, l4data...)
	return append(b, make([]byte, p.padding)...)
}

func (p pkt) csumOffset() int {
	switch p.protocol() {
	case 6:
		return 16
	case 17:
		return 6
	case 1, 58:
		return 2
	}
	return -1
}

// partial turns built bytes into the form a stack hands to a device with
// TX checksum offload: the pseudo-header sum in the checksum field.
func (p pkt) partial(b []byte) []byte {
	b = append([]byte(nil), b...)
	binary.BigEndian.PutUint16(b[p.l2Len()+p.l3Len()+p.csumOffset():], ^refChecksum(p.pseudo()))
	return b
}

// refChecksum is RFC 1071 done the slow and obvious way over the
// concatenation of chunks.
func refChecksum(chunks ...[]byte) uint16 {
	var all []byte
	for _, c := range chunks {
		all = append(all, c...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var sum uint32
	for i := 0; i < len(all); i += 2 {
		sum += uint32(all[i])<<8 | uint32(all[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// testPools are a plain pool and an mbuf-mode pool (2 KiB buffers, chains),
// both poisoned on release.
func testPools(t *testing.T) []struct {
	name string
	pool *backend.Pool
} {
	t.Helper()
	plain, err := backend.NewPool(backend.PoolConfig{Count: 512, Poison: true})
	require.NoError(t, err)
	mbuf, err := backend.NewPool(backend.PoolConfig{Mbuf: true, Count: 1024, Poison: true})
	require.NoError(t, err)
	return []struct {
		name string
		pool *backend.Pool
	}{{"plain", plain}, {"mbuf", mbuf}}
}

// load copies data into a new frame from pool. With oddHead, the head
// buffer's window starts one byte in, so that in mbuf mode the head holds
// an odd number of bytes and the chain's byte pairing shifts.
func load(t *testing.T, pool *backend.Pool, data []byte, oddHead bool) *backend.Frame {
	t.Helper()
	extra := 0
	if oddHead {
		extra = 1
	}
	f := pool.AllocOne(len(data) + extra)
	require.NotNil(t, f)
	require.True(t, f.SetLen(len(data)+extra))
	if oddHead {
		require.True(t, f.TrimFront(1))
	}
	require.Equal(t, len(data), f.CopyFrom(data, 0))
	return f
}

// decode parses a frame with gopacket and requires it to be well formed.
func decode(t *testing.T, data []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
	if e := p.ErrorLayer(); e != nil {
		require.FailNow(t, "gopacket decode", "%v", e.Error())
	}
	return p
}

// requireChecksumsGood checks a decoded packet's checksums: gopacket's TCP
// checksum computation and refChecksum for the rest.
func requireChecksumsGood(t *testing.T, p gopacket.Packet) {
	t.Helper()
	if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		require.Zero(t, refChecksum(ip.Contents), "IPv4 header checksum")
	}
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		require.NoError(t, l.SetNetworkLayerForChecksum(p.NetworkLayer()))
		c, err := l.ComputeChecksum()
		require.NoError(t, err)
		require.Zero(t, c, "TCP checksum")
	case *layers.UDP:
		var ph []byte
		n := len(l.Contents) + len(l.Payload)
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			ph = append(append(append([]byte{}, ip.SrcIP.To4()...), ip.DstIP.To4()...), 0, 17, byte(n>>8), byte(n))
		case *layers.IPv6:
			ph = append(append(append([]byte{}, ip.SrcIP...), ip.DstIP...), 0, 0, byte(n>>8), byte(n), 0, 0, 0, 17)
		}
		require.Zero(t, refChecksum(ph, l.Contents, l.Payload), "UDP checksum")
	}
}
