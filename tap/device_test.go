package tap

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/offload"
)

// paths runs a test on the fast path and on the plain path.
var paths = []struct {
	name string
	mode OffloadMode
}{
	{"fast", OffloadOn},
	{"plain", OffloadOff},
}

func TestReceiveFromKernel(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			r := openRig(t, Config{Offload: p.mode})
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.self, 9999)))
			require.NoError(t, err)
			defer c.Close()
			payload := pattern(300, 1)
			_, err = c.Write(payload)
			require.NoError(t, err)

			f := r.recv(0, func(f *backend.Frame) bool {
				ip, ok := parseIPv4(f.Bytes())
				return ok && ip.proto == 17 && ip.dport == 9999
			})
			defer backend.ReleaseOne(f)
			b := f.Bytes()
			ip, _ := parseIPv4(b)
			assert.Equal(t, payload, ip.payload)
			assert.Equal(t, r.host, ip.src)
			assert.Equal(t, r.self, ip.dst)
			assert.Equal(t, net.HardwareAddr(b[0:6]), r.d.Caps().MAC, "to our MAC")
			assert.Equal(t, net.HardwareAddr(b[6:12]), r.d.HostMAC(), "from the kernel side's MAC")
			assert.Equal(t, 0, f.Queue)
			assert.NotZero(t, f.Timestamp)
			assert.Equal(t, backend.Headroom, f.Headroom(), "received frames keep headroom")
			if p.mode == OffloadOn {
				// The host's own datagram is never summed: the kernel
				// hands it over with NEEDS_CSUM.
				assert.Equal(t, backend.CsumPartial, f.Csum)
				assert.Equal(t, uint16(14+20), f.CsumStart)
				assert.Equal(t, uint16(6), f.CsumOffset)
				require.NoError(t, offload.CompleteChecksum(f))
			} else {
				assert.Equal(t, backend.CsumNone, f.Csum)
			}
			assert.Equal(t, backend.CsumVerified, offload.VerifyChecksums(f))
			st := r.d.QueueStats(0)
			assert.GreaterOrEqual(t, st.RxPackets, uint64(1))
			assert.GreaterOrEqual(t, st.RxBytes, uint64(len(b)))
			assert.GreaterOrEqual(t, st.Bursts, uint64(1))
		})
	}
}

func TestSendToKernel(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			r := openRig(t, Config{Offload: p.mode})
			payload := pattern(56, 2)
			r.send(0, icmpEcho(r.d.HostMAC(), r.d.Caps().MAC, r.self, r.host, 77, 1, payload), nil)
			f := r.recv(0, func(f *backend.Frame) bool {
				ip, ok := parseIPv4(linear(f))
				return ok && ip.proto == 1 && ip.icmpType == 0
			})
			defer backend.ReleaseOne(f)
			ip, _ := parseIPv4(linear(f))
			assert.Equal(t, payload, ip.payload, "the echo reply carries our payload")
			assert.Equal(t, r.host, ip.src)
			assert.Equal(t, r.self, ip.dst)
			st := r.d.QueueStats(0)
			assert.Equal(t, uint64(1), st.TxPackets)
			assert.Equal(t, uint64(len(payload)+42), st.TxBytes)
			assert.Zero(t, st.TxDrops)
		})
	}
}

// TestSendPartialChecksum sends a UDP datagram whose checksum field holds
// only the pseudo-header sum. On the fast path the kernel takes it as
// NEEDS_CSUM; on the plain path we complete it. Either way a kernel socket
// receives it: with a wrong checksum the kernel would drop it.
func TestSendPartialChecksum(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			r := openRig(t, Config{Offload: p.mode})
			ln, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.host, 0)))
			require.NoError(t, err)
			defer ln.Close()
			port := uint16(ln.LocalAddr().(*net.UDPAddr).Port)
			payload := pattern(1000, 3)
			frame := udpFrame(r.d.HostMAC(), r.d.Caps().MAC, r.self, r.host, 5555, port, payload, true)
			require.NotEqual(t, backend.CsumVerified, offload.VerifyChecksums(loadFrame(t, r.d.Pool(), frame)),
				"the frame's checksum is only partial")
			r.send(0, frame, func(f *backend.Frame) {
				f.Csum, f.CsumStart, f.CsumOffset = backend.CsumPartial, 34, 6
				f.L2Len, f.L3Len, f.L4Len = 14, 20, 8
			})
			require.NoError(t, ln.SetReadDeadline(time.Now().Add(5*time.Second)))
			buf := make([]byte, 2000)
			n, from, err := ln.ReadFromUDPAddrPort(buf)
			require.NoError(t, err)
			assert.Equal(t, payload, buf[:n])
			assert.Equal(t, netip.AddrPortFrom(r.self, 5555), from)
			assert.Zero(t, r.d.QueueStats(0).TxDrops)
		})
	}
}

// loadFrame copies b into a frame of pool, released at the end of the test.
func loadFrame(t *testing.T, pool *backend.Pool, b []byte) *backend.Frame {
	f := pool.AllocOne(len(b))
	require.NotNil(t, f)
	require.True(t, f.SetLen(len(b)))
	f.CopyFrom(b, 0)
	t.Cleanup(func() { backend.ReleaseOne(f) })
	return f
}

