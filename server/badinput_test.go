package server

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/transport"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// TestBadInput sends one kind of bad input per case on a fresh connection, and checks that the
// connection gets an error message (where one can be sent) and the right close code, while the
// other connections, on this document and another, keep working and lose nothing acknowledged.
func TestBadInput(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig(t)
	cfg.MaxMessageBytes = 4096
	cfg.MaxAwarenessBytes = 512
	ts := startServer(t, cfg, nil)

	const doc, other = "victim", "bystander"
	good := ts.editor(t, doc, 11)
	far := ts.editor(t, other, 12)

	hello := protocol.EncodeFrame(0, &protocol.Hello{Version: protocol.Version, ClientID: 99})
	update := func() []byte {
		d, _ := crdt.NewDoc(99, crdt.Config{})
		_ = d.Text("body").Insert(0, "z")
		return protocol.EncodeFrame(0, &protocol.Update{Data: d.TakeUpdate()})
	}()
	bin := func(b ...[]byte) [][]byte { return b }

	cases := []struct {
		name      string
		frames    [][]byte // binary messages to send
		text      bool     // send a text message instead
		wantCode  protocol.CloseCode
		wantError bool // an error message precedes the close
	}{
		{"update before hello", bin(update), false, protocol.CloseBadMessage, true},
		{"awareness before hello", bin(protocol.EncodeFrame(0, &protocol.Awareness{Clock: 1, State: []byte("{}")})), false, protocol.CloseBadMessage, true},
		{"hello repeated", bin(hello, hello), false, protocol.CloseBadMessage, true},
		{"empty message", bin([]byte{}), false, protocol.CloseBadMessage, true},
		{"unknown type", bin([]byte{0x7f, 0x00}), false, protocol.CloseBadMessage, true},
		{"server-only type", bin([]byte{byte(protocol.TypeAck), 0x00, 0x01}), false, protocol.CloseBadMessage, true},
		{"truncated varint", bin([]byte{byte(protocol.TypeHello), 0x00, 0x80}), false, protocol.CloseBadMessage, true},
		{"trailing bytes", bin(append(append([]byte{}, hello...), 0x00)), false, protocol.CloseBadMessage, true},
		{"client id zero", bin([]byte{byte(protocol.TypeHello), 0x00, 0x01, 0x00, 0x00, 0x00}), false, protocol.CloseBadMessage, true},
		{"unsupported version", bin(protocol.EncodeFrame(0, &protocol.Hello{Version: 2, ClientID: 99})), false, protocol.CloseUnsupportedVersion, true},
		{"bad state vector", bin(protocol.EncodeFrame(0, &protocol.Hello{Version: 1, ClientID: 99, StateVector: []byte{0x03, 0x05}})), false, protocol.CloseBadMessage, true},
		{"channel 1", bin(protocol.EncodeFrame(1, &protocol.Hello{Version: 1, ClientID: 99})), false, protocol.CloseBadMessage, true},
		{"text frame", bin([]byte("hello")), true, protocol.CloseUnsupportedData, true},
		{"message too big", bin(bytes.Repeat([]byte{0x03}, 4097)), false, protocol.CloseMessageTooBig, false},
		{"awareness too big", bin(hello, protocol.EncodeFrame(0, &protocol.Awareness{Clock: 1, State: bytes.Repeat([]byte("a"), 513)})), false, protocol.CloseMessageTooBig, true},
		{"garbage update", bin(hello, protocol.EncodeFrame(0, &protocol.Update{Data: []byte{0x01, 0xff, 0xff}})), false, protocol.CloseInvalidUpdate, true},
		{"empty update", bin(hello, protocol.EncodeFrame(0, &protocol.Update{})), false, protocol.CloseInvalidUpdate, true},
		{"snapshot as garbage", bin(hello, protocol.EncodeFrame(0, &protocol.Update{Data: []byte{0x02, 0x01}})), false, protocol.CloseInvalidUpdate, true},
		{"server's own client id", nil, false, protocol.CloseForbidden, true}, // filled below
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial(t, doc)
			frames := tc.frames
			if tc.name == "server's own client id" {
				frames = bin(protocol.EncodeFrame(0, &protocol.Hello{Version: 1, ClientID: ts.selfID(t, doc)}))
			}
			helloed := false
			for _, f := range frames {
				mt := websocket.BinaryMessage
				if tc.text {
					mt = websocket.TextMessage
				}
				if err := c.SendRaw(mt, f); err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(f, hello) && !helloed {
					helloed = true
					if m, err := c.Read(0); err != nil {
						t.Fatalf("after hello: %v", err)
					} else if _, ok := m.(*protocol.Sync); !ok {
						t.Fatalf("after hello: got %T; want sync", m)
					}
				}
			}
			cl, err := c.ExpectClose(0)
			if err != nil {
				t.Fatal(err)
			}
			if cl.Code != int(tc.wantCode) {
				t.Errorf("closed with %v; want code %d", cl, tc.wantCode)
			}
			if tc.wantError && (cl.Message == nil || cl.Message.Code != tc.wantCode) {
				t.Errorf("error message = %+v; want one with code %d before the close", cl.Message, tc.wantCode)
			}

			// The others keep working, and everything they had acknowledged is there.
			word := fmt.Sprintf("<%d>", i)
			if err := good.Insert("body", 0, word); err != nil {
				t.Fatal(err)
			}
			if err := good.WaitAcked(0); err != nil {
				t.Fatal(err)
			}
			if err := far.Insert("body", 0, word); err != nil {
				t.Fatal(err)
			}
			if err := far.WaitAcked(0); err != nil {
				t.Fatal(err)
			}
			if got, want := ts.serverText(t, doc, "body"), good.Text("body"); got != want {
				t.Errorf("server text = %q; want %q", got, want)
			}
		})
	}
	if got := ts.metrics.refusals.Value(reasonBadMessage); got < 10 {
		t.Errorf("tandem_refusals_total{reason=bad_message} = %d; want >= 10", got)
	}
	_ = good.Close()
	_ = far.Close()
	ts.shutdown(t)
	for _, d := range []struct{ id, want string }{{doc, good.Text("body")}, {other, far.Text("body")}} {
		if got := reopenDoc(t, ts.path, d.id).Text("body").String(); got != d.want {
			t.Errorf("stored %s = %q; want %q", d.id, got, d.want)
		}
	}
	checkGoroutines(t, before)
}

