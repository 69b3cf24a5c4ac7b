package stack

import (
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Closing rules (RFC 9293 §3.6, §3.10.4) and keepalive (RFC 1122
// §4.2.3.6).

// RFC 9293 §3.6 case 1: CLOSE sends FIN (FIN-WAIT-1); its ACK leads to
// FIN-WAIT-2, the peer's FIN to TIME-WAIT, which lasts exactly 2·MSL (60 s)
// before the connection is gone.
func TestTCPRuleActiveCloseStates(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		iss := sa.Seq
		require.NoError(t, s.Close())
		h.poll()
		assertSeg(t, p.one(t, "FIN"), "FA", iss+1, p.seq, "FIN")
		assert.Equal(t, "FIN-WAIT-1", stateOf(h, 40000))
		h.at(10 * time.Millisecond)
		p.ack = iss + 2
		p.send("A", nil)
		assert.Empty(t, p.segs())
		assert.Equal(t, "FIN-WAIT-2", stateOf(h, 40000))
		h.at(20 * time.Millisecond)
		p.send("FA", nil)
		p.seq++
		assertSeg(t, p.one(t, "ACK of FIN"), "A", iss+2, p.seq, "ACK of the peer's FIN")
		assert.Equal(t, "TIME-WAIT", stateOf(h, 40000))
		assert.Zero(t, h.s.queues[0].tcp.orphans, "TIME-WAIT is not an orphan: MaxOrphans does not count it")
		h.at(20*time.Millisecond + 60*time.Second - 1)
		assert.Equal(t, "TIME-WAIT", stateOf(h, 40000))
		h.at(20*time.Millisecond + 60*time.Second)
		assert.Equal(t, "none", stateOf(h, 40000), "2·MSL after entering TIME-WAIT")
		assert.Zero(t, h.s.queues[0].tcp.orphans)
		assert.Empty(t, p.segs())
	})
}

// Closing the stack resets the connections that are still open, but not
// one in TIME-WAIT: its peer has closed too and answers a reset with
// nothing but work, so it goes quietly, as on Linux.
func TestTCPRuleStackCloseLeavesTimeWaitQuietly(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		timeWait(t, h, ln, mssOpt(1460))
		handshake(t, h, ln, 40001, mssOpt(1460))
		before := h.s.Counters().TCP.OutRsts
		require.NoError(t, h.s.Close())
		assert.Equal(t, before+1, h.s.Counters().TCP.OutRsts, "a reset for the open connection only")
	})
}

// RFC 9293 §3.6 case 2: the peer's FIN is acknowledged at once and moves
// the connection to CLOSE-WAIT, where Read returns io.EOF after the data
// and Write still works; CLOSE then sends FIN (LAST-ACK); after an RTO the
// data goes again, then the FIN; the ACK of the FIN ends the connection.
func TestTCPRulePassiveCloseStates(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		iss := sa.Seq
		p.send("FPA", []byte("bye"))
		p.seq += 4
		assertSeg(t, p.one(t, "ACK of FIN"), "A", iss+1, p.seq, "the FIN is acknowledged at once")
		assert.Equal(t, "CLOSE-WAIT", stateOf(h, 40000))
		b, err := readNow(t, s, 10)
		require.NoError(t, err)
		assert.Equal(t, "bye", string(b))
		_, err = readNow(t, s, 10)
		assert.Equal(t, io.EOF, err)
		writeNow(t, h, s, []byte("last words"))
		assertSeg(t, p.one(t, "data"), "PA", iss+1, p.seq, "writing in CLOSE-WAIT")
		require.NoError(t, s.Close())
		h.poll()
		fin := iss + 1 + 10
		assertSeg(t, p.one(t, "FIN"), "FA", fin, p.seq, "FIN")
		assert.Equal(t, "LAST-ACK", stateOf(h, 40000))
		h.at(time.Second)
		r := p.one(t, "RTO")
		assertSeg(t, r, "A", iss+1, p.seq, "the first segment again")
		assert.Equal(t, []byte("last words"), r.Payload)
		h.at(1100 * time.Millisecond)
		p.ack = fin
		p.send("A", nil)
		assertSeg(t, p.one(t, "FIN again"), "FA", fin, p.seq, "then the FIN")
		h.at(1200 * time.Millisecond)
		p.ack = fin + 1
		p.send("A", nil)
		assert.Empty(t, p.segs())
		assert.Equal(t, "none", stateOf(h, 40000), "LAST-ACK -> CLOSED")
	})
}

