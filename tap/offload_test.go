package tap

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
)

// tcpPeer is a hand-driven TCP endpoint on the stack's side of the rig: just
// enough TCP to open a connection to a kernel listener and move data.
type tcpPeer struct {
	r            *rig
	sport, dport uint16
	snd, rcv     uint32 // our next sequence number; the next we expect
	window       uint16 // the kernel's receive window (no scaling)
}

func (p *tcpPeer) frame(flags uint8, payload []byte, partial bool) []byte {
	r := p.r
	return tcpFrame(r.d.HostMAC(), r.d.Caps().MAC, r.self, r.host, tcpSeg{
		sport: p.sport, dport: p.dport, seq: p.snd, ack: p.rcv,
		flags: flags, window: 65535, payload: payload,
	}, partial)
}

// isFromKernel matches TCP frames of the connection from the kernel.
func (p *tcpPeer) isFromKernel(f *backend.Frame) (parsed, bool) {
	ip, ok := parseIPv4(linear(f))
	return ip, ok && ip.proto == 6 && ip.sport == p.dport && ip.dport == p.sport
}

// connect opens a connection to the kernel listening on the host address
// at port, announcing an MSS of 1460 and no window scaling.
func (r *rig) connect(t *testing.T, port uint16) *tcpPeer {
	p := &tcpPeer{r: r, sport: 40000, dport: port, snd: 1_000_000}
	r.send(0, tcpFrame(r.d.HostMAC(), r.d.Caps().MAC, r.self, r.host, tcpSeg{
		sport: p.sport, dport: p.dport, seq: p.snd, flags: tcpSYN, window: 65535, mss: 1460,
	}, false), nil)
	p.snd++
	f := r.recv(0, func(f *backend.Frame) bool {
		ip, ok := p.isFromKernel(f)
		return ok && ip.flags&(tcpSYN|tcpACK) == tcpSYN|tcpACK
	})
	ip, _ := p.isFromKernel(f)
	p.rcv = ip.seq + 1
	p.window = binary.BigEndian.Uint16(ip.l4[14:])
	backend.ReleaseOne(f)
	require.Equal(t, p.snd, ip.ack)
	r.send(0, p.frame(tcpACK, nil, false), nil)
	return p
}

// TestTCPSegmentationAndCoalescing sends one large TCP frame marked for
// segmentation (GSOTCPv4, partial checksum) to a kernel socket, which must
// read every byte; and has the kernel send a burst back, which on the fast
// path arrives as coalesced frames larger than the MTU.
func TestTCPSegmentationAndCoalescing(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			r := openRig(t, Config{Offload: path.mode})
			ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(r.host, 0)))
			require.NoError(t, err)
			defer ln.Close()
			require.NoError(t, ln.SetDeadline(time.Now().Add(5*time.Second)))
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
				close(accepted)
			}()
			p := r.connect(t, uint16(ln.Addr().(*net.TCPAddr).Port))
			conn := <-accepted
			require.NotNil(t, conn, "the kernel did not accept the connection")
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))

			// Out: one frame of up to 60000 bytes of payload, as much as
			// the kernel's window takes.
			n := min(60000, int(p.window))
			t.Logf("kernel window %d: sending %d bytes in one frame", p.window, n)
			data := pattern(n, 9)
			r.send(0, p.frame(tcpACK|tcpPSH, data, true), func(f *backend.Frame) {
				f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 16
				f.GSO, f.GSOSize = backend.GSOTCPv4, 1460
				f.L2Len, f.L3Len, f.L4Len = 14, 20, 20
			})
			p.snd += uint32(n)
			got := make([]byte, n)
			_, err = io.ReadFull(conn, got)
			require.NoError(t, err)
			require.Equal(t, data, got, "the kernel read the frame's payload intact")
			st := r.d.QueueStats(0)
			wantPackets := uint64(3) // SYN, ACK and the 64 KiB frame
			if path.mode == OffloadOff {
				wantPackets = 2 + uint64((n+1459)/1460) // segmented here
			}
			assert.Equal(t, wantPackets, st.TxPackets)
			assert.Zero(t, st.TxDrops)

			// In: the kernel sends a window's worth; we do not acknowledge.
			back := pattern(40000, 10)
			_, err = conn.Write(back)
			require.NoError(t, err)
			largest, frames, bytes := 0, 0, 0
			end := time.Now().Add(3 * time.Second)
			for time.Now().Before(end) && bytes < 14600 {
				f := r.tryRecv(0, 200*time.Millisecond, func(f *backend.Frame) bool {
					ip, ok := p.isFromKernel(f)
					return ok && len(ip.payload) > 0
				})
				if f == nil {
					continue
				}
				ip, _ := p.isFromKernel(f)
				off := int(ip.seq - p.rcv)
				require.GreaterOrEqual(t, off, 0)
				require.LessOrEqual(t, off+len(ip.payload), len(back))
				require.Equal(t, back[off:off+len(ip.payload)], ip.payload, "payload at offset %d", off)
				frames++
				bytes = max(bytes, off+len(ip.payload))
				if f.Len() > largest {
					largest = f.Len()
				}
				if path.mode == OffloadOn && f.Len() > 14+r.d.Caps().MTU {
					assert.Equal(t, backend.GSOTCPv4, f.GSO)
					assert.Equal(t, uint16(1460), f.GSOSize)
					assert.Equal(t, backend.CsumPartial, f.Csum)
					if f.Len() > r.d.Caps().BufSize {
						assert.Equal(t, 2, f.Segments(), "a large frame is a head buffer and an overflow buffer")
						assert.Len(t, f.Bytes(), r.d.Caps().BufSize)
					}
					// Segmenting it as a NIC would gives valid frames.
					segs := make([]*backend.Frame, 64)
					k, err := offload.Segment(segs, f, r.d.Pool(), offload.SegmentOptions{})
					require.NoError(t, err)
					for _, s := range segs[:k] {
						assert.Equal(t, backend.CsumVerified, offload.VerifyChecksums(s))
					}
					backend.Release(segs[:k])
				}
				backend.ReleaseOne(f)
			}
			t.Logf("received %d bytes in %d frames, the largest %d bytes", bytes, frames, largest)
			require.GreaterOrEqual(t, bytes, 14600, "the kernel's initial window of ten segments")
			if path.mode == OffloadOn {
				assert.Greater(t, largest, 14+r.d.Caps().MTU, "coalesced frames larger than the MTU")
			} else {
				assert.LessOrEqual(t, largest, 14+r.d.Caps().MTU)
			}
			r.send(0, p.frame(tcpRST, nil, false), nil)
		})
	}
}

