package stack

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Data and acknowledgment rules: delivery, duplicate and out-of-order
// segments, SACK generation, windows, zero-window probing, Nagle, PSH.

// RFC 9293 §3.10.7.4 (seventh check): in-order text goes to the
// application; RFC 5681 §4.2: the second full segment is acknowledged at
// once, a lone one within the delayed-ACK time.
func TestTCPRuleInOrderDelivery(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		p.sendData("A", []byte("abc"))
		assert.Empty(t, p.segs())
		b, err := readNow(t, s, 100)
		require.NoError(t, err)
		assert.Equal(t, "abc", string(b), "readable before it is acknowledged")
		h.at(10 * time.Millisecond)
		p.sendData("PA", []byte("def"))
		a := p.one(t, "ACK of the second segment")
		assertSeg(t, a, "A", sa.Seq+1, p.seq, "both acknowledged")
		assert.Equal(t, uint16(65535-6), a.Window, "the right edge stays: 6 bytes is no step worth announcing (SWS)")
		b, err = readNow(t, s, 100)
		require.NoError(t, err)
		assert.Equal(t, "def", string(b))
		h.at(time.Second)
		assert.Empty(t, p.segs(), "nothing owed")
	})
}

// RFC 9293 §3.10.7.4 and RFC 5681 §4.2: a segment wholly duplicate is
// answered with an immediate ACK; one partly new delivers only its new
// bytes and is acknowledged at once.
func TestTCPRuleDuplicateDataImmediateACK(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		base := p.seq
		p.sendData("A", []byte("abc"))
		h.at(40 * time.Millisecond)
		assertSeg(t, p.one(t, "delayed ACK"), "A", sa.Seq+1, base+3, "delayed ACK")
		h.at(50 * time.Millisecond)
		p.seq = base
		p.send("A", []byte("abc"))
		assertSeg(t, p.one(t, "duplicate"), "A", sa.Seq+1, base+3, "a duplicate is acknowledged at once")
		p.send("A", []byte("abcdef"))
		assertSeg(t, p.one(t, "partly new"), "A", sa.Seq+1, base+6, "a partial duplicate too")
		b, err := readNow(t, s, 100)
		require.NoError(t, err)
		assert.Equal(t, "abcdef", string(b), "each byte once")
	})
}

// RFC 5681 §4.2 and RFC 2018 §4: an out-of-order segment is acknowledged at
// once with SACK blocks, the first covering the segment that triggered
// the ACK; with timestamps there is room for three blocks (four without).
// A segment that fills a hole is acknowledged at once.
func TestTCPRuleOutOfOrderSACKBlocks(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		for _, ts := range []bool{true, false} {
			name := map[bool]string{true: "timestamps", false: "no timestamps"}[ts]
			t.Run(name, func(t *testing.T) {
				h := newRuleHarness(t, mbuf, Config{})
				ln := listen80(t, h, 16)
				opts := []layers.TCPOption{mssOpt(1460), sackPermOpt()}
				if ts {
					opts = append(opts, tsOpt(peerTS, 0))
				}
				p, sa, s := handshake(t, h, ln, 40000, opts...)
				require.NotNil(t, s)
				var tso []layers.TCPOption
				if ts {
					tso = append(tso, tsOpt(peerTS, 0))
				}
				base := p.seq
				blk := func(i uint32) [2]uint32 { return [2]uint32{base + 1000*i, base + 1000*i + 100} }
				for n, i := range []uint32{3, 1, 4, 2, 5} {
					p.seq = base + 1000*i
					p.send("A", bytesOf(100, 'a'), tso...)
					a := p.one(t, "immediate ACK")
					assertSeg(t, a, "A", sa.Seq+1, base, "duplicate ACK")
					sk := sackOf(a)
					require.NotEmpty(t, sk)
					assert.Equal(t, blk(i), sk[0], "the first block covers the newest segment")
					want := min(n+1, 3)
					if !ts {
						want = min(n+1, 4)
					}
					assert.Len(t, sk, want, "blocks after segment %d", n+1)
					seen := map[[2]uint32]bool{}
					for _, b := range sk {
						assert.False(t, seen[b], "distinct blocks")
						seen[b] = true
						assert.Contains(t, [][2]uint32{blk(1), blk(2), blk(3), blk(4), blk(5)}, b)
					}
				}
				// Fill the holes from the left: each fill is acknowledged at once.
				limit := 4
				if ts {
					limit = 3
				}
				for i := uint32(0); i < 5; i++ {
					start, n := base+1000*i, 1000
					if i > 0 {
						start, n = start+100, 900
					}
					p.seq = start
					p.send("A", bytesOf(n, 'a'), tso...)
					a := p.one(t, "ACK of the fill")
					assertSeg(t, a, "A", sa.Seq+1, base+1000*(i+1)+100, "fill")
					assert.Len(t, sackOf(a), min(int(4-i), limit), "blocks left")
				}
				assert.Equal(t, 5100, ringLen(s.c.rcvBuf.Load()))
				assert.Equal(t, uint64(5), h.s.Counters().TCP.OfoQueue)
			})
		}
	})
}

