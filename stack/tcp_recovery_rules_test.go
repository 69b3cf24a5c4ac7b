package stack

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Loss recovery rules: fast retransmit, limited transmit, SACK recovery
// with PRR, NewReno partial ACKs, retransmission timeouts.

const smss = 1460

// bulkOpen opens a connection (with SACK if asked), writes n full segments and
// returns the peer, the first data sequence number and the socket, with the
// initial window (10 segments, RFC 6928) in flight.
func bulkOpen(t *testing.T, h *harness, n int, withSACK bool) (*tcpPeer, uint32, *tcpSock, []*layers.TCP) {
	t.Helper()
	ln := listen80(t, h, 16)
	opts := []layers.TCPOption{mssOpt(smss)}
	if withSACK {
		opts = append(opts, sackPermOpt())
	}
	p, sa, s := handshake(t, h, ln, 40000, opts...)
	require.NotNil(t, s)
	writeNow(t, h, s, bytesOf(n*smss, 'a'))
	out := p.segs()
	require.Len(t, out, min(n, 10), "the initial window")
	una := sa.Seq + 1
	for i, o := range out {
		assert.Equal(t, una+uint32(i*smss), o.Seq)
		assert.Len(t, o.Payload, smss)
	}
	return p, una, s, out
}

// segN is the sequence number of full segment i from una.
func segN(una uint32, i int) uint32 { return una + uint32(i*smss) }

// dataSegs asserts the data segments sent since the last call start at
// the given segment indexes.
func dataSegs(t *testing.T, p *tcpPeer, una uint32, msg string, idx ...int) {
	t.Helper()
	out := p.segs()
	var got []int
	for _, o := range out {
		got = append(got, int(o.Seq-una)/smss)
		assert.Len(t, o.Payload, smss, msg)
	}
	require.Equal(t, fmt.Sprint(idx), fmt.Sprint(got), msg)
}

// RFC 3042: the first two duplicate ACKs each send one new segment
// (limited transmit); RFC 5681 §3.2: the third retransmits SND.UNA at once
// and enters fast recovery; the ACK of everything ends it with cwnd =
// ssthresh (RFC 6582 §3.2 step 3, RFC 6937).
func TestTCPRuleFastRetransmitAndLimitedTransmit(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, s, _ := bulkOpen(t, h, 12, false)
		cwnd0 := infoOf(t, s).Cwnd
		assert.Equal(t, 10*smss, cwnd0)
		h.at(50 * time.Millisecond)
		p.ack = una
		p.send("A", nil)
		dataSegs(t, p, una, "first duplicate ACK: limited transmit", 10)
		p.send("A", nil)
		dataSegs(t, p, una, "second duplicate ACK: limited transmit", 11)
		assert.Equal(t, cwnd0, infoOf(t, s).Cwnd, "limited transmit leaves cwnd alone")
		p.send("A", nil)
		dataSegs(t, p, una, "third duplicate ACK: fast retransmit", 0)
		assert.Equal(t, uint64(1), h.s.Counters().TCP.FastRetrans)
		p.send("A", nil)
		assert.Empty(t, p.segs(), "nothing more to send")
		h.at(100 * time.Millisecond)
		p.ack = segN(una, 12)
		p.send("A", nil)
		assert.Empty(t, p.segs())
		in := infoOf(t, s)
		assert.Equal(t, in.Ssthresh, in.Cwnd, "recovery ends with cwnd = ssthresh")
		assert.Equal(t, 12*smss*7/10, in.Ssthresh, "CUBIC: beta 0.7 of the flight (RFC 9438 §4.6)")
		assert.Zero(t, in.Unacked)
		h.at(2 * time.Second)
		assert.Empty(t, p.segs(), "no RTO after recovery")
	})
}