// RFC 9293 §3.6 case 3: both FINs cross. FIN-WAIT-1 takes the peer's FIN
// to CLOSING and acknowledges it; the ACK of our FIN leads to TIME-WAIT.
func TestTCPRuleSimultaneousClose(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		iss := sa.Seq
		require.NoError(t, s.Close())
		h.poll()
		assertSeg(t, p.one(t, "FIN"), "FA", iss+1, p.seq, "our FIN")
		p.send("FA", nil) // acknowledges not our FIN
		p.seq++
		assertSeg(t, p.one(t, "ACK"), "A", iss+2, p.seq, "ACK of the peer's FIN")
		assert.Equal(t, "CLOSING", stateOf(h, 40000))
		h.at(10 * time.Millisecond)
		p.ack = iss + 2
		p.send("A", nil)
		assert.Empty(t, p.segs())
		assert.Equal(t, "TIME-WAIT", stateOf(h, 40000))
		h.at(10*time.Millisecond + 60*time.Second)
		assert.Equal(t, "none", stateOf(h, 40000))
	})
}

// RFC 9293 §3.6 and RFC 1122 §4.2.2.13: CloseWrite sends our FIN and keeps
// receiving: the peer's data is acknowledged and read; Write fails with
// EPIPE; FIN-WAIT-2 has no timeout while the application holds the socket;
// the peer's FIN ends in TIME-WAIT and io.EOF.
func TestTCPRuleHalfClose(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{FinTimeout: 5 * time.Second}})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		iss := sa.Seq
		require.NoError(t, s.CloseWrite())
		h.poll()
		assertSeg(t, p.one(t, "FIN"), "FA", iss+1, p.seq, "FIN")
		_, err := s.Write([]byte("x"))
		assertErrno(t, err, syscall.EPIPE)
		p.ack = iss + 2
		p.send("A", nil)
		assert.Equal(t, "FIN-WAIT-2", stateOf(h, 40000))
		h.at(10 * time.Second)
		assert.Equal(t, "FIN-WAIT-2", stateOf(h, 40000), "no FinTimeout for a socket still open")
		p.sendData("PA", []byte("still talking"))
		p.sendData("PA", []byte(", and more"))
		assertSeg(t, p.one(t, "ACK"), "A", iss+2, p.seq, "data acknowledged")
		b, err := readNow(t, s, 100)
		require.NoError(t, err)
		assert.Equal(t, "still talking, and more", string(b))
		p.send("FA", nil)
		p.seq++
		assertSeg(t, p.one(t, "ACK of FIN"), "A", iss+2, p.seq, "FIN")
		assert.Equal(t, "TIME-WAIT", stateOf(h, 40000))
		_, err = readNow(t, s, 10)
		assert.Equal(t, io.EOF, err)
	})
}

// RFC 9293 §3.10.4 and RFC 2525 §2.17: closing with unread data aborts:
// <SEQ=SND.NXT><CTL=RST>, counted in AbortOnClose; SetLinger(0) does the
// same with nothing unread.
func TestTCPRuleCloseSendsRST(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("unread data", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
			p.sendData("PA", []byte("unread"))
			require.NoError(t, s.Close())
			h.poll()
			assertSeg(t, p.one(t, "RST"), "R", sa.Seq+1, 0, "abort")
			assert.Equal(t, "none", stateOf(h, 40000))
			assert.Equal(t, uint64(1), h.s.Counters().TCP.AbortOnClose)
		})
		t.Run("linger 0", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
			writeNow(t, h, s, []byte("sent"))
			p.one(t, "data")
			require.NoError(t, s.SetLinger(0))
			require.NoError(t, s.Close())
			h.poll()
			assertSeg(t, p.one(t, "RST"), "R", sa.Seq+5, 0, "SEQ=SND.NXT")
			assert.Equal(t, "none", stateOf(h, 40000))
			h.at(time.Second)
			assert.Empty(t, p.segs(), "nothing resent")
		})
	})
}

