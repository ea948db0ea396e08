package server

// The security tests of malformed input on live connections: T-SEC-09 (helpers in
// security_helpers_test.go).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// connFuzzer runs sequences of client messages into live connections of one server, shared by
// every input of a fuzz run, and checks what the server does with them.
type connFuzzer struct {
	base    string
	tok     string
	metrics *serverMetrics
	control *wstest.Editor // an editor of another document, which must keep being served
	next    uint64         // the next fresh client ID
}

// newConnFuzzer starts a server for tb (a *testing.F or *testing.T), with rate limits high
// enough that throttling does not slow the fuzzing down, and a control editor.
func newConnFuzzer(tb testing.TB) *connFuzzer {
	tb.Helper()
	dir := tb.TempDir()
	cfg := Config{
		DataPath:          filepath.Join(dir, "tandem.db"),
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		PongWait:          5 * time.Second,
		WriteTimeout:      5 * time.Second,
		AwarenessInterval: 5 * time.Millisecond,
		IdleUnloadAfter:   20 * time.Millisecond, // so that the goroutine count returns to its baseline
		MaxMessageBytes:   64 << 10,
		MaxAwarenessBytes: 1 << 10,
		MaxDocumentBytes:  4 << 20,
		StorageNoSync:     true,
		SecurityConfig: SecurityConfig{
			AuthSecret:         secSecret,
			UpdatesPerSecond:   1e6,
			UpdateBurst:        1e6,
			AwarenessPerSecond: 1e6,
			AwarenessBurst:     1e6,
			MaxPendingBytes:    256 << 10,
		},
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), l) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		<-done
	})
	a, _ := auth.New(auth.Config{Secret: secSecret})
	tok, _ := a.Mint(auth.Claims{Subject: "fuzzer", Documents: "*", Role: auth.RoleWrite, Expires: time.Now().Add(24 * time.Hour)})
	fz := &connFuzzer{base: "http://" + l.Addr().String(), tok: string(tok), metrics: s.metrics, next: 1000}
	e, err := wstest.NewEditor(7)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Join(context.Background(), fz.base, "control", wstest.DialOptions{Header: bearer(fz.tok)}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.WS.Close() })
	fz.control = e
	return fz
}

// fuzzMessages splits a fuzz input into WebSocket messages. The first byte chooses the document
// (bits 1-2) and whether a valid hello goes first (bit 0). Then each message is a header byte
// (bit 7: a text frame; bit 6: the length takes one more byte) and its bytes.
func fuzzMessages(data []byte) (doc int, hello bool, msgs [][]byte, text []bool) {
	if len(data) == 0 {
		return 0, false, nil, nil
	}
	doc, hello = int(data[0]>>1)&3, data[0]&1 == 1
	p := data[1:]
	for len(p) > 0 && len(msgs) < 64 {
		h := p[0]
		p = p[1:]
		n := int(h & 0x3f)
		if h&0x40 != 0 && len(p) > 0 {
			n = n<<8 | int(p[0])
			p = p[1:]
		}
		n = min(n, len(p))
		msgs = append(msgs, p[:n])
		text = append(text, h&0x80 != 0)
		p = p[n:]
	}
	return doc, hello, msgs, text
}

