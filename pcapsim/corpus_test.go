package pcapsim

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// corpusAddr is the --addr mode's address: TEST-NET-1, in none of the
// captures.
var corpusAddr = netip.MustParsePrefix("192.0.2.77/24")

// synExempt are corpus captures with a TCP SYN to which the stack rightly
// sends no TCP segment under --adopt, with the counter that shows why.
var synExempt = map[string]string{
	// SYN, RST and ACK at once: RFC 9293 §3.10.7.1 discards a reset
	// for no connection silently.
	"tcpdump/tcp_eight_lowest_weight_flags_set.pcap": "TCP.InSegs",
	// Bad checksums. (A capture on the sender, before its NIC filled
	// them in, is answered: see offload.MarkPartial.)
	"zeek/tcp/syn-bad.pcap": "TCP.InCsumErrors",
	"zeek/web.pcap":         "IP.InCsumErrors",
	// Anonymised: addresses rewritten, IP checksums not.
	"zeek/tcp/retransmit-fast009.pcap": "IP.InCsumErrors",
	// A type 0 routing header with segments left (RFC 5095 §3) and a
	// Mobile IPv6 home address option (RFC 6275 §6.3, unrecognised,
	// action "discard") refuse the SYN; the parameter problem is not sent
	// because the frames are link-layer broadcasts (RFC 4443 §2.4 (e)).
	"zeek/chksums/ip6-route0-tcp-good-chksum.pcap": "IPv6.InHdrErrors",
	"zeek/chksums/ip6-route0-tcp-bad-chksum.pcap":  "IPv6.InHdrErrors",
	"zeek/chksums/ip6-hoa-tcp-good-chksum.pcap":    "IPv6.InHdrErrors",
	// IPv4 in IPv6: the stack terminates no tunnels, and answers with a
	// parameter problem (unrecognised next header).
	"zeek/tunnels/4in6.pcap": "IPv6.InUnknownProtos",
}

// TestCorpusReplays replays every capture of the shared corpus with
// --adopt (twice, and once in mbuf mode: the output must not change by a
// byte) and with a fixed --addr (plain and mbuf): no panic, no hang, no
// leaked buffer, every record read. Captures with a TCP SYN make the
// adopted stack send TCP.
func TestCorpusReplays(t *testing.T) {
	dir, files := corpusFiles(t)
	withSYN := manifestSYN(t, dir)
	var mu sync.Mutex
	var frames, replays int
	var synChecked, synV6, synNone, synExempted int
	start := time.Now()
	t.Cleanup(func() {
		t.Logf("%d captures, %d frames, %d replays in %v; SYN captures: %d answered with TCP (%d of them as an IPv6 host), %d had no host to adopt (loopback), %d exempt (bad checksums, SYN with RST, refused IPv6 headers, a tunnel)",
			len(files), frames, replays, time.Since(start).Round(time.Millisecond), synChecked, synV6, synNone, synExempted)
	})
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, name)
			run := func(o Options) (Summary, []byte) {
				t.Helper()
				var out bytes.Buffer
				o.In, o.Output, o.Seed = path, &out, 7
				sum, err := Replay(context.Background(), o)
				require.NoError(t, err)
				require.Zero(t, sum.Leaked)
				mu.Lock()
				replays++
				mu.Unlock()
				return sum, out.Bytes()
			}
			sum, out := run(Options{})
			_, again := run(Options{})
			require.True(t, bytes.Equal(out, again), "same capture, same seed: the output differs")
			_, mbuf := run(Options{Mbuf: true})
			assert.True(t, bytes.Equal(out, mbuf), "mbuf memory changed the output")
			require.NotNil(t, sum.Adoption)
			assert.Equal(t, uint64(sum.Capture.Records)-sum.Capture.SkippedOutgoing-sum.Capture.SkippedLinkType-sum.Capture.SkippedShort, sum.FramesIn+sum.RxDrops)
			mu.Lock()
			frames += sum.Capture.Records
			mu.Unlock()

			for _, mb := range []bool{false, true} {
				s, o := run(Options{Addrs: []netip.Prefix{corpusAddr}, Mbuf: mb})
				assert.Equal(t, sum.FramesIn, s.FramesIn)
				assert.NotEmpty(t, o, "the output is written")
			}

			if !withSYN[filepath.ToSlash(name)] {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			a := sum.Adoption
			switch {
			case a.How == AdoptNone:
				synNone++
				for _, dst := range ipDestinations(t, path) {
					assert.False(t, dst.IsGlobalUnicast() || dst.IsLinkLocalUnicast(), "nothing adopted, yet %v is a host", dst)
				}
				t.Logf("no host to adopt (the capture's hosts are loopback addresses)")
			case synExempt[filepath.ToSlash(name)] != "":
				synExempted++
				why := synExempt[filepath.ToSlash(name)]
				assert.Contains(t, countNames(NonZero(sum.Counters)), why, "exempt for %s, which the stack did not count", why)
			default:
				synChecked++
				if a.Prefix.Addr().Is6() {
					synV6++
				}
				assert.Positive(t, tcpSegments(t, out), "a capture with a TCP SYN: the stack sent no TCP segment (drops %v)", sum.Drops)
			}
		})
	}
}

func countNames(ds []Count) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// tcpSegments counts the TCP segments in a pcap capture.
func tcpSegments(t testing.TB, capture []byte) int {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(capture))
	require.NoError(t, err)
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return n
		}
		if gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeTCP) != nil {
			n++
		}
	}
}

// ipDestinations are the destination addresses of a capture's IP packets,
// as gopacket reads them.
func ipDestinations(t testing.TB, path string) []netip.Addr {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []netip.Addr
	var next func() ([]byte, layers.LinkType, error)
	if bytes.HasPrefix(b, ngMagic) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
		require.NoError(t, err)
		next = func() ([]byte, layers.LinkType, error) { d, _, err := r.ReadPacketData(); return d, r.LinkType(), err }
	} else {
		r, err := pcapgo.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		next = func() ([]byte, layers.LinkType, error) { d, _, err := r.ReadPacketData(); return d, r.LinkType(), err }
	}
	for {
		d, lt, err := next()
		if err != nil {
			return out
		}
		p := gopacket.NewPacket(d, lt, gopacket.Default)
		if nl := p.NetworkLayer(); nl != nil {
			if a, ok := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw()); ok {
				out = append(out, a.Unmap())
			}
		}
	}
}