// Linux's tcp_fin_timeout: a connection the application closed (an
// orphan) stays in FIN-WAIT-2 for FinTimeout at most; then it is gone and
// the peer's next segment gets a RST.
func TestTCPRuleFinWait2TimeoutForOrphan(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{FinTimeout: 5 * time.Second}})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		require.NoError(t, s.Close())
		h.poll()
		p.one(t, "FIN")
		h.at(10 * time.Millisecond)
		p.ack = sa.Seq + 2
		p.send("A", nil)
		assert.Equal(t, "FIN-WAIT-2", stateOf(h, 40000))
		h.at(10*time.Millisecond + 5*time.Second - 1)
		assert.Equal(t, "FIN-WAIT-2", stateOf(h, 40000))
		h.at(10*time.Millisecond + 5*time.Second)
		assert.Equal(t, "none", stateOf(h, 40000))
		assert.Empty(t, p.segs(), "silently")
		p.send("PA", []byte("late"))
		assertSeg(t, p.one(t, "RST"), "R", sa.Seq+2, 0, "no connection: <SEQ=SEG.ACK><CTL=RST>")
	})
}

// MaxOrphans bounds connections closed by the application and still
// finishing; beyond it a close resets the connection (OrphanDrops).
func TestTCPRuleOrphanLimit(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{MaxOrphans: 1}})
		ln := listen80(t, h, 16)
		p1, sa1, s1 := handshake(t, h, ln, 40000, mssOpt(1460))
		p2, sa2, s2 := handshake(t, h, ln, 40001, mssOpt(1460))
		require.NoError(t, s1.Close())
		h.poll()
		assertSeg(t, p1.one(t, "FIN"), "FA", sa1.Seq+1, p1.seq, "first orphan closes gracefully")
		require.NoError(t, s2.Close())
		h.poll()
		assertSeg(t, p2.one(t, "RST"), "R", sa2.Seq+1, 0, "second orphan is reset")
		assert.Equal(t, uint64(1), h.s.Counters().TCP.OrphanDrops)
		assert.Equal(t, "FIN-WAIT-1", stateOf(h, 40000))
		assert.Equal(t, "none", stateOf(h, 40001))
	})
}

// timeWait brings a connection from the peer's port 40000 to ln to
// TIME-WAIT by an active close at time 0 and returns the peer (its seq
// after the FIN).
func timeWait(t *testing.T, h *harness, ln *tcpListener, opts ...layers.TCPOption) (*tcpPeer, *layers.TCP) {
	p, sa, s := handshake(t, h, ln, 40000, opts...)
	require.NoError(t, s.Close())
	peerClosesToo(t, h, p, sa)
	require.Equal(t, "TIME-WAIT", stateOf(h, 40000))
	return p, sa
}

// peerClosesToo takes the FIN of an application's Close or CloseWrite and
// answers it with the peer's FIN (with a timestamp when the handshake, sa,
// had them): the connection goes to TIME-WAIT.
func peerClosesToo(t *testing.T, h *harness, p *tcpPeer, sa *layers.TCP) {
	t.Helper()
	h.poll()
	p.one(t, "FIN")
	p.ack = sa.Seq + 2
	var ts []layers.TCPOption
	if _, _, ok := tsOf(sa); ok {
		ts = append(ts, tsOpt(peerTS+10, mustTS(t, sa)))
	}
	p.send("FA", nil, ts...)
	p.seq++
	p.one(t, "ACK of FIN")
}

// RFC 9293 §3.10.7.4 (TIME-WAIT): a retransmission of the peer's FIN is
// acknowledged and restarts the 2·MSL timeout.
func TestTCPRuleTimeWaitRetransmittedFIN(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, sa := timeWait(t, h, listen80(t, h, 16), mssOpt(1460))
		h.at(30 * time.Second)
		p.seq--
		p.send("FA", nil)
		p.seq++
		assertSeg(t, p.one(t, "ACK"), "A", sa.Seq+2, p.seq, "the FIN again: acknowledged")
		h.at(60 * time.Second)
		assert.Equal(t, "TIME-WAIT", stateOf(h, 40000), "restarted: not over at 60 s")
		h.at(90*time.Second - 1)
		assert.Equal(t, "TIME-WAIT", stateOf(h, 40000))
		h.at(90 * time.Second)
		assert.Equal(t, "none", stateOf(h, 40000), "2·MSL after the retransmitted FIN")
	})
}