// RFC 9293 §3.10.7.4: a segment reaching past the receive window is
// trimmed to it; the ACK then shows a closed window. A probe into the
// closed window is answered with an ACK (RFC 9293 §3.8.6.1), and once the
// application reads, a window update goes out at once.
func TestTCPRuleBeyondWindowTrimmedAndZeroWindow(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{RecvBuffer: 4096}})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		assert.Equal(t, uint16(4096), sa.Window)
		base := p.seq
		p.sendData("A", bytesOf(1460, 'a'))
		p.sendData("A", bytesOf(1460, 'a'))
		a := p.one(t, "ACK of two segments")
		assertSeg(t, a, "A", sa.Seq+1, base+2920, "two segments")
		assert.Equal(t, uint16(4096-2920), a.Window)
		p.sendData("A", bytesOf(1460, 'a'))
		h.at(40 * time.Millisecond)
		a = p.one(t, "delayed ACK")
		assertSeg(t, a, "A", sa.Seq+1, base+4096, "only what fits in the window")
		assert.Equal(t, uint16(0), a.Window, "the window is closed")
		assert.Equal(t, uint64(1), h.s.Counters().TCP.RcvWindowTrims)

		h.at(time.Second)
		p.seq = base + 4096
		p.send("A", []byte("x"))
		a = p.one(t, "answer to a zero-window probe")
		assertSeg(t, a, "A", sa.Seq+1, base+4096, "the probe is not accepted")
		assert.Equal(t, uint16(0), a.Window)

		b, err := readNow(t, s, 8192)
		require.NoError(t, err)
		assert.Len(t, b, 4096)
		h.poll()
		a = p.one(t, "window update")
		assertSeg(t, a, "A", sa.Seq+1, base+4096, "window update")
		assert.Equal(t, uint16(4096), a.Window)
	})
}