// RFC 6582 §3.2 step 5: without SACK a partial ACK during fast recovery
// shows the next hole, which is retransmitted at once.
func TestTCPRuleNewRenoPartialACK(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, s, _ := bulkOpen(t, h, 12, false)
		h.at(50 * time.Millisecond)
		p.ack = una
		for range 3 {
			p.send("A", nil)
		}
		dataSegs(t, p, una, "limited transmit then fast retransmit", 10, 11, 0)
		h.at(100 * time.Millisecond)
		p.ack = segN(una, 3)
		p.send("A", nil)
		dataSegs(t, p, una, "partial ACK: the next hole", 3)
		h.at(150 * time.Millisecond)
		p.ack = segN(una, 12)
		p.send("A", nil)
		assert.Empty(t, p.segs())
		in := infoOf(t, s)
		assert.Equal(t, in.Ssthresh, in.Cwnd)
		assert.Equal(t, uint64(2), in.Retransmits)
	})
}

// RFC 6675: with SACK the scoreboard decides what is lost (DupThresh
// segments SACKed above it, §4 IsLost) and recovery retransmits the holes
// it marks lost, each once it is; RFC 6937 PRR-SSRB (pipe below ssthresh)
// lets out at most ssthresh - pipe, so the retransmission of a hole may
// leave no room for new data; when no rule finds a segment, the last
// unSACKed one goes again, once (rule 4); recovery ends with cwnd =
// ssthresh.
func TestTCPRuleSACKRecovery(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, s, _ := bulkOpen(t, h, 14, true)
		h.at(50 * time.Millisecond)
		p.ack = una
		sack := sackFrom(p, una)
		// Segments 0 and 2 are lost.
		sack(1, 2)
		dataSegs(t, p, una, "SACK of 1: limited transmit", 10)
		sack(3, 4, 1, 2)
		dataSegs(t, p, una, "SACK of 3: two SACKed above 0, not lost yet; limited transmit", 11)
		sack(3, 5, 1, 2)
		dataSegs(t, p, una, "three SACKed above 0: 0 is lost, fast retransmit", 0)
		c := s.c
		assert.True(t, c.inRecovery)
		ssthresh := infoOf(t, s).Ssthresh
		assert.Equal(t, 12*smss*7/10, ssthresh)
		sack(3, 6, 1, 2)
		// 2 is lost now. pipe = 0 (resent) + 6..11 = 7 segments, so PRR-SSRB
		// allows ssthresh - pipe = 2044 bytes: the hole only.
		dataSegs(t, p, una, "three SACKed above 2: 2 is resent", 2)
		sack(3, 7, 1, 2)
		dataSegs(t, p, una, "one delivered, one new segment", 12)
		sack(3, 8, 1, 2)
		dataSegs(t, p, una, "one delivered, one new segment", 13)
		sack(3, 9, 1, 2)
		dataSegs(t, p, una, "no hole, no new data: the rescue retransmission of the last unSACKed segment (RFC 6675 NextSeg rule 4)", 13)
		sack(3, 10, 1, 2)
		assert.Empty(t, p.segs(), "one rescue per recovery")
		h.at(100 * time.Millisecond)
		p.ack = segN(una, 14)
		p.send("A", nil)
		assert.Empty(t, p.segs())
		in := infoOf(t, s)
		assert.False(t, c.inRecovery)
		assert.Equal(t, ssthresh, in.Cwnd, "cwnd = ssthresh after recovery (RFC 6937 §3)")
		assert.Equal(t, uint64(1), h.s.Counters().TCP.FastRetrans)
		assert.Equal(t, uint64(3), in.Retransmits)
	})
}