// TestSendChains sends frames made of several buffers: writev hands the
// buffers to the kernel as they are, and a chain longer than one writev
// takes is copied first. The checksums are partial, completed by the kernel
// or, on the plain path, by us over the chain.
func TestSendChains(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			r := openRig(t, Config{Offload: path.mode})
			ln, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.host, 0)))
			require.NoError(t, err)
			defer ln.Close()
			port := uint16(ln.LocalAddr().(*net.UDPAddr).Port)
			for _, pieces := range []int{2, 3, maxIovecs + 6} {
				payload := pattern(1200, byte(pieces))
				b := udpFrame(r.d.HostMAC(), r.d.Caps().MAC, r.self, r.host, 7000, port, payload, true)
				chain := chainOf(t, r.d.Pool(), b, pieces)
				chain.Csum, chain.CsumStart, chain.CsumOffset = backend.CsumPartial, 34, 6
				n, err := r.d.Send(0, []*backend.Frame{chain})
				require.NoError(t, err)
				require.Equal(t, 1, n)
				require.NoError(t, ln.SetReadDeadline(time.Now().Add(5*time.Second)))
				buf := make([]byte, 2000)
				k, _, err := ln.ReadFromUDPAddrPort(buf)
				require.NoError(t, err, "a chain of %d buffers", pieces)
				assert.Equal(t, payload, buf[:k], "a chain of %d buffers", pieces)
			}
			assert.Zero(t, r.d.QueueStats(0).TxDrops)
		})
	}
}

// chainOf copies b into a chain of n buffers, the first holding the
// headers and at least backend.ContiguousHeader bytes.
func chainOf(t *testing.T, pool *backend.Pool, b []byte, n int) *backend.Frame {
	first := backend.ContiguousHeader + 1 // odd, to shift the checksum's byte pairs
	sizes := []int{first}
	left, m := len(b)-first, n-1
	for i := range m {
		k := left / m
		if i < left%m {
			k++
		}
		sizes = append(sizes, k)
	}
	var head *backend.Frame
	off := 0
	for _, k := range sizes {
		f := pool.AllocOne(k)
		require.NotNil(t, f)
		require.True(t, f.SetLen(k))
		f.CopyFrom(b[off:off+k], 0)
		if head == nil {
			head = f
		} else {
			head.Chain(f)
		}
		off += k
	}
	require.Equal(t, n, head.Segments())
	require.Equal(t, len(b), head.Len())
	return head
}

// TestSendUDPSegmentation sends a UDP frame marked for segmentation
// (GSOUDP), which the device does not offer and so does in software on both
// paths: the kernel socket receives one datagram per segment.
func TestSendUDPSegmentation(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			r := openRig(t, Config{Offload: path.mode})
			ln, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.host, 0)))
			require.NoError(t, err)
			defer ln.Close()
			port := uint16(ln.LocalAddr().(*net.UDPAddr).Port)
			payload := pattern(2500, 11)
			r.send(0, udpFrame(r.d.HostMAC(), r.d.Caps().MAC, r.self, r.host, 7001, port, payload, true), func(f *backend.Frame) {
				f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 6
				f.GSO, f.GSOSize = backend.GSOUDP, 1000
			})
			require.NoError(t, ln.SetReadDeadline(time.Now().Add(5*time.Second)))
			buf := make([]byte, 2000)
			for i, want := range [][]byte{payload[:1000], payload[1000:2000], payload[2000:]} {
				k, _, err := ln.ReadFromUDPAddrPort(buf)
				require.NoError(t, err, "datagram %d", i)
				assert.Equal(t, want, buf[:k], "datagram %d", i)
			}
			st := r.d.QueueStats(0)
			assert.Equal(t, uint64(3), st.TxPackets)
			assert.Zero(t, st.TxDrops)
		})
	}
}
