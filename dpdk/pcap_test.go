//go:build dpdk

package dpdk

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/pcapsim"
	"github.com/ustack/ustack/stack"
)

// A capture replayed through a real DPDK port (net_pcap: rx_pcap feeds
// the port, tx_pcap records what the stack sends) gives the answers
// pcapsim's replay of the same capture gives.
//
// What "the same" means: pcapsim feeds frames on virtual time at the
// capture's instants; net_pcap feeds them as fast as the stack polls, on
// real time. So timer-driven output (retransmissions, ARP retries,
// anything after a timeout) differs in count and instant, and whatever
// hangs off the clock (TCP initial sequence numbers and timestamps) in
// value. The stack's answers to the captured frames do not: ARP replies
// and requests, ICMP echo replies and errors, and TCP resets (the stack
// listens on no port, so every SYN is refused and every other segment
// answered with a reset whose numbers come from the segment). The test
// compares, byte for byte, the distinct frames each run sent in the order
// they first appeared, with the IPv4 identification and header checksum
// zeroed (identifications are drawn in sending order, which the timers
// interleave differently).
func TestPcapPortReplayMatchesPcapsim(t *testing.T) {
	skipWithoutEAL(t)
	lockThread(t)
	corpus := findCorpus(t)
	for i, name := range []string{
		"zeek/arp-leak.pcap",       // ARP
		"zeek/icmp/5-pings.pcap",   // ICMP echo
		"zeek/ftp/bruteforce.pcap", // TCP: 606 frames, every one refused
		"zeek/chksums/ip4-icmp-good-chksum.pcap",
		// Taken on the client: its SYN carries the checksum its NIC was
		// to fill in, which both take as the sender's (offload.MarkPartial).
		"tcpdump/accecn_handshake.pcap",
		"zeek/chksums/localhost-bad-chksum.pcap",
	} {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(corpus, name)
			dir := t.TempDir()
			simOut, portOut := filepath.Join(dir, "pcapsim.pcap"), filepath.Join(dir, "port.pcap")
			sum, err := pcapsim.Replay(context.Background(), pcapsim.Options{In: in, Out: simOut, Seed: 1})
			require.NoError(t, err)

			dev := fmt.Sprintf("net_pcap%d", i)
			require.NoError(t, Probe(fmt.Sprintf("%s,rx_pcap=%s,tx_pcap=%s", dev, in, portOut)))
			p := openPort(t, Config{Port: dev, RxDesc: 512, TxDesc: 512, Mbufs: 2047})
			neigh := make([]stack.Neighbor, len(sum.Neighbors))
			for i, n := range sum.Neighbors {
				neigh[i] = stack.Neighbor{Addr: n.Addr, MAC: n.MAC}
			}
			// The stack pcapsim's replay made, on the DPDK port.
			s, err := stack.New(stack.Config{
				Interfaces: []stack.InterfaceConfig{{Name: pcapsim.Iface, Backend: p, Addrs: sum.Addrs, MAC: sum.MAC, Neighbors: neigh}},
				Routes:     []stack.Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Interface: pcapsim.Iface}},
				Seed:       1,
				Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
				LoopStart:  p.ThreadInit,
				LoopEnd:    p.ThreadExit,
				IPv6:       stack.IPv6Config{DADTransmits: -1, RouterSolicitations: -1, MLDReports: -1, NoSLAAC: true},
			})
			require.NoError(t, err)
			waitQuiet(t, p, sum.FramesIn)
			require.NoError(t, s.Close()) // closes the port: net_pcap writes tx_pcap out

			want, got := answers(t, simOut), answers(t, portOut)
			require.NotEmpty(t, want, "pcapsim's replay answered nothing")
			assert.Equal(t, want, got, "distinct answers in order of first appearance (hex)")
			t.Logf("%d frames in, %d distinct answers", sum.FramesIn, len(want))
		})
	}
}

// waitQuiet waits until the port has received the capture's frames and
// the stack has had a moment to answer the last.
func waitQuiet(t testing.TB, p *Port, frames uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := p.Stats()
		require.NoError(t, err)
		if st.IPackets >= frames {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the port received %d of the capture's %d frames", st.IPackets, frames)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
}

// answers reads a capture of what a stack sent and returns its distinct
// frames in order of first appearance, hex-encoded, with the IPv4
// identification and header checksum zeroed.
func answers(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	seen := map[string]bool{}
	var out []string
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b := bytes.Clone(data)
		if len(b) >= 34 && binary.BigEndian.Uint16(b[12:]) == 0x0800 {
			clear(b[18:20]) // identification
			clear(b[24:26]) // header checksum
		}
		k := hex.EncodeToString(b)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// findCorpus finds the shared captures: $USTACK_CORPUS or ../shared/corpus
// from the module root, or skips.
func findCorpus(t testing.TB) string {
	t.Helper()
	for _, d := range []string{os.Getenv("USTACK_CORPUS"), "../../shared/corpus"} {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "MANIFEST.tsv")); err == nil {
			return d
		}
	}
	t.Skip("no capture corpus: set USTACK_CORPUS or place it at ../shared/corpus from the module root")
	return ""
}