func TestSendDropsWhatNoWireCarries(t *testing.T) {
	r := openRig(t, Config{Offload: OffloadOff})
	mtu := r.d.Caps().MTU
	big := udpFrame(r.d.HostMAC(), r.d.Caps().MAC, r.self, r.host, 1, 2, make([]byte, mtu), false)
	fs := make([]*backend.Frame, 2)
	require.Equal(t, 2, r.d.Alloc(0, fs, len(big)))
	require.True(t, fs[0].SetLen(len(big)))
	fs[0].CopyFrom(big, 0)
	require.True(t, fs[1].SetLen(10)) // a runt
	n, err := r.d.Send(0, fs)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "taken and dropped, as a NIC would")
	st := r.d.QueueStats(0)
	assert.Equal(t, uint64(2), st.TxDrops)
	assert.Zero(t, st.TxPackets)
	assert.Zero(t, r.d.Outstanding())
}

func TestWait(t *testing.T) {
	r := openRig(t, Config{})
	d, clock := r.d, r.d.cfg.Clock

	t.Run("past deadline returns at once", func(t *testing.T) {
		require.NoError(t, d.Wait(0, clock.Now()-1))
	})
	t.Run("returns at the deadline", func(t *testing.T) {
		deadline := clock.Now() + int64(20*time.Millisecond)
		// A signal may end a wait early, so wait until the deadline.
		for i := 0; clock.Now() < deadline; i++ {
			require.Less(t, i, 1000)
			require.NoError(t, d.Wait(0, deadline))
		}
	})
	t.Run("wake ends an endless wait", func(t *testing.T) {
		var woken atomic.Bool
		done := make(chan error, 1)
		go func() {
			for {
				if err := d.Wait(0, 0); err != nil || woken.Load() {
					done <- err
					return
				}
			}
		}()
		time.Sleep(10 * time.Millisecond)
		woken.Store(true)
		d.Wake(0)
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return after Wake")
		}
	})
	t.Run("wake before wait", func(t *testing.T) {
		d.Wake(0)
		d.Wake(0)
		done := make(chan error, 1)
		go func() { done <- d.Wait(0, 0) }()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not see the earlier Wake")
		}
	})
	t.Run("a frame ends a wait", func(t *testing.T) {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.self, 9)))
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("x"))
		require.NoError(t, err)
		f := r.recv(0, func(f *backend.Frame) bool {
			ip, ok := parseIPv4(f.Bytes())
			return ok && ip.dport == 9
		})
		backend.ReleaseOne(f)
	})
	t.Run("bad queue", func(t *testing.T) {
		assert.ErrorIs(t, d.Wait(1, 0), backend.ErrQueue)
		_, err := d.Recv(-1, nil)
		assert.ErrorIs(t, err, backend.ErrQueue)
		_, err = d.Send(1, nil)
		assert.ErrorIs(t, err, backend.ErrQueue)
		d.Wake(7) // no effect, no panic
	})
}

func TestCloseEndsWait(t *testing.T) {
	r := openRig(t, Config{})
	d := r.d
	fs := make([]*backend.Frame, 1)
	require.Equal(t, 1, d.Alloc(0, fs, 100))
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = d.Wait(0, 0)
		}
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, d.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, backend.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end Wait")
	}
	_, err := d.Recv(0, fs[:0])
	assert.ErrorIs(t, err, backend.ErrClosed)
	n, err := d.Send(0, fs)
	assert.ErrorIs(t, err, backend.ErrClosed)
	assert.Zero(t, n)
	assert.Equal(t, 1, d.Outstanding(), "the caller's frame")
	backend.Release(fs)
	assert.Zero(t, d.Outstanding(), "released after Close")
	assert.NoError(t, d.Close(), "a second Close")
}

func TestMultiQueue(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			r := openRig(t, Config{Offload: p.mode, Queues: 2})
			d := r.d
			assert.Equal(t, 2, d.Caps().Queues)
			assert.Equal(t, backend.SteerTxQueue, d.Caps().Steering)
			flags := tunFlags(t, d.Caps().Name)
			assert.NotZero(t, flags&unix.IFF_MULTI_QUEUE, "tun_flags %#x", flags)

			// A UDP echo on the host answers flows sent from either queue.
			// The kernel records a flow's queue after it has delivered the
			// frame, so the answer to a flow's first datagram can race it
			// and land on either queue; answers after that come back on
			// the queue the flow is sent on.
			echo, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.host, 0)))
			require.NoError(t, err)
			defer echo.Close()
			go func() {
				b := make([]byte, 2048)
				for {
					n, from, err := echo.ReadFromUDPAddrPort(b)
					if err != nil {
						return
					}
					_, _ = echo.WriteToUDPAddrPort(b[:n], from)
				}
			}()
			port := uint16(echo.LocalAddr().(*net.UDPAddr).Port)
			answeredOn := func(sport uint16, payload []byte) int {
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) {
					for rq := range 2 {
						f := r.tryRecv(rq, 20*time.Millisecond, func(f *backend.Frame) bool {
							ip, ok := parseIPv4(linear(f))
							return ok && ip.proto == 17 && ip.dport == sport && bytes.Equal(ip.payload, payload)
						})
						if f != nil {
							assert.Equal(t, rq, f.Queue)
							backend.ReleaseOne(f)
							return rq
						}
					}
				}
				return -1
			}
			for i := range 8 {
				q, sport := i%2, uint16(6000+i)
				for k := range 3 {
					payload := pattern(32, byte(i*3+k))
					r.send(q, udpFrame(d.HostMAC(), d.Caps().MAC, r.self, r.host, sport, port, payload, false), nil)
					got := answeredOn(sport, payload)
					require.GreaterOrEqual(t, got, 0, "no answer to flow %d", sport)
					if k > 0 {
						assert.Equal(t, q, got, "answer %d to flow %d sent on queue %d", k, sport, q)
					}
				}
			}
			for q := range 2 {
				assert.Equal(t, uint64(12), d.QueueStats(q).TxPackets)
			}
		})
	}
}

