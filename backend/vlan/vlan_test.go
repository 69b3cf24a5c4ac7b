package vlan_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/backend/vlan"
	"github.com/ustack/ustack/stack"
)

// frame is an Ethernet frame from 02:..:02 to 02:..:01 of EtherType
// 0x0800 with payload, tagged with tci when tagged.
func frame(tagged bool, tci uint16, payload string) []byte {
	b := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}
	if tagged {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, tci)
	}
	b = binary.BigEndian.AppendUint16(b, 0x0800)
	return append(b, payload...)
}

// send puts raw frames on end e; meta, when set, is applied to each.
func send(t *testing.T, e backend.Backend, frames [][]byte, meta func(*backend.Frame)) {
	t.Helper()
	fs := make([]*backend.Frame, len(frames))
	require.Equal(t, len(fs), e.Alloc(0, fs, 1514))
	for i, b := range frames {
		fs[i].SetLen(len(b))
		fs[i].CopyFrom(b, 0)
		if meta != nil {
			meta(fs[i])
		}
	}
	n, err := e.Send(0, fs)
	require.NoError(t, err)
	require.Equal(t, len(fs), n)
}

// recv takes what arrived at e, as bytes.
func recv(t *testing.T, e backend.Backend) [][]byte {
	t.Helper()
	fs := make([]*backend.Frame, 32)
	n, err := e.Recv(0, fs)
	require.NoError(t, err)
	var r [][]byte
	for _, f := range fs[:n] {
		r = append(r, f.AppendTo(nil))
	}
	backend.Release(fs[:n])
	return r
}

// The VLAN's frames arrive untagged, whatever priority they carry; untagged
// frames and other VLANs' are dropped and counted. What is sent goes out
// tagged.
func TestTagsAndFilters(t *testing.T) {
	v, ea, eb := onVLAN(t, pipe.Config{}, 100)

	send(t, eb, [][]byte{frame(true, 100, "ours"), frame(true, 200, "theirs"), frame(false, 0, "untagged"), frame(true, 5<<13|100, "ours, priority 5")}, nil)
	assert.Equal(t, [][]byte{frame(false, 0, "ours"), frame(false, 0, "ours, priority 5")}, recv(t, v))
	assert.Equal(t, vlan.Stats{Untagged: 1, OtherVLANs: 1}, v.Stats())
	kind, stats, err := v.DeviceStats()
	require.NoError(t, err)
	assert.Equal(t, "vlan", kind)
	assert.Equal(t, []backend.DeviceStat{{Name: "untagged_drops", Value: 1}, {Name: "other_drops", Value: 1}}, stats)

	send(t, v, [][]byte{frame(false, 0, "out")}, nil)
	assert.Equal(t, [][]byte{frame(true, 100, "out")}, recv(t, eb))
	assert.Zero(t, ea.Outstanding()+eb.Outstanding(), "buffers")
}

// A tag a NIC stripped into the frame's metadata counts as the tag.
func TestStrippedTags(t *testing.T) {
	v, _, eb := onVLAN(t, pipe.Config{}, 7)
	send(t, eb, [][]byte{frame(false, 0, "seven")}, func(f *backend.Frame) { f.HasVLAN, f.VLAN = true, 7 })
	send(t, eb, [][]byte{frame(false, 0, "eight")}, func(f *backend.Frame) { f.HasVLAN, f.VLAN = true, 8 })
	fs := make([]*backend.Frame, 4)
	n, err := v.Recv(0, fs)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.Equal(t, frame(false, 0, "seven"), fs[0].AppendTo(nil))
	assert.False(t, fs[0].HasVLAN, "the stack sees an untagged frame")
	backend.Release(fs[:n])
	assert.Equal(t, uint64(1), v.Stats().OtherVLANs)
}

// Frames the device does not take are given back as they were, so that
// the stack can send them again.
func TestUnsentFramesLoseTheTag(t *testing.T) {
	v, _, eb := onVLAN(t, pipe.Config{QueueDepth: 2}, 100)
	fs := make([]*backend.Frame, 4)
	require.Equal(t, 4, v.Alloc(0, fs, 100))
	for i, f := range fs {
		b := frame(false, 0, string(rune('a'+i)))
		f.SetLen(len(b))
		f.CopyFrom(b, 0)
		f.L2Len = 14
	}
	n, err := v.Send(0, fs)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the queue holds two")
	for i, f := range fs[n:] {
		assert.Equal(t, frame(false, 0, string(rune('a'+n+i))), f.AppendTo(nil))
		assert.Equal(t, uint16(14), f.L2Len)
	}
	backend.Release(fs[n:])
	assert.Equal(t, [][]byte{frame(true, 100, "a"), frame(true, 100, "b")}, recv(t, eb))
}

