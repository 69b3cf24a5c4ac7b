package pcapsim

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/wire"
)

// partial rewrites the checksum of frame's transport header at off (from
// the frame's start) as Linux leaves it for the NIC: the folded sum of the
// pseudo-header.
func partial(t testing.TB, frame []byte, l3, l4, csumOff int) []byte {
	t.Helper()
	f := bytes.Clone(frame)
	var src, dst []byte
	var proto uint8
	if f[l3]>>4 == 4 {
		src, dst, proto = f[l3+12:l3+16], f[l3+16:l3+20], f[l3+9]
	} else {
		src, dst, proto = f[l3+8:l3+24], f[l3+24:l3+40], f[l3+6]
	}
	binary.BigEndian.PutUint16(f[l4+csumOff:], wire.Fold(wire.PseudoHeaderSum(src, dst, proto, len(f)-l4)))
	return f
}

// A capture taken on a client records its SYN with the checksum its NIC
// was to fill in. Replayed, the stack answers it as its host's stack did,
// and counts it; a SYN whose checksum is merely wrong is still dropped.
func TestReplayTakesChecksumsLeftToTheNIC(t *testing.T) {
	good := ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40000, 80, 1))
	offloaded := partial(t, ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40001, 80, 1)), 14, 34, 16)
	wrong := ethIPv4(t, peerMAC, hostMAC, ip4(peerIP, hostIP, layers.IPProtocolTCP), syn(40002, 80, 1))
	wrong[34+16]++
	in := filepath.Join(t.TempDir(), "client.pcap")
	writePcap(t, in, 1, false, []rec{{t0, good, 0}, {t0.Add(time.Millisecond), offloaded, 0}, {t0.Add(2 * time.Millisecond), wrong, 0}})
	sum, out, err := replayBytes(t, Options{In: in, Listen: []uint16{80}})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), sum.Capture.OffloadedChecksums)
	assert.Equal(t, uint64(1), sum.Counters.TCP.InCsumErrors, "the wrong checksum")
	answered, _ := synAcked(t, out)
	assert.Equal(t, map[layers.TCPPort]bool{40000: true, 40001: true}, answered, "SYN-ACKs to the good and the offloaded SYN")
}
