package pcapsim

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/backend/capture"
	"github.com/ustack/ustack/stack"
)

// manyConns is a simulated network of one echo server and clients that
// open conns connections spread over spread of virtual time, each sending
// a message and reading it back.
type manyConns struct {
	n         *Network
	link      *Link
	opened    int
	completed int
	failed    []error
}

func newManyConns(t testing.TB, seed uint64, clients, conns int, spread time.Duration, faults string, out io.Writer) *manyConns {
	m := &manyConns{n: NewNetwork(NetworkConfig{Seed: seed})}
	var w *capture.Writer
	if out != nil {
		var err error
		w, err = capture.NewWriter(out)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, w.Close()) })
	}
	var err error
	m.link, err = m.n.NewLink(LinkConfig{Latency: time.Millisecond, Bandwidth: 100e6, QueueLimit: 256, Faults: faults, Capture: w})
	require.NoError(t, err)
	srv, err := m.n.AddHost(HostConfig{Name: "server", Interfaces: []HostInterface{{Link: m.link, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}})
	require.NoError(t, err)
	ln, err := srv.Stack.Listen("tcp", ":7")
	require.NoError(t, err)
	echo, err := Echo(ln)
	require.NoError(t, err)
	m.n.AddApp(echo)
	every := spread / time.Duration(conns)
	for i := range clients {
		h, err := m.n.AddHost(HostConfig{Name: fmt.Sprintf("client%d", i), Interfaces: []HostInterface{{Link: m.link, Addrs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(2 + i)}), 24)}}}})
		require.NoError(t, err)
		m.n.AddApp(m.client(h.Stack, seed, i, clients, conns/clients, every))
	}
	return m
}

// client opens its connections one after another at a fixed pace, the
// clients' turns interleaved.
func (m *manyConns) client(s *stack.Stack, seed uint64, idx, clients, conns int, every time.Duration) App {
	type conn struct {
		c    stack.NonblockingConn
		msg  []byte
		sent int
		got  []byte
	}
	var live []*conn
	opened := 0
	start := m.n.Now() + int64(idx)*int64(every)
	rng := rand.New(rand.NewPCG(seed, uint64(idx)))
	buf := make([]byte, 4096)
	return func(now int64) int64 {
		for opened < conns && now >= start+int64(opened)*int64(every)*int64(clients) {
			c, err := s.StartDial("tcp", "10.0.0.1:7")
			opened++
			m.opened++
			if err != nil {
				m.failed = append(m.failed, err)
				continue
			}
			msg := make([]byte, 200+rng.IntN(1800))
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			live = append(live, &conn{c: c, msg: msg})
		}
		keep := live[:0]
		for _, c := range live {
			if c.sent < len(c.msg) {
				n, err := c.c.TryWrite(c.msg[c.sent:])
				c.sent += n
				if err != nil {
					m.failed = append(m.failed, err)
					c.c.Close()
					continue
				}
			}
			n, err := c.c.TryRead(buf)
			c.got = append(c.got, buf[:n]...)
			if err != nil && !errors.Is(err, io.EOF) {
				m.failed = append(m.failed, err)
				c.c.Close()
				continue
			}
			if len(c.got) >= len(c.msg) {
				if !bytes.Equal(c.got, c.msg) {
					m.failed = append(m.failed, fmt.Errorf("connection %v: echo differs", c.c.LocalAddr()))
				} else {
					m.completed++
				}
				c.c.Close()
				continue
			}
			keep = append(keep, c)
		}
		clear(live[len(keep):])
		live = keep
		if opened < conns {
			return start + int64(opened)*int64(every)*int64(clients)
		}
		return 0
	}
}

func (m *manyConns) done() bool {
	return m.opened+len(m.failed) > 0 && m.completed+len(m.failed) == m.opened && m.opened == 1000
}

// One server, four clients, 1,000 connections over 10 s of virtual time
// on a lossy link, twice with one seed: every echo is intact and the
// traffic on the link is byte-identical.
func TestNetworkThousandConnectionsIdenticalPerSeed(t *testing.T) {
	run := func(seed uint64) ([32]byte, int) {
		var out bytes.Buffer
		m := newManyConns(t, seed, 4, 1000, 10*time.Second, "loss=0.01,dup=0.005,reorder=0.01", &out)
		wall := time.Now()
		ok, err := m.n.RunUntil(60*time.Second, m.done)
		require.NoError(t, err)
		require.Empty(t, m.failed)
		require.True(t, ok, "completed %d of %d", m.completed, m.opened)
		virtual := time.Duration(m.n.Now() - SimStart)
		require.GreaterOrEqual(t, virtual, 10*time.Second-10*time.Millisecond)
		// Let every connection finish its close.
		require.NoError(t, m.n.Run(5*time.Minute))
		t.Logf("seed %d: %d connections, %v of virtual time, %d steps, %v of wall time, link %+v", seed, m.completed, virtual, m.n.Steps(), time.Since(wall), m.link.Stats())
		require.NoError(t, m.n.Close())
		return sha256.Sum256(out.Bytes()), out.Len()
	}
	a, size := run(7)
	b, _ := run(7)
	require.Equal(t, a, b, "the same seed gives the same traffic")
	require.Greater(t, size, 1000*1000)
	c, _ := run(8)
	require.NotEqual(t, a, c, "another seed, other traffic")
}

// BenchmarkNetworkThousandConnections is the test's network: wall time
// for 1,000 connections over 10 s of virtual time on a lossy link.
func BenchmarkNetworkThousandConnections(b *testing.B) {
	for b.Loop() {
		m := newManyConns(b, 7, 4, 1000, 10*time.Second, "loss=0.01,dup=0.005,reorder=0.01", nil)
		if ok, err := m.n.RunUntil(60*time.Second, m.done); !ok || err != nil {
			b.Fatalf("completed %d of %d: %v", m.completed, m.opened, err)
		}
		if err := m.n.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
