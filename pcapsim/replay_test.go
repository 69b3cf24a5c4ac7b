package pcapsim

import (
	"bytes"
	"context"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack"
)

func replayBytes(t testing.TB, o Options) (Summary, []byte, error) {
	t.Helper()
	var out bytes.Buffer
	o.Output = &out
	sum, err := Replay(context.Background(), o)
	return sum, out.Bytes(), err
}

func TestReplayRefusesBadOptions(t *testing.T) {
	in := filepath.Join("testdata", "icmp-echo.pcap")
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"no capture", Options{}, "no capture"},
		{"multicast address", Options{In: in, Addrs: []netip.Prefix{netip.MustParsePrefix("224.0.0.1/24")}}, "224.0.0.1/24"},
		{"loopback address", Options{In: in, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}, "127.0.0.1/8"},
		{"group mac", Options{In: in, MAC: broadcastMAC}, "ff:ff:ff:ff:ff:ff"},
		{"neighbour without mac", Options{In: in, Neighbors: []Neighbor{{Addr: peerIP}}}, "neighbour 10.0.0.2"},
		{"missing file", Options{In: filepath.Join(t.TempDir(), "nothing.pcap")}, "nothing.pcap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := replayBytes(t, c.o)
			assert.ErrorContains(t, err, c.want)
		})
	}
}

func TestReplayWritesTheOutputWhenItFails(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "wifi.pcap"), filepath.Join(dir, "out.pcap")
	writePcap(t, in, 105, false, []rec{{at: t0, data: make([]byte, 60)}})
	_, err := Replay(context.Background(), Options{In: in, Out: out})
	assert.EqualError(t, err, "pcapsim: link type 105 (IEEE 802.11) not supported")
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err, "an empty capture, header and all")
	assert.Equal(t, layers.LinkTypeEthernet, r.LinkType())
}

func TestReplayBoundsItsSteps(t *testing.T) {
	sum, out, err := replayBytes(t, Options{In: filepath.Join("testdata", "tcp-handshake.pcap"), MaxSteps: 2})
	assert.ErrorIs(t, err, ErrStepLimit)
	assert.Zero(t, sum.Leaked, "the stack is closed and its buffers back all the same")
	assert.NotEmpty(t, out)
}

func TestReplayStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Replay(ctx, Options{In: filepath.Join("testdata", "icmp-echo.pcap")})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, sum.Leaked)
}

func TestReplayDrains(t *testing.T) {
	in := filepath.Join("testdata", "icmp-echo.pcap") // 3.5 s from first to last frame
	for _, c := range []struct {
		drain, want time.Duration
	}{{0, 3500*time.Millisecond + DefaultDrain}, {time.Minute, 3500*time.Millisecond + time.Minute}, {-1, 3500 * time.Millisecond}} {
		sum, _, err := replayBytes(t, Options{In: in, Drain: c.drain})
		require.NoError(t, err)
		assert.Equal(t, c.want, sum.Virtual, "drain %v", c.drain)
		assert.Equal(t, t0.UnixNano(), sum.Start)
	}
}

func TestReplayReportsProgress(t *testing.T) {
	var got []Progress
	sum, _, err := replayBytes(t, Options{In: filepath.Join("testdata", "icmp-echo.pcap"), ProgressEvery: 2, Progress: func(p Progress) { got = append(got, p) }})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, uint64(2), got[0].FramesIn)
	assert.Equal(t, uint64(4), got[1].FramesIn)
	assert.Equal(t, 3500*time.Millisecond, got[1].Virtual)
	assert.Positive(t, got[1].BytesRead)
	assert.Equal(t, int64(480), got[1].Size)
	assert.Equal(t, uint64(4), sum.FramesIn)
}

func TestReplayIsReproducibleBySeed(t *testing.T) {
	o := Options{In: filepath.Join("testdata", "tcp-handshake.pcap"), Listen: []uint16{80}}
	_, a, err := replayBytes(t, o)
	require.NoError(t, err)
	_, b, err := replayBytes(t, o)
	require.NoError(t, err)
	assert.Equal(t, a, b, "same seed")
	o.Seed = 2
	_, c, err := replayBytes(t, o)
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "another seed, another initial sequence number")
}

