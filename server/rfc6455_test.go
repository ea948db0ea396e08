package server

// RFC 6455 conformance (T-WS-01, T-WS-02, T-WS-03 of the reliability plan): the 40 Autobahn cases
// of reliability.md section 1.4, written with a raw-frame client (server/internal/rawws) because
// the Autobahn test suite cannot run on this machine.
//
// Two targets:
//   - "echo": a test-only route built from the production handshake (transport.Hub.Upgrade),
//     frame reader (wsframe, at most MaxMessageBytes) and frame writer (transport.WriteFrame), which echoes
//     every message. Its reader validates text as UTF-8 while the message streams in, as a
//     text-speaking endpoint must, so that the UTF-8 cases stay pinned down if text is ever
//     allowed.
//   - "real": /v1/docs/{id}/ws itself, for the cases that need no echo (control frames, reserved
//     bits and opcodes, fragmentation errors, close codes, size limits, text frames -> 1003).
//
// "Fail" means: a close 1002 (or the code the case names), or the TCP connection dropped (what
// Autobahn calls NON-STRICT), within 1 s, and no echo or pong after the bad frame.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/rawws"
	"github.com/tandemhq/tandem/server/internal/transport"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// wsTestLimit is the message size limit of both targets: small, so that the size cases stay cheap.
const wsTestLimit = 64 << 10

// failWithin is how fast a refused frame must end the connection.
const failWithin = time.Second

type wsTarget struct {
	name  string
	real  bool
	addr  string
	path  string
	limit int
}

