package stack

import (
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend/pipe"
)

// ConnectionTable counts every connection by state and lists the first
// ones of Connections, those in TIME-WAIT after all others, whatever the
// bound: it is checked against Connections over random tables.
func TestConnectionTableCountsAndLists(t *testing.T) {
	h := newRuleHarness(t, false, Config{})
	ln := listen80(t, h, 1024)
	rng := rand.New(rand.NewPCG(7, 7))
	tw := 0
	for _, port := range rng.Perm(60) {
		p, sa, s := handshake(t, h, ln, layers.TCPPort(40000+port*7), mssOpt(1460))
		if port%3 != 0 {
			continue
		}
		require.NoError(t, s.Close())
		peerClosesToo(t, h, p, sa)
		tw++
	}
	all := h.s.Connections()
	require.Len(t, all, 60)
	require.True(t, slices.IsSortedFunc(all, func(a, b TCPInfo) int { return a.Remote.Compare(b.Remote) }), "Connections is by address")
	want := slices.Clone(all)
	slices.SortStableFunc(want, func(a, b TCPInfo) int {
		return compareConns(a.State == "TIME-WAIT", b.State == "TIME-WAIT", a.Local, b.Local, a.Remote, b.Remote)
	})
	for _, n := range []int{-1, 0, 1, 2, 7, 39, 40, 41, 60, 100} {
		tab := h.s.ConnectionTable(n)
		assert.Equal(t, 60, tab.Total, "list %d", n)
		assert.Len(t, tab.States, 9, "every state from SYN-SENT to TIME-WAIT")
		assert.Equal(t, 60-tw, tab.States["ESTABLISHED"])
		assert.Equal(t, tw, tab.States["TIME-WAIT"])
		assert.Zero(t, tab.States["SYN-SENT"])
		if n <= 0 {
			assert.Empty(t, tab.Listed)
			continue
		}
		assert.Equal(t, want[:min(n, 60)], tab.Listed, "list %d", n)
	}
}

// The walk lets the loop work between its chunks, so connections come and
// go under it: each answer stays consistent (its counts add up, its list
// is within the bound and holds no closed connection) while thousands of
// connections open and close, and the race detector watches. The loops
// run on locked threads, as DPDK's do.
func TestConnectionTableWhileConnectionsChurn(t *testing.T) {
	defer func(n int) { walkChunk = n }(walkChunk)
	walkChunk = 16
	// Loops on locked threads, as on DPDK (LoopStart locks them).
	p := newPairWith(t, pipe.Config{}, nil, Config{LoopStart: func(int) error { return nil }})
	defer p.close(t)
	ln, err := p.b.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := p.a.Dial("tcp", "10.0.0.2:80")
			if err == nil {
				io.Copy(io.Discard, c)
				c.Close()
			}
		}
	}()
	walks := 0
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) || walks < 20; walks++ {
		for _, s := range []*Stack{p.a, p.b} {
			tab := s.ConnectionTable(3)
			sum := 0
			for _, n := range tab.States {
				sum += n
			}
			require.Equal(t, tab.Total, sum)
			require.LessOrEqual(t, len(tab.Listed), 3)
			for _, in := range tab.Listed {
				require.NotEqual(t, "CLOSED", in.State)
			}
			for _, in := range s.Connections() {
				require.NotEqual(t, "CLOSED", in.State)
			}
		}
	}
	close(stop)
	<-done
	assert.Greater(t, p.b.ConnectionTable(0).Total, 10*walkChunk, "walks of many chunks")
}