// The acceptance test as BSD and Linux apply RFC 9293 §3.10.7.4: a segment
// that starts before RCV.NXT and ends past the window has neither end in
// the window, yet its middle is new data, taken up to the window's edge;
// an ACK on the right edge itself, where a peer that filled the window
// sends them, is taken; and a probe of a closed window has its ACK
// processed (the RFC's "special allowance"), its text dropped.
func TestTCPRuleAcceptanceAtTheWindowEdges(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("a segment over the whole window", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{RecvBuffer: 4096}})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
			base := p.seq
			p.sendData("PA", bytesOf(1000, 'a'))
			h.at(40 * time.Millisecond)
			p.segs()
			p.seq = base + 500
			p.send("PA", bytesOf(4096, 'b'))
			a := p.one(t, "ACK")
			assertSeg(t, a, "A", sa.Seq+1, base+4096, "the window's new bytes taken")
			assert.Zero(t, a.Window)
			b, err := readNow(t, s, 8192)
			require.NoError(t, err)
			require.Len(t, b, 4096)
			assert.True(t, bytes.Equal(bytesOf(1000, 'a'), b[:1000]), "the first segment's bytes")
			assert.True(t, bytes.Equal(bytesOf(4096, 'b')[500:3596], b[1000:]), "the window's part of the second")
		})
		t.Run("an ACK on the right edge", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{RecvBuffer: 4096}})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460), sackPermOpt())
			writeNow(t, h, s, []byte("reply"))
			p.one(t, "reply")
			base := p.seq
			// The first 1000 bytes are lost; the rest fill the window.
			p.seq = base + 1000
			p.sendData("A", bytesOf(1460, 'a'))
			p.sendData("A", bytesOf(1460, 'a'))
			p.sendData("A", bytesOf(176, 'a'))
			p.segs()
			p.ack = sa.Seq + 6
			p.send("A", nil)
			assert.Equal(t, 0, ringLen(s.c.sndBuf.Load()), "the reply is acknowledged")
		})
		t.Run("a probe of the closed window", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{RecvBuffer: 4096}})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
			writeNow(t, h, s, []byte("reply"))
			p.one(t, "reply")
			base := p.seq
			p.sendData("A", bytesOf(1460, 'a'))
			p.sendData("A", bytesOf(1460, 'a'))
			p.sendData("A", bytesOf(1176, 'a'))
			h.at(40 * time.Millisecond)
			p.segs()
			p.ack = sa.Seq + 6
			p.send("A", []byte("x"))
			a := p.one(t, "answer to the probe, at once")
			assertSeg(t, a, "A", sa.Seq+6, base+4096, "the byte is not taken")
			assert.Zero(t, a.Window)
			assert.Equal(t, 0, ringLen(s.c.sndBuf.Load()), "the probe's ACK acknowledged the reply")
		})
	})
}

// A retransmission after a timeout resends what was sent whatever the
// window says now, but does not carry data never sent past the peer's
// window; and with a probe byte sent past a closed window, ACKs go at the
// window's edge, where the peer takes them (Linux's tcp_acceptable_seq),
// not after the byte it refused.
func TestTCPRuleSenderStaysInThePeersWindow(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("retransmission", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
			p.sendW("A", 1000, nil)
			writeNow(t, h, s, bytesOf(5000, 'a'))
			assert.Empty(t, p.segs(), "less than an MSS, far less than the largest window: held (sender SWS avoidance)")
			h.at(time.Second)
			d := p.one(t, "the window's worth, sent when the persist timer runs out")
			assert.Len(t, d.Payload, 1000)
			h.at(3 * time.Second)
			d = p.one(t, "the retransmission")
			assertSeg(t, d, "A", sa.Seq+1, p.seq, "from SND.UNA")
			assert.Len(t, d.Payload, 1000, "no byte beyond the window")
		})
		for _, v := range []struct {
			name string
			opts []layers.TCPOption
		}{{"unscaled", []layers.TCPOption{mssOpt(1460)}}, {"scaled", []layers.TCPOption{mssOpt(1460), wsOpt(7)}}} {
			t.Run("ACK after a window probe, "+v.name, func(t *testing.T) {
				h := newRuleHarness(t, mbuf, Config{})
				ln := listen80(t, h, 16)
				p, sa, s := handshake(t, h, ln, 40000, v.opts...)
				p.sendW("A", 0, nil)
				writeNow(t, h, s, []byte("hello"))
				h.at(time.Second)
				assert.Equal(t, []byte("h"), p.one(t, "probe").Payload)
				p.sendW("PA", 0, []byte("data"))
				p.seq += 4
				h.at(time.Second + 40*time.Millisecond)
				assertSeg(t, p.one(t, "ACK"), "A", sa.Seq+1, p.seq, "at the closed window's edge, not past the probe byte")
			})
		}
		t.Run("ACK past an edge the window scale rounded", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1280), wsOpt(7))
			una := sa.Seq + 1
			p.sendW("A", 30, nil) // 3840 bytes: three segments
			writeNow(t, h, s, bytesOf(10000, 'a'))
			require.Len(t, p.segs(), 3)
			// 100 bytes acknowledged; the window, in units of 128 bytes,
			// now ends 28 bytes short of what was sent.
			p.ack = una + 100
			p.sendW("A", 29, nil)
			p.sendW("PA", 29, []byte("data"))
			p.seq += 4
			h.at(40 * time.Millisecond)
			assertSeg(t, p.one(t, "ACK"), "A", una+3840, p.seq, "at SND.MAX, which the peer's RCV.NXT may have reached")
		})
	})
}