// selfID returns the server's client ID for document id, asking its actor.
func (ts *testServer) selfID(t *testing.T, id string) uint64 {
	t.Helper()
	var self uint64
	ts.inActor(t, id, func(a *actor) { self = a.self })
	return self
}

// TestKeepalive checks that a client that answers no ping is closed after the pong wait, and
// that one that answers stays.
func TestKeepalive(t *testing.T) {
	cfg := testConfig(t)
	cfg.PongWait = time.Second
	ts := startServer(t, cfg, nil)
	alive := ts.editor(t, "keepalive", 21)
	// The editor reads (and so answers pings) for three pong waits.
	pumped := make(chan error, 1)
	go func() { pumped <- alive.Pump(3*cfg.PongWait, func() bool { return false }) }()

	// A client that never reads never answers pings.
	mute := ts.dial(t, "keepalive")
	if err := mute.Hello(22, nil, 0); err != nil {
		t.Fatal(err)
	}
	conns := func() int { return ts.hub.Len() }
	waitFor(t, 5*time.Second, "the silent connection to register", func() bool { return conns() == 2 })
	start := time.Now()
	waitFor(t, 5*time.Second, "the silent connection to close", func() bool { return ts.hub.Len() == 1 })
	if took := time.Since(start); took < cfg.PongWait/2 || took > 2*cfg.PongWait+transport.CloseGrace {
		t.Errorf("silent connection closed after %v; want about %v", took, cfg.PongWait)
	}
	if err := <-pumped; !isPumpTimeout(err) {
		t.Fatalf("reading editor: %v", err)
	}
	// The reading editor is still served, well after the pong wait.
	if err := alive.Insert("body", 0, "still here"); err != nil {
		t.Fatal(err)
	}
	if err := alive.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	// Application-level ping gets a pong with the same nonce.
	if err := alive.Send(&protocol.Ping{Nonce: 77}); err != nil {
		t.Fatal(err)
	}
	m, err := alive.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := m.(*protocol.Pong); !ok || p.Nonce != 77 {
		t.Errorf("got %T %+v; want pong 77", m, m)
	}
}

// TestTooManyConnections checks the per-document connection limit.
func TestTooManyConnections(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnsPerDocument = 2
	ts := startServer(t, cfg, nil)
	ts.editor(t, "full", 31)
	ts.editor(t, "full", 32)
	c := ts.dial(t, "full")
	if err := c.Hello(33, nil, 0); err != nil {
		t.Fatal(err)
	}
	cl, err := c.ExpectClose(0)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Code != int(protocol.CloseTryAgainLater) || cl.Message == nil {
		t.Errorf("third connection closed with %v; want error message and 1013", cl)
	}
	if got := ts.metrics.refusals.Value(reasonTooManyConns); got != 1 {
		t.Errorf("refusals{too_many_connections} = %d; want 1", got)
	}
	// Another document is not affected.
	ts.editor(t, "other", 34)
}

// TestOrigin checks the origin rule of the upgrade: the request's own host by default, an exact
// list when configured.
func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		origin  string
		ok      bool
	}{
		{"no origin header", nil, "", true},
		{"same host", nil, "http://HOST", true},
		{"other host", nil, "https://evil.example", false},
		{"null", nil, "null", false},
		{"listed", []string{"https://app.example.com"}, "https://app.example.com", true},
		{"listed, case", []string{"https://app.example.com"}, "https://APP.example.com", true},
		{"look-alike suffix", []string{"https://app.example.com"}, "https://app.example.com.evil", false},
		{"look-alike prefix", []string{"https://app.example.com"}, "https://evilapp.example.com", false},
		// The server's own origin is always allowed, so that its demo works beside a list.
		{"same host not listed", []string{"https://app.example.com"}, "http://HOST", true},
		{"same host beside *", []string{"*"}, "http://HOST", true},
		{"another port of the same host", []string{"https://app.example.com"}, "http://127.0.0.1:1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.AllowedOrigins = tc.allowed
			ts := startServer(t, cfg, nil)
			h := make(map[string][]string)
			if tc.origin != "" {
				h["Origin"] = []string{replaceHost(tc.origin, ts.base)}
			}
			c, resp, err := wstest.Dial(t.Context(), ts.base, "doc", wstest.DialOptions{Header: h})
			if tc.ok {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				_ = c.Close()
				return
			}
			if err == nil {
				_ = c.Close()
				t.Fatal("upgrade succeeded; want 403")
			}
			if resp == nil || resp.StatusCode != 403 {
				t.Fatalf("response %v; want 403", resp)
			}
			if got := ts.metrics.refusals.Value(reasonOrigin); got != 1 {
				t.Errorf("refusals{origin} = %d; want 1", got)
			}
		})
	}
}

// replaceHost puts the host of base ("http://127.0.0.1:port") where HOST appears in s.
func replaceHost(s, base string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("HOST"), []byte(base[len("http://"):])))
}
