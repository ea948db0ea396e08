package server

// The security tests: T-SEC-01 to T-SEC-14 of the test plan (docs/security.md maps each to its
// criterion), against a real server on 127.0.0.1 with a token secret. This file holds the helpers
// they share; the tests are in the other security_*_test.go files.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/rawws"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// secSecret is the token secret of the security tests' servers.
var secSecret = []byte("the security tests' secret: 32+ bytes")

// secretDoc is text that a test writes into a document and then looks for where it must not be.
const secretDoc = "SECRET-CONTENT-4f1d"

// logBuffer is a slog destination that tests can read while the server writes to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// secConfig is testConfig with a token secret. If logs is not nil, the server logs into it at
// debug level, so that a test can scan everything the server says.
func secConfig(t testing.TB, logs *logBuffer) Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.AuthSecret = secSecret
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// mint returns a token for sub on the documents docs with role, valid for ttl (negative: expired).
func mint(t testing.TB, sub, docs string, role auth.Role, ttl time.Duration) string {
	t.Helper()
	return mintWith(t, secSecret, auth.Claims{Subject: sub, Documents: docs, Role: role, Expires: time.Now().Add(ttl)})
}

// mintWith returns a token carrying c, signed with secret.
func mintWith(t testing.TB, secret []byte, c auth.Claims) string {
	t.Helper()
	a, err := auth.New(auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// bearer returns the headers of a request made with tok (none for an empty tok).
func bearer(tok string) http.Header {
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	return h
}

// wsURL returns the WebSocket URL of a document, with the query (which may be empty) appended.
func (ts *testServer) wsURL(docID, query string) string {
	u := "ws" + strings.TrimPrefix(ts.base, "http") + "/v1/docs/" + docID + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// upgradeResult is what a refused or accepted upgrade returned.
type upgradeResult struct {
	status int
	body   string
	ws     *websocket.Conn
}

// tryUpgrade attempts a WebSocket upgrade and returns the status and body of the answer; on 101
// the connection is returned (and closed when the test ends).
func tryUpgrade(t *testing.T, url string, hdr http.Header) upgradeResult {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(url, hdr)
	if err == nil {
		t.Cleanup(func() { _ = ws.Close() })
		return upgradeResult{status: resp.StatusCode, ws: ws}
	}
	if resp == nil {
		t.Fatalf("dial %s: %v (no response)", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return upgradeResult{status: resp.StatusCode, body: string(body)}
}

// joinAs returns an editor under clientID joined to docID with tok.
func (ts *testServer) joinAs(t *testing.T, docID string, clientID uint64, tok string) *wstest.Editor {
	t.Helper()
	e, err := wstest.NewEditor(clientID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Join(context.Background(), ts.base, docID, wstest.DialOptions{Header: bearer(tok)}); err != nil {
		t.Fatalf("editor %d joins %q: %v", clientID, docID, err)
	}
	t.Cleanup(func() { _ = e.Client.WS.Close() })
	return e
}

// seed writes text into root "body" of docID as a writer, waits until it is durable, and leaves.
func (ts *testServer) seed(t *testing.T, docID string, clientID uint64, text string) {
	t.Helper()
	e := ts.joinAs(t, docID, clientID, mint(t, "seeder", docID, auth.RoleWrite, time.Hour))
	if err := e.Insert("body", 0, text); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = e.Close()
}

// httpDo sends a request with tok and returns the status and body; a body goes as
// application/octet-stream.
func httpDo(t *testing.T, method, url, tok string, body []byte) (int, []byte) {
	t.Helper()
	contentType := ""
	if body != nil {
		contentType = "application/octet-stream"
	}
	return httpSend(t, method, url, tok, contentType, body)
}

// httpSend sends a request with tok ("" for none) and body as contentType ("" for no
// Content-Type), and returns the status and body.
func httpSend(t *testing.T, method, url, tok, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = bearer(tok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// docText returns the text of root "body" as the HTTP API reports it, read with a token for *.
func (ts *testServer) docText(t *testing.T, docID string) string {
	t.Helper()
	status, b := httpDo(t, "GET", ts.base+"/v1/docs/"+docID, mint(t, "auditor", "*", auth.RoleRead, time.Minute), nil)
	if status == http.StatusNotFound {
		return ""
	}
	if status != http.StatusOK {
		t.Fatalf("GET /v1/docs/%s = %d %s", docID, status, b)
	}
	var sum docSummary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	return sum.Texts["body"]
}

// lastSeq returns the document's last log sequence number in storage.
func (ts *testServer) lastSeq(t *testing.T, docID string) uint64 {
	t.Helper()
	m, _, err := ts.inner.Stat(docID)
	if err != nil {
		t.Fatal(err)
	}
	return m.LastSeq
}

// expectRefusal reads until the connection closes and checks the error message and close code.
func expectRefusal(t *testing.T, c *wstest.Client, code protocol.CloseCode, what string) *wstest.Closed {
	t.Helper()
	cl, err := c.ExpectClose(5 * time.Second)
	if err != nil {
		t.Fatalf("%s: %v; want a close with %d", what, err, code)
	}
	if cl.Code != int(code) {
		t.Fatalf("%s: closed with %d %q; want %d", what, cl.Code, cl.Text, code)
	}
	if cl.Message == nil || cl.Message.Code != code {
		t.Fatalf("%s: error message before the close = %+v; want code %d", what, cl.Message, code)
	}
	return cl
}

// craftUpdate returns an update (docs/crdt.md section 2.3) holding one text run of Text root
// "body" by client, starting at clock start, with no origins: what a hostile client can write by
// hand, whatever its replica holds.
func craftUpdate(client, start uint64, text string) []byte {
	b := []byte{0x01}
	b = protocol.AppendUvarint(b, 1)
	b = protocol.AppendUvarint(b, client)
	b = append(b, 1, 1, 4) // one root: kind text, name of 4 bytes
	b = append(b, "body"...)
	b = append(b, 1)                     // one block
	b = append(b, 0)                     // client index 0
	b = protocol.AppendUvarint(b, start) // start clock
	b = append(b, 1, 0, 0)               // one op: text run, no origins; root index 0
	n := len([]rune(text))
	b = protocol.AppendUvarint(b, uint64(n))
	b = protocol.AppendUvarint(b, uint64(len(text)))
	b = append(b, text...)
	return append(b, 0) // empty delete set
}

// serverSV returns the document's state vector as the server holds it.
func (ts *testServer) serverSV(t *testing.T, docID string) map[uint64]uint64 {
	t.Helper()
	status, b := httpDo(t, "GET", ts.base+"/v1/docs/"+docID, mint(t, "auditor", "*", auth.RoleRead, time.Minute), nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/docs/%s = %d %s", docID, status, b)
	}
	var sum docSummary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sum.StateVector)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := crdt.DecodeStateVector(raw)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// rawDial opens a raw-frame connection to docID with tok and sends a hello.
func (ts *testServer) rawDial(t *testing.T, docID, tok string, clientID uint64, hdr http.Header) *rawws.Conn {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	if tok != "" {
		hdr.Set("Authorization", "Bearer "+tok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := rawws.Dial(ctx, strings.TrimPrefix(ts.base, "http://"), "/v1/docs/"+docID+"/ws", hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	hello := protocol.EncodeFrame(0, &protocol.Hello{Version: protocol.Version, ClientID: clientID})
	if err := c.WriteFrame(rawws.Frame{Fin: true, Opcode: rawws.OpBinary, Payload: hello}); err != nil {
		t.Fatal(err)
	}
	return c
}