// A segment older than the one that last set the window (SND.WL1), which
// acknowledges new data, sets the window too, as Linux's
// tcp_may_update_window: the RFC's test alone would keep the older
// window, counted from the older acknowledgment, and SND.UNA + SND.WND
// would run past the edge the peer offered.
func TestTCPRuleWindowFromARetransmissionThatAcknowledges(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1000))
		una := sa.Seq + 1
		old := p.seq
		p.sendW("PA", 3000, []byte("xxxx"))
		p.seq += 4
		writeNow(t, h, s, bytesOf(10000, 'a'))
		dataAt := func(msg string, want ...uint32) {
			t.Helper()
			var got []uint32
			for _, o := range p.segs() {
				if len(o.Payload) > 0 {
					got = append(got, o.Seq-una)
				}
			}
			assert.Equal(t, fmt.Sprint(want), fmt.Sprint(got), msg)
		}
		dataAt("the window's 3000 bytes", 0, 1000, 2000)
		p.ack = una + 1000
		p.sendW("PA", 2000, []byte("yyyy"))
		p.seq += 4
		dataAt("the edge has not moved: nothing")
		// The peer resends from its first segment on, with two new bytes,
		// acknowledging 1000 more of ours; its window still ends at the
		// same edge.
		p.ack = una + 2000
		p.seq = old
		p.sendW("PA", 1000, []byte("xxxxyyyyzz"))
		p.seq += 10
		dataAt("nothing past the edge the peer offered")
		assert.Equal(t, 1000, infoOf(t, s).SendWindow)
	})
}

// RFC 9293 §3.8.6.2.2 (MUST-39): the receiver does not open its window in
// steps smaller than min(RCV.BUFF/2, MSS); until then a closed window
// stays closed.
func TestTCPRuleReceiverSWSAvoidance(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{RecvBuffer: 4096}})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		base := p.seq
		for range 3 {
			p.sendData("A", bytesOf(1365, 'a'))
		}
		p.sendData("A", bytesOf(1, 'a'))
		out := p.segs()
		require.Len(t, out, 2, "an ACK every second segment")
		a := out[1]
		assertSeg(t, a, "A", sa.Seq+1, base+4096, "all in")
		assert.Equal(t, uint16(0), a.Window)

		// An old byte again draws an immediate ACK with the window.
		probe := func(msg string) *layers.TCP {
			p.seq = base + 4095
			p.send("A", []byte("x"))
			a := p.one(t, msg)
			assertSeg(t, a, "A", sa.Seq+1, base+4096, msg)
			return a
		}
		_, err := readNow(t, s, 100)
		require.NoError(t, err)
		h.poll()
		assert.Empty(t, p.segs(), "100 bytes free: no update")
		assert.Equal(t, uint16(0), probe("ACK after a 100-byte read").Window, "not a 100-byte window")
		_, err = readNow(t, s, 1359)
		require.NoError(t, err)
		h.poll()
		assert.Empty(t, p.segs())
		assert.Equal(t, uint16(0), probe("ACK at 1459 bytes free").Window, "one byte short of an MSS")
		_, err = readNow(t, s, 1)
		require.NoError(t, err)
		assert.Equal(t, uint16(1460), probe("ACK at 1460 bytes free").Window, "an MSS: the window opens")
		_, err = readNow(t, s, 100)
		require.NoError(t, err)
		assert.Equal(t, uint16(1460), probe("ACK at 1560 bytes free").Window, "not moved by 100 bytes")
		_, err = readNow(t, s, 4096)
		require.NoError(t, err)
		h.poll()
		a = p.one(t, "window update")
		assert.Equal(t, uint16(4096), a.Window, "half the buffer free: an update is sent")
	})
}

