package pcapsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack"
)

// serveHTTPAndEcho are the in-core HTTP service on port 80 and echo on 7.
func serveHTTPAndEcho(s *stack.Stack) ([]App, error) {
	var apps []App
	for _, svc := range []struct {
		port  string
		serve func(ln net.Listener) (App, error)
	}{{":80", HTTP}, {":7", Echo}} {
		ln, err := s.Listen("tcp", svc.port)
		if err != nil {
			return nil, err
		}
		app, err := svc.serve(ln)
		if err != nil {
			return nil, err
		}
		apps = append(apps, app)
	}
	return apps, nil
}

// Conversations of HTTP captures of the corpus played against the
// in-core HTTP service: the reports are kept in testdata as golden files,
// and a second replay gives the same report and the same frames.
func TestConverseGoldenReports(t *testing.T) {
	dir := corpusDir(t)
	for _, name := range []string{"zeek/http-vlan-0.pcap", "zeek/tcp/tcp-fast-open.pcap", "zeek/chksums/localhost-bad-chksum.pcap"} {
		t.Run(name, func(t *testing.T) {
			run := func() ([]byte, []byte) {
				var out bytes.Buffer
				rep, err := Converse(context.Background(), ConverseOptions{In: filepath.Join(dir, name), Serve: serveHTTPAndEcho, Out: &out})
				require.NoError(t, err)
				rep.Capture = name
				js, err := json.MarshalIndent(rep, "", "  ")
				require.NoError(t, err)
				return append(js, '\n'), out.Bytes()
			}
			js, frames := run()
			js2, frames2 := run()
			require.Equal(t, string(js), string(js2))
			require.Equal(t, frames, frames2)
			golden := filepath.Join("testdata", "converse", strings.ReplaceAll(name, "/", "_")+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, js, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run with -update to write the golden report")
			require.Equal(t, string(want), string(js))
		})
	}
}

// echoConversation is a client's echo session with a server on port: two
// lines echoed, then the client closes and the server follows.
func echoConversation(t testing.TB, port uint16) []byte {
	return conversationCapture(t, port, false, [][2]string{{"hello\n", "hello\n"}, {"world\n", "world\n"}})
}

// httpConversation is a GET answered by a Go net/http server.
func httpConversation(t testing.TB) []byte {
	return conversationCapture(t, 80, false, [][2]string{{
		"GET /hello HTTP/1.1\r\nHost: 10.0.0.1\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nDate: Sat, 01 Jan 2000 00:00:00 GMT\r\nContent-Length: 13\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello, world\n",
	}})
}

// conversationCapture is a client's session with a server on port, over
// IPv4 or IPv6: each exchange a request and its answer, then the client
// closes and the server follows.
func conversationCapture(t testing.TB, port uint16, v6 bool, exchanges [][2]string) []byte {
	return pcapBytes(t, linkEthernet, false, conversationRecords(t, port, v6, exchanges))
}

// conversationRecords are conversationCapture's records.
func conversationRecords(t testing.TB, port uint16, v6 bool, exchanges [][2]string) []rec {
	const cISN, sISN = 1000, 5000
	seg := func(fromClient bool, seq, ack uint32, flags string, data string) []byte {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(port), Seq: seq, Ack: ack, Window: 64240,
			SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F"), PSH: data != ""}
		client, server, src, dst := peerIP, hostIP, peerMAC, hostMAC
		if v6 {
			client, server = peer6IP, host6IP
		}
		if !fromClient {
			tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
			client, server, src, dst = server, client, dst, src
		}
		if v6 {
			ip := ip6(client, server, layers.IPProtocolTCP)
			tcp.SetNetworkLayerForChecksum(ip)
			return serialize(t, eth(src, dst, layers.EthernetTypeIPv6), ip, tcp, gopacket.Payload(data))
		}
		ip := ip4(client, server, layers.IPProtocolTCP)
		tcp.SetNetworkLayerForChecksum(ip)
		return ethIPv4(t, src, dst, ip, tcp, gopacket.Payload(data))
	}
	ms := 0
	var recs []rec
	add := func(b []byte) {
		recs = append(recs, rec{at: t0.Add(time.Duration(ms) * time.Millisecond), data: b})
		ms++
	}
	c, s := uint32(cISN+1), uint32(sISN+1)
	add(seg(true, cISN, 0, "S", ""))
	add(seg(false, sISN, c, "SA", ""))
	add(seg(true, c, s, "A", ""))
	for _, x := range exchanges {
		add(seg(true, c, s, "A", x[0]))
		c += uint32(len(x[0]))
		add(seg(false, s, c, "A", x[1]))
		s += uint32(len(x[1]))
	}
	add(seg(true, c, s, "FA", ""))
	add(seg(false, s, c+1, "FA", ""))
	add(seg(true, c+1, s+1, "A", ""))
	return recs
}

// atomicFragment is frame, an Ethernet frame of an IPv6 packet without
// extension headers, with a Fragment header of offset 0 and no more
// fragments (RFC 6946) after its IPv6 header.
func atomicFragment(frame []byte) []byte {
	const ip = 14
	out := append(bytes.Clone(frame[:ip+40]), frame[ip+6], 0, 0, 0, 0, 0, 0, 1)
	out = append(out, frame[ip+40:]...)
	out[ip+6] = 44
	binary.BigEndian.PutUint16(out[ip+4:], binary.BigEndian.Uint16(frame[ip+4:])+8)
	return out
}

func TestConverseEcho(t *testing.T) {
	converse := func(t *testing.T, capture []byte, addrs ...netip.Prefix) ConversationReport {
		path := filepath.Join(t.TempDir(), "echo.pcap")
		require.NoError(t, os.WriteFile(path, capture, 0o644))
		rep, err := Converse(context.Background(), ConverseOptions{In: path, Serve: serveHTTPAndEcho, Addrs: addrs})
		require.NoError(t, err)
		require.Len(t, rep.Conversations, 1)
		return rep.Conversations[0]
	}
	t.Run("the capture in testdata is this one", func(t *testing.T) {
		// cmd/ustack's tests and the examples play them.
		for name, capture := range map[string][]byte{"converse-echo.pcap": echoConversation(t, 7), "converse-http.pcap": httpConversation(t)} {
			path := filepath.Join("testdata", name)
			if *update {
				require.NoError(t, os.WriteFile(path, capture, 0o644))
			}
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, capture, b, name)
		}
	})
	t.Run("the stack answers as the recording", func(t *testing.T) {
		r := converse(t, echoConversation(t, 7))
		assert.Equal(t, ConversationReport{
			Client: "10.0.0.2:40000", Server: "10.0.0.1:7", Live: "10.0.0.1:7", Record: 1,
			ClientBytes: 12, ExpectedBytes: 12, SentBytes: 12, FirstDifference: -1,
			RecordedFlags: []string{"SYN-ACK", "data", "client-FIN", "FIN"},
			StackFlags:    []string{"SYN-ACK", "data", "client-FIN", "FIN"},
		}, r)
	})
	t.Run("over IPv6", func(t *testing.T) {
		r := converse(t, conversationCapture(t, 7, true, [][2]string{{"hello\n", "hello\n"}}))
		assert.Equal(t, "[2001:db8::1]:7", r.Live)
		assert.Equal(t, -1, r.FirstDifference)
		assert.Empty(t, r.Differences)
	})
	t.Run("segments as IPv6 atomic fragments", func(t *testing.T) {
		recs := conversationRecords(t, 7, true, [][2]string{{"hello\n", "hello\n"}})
		for i := range recs {
			recs[i].data = atomicFragment(recs[i].data)
		}
		r := converse(t, pcapBytes(t, linkEthernet, false, recs))
		assert.Equal(t, "[2001:db8::1]:7", r.Live)
		assert.Equal(t, 6, r.ClientBytes)
		assert.Equal(t, -1, r.FirstDifference)
		assert.Empty(t, r.Differences)
	})
	t.Run("the SYN-ACK recorded before its SYN", func(t *testing.T) {
		recs := conversationRecords(t, 7, false, [][2]string{{"hello\n", "hello\n"}})
		recs[0].data, recs[1].data = recs[1].data, recs[0].data
		r := converse(t, pcapBytes(t, linkEthernet, false, recs))
		assert.Empty(t, r.Skipped)
		assert.Equal(t, "10.0.0.2:40000", r.Client)
		assert.Equal(t, []string{"SYN-ACK", "data", "client-FIN", "FIN"}, r.RecordedFlags)
		assert.Equal(t, -1, r.FirstDifference)
		assert.Empty(t, r.Differences)
	})
	t.Run("rewritten to the live stack's address", func(t *testing.T) {
		r := converse(t, echoConversation(t, 7), netip.MustParsePrefix("192.0.2.10/24"))
		assert.Equal(t, "192.0.2.10:7", r.Live)
		assert.Equal(t, -1, r.FirstDifference)
		assert.Empty(t, r.Differences)
	})
	t.Run("begun before the capture", func(t *testing.T) {
		// The capture without its SYN and SYN-ACK records.
		full := echoConversation(t, 7)
		first := 24 + 16 + int(binary.LittleEndian.Uint32(full[24+8:]))
		second := first + 16 + int(binary.LittleEndian.Uint32(full[first+8:]))
		r := converse(t, append(bytes.Clone(full[:24]), full[second:]...))
		assert.Equal(t, "10.0.0.2:40000", r.Client)
		assert.Equal(t, "10.0.0.1:7", r.Server)
		assert.Equal(t, "the capture begins after the conversation's SYN", r.Skipped)
	})
	t.Run("no service on the port", func(t *testing.T) {
		r := converse(t, echoConversation(t, 9))
		assert.Equal(t, []string{"RST"}, r.StackFlags)
		assert.Equal(t, 0, r.FirstDifference)
		assert.Contains(t, r.Differences, "the recorded server answered SYN-ACK, data, client-FIN, FIN; the stack RST")
	})
}

// Every capture of the corpus plays its conversations against the
// in-core services without an error or a leaked buffer, and twice alike.
func TestConverseCorpus(t *testing.T) {
	dir, files := corpusFiles(t)
	convs := 0
	for _, name := range files {
		path := filepath.Join(dir, name)
		run := func() (Report, []byte, error) {
			var out bytes.Buffer
			rep, err := Converse(context.Background(), ConverseOptions{In: path, Serve: serveHTTPAndEcho, Out: &out})
			return rep, out.Bytes(), err
		}
		rep, out, err := run()
		var lt *LinkTypeError
		if errors.As(err, &lt) {
			continue
		}
		require.NoError(t, err, name)
		rep2, out2, err := run()
		require.NoError(t, err, name)
		require.Equal(t, rep, rep2, name)
		require.True(t, bytes.Equal(out, out2), "%s: the same replay twice gives other frames", name)
		convs += len(rep.Conversations)
	}
	t.Logf("%d conversations in %d captures", convs, len(files))
}