func TestReplayPcapngLikePcap(t *testing.T) {
	dir := t.TempDir()
	ng := filepath.Join(dir, "icmp-echo.pcapng")
	pcap, err := os.ReadFile(filepath.Join("testdata", "icmp-echo.pcap"))
	require.NoError(t, err)
	frames, times, err := readAll(t, pcap)
	require.NoError(t, err)
	var recs []rec
	for i := range frames {
		recs = append(recs, rec{at: time.Unix(0, times[i]), data: frames[i]})
	}
	require.NoError(t, os.WriteFile(ng, pcapngBytes(t, recs), 0o644))
	_, want, err := replayBytes(t, Options{In: filepath.Join("testdata", "icmp-echo.pcap")})
	require.NoError(t, err)
	_, got, err := replayBytes(t, Options{In: ng})
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestReplayWithAddresses(t *testing.T) {
	in := filepath.Join("testdata", "icmp-echo.pcap")
	adopted, want, err := replayBytes(t, Options{In: in})
	require.NoError(t, err)

	t.Run("the host's address and MAC answer as adopting does", func(t *testing.T) {
		sum, got, err := replayBytes(t, Options{In: in, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, MAC: hostMAC})
		require.NoError(t, err)
		assert.Nil(t, sum.Adoption)
		assert.Equal(t, adopted.Neighbors, sum.Neighbors, "neighbours are learned in either mode")
		assert.Equal(t, want, got)
	})
	t.Run("another MAC receives no unicast frame", func(t *testing.T) {
		sum, _, err := replayBytes(t, Options{In: in, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
		require.NoError(t, err)
		assert.Equal(t, GeneratedMAC(1), sum.MAC)
		assert.Equal(t, []Count{{"Link.InOtherHost", 4}}, sum.Drops)
		assert.Zero(t, sum.Counters.ICMP.OutEchoReps)
	})
	t.Run("given neighbours come first", func(t *testing.T) {
		sum, _, err := replayBytes(t, Options{In: in, Neighbors: []Neighbor{{Addr: peerIP, MAC: otherMAC}}})
		require.NoError(t, err)
		assert.Equal(t, Neighbor{peerIP, otherMAC}, sum.Neighbors[0])
		assert.Len(t, sum.Neighbors, 2)
	})
}

func TestDropsAreTheCountersOfDroppedPackets(t *testing.T) {
	var c stack.Counters
	c.Link.InFrames = 10
	c.Link.InOtherHost = 3
	c.IP.InAddrErrors = 2
	c.TCP.AttemptFails = 1
	c.TCP.NoPorts = 4
	c.TCP.OutSegs = 4
	assert.Equal(t, []Count{{"Link.InOtherHost", 3}, {"IP.InAddrErrors", 2}, {"TCP.NoPorts", 4}}, Drops(c))
	assert.Len(t, NonZero(c), 6)
}

// A dual-stack host's clients reach it over both families (curl's happy
// eyeballs, a browser's): adopting it, the stack takes both addresses and
// answers both SYNs.
func TestReplayAdoptsBothAddressesOfADualStackHost(t *testing.T) {
	in := filepath.Join(t.TempDir(), "dual.pcap")
	writePcap(t, in, linkEthernet, false, []rec{
		{t0, serialize(t, eth(peerMAC, hostMAC, layers.EthernetTypeIPv6), ip6(peer6IP, host6IP, layers.IPProtocolTCP), syn(40000, 80, 1)), 0},
		{t0.Add(time.Millisecond), ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40001, 80, 1)), 0},
	})
	sum, out, err := replayBytes(t, Options{In: in, Listen: []uint16{80}})
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("10.0.0.1/24")}, sum.Addrs)
	assert.Empty(t, sum.Drops)
	answered, _ := synAcked(t, out)
	assert.Equal(t, map[layers.TCPPort]bool{40000: true, 40001: true}, answered)
}

// A capture on a trunk: the stack goes on the adopted host's VLAN,
// answers tagged, and the frames of no VLAN are dropped before it; a
// checksum left to the NIC is found behind the tag.
func TestReplayOnTheAdoptedHostsVLAN(t *testing.T) {
	tagged := func(vid uint16, ls ...gopacket.SerializableLayer) []byte {
		return serialize(t, append([]gopacket.SerializableLayer{eth(peerMAC, hostMAC, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: vid, Type: layers.EthernetTypeIPv4}}, ls...)...)
	}
	offloaded := partial(t, tagged(7, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40001, 80, 1)), 18, 38, 16)
	in := filepath.Join(t.TempDir(), "trunk.pcap")
	writePcap(t, in, linkEthernet, false, []rec{
		{t0, tagged(7, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40000, 80, 1)), 0},
		{t0.Add(time.Millisecond), offloaded, 0},
		{t0.Add(2 * time.Millisecond), ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40002, 80, 1)), 0},
	})
	sum, out, err := replayBytes(t, Options{In: in, Listen: []uint16{80}})
	require.NoError(t, err)
	assert.Equal(t, 7, sum.VLAN)
	assert.Equal(t, []Count{{"VLAN.Untagged", 1}}, sum.Drops)
	assert.Equal(t, uint64(1), sum.Capture.OffloadedChecksums)
	answered, vlans := synAcked(t, out)
	assert.Equal(t, map[layers.TCPPort]bool{40000: true, 40001: true}, answered)
	assert.Equal(t, []uint16{7}, slices.Collect(maps.Keys(vlans)), "every frame tagged")

	sum, out, err = replayBytes(t, Options{In: in, Listen: []uint16{80}, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, MAC: hostMAC})
	require.NoError(t, err)
	assert.Zero(t, sum.VLAN, "given addresses: untagged unless told")
	answered, vlans = synAcked(t, out)
	assert.Equal(t, map[layers.TCPPort]bool{40002: true}, answered, "only the untagged SYN")
	assert.Equal(t, []uint16{0}, slices.Collect(maps.Keys(vlans)))
}