// RFC 9293 §3.8.6.1: with the peer's window closed the sender probes it
// with one byte beyond the window, first after an RTO, then at doubling
// intervals (MUST-35, SHOULD); while the peer answers the probes the
// connection stays open however many there are (RFC 1122 §4.2.2.17,
// MUST), and once the window opens sending resumes.
func TestTCPRuleZeroWindowProbing(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{Retries: 3}})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		p.sendW("A", 0, nil)
		assert.Equal(t, 0, infoOf(t, s).SendWindow)
		writeNow(t, h, s, []byte("hello"))
		assert.Empty(t, p.segs(), "the window is closed")
		iss := sa.Seq
		at := time.Duration(0)
		for i, gap := range []time.Duration{1, 2, 4, 8, 16, 32, 64} {
			at += gap * time.Second
			h.at(at - 1)
			assert.Empty(t, p.segs(), "probe %d not before %v", i+1, at)
			h.at(at)
			pr := p.one(t, "probe")
			assertSeg(t, pr, "A", iss+1, p.seq, "probe")
			assert.Equal(t, []byte("h"), pr.Payload, "one byte beyond the window")
			h.at(at + 10*time.Millisecond)
			p.sendW("A", 0, nil)
			assert.Empty(t, p.segs())
		}
		assert.Zero(t, s.c.shErr.Load(), "answered probes keep the connection")
		assert.Equal(t, uint64(1), h.s.Counters().TCP.WindowProbes)
		h.at(at + 20*time.Millisecond)
		p.ack = iss + 2
		p.sendW("A", 1000, nil)
		d := p.one(t, "the rest")
		assertSeg(t, d, "PA", iss+2, p.seq, "sending resumes")
		assert.Equal(t, []byte("ello"), d.Payload)
	})
}

// RFC 1122 §4.2.2.17: a peer that stops answering the probes of its
// closed window is given up on at the first probe time more than MaxRTO
// after it last spoke, as Linux does, not after Retries probes.
func TestTCPRuleZeroWindowProbesUnansweredTimeOut(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{TCP: TCPConfig{Retries: 2, MaxRTO: 10 * time.Second}})
		ln := listen80(t, h, 16)
		p, _, s := handshake(t, h, ln, 40000, mssOpt(1460))
		p.sendW("A", 0, nil)
		writeNow(t, h, s, []byte("hello"))
		for _, at := range []time.Duration{1, 3, 7} {
			h.at(at * time.Second)
			assert.Len(t, p.segs(), 1, "probe at %v s", at)
		}
		assert.Zero(t, s.c.shErr.Load(), "three probes, more than Retries: still open")
		h.at(15*time.Second - 1)
		assert.Zero(t, s.c.shErr.Load())
		h.at(15 * time.Second)
		assert.Empty(t, p.segs())
		_, err := readNow(t, s, 10)
		assertErrno(t, err, syscall.ETIMEDOUT)
	})
}

