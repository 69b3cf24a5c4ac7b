package pcapsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/capture"
	"github.com/ustack/ustack/stack"
)

// ConverseOptions configure a conversation replay.
type ConverseOptions struct {
	// In is the capture whose TCP conversations are played.
	In string
	// Addrs are the live stack's addresses: each conversation is played
	// against the first of its server's family. Empty: the stack takes
	// the servers' addresses of the capture.
	Addrs []netip.Prefix
	// Serve starts the services the conversations are played against, on
	// the live stack, before the first: listeners and in-core Apps (Echo,
	// Discard, HTTP), or, with Goroutines, servers on goroutines (an
	// http.Server with the user's handler) that stop when the stack closes.
	Serve func(s *stack.Stack) ([]App, error)
	// Goroutines plays against services on goroutines: the network is
	// driven as by Network.Drive with Wait (synctest.Wait inside a
	// testing/synctest bubble; nil outside one, in real time).
	Goroutines bool
	Wait       func()
	// Seed seeds the live stack (0 is taken as 1).
	Seed uint64
	// Out, when set, receives every frame of the replay (the player's and
	// the stack's) as a pcap with virtual timestamps.
	Out io.Writer
	// Patience is how long the player waits for the stack's answer
	// before it sends the client's next bytes anyway, and for the end of
	// a conversation (default 1s of virtual time).
	Patience time.Duration
	// Logger receives the stack's logs (default: none).
	Logger *slog.Logger
	// Progress, when set, is called after each conversation with how many
	// are done of how many.
	Progress func(done, total int)
}

// Report is what a conversation replay found.
type Report struct {
	Capture       string               `json:"capture"`
	Conversations []ConversationReport `json:"conversations"`
}

// ConversationReport compares one conversation of a capture with what the
// live stack answered when the client's side was played against it.
type ConversationReport struct {
	// Client and Server are the recorded endpoints; Live is the stack's
	// endpoint the client's side was played against.
	Client string `json:"client"`
	Server string `json:"server"`
	Live   string `json:"live"`
	// Record is the capture record (from 1) of the client's SYN.
	Record int `json:"record"`
	// ClientBytes the player sent; ExpectedBytes the recorded server
	// sent; SentBytes the stack sent.
	ClientBytes   int `json:"client_bytes"`
	ExpectedBytes int `json:"expected_bytes"`
	SentBytes     int `json:"sent_bytes"`
	// FirstDifference is the offset of the first byte where the stack's
	// answer and the recorded one differ, or where the shorter ends; -1
	// when they are the same.
	FirstDifference int `json:"first_difference"`
	// RecordedFlags and StackFlags are the server's answers in order,
	// SYN-ACK, data (a run of segments once), FIN and RST, with
	// client-FIN where the client closed: they differ where the stack
	// answers with other flags or closes in another order.
	RecordedFlags []string `json:"recorded_flags"`
	StackFlags    []string `json:"stack_flags"`
	// Differences say in words how the stack's answers differ from the
	// recording's, beyond the bytes; Skipped why a conversation was not
	// played.
	Differences []string `json:"differences,omitempty"`
	Skipped     string   `json:"skipped,omitempty"`
}