// run sends one input on a fresh connection, then a normal close, and checks that the server ends
// the connection with a close frame whose code is the echo of ours (nothing was refused) or a
// refusal, never a drop (1006) or a code it has no business sending; and that the control editor
// is still served.
func (fz *connFuzzer) run(t *testing.T, data []byte) {
	doc, hello, msgs, text := fuzzMessages(data)
	c, _, err := wstest.Dial(context.Background(), fz.base, fmt.Sprintf("fuzz-%d", doc), wstest.DialOptions{Header: bearer(fz.tok)})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.WS.Close()
	if hello {
		fz.next++
		if err := c.Hello(fz.next, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range msgs {
		mt := websocket.BinaryMessage
		if text[i] {
			mt = websocket.TextMessage
		}
		if err := c.SendRaw(mt, m); err != nil {
			break // the server has closed already
		}
	}
	_ = c.WS.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	cl, err := c.ExpectClose(5 * time.Second)
	if err != nil {
		t.Fatalf("input %x: %v", data, err)
	}
	switch code := protocol.CloseCode(cl.Code); {
	case code == protocol.CloseNormal:
	case code == protocol.CloseUnsupportedData, code == protocol.CloseMessageTooBig, code == protocol.CloseProtocolError:
	case code >= 4000 && code.Name() != "" && code != protocol.CloseUnauthorized && code != protocol.CloseDocumentDeleted:
	default:
		t.Fatalf("input %x: closed with %d %q (error message %+v); want 1000 or a refusal", data, cl.Code, cl.Text, cl.Message)
	}
	if cl.Code != int(protocol.CloseNormal) && cl.Code != int(protocol.CloseProtocolError) && cl.Message == nil && cl.Code != int(protocol.CloseMessageTooBig) {
		t.Fatalf("input %x: refused with %d %q but no error message first", data, cl.Code, cl.Text)
	}
	// Another document keeps serving.
	if err := fz.control.Insert("body", 0, "."); err != nil {
		t.Fatal(err)
	}
	if err := fz.control.WaitAcked(5 * time.Second); err != nil {
		t.Fatalf("input %x: the control document stopped serving: %v", data, err)
	}
}

// fuzzSeeds are inputs shaped after the advisories of comparable servers (reliability.md 4.2):
// huge declared counts and lengths, empty and truncated messages, varints that never end or look
// negative, unknown and server-only types, hello missing, repeated or under another version.
func fuzzSeeds() [][]byte {
	msg := func(b []byte) []byte {
		if len(b) < 64 {
			return append([]byte{byte(len(b))}, b...)
		}
		return append([]byte{0x40 | byte(len(b)>>8), byte(len(b))}, b...)
	}
	seq := func(first byte, ms ...[]byte) []byte {
		out := []byte{first}
		for _, m := range ms {
			out = append(out, msg(m)...)
		}
		return out
	}
	ff := bytes.Repeat([]byte{0xff}, 9)
	upd := func(client uint64, text string) []byte {
		return protocol.EncodeFrame(0, &protocol.Update{Data: craftUpdate(client, 0, text)})
	}
	hello := protocol.EncodeFrame(0, &protocol.Hello{Version: protocol.Version, ClientID: 42})
	return [][]byte{
		{},
		{0x01},
		seq(0x01, []byte{}),
		seq(0x00, []byte{0x03, 0x00, 0x01, 0x01}),                             // update before hello
		seq(0x01, []byte{byte(protocol.TypeAwareness), 0x00}),                 // truncated awareness
		seq(0x01, append([]byte{byte(protocol.TypeAwareness), 0x00}, ff...)),  // a clock that never ends
		seq(0x01, append([]byte{byte(protocol.TypeUpdate), 0x00}, ff[:8]...)), // a declared length of 2^56-1
		seq(0x01, []byte{byte(protocol.TypeUpdate), 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f}),
		seq(0x01, []byte{byte(protocol.TypeBroadcast), 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}),
		seq(0x01, []byte{byte(protocol.TypeSync), 0x00, 0x00, 0x00}),  // server-only type
		seq(0x01, []byte{byte(protocol.TypeError), 0x00, 0x01, 0x00}), // server-only type
		seq(0x01, []byte{0x00, 0x00}),                                 // type 0
		seq(0x01, []byte{0xff}),
		seq(0x00, hello, hello),
		seq(0x00, protocol.EncodeFrame(0, &protocol.Hello{Version: 99, ClientID: 42})),
		seq(0x00, protocol.EncodeFrame(7, &protocol.Hello{Version: protocol.Version, ClientID: 42})),
		seq(0x01, upd(5000, "hi"), upd(5000, "hi")),
		seq(0x01, protocol.EncodeFrame(0, &protocol.Update{Data: []byte{0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}})), // a huge client count
		seq(0x01, protocol.EncodeFrame(0, &protocol.Update{Data: []byte{0x02, 0xff, 0xff, 0xff, 0x7f}})),                               // a snapshot with a huge count
		seq(0x01, protocol.EncodeFrame(0, &protocol.Awareness{Clock: 1, State: bytes.Repeat([]byte{'a'}, 2000)})),
		seq(0x03, protocol.EncodeFrame(0, &protocol.Ping{Nonce: 1}), protocol.EncodeFrame(0, &protocol.Pong{Nonce: 1})),
		seq(0x05, []byte("text frame")),
		append([]byte{0x01, 0x80 | 4}, "text"...),
		seq(0x01, bytes.Repeat([]byte{byte(protocol.TypeUpdate)}, 3000)),
	}
}

// T-SEC-09 (deterministic part): the seeds, on one server, with a goroutine count that returns
// to its baseline.
func TestMalformedNeverCrash(t *testing.T) {
	fz := newConnFuzzer(t)
	before := runtime.NumGoroutine()
	for _, s := range fuzzSeeds() {
		fz.run(t, s)
	}
	if n := fz.metrics.refusals.Value(reasonBadMessage); n == 0 {
		t.Errorf("refusals{bad_message} = 0; want the malformed seeds counted")
	}
	// Every connection's goroutines, and the actors of the documents they opened (unloaded when
	// idle), are gone.
	checkGoroutines(t, before)
}

// T-SEC-09: arbitrary message sequences into live connections: no panic, every connection ends
// with a close frame (a refusal after an error message, or the echo of the client's close), the
// goroutines of finished connections end, and another document keeps being served.
func FuzzConnection(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	fz := newConnFuzzer(f)
	base := runtime.NumGoroutine()
	f.Cleanup(func() {
		// Run before the server's shutdown (cleanups run last first): the connections the inputs
		// opened are all gone.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base+2 {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				f.Errorf("goroutines: %d after the inputs, %d before\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		fz.run(t, data)
	})
}
