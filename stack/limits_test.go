package stack

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/wire"
)

func TestLimitsConfigRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want string
	}{
		{"negative max connections", func(c *Config) { c.TCP.MaxConnections = -1 }, "tcp max connections -1"},
		{"negative syn backlog", func(c *Config) { c.TCP.SynBacklog = -5 }, "tcp syn backlog -5"},
		{"negative accept backlog", func(c *Config) { c.Limits.AcceptBacklog = -1 }, "limits accept backlog -1"},
		{"negative buffer memory", func(c *Config) { c.Limits.BufferMemory = -1 }, "limits buffer memory -1"},
		{"negative socket buffer", func(c *Config) { c.Limits.SocketBuffer = -1 }, "limits socket buffer -1"},
		{"negative arp cache", func(c *Config) { c.ARP.MaxEntries = -1 }, "arp max entries -1"},
		{"negative ipv6 cache", func(c *Config) { c.IPv6.MaxEntries = -2 }, "ipv6 max entries -2"},
		{"negative reassembly memory", func(c *Config) { c.Reassembly.MaxBytes = -1 }, "reassembly max bytes -1"},
		{"buffer above the socket limit", func(c *Config) { c.TCP.SendBuffer, c.TCP.RecvBuffer, c.Limits.SocketBuffer = 1<<16, 1<<20, 1<<16 }, "tcp recv buffer 1048576: above the socket buffer limit 65536"},
		{"memory below one connection", func(c *Config) { c.Limits.BufferMemory = 1 << 10 }, "limits buffer memory 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := newFeeder(t, nil, false, ourMAC)
			cfg := Config{Interfaces: []InterfaceConfig{{Backend: fd}}, Manual: true}
			tc.set(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// limitLogs counts the "limit reached" lines of one limit.
func limitLogs(l *logBuffer, name string) int {
	return strings.Count(l.String(), `msg="limit reached" limit="`+name+`"`)
}

func logTo(l *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// synAck opens a connection from port up to the accept queue without
// accepting it; it returns the peer.
func synAck(t *testing.T, h *harness, port layers.TCPPort) *tcpPeer {
	t.Helper()
	p := &tcpPeer{h: h, port: port, lport: 80, seq: peerISN}
	p.send("S", nil, mssOpt(1460))
	sa := p.one(t, "SYN-ACK")
	p.seq, p.ack = peerISN+1, sa.Seq+1
	p.send("A", nil)
	return p
}

// A connection beyond TCPConfig.MaxConnections is refused, counted every
// time and logged once per LogInterval with the count in between.
func TestLimitMaxConnectionsCountedAndLoggedRateLimited(t *testing.T) {
	var logs logBuffer
	h := newRuleHarness(t, false, Config{TCP: TCPConfig{MaxConnections: 2}, Logger: logTo(&logs)})
	ln := listen80(t, h, 16)
	synAck(t, h, 40000)
	synAck(t, h, 40001)
	for i := range 100 {
		p := &tcpPeer{h: h, port: layers.TCPPort(41000 + i), lport: 80, seq: peerISN}
		p.send("S", nil, mssOpt(1460))
		assert.Empty(t, p.segs(), "no SYN-ACK beyond the limit")
	}
	assert.Equal(t, uint64(100), h.s.Counters().TCP.ConnLimitDrops)
	assert.Equal(t, 1, limitLogs(&logs, "tcp max connections"))
	h.at(10 * time.Second)
	p := &tcpPeer{h: h, port: 42000, lport: 80, seq: peerISN}
	p.send("S", nil, mssOpt(1460))
	assert.Equal(t, 2, limitLogs(&logs, "tcp max connections"))
	assert.Contains(t, logs.String(), "since_last_log=99")
	_, err := h.s.queues[0].connect(newTCPSock(h.s, h.s.queues[0], "tcp", nil), peerAddr80, peerAddr80, nextHop{})
	assert.ErrorIs(t, err, syscall.EAGAIN, "dialling is refused too")
	require.NotNil(t, tryAccept(ln))
}

// LimitsConfig.BufferMemory counts the rings connections have made, a
// ring once it holds more than its smallest store, so that idle
// connections, and those that carried only small requests and answers,
// hold none: a connection whose buffers would not fit is reset once its
// handshake completes, a dial fails with ENOBUFS, and closing a
// connection gives its memory back.
func TestLimitBufferMemoryResetsNewConnections(t *testing.T) {
	var logs logBuffer
	cfg := Config{TCP: TCPConfig{SendBuffer: 64 << 10, RecvBuffer: 64 << 10}, Limits: LimitsConfig{BufferMemory: 256 << 10}, Logger: logTo(&logs)}
	h := newRuleHarness(t, false, cfg)
	ln := listen80(t, h, 16)
	p1, _, s1 := handshake(t, h, ln, 40000, mssOpt(1460))
	p2, _, s2 := handshake(t, h, ln, 40001, mssOpt(1460))
	assert.Zero(t, h.s.BufferMemory(), "idle connections hold no buffers")
	for _, c := range []struct {
		p *tcpPeer
		s *tcpSock
	}{{p1, s1}, {p2, s2}} {
		c.p.sendData("PA", []byte("request"))
		h.poll()
		writeNow(t, h, c.s, []byte("answer"))
		h.out()
		readNow(t, c.s, 100)
	}
	assert.Zero(t, h.s.BufferMemory(), "a small request and answer count nothing")
	for _, c := range []struct {
		p *tcpPeer
		s *tcpSock
	}{{p1, s1}, {p2, s2}} {
		c.p.sendData("PA", bytesOf(600, 'q'))
		h.poll()
		writeNow(t, h, c.s, bytesOf(600, 'a'))
		h.out()
	}
	assert.Equal(t, 256<<10, h.s.BufferMemory(), "both rings of both connections")

	p := &tcpPeer{h: h, port: 40002, lport: 80, seq: peerISN}
	p.send("S", nil, mssOpt(1460))
	sa := p.one(t, "SYN-ACK: a half-open connection has no buffers yet")
	p.seq, p.ack = peerISN+1, sa.Seq+1
	p.send("A", nil)
	assert.Equal(t, "R", flagsOf(p.one(t, "RST")))
	assert.Nil(t, tryAccept(ln))
	assert.Equal(t, uint64(1), h.s.Counters().TCP.AbortOnMemory)
	assert.Equal(t, 1, limitLogs(&logs, "limits buffer memory"))

	_, err := h.s.queues[0].connect(newTCPSock(h.s, h.s.queues[0], "tcp", nil), netipAP("10.0.0.1:0"), peerAddr80, nextHop{ifc: h.s.ifaces[0], src: netipA("10.0.0.1")})
	assert.ErrorIs(t, err, syscall.ENOBUFS)
	assert.Equal(t, uint64(2), h.s.Counters().TCP.AbortOnMemory)

	require.NoError(t, s1.SetLinger(0))
	require.NoError(t, s1.Close())
	h.poll()
	h.out()
	assert.Equal(t, 128<<10, h.s.BufferMemory())
	_, _, s3 := handshake(t, h, ln, 40003, mssOpt(1460))
	assert.NotNil(t, s3, "the memory was given back")
}

// A connection opened while there was room, whose first data finds none,
// is reset: data from the peer, or a Write, which fails with ENOBUFS.
func TestLimitBufferMemoryResetsAConnectionWhoseRingFindsNoRoom(t *testing.T) {
	cfg := Config{TCP: TCPConfig{SendBuffer: 64 << 10, RecvBuffer: 64 << 10}, Limits: LimitsConfig{BufferMemory: 128 << 10}}
	h := newRuleHarness(t, false, cfg)
	ln := listen80(t, h, 16)
	p1, _, s1 := handshake(t, h, ln, 40000, mssOpt(1460))
	p2, _, _ := handshake(t, h, ln, 40001, mssOpt(1460))
	_, _, s3 := handshake(t, h, ln, 40002, mssOpt(1460))
	assert.Zero(t, h.s.BufferMemory(), "three idle connections fit where one's rings do")
	p1.sendData("PA", bytesOf(600, 'q'))
	h.poll()
	writeNow(t, h, s1, bytesOf(600, 'a'))
	h.out()
	assert.Equal(t, 128<<10, h.s.BufferMemory())

	p2.sendData("PA", []byte("request"))
	h.poll()
	p2.segs()
	assert.Equal(t, 128<<10, h.s.BufferMemory(), "a small request fits its smallest store, uncounted")
	p2.sendData("PA", bytesOf(600, 'q'))
	h.poll()
	assert.Equal(t, "R", flagsOf(p2.one(t, "RST: no room for its receive ring")))
	_, err := s3.Write(bytesOf(600, 'h'))
	assert.ErrorIs(t, err, syscall.ENOBUFS)
	h.poll()
	assert.Equal(t, "none", stateOf(h, 40002), "reset")
	assert.Equal(t, uint64(2), h.s.Counters().TCP.AbortOnMemory)
	assert.Equal(t, 128<<10, h.s.BufferMemory(), "the failed rings charge nothing")
}

// LimitsConfig.SocketBuffer caps SetReadBuffer and SetWriteBuffer, and a
// ring is charged at its size when made, and as it shrinks.
func TestLimitSocketBufferCapsSetBuffer(t *testing.T) {
	cfg := Config{TCP: TCPConfig{SendBuffer: 64 << 10, RecvBuffer: 64 << 10}, Limits: LimitsConfig{SocketBuffer: 1 << 20}}
	h := newRuleHarness(t, false, cfg)
	ln := listen80(t, h, 16)
	_, _, s := handshake(t, h, ln, 40000, mssOpt(1460))
	require.NoError(t, s.SetReadBuffer(1<<30))
	require.NoError(t, s.SetWriteBuffer(1<<30))
	h.poll()
	assert.Equal(t, 1<<20, s.c.rcvSize)
	assert.Equal(t, 1<<20, s.c.sndSize)
	assert.Zero(t, h.s.BufferMemory(), "no ring made yet")
	writeNow(t, h, s, bytesOf(1000, 'x'))
	assert.Equal(t, 1<<20, s.c.sndBuf.Load().Cap(), "the ring is made at the size set")
	assert.Equal(t, 1<<20, h.s.BufferMemory())
	require.NoError(t, s.SetWriteBuffer(64<<10))
	h.poll()
	assert.Equal(t, 64<<10, h.s.BufferMemory(), "shrinking gives memory back")
}

// LimitsConfig.AcceptBacklog caps the backlog a listener asks for: SYNs
// beyond a full accept queue are dropped and counted.
func TestLimitAcceptBacklogCapsListen(t *testing.T) {
	var logs logBuffer
	h := newRuleHarness(t, false, Config{Limits: LimitsConfig{AcceptBacklog: 2}, Logger: logTo(&logs)})
	ln := listen80(t, h, 1000)
	assert.Equal(t, 2, ln.backlog)
	synAck(t, h, 40000)
	synAck(t, h, 40001)
	p := &tcpPeer{h: h, port: 40002, lport: 80, seq: peerISN}
	p.send("S", nil, mssOpt(1460))
	assert.Empty(t, p.segs())
	assert.Equal(t, uint64(1), h.s.Counters().TCP.ListenOverflows)
	assert.Equal(t, 1, limitLogs(&logs, "accept backlog"))
}

// ARPConfig.MaxEntries and IPv6Config.MaxEntries: packets from spoofed
// on-link addresses start resolutions that will fail; at most half the
// cache resolves at once, the rest are dropped and counted, and the
// neighbour in use keeps its entry, so its connection goes on.
func TestLimitNeighbourCacheKeepsNeighboursInUse(t *testing.T) {
	var logs logBuffer
	h := newHarness6(t, false, Config{ARP: ARPConfig{MaxEntries: 4, Reachable: time.Hour}, IPv6: IPv6Config{MaxEntries: 4, DADTransmits: -1, RouterSolicitations: -1}, Logger: logTo(&logs)})
	h.in(eth(peerMAC, ourMAC, layers.EthernetTypeARP), arpPkt(layers.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	h.out()
	p, _, s := estab(t, h)
	for i := range 50 {
		h.in(eth(peerMAC, ourMAC, layers.EthernetTypeIPv4), ip4(net.IP{10, 0, 0, byte(20 + i)}, ourIP, layers.IPProtocolICMPv4), echoReq(1, 1))
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(100 + i)})
		h.inRaw(pkt6(src, our6, wire.IPProtoICMPv6, echoMsg(src, our6, 1, nil)))
	}
	q := h.s.queues[0]
	resolving := 0
	for _, n := range q.arp.order {
		if n.state == neighIncomplete {
			resolving++
		}
	}
	assert.Equal(t, 2, resolving)
	c := h.s.Counters()
	assert.Equal(t, uint64(48), c.ARP.CacheFull)
	assert.Equal(t, uint64(48), c.NDP.CacheFull)
	assert.LessOrEqual(t, len(q.nd.entries), 4)
	assert.Equal(t, 1, limitLogs(&logs, "neighbour cache max entries"), "logged once")
	h.out()
	writeNow(t, h, s, []byte("reply"))
	assert.Len(t, p.segs(), 1, "the peer's entry is still there: the reply goes at once")
	stillHealthy(t, p, s)
}

func netipAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func netipA(s string) netip.Addr      { return netip.MustParseAddr(s) }