// RFC 6675 NextSeg rule 4 resends the highest unSACKed segment below
// HighData, the highest octet sent: with more data in the buffer than the
// peer's window lets go, the rescue is the last segment sent, not the
// buffer's tail, which the window has no room for.
func TestTCPRuleRescueStaysBelowHighData(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, s, _ := bulkOpen(t, h, 30, true)
		h.at(50 * time.Millisecond)
		p.ack, p.wnd = una, 14*smss
		sack := sackFrom(p, una)
		sack(1, 2)
		dataSegs(t, p, una, "limited transmit", 10)
		sack(3, 4, 1, 2)
		dataSegs(t, p, una, "limited transmit", 11)
		sack(3, 5, 1, 2)
		dataSegs(t, p, una, "fast retransmit", 0)
		sack(3, 6, 1, 2)
		dataSegs(t, p, una, "2 is resent", 2)
		sack(3, 7, 1, 2)
		dataSegs(t, p, una, "new segment", 12)
		sack(3, 8, 1, 2)
		dataSegs(t, p, una, "new segment, the last the window takes", 13)
		sack(3, 9, 1, 2)
		dataSegs(t, p, una, "the rescue: the last segment sent", 13)
		assert.Equal(t, segN(una, 14), uint32(s.c.sndMax), "SND.MAX stays at the window's edge")
	})
}

// RFC 6675 §2: an ACK that SACKs new data is a duplicate ACK whatever its
// window says; Linux grows its window in nearly every ACK while its buffer
// autotunes, and RFC 5681's same-window rule would leave every loss to the
// retransmission timer.
func TestTCPRuleSACKDupAckWithGrowingWindow(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, _, _ := bulkOpen(t, h, 14, true)
		h.at(50 * time.Millisecond)
		p.ack = una
		for k, want := range []int{10, 11, 0} {
			p.wnd = uint16(40000 + 1000*k)
			p.send("A", nil, sackOpt(segN(una, 1), segN(una, 2+k)))
			dataSegs(t, p, una, fmt.Sprintf("SACK %d of the segments above 0, window %d", k+1, p.wnd), want)
		}
		assert.Equal(t, uint64(1), h.s.Counters().TCP.FastRetrans)
	})
}

// A retransmission lost in turn is sent again as soon as the receiver
// SACKs data first sent after it, rather than at the retransmission
// timeout: RFC 6675 retransmits each hole once per recovery, and RACK
// (RFC 8985 §6.2) reasons from send order that the retransmission, sent
// earlier, would have arrived first.
func TestTCPRuleLostRetransmissionIsResent(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, _, _ := bulkOpen(t, h, 20, true)
		h.at(50 * time.Millisecond)
		p.ack = una
		sackTo := func(k int) []int {
			p.send("A", nil, sackOpt(segN(una, 1), segN(una, k)))
			var sent []int
			for _, o := range p.segs() {
				sent = append(sent, int(o.Seq-una)/smss)
			}
			return sent
		}
		sackTo(2)
		sackTo(3)
		require.Equal(t, []int{0}, sackTo(4), "fast retransmit of 0, with 0..11 sent")
		// The retransmission of 0 is lost too. Segments 12 on go out
		// after it as the SACKs of 4..11 come in.
		var after []int
		for k := 5; k <= 12; k++ {
			after = append(after, sackTo(k)...)
		}
		require.Contains(t, after, 12, "new data after the retransmission")
		require.NotContains(t, after, 0, "a hole is retransmitted once by RFC 6675")
		assert.Zero(t, h.s.Counters().TCP.LostRetransmits)
		assert.Contains(t, sackTo(13), 0, "12, sent after the retransmission, arrived first: 0 is resent")
		assert.Equal(t, uint64(1), h.s.Counters().TCP.LostRetransmits)
		assert.Zero(t, h.s.Counters().TCP.RTOs)
		assert.NotContains(t, sackTo(14), 0, "resent once for each loss")
		p.ack = segN(una, 14)
		p.send("A", nil)
		assert.Equal(t, uint64(1), h.s.Counters().TCP.LostRetransmits)
	})
}