// RFC 1122 §4.2.3.4 (Nagle): with SetNoDelay(false) a small segment waits
// while data is unacknowledged, and goes when the ACK arrives; with
// TCP_NODELAY (Go's default, for accepted connections too) it goes at once.
func TestTCPRuleNagle(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		t.Run("nagle", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
			require.NoError(t, s.SetNoDelay(false))
			writeNow(t, h, s, []byte("a"))
			assertSeg(t, p.one(t, "first"), "PA", sa.Seq+1, p.seq, "nothing in flight: sent")
			writeNow(t, h, s, []byte("b"))
			writeNow(t, h, s, []byte("c"))
			h.at(100 * time.Millisecond)
			assert.Empty(t, p.segs(), "held while 'a' is unacknowledged")
			p.ack = sa.Seq + 2
			p.send("A", nil)
			d := p.one(t, "held data")
			assertSeg(t, d, "PA", sa.Seq+2, p.seq, "sent on the ACK")
			assert.Equal(t, []byte("bc"), d.Payload)
		})
		t.Run("nodelay", func(t *testing.T) {
			h := newRuleHarness(t, mbuf, Config{})
			ln := listen80(t, h, 16)
			p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
			writeNow(t, h, s, []byte("a"))
			writeNow(t, h, s, []byte("b"))
			out := p.segs()
			require.Len(t, out, 2, "accepted connections default to TCP_NODELAY")
			assertSeg(t, out[1], "PA", sa.Seq+2, p.seq, "second write")
		})
	})
}

// RFC 9293 §3.9.1.2: PSH is set on the last segment of what the
// application wrote; a receiver delivers data whether PSH is set or not,
// and PSH does not make it acknowledge sooner (RFC 1122 §4.2.2.2 leaves
// that open; we follow Linux).
func TestTCPRulePSH(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		writeNow(t, h, s, bytesOf(3000, 'a'))
		out := p.segs()
		require.Len(t, out, 3)
		for i, f := range []string{"A", "A", "PA"} {
			assertSeg(t, out[i], f, sa.Seq+1+uint32(1460*i), p.seq, "segment")
		}
		assert.Len(t, out[2].Payload, 80)
		p.ack = sa.Seq + 3001
		p.sendData("A", []byte("no push"))
		p.sendData("PA", []byte("push"))
		assertSeg(t, p.one(t, "second segment"), "A", sa.Seq+3001, p.seq, "two segments: ACK")
		p.sendData("PA", []byte("!"))
		assert.Empty(t, p.segs(), "PSH alone does not hurry the ACK")
		h.at(40 * time.Millisecond)
		assertSeg(t, p.one(t, "delayed"), "A", sa.Seq+3001, p.seq, "delayed ACK")
		b, err := readNow(t, s, 100)
		require.NoError(t, err)
		assert.Equal(t, "no pushpush!", string(b))
	})
}

// RFC 1122 §4.2.3.2: a delayed ACK rides on data sent before the timer
// expires; then no separate ACK follows.
func TestTCPRuleDelayedACKRidesOnData(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460))
		p.sendData("PA", []byte("ping"))
		h.at(5 * time.Millisecond)
		writeNow(t, h, s, []byte("pong"))
		assertSeg(t, p.one(t, "reply"), "PA", sa.Seq+1, p.seq, "the reply acknowledges")
		h.at(40 * time.Millisecond)
		assert.Empty(t, p.segs(), "no ACK left owed")
	})
}