// Converse plays the client's side of each TCP conversation of a capture
// that begins with a SYN against a live stack's services, one after the
// other, on a simulated link on virtual time: the player sends the
// recorded client's bytes from the recorded client's address and port to
// the live stack's address on the server's port, with sequence and
// acknowledgment numbers that follow the stack's, each segment once the
// stack has answered as much as the recorded server had by then (or after
// Patience), and closes when the client did. The report compares the
// stack's answers with the recorded server's. The same capture, services
// and seed give the same report and the same output.
func Converse(ctx context.Context, o ConverseOptions) (Report, error) {
	rep := Report{Capture: o.In}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Patience <= 0 {
		o.Patience = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f, err := os.Open(o.In)
	if err != nil {
		return rep, fmt.Errorf("pcapsim: %w", err)
	}
	convs, err := readConversations(f, Config{Seed: o.Seed})
	f.Close()
	if err != nil {
		return rep, err
	}
	live, skip := liveAddrs(convs, o.Addrs)
	n := NewNetwork(NetworkConfig{Seed: o.Seed, Logger: o.Logger, Goroutines: o.Goroutines})
	var end int64 // of the current run, with Goroutines
	run := func(d time.Duration, done func() bool) error {
		if !o.Goroutines {
			_, err := n.RunUntil(d, done)
			if errors.Is(err, ErrIdle) {
				return nil
			}
			return err
		}
		end = n.Now() + int64(d)
		_, err := n.DriveUntil(ctx, o.Wait, func() bool { return n.Now() >= end || done != nil && done() })
		return err
	}
	if o.Goroutines {
		// Wakes the driver at the end of a run.
		n.AddApp(func(now int64) int64 {
			if now < end {
				return end
			}
			return 0
		})
	}
	var w *capture.Writer
	if o.Out != nil {
		if w, err = capture.NewWriter(o.Out); err != nil {
			return rep, fmt.Errorf("pcapsim: output: %w", err)
		}
	}
	link, err := n.NewLink(LinkConfig{Capture: w, QueueLimit: 4096})
	if err != nil {
		return rep, err
	}
	playerMAC := net.HardwareAddr{0x02, 0x70, 0x6c, 0x61, 0x79, 0x01}
	var neigh []Neighbor
	seen := map[netip.Addr]bool{}
	for _, c := range convs {
		if a := c.client.Addr(); !seen[a] && !c.noSYN {
			seen[a] = true
			neigh = append(neigh, Neighbor{Addr: a, MAC: playerMAC})
		}
	}
	// The stack's addresses in the order of the conversations: no map
	// order may reach what it sends.
	var prefixes []netip.Prefix
	for _, c := range convs {
		if p, ok := live[c.server.Addr()]; ok && !slices.Contains(prefixes, p) {
			prefixes = append(prefixes, p)
		}
	}
	if len(prefixes) == 0 {
		prefixes = []netip.Prefix{DefaultPrefix}
	}
	h, err := n.AddHost(HostConfig{
		Name:       "live",
		Interfaces: []HostInterface{{Link: link, Addrs: prefixes, Neighbors: neigh}},
		Routes:     onLinkDefaults(prefixes, "sim0"),
		Configure: func(c *stack.Config) {
			c.Seed = o.Seed
			c.IPv6 = stack.IPv6Config{DADTransmits: -1, RouterSolicitations: -1}
		},
	})
	if err != nil {
		return rep, err
	}
	p, err := n.attachRaw(link, playerMAC)
	if err != nil {
		n.Close()
		return rep, err
	}
	if o.Serve != nil {
		apps, err := o.Serve(h.Stack)
		if err != nil {
			n.Close()
			return rep, err
		}
		for _, a := range apps {
			n.AddApp(a)
		}
	}
	pl := &player{port: p, stackMAC: h.ports[0].caps.MAC, patience: int64(o.Patience)}
	n.AddApp(pl.run)
	for _, c := range convs {
		r := ConversationReport{
			Client: c.client.String(), Server: c.server.String(), Record: c.record,
			ExpectedBytes: len(c.ss.data), RecordedFlags: nonNil(c.flags), StackFlags: []string{},
			FirstDifference: -1,
		}
		la, ok := live[c.server.Addr()]
		isLive := func(a netip.Addr) bool {
			_, ok := live[a]
			return ok || a == la.Addr()
		}
		switch {
		case c.noSYN:
			r.Skipped = "the capture begins after the conversation's SYN"
		case !ok:
			r.Skipped = skip
		case isLive(c.client.Addr()):
			r.Skipped = "the client has the live stack's address"
		}
		if r.Skipped != "" {
			rep.Conversations = append(rep.Conversations, r)
			continue
		}
		r.Live = netip.AddrPortFrom(la.Addr(), c.server.Port()).String()
		pl.start(c, netip.AddrPortFrom(la.Addr(), c.server.Port()), n.Now())
		if err := run(time.Hour, pl.finished); err != nil {
			n.Close()
			return rep, err
		}
		if err := ctx.Err(); err != nil {
			n.Close()
			return rep, err
		}
		pl.report(&r)
		rep.Conversations = append(rep.Conversations, r)
		if o.Progress != nil {
			o.Progress(len(rep.Conversations), len(convs))
		}
	}
	// Let the stack finish its closes before it is checked for leaks.
	err = run(o.Patience, nil)
	if cerr := n.Close(); err == nil {
		err = cerr
	}
	if w != nil {
		if werr := w.Close(); werr != nil && err == nil {
			err = fmt.Errorf("pcapsim: output: %w", werr)
		}
	}
	return rep, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// liveAddrs maps each server address of the conversations to the live
// stack's address it is played against, and says why the others are not.
func liveAddrs(convs []*conversation, addrs []netip.Prefix) (map[netip.Addr]netip.Prefix, string) {
	live := map[netip.Addr]netip.Prefix{}
	// A host is the stack or the player, as its first conversation has
	// it: the stack would take the player's segments for its own.
	players := map[netip.Addr]bool{}
	for _, c := range convs {
		if c.noSYN {
			continue
		}
		a := c.server.Addr()
		if _, ok := live[a]; !ok && !players[c.client.Addr()] {
			players[c.client.Addr()] = true
		}
		if _, ok := live[a]; ok {
			continue
		}
		if len(addrs) == 0 {
			if isHostAddr(a) && !players[a] {
				bits := 32
				if a.Is6() {
					bits = 128
				}
				live[a] = netip.PrefixFrom(a, bits)
			}
			continue
		}
		for _, p := range addrs {
			if p.Addr().Is4() == a.Is4() {
				live[a] = p
				break
			}
		}
	}
	if len(addrs) == 0 {
		return live, "the server's address is not a unicast host address, or the player's"
	}
	return live, "the live stack has no address of the server's family"
}

// player plays the client's side of one conversation at a time on a raw
// attachment: a small TCP sender that trusts the link (no losses on a
// simulated one) and acknowledges every segment at once.
type player struct {
	port     *port
	stackMAC net.HardwareAddr
	patience int64

	c              *conversation
	local, remote  netip.AddrPort
	state          int
	sndNxt, sndUna uint32
	sndWnd         uint32
	mss            int
	rcvNxt         uint32
	got            []byte // the stack's bytes, up to maxStream
	gotN           int    // all of them
	flags          []string
	next           int // client bytes sent
	finSent        bool
	stackFin       bool
	reset          bool
	last           int64 // the last progress
	ended          bool
	notes          []string
}

const (
	plSynSent = iota + 1
	plEstablished
)

func (pl *player) start(c *conversation, remote netip.AddrPort, now int64) {
	*pl = player{port: pl.port, stackMAC: pl.stackMAC, patience: pl.patience}
	pl.c, pl.local, pl.remote = c, c.client, remote
	pl.sndNxt, pl.sndUna = c.clientISN, c.clientISN
	pl.state, pl.last, pl.mss = plSynSent, now, 536
	pl.send(layers.TCP{SYN: true, Window: 65535, Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}}, nil)
	pl.sndNxt++
}

func (pl *player) finished() bool { return pl.ended }

// run is the player's App.
func (pl *player) run(now int64) int64 {
	if pl.c == nil || pl.ended {
		pl.drain()
		return 0
	}
	pl.receive(now)
	if pl.state == plEstablished && !pl.reset {
		pl.transmit(now)
	}
	idle := now - pl.last
	switch {
	case pl.reset:
		pl.ended = true
	case pl.finSent && pl.sndUna == pl.sndNxt && pl.stackFin:
		pl.ended = true
	case pl.gotN > len(pl.c.ss.data)+maxStream:
		pl.notes = append(pl.notes, fmt.Sprintf("the stack sent more than %d bytes beyond the recording's; the player stopped listening", maxStream))
		pl.ended = true
	case idle >= 5*pl.patience:
		if pl.state == plSynSent {
			pl.notes = append(pl.notes, "the stack did not answer the SYN")
		}
		pl.ended = true
	}
	if pl.ended {
		return 0
	}
	return pl.last + pl.patience*(1+idle/pl.patience)
}

// drain releases what arrives between conversations.
func (pl *player) drain() {
	var fs [32]*backend.Frame
	for {
		n, _ := pl.port.Recv(0, fs[:])
		if n == 0 {
			return
		}
		backend.Release(fs[:n])
	}
}

func (pl *player) receive(now int64) {
	var fs [32]*backend.Frame
	for {
		n, _ := pl.port.Recv(0, fs[:])
		if n == 0 {
			return
		}
		for _, f := range fs[:n] {
			pl.input(f.AppendTo(nil), now)
		}
		backend.Release(fs[:n])
	}
}

func (pl *player) input(fr []byte, now int64) {
	pkt := gopacket.NewPacket(fr, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true, Lazy: true})
	tl, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	nl := pkt.NetworkLayer()
	if tl == nil || nl == nil {
		return
	}
	src, _ := netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
	dst, _ := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
	if netip.AddrPortFrom(src, uint16(tl.SrcPort)) != pl.remote || netip.AddrPortFrom(dst, uint16(tl.DstPort)) != pl.local {
		return
	}
	pl.last = now
	if tl.RST {
		pl.flag("RST")
		pl.reset = true
		return
	}
	if tl.ACK && seqGT(tl.Ack, pl.sndUna) && !seqGT(tl.Ack, pl.sndNxt) {
		pl.sndUna = tl.Ack
	}
	pl.sndWnd = uint32(tl.Window)
	if pl.state == plSynSent {
		if !tl.SYN || !tl.ACK {
			return
		}
		pl.flag("SYN-ACK")
		pl.rcvNxt = tl.Seq + 1
		for _, o := range tl.Options {
			if o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2 {
				pl.mss = int(binary.BigEndian.Uint16(o.OptionData))
			}
		}
		pl.state = plEstablished
		pl.ack()
		return
	}
	if tl.SYN {
		pl.ack()
		return
	}
	if len(tl.Payload) > 0 {
		if tl.Seq == pl.rcvNxt {
			if len(pl.got) < maxStream {
				pl.got = append(pl.got, tl.Payload[:min(len(tl.Payload), maxStream-len(pl.got))]...)
			}
			pl.gotN += len(tl.Payload)
			pl.rcvNxt += uint32(len(tl.Payload))
			pl.flag("data")
		}
		defer pl.ack()
	}
	if tl.FIN && tl.Seq+uint32(len(tl.Payload)) == pl.rcvNxt && !pl.stackFin {
		pl.stackFin = true
		pl.rcvNxt++
		pl.flag("FIN")
		pl.ack()
	}
}