// RFC 6937 §3: while pipe is above ssthresh, PRR sends
// CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out bytes per ACK, new
// data included in prr_out: the flight shrinks to ssthresh smoothly,
// about 0.7 segment out per segment delivered with CUBIC, never growing.
func TestTCPRulePRRProportionalReduction(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(smss), sackPermOpt(), wsOpt(7))
		una := sa.Seq + 1
		writeNow(t, h, s, bytesOf(120*smss, 'a'))
		require.Len(t, p.segs(), 10)
		// Two round trips of slow start, every segment acknowledged:
		// cwnd 10 -> 20 -> 40 segments.
		for r, at := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond} {
			h.at(at)
			from, to := []int{0, 10}[r], []int{10, 30}[r]
			sent := 0
			for i := from; i < to; i++ {
				p.ack = segN(una, i+1)
				p.send("A", nil)
				sent += len(p.segs())
			}
			require.Equal(t, 2*(to-from), sent, "slow start: two for one")
		}
		require.Equal(t, 40*smss, infoOf(t, s).Cwnd)
		// Segment 30 is lost; 31 on arrive one by one.
		h.at(150 * time.Millisecond)
		p.ack = segN(una, 30)
		sackTo := func(k int) { p.send("A", nil, sackOpt(segN(una, 31), segN(una, 31+k))) }
		sackTo(1)
		dataSegs(t, p, una, "limited transmit", 70)
		sackTo(2)
		dataSegs(t, p, una, "limited transmit", 71)
		sackTo(3)
		dataSegs(t, p, una, "fast retransmit", 30)
		recoverFS := 42 * smss
		ssthresh := recoverFS * 7 / 10
		require.Equal(t, ssthresh, infoOf(t, s).Ssthresh)
		out, next := smss, 72
		for k := 4; k <= 24; k++ {
			sackTo(k)
			delivered := (k - 2) * smss
			sndcnt := (delivered*ssthresh+recoverFS-1)/recoverFS - out
			n := max(sndcnt, 0) / smss
			var want []int
			for range n {
				want = append(want, next)
				next++
			}
			dataSegs(t, p, una, fmt.Sprintf("%d delivered", k-3), want...)
			out += n * smss
			c := s.c
			assert.Greater(t, c.sb.Pipe(c.sndUna, c.sndMax, c.highRxt), ssthresh, "proportional part")
		}
		assert.Equal(t, 72+14, next, "22 delivered (the ACK that started recovery SACKed one), 15 sent (14 new, 1 resent): 0.7 of them")
		h.at(200 * time.Millisecond)
		p.ack = segN(una, 72)
		p.send("A", nil)
		assert.Equal(t, ssthresh, infoOf(t, s).Cwnd, "recovery over: cwnd = ssthresh")
	})
}

// RFC 6298 §5.4-5.6 and RFC 5681 §3.1: on a retransmission timeout the
// first unacknowledged segment is resent, cwnd drops to one segment
// (loss window) and ssthresh to the congestion control's reduction; the
// next ACK grows cwnd by one segment and the sender goes back over what
// followed.
func TestTCPRuleRTOCollapsesWindow(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, s, _ := bulkOpen(t, h, 10, false)
		h.at(time.Second - 1)
		assert.Empty(t, p.segs())
		h.at(time.Second)
		dataSegs(t, p, una, "RTO: one segment", 0)
		in := infoOf(t, s)
		assert.Equal(t, smss, in.Cwnd, "loss window: 1 SMSS")
		assert.Equal(t, 10*smss*7/10, in.Ssthresh)
		assert.Equal(t, uint64(1), h.s.Counters().TCP.RTOs)
		h.at(1100 * time.Millisecond)
		p.ack = segN(una, 1)
		p.send("A", nil)
		dataSegs(t, p, una, "slow start again: two segments", 1, 2)
		assert.Equal(t, 2*smss, infoOf(t, s).Cwnd)
	})
}