// RFC 1122 §4.2.2.13 and RFC 6191: a new SYN may take over a connection in
// TIME-WAIT when it cannot be from the old incarnation: without
// timestamps its sequence number is above the old RCV.NXT, with
// timestamps its TSval is newer, or the same with a sequence number above
// RCV.NXT. It gets a SYN-ACK (TimeWaitReuses);
// other SYNs get an ACK.
func TestTCPRuleTimeWaitReuse(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("sequence number", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			p, sa := timeWait(t, h, listen80(t, h, 16), mssOpt(1460))
			h.at(time.Second)
			rcvNxt := p.seq
			p.seq = rcvNxt - 100
			p.send("S", nil, mssOpt(1460))
			assertSeg(t, p.one(t, "ACK"), "A", sa.Seq+2, rcvNxt, "an old SYN is answered with an ACK")
			assert.Equal(t, "TIME-WAIT", stateOf(h, 40000))
			p.seq = rcvNxt + 100000
			p.send("S", nil, mssOpt(1460))
			sa2 := p.one(t, "SYN-ACK")
			assertSeg(t, sa2, "SA", sa2.Seq, rcvNxt+100001, "a new incarnation")
			assert.Equal(t, uint64(1), h.s.Counters().TCP.TimeWaitReuses)
			assert.Equal(t, "SYN-RECEIVED", stateOf(h, 40000))
		})
		t.Run("timestamps", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			p, sa := timeWait(t, h, listen80(t, h, 16), mssOpt(1460), tsOpt(peerTS, 0))
			h.at(time.Second)
			rcvNxt := p.seq
			p.seq = rcvNxt + 100000
			p.send("S", nil, mssOpt(1460), tsOpt(peerTS+5, 0))
			a := p.one(t, "ACK")
			assertSeg(t, a, "A", sa.Seq+2, rcvNxt, "an older TSval: PAWS, whatever the sequence number")
			p.seq = rcvNxt - 100000
			p.send("S", nil, mssOpt(1460), tsOpt(peerTS+1000, 0))
			sa2 := p.one(t, "SYN-ACK")
			assertSeg(t, sa2, "SA", sa2.Seq, rcvNxt-100000+1, "a newer TSval, whatever the sequence number")
			_, ecr, _ := tsOf(sa2)
			assert.Equal(t, uint32(peerTS+1000), ecr)
			assert.Equal(t, uint64(1), h.s.Counters().TCP.TimeWaitReuses)
		})
		t.Run("the same timestamp", func(t *testing.T) {
			// A client reconnecting within its clock's tick (Linux's
			// is a millisecond) sends the TSval the old incarnation
			// ended with; its sequence number decides.
			h := newRuleHarness(t, mbuf, Config{})
			p, sa := timeWait(t, h, listen80(t, h, 16), mssOpt(1460), tsOpt(peerTS, 0))
			rcvNxt := p.seq
			p.seq = rcvNxt - 100
			p.send("S", nil, mssOpt(1460), tsOpt(peerTS+10, 0))
			assertSeg(t, p.one(t, "ACK"), "A", sa.Seq+2, rcvNxt, "the same TSval and an old sequence number")
			assert.Equal(t, "TIME-WAIT", stateOf(h, 40000))
			p.seq = rcvNxt + 100
			p.send("S", nil, mssOpt(1460), tsOpt(peerTS+10, 0))
			sa2 := p.one(t, "SYN-ACK")
			assertSeg(t, sa2, "SA", sa2.Seq, rcvNxt+101, "the same TSval and a newer sequence number")
			assert.Equal(t, uint64(1), h.s.Counters().TCP.TimeWaitReuses)
			assert.Equal(t, "SYN-RECEIVED", stateOf(h, 40000))
		})
	})
}

// RFC 1122 §4.2.3.6: with keepalive on, an idle connection is probed with
// <SEQ=SND.UNA-1> and no data after the idle time, then every interval;
// KeepAliveCount (9) probes unanswered fail it with ETIMEDOUT.
// SetKeepAlivePeriod after SetKeepAlive (Go's net.Dialer order) applies at
// once.
func TestTCPRuleKeepAliveTimesOut(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		require.NoError(t, s.SetKeepAlive(true))
		require.NoError(t, s.SetKeepAlivePeriod(10*time.Second))
		for i := 1; i <= 9; i++ {
			at := time.Duration(i) * 10 * time.Second
			h.at(at - 1)
			assert.Empty(t, p.segs())
			h.at(at)
			pr := p.one(t, "keepalive probe")
			assertSeg(t, pr, "A", sa.Seq, p.seq, "SEQ=SND.UNA-1")
			assert.Empty(t, pr.Payload)
		}
		h.at(100*time.Second - 1)
		assert.Zero(t, s.c.shErr.Load())
		h.at(100 * time.Second)
		assert.Empty(t, p.segs())
		_, err := readNow(t, s, 10)
		assertErrno(t, err, syscall.ETIMEDOUT)
		c := h.s.Counters().TCP
		assert.Equal(t, uint64(9), c.KeepAliveProbes)
		assert.Equal(t, uint64(1), c.KeepAliveTimeouts)
	})
}