func (tg wsTarget) dial(t *testing.T) *rawws.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := rawws.Dial(ctx, tg.addr, tg.path, nil)
	if err != nil {
		t.Fatalf("%s: dial: %v", tg.name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoTarget serves the echo harness with the production handshake and frame layer.
func echoTarget(t *testing.T, limit int) wsTarget {
	t.Helper()
	cfg := Config{DataPath: "unused", MaxMessageBytes: limit}.withDefaults()
	s := &Server{cfg: cfg}
	hub := transport.New(s.transportConfig())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, deflate, err := hub.Upgrade(w, r)
		if err != nil {
			return
		}
		defer nc.Close()
		fr := wsframe.NewReader(nc, &wsframe.Config{MaxMessageBytes: cfg.MaxMessageBytes, Deflate: deflate, CheckUTF8: true})
		// No descriptor: every write waits with the deadline.
		write := func(op wsframe.Opcode, p []byte) error { return transport.WriteFrame(nc, op, p, cfg.WriteTimeout) }
		// closeAndDrain sends a close frame and reads what the peer still sends for a moment, so
		// that dropping the socket does not reset it under the close frame.
		closeAndDrain := func(code uint16, reason string) {
			_ = write(wsframe.OpClose, wsframe.ClosePayload(code, reason))
			_ = nc.SetReadDeadline(time.Now().Add(transport.PeerCloseDrain))
			_, _ = io.Copy(io.Discard, nc)
		}
		for {
			_ = nc.SetReadDeadline(time.Now().Add(cfg.PongWait))
			f, err := fr.Next()
			var fe *wsframe.Error
			switch {
			case errors.As(err, &fe):
				closeAndDrain(fe.Code, fe.Reason)
				return
			case errors.Is(err, wsframe.ErrInflatedTooBig):
				closeAndDrain(wsframe.CloseMessageTooBig, "message too big")
				return
			case err != nil:
				return
			}
			switch f.Op {
			case wsframe.OpPing:
				err = write(wsframe.OpPong, f.Payload)
			case wsframe.OpPong:
			case wsframe.OpClose:
				code, _, _ := wsframe.ParseClose(f.Payload)
				closeAndDrain(code, "")
				return
			default:
				err = write(f.Op, f.Payload)
			}
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return wsTarget{name: "echo", addr: strings.TrimPrefix(srv.URL, "http://"), path: "/", limit: limit}
}

// realTarget serves the production routes of a Server on a temporary data file.
func realTarget(t *testing.T) wsTarget {
	t.Helper()
	s, err := New(Config{DataPath: t.TempDir() + "/ws.db", MaxMessageBytes: wsTestLimit})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return wsTarget{name: "real", real: true, addr: strings.TrimPrefix(srv.URL, "http://"), path: "/v1/docs/rfc6455/ws", limit: wsTestLimit}
}

// ---- frame helpers and expectations ----------------------------------------------------------

func fr(fin bool, rsv, op byte, payload []byte) []byte {
	return rawws.AppendFrame(nil, rawws.Frame{Fin: fin, RSV: rsv, Opcode: op, Payload: payload})
}

func send(t *testing.T, c *rawws.Conn, frames ...[]byte) {
	t.Helper()
	for _, f := range frames {
		if err := c.Write(f); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
}

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// nonMinimal returns a final, masked frame whose payload length is written with lenBytes (2 or 8)
// extension bytes whatever it is: not the minimal encoding RFC 6455 section 5.2 requires when the
// payload is shorter than 126 (2) or 65536 (8) bytes.
func nonMinimal(op byte, payload []byte, lenBytes int) []byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := []byte{0x80 | op}
	if lenBytes == 2 {
		b = append(b, 0x80|126, byte(len(payload)>>8), byte(len(payload)))
	} else {
		b = append(b, 0x80|127)
		for i := 7; i >= 0; i-- {
			b = append(b, byte(uint64(len(payload))>>(8*i)))
		}
	}
	b = append(b, key[:]...)
	for i, p := range payload {
		b = append(b, p^key[i&3])
	}
	return b
}

// cat joins frames into one write.
func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// expectFrame reads the next frame and checks its opcode and payload.
func expectFrame(t *testing.T, c *rawws.Conn, op byte, payload []byte, within time.Duration) {
	t.Helper()
	f, err := c.ReadFrame(within)
	if err != nil {
		t.Fatalf("read: %v; want opcode %d with %d bytes", err, op, len(payload))
	}
	if f.Opcode != op || !f.Fin || f.RSV != 0 || !bytes.Equal(f.Payload, payload) {
		t.Fatalf("got %v; want a final frame, opcode %d, %d bytes", f, op, len(payload))
	}
}

// expectSilence checks that nothing arrives for d.
func expectSilence(t *testing.T, c *rawws.Conn, d time.Duration) {
	t.Helper()
	f, err := c.ReadFrame(d)
	if err == nil {
		t.Fatalf("got %v; want nothing", f)
	}
	if !rawws.IsTimeout(err) {
		t.Fatalf("read: %v; want nothing (the connection to stay open)", err)
	}
}

// expectClose reads until the connection ends and checks that it closed with one of codes within
// failWithin, sending nothing but (on the real endpoint) protocol error messages first. A TCP drop
// without a close frame is accepted (Autobahn's NON-STRICT) and logged. codes empty means any
// close, a close without a code included.
func expectClose(t *testing.T, tg wsTarget, c *rawws.Conn, codes ...uint16) rawws.Outcome {
	t.Helper()
	o := c.ReadUntilClose(failWithin + 500*time.Millisecond)
	for _, f := range o.Frames {
		if tg.real && f.Opcode == rawws.OpBinary {
			if fm, err := protocol.DecodeFrame(f.Payload, protocol.FromServer); err == nil {
				if _, ok := fm.Message.(*protocol.Error); ok {
					continue
				}
			}
		}
		t.Errorf("%s: got %v before the close; want nothing", tg.name, f)
	}
	switch {
	case o.Err != nil:
		t.Fatalf("%s: read: %v", tg.name, o.Err)
	case !o.Closed && !o.EOF:
		t.Fatalf("%s: connection still open after %v; want a close %v", tg.name, o.Elapsed, codes)
	case !o.Closed:
		t.Logf("%s: TCP dropped without a close frame (non-strict)", tg.name)
	case len(codes) > 0 && !o.HasCode:
		t.Errorf("%s: close without a code; want %v", tg.name, codes)
	case len(codes) > 0 && !contains(codes, o.Code):
		t.Errorf("%s: close %d %q; want %v", tg.name, o.Code, o.Reason, codes)
	}
	if o.Elapsed > failWithin {
		t.Errorf("%s: closed after %v; want within %v", tg.name, o.Elapsed, failWithin)
	}
	if o.Closed && !utf8.ValidString(o.Reason) {
		t.Errorf("%s: close reason %q is not valid UTF-8", tg.name, o.Reason)
	}
	return o
}

func contains(codes []uint16, c uint16) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// expectFail expects the protocol-error close.
func expectFail(t *testing.T, tg wsTarget, c *rawws.Conn) {
	t.Helper()
	expectClose(t, tg, c, websocket.CloseProtocolError)
}

// closeNormally sends close 1000 and expects the server's close 1000 in answer.
func closeNormally(t *testing.T, tg wsTarget, c *rawws.Conn) {
	t.Helper()
	send(t, c, fr(true, 0, rawws.OpClose, rawws.ClosePayload(1000, "")))
	expectClose(t, tg, c, 1000)
}

// ---- the cases -------------------------------------------------------------------------------

type wsCase struct {
	id, title string
	echo      bool // run against the echo harness
	real      bool // run against /v1/docs/{id}/ws
	run       func(t *testing.T, tg wsTarget, c *rawws.Conn)
}

func binaryEcho(n int) func(t *testing.T, tg wsTarget, c *rawws.Conn) {
	return func(t *testing.T, tg wsTarget, c *rawws.Conn) {
		p := rep('*', n)
		send(t, c, fr(true, 0, rawws.OpBinary, p))
		expectFrame(t, c, rawws.OpBinary, p, 2*time.Second)
		closeNormally(t, tg, c)
	}
}

// TestAutobahnSubset runs the cases of reliability.md section 1.4 against both targets (cases 38,
// 39 and 40 are the table-driven tests below).
func TestAutobahnSubset(t *testing.T) {
	targets := []wsTarget{echoTarget(t, wsTestLimit), realTarget(t)}
	for _, tc := range wsCases() {
		if tc.run == nil {
			continue
		}
		for _, tg := range targets {
			if tg.real && !tc.real || !tg.real && !tc.echo {
				continue
			}
			t.Run(tc.id+"/"+tg.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, tg, tg.dial(t))
			})
		}
	}
}

// TestCloseCodes is Autobahn 7.7.x, 7.9.x and 7.13.x: a valid code is echoed (or answered with
// 1000); an invalid or undefined one is a protocol error.
func TestCloseCodes(t *testing.T) {
	valid := []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}
	invalid := []uint16{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535}
	for _, tg := range []wsTarget{echoTarget(t, wsTestLimit), realTarget(t)} {
		for _, code := range valid {
			t.Run(tg.name+"/valid-"+itoa(int(code)), func(t *testing.T) {
				t.Parallel()
				c := tg.dial(t)
				send(t, c, fr(true, 0, rawws.OpClose, rawws.ClosePayload(code, "")))
				expectClose(t, tg, c, code, 1000)
			})
		}
		for _, code := range invalid {
			t.Run(tg.name+"/invalid-"+itoa(int(code)), func(t *testing.T) {
				t.Parallel()
				c := tg.dial(t)
				send(t, c, fr(true, 0, rawws.OpClose, rawws.ClosePayload(code, "")))
				expectFail(t, tg, c)
			})
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestMessageSizeLimit is Autobahn 9.2.1/9.2.6/9.4.1 adapted to the server's limit: a message at
// the limit passes; one byte more is 1009; a 16 MiB length header is 1009 before any payload is
// buffered; fragments that sum past the limit are 1009 (the limit is per message, not per frame).
func TestMessageSizeLimit(t *testing.T) {
	for _, tg := range []wsTarget{echoTarget(t, wsTestLimit), realTarget(t)} {
		t.Run(tg.name+"/at-limit", func(t *testing.T) {
			c := tg.dial(t)
			p := rep('*', tg.limit)
			if tg.real {
				// An update frame of exactly the limit: type, channel, length prefix, then opaque
				// bytes. It is refused for another reason (no hello came first), which proves that
				// the size check let it through.
				n := tg.limit - 2 - protocol.UvarintLen(uint64(tg.limit))
				p = protocol.AppendUvarint([]byte{byte(protocol.TypeUpdate), 0}, uint64(n))
				p = append(p, rep('*', n)...)
				if len(p) != tg.limit {
					t.Fatalf("built %d bytes; want %d", len(p), tg.limit)
				}
				send(t, c, fr(true, 0, rawws.OpBinary, p))
				o := c.ReadUntilClose(2 * time.Second)
				if o.Closed && o.Code == websocket.CloseMessageTooBig {
					t.Errorf("a message of exactly the limit was refused as too big")
				}
				return
			}
			send(t, c, fr(true, 0, rawws.OpBinary, p))
			expectFrame(t, c, rawws.OpBinary, p, 2*time.Second)
			closeNormally(t, tg, c)
		})
		t.Run(tg.name+"/limit+1", func(t *testing.T) {
			c := tg.dial(t)
			send(t, c, fr(true, 0, rawws.OpBinary, rep('*', tg.limit+1)))
			expectClose(t, tg, c, websocket.CloseMessageTooBig)
		})
		t.Run(tg.name+"/16MiB-header-only", func(t *testing.T) {
			c := tg.dial(t)
			send(t, c, rawws.AppendHeader(nil, rawws.Header{Fin: true, Opcode: rawws.OpBinary, Length: 16 << 20}, [4]byte{1, 2, 3, 4}))
			expectClose(t, tg, c, websocket.CloseMessageTooBig)
		})
		t.Run(tg.name+"/fragments-past-limit", func(t *testing.T) {
			c := tg.dial(t)
			var b []byte
			n := tg.limit/64 + 1
			for i := 0; i < n; i++ {
				op := rawws.OpContinuation
				if i == 0 {
					op = rawws.OpBinary
				}
				b = append(b, fr(i == n-1, 0, op, rep('*', 64))...)
			}
			send(t, c, b)
			expectClose(t, tg, c, websocket.CloseMessageTooBig)
		})
	}
}

// TestNoCompressionNegotiated is Autobahn 12.1.1/13.1.1 adapted: permessage-deflate is offered and
// must not be accepted.
func TestNoCompressionNegotiated(t *testing.T) {
	for _, tg := range []wsTarget{echoTarget(t, wsTestLimit), realTarget(t)} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, resp, err := rawws.Dial(ctx, tg.addr, tg.path, http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; client_max_window_bits"}})
		cancel()
		if err != nil {
			t.Fatalf("%s: dial: %v", tg.name, err)
		}
		if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
			t.Errorf("%s: the 101 carries Sec-WebSocket-Extensions %q; want none", tg.name, ext)
		}
		c.Close()
	}
}

// TestFrameLengthEdge is T-WS-02: frame headers that declare lengths over the limit (or invalid
// ones) and send no payload are refused within 1 s, without the server allocating the length.
func TestFrameLengthEdge(t *testing.T) {
	const limit = 32 << 10     // below both 16-bit and 64-bit length encodings' edges
	tg := echoTarget(t, limit) // in process, so that its heap can be measured
	tests := []struct {
		name   string
		length uint64
		codes  []uint16
	}{
		{"limit+1", limit + 1, []uint16{websocket.CloseMessageTooBig}},
		{"2^16-1 (16-bit length)", 1<<16 - 1, []uint16{websocket.CloseMessageTooBig}},
		{"2^16 (64-bit length)", 1 << 16, []uint16{websocket.CloseMessageTooBig}},
		{"2^63-1", 1<<63 - 1, []uint16{websocket.CloseMessageTooBig, websocket.CloseProtocolError}},
		{"64-bit length with the MSB set", 1 << 63, []uint16{websocket.CloseProtocolError, websocket.CloseMessageTooBig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			c := tg.dial(t)
			send(t, c, rawws.AppendHeader(nil, rawws.Header{Fin: true, Opcode: rawws.OpBinary, Length: tt.length}, [4]byte{9, 9, 9, 9}))
			expectClose(t, tg, c, tt.codes...)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > 1<<20 {
				t.Errorf("the server allocated %d bytes for a header-only frame; want under 1 MiB", grew)
			}
		})
	}
}

// TestHandshakeStrict is T-WS-03: malformed upgrade requests get a 4xx and no 101, and the server
// keeps serving.
func TestHandshakeStrict(t *testing.T) {
	tg := realTarget(t)
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	req := func(method, headers string) string {
		return method + " " + tg.path + " HTTP/1.1\r\nHost: " + tg.addr + "\r\n" + headers + "\r\n"
	}
	full := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n"
	tests := []struct {
		name     string
		raw      string
		statuses []int
		version  bool // the answer must carry Sec-WebSocket-Version: 13
	}{
		{"missing Sec-WebSocket-Key", req("GET", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"), []int{400}, false},
		{"version 8", req("GET", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: "+key+"\r\n"), []int{400, 426}, true},
		{"POST", req("POST", full+"Content-Length: 0\r\n"), []int{400, 405}, false},
		{"no Upgrade header", req("GET", "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+key+"\r\n"), []int{400, 426}, false},
		{"Upgrade: h2c", req("GET", "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+key+"\r\n"), []int{400, 426}, false},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, body, err := rawws.RoundTrip(ctx, tg.addr, tt.raw)
		cancel()
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		ok := false
		for _, s := range tt.statuses {
			ok = ok || resp.StatusCode == s
		}
		if !ok {
			t.Errorf("%s: status %d (%s); want one of %v", tt.name, resp.StatusCode, strings.TrimSpace(string(body)), tt.statuses)
		}
		if tt.version && resp.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Errorf("%s: Sec-WebSocket-Version %q; want 13", tt.name, resp.Header.Get("Sec-WebSocket-Version"))
		}
	}
	// A subprotocol the server does not speak: the server may upgrade, but must not claim it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, resp, err := rawws.Dial(ctx, tg.addr, tg.path, http.Header{"Sec-WebSocket-Protocol": {"mqtt"}})
	cancel()
	if err == nil {
		if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" {
			t.Errorf("subprotocol mqtt: the server answered Sec-WebSocket-Protocol %q; want none", p)
		}
		c.Close()
	} else if resp == nil || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("subprotocol mqtt: %v; want an upgrade without the subprotocol, or a 4xx", err)
	}
	// The server is unaffected: a well-formed connection still works.
	c = tg.dial(t)
	send(t, c, fr(true, 0, rawws.OpPing, []byte("ok")))
	expectFrame(t, c, rawws.OpPong, []byte("ok"), time.Second)
}