func (pl *player) flag(f string) {
	if n := len(pl.flags); f == "data" && n > 0 && pl.flags[n-1] == "data" {
		return
	}
	pl.flags = append(pl.flags, f)
}

// transmit sends the client's bytes the stack has earned, within its
// window, then the client's FIN.
func (pl *player) transmit(now int64) {
	c := pl.c
	waited := now-pl.last >= pl.patience
	for _, ch := range c.chunks {
		if ch.off+ch.n <= pl.next {
			continue
		}
		if pl.gotN < ch.mark && !pl.stackFin && !waited {
			return
		}
		for pl.next < ch.off+ch.n {
			inFlight := int(pl.sndNxt - pl.sndUna)
			room := int(pl.sndWnd) - inFlight
			n := min(ch.off+ch.n-pl.next, pl.mss, room)
			if n <= 0 {
				return
			}
			pl.send(layers.TCP{ACK: true, PSH: pl.next+n == ch.off+ch.n}, c.cs.data[pl.next:pl.next+n])
			pl.sndNxt += uint32(n)
			pl.next += n
			pl.last = now
		}
	}
	if c.clientFin && !pl.finSent && (pl.gotN >= c.finMark || pl.stackFin || waited) {
		pl.send(layers.TCP{ACK: true, FIN: true}, nil)
		pl.sndNxt++
		pl.finSent = true
		pl.flag("client-FIN")
		pl.last = now
	}
}