// tunFlags reads the IFF_* flags of a TUN/TAP device from sysfs.
func tunFlags(t testing.TB, name string) uint64 {
	t.Helper()
	b, err := os.ReadFile(sysClassNet + name + "/tun_flags")
	require.NoError(t, err)
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 0, 32)
	require.NoError(t, err)
	return v
}

// TestSteadyStateNoAllocs checks that receiving and sending frames
// allocates nothing once the pool is warm.
func TestSteadyStateNoAllocs(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			r := openRig(t, Config{Offload: p.mode})
			d := r.d
			// Kernel sockets through raw descriptors: package net would
			// allocate in this process, and AllocsPerRun counts them all.
			tx := kernelUDP(t, r.host, netip.AddrPortFrom(r.self, 9999))
			rx := kernelUDP(t, r.host, netip.AddrPort{})
			var sa unix.SockaddrInet4
			rxName, err := unix.Getsockname(rx)
			require.NoError(t, err)
			sa = *rxName.(*unix.SockaddrInet4)
			out := udpFrame(d.HostMAC(), d.Caps().MAC, r.self, r.host, 4000, uint16(sa.Port), pattern(200, 4), false)
			payload := pattern(200, 5)
			fs := make([]*backend.Frame, 32)
			one := make([]*backend.Frame, 1)
			sink := make([]byte, 2048)
			clock := d.cfg.Clock
			step := func() {
				_, err := unix.Write(tx, payload)
				if err != nil {
					panic(err)
				}
				for got := false; !got; {
					if err := d.Wait(0, clock.Now()+int64(time.Second)); err != nil {
						panic(err)
					}
					n, err := d.Recv(0, fs)
					if err != nil {
						panic(err)
					}
					got = n > 0
					backend.Release(fs[:n])
				}
				if d.Alloc(0, one, len(out)) != 1 {
					panic("pool empty")
				}
				one[0].SetLen(len(out))
				one[0].CopyFrom(out, 0)
				if n, err := d.Send(0, one); n != 1 || err != nil {
					panic(err)
				}
				_, _ = unix.Read(rx, sink)
			}
			for range 50 {
				step()
			}
			assert.Zero(t, testing.AllocsPerRun(500, step))
			st := d.QueueStats(0)
			t.Logf("stats after the run: %+v", st)
			assert.GreaterOrEqual(t, st.RxPackets, uint64(550))
			assert.GreaterOrEqual(t, st.TxPackets, uint64(550))
			assert.Zero(t, st.TxDrops)
		})
	}
}

// kernelUDP opens a non-blocking UDP socket of the host bound to local,
// connected to peer when peer is valid.
func kernelUDP(t testing.TB, local netip.Addr, peer netip.AddrPort) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	require.NoError(t, unix.Bind(fd, &unix.SockaddrInet4{Addr: local.As4()}))
	if peer.IsValid() {
		require.NoError(t, unix.Connect(fd, &unix.SockaddrInet4{Addr: peer.Addr().As4(), Port: int(peer.Port())}))
	}
	return fd
}

// TestDeviceDeletedUnderUs deletes the device while it is open, as an
// administrator might: Wait and Recv report it, Send drops, Close works.
func TestDeviceDeletedUnderUs(t *testing.T) {
	r := openRig(t, Config{})
	d := r.d
	run(t, "ip", "link", "del", d.Caps().Name)
	err := d.Wait(0, d.cfg.Clock.Now()+int64(time.Second))
	assert.ErrorIs(t, err, backend.ErrGone)
	assert.ErrorContains(t, err, "tap "+d.Caps().Name+": poll: device is gone")
	fs := make([]*backend.Frame, 8)
	_, err = d.Recv(0, fs)
	assert.ErrorIs(t, err, backend.ErrGone)
	assert.ErrorContains(t, err, "tap "+d.Caps().Name+": read: device is gone")
	r.send(0, icmpEcho(d.HostMAC(), d.Caps().MAC, r.self, r.host, 1, 1, nil), nil)
	assert.Equal(t, uint64(1), d.QueueStats(0).TxDrops)
}