func TestRefusesBadIDs(t *testing.T) {
	ea, eb, err := pipe.New(pipe.Config{})
	require.NoError(t, err)
	defer ea.Close()
	defer eb.Close()
	for _, id := range []int{0, 4095, -1} {
		_, err := vlan.Wrap(ea, id)
		assert.ErrorContains(t, err, "want 1 to 4094", id)
	}
}

// Two stacks on VLAN 100 of a pipe move data over TCP, in each of the
// pipe's modes; the transmit offloads the VLAN turns off are done by the
// stack.
func TestStacksOnAVLAN(t *testing.T) {
	for _, mode := range []string{"plain", "mbuf", "virtio"} {
		t.Run(mode, func(t *testing.T) {
			ea, eb, err := pipe.New(pipe.Config{Mbuf: mode == "mbuf", Offloads: mode == "virtio", Poison: true})
			require.NoError(t, err)
			va, err := vlan.Wrap(ea, 100)
			require.NoError(t, err)
			vb, err := vlan.Wrap(eb, 100)
			require.NoError(t, err)
			assert.False(t, va.Caps().Offloads.TSO || va.Caps().Offloads.TxCsum)
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			a, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Backend: va, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}, Logger: quiet, Seed: 1})
			require.NoError(t, err)
			b, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Backend: vb, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}}, Logger: quiet, Seed: 2})
			require.NoError(t, err)
			ln, err := b.Listen("tcp", ":80")
			require.NoError(t, err)
			data := make([]byte, 4<<20)
			rand.NewChaCha8([32]byte{1}).Read(data)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write(data)
				c.Close()
			}()
			c, err := a.Dial("tcp", "10.0.0.2:80")
			require.NoError(t, err)
			require.NoError(t, c.SetDeadline(time.Now().Add(time.Minute)))
			var got bytes.Buffer
			_, err = io.Copy(&got, c)
			require.NoError(t, err)
			assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got.Bytes()))
			c.Close()
			ln.Close()
			require.NoError(t, a.Close())
			require.NoError(t, b.Close())
			assert.Zero(t, va.Stats().Untagged+va.Stats().OtherVLANs+vb.Stats().Untagged+vb.Stats().OtherVLANs)
			assert.Zero(t, ea.Outstanding()+eb.Outstanding(), "buffers")
		})
	}
}

// Whatever arrives, the wrapper neither panics nor hands the stack a
// tagged frame or one of another VLAN, and every buffer goes back.
func FuzzRecv(f *testing.F) {
	f.Add(frame(true, 100, "ours"), false, uint16(0))
	f.Add(frame(false, 0, "untagged"), true, uint16(100))
	f.Add([]byte{1, 2, 3}, false, uint16(0))
	f.Add(frame(true, 100, "")[:15], false, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, stripped bool, tci uint16) {
		if len(b) < 14 || len(b) > 1514 {
			return
		}
		v, ea, eb := onVLAN(t, pipe.Config{}, 100)
		send(t, eb, [][]byte{b}, func(f *backend.Frame) { f.HasVLAN, f.VLAN = stripped, tci })
		fs := make([]*backend.Frame, 4)
		n, err := v.Recv(0, fs)
		require.NoError(t, err)
		for _, g := range fs[:n] {
			d := g.AppendTo(nil)
			require.False(t, g.HasVLAN)
			if !stripped {
				require.Equal(t, append(append([]byte(nil), b[:12]...), b[16:]...), d, "the tag, and only it, is gone")
			}
		}
		backend.Release(fs[:n])
		require.Zero(t, ea.Outstanding()+eb.Outstanding())
	})
}

// onVLAN is a pipe configured by cfg whose first end is on VLAN id, all
// closed when the test ends.
func onVLAN(t *testing.T, cfg pipe.Config, id int) (*vlan.Backend, *pipe.End, *pipe.End) {
	t.Helper()
	ea, eb, err := pipe.New(cfg)
	require.NoError(t, err)
	v, err := vlan.Wrap(ea, id)
	require.NoError(t, err)
	t.Cleanup(func() { v.Close(); eb.Close() })
	return v, ea, eb
}
