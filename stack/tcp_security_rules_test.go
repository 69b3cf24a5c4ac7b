package stack

import (
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 5961 (blind in-window attacks) and RFC 7323 (timestamps, PAWS).

// RFC 5961 §3.2: a RST exactly at RCV.NXT resets the connection; the
// application reads what had arrived, then sees ECONNRESET on Read and
// Write.
func TestTCPRuleRSTAtRcvNxtResets(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, _, s := handshake(t, h, ln, 40000, mssOpt(1460))
		p.sendData("A", []byte("abc"))
		p.send("R", nil)
		assert.Empty(t, p.segs(), "never a reply to a reset")
		b, err := readNow(t, s, 10)
		require.NoError(t, err)
		assert.Equal(t, "abc", string(b), "what arrived before the reset is still read (as Linux)")
		_, err = readNow(t, s, 10)
		assertErrno(t, err, syscall.ECONNRESET)
		_, err = s.Write([]byte("x"))
		assertErrno(t, err, syscall.ECONNRESET)
		c := h.s.Counters().TCP
		assert.Equal(t, uint64(1), c.EstabResets)
		assert.Equal(t, uint64(1), c.InRsts)
		assert.Equal(t, "none", stateOf(h, 40000))
	})
}

// RFC 5961 §7: challenge ACKs are rate limited (1000 a second, as Linux's
// tcp_challenge_ack_limit); the excess is counted, not sent.
func TestTCPRuleChallengeACKRateLimit(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, _ := handshake(t, h, ln, 40000, mssOpt(1460))
		good := p.seq
		p.seq = good + 100
		for range 1001 {
			p.send("R", nil)
		}
		out := p.segs()
		require.Len(t, out, 1000, "a burst of 1000")
		for _, a := range out {
			assertSeg(t, a, "A", sa.Seq+1, good, "challenge ACK")
		}
		c := h.s.Counters().TCP
		assert.Equal(t, uint64(1000), c.ChallengeACKs)
		assert.Equal(t, uint64(1), c.ChallengeACKLimited)
		h.at(time.Millisecond)
		p.send("R", nil)
		p.send("R", nil)
		assert.Len(t, p.segs(), 1, "one token a millisecond")
		assert.Equal(t, uint64(2), h.s.Counters().TCP.ChallengeACKLimited)
		assert.Equal(t, "ESTABLISHED", stateOf(h, 40000))
	})
}

// RFC 9293 §3.10.7.4 answers an unacceptable segment with an ACK. Two
// ends that each find the other's ACKs unacceptable would answer each
// other forever, so an ACK without data is answered once per 500 ms per
// connection (Linux's tcp_invalid_ratelimit); a segment with data always
// is.
func TestTCPRuleOutOfWindowACKsAnsweredTwiceASecond(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, _ := handshake(t, h, ln, 40000, mssOpt(1460))
		good := p.seq
		p.seq = good + 1<<20
		for range 5 {
			p.send("A", nil)
		}
		assertSeg(t, p.one(t, "one answer"), "A", sa.Seq+1, good, "where we are")
		assert.Equal(t, uint64(4), h.s.Counters().TCP.OutOfWindowSkipped)
		p.send("PA", []byte("data"))
		assert.Len(t, p.segs(), 1, "data out of the window is answered")
		h.at(400 * time.Millisecond)
		p.send("A", nil)
		assert.Empty(t, p.segs(), "400 ms on, not yet")
		h.at(500 * time.Millisecond)
		p.send("A", nil)
		assert.Len(t, p.segs(), 1, "500 ms on, answered again")
		assert.Equal(t, uint64(5), h.s.Counters().TCP.OutOfWindowSkipped)
		assert.Equal(t, "ESTABLISHED", stateOf(h, 40000))
	})
}

// RFC 5961 §5.2 and RFC 9293 §3.10.7.4: a segment acknowledging data never
// sent (SEG.ACK > SND.MAX) is dropped, its text too, and answered with an
// ACK.
func TestTCPRuleAckOfUnsentDataDropped(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		p.ack = sa.Seq + 1 + 1000
		p.send("PA", []byte("forged"))
		assertSeg(t, p.one(t, "ACK"), "A", sa.Seq+1, p.seq, "the text is not taken")
		assert.Zero(t, ringLen(s.c.rcvBuf.Load()))
		assert.Equal(t, uint64(1), h.s.Counters().TCP.AckOfUnsent)
		p.ack = sa.Seq + 1
		p.sendData("PA", []byte("real"))
		b, err := readNow(t, s, 10)
		require.NoError(t, err)
		assert.Equal(t, "real", string(b))
	})
}

// RFC 5961 §5.2: an ACK below SND.UNA - MAX.SND.WND is too old to come from
// the peer: the segment is dropped and answered with an ACK. An old ACK
// within that bound is only a duplicate: ignored, and its text taken.
func TestTCPRuleAckTooOldDropped(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		una := sa.Seq + 1
		p.ack = una - 65535 - 1
		p.send("PA", []byte("blind"))
		assertSeg(t, p.one(t, "ACK"), "A", una, p.seq, "dropped")
		assert.Zero(t, ringLen(s.c.rcvBuf.Load()))
		assert.Equal(t, uint64(1), h.s.Counters().TCP.AckTooOld)
		p.ack = una - 65535
		p.sendData("PA", []byte("old ack, new data"))
		assert.Empty(t, p.segs(), "acceptable: the delayed-ACK timer runs")
		b, err := readNow(t, s, 100)
		require.NoError(t, err)
		assert.Equal(t, "old ack, new data", string(b))
		assert.Equal(t, uint64(1), h.s.Counters().TCP.AckTooOld)
	})
}