func (pl *player) ack() { pl.send(layers.TCP{ACK: true}, nil) }

// send puts a segment from the client to the stack on the link.
func (pl *player) send(tcp layers.TCP, payload []byte) {
	tcp.SrcPort, tcp.DstPort = layers.TCPPort(pl.local.Port()), layers.TCPPort(pl.remote.Port())
	tcp.Seq = pl.sndNxt
	if tcp.ACK {
		tcp.Ack = pl.rcvNxt
	}
	if tcp.Window == 0 {
		tcp.Window = 65535
	}
	var netl gopacket.SerializableLayer
	e := &layers.Ethernet{SrcMAC: pl.port.caps.MAC, DstMAC: pl.stackMAC, EthernetType: layers.EthernetTypeIPv4}
	if pl.local.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: pl.local.Addr().AsSlice(), DstIP: pl.remote.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip)
		netl = ip
	} else {
		e.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: pl.local.Addr().AsSlice(), DstIP: pl.remote.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip)
		netl = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, e, netl, &tcp, gopacket.Payload(payload)); err != nil {
		pl.notes = append(pl.notes, "the player could not build a segment: "+err.Error())
		return
	}
	b := buf.Bytes()
	f := pl.port.pool.AllocOne(len(b))
	if f == nil {
		pl.notes = append(pl.notes, "the player ran out of buffers")
		return
	}
	f.SetLen(len(b))
	f.CopyFrom(b, 0)
	one := []*backend.Frame{f}
	pl.port.Send(0, one)
}

// report fills r with what the player saw.
func (pl *player) report(r *ConversationReport) {
	c := pl.c
	r.ClientBytes = pl.next
	r.SentBytes = pl.gotN
	r.StackFlags = nonNil(pl.flags)
	want := c.ss.data
	for i := range min(len(want), len(pl.got)) {
		if want[i] != pl.got[i] {
			r.FirstDifference = i
			break
		}
	}
	if r.FirstDifference < 0 && len(want) != pl.gotN {
		r.FirstDifference = min(len(want), pl.gotN)
	}
	r.Differences = append(r.Differences, pl.notes...)
	if pl.next < len(c.cs.data) {
		r.Differences = append(r.Differences, fmt.Sprintf("the player sent %d of the client's %d bytes", pl.next, len(c.cs.data)))
	}
	if strings.Join(c.flags, " ") != strings.Join(pl.flags, " ") {
		r.Differences = append(r.Differences, fmt.Sprintf("the recorded server answered %s; the stack %s", words(c.flags), words(pl.flags)))
	}
	if r.FirstDifference >= 0 {
		r.Differences = append(r.Differences, fmt.Sprintf("the stack sent %d bytes where the recorded server sent %d; they differ from byte %d", pl.gotN, len(want), r.FirstDifference))
	}
}

func words(flags []string) string {
	if len(flags) == 0 {
		return "nothing"
	}
	return strings.Join(flags, ", ")
}

// seqGT is a > b in sequence space (RFC 9293 §3.4).
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }
