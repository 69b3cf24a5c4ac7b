package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ustack/ustack/backend"
	"github.com/ustack/ustack/stack/services"
)

func runGet(args []string, stdout, stderr io.Writer) (retErr error) {
	fs := newFlags("get", stderr)
	var f stackFlags
	f.register(fs)
	f.logLevel = "warn"
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	method := fs.String("method", "GET", "HTTP method: GET, or POST with --data-size")
	dataSize := fs.String("data-size", "", "POST this many pseudo-random bytes (e.g. 100MiB)")
	caFile := fs.String("cacert", "", "PEM file of the certificate authorities an https server's certificate must come from (default: the system's)")
	output := fs.String("output", "", "write the body to this file, or to standard output with - (sha256 and bytes then go to standard error)")
	// The URL is the one argument with a scheme, wherever it stands.
	var rawURL string
	rest := args[:0:0]
	for _, a := range args {
		if rawURL == "" && strings.Contains(a, "://") {
			rawURL = a
			continue
		}
		rest = append(rest, a)
	}
	args = rest
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if rawURL == "" {
		fmt.Fprintln(stderr, "ustack get: missing URL, e.g. ustack get --addr 10.0.0.2/24 http://10.0.0.1/")
		return errUsage
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q: want http://HOST[:PORT]/PATH or https://", rawURL)
	}
	if err := f.load(fs); err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("--cacert: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--cacert %s: no PEM certificate in it", *caFile)
		}
		tlsConfig = &tls.Config{RootCAs: roots}
	}
	var body io.Reader
	var bodyLen int64
	switch *method {
	case "GET":
	case "POST":
		n, err := parseSize(*dataSize)
		if err != nil {
			return fmt.Errorf("--data-size %q: %v", *dataSize, err)
		}
		body, bodyLen = newBytesReader(n), n
	default:
		return fmt.Errorf("--method %q: want GET or POST", *method)
	}
	// The body's file is made before the device opens, so that a path
	// that cannot be written is refused first, as a bad flag is.
	var file *os.File
	if *output != "" && *output != "-" {
		if file, err = os.Create(*output); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		defer file.Close()
	}
	// SIGINT and SIGTERM end the fetch rather than the process, so that
	// the device closes first: DPDK's EAL then leaves no runtime files.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	s, _, stop, err := f.start(stderr)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	// A device that goes away ends the fetch with its error.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	go func() {
		select {
		case <-s.Failed():
			fail(s.Err())
		case got := <-sig:
			fail(fmt.Errorf("%w by %v", errInterrupted, got))
		case <-ctx.Done():
		}
	}()
	defer func() {
		if cause := context.Cause(ctx); retErr != nil && (errors.Is(cause, backend.ErrGone) || errors.Is(cause, errInterrupted)) {
			retErr = cause
		}
	}()
	if f.addrs.dhcp {
		if _, err := s.WaitLease(ctx); err != nil {
			return fmt.Errorf("--addr dhcp: no lease: %w", err)
		}
	}
	// IPv6 addresses are tentative for a second after start.
	if err := s.WaitAddresses(ctx); err != nil {
		return fmt.Errorf("--addr: IPv6 addresses still tentative: %w", err)
	}
	var servers []netip.AddrPort
	if f.dns != "" {
		server, _ := dnsServer(f.dns)
		servers = append(servers, server)
	}
	resolver := s.Resolver(servers...)
	// An IPv6 destination may need what routers advertise (SLAAC or
	// DHCPv6 addresses, routes), which comes after start. Without a route
	// in time, the dial says the network is unreachable.
	waitRoute := func(ctx context.Context, ip netip.Addr) {
		if ip.Is6() && !ip.Is4In6() {
			wctx, cancel := context.WithTimeout(ctx, routeWait)
			_ = s.WaitRoute(wctx, ip)
			cancel()
		}
	}
	dialIP := func(ctx context.Context, network string, ip netip.Addr, port string) (net.Conn, error) {
		waitRoute(ctx, ip)
		return s.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			return dialIP(ctx, network, ip, port)
		}
		if len(servers) == 0 {
			// Routers' advertisements or DHCPv6 may bring one soon.
			wctx, cancel := context.WithTimeout(ctx, dnsWait)
			err := s.WaitDNS(wctx)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%s is a host name and no DNS server came in %v: give --dns SERVER, or --addr dhcp, to resolve it through the stack", host, dnsWait)
			}
		}
		ips, err := resolver.LookupNetIP(ctx, "ip", host)
		if de := (*net.DNSError)(nil); errors.As(err, &de) {
			// Go names the host's resolv.conf server, which the stack's
			// resolver does not ask; the error below it names the one
			// it asked.
			de.Server = ""
		}
		if err != nil {
			return nil, err
		}
		// Each address in turn, as net.Dialer does.
		var first error
		for _, ip := range ips {
			c, err := dialIP(ctx, network, ip.Unmap(), port)
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
	// TLS runs over the stack's connection, like any net.Conn.
	tr := &http.Transport{DialContext: dial, DisableCompression: true, TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, *method, u.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = bodyLen
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		// Before the clock starts for the rate.
		waitRoute(ctx, ip)
	}
	start := time.Now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	h := sha256.New()
	var dst io.Writer = h
	summary := stdout
	out := &erringWriter{}
	switch {
	case *output == "-":
		out.w, summary = stdout, stderr
	case file != nil:
		out.w = file
	}
	if out.w != nil {
		dst = io.MultiWriter(h, out)
	}
	n, err := io.CopyBuffer(dst, resp.Body, make([]byte, 256<<10))
	if out.err != nil {
		return fmt.Errorf("--output %s: %w", *output, out.err)
	}
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	elapsed := time.Since(start)
	if file != nil {
		if err := file.Close(); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
	}
	fmt.Fprintf(summary, "sha256 %s\n", hex.EncodeToString(h.Sum(nil)))
	fmt.Fprintf(summary, "bytes %d\n", n)
	fmt.Fprintf(stderr, "%s %s: %s, %.1f Mbit/s\n", *method, u, resp.Status, float64(n+bodyLen)*8/elapsed.Seconds()/1e6)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %s", *method, u, resp.Status)
	}
	return nil
}

// errInterrupted ends a fetch stopped by a signal.
var errInterrupted = errors.New("interrupted")

func newBytesReader(n int64) io.Reader { return services.NewBytes(n) }

// erringWriter is --output's writer, which remembers its first error, so
// that a full disk is not taken for a broken download.
type erringWriter struct {
	w   io.Writer
	err error
}

func (e *erringWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// routeWait bounds how long get waits for a route to an IPv6 destination:
// a router answers the stack's solicitations within seconds (RFC 4861
// §6.3.7: three, 4 s apart), and SLAAC or DHCPv6 then take a second or
// two for an address.
const routeWait = 15 * time.Second

// dnsWait bounds how long get waits for a DNS server to resolve a name
// when none was given: routers that give one answer a solicitation at
// once, and DHCPv6 takes a second or two more.
const dnsWait = 5 * time.Second