// RFC 1122 §4.2.3.6: probes the peer answers keep the connection however
// many there are; traffic defers the next probe by the idle time.
func TestTCPRuleKeepAliveAnswered(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		require.NoError(t, s.SetKeepAlivePeriod(10*time.Second))
		require.NoError(t, s.SetKeepAlive(true))
		for i := 1; i <= 12; i++ {
			h.at(time.Duration(i) * 10 * time.Second)
			assertSeg(t, p.one(t, "probe"), "A", sa.Seq, p.seq, "probe")
			p.send("A", nil)
			assert.Empty(t, p.segs())
		}
		assert.Zero(t, s.c.shErr.Load(), "answered probes keep the connection")
		h.at(125 * time.Second)
		p.sendData("PA", []byte("x"))
		h.at(125*time.Second + 40*time.Millisecond)
		p.one(t, "delayed ACK")
		h.at(130 * time.Second)
		assert.Empty(t, p.segs(), "not idle for 10 s")
		h.at(135 * time.Second)
		assertSeg(t, p.one(t, "probe"), "A", sa.Seq, p.seq, "10 s after the last segment")
	})
}

// Keepalive options set on a half-closed socket in TIME-WAIT do not move
// the 2·MSL timer, which shares the keepalive timer.
func TestTCPRuleKeepAliveLeavesTimeWait(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		require.NoError(t, s.CloseWrite())
		peerClosesToo(t, h, p, sa)
		require.Equal(t, "TIME-WAIT", stateOf(h, 40000))
		require.NoError(t, s.SetKeepAlive(true))
		require.NoError(t, s.SetKeepAlivePeriod(time.Second))
		h.at(time.Second)
		assert.Empty(t, p.segs(), "no probe in TIME-WAIT")
		assert.Equal(t, "TIME-WAIT", stateOf(h, 40000))
		h.at(60 * time.Second)
		assert.Equal(t, "none", stateOf(h, 40000), "2·MSL as ever")
	})
}

// A client that reuses its port while the server, which closed first,
// holds the old connection in TIME-WAIT gets the new connection at once
// (RFC 6191): its timestamps go on from the old connection's, because the
// offset is the tuple's, not drawn per connection. A random offset is
// older half the time, and then the SYN is answered with an ACK, reset
// and retransmitted a second later.
func TestTCPTimeWaitReuseBetweenStacks(t *testing.T) {
	n := newSimNet(t, 1, "", false, time.Millisecond)
	defer n.close()
	lnI, err := n.b.Listen("tcp", ":80")
	require.NoError(t, err)
	ln := lnI.(*tcpListener)
	defer ln.Close()
	until := func(what string, cond func() bool) {
		t.Helper()
		// A millisecond at a time: step would jump to the next timer,
		// which may be the end of TIME-WAIT.
		for range 1000 {
			if cond() {
				return
			}
			now := n.clock.Now() + int64(time.Millisecond)
			n.clock.Set(now)
			n.a.Poll(now)
			n.b.Poll(now)
		}
		t.Fatalf("never: %s", what)
	}
	const rounds = 8
	for i := range rounds {
		cl := dialManualFrom(t, n.a, 40000, netip.AddrPortFrom(addrB.Addr(), 80))
		var srv *tcpSock
		until("accepted", func() bool { srv = tryAccept(ln); return srv != nil })
		require.NoError(t, srv.Close())
		until("the server's FIN", cl.c.shRcvFin.Load)
		require.NoError(t, cl.Close())
		until("the client closed", func() bool { return tcpState(cl.c.shState.Load()) == stateClosed })
		require.Equal(t, "TIME-WAIT", stateOf(&harness{s: n.b}, 40000), "round %d", i)
		n.clock.Set(n.clock.Now() + int64(time.Second))
	}
	assert.Equal(t, uint64(rounds-1), n.b.Counters().TCP.TimeWaitReuses)
	assert.Zero(t, n.b.Counters().TCP.PAWSDrops)
	assert.Zero(t, n.a.Counters().TCP.RetransSegs, "no SYN waited for its retransmission")
}
