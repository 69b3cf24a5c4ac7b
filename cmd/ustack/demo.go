package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/backend/faults"
	"github.com/ustack/ustack/backend/pipe"
	"github.com/ustack/ustack/stack"
	"github.com/ustack/ustack/stack/services"
	"github.com/ustack/ustack/stack/wire"
)

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	size := fs.String("size", "64MiB", "bytes to transfer over HTTP (suffixes KiB, MiB, GiB)")
	faultSpec := fs.String("faults", "", "faults on the client's link, e.g. loss=0.01,corrupt=0.001,delay=1ms~200us")
	seed := fs.Uint64("seed", 1, "seed of the stacks and the fault injection")
	mtu := fs.Int("mtu", 1500, "link MTU")
	mbuf := fs.Bool("mbuf", false, "DPDK-shaped memory: 2 KiB buffers from a bounded pool, chained")
	offload := fs.Bool("offload", true, "virtio-like offloads on the link (checksum, TSO)")
	level := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	n, err := parseSize(*size)
	if err != nil {
		return fmt.Errorf("--size %q: %v", *size, err)
	}
	spec, err := faults.Parse(*faultSpec)
	if err != nil {
		return fmt.Errorf("--faults: %v", err)
	}
	lvl, err := logLevel(*level)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	clock := backend.NewRealClock()
	ea, eb, err := pipe.New(pipe.Config{MTU: *mtu, Mbuf: *mbuf, Offloads: *offload, Clock: clock})
	if err != nil {
		return err
	}
	var client backend.Backend = ea
	if !spec.IsZero() {
		if client, err = faults.Wrap(ea, spec, *seed, clock); err != nil {
			return err
		}
	}
	addrA, addrB := netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("10.0.0.2/24")
	a, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Name: "a", Backend: client, Addrs: []netip.Prefix{addrA}}}, Seed: *seed, Clock: clock, Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := stack.New(stack.Config{Interfaces: []stack.InterfaceConfig{{Name: "b", Backend: eb, Addrs: []netip.Prefix{addrB}}}, Seed: *seed + 1, Clock: clock, Logger: log})
	if err != nil {
		return err
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	fmt.Fprintf(stdout, "link: mtu %d, offloads %v, mbuf %v, faults %q, seed %d\n", *mtu, *offload, *mbuf, spec.String(), *seed)

	if err := demoPing(ctx, a, addrB.Addr(), stdout); err != nil {
		return err
	}
	if err := demoUDP(ctx, a, b, addrB.Addr(), stdout); err != nil {
		return err
	}
	return demoHTTP(ctx, a, b, addrB.Addr(), n, stdout)
}

// demoPing sends echo requests until three are answered.
func demoPing(ctx context.Context, a *stack.Stack, dst netip.Addr, stdout io.Writer) error {
	c, err := a.ListenPacket("ip4:icmp", "")
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	got := 0
	for seq := uint16(1); got < 3; seq++ {
		if ctx.Err() != nil {
			return fmt.Errorf("ping %v: no replies", dst)
		}
		msg := make([]byte, wire.ICMPv4HeaderLen+56)
		m := wire.ICMPv4(msg)
		m.SetType(wire.ICMPv4Echo)
		m.SetEcho(0x7573, seq)
		m.SetChecksum(m.ComputeChecksum())
		start := time.Now()
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			r := wire.ICMPv4(buf[:n])
			if r.Check() == nil && r.Type() == wire.ICMPv4EchoReply && r.EchoSeq() == seq {
				got++
				fmt.Fprintf(stdout, "ping %v: seq %d time %v\n", dst, seq, time.Since(start).Round(time.Microsecond))
				break
			}
		}
	}
	return nil
}

// demoUDP echoes numbered datagrams: with faults some are lost, but every
// one that comes back must be intact.
func demoUDP(ctx context.Context, a, b *stack.Stack, dst netip.Addr, stdout io.Writer) error {
	srv, err := b.ListenPacket("udp", ":7")
	if err != nil {
		return err
	}
	defer srv.Close()
	go services.UDPEcho(srv)
	c, err := a.DialContext(ctx, "udp", netip.AddrPortFrom(dst, 7).String())
	if err != nil {
		return err
	}
	defer c.Close()
	const count = 200
	sent, back := 0, 0
	buf := make([]byte, 2048)
	for i := range count {
		msg := make([]byte, 1000)
		for j := range msg {
			msg[j] = byte(i + j)
		}
		sum := sha256.Sum256(msg[32:])
		copy(msg, sum[:])
		if _, err := c.Write(msg); err != nil {
			return err
		}
		sent++
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			continue
		}
		if s := sha256.Sum256(buf[32:n]); n != len(msg) || string(s[:]) != string(buf[:32]) {
			return fmt.Errorf("udp: datagram %d came back corrupted", i)
		}
		back++
	}
	fmt.Fprintf(stdout, "udp echo: %d sent, %d back intact, %d lost\n", sent, back, sent-back)
	return nil
}

// demoHTTP serves /bytes/N on b and fetches it from a.
func demoHTTP(ctx context.Context, a, b *stack.Stack, dst netip.Addr, n int64, stdout io.Writer) error {
	ln, err := b.Listen("tcp", ":80")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: services.HTTP("")}
	go srv.Serve(ln)
	defer srv.Close()
	tr := &http.Transport{DialContext: a.DialContext}
	defer tr.CloseIdleConnections()
	url := fmt.Sprintf("http://%v/bytes/%d", dst, n)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	h := sha256.New()
	got, err := io.CopyBuffer(h, resp.Body, make([]byte, 256<<10))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	elapsed := time.Since(start)
	sum := hex.EncodeToString(h.Sum(nil))
	fmt.Fprintf(stdout, "sha256 %s\n", sum)
	fmt.Fprintf(stdout, "bytes %d in %v: %.2f Gbit/s\n", got, elapsed.Round(time.Millisecond), float64(got)*8/elapsed.Seconds()/1e9)
	if want := resp.Header.Get("X-Sha256"); want != sum || got != n {
		return errors.New("digest mismatch: the transfer was corrupted")
	}
	fmt.Fprintln(stdout, "digests match")
	return nil
}

// parseSize parses a byte count with an optional binary suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if len(s) > len(u.suffix) && s[len(s)-len(u.suffix):] == u.suffix {
			s, mult = s[:len(s)-len(u.suffix)], u.m
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, errors.New("want a non-negative byte count such as 64MiB")
	}
	return v * mult, nil
}