// RFC 6691 §2: the MSS leaves room only for the options every segment
// carries; a data segment that also carries SACK blocks, for out-of-order
// data the connection holds, must carry less payload or it does not fit
// the MTU. Linux shrinks it the same way (tcp_current_mss). Without this,
// a connection that loses data both ways sends nothing but segments the
// IP layer refuses, and both ends stall.
func TestTCPRuleDataSegmentsWithSACKBlocksFitTheMTU(t *testing.T) {
	for _, ts := range []bool{true, false} {
		name := map[bool]string{true: "timestamps", false: "no timestamps"}[ts]
		t.Run(name, func(t *testing.T) {
			h := newRuleHarness(t, false, Config{})
			ln := listen80(t, h, 16)
			opts := []layers.TCPOption{mssOpt(1460), sackPermOpt()}
			var tso []layers.TCPOption
			if ts {
				opts = append(opts, tsOpt(peerTS, 0))
				tso = append(tso, tsOpt(peerTS, 0))
			}
			p, sa, s := handshake(t, h, ln, 40000, opts...)
			require.NotNil(t, s)
			mss := 1460
			if ts {
				mss -= 12
			}
			base := p.seq
			sent := sa.Seq + 1
			for holes := 1; holes <= 4; holes++ {
				// One more out-of-order stretch, then data to send.
				p.seq = base + uint32(1000*holes)
				p.send("A", bytesOf(100, 'b'), tso...)
				sk := sackOf(p.one(t, "duplicate ACK"))
				blocks := min(holes, 4)
				if ts {
					blocks = min(holes, 3)
				}
				require.Len(t, sk, blocks)
				writeNow(t, h, s, bytesOf(3*mss, 'a'))
				out := p.segs()
				got := 0
				for i, o := range out {
					assert.Equal(t, sent+uint32(got), o.Seq, "%d holes: contiguous", holes)
					assert.Len(t, sackOf(o), blocks, "%d holes: the data carries the blocks", holes)
					assert.LessOrEqual(t, 20+int(o.DataOffset)*4+len(o.Payload), 1500, "%d holes: the packet fits the MTU", holes)
					if i < len(out)-1 {
						assert.Len(t, o.Payload, mss-4-8*blocks, "%d holes: a full segment", holes)
					}
					got += len(o.Payload)
				}
				require.Equal(t, 3*mss, got, "%d holes: all sent (%d segments)", holes, len(out))
				// Acknowledge what came, to open the window for the next round.
				sent += uint32(got)
				p.ack = sent
				p.seq = base
				p.send("A", nil, tso...)
				p.segs()
			}
			assert.Zero(t, h.s.Counters().IP.FragFails)
		})
	}
}

// RFC 2883: a segment the receiver already has is reported once, as the
// first SACK block of the ACK it triggers (a D-SACK); when the duplicate
// lies in out-of-order data held, the block holding it follows. The next
// ACK reports only what is held.
func TestTCPRuleDuplicateSegmentsReportedAsDSACK(t *testing.T) {
	modesT(t, func(t *testing.T, mbuf bool) {
		h := newRuleHarness(t, mbuf, Config{})
		ln := listen80(t, h, 16)
		p, sa, s := handshake(t, h, ln, 40000, mssOpt(1460), sackPermOpt(), tsOpt(peerTS, 0))
		require.NotNil(t, s)
		ts := tsOpt(peerTS, 0)
		base := p.seq
		p.send("A", bytesOf(100, 'a'), ts)
		h.at(500 * time.Millisecond)
		p.one(t, "in order: the delayed ACK")
		// A retransmission of what arrived: D-SACK of it, nothing else held.
		p.seq = base
		p.send("A", bytesOf(100, 'a'), ts)
		a := p.one(t, "ACK of the duplicate")
		assertSeg(t, a, "A", sa.Seq+1, base+100, "duplicate")
		assert.Equal(t, [][2]uint32{{base, base + 100}}, sackOf(a))
		// Half old, half new: the old half is the D-SACK.
		p.seq = base + 50
		p.send("A", bytesOf(100, 'b'), ts)
		a = p.one(t, "ACK of the partial duplicate")
		assertSeg(t, a, "A", sa.Seq+1, base+150, "partial")
		assert.Equal(t, [][2]uint32{{base + 50, base + 100}}, sackOf(a))
		// Out of order, then the same again: the D-SACK, then its block.
		p.seq = base + 1000
		p.send("A", bytesOf(100, 'c'), ts)
		a = p.one(t, "ACK of the out-of-order segment")
		assert.Equal(t, [][2]uint32{{base + 1000, base + 1100}}, sackOf(a))
		p.seq = base + 1000
		p.send("A", bytesOf(50, 'c'), ts)
		a = p.one(t, "ACK of the out-of-order duplicate")
		assert.Equal(t, [][2]uint32{{base + 1000, base + 1050}, {base + 1000, base + 1100}}, sackOf(a))
		p.seq = base + 2000
		p.send("A", bytesOf(100, 'd'), ts)
		a = p.one(t, "the next ACK")
		assert.Equal(t, [][2]uint32{{base + 2000, base + 2100}, {base + 1000, base + 1100}}, sackOf(a), "reported once")
	})
}