// tsHandshake opens a connection with timestamps, the peer's SYN TSval
// peerTS.
func tsHandshake(t *testing.T, h *harness) (*tcpPeer, *layers.TCP, *tcpSock) {
	ln := listen80(t, h, 16)
	p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460), sackPermOpt(), tsOpt(peerTS, 0))
	require.NotNil(t, s)
	_, ecr, _ := tsOf(sa)
	require.Equal(t, uint32(peerTS), ecr, "the SYN-ACK echoes the SYN's TSval")
	return p, sa, s
}

// RFC 7323 §3.2 and §4.3: every segment carries our clock in TSval and
// TS.Recent in TSecr: the TSval of the peer's latest in-order segment.
func TestTCPRuleTimestampsEchoed(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, sa, s := tsHandshake(t, h)
		ts0 := mustTS(t, sa)
		h.at(7 * time.Millisecond)
		p.sendData("PA", []byte("a"), tsOpt(peerTS+3, ts0))
		writeNow(t, h, s, []byte("b"))
		d := p.one(t, "reply")
		v, ecr, ok := tsOf(d)
		require.True(t, ok)
		assert.Equal(t, ts0+7, v, "our clock, in milliseconds")
		assert.Equal(t, uint32(peerTS+3), ecr)
		h.at(20 * time.Millisecond)
		p.ack++
		p.sendData("PA", []byte("c"), tsOpt(peerTS+9, v))
		p.sendData("PA", []byte("d"), tsOpt(peerTS+10, v))
		_, ecr, _ = tsOf(p.one(t, "ACK"))
		assert.Equal(t, uint32(peerTS+9), ecr, "the earliest unacknowledged (§4.3 case A)")
	})
}

// RFC 7323 §4.3: TS.Recent takes SEG.TSval only from a segment with
// SEG.SEQ <= Last.ACK.sent, so an out-of-order segment does not update it
// and the ACK of a filled hole echoes the segment that filled it (case
// B) -- which PAWS must not then reject as older.
func TestTCPRuleTSRecentUpdateRule(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, sa, s := tsHandshake(t, h)
		ecr0 := mustTS(t, sa)
		base := p.seq
		p.send("A", bytesOf(100, 'a'), tsOpt(peerTS+1, ecr0)) // A
		h.at(40 * time.Millisecond)
		_, ecr, _ := tsOf(p.one(t, "ACK(A)"))
		assert.Equal(t, uint32(peerTS+1), ecr)
		p.seq = base + 200
		p.send("A", bytesOf(100, 'c'), tsOpt(peerTS+3, ecr0)) // C, B missing
		a := p.one(t, "duplicate ACK")
		assertSeg(t, a, "A", sa.Seq+1, base+100, "C is out of order")
		_, ecr, _ = tsOf(a)
		assert.Equal(t, uint32(peerTS+1), ecr, "C does not update TS.Recent")
		p.seq = base + 100
		p.send("A", bytesOf(100, 'b'), tsOpt(peerTS+2, ecr0)) // B fills the hole
		a = p.one(t, "ACK(C)")
		assertSeg(t, a, "A", sa.Seq+1, base+300, "B fills the hole")
		_, ecr, _ = tsOf(a)
		assert.Equal(t, uint32(peerTS+2), ecr, "B's TSval")
		assert.Zero(t, h.s.Counters().TCP.PAWSDrops)
		assert.Equal(t, 300, ringLen(s.c.rcvBuf.Load()))
	})
}

// RFC 7323 §5.3: a segment whose TSval is older than TS.Recent is a
// duplicate from the past (PAWS): dropped, acknowledged, counted. A RST
// is exempt (R1) and resets at RCV.NXT.
func TestTCPRulePAWS(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, sa, s := tsHandshake(t, h)
		ecr0 := mustTS(t, sa)
		p.sendData("PA", []byte("new"), tsOpt(peerTS+100, ecr0))
		b, err := readNow(t, s, 10)
		require.NoError(t, err)
		require.Equal(t, "new", string(b))
		p.send("PA", []byte("old"), tsOpt(peerTS+50, ecr0))
		a := p.one(t, "ACK")
		assertSeg(t, a, "A", sa.Seq+1, p.seq, "the old segment is dropped")
		_, ecr, _ := tsOf(a)
		assert.Equal(t, uint32(peerTS+100), ecr)
		assert.Zero(t, ringLen(s.c.rcvBuf.Load()))
		assert.Equal(t, uint64(1), h.s.Counters().TCP.PAWSDrops)
		p.send("R", nil, tsOpt(peerTS+50, ecr0))
		assert.Empty(t, p.segs())
		_, err = readNow(t, s, 10)
		assertErrno(t, err, syscall.ECONNRESET)
	})
}