// RFC 6298 §3 (Karn): without timestamps a retransmitted segment gives no
// RTT sample; its ACK only undoes the backoff. A segment sent once does.
func TestTCPRuleKarn(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(smss))
		writeNow(t, h, s, []byte("a"))
		p.one(t, "a")
		h.at(time.Second)
		p.one(t, "retransmitted a")
		h.at(1100 * time.Millisecond)
		p.ack = sa.Seq + 2
		p.send("A", nil)
		in := infoOf(t, s)
		assert.Zero(t, in.RTT, "no sample from a retransmitted segment")
		assert.Equal(t, time.Second, in.RTO, "backoff undone, no sample taken")
		h.at(2 * time.Second)
		writeNow(t, h, s, []byte("b"))
		p.one(t, "b")
		h.at(2*time.Second + 50*time.Millisecond)
		p.ack = sa.Seq + 3
		p.send("A", nil)
		in = infoOf(t, s)
		assert.Equal(t, 50*time.Millisecond, in.RTT, "first sample: SRTT = R")
		assert.Equal(t, 200*time.Millisecond, in.RTO, "SRTT + 4·RTTVAR = 150 ms, at least MinRTO")
	})
}

// RFC 9293 §3.8.3 (R2) and RFC 1122 §4.2.3.5: after Retries
// retransmissions of one segment the connection fails with ETIMEDOUT, at
// the expiry of the last backed-off timer; nothing is sent then.
func TestTCPRuleRetriesExhaustedTimesOut(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{Retries: 3}})
		ln := listen80(t, h, 16)
		p, _, s := handshake(t, h, ln, 40000, mssOpt(smss))
		writeNow(t, h, s, []byte("data"))
		p.one(t, "data")
		for _, at := range []time.Duration{1, 3, 7} {
			h.at(at * time.Second)
			p.one(t, "retransmission")
		}
		h.at(15*time.Second - 1)
		assert.Zero(t, s.c.shErr.Load())
		h.at(15 * time.Second)
		assert.Empty(t, p.segs(), "no RST on a timeout")
		_, err := readNow(t, s, 10)
		assertErrno(t, err, syscall.ETIMEDOUT)
		_, err = s.Write([]byte("x"))
		assertErrno(t, err, syscall.ETIMEDOUT)
		assert.Equal(t, uint64(1), h.s.Counters().TCP.Timeouts)
		assert.Equal(t, "none", stateOf(h, 40000))
	})
}

// RFC 5482 (TCP_USER_TIMEOUT): data unacknowledged for the user timeout
// fails the connection with ETIMEDOUT when it expires, counted from when
// the data was sent, whatever Retries says.
func TestTCPRuleUserTimeout(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, _, s := handshake(t, h, ln, 40000, mssOpt(smss))
		require.NoError(t, s.SetUserTimeout(5*time.Second))
		writeNow(t, h, s, []byte("data"))
		p.one(t, "data")
		h.at(time.Second)
		p.one(t, "retransmission at 1 s")
		h.at(3 * time.Second)
		p.one(t, "retransmission at 3 s")
		h.at(5*time.Second - 1)
		assert.Empty(t, p.segs())
		assert.Zero(t, s.c.shErr.Load())
		h.at(5 * time.Second)
		assert.Empty(t, p.segs())
		_, err := readNow(t, s, 10)
		assertErrno(t, err, syscall.ETIMEDOUT)
	})
}

// RFC 9293 §3.10.7.4 drops a segment below RCV.NXT, acknowledgment and
// all. After a timeout winds SND.NXT back to SND.UNA, a segment without
// data goes at SND.MAX, which the peer, holding perhaps all that was sent,
// still takes (BSD's tcp_output does so); at SND.NXT, two ends that both
// retransmit after timeouts each drop the other's ACKs and time out. So
// does an abort's RST, which the peer takes only at its RCV.NXT.
func TestTCPRuleSegmentsWithoutDataAfterTimeoutAtSndMax(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		p, una, s, _ := bulkOpen(t, h, 10, false)
		h.at(time.Second)
		dataSegs(t, p, una, "RTO: one segment", 0)
		p.sendData("PA", []byte("x"))
		h.at(1200 * time.Millisecond)
		assertSeg(t, p.one(t, "the ACK of the peer's byte"), "A", segN(una, 10), p.seq, "ACK at SND.MAX")
		require.NoError(t, s.SetLinger(0))
		require.NoError(t, s.Close())
		h.poll()
		assertSeg(t, p.one(t, "RST"), "R", segN(una, 10), 0, "RST at SND.MAX")
	})
}
