package stack

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/wire"
)

// adopt picks the address and MAC of the receiver of the first IPv4
// packet in frames, so replayed traffic is addressed to the stack.
func adopt(frames [][]byte) (netip.Prefix, []byte) {
	for _, f := range frames {
		eth := wire.Ethernet(f)
		if eth.Check() != nil || eth.EtherType() != wire.EtherTypeIPv4 {
			continue
		}
		ip := wire.IPv4(eth.Payload())
		if ip.Check() != nil {
			continue
		}
		dst := ip.DstAddr()
		if !dst.IsGlobalUnicast() && !dst.IsPrivate() {
			continue
		}
		mac := eth.Dst()
		if mac.IsMulticast() || mac == (wire.MAC{}) {
			mac = wire.MAC{0x02, 0, 0, 0, 0, 0x42}
		}
		return netip.PrefixFrom(dst, 24), mac[:]
	}
	return netip.MustParsePrefix("192.0.2.1/24"), []byte{0x02, 0, 0, 0, 0, 0x42}
}

// replay feeds frames through a Manual stack on virtual time and returns
// what the stack sent and its counters.
func replay(t *testing.T, frames [][]byte, times []int64, mbuf bool, seed uint64) ([][]byte, Counters) {
	t.Helper()
	addr, mac := adopt(frames)
	start := int64(0)
	if len(times) > 0 {
		start = times[0]
	}
	clock := backend.NewVirtualClock(start)
	fd := newFeeder(t, clock, mbuf, mac)
	for i, f := range frames {
		fd.add(times[i], f)
	}
	s, err := New(Config{
		Interfaces: []InterfaceConfig{{Backend: fd, Addrs: []netip.Prefix{addr}}},
		Seed:       seed, Clock: clock, Manual: true, Logger: quietLogger(),
	})
	require.NoError(t, err)
	end := start
	if len(times) > 0 {
		end = max(times[len(times)-1], start)
	}
	end += int64(5 * time.Second)
	for steps := 0; steps < 10_000_000; steps++ {
		next := s.Poll(clock.Now())
		at, ok := fd.nextAt()
		if next == 0 || (ok && at < next) {
			if !ok {
				break
			}
			next = at
		}
		if next > end {
			break
		}
		clock.Set(max(next, clock.Now()))
	}
	c := s.Counters()
	require.NoError(t, s.Close())
	assert.Zero(t, fd.Outstanding(), "buffers")
	assert.Zero(t, s.Outstanding(), "loopback buffers")
	return fd.out, c
}

func TestCorpusReplaysWithoutPanicOrLeak(t *testing.T) {
	for _, path := range corpusFiles(t) {
		name, _ := filepath.Rel(corpusDir(t), path)
		t.Run(name, func(t *testing.T) {
			frames, times, err := readCapture(path)
			if err == errUnsupportedLink {
				t.Skipf("link type not carried by the Ethernet backends: %v", err)
			}
			require.NoError(t, err)
			for _, mbuf := range []bool{false, true} {
				out, c := replay(t, frames, times, mbuf, 7)
				again, _ := replay(t, frames, times, mbuf, 7)
				require.Equal(t, len(out), len(again), "same frames in, same seed: same frames out")
				for i := range out {
					require.True(t, bytes.Equal(out[i], again[i]), "frame %d differs between runs", i)
				}
				assert.Equal(t, uint64(len(frames)), c.Link.InFrames)
			}
		})
	}
}
