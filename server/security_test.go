package server

// The security tests: T-SEC-01 to T-SEC-14 of the test plan (docs/security.md maps each to its
// criterion), against a real server on 127.0.0.1 with a token secret.

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	"github.com/tandemhq/tandem/storage"
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
	a, err := auth.New(auth.Config{Secret: secSecret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Mint(auth.Claims{Subject: sub, Documents: docs, Role: role, Expires: time.Now().Add(ttl)})
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

// httpDo sends a request with tok and returns the status and body.
func httpDo(t *testing.T, method, url, tok string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = bearer(tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
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

// T-SEC-01.
func TestOriginAllowlist(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.AllowedOrigins = []string{"https://app.example.com"}
	ts := startServer(t, cfg, nil)
	tok := mint(t, "alice", "*", auth.RoleWrite, time.Hour)
	tests := []struct {
		name   string
		origin string
		tok    string
		want   int
	}{
		{"allowed", "https://app.example.com", tok, http.StatusSwitchingProtocols},
		{"allowed, case of the host", "https://APP.example.com", tok, http.StatusSwitchingProtocols},
		{"evil", "https://evil.example", tok, http.StatusForbidden},
		{"null", "null", tok, http.StatusForbidden},
		{"look-alike suffix", "https://app.example.com.evil", tok, http.StatusForbidden},
		{"look-alike prefix", "https://evil-app.example.com", tok, http.StatusForbidden},
		{"other scheme", "http://app.example.com", tok, http.StatusForbidden},
		{"other port", "https://app.example.com:8443", tok, http.StatusForbidden},
		{"with a path", "https://app.example.com/x", tok, http.StatusForbidden},
		{"disallowed and no token", "https://evil.example", "", http.StatusForbidden},
		{"no origin, token", "", tok, http.StatusSwitchingProtocols},
		{"no origin, no token", "", "", http.StatusUnauthorized},
		{"the server's own, not listed", ts.base, tok, http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		h := bearer(tt.tok)
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		got := tryUpgrade(t, ts.wsURL("doc", ""), h)
		if got.status != tt.want {
			t.Errorf("%s: upgrade = %d %s; want %d", tt.name, got.status, got.body, tt.want)
		}
		if tt.want == http.StatusForbidden && !strings.Contains(got.body, "origin_not_allowed") {
			t.Errorf("%s: body %q; want the origin_not_allowed error", tt.name, got.body)
		}
	}
	if got := ts.metrics.refusals.Value(reasonOrigin); got != 8 {
		t.Errorf("refusals{origin} = %d; want 8", got)
	}

	// With no list, only the server's own host.
	cfg2 := secConfig(t, nil)
	ts2 := startServer(t, cfg2, nil)
	for _, o := range []struct {
		origin string
		want   int
	}{
		{ts2.base, http.StatusSwitchingProtocols},
		{"http://localhost.evil", http.StatusForbidden},
		{"https://app.example.com", http.StatusForbidden},
	} {
		h := bearer(tok)
		h.Set("Origin", o.origin)
		if got := tryUpgrade(t, ts2.wsURL("doc", ""), h); got.status != o.want {
			t.Errorf("no allowlist, origin %s: upgrade = %d; want %d", o.origin, got.status, o.want)
		}
	}
}

// T-SEC-02.
func TestAuthOnUpgrade(t *testing.T) {
	var logs logBuffer
	ts := startServer(t, secConfig(t, &logs), nil)
	ts.seed(t, "team-a", 11, secretDoc)
	ts.seed(t, "doc-a", 12, secretDoc)

	writer := mint(t, "alice", "team-*", auth.RoleWrite, time.Hour)
	reader := mint(t, "bob", "doc-a", auth.RoleRead, time.Hour)
	expired := mint(t, "alice", "team-*", auth.RoleWrite, -2*time.Second)
	other, _ := auth.New(auth.Config{Secret: []byte("another secret, as long as the first")})
	forgedTok, _ := other.Mint(auth.Claims{Subject: "alice", Documents: "*", Role: auth.RoleWrite, Expires: time.Now().Add(time.Hour)})
	forged := string(forgedTok)
	parts := strings.Split(writer, ".")
	algNone := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	// HS512 over the same payload and secret: the right key, the wrong algorithm.
	hs512 := "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9." + parts[1] + "." + parts[2]
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]

	tests := []struct {
		name  string
		doc   string
		query string
		tok   string // in the Authorization header
		want  int
		code  string
	}{
		{"no token", "team-a", "", "", 401, "unauthorized"},
		{"garbage", "team-a", "", "garbage", 401, "unauthorized"},
		{"bad signature", "team-a", "", forged, 401, "unauthorized"},
		{"tampered payload", "team-a", "", tampered, 401, "unauthorized"},
		{"alg none", "team-a", "", algNone, 401, "unauthorized"},
		{"alg none in the query", "team-a", "token=" + algNone, "", 401, "unauthorized"},
		{"alg HS512", "team-a", "", hs512, 401, "unauthorized"},
		{"expired", "team-a", "", expired, 401, "unauthorized"},
		{"expired in the query", "team-a", "token=" + expired, "", 401, "unauthorized"},
		{"doc A's token on doc B", "doc-b", "", reader, 403, "forbidden"},
		{"doc A's token on doc A1", "doc-a1", "", reader, 403, "forbidden"},
		{"prefix: team", "team", "", writer, 403, "forbidden"},
		{"prefix: teamx-a", "teamx-a", "", writer, 403, "forbidden"},
		{"prefix: xteam-a", "xteam-a", "", writer, 403, "forbidden"},
		{"header and query disagree", "team-a", "token=" + reader, writer, 401, "unauthorized"},
		{"two query tokens", "team-a", "token=" + writer + "&token=" + writer, "", 401, "unauthorized"},
		{"query", "team-a", "token=" + writer, "", 101, ""},
		{"header", "team-a", "", writer, 101, ""},
		{"prefix: team-", "team-", "", writer, 101, ""},
		{"reader on its doc", "doc-a", "token=" + reader, "", 101, ""},
	}
	for _, tt := range tests {
		got := tryUpgrade(t, ts.wsURL(tt.doc, tt.query), bearer(tt.tok))
		if got.status != tt.want {
			t.Errorf("%s: upgrade = %d %s; want %d", tt.name, got.status, got.body, tt.want)
			continue
		}
		if tt.want == 101 {
			continue
		}
		var body errorBody
		if err := json.Unmarshal([]byte(got.body), &body); err != nil || body.Code != tt.code {
			t.Errorf("%s: body %q; want a JSON error with code %q", tt.name, got.body, tt.code)
		}
		if strings.Contains(got.body, secretDoc) {
			t.Errorf("%s: the refusal carries document content: %q", tt.name, got.body)
		}
	}
	// The refused clients learned why, in words.
	got := tryUpgrade(t, ts.wsURL("team-a", ""), bearer(expired))
	if !strings.Contains(got.body, "token expired") {
		t.Errorf("expired token: body %q; want it to say the token expired", got.body)
	}
	// No token, and no part of one, in the logs, even at debug level; the refusals are there.
	out := logs.String()
	for _, tok := range []string{writer, reader, expired, forged, algNone, hs512, tampered} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		payload := strings.Split(tok, ".")[1]
		if strings.Contains(out, tok) || (sig != "" && strings.Contains(out, sig)) || strings.Contains(out, payload) {
			t.Fatalf("the log holds a token or part of one:\n%s", out)
		}
	}
	if !strings.Contains(out, "unauthorized") || !strings.Contains(out, "token=REDACTED") {
		t.Errorf("the log lacks the refusals with redacted URLs:\n%s", out)
	}
	if ts.metrics.refusals.Value(reasonUnauthorized) == 0 || ts.metrics.refusals.Value(reasonForbidden) == 0 {
		t.Errorf("refusals{unauthorized} = %d, {forbidden} = %d; want both counted",
			ts.metrics.refusals.Value(reasonUnauthorized), ts.metrics.refusals.Value(reasonForbidden))
	}
}

// T-SEC-03.
func TestReadOnlyRole(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	ts.seed(t, "ro-a", 20, "hello")
	ts.seed(t, "ro-b", 21, "world")
	seqA := ts.lastSeq(t, "ro-a")

	// alice writes on ro-a; bob reads ro-a and writes ro-b, over two connections at once.
	alice := ts.joinAs(t, "ro-a", 31, mint(t, "alice", "ro-a", auth.RoleWrite, time.Hour))
	bobRead := ts.joinAs(t, "ro-a", 32, mint(t, "bob", "ro-a", auth.RoleRead, time.Hour))
	bobWrite := ts.joinAs(t, "ro-b", 33, mint(t, "bob", "ro-b", auth.RoleWrite, time.Hour))
	if got := bobRead.Text("body"); got != "hello" {
		t.Fatalf("reader's replica = %q; want %q (a reader receives the document)", got, "hello")
	}

	// The reader's presence reaches the writer.
	if err := bobRead.Send(&protocol.Awareness{Clock: 1, State: []byte(`{"user":"bob"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := alice.Pump(0, func() bool { return string(alice.Awareness[32]) == `{"user":"bob"}` }); err != nil {
		t.Fatalf("reader's awareness at the writer: %v", err)
	}

	// The reader's update, interleaved with the writer's on another document.
	if err := bobRead.Doc.Text("body").Insert(0, "EVIL"); err != nil {
		t.Fatal(err)
	}
	if err := bobWrite.Insert("body", 0, "ok "); err != nil {
		t.Fatal(err)
	}
	if err := bobRead.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bobWrite.Insert("body", 0, "still "); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, bobRead.Client, protocol.CloseForbidden, "reader's update")
	if err := bobWrite.WaitAcked(5 * time.Second); err != nil {
		t.Fatalf("the same subject's writer on another document: %v", err)
	}
	// Nothing of the reader's update was applied, broadcast or stored.
	if err := alice.Insert("body", 5, "!"); err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitAcked(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := ts.docText(t, "ro-a"); got != "hello!" {
		t.Errorf("server text of ro-a = %q; want %q", got, "hello!")
	}
	if got := alice.Text("body"); got != "hello!" {
		t.Errorf("writer's replica = %q; want %q", got, "hello!")
	}
	if got, want := ts.lastSeq(t, "ro-a"), seqA+1; got != want {
		t.Errorf("ro-a log ends at %d; want %d (only the writer's update stored)", got, want)
	}
	if got := ts.docText(t, "ro-b"); got != "still ok world" {
		t.Errorf("server text of ro-b = %q; want %q", got, "still ok world")
	}

	// HTTP: a reader reads and may not write.
	rtok := mint(t, "bob", "ro-a", auth.RoleRead, time.Hour)
	if status, b := httpDo(t, "GET", ts.base+"/v1/docs/ro-a", rtok, nil); status != 200 {
		t.Errorf("reader GET = %d %s; want 200", status, b)
	}
	upd := bobRead.Doc.EncodeUpdate(nil)
	for _, req := range []struct {
		method, path string
		body         []byte
	}{
		{"POST", "/v1/docs/ro-a/update", upd},
		{"POST", "/v1/docs/ro-a/edits", []byte(`{"root":"body","edits":[{"index":0,"insert":"x"}]}`)},
		{"DELETE", "/v1/docs/ro-a", nil},
	} {
		status, b := httpDo(t, req.method, ts.base+req.path, rtok, req.body)
		if status != http.StatusForbidden {
			t.Errorf("reader %s %s = %d %s; want 403", req.method, req.path, status, b)
		}
	}
	if got := ts.docText(t, "ro-a"); got != "hello!" {
		t.Errorf("after the reader's HTTP writes, text = %q; want %q", got, "hello!")
	}
	if got, want := ts.lastSeq(t, "ro-a"), seqA+1; got != want {
		t.Errorf("after the reader's HTTP writes, log ends at %d; want %d", got, want)
	}
}

// TestHTTPRoles checks the HTTP API's answers by token: reads for readers, writes for writers,
// nothing outside the pattern, and a listing filtered by the pattern.
func TestHTTPRoles(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	for i, id := range []string{"a-1", "a-2", "a-3", "b-1", "c"} {
		ts.seed(t, id, uint64(40+i), "text of "+id)
	}
	writer := mint(t, "w", "a-*", auth.RoleWrite, time.Hour)
	reader := mint(t, "r", "a-*", auth.RoleRead, time.Hour)
	tests := []struct {
		method, path, tok string
		body              []byte
		want              int
	}{
		{"GET", "/v1/docs/a-1", "", nil, 401},
		{"GET", "/v1/docs/a-1", reader, nil, 200},
		{"GET", "/v1/docs/b-1", reader, nil, 403},
		{"GET", "/v1/docs/a-1/update", reader, nil, 200},
		{"GET", "/v1/docs/b-1/update", reader, nil, 403},
		{"POST", "/v1/docs/a-1/edits", writer, []byte(`{"root":"body","edits":[{"index":0,"insert":"w:"}]}`), 200},
		{"POST", "/v1/docs/b-1/edits", writer, []byte(`{"root":"body","edits":[{"index":0,"insert":"w:"}]}`), 403},
		{"POST", "/v1/docs/a-2/edits", reader, []byte(`{"root":"body","edits":[{"index":0,"insert":"r:"}]}`), 403},
		{"DELETE", "/v1/docs/a-3", reader, nil, 403},
		{"DELETE", "/v1/docs/b-1", writer, nil, 403},
		{"DELETE", "/v1/docs/a-3", writer, nil, 204},
		{"GET", "/v1/docs", "", nil, 401},
	}
	for _, tt := range tests {
		status, b := httpDo(t, tt.method, ts.base+tt.path, tt.tok, tt.body)
		if status != tt.want {
			t.Errorf("%s %s (%s) = %d %s; want %d", tt.method, tt.path, tokenName(tt.tok, writer, reader), status, b, tt.want)
		}
		if status >= 400 && strings.Contains(string(b), "text of") {
			t.Errorf("%s %s: refusal carries document text: %s", tt.method, tt.path, b)
		}
	}
	if got := ts.docText(t, "a-1"); got != "w:text of a-1" {
		t.Errorf("a-1 = %q; want the writer's edit", got)
	}
	list := func(tok, query string) []string {
		t.Helper()
		status, b := httpDo(t, "GET", ts.base+"/v1/docs"+query, tok, nil)
		if status != 200 {
			t.Fatalf("list = %d %s", status, b)
		}
		var resp listResponse
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range resp.Documents {
			ids = append(ids, d.ID)
		}
		return append(ids, "next="+resp.Next)
	}
	for _, tt := range []struct {
		tok, query string
		want       string
	}{
		{reader, "", "a-1 a-2 next="},
		{reader, "?limit=1", "a-1 next=a-1"},
		{reader, "?limit=1&after=a-1", "a-2 next="},
		{mint(t, "x", "c", auth.RoleRead, time.Hour), "", "c next="},
		{mint(t, "x", "b-*", auth.RoleRead, time.Hour), "", "b-1 next="},
		{mint(t, "x", "z*", auth.RoleRead, time.Hour), "", "next="},
		{mint(t, "x", "*", auth.RoleRead, time.Hour), "?limit=2", "a-1 a-2 next=a-2"},
	} {
		if got := strings.Join(list(tt.tok, tt.query), " "); got != tt.want {
			t.Errorf("list%s = %q; want %q", tt.query, got, tt.want)
		}
	}
}

func tokenName(tok, writer, reader string) string {
	switch tok {
	case "":
		return "no token"
	case writer:
		return "writer"
	case reader:
		return "reader"
	}
	return "token"
}

// T-SEC-14.
func TestTokenExpiryMidSession(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	// JWT expiries are whole seconds: this one falls between 1 and 2 s from now.
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
	a, _ := auth.New(auth.Config{Secret: secSecret})
	tokT, err := a.Mint(auth.Claims{Subject: "alice", Documents: "exp", Role: auth.RoleWrite, Expires: exp})
	if err != nil {
		t.Fatal(err)
	}
	tok := string(tokT)
	e := ts.joinAs(t, "exp", 51, tok)
	other := ts.joinAs(t, "exp", 52, mint(t, "bob", "exp", auth.RoleWrite, time.Hour))
	if err := e.Insert("body", 0, "before "); err != nil {
		t.Fatal(err)
	}
	cl := expectRefusal(t, e.Client, protocol.CloseUnauthorized, "token expiry")
	late := time.Since(exp)
	if late < 0 || late > time.Second {
		t.Errorf("closed %v after the expiry; want within [0, 1s]", late)
	}
	t.Logf("closed %v after the expiry", late.Round(time.Millisecond))
	if !strings.Contains(cl.Message.Message, "expired") {
		t.Errorf("error message %q; want it to say the token expired", cl.Message.Message)
	}
	// The other editor, with a valid token, is still served.
	if err := other.Insert("body", 0, "x"); err != nil {
		t.Fatal(err)
	}
	if err := other.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("the other editor after the expiry: %v", err)
	}
	// Reconnecting with the same token is refused before the upgrade.
	if got := tryUpgrade(t, ts.wsURL("exp", "token="+tok), nil); got.status != http.StatusUnauthorized {
		t.Errorf("reconnect with the expired token = %d %s; want 401", got.status, got.body)
	}
	if got := ts.metrics.refusals.Value(reasonTokenExpired); got != 1 {
		t.Errorf("refusals{token_expired} = %d; want 1", got)
	}
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

// craftMixed returns an update with a text run by client a at clock aStart and one by client b at
// bStart (a < b), in root "body", without origins.
func craftMixed(a, aStart uint64, aText string, b, bStart uint64, bText string) []byte {
	u := []byte{0x01, 2}
	u = protocol.AppendUvarint(u, a)
	u = protocol.AppendUvarint(u, b)
	u = append(u, 1, 1, 4)
	u = append(u, "body"...)
	u = append(u, 2) // two blocks
	for i, blk := range []struct {
		start uint64
		text  string
	}{{aStart, aText}, {bStart, bText}} {
		u = append(u, byte(i))
		u = protocol.AppendUvarint(u, blk.start)
		u = append(u, 1, 0, 0)
		u = protocol.AppendUvarint(u, uint64(len([]rune(blk.text))))
		u = protocol.AppendUvarint(u, uint64(len(blk.text)))
		u = append(u, blk.text...)
	}
	return append(u, 0)
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

// T-SEC-04.
func TestForgedClientID(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	const doc = "forge"
	const aliceID, bobID = 61, 62
	aliceTok := mint(t, "alice", doc, auth.RoleWrite, time.Hour)
	bobTok := mint(t, "bob", doc, auth.RoleWrite, time.Hour)
	alice := ts.joinAs(t, doc, aliceID, aliceTok)
	if err := alice.Insert("body", 0, "alice's words"); err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitAcked(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := ts.serverSV(t, doc)
	if want[aliceID] != 13 {
		t.Fatalf("server state vector %v; want alice at 13", want)
	}

	// bob's replica, then a replica of his under alice's ID that continues her clock.
	bob := ts.joinAs(t, doc, bobID, bobTok)
	forger, err := crdt.NewDoc(aliceID, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forger.Apply(bob.Doc.EncodeUpdate(nil)); err != nil {
		t.Fatal(err)
	}
	if err := forger.Text("body").Insert(0, "bob pretends to be alice: "); err != nil {
		t.Fatal(err)
	}
	forgedContinuation := forger.TakeUpdate()

	tests := []struct {
		name string
		data []byte
		code protocol.CloseCode
	}{
		{"continues alice's clock", forgedContinuation, protocol.CloseForbidden},
		{"overlaps alice's last clock", craftUpdate(aliceID, 12, "EVIL"), protocol.CloseForbidden},
		{"a gap in alice's clock", craftUpdate(aliceID, 1000, "EVIL"), protocol.CloseForbidden},
		{"alice's clock at 2^53-2", craftUpdate(aliceID, crdt.MaxClientID-1, "E"), protocol.CloseForbidden},
		{"bob's clock reaching 2^53", craftUpdate(bobID, crdt.MaxClientID, "E"), protocol.CloseInvalidUpdate},
		{"mixed with bob's own units", craftMixed(aliceID, 13, "E", bobID, 0, "ok"), protocol.CloseForbidden},
		{"trailing byte", append(craftUpdate(bobID, 0, "ok"), 0), protocol.CloseInvalidUpdate},
	}
	for i, tt := range tests {
		c := bob.Client
		if i > 0 {
			e := ts.joinAs(t, doc, bobID, bobTok)
			c = e.Client
		}
		if err := c.Send(&protocol.Update{Data: tt.data}); err != nil {
			t.Fatal(err)
		}
		cl := expectRefusal(t, c, tt.code, tt.name)
		t.Logf("%s: %d %q", tt.name, cl.Code, cl.Message.Message)
	}

	// Units the document already has may be relayed by anyone: they are duplicates, and the first
	// content integrated wins, so bytes that claim other content for alice's known clocks change
	// nothing, and are neither stored nor broadcast.
	relay := ts.joinAs(t, doc, bobID, bobTok)
	seq := ts.lastSeq(t, doc)
	if err := relay.Send(&protocol.Update{Data: craftUpdate(aliceID, 0, "EVIL")}); err != nil {
		t.Fatal(err)
	}
	relay.Sent++
	if err := relay.WaitAcked(5 * time.Second); err != nil {
		t.Fatalf("relaying alice's known clocks: %v", err)
	}
	if got := ts.lastSeq(t, doc); got != seq {
		t.Errorf("log ends at %d after a duplicate; want %d (not stored)", got, seq)
	}
	if err := alice.Pump(200*time.Millisecond, func() bool { return false }); err == nil || !strings.Contains(err.Error(), "not met") {
		t.Errorf("alice after the duplicate: %v; want nothing received", err)
	}
	_ = relay.Close()

	// bob may not take alice's ID at hello, while she is connected or after she left.
	for _, phase := range []string{"alice connected", "alice gone"} {
		if phase == "alice gone" {
			_ = alice.Close()
			waitFor(t, 5*time.Second, "alice's leave", func() bool { return ts.metrics.connections.Value() <= 1 })
		}
		c, _, err := wstest.Dial(context.Background(), ts.base, doc, wstest.DialOptions{Header: bearer(bobTok)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello(aliceID, nil, 0); err != nil {
			t.Fatal(err)
		}
		expectRefusal(t, c, protocol.CloseForbidden, "bob's hello as alice, "+phase)
		_ = c.WS.Close()
	}
	// After a restart the binding still holds (it is stored with the document).
	ts.shutdown(t)
	cfg := secConfig(t, nil)
	cfg.DataPath = ts.path
	ts2 := startServer(t, cfg, nil)
	c, _, err := wstest.Dial(context.Background(), ts2.base, doc, wstest.DialOptions{Header: bearer(bobTok)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(aliceID, nil, 0); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, c, protocol.CloseForbidden, "bob's hello as alice after a restart")

	// alice's document and state vector are as she left them, at the server and at a new editor.
	if got := ts2.serverSV(t, doc); !maps.Equal(got, want) {
		t.Errorf("server state vector = %v; want %v (no entry or clock from the forgeries)", got, want)
	}
	if got := ts2.docText(t, doc); got != "alice's words" {
		t.Errorf("server text = %q; want %q", got, "alice's words")
	}
	alice2 := ts2.joinAs(t, doc, aliceID, aliceTok)
	if got := alice2.Text("body"); got != "alice's words" {
		t.Errorf("alice's new replica = %q; want %q", got, "alice's words")
	}
	// ... and she can go on writing under her own ID.
	if err := alice2.Insert("body", 0, "more of "); err != nil {
		t.Fatal(err)
	}
	if err := alice2.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("alice writing after the forgeries: %v", err)
	}
	// bob's units under his own ID, even with a gap, never enter the state vector until their
	// dependencies come (they wait, bounded by MaxPendingBytes: TestPendingBomb).
	bob2 := ts2.joinAs(t, doc, bobID, bobTok)
	if err := bob2.Send(&protocol.Update{Data: craftUpdate(bobID, crdt.MaxClientID-2, "x")}); err != nil {
		t.Fatal(err)
	}
	bob2.Sent++
	if err := bob2.Insert("body", 0, "bob: "); err != nil {
		t.Fatal(err)
	}
	if err := bob2.Pump(5*time.Second, func() bool { return bob2.Acked == bob2.Sent }); err != nil {
		t.Fatal(err)
	}
	if got := ts2.serverSV(t, doc); got[bobID] != 5 {
		t.Errorf("server state vector = %v; want bob at 5 (his gapped unit waits, not counted)", got)
	}
}

// T-SEC-05.
func TestAwarenessSpoofing(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	const doc = "aware"
	join := func(sub string, id uint64) *wstest.Editor {
		return ts.joinAs(t, doc, id, mint(t, sub, doc, auth.RoleWrite, time.Hour))
	}
	x := join("x", 71)
	y := join("y", 72)
	z := join("z", 73)
	setState := func(e *wstest.Editor, clock uint64, state string) {
		t.Helper()
		if err := e.Send(&protocol.Awareness{Clock: clock, State: []byte(state)}); err != nil {
			t.Fatal(err)
		}
	}
	setState(y, 1, `{"cursor":"y"}`)
	if err := z.Pump(0, func() bool { return string(z.Awareness[72]) == `{"cursor":"y"}` }); err != nil {
		t.Fatal(err)
	}
	// X sets its own state with a huge clock: it is stamped with X's ID, nobody else's.
	setState(x, 1<<40, `{"cursor":"x","clientID":72}`)
	if err := z.Pump(0, func() bool { return z.Awareness[71] != nil }); err != nil {
		t.Fatal(err)
	}
	if got := string(z.Awareness[72]); got != `{"cursor":"y"}` {
		t.Errorf("Y's state at Z after X's message = %q; want Y's own", got)
	}

	// Frames laid out as the server's awareness (entries with client IDs), sent by a client: one
	// entry for Y with a higher clock, one clearing Y, and 1000 entries. A client's awareness has
	// no client ID field, so each is malformed from a client (4400) and changes nothing.
	entries := func(n int, state string) []byte {
		b := []byte{byte(protocol.TypeAwareness), 0}
		b = protocol.AppendUvarint(b, uint64(n))
		for i := range n {
			b = protocol.AppendUvarint(b, uint64(72+i))
			b = protocol.AppendUvarint(b, 1<<30)
			b = protocol.AppendUvarint(b, uint64(len(state)))
			b = append(b, state...)
		}
		return b
	}
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"set Y", entries(1, `{"cursor":"spoofed"}`)},
		{"clear Y", entries(1, "")},
		{"1000 entries", entries(1000, `{"c":1}`)},
	} {
		spoof := join("x", 74)
		if err := spoof.SendRaw(websocket.BinaryMessage, tt.data); err != nil {
			t.Fatal(err)
		}
		cl, err := spoof.ExpectClose(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		t.Logf("%s: closed with %d %q", tt.name, cl.Code, cl.Text)
		if cl.Code < 4000 && cl.Code != int(protocol.CloseMessageTooBig) {
			t.Errorf("%s: closed with %d; want a refusal code", tt.name, cl.Code)
		}
	}
	// X clears its own state: only X disappears.
	setState(x, 1<<40+1, "")
	if err := z.Pump(0, func() bool { return z.Awareness[71] == nil }); err != nil {
		t.Fatal(err)
	}
	setState(x, 1<<40+2, `{"cursor":"x again"}`)
	if err := z.Pump(0, func() bool { return z.Awareness[71] != nil }); err != nil {
		t.Fatal(err)
	}
	// X leaves: only X is removed.
	_ = x.Close()
	if err := z.Pump(0, func() bool { return z.Awareness[71] == nil }); err != nil {
		t.Fatal(err)
	}
	if err := y.Pump(0, func() bool { return y.Awareness[71] == nil }); err != nil {
		t.Fatal(err)
	}
	// Y's cursor is intact at every peer, and a newcomer gets it.
	w := join("w", 75)
	if err := w.Pump(0, func() bool { return w.Awareness[72] != nil }); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]*wstest.Editor{"Z": z, "W": w} {
		if got := string(e.Awareness[72]); got != `{"cursor":"y"}` {
			t.Errorf("Y's state at %s = %q; want Y's own", name, got)
		}
		for id := range e.Awareness {
			if id != 72 && id != 73 && id != 75 {
				t.Errorf("awareness at %s holds client %d; want only the connected clients' own", name, id)
			}
		}
	}
	// A state larger than the limit is refused.
	big := join("y", 76)
	setState(big, 1, `{"name":"`+strings.Repeat("a", ts.cfg.MaxAwarenessBytes)+`"}`)
	expectRefusal(t, big.Client, protocol.CloseMessageTooBig, "awareness over the limit")
	if ts.cfg.MaxAwarenessBytes != 4<<10 {
		t.Errorf("MaxAwarenessBytes = %d; want the 4 KiB default", ts.cfg.MaxAwarenessBytes)
	}
}

// T-SEC-13.
func TestConnectionLimits(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.MaxConnsPerDocument = 3
	cfg.MaxConnsPerSubject = 4
	ts := startServer(t, cfg, nil)

	// Per document: the fourth connection is refused with 1013 and a message.
	var eds []*wstest.Editor
	for i := range 3 {
		eds = append(eds, ts.joinAs(t, "crowd", uint64(81+i), mint(t, "user"+string(rune('a'+i)), "crowd", auth.RoleWrite, time.Hour)))
	}
	c, _, err := wstest.Dial(context.Background(), ts.base, "crowd", wstest.DialOptions{Header: bearer(mint(t, "userd", "crowd", auth.RoleWrite, time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(84, nil, 0); err != nil {
		t.Fatal(err)
	}
	cl := expectRefusal(t, c, protocol.CloseTryAgainLater, "fourth connection to a document")
	if !strings.Contains(cl.Message.Message, "too many connections") {
		t.Errorf("refusal message %q; want it to say why", cl.Message.Message)
	}
	// The three are unaffected.
	if err := eds[0].Insert("body", 0, "still here"); err != nil {
		t.Fatal(err)
	}
	for _, e := range eds[1:] {
		if err := e.Pump(0, func() bool { return e.Text("body") == "still here" }); err != nil {
			t.Errorf("editor %d after the refusal: %v", e.ClientID, err)
		}
	}

	// Per subject, over all documents: the fifth is refused before the upgrade.
	tok := mint(t, "many", "*", auth.RoleRead, time.Hour)
	var mine []*wstest.Editor
	for i := range 4 {
		mine = append(mine, ts.joinAs(t, "s-"+string(rune('a'+i)), uint64(90+i), tok))
	}
	got := tryUpgrade(t, ts.wsURL("s-e", ""), bearer(tok))
	if got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "too_many_connections") {
		t.Errorf("fifth connection of a subject: upgrade = %d %s; want 503 too_many_connections", got.status, got.body)
	}
	if n := ts.metrics.refusals.Value(reasonTooManySubjectConns); n != 1 {
		t.Errorf("refusals{too_many_subject_connections} = %d; want 1", n)
	}
	// Another subject is not affected, and a closed connection frees its place.
	if got := tryUpgrade(t, ts.wsURL("s-e", ""), bearer(mint(t, "other", "*", auth.RoleRead, time.Hour))); got.status != 101 {
		t.Errorf("another subject: upgrade = %d %s; want 101", got.status, got.body)
	}
	_ = mine[0].Close()
	waitFor(t, 5*time.Second, "the place to be freed", func() bool {
		return tryUpgrade(t, ts.wsURL("s-e", ""), bearer(tok)).status == 101
	})
}

// heapPeak samples the live heap every millisecond until stop is closed, and returns its highest
// value above the heap at the start, after a GC.
func heapPeak(stop <-chan struct{}) (peak func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var max uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > max {
				max = m.HeapAlloc - base
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		<-done
		return max
	}
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

// broadcastOf returns a broadcast frame of exactly n bytes.
func broadcastOf(n int) []byte {
	for p := n; p > 0; p-- {
		b := protocol.EncodeFrame(0, &protocol.Broadcast{Payload: bytes.Repeat([]byte{'b'}, p)})
		if len(b) == n {
			return b
		}
	}
	return nil
}

// T-SEC-06, with TestMessageSizeLimit (rfc6455_test.go) for the framing cases: a message of
// exactly the default limit passes through a real session, one byte more is refused with 1009,
// in one frame or in 64-byte fragments, and refusing costs each connection at most twice the
// limit in memory.
func TestMessageSizeMemory(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	limit := ts.cfg.MaxMessageBytes
	if limit != 1<<20 {
		t.Fatalf("MaxMessageBytes = %d; want the 1 MiB default", limit)
	}
	tok := mint(t, "alice", "*", auth.RoleWrite, time.Hour)
	peer := ts.joinAs(t, "big", 101, tok)
	sender := ts.joinAs(t, "big", 102, tok)
	at := broadcastOf(limit)
	if err := sender.SendRaw(websocket.BinaryMessage, at); err != nil {
		t.Fatal(err)
	}
	if err := peer.Pump(5*time.Second, func() bool { return len(peer.Broadcasts) == 1 }); err != nil {
		t.Fatalf("a message of exactly the limit: %v", err)
	}
	f, err := protocol.DecodeFrame(at, protocol.FromClient)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(peer.Broadcasts[0].Payload), len(f.Message.(*protocol.Broadcast).Payload); got != want {
		t.Errorf("relayed payload of %d bytes; want %d", got, want)
	}

	// Four connections each send limit+1 bytes, two in one frame, two in 64-byte fragments.
	const conns = 4
	over := broadcastOf(limit + 1)
	var frames [conns][]byte
	for i := range conns {
		if i%2 == 0 {
			frames[i] = rawws.AppendFrame(nil, rawws.Frame{Fin: true, Opcode: rawws.OpBinary, Payload: over})
			continue
		}
		for off := 0; off < len(over); off += 64 {
			end := min(off+64, len(over))
			op := byte(rawws.OpContinuation)
			if off == 0 {
				op = rawws.OpBinary
			}
			frames[i] = rawws.AppendFrame(frames[i], rawws.Frame{Fin: end == len(over), Opcode: op, Payload: over[off:end]})
		}
	}
	cs := make([]*rawws.Conn, conns)
	for i := range conns {
		cs[i] = ts.rawDial(t, "big", tok, uint64(110+i), nil)
		if f, err := cs[i].ReadFrame(5 * time.Second); err != nil || f.Opcode != rawws.OpBinary {
			t.Fatalf("connection %d: sync = %v, %v", i, f, err)
		}
	}
	stop := make(chan struct{})
	peak := heapPeak(stop)
	var wg sync.WaitGroup
	outcomes := make([]rawws.Outcome, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cs[i].Write(frames[i]); err != nil {
				outcomes[i].Err = err
				return
			}
			outcomes[i] = cs[i].ReadUntilClose(5 * time.Second)
		}()
	}
	wg.Wait()
	close(stop)
	grew := peak()
	for i, o := range outcomes {
		if !o.Closed || o.Code != uint16(protocol.CloseMessageTooBig) {
			t.Errorf("connection %d (fragments %v): %+v; want close 1009", i, i%2 == 1, o)
		}
	}
	if max := uint64(conns * 2 * limit); grew > max {
		t.Errorf("heap grew by %d bytes for %d refused messages; want at most %d (2 x limit each)", grew, conns, max)
	}
	t.Logf("heap peak while refusing %d messages of limit+1: +%.2f MiB (%.2f x limit each)", conns, float64(grew)/(1<<20), float64(grew)/float64(conns*limit))
}

// deflateBomb returns the payload of a permessage-deflate message (RFC 7692: raw DEFLATE, the
// final empty block's 00 00 ff ff removed) that inflates to mib MiB of zeros. It compresses one MiB
// and repeats the result: each copy ends with a sync flush and refers to nothing before it, so the
// copies form one valid stream.
func deflateBomb(t *testing.T, mib int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat(buf.Bytes(), mib)
	return bytes.TrimSuffix(b, []byte{0, 0, 0xff, 0xff})
}

// T-SEC-07, with TestNoCompressionNegotiated (rfc6455_test.go) for the default: with compression
// enabled, a small message that inflates far past the limit is refused with 1009 after at most
// the limit is inflated.
func TestNoCompressionOrBombBound(t *testing.T) {
	offer := http.Header{"Sec-Websocket-Extensions": {"permessage-deflate; client_no_context_takeover; server_no_context_takeover"}}
	tok := mint(t, "alice", "*", auth.RoleWrite, time.Hour)

	// Default: not negotiated.
	off := startServer(t, secConfig(t, nil), nil)
	c := off.rawDial(t, "zip", tok, 120, offer.Clone())
	if ext := c.Response.Header.Get("Sec-Websocket-Extensions"); ext != "" {
		t.Errorf("default server negotiated %q; want no extension", ext)
	}

	cfg := secConfig(t, nil)
	cfg.EnableCompression = true
	ts := startServer(t, cfg, nil)
	limit := ts.cfg.MaxMessageBytes
	bomb := deflateBomb(t, 64)
	t.Logf("bomb: %d bytes inflating to 64 MiB", len(bomb))
	if len(bomb) > 80<<10 {
		t.Fatalf("bomb of %d bytes; want about 64 KiB", len(bomb))
	}
	// A peer on the same document, to show the server goes on serving.
	peer := ts.joinAs(t, "zip", 122, tok)
	// The heap is the process's: other tests' servers shutting down allocate too. Noise only
	// adds, so the least of three attempts is the measure.
	frame := rawws.AppendFrame(nil, rawws.Frame{Fin: true, RSV: 4, Opcode: rawws.OpBinary, Payload: bomb})
	grew := uint64(math.MaxUint64)
	for i := range 3 {
		c := ts.rawDial(t, "zip", tok, uint64(130+i), offer.Clone())
		if ext := c.Response.Header.Get("Sec-Websocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
			t.Fatalf("compression enabled, offered: negotiated %q; want permessage-deflate", ext)
		}
		if f, err := c.ReadFrame(5 * time.Second); err != nil || f.Opcode != rawws.OpBinary {
			t.Fatalf("sync = %v, %v", f, err)
		}
		stop := make(chan struct{})
		peak := heapPeak(stop)
		if err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		o := c.ReadUntilClose(10 * time.Second)
		close(stop)
		grew = min(grew, peak())
		if !o.Closed || o.Code != uint16(protocol.CloseMessageTooBig) {
			t.Errorf("bomb %d: %+v; want close 1009", i, o)
		}
		t.Logf("bomb %d refused after %v", i, o.Elapsed)
	}
	if max := uint64(limit + 1<<20); grew > max {
		t.Errorf("heap grew by %d bytes refusing the bomb; want at most limit + 1 MiB = %d", grew, max)
	}
	t.Logf("heap peak while refusing a 64 MiB bomb: +%.2f MiB (limit %d MiB)", float64(grew)/(1<<20), limit>>20)
	// The server goes on serving.
	if err := peer.Insert("body", 0, "alive"); err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("after the bomb: %v", err)
	}
}

// percentile returns the p-th percentile (0-100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// latency is one broadcast latency: when the update was sent, and how long it took to reach the
// observer.
type latency struct {
	sent time.Time
	d    time.Duration
}

// editLoad runs n editors on docID, each typing a character every period, and an observer
// that records, for every update, the time from its sending to its arrival at the observer. It
// runs until stop is closed and returns the latencies.
func (ts *testServer) editLoad(t *testing.T, docID string, firstID uint64, n int, period time.Duration, stop <-chan struct{}) func() []latency {
	t.Helper()
	observer := ts.joinAs(t, docID, firstID, mint(t, "observer", docID, auth.RoleRead, time.Hour))
	var mu sync.Mutex
	sentAt := map[crdt.ID]time.Time{}
	var lat []latency
	var wg sync.WaitGroup
	for i := range n {
		e := ts.joinAs(t, docID, firstID+1+uint64(i), mint(t, fmt.Sprintf("editor%d", i), docID, auth.RoleWrite, time.Hour))
		// Acks and others' updates are read and dropped, so that no editor is a slow consumer: as
		// raw bytes, which costs the test process little next to decoding frames (the server
		// writes the same either way). Editors answer no ping: the server's PongWait must be
		// longer than the load runs.
		go func() { _, _ = io.Copy(io.Discard, e.WS.NetConn()) }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(period)
			defer tick.Stop()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				// At the end of the editor's own text: it drops the others' updates, so its runs
				// form a chain of its own, which the server places after its previous run without
				// a scan (typing at 0 would make each of its runs concurrent with every other
				// client's at the start of the document, a scan that grows with the test).
				txt := e.Doc.Text("body")
				if err := txt.Insert(txt.Len(), "e"); err != nil {
					t.Error(err)
					return
				}
				u := e.Doc.TakeUpdate()
				mu.Lock()
				sentAt[crdt.ID{Client: e.ClientID, Clock: uint64(k)}] = time.Now()
				mu.Unlock()
				_ = e.WS.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if err := e.WS.WriteMessage(websocket.BinaryMessage, protocol.EncodeFrame(0, &protocol.Update{Data: u})); err != nil {
					t.Errorf("editor %d: %v", e.ClientID, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := observer.Read(time.Second)
			select {
			case <-stop:
				return
			default:
			}
			if err != nil {
				if wstest.IsTimeout(err) {
					continue
				}
				t.Errorf("observer: %v", err)
				return
			}
			u, ok := m.(*protocol.Update)
			if !ok {
				continue
			}
			now := time.Now()
			info, err := crdt.InspectUpdate(u.Data)
			if err != nil {
				t.Errorf("observer: %v", err)
				return
			}
			mu.Lock()
			for _, r := range info.Ranges {
				if at, ok := sentAt[crdt.ID{Client: r.Client, Clock: r.Start}]; ok {
					lat = append(lat, latency{at, now.Sub(at)})
				}
			}
			mu.Unlock()
		}
	}()
	return func() []latency {
		wg.Wait()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return lat
	}
}

// floodResult is how the server dealt with one flooder.
type floodResult struct {
	sent     int
	exceeded time.Time // when it had sent more than its burst and rate allow
	// emptied is when an ack showed that the server had read all but a quarter second's worth of
	// what the burst and rate allow: its bucket was about empty by then. On a loaded machine the
	// server reads the burst much later than the flooder sends it, so that exceeded can come
	// seconds before the server's bucket is empty. Zero if no ack showed it.
	emptied time.Time
	closed  time.Time // when it saw the refusal, or left
	code    protocol.CloseCode
}

// locked returns a copy of r read under mu.
func (r *floodResult) locked(mu *sync.Mutex) floodResult {
	mu.Lock()
	defer mu.Unlock()
	return *r
}

// flood joins a client as clientID and sends updates: at 10 x the update rate until the server
// refuses it (or 30 s pass: a failure), or, with polite set, its burst at that pace and then
// updates at the rate for grace, after which it leaves. Both send the same updates, encoded
// before the first is sent, so that the test process spends the same on either while it runs.
func (ts *testServer) flood(t *testing.T, docID string, clientID uint64, rate float64, burst int, grace time.Duration, polite bool) floodResult {
	t.Helper()
	flooder := ts.joinAs(t, docID, clientID, mint(t, "flooder", docID, auth.RoleWrite, time.Hour))
	defer flooder.WS.Close()
	frames := make([][]byte, burst+int(10*rate*(grace+2*time.Second).Seconds()))
	txt := flooder.Doc.Text("body")
	for i := range frames {
		_ = txt.Insert(txt.Len(), "f")
		frames[i] = protocol.EncodeFrame(0, &protocol.Update{Data: flooder.Doc.TakeUpdate()})
	}
	only := len(frames)
	if polite {
		only = burst + int(rate*grace.Seconds())
	}
	// The reader: the refusal is the error message before the close frame (the close frame itself
	// may be lost: the flooder keeps writing after the server has closed, so the server's socket
	// can end with a reset).
	closed := make(chan protocol.CloseCode, 1)
	start := time.Now()
	var r floodResult
	var mu sync.Mutex // guards r.emptied
	go func() {
		var last protocol.CloseCode
		for {
			_, b, err := flooder.WS.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
					last = protocol.CloseCode(ce.Code)
				}
				closed <- last
				return
			}
			f, err := protocol.DecodeFrame(b, protocol.FromServer)
			if err != nil {
				continue
			}
			switch m := f.Message.(type) {
			case *protocol.Error:
				closed <- m.Code
				return
			case *protocol.Ack:
				now := time.Now()
				mu.Lock()
				// Within a quarter second's worth of tokens of empty: the slack covers the acks'
				// delay (the server reads at the rate once throttled, so that acks, which come
				// after durability, never quite show it empty).
				if r.emptied.IsZero() && float64(m.Seq) > float64(burst)+rate*now.Sub(start).Seconds()-rate/4 {
					r.emptied = now
				}
				mu.Unlock()
			}
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(10*rate))
	defer tick.Stop()
	for {
		select {
		case r.code = <-closed:
			r.closed = time.Now()
			return r.locked(&mu)
		case <-tick.C:
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("flooder %d not closed after 30 s (%d updates sent)", clientID, r.sent)
		}
		if r.sent == len(frames) {
			// Not refused after its burst and 2 s beyond its grace: a failure the caller sees
			// by the missing code.
			r.closed = time.Now()
			return r.locked(&mu)
		}
		// A write blocks while the server, throttling the flooder, does not read.
		_ = flooder.WS.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := flooder.WS.WriteMessage(websocket.BinaryMessage, frames[r.sent]); err != nil {
			r.code = <-closed
			r.closed = time.Now()
			return r.locked(&mu)
		}
		r.sent++
		if r.sent == only {
			r.closed = time.Now()
			return r.locked(&mu)
		}
		if polite && r.sent >= burst {
			// At the rate from now on: one update per 10 ticks.
			for range 9 {
				<-tick.C
			}
		}
		if r.exceeded.IsZero() && float64(r.sent) > float64(burst)+rate*time.Since(start).Seconds() {
			r.exceeded = time.Now()
		}
	}
}

// T-SEC-08. Ten editors type at 10 updates per second each for the whole test, and an observer
// records every update's broadcast latency. Rounds of three windows follow each other, so that
// every condition is measured on the same connections, interleaved, under the same background
// load (other processes, the race detector):
//   - polite: an extra client sends its burst (UpdateBurst updates) at the flood's pace, then
//     updates at the rate for RateLimitGrace, all within its limit, and leaves; the window lasts
//     as long as the flood window before it;
//   - flood: a flooder sends at 10 x the update rate, the same burst first, and keeps on until
//     the server refuses it, which must happen with 4429 within 3 x the grace plus 2 s (a loaded
//     machine under the race detector; a throttle that lets the flood run on fails it) of
//     exceeding the burst, as
//     the server sees it: from the first ack counting more updates than the burst and the rate
//     allow (floodResult.emptied), not from the flooder's sending, which a loaded server reads
//     seconds later;
//   - quiet: the editors alone, for a second.
//
// The criterion compares the p99 of the latencies of updates sent during flood windows with that
// of polite windows and of quiet ones (about 1 000 samples each): at most 2 x the larger, with a floor of latencyFloor (20 ms,
// 100 ms under the race detector) under which a difference is the machine's noise, not
// starvation. The server admits the same from both clients, its burst and then its rate, so what
// the flood adds is what arrives beyond the limit: what the throttle must keep from the editors.
// Polite windows are the baseline because on a loaded machine under the race detector the server
// takes hundreds of milliseconds to fan out a burst of 300 updates to a dozen connections, flood
// or not; the quiet windows' p99 (the editors alone) is logged beside them. Both clients send
// updates encoded beforehand, so that the test process spends the same on either.
//
// At 10 x the default rate the flood does not starve the editors even unthrottled: with the
// limit off, 2 100 flood updates in 3.5 s left their p99 at 14 ms beside 18 ms for a polite
// client (and failed the close criterion). The latency criterion guards the fan-out path; the
// close criterion is what shows the throttle at work.
func TestRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s under the race detector")
	}
	const (
		editors, period = 10, 100 * time.Millisecond // 10 editors at 10 updates per second each
		rounds          = 6
	)
	// Below the floor, a difference between p99s is the machine's noise: quiet windows on a
	// shared two-core machine show p99s of 10 to 115 ms under the race detector, from stalls that
	// hit whichever window they fall in.
	latencyFloor := 20 * time.Millisecond
	if raceEnabled {
		latencyFloor = 100 * time.Millisecond
	}
	cfg := secConfig(t, nil)
	cfg.PongWait = 5 * time.Minute // the editors read raw bytes and answer no ping (editLoad)
	ts := startServer(t, cfg, nil)
	rate, burst, grace := ts.cfg.UpdatesPerSecond, ts.cfg.UpdateBurst, ts.cfg.RateLimitGrace
	if rate != 60 || burst != 300 || grace != time.Second {
		t.Fatalf("update rate %v burst %d grace %v; want the defaults 60, 300 and 1 s", rate, burst, grace)
	}
	stop := make(chan struct{})
	collect := ts.editLoad(t, "flood", 200, editors, period, stop)
	time.Sleep(500 * time.Millisecond) // the editors' first updates, before any window

	const (
		politeWindow = iota
		floodWindow
		quietWindow
	)
	type window struct {
		from, to time.Time
		kind     int
	}
	var windows []window
	last := 2 * time.Second // the length of the first burst window: about a flood window's
	for r := range rounds {
		from := time.Now()
		if res := ts.flood(t, "flood", 500+uint64(r), rate, burst, grace, true); res.code != 0 || !res.exceeded.IsZero() {
			t.Fatalf("round %d: the polite client was refused with %v or exceeded its burst (%d sent)", r, res.code, res.sent)
		}
		time.Sleep(last - time.Since(from))
		windows = append(windows, window{from, time.Now(), politeWindow})

		from = time.Now()
		res := ts.flood(t, "flood", 300+uint64(r), rate, burst, grace, false)
		windows = append(windows, window{from, res.closed, floodWindow})
		last = res.closed.Sub(from)
		emptied := res.emptied
		if emptied.IsZero() || emptied.After(res.closed) {
			emptied = res.exceeded // no ack showed it: the earliest the server could have known
		}
		t.Logf("round %d: flooder sent %d updates, exceeded its burst after %v (the server's bucket empty by %v), refused %v after that with %v",
			r, res.sent, res.exceeded.Sub(from).Round(time.Millisecond), emptied.Sub(from).Round(time.Millisecond), res.closed.Sub(emptied).Round(time.Millisecond), res.code)
		// The server refused it with 4429. The client saw the error message or the close frame,
		// unless the reset that ends a socket the flooder kept writing to came first (code 0).
		if res.code != protocol.CloseRateLimited && res.code != 0 {
			t.Fatalf("round %d: flooder refused with %v; want 4429", r, res.code)
		}
		if res.exceeded.IsZero() {
			t.Fatalf("round %d: the flooder never exceeded its burst (%d sent)", r, res.sent)
		}
		// The grace is 1 s; the bound leaves room for a loaded machine under the race detector
		// (2.3 s seen), and still fails a throttle that lets the flood run on.
		if d := res.closed.Sub(emptied); d > 3*grace+2*time.Second {
			t.Errorf("round %d: flooder closed %v after the server's bucket was empty; want within %v", r, d, 3*grace+2*time.Second)
		}

		from = time.Now()
		time.Sleep(time.Second)
		windows = append(windows, window{from, time.Now(), quietWindow})
	}
	close(stop)
	samples := collect()
	if n := ts.metrics.refusals.Value(reasonRateLimited); n != rounds {
		t.Fatalf("refusals{rate_limited} = %d; want %d (one per flooder; the burst clients stay within their limit)", n, rounds)
	}

	var lat [3][]time.Duration
	for _, s := range samples {
		for _, w := range windows {
			if !s.sent.Before(w.from) && s.sent.Before(w.to) {
				lat[w.kind] = append(lat[w.kind], s.d)
				break
			}
		}
	}
	bp, fp := percentile(lat[politeWindow], 99), percentile(lat[floodWindow], 99)
	t.Logf("editors' broadcast latency p50/p99: beside a polite client %v/%v (%d samples), beside a flooder %v/%v (%d), quiet %v/%v (%d)",
		percentile(lat[politeWindow], 50), bp, len(lat[politeWindow]),
		percentile(lat[floodWindow], 50), fp, len(lat[floodWindow]),
		percentile(lat[quietWindow], 50), percentile(lat[quietWindow], 99), len(lat[quietWindow]))
	if len(lat[politeWindow]) < 500 || len(lat[floodWindow]) < 500 {
		t.Fatalf("too few samples for a p99: %d beside a polite client, %d beside a flooder", len(lat[politeWindow]), len(lat[floodWindow]))
	}
	// The quiet windows' p99 is the machine's own noise in this run: a p99 beside the flooder
	// within twice the larger of the two baselines is no starvation.
	qp := percentile(lat[quietWindow], 99)
	if limit := max(2*bp, 2*qp, latencyFloor); fp > limit {
		t.Errorf("editors' p99 with a flooder = %v; want at most %v (2 x the p99 beside a polite client %v or of the quiet windows %v, floor %v)", fp, limit, bp, qp, latencyFloor)
	}
}

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

// T-SEC-10.
func TestHeaderFloodAndSlowloris(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.ReadHeaderTimeout = time.Second // the default is 5 s; the criterion is at most 10 s
	ts := startServer(t, cfg, nil)
	addr := strings.TrimPrefix(ts.base, "http://")
	ctx := context.Background()

	many := &strings.Builder{}
	many.WriteString("GET /v1/docs/a/ws HTTP/1.1\r\nHost: x\r\n")
	for i := range 2000 {
		fmt.Fprintf(many, "X-H-%d: v\r\n", i)
	}
	many.WriteString("\r\n")
	huge := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
	for _, tt := range []struct {
		name, raw string
	}{
		{"2000 headers", many.String()},
		{"1 MiB of headers", huge},
	} {
		resp, _, err := rawws.RoundTrip(ctx, addr, tt.raw)
		switch {
		case err != nil:
			// The server may close before it has read the whole request; a 431 is preferred,
			// but a closed connection is a refusal too.
			t.Logf("%s: %v", tt.name, err)
		case resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge:
			t.Errorf("%s: status %d; want 431", tt.name, resp.StatusCode)
		}
	}

	// A request dribbled one byte every 100 ms is dropped once the read header timeout passes.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	req := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 200) + "\r\n\r\n"
	var dropped time.Duration
	for i := 0; i < len(req); i++ {
		if _, err := nc.Write([]byte{req[i]}); err != nil {
			dropped = time.Since(start)
			break
		}
		// A write succeeds into the socket's buffer even after the server closed; a read with a
		// short deadline tells whether the server has hung up.
		_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		var b [1]byte
		if _, err := nc.Read(b[:]); err != nil && !isTimeoutErr(err) {
			dropped = time.Since(start)
			break
		}
	}
	if dropped == 0 {
		t.Fatalf("a request dribbled for %v was never dropped", time.Since(start))
	}
	if dropped > cfg.ReadHeaderTimeout+time.Second {
		t.Errorf("dribbled request dropped after %v; want within the read header timeout (%v)", dropped, cfg.ReadHeaderTimeout)
	}
	t.Logf("dribbled request dropped after %v", dropped.Round(time.Millisecond))

	// The server is alive.
	if status, b := httpDo(t, "GET", ts.base+"/healthz", "", nil); status != 200 {
		t.Errorf("healthz after the floods = %d %s; want 200", status, b)
	}
	d := SecurityConfig{}.withDefaults()
	if d.MaxHeaderBytes != 16<<10 || d.ReadHeaderTimeout > 10*time.Second {
		t.Errorf("defaults: MaxHeaderBytes %d, ReadHeaderTimeout %v; want 16 KiB and at most 10 s", d.MaxHeaderBytes, d.ReadHeaderTimeout)
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// churn applies pairs of an insertion and a deletion of one code point to e's replica, at
// positions chosen by pos, sending one update per batch of pairs, and waits for every ack.
func churn(t *testing.T, e *wstest.Editor, pairs, batch int, pos func(textLen int) int) {
	t.Helper()
	body := e.Doc.Text("body")
	for i := 0; i < pairs; i++ {
		p := pos(body.Len())
		if err := body.Insert(p, "c"); err != nil {
			t.Fatal(err)
		}
		if err := body.Delete(p, 1); err != nil {
			t.Fatal(err)
		}
		if (i+1)%batch == 0 || i == pairs-1 {
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Pump(30*time.Second, func() bool { return e.Acked == e.Sent }); err != nil {
		t.Fatal(err)
	}
}

// storedSize stops the server (which saves a snapshot of each document), reopens its file and
// returns the document's snapshot and log sizes.
func storedSize(t *testing.T, ts *testServer, docID string) (snap, log int64) {
	t.Helper()
	ts.shutdown(t)
	st, err := storage.Open(ts.path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, ok, err := st.Stat(docID)
	if err != nil || !ok {
		t.Fatalf("Stat(%q) = %v, %v", docID, ok, err)
	}
	return m.SnapshotBytes, m.LogBytes
}

// T-SEC-11.
func TestDocSizeAndTombstones(t *testing.T) {
	if testing.Short() {
		t.Skip("churns 200 000 edits")
	}
	const pairs = 100_000
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tt := range []struct {
		name    string
		prefill int
		pos     func(n int) int
		max     int64
	}{
		// Typing a character and deleting it, at the end of the text, again and again: each new
		// character goes right after the visible text, before the characters deleted there
		// (docs/crdt.md 1.3), so each pair leaves a deleted run of its own (about 3 bytes).
		// The bar of random positions: 2 MiB.
		{"sequential", 0, func(n int) int { return n }, 2 << 20},
		// The same anywhere in a text of 1000 characters.
		{"random", 1000, func(n int) int { return rng.IntN(n + 1) }, 2 << 20},
	} {
		ts := startServer(t, secConfig(t, nil), nil)
		e := ts.joinAs(t, "churn", 601, mint(t, "typist", "churn", auth.RoleWrite, time.Hour))
		if tt.prefill > 0 {
			if err := e.Insert("body", 0, strings.Repeat("p", tt.prefill)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		churn(t, e, pairs, 1000, tt.pos)
		took := time.Since(start)
		snap, log := storedSize(t, ts, "churn")
		t.Logf("%s churn: %d insert+delete pairs in %v; stored snapshot %d bytes, log %d bytes", tt.name, pairs, took.Round(time.Millisecond), snap, log)
		if snap+log > tt.max {
			t.Errorf("%s churn: stored %d bytes (snapshot %d + log %d); want at most %d", tt.name, snap+log, snap, log, tt.max)
		}
	}

	// The document size cap: 256 KiB, with messages of at most 64 KiB.
	cfg := secConfig(t, nil)
	cfg.MaxDocumentBytes = 256 << 10
	cfg.MaxMessageBytes = 64 << 10
	cfg.MaxAwarenessBytes = 4 << 10
	ts := startServer(t, cfg, nil)
	tok := mint(t, "writer", "capped", auth.RoleWrite, time.Hour)
	e := ts.joinAs(t, "capped", 602, tok)
	chunk := strings.Repeat("0123456789abcdef", 3<<10) // 48 KiB
	var cl *wstest.Closed
	for i := 0; i < 20 && cl == nil; i++ {
		if err := e.Insert("body", e.Doc.Text("body").Len(), chunk); err != nil {
			t.Fatal(err)
		}
		err := e.Pump(5*time.Second, func() bool { return e.Acked == e.Sent })
		if errors.As(err, &cl) {
			break
		}
		if err != nil {
			// The error message came first: read on to the close.
			if c, cerr := e.ExpectClose(5 * time.Second); cerr == nil {
				cl = c
			} else {
				t.Fatal(err)
			}
		}
	}
	if cl == nil || cl.Code != int(protocol.CloseDocumentTooLarge) {
		t.Fatalf("growing past the cap: %v; want a close with 4413", cl)
	}
	if n := ts.metrics.refusals.Value(reasonDocTooLarge); n != 1 {
		t.Errorf("refusals{document_too_large} = %d; want 1", n)
	}
	stored := ts.docText(t, "capped")
	if len(stored) < 4*len(chunk) || len(stored) > 6*len(chunk) {
		t.Errorf("stored text of %d bytes; want what fit under the cap (4 to 6 chunks of %d)", len(stored), len(chunk))
	}
	// The document still loads, now and after a restart, and a joiner gets all of it in one sync
	// larger than the message limit: the limit bounds what clients send, not what the server does.
	for _, phase := range []string{"now", "after a restart"} {
		if phase == "after a restart" {
			ts.shutdown(t)
			cfg2 := cfg
			cfg2.DataPath = ts.path
			ts = startServer(t, cfg2, nil)
		}
		r := ts.joinAs(t, "capped", 603, mint(t, "reader", "capped", auth.RoleRead, time.Hour))
		if got := r.Text("body"); got != stored {
			t.Errorf("%s: joiner's text of %d bytes; want the %d stored", phase, len(got), len(stored))
		}
		if n := len(r.LastSync.Update); n <= cfg.MaxMessageBytes {
			t.Errorf("%s: sync of %d bytes; want more than the message limit %d", phase, n, cfg.MaxMessageBytes)
		}
		_ = r.Close()
	}
	// Small edits that fit are still accepted... after a restart that compacted the log, up to the cap.
	w := ts.joinAs(t, "capped", 604, tok)
	if err := w.Insert("body", 0, "x"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("a small edit under the cap: %v", err)
	}
}

// T-SEC-12. The plan's bomb: 10 000 updates whose dependencies never arrive. The cap is 1 MiB
// rather than the default 8 MiB, with updates of about 120 bytes, so that the 10 000 pass it
// (after about 8 800) at an eighth of the traffic and memory; the server's path is the same. The
// test waits for events (the refusal, the unload), each bounded by a generous timeout, not for
// time windows that a loaded machine may miss; only the heap criterion is timed, from the unload.
func TestPendingBomb(t *testing.T) {
	const capBytes = 1 << 20
	cfg := secConfig(t, nil)
	cfg.MaxPendingBytes = capBytes
	cfg.UpdatesPerSecond, cfg.UpdateBurst = 1e6, 1e6 // the bomb is about bytes, not rate
	cfg.IdleUnloadAfter = 200 * time.Millisecond
	ts := startServer(t, cfg, nil)
	tok := mint(t, "bomber", "pending", auth.RoleWrite, time.Hour)
	honest := ts.joinAs(t, "pending", 701, mint(t, "honest", "pending", auth.RoleWrite, time.Hour))
	if err := honest.Insert("body", 0, "honest text"); err != nil {
		t.Fatal(err)
	}
	if err := honest.WaitAcked(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = honest.Close()
	waitFor(t, 30*time.Second, "the document to unload", func() bool { return ts.metrics.documentsOpen.Value() == 0 })
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapAlloc

	// Updates of the bomber's own client whose clock 0 never comes, with gaps between them so that
	// none merges with another: each waits, as a block of its own of about 120 bytes of the pending
	// update. What the bomber had queued behind the refused one is dropped.
	bomber := ts.joinAs(t, "pending", 702, tok)
	const updates, unitLen = 10_000, 110
	if updates*unitLen <= capBytes {
		t.Fatalf("%d updates of %d code points do not pass the cap of %d bytes", updates, unitLen, capBytes)
	}
	frames := make([][]byte, updates)
	for i := range frames {
		u := craftUpdate(702, uint64(1+i*(unitLen+1)), strings.Repeat("p", unitLen))
		frames[i] = protocol.EncodeFrame(0, &protocol.Update{Data: u})
	}
	start := time.Now()
	sent := make(chan int, 1)
	go func() {
		n := 0
		for _, f := range frames {
			if err := bomber.SendRaw(websocket.BinaryMessage, f); err != nil {
				break
			}
			n++
		}
		sent <- n
	}()
	// The acks of the updates that wait are read as they come (a reader that stopped would be a
	// slow consumer), until the close.
	cl, err := bomber.ExpectClose(2 * time.Minute)
	if err != nil {
		t.Fatalf("the pending bomb: %v; want a close with %d", err, protocol.CloseInvalidUpdate)
	}
	closedAt := time.Now()
	if cl.Code != int(protocol.CloseInvalidUpdate) || cl.Message == nil || cl.Message.Code != protocol.CloseInvalidUpdate {
		t.Fatalf("the pending bomb: closed with %d %q after the error message %+v; want %d", cl.Code, cl.Text, cl.Message, protocol.CloseInvalidUpdate)
	}
	if !strings.Contains(cl.Message.Message, "waiting for missing dependencies") {
		t.Errorf("refusal %q; want it to say updates wait for missing dependencies", cl.Message.Message)
	}
	_ = bomber.WS.Close()
	var n int
	select {
	case n = <-sent:
	case <-time.After(time.Minute):
		t.Fatal("the bomber's sender still blocked a minute after the close")
	}
	frames = nil
	t.Logf("refused with %d %q after %v; %d of %d updates sent", cl.Code, cl.Message.Message, closedAt.Sub(start).Round(time.Millisecond), n, updates)
	// Counted once: the updates already in the actor's inbox when the connection started closing
	// are dropped, not refused one by one.
	if n := ts.metrics.refusals.Value(reasonPendingOverflow); n != 1 {
		t.Errorf("refusals{pending_overflow} = %d; want 1", n)
	}
	// The honest text is intact and the bomber's units never entered the state vector.
	if got := ts.docText(t, "pending"); got != "honest text" {
		t.Errorf("text = %q; want %q", got, "honest text")
	}
	if sv := ts.serverSV(t, "pending"); sv[702] != 0 {
		t.Errorf("state vector %v; want no entry for the bomber", sv)
	}
	// Once the document unloads (it saves its pending buffer first), the memory comes back within
	// 5 s.
	waitFor(t, time.Minute, "the document to unload", func() bool { return ts.metrics.documentsOpen.Value() == 0 })
	unloaded := time.Now()
	limit := 1.1*float64(baseline) + float64(256<<10) // 10 % and a quarter of the cap of slack
	for {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if float64(ms.HeapAlloc) <= limit || time.Since(unloaded) > 5*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("heap: %d bytes before the bomb, %d after the unload (%v after the close, %v after the unload)",
		baseline, ms.HeapAlloc, time.Since(closedAt).Round(time.Millisecond), time.Since(unloaded).Round(time.Millisecond))
	if float64(ms.HeapAlloc) > limit {
		t.Errorf("heap %d bytes 5 s after the unload; want at most %.0f (baseline %d + 10%% + 256 KiB of slack)", ms.HeapAlloc, limit, baseline)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key, PEM-encoded, into dir
// and returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tandem test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS serves HTTPS and WSS with a certificate made here, and checks that a bad certificate
// configuration fails at start, naming the field.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := secConfig(t, nil)
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	ts := startServer(t, cfg, nil)
	addr := strings.TrimPrefix(ts.base, "http://")
	tlsCfg := &tls.Config{RootCAs: pool}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 5 * time.Second}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET https://.../healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET https://.../healthz = %d (TLS %v); want 200 over TLS", resp.StatusCode, resp.TLS != nil)
	}

	// An editor over wss.
	tok := mint(t, "alice", "tls", auth.RoleWrite, time.Hour)
	d := websocket.Dialer{TLSClientConfig: tlsCfg, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("wss://"+addr+"/v1/docs/tls/ws", bearer(tok))
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	defer ws.Close()
	c := &wstest.Client{WS: ws}
	if err := c.Hello(801, nil, 0); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Read(0); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*protocol.Sync); !ok {
		t.Fatalf("wss: got %T; want sync", m)
	}
	if err := c.Send(&protocol.Update{Data: craftUpdate(801, 0, "over tls")}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Read(0); err != nil {
		t.Fatal(err)
	} else if a, ok := m.(*protocol.Ack); !ok || a.Seq != 1 {
		t.Fatalf("wss: got %#v; want ack 1", m)
	}

	// Plain HTTP to the TLS port gets no document; neither does a client that does not trust the
	// certificate.
	if status, b := httpDo(t, "GET", "http://"+addr+"/v1/docs/tls", tok, nil); status != http.StatusBadRequest || strings.Contains(string(b), "over tls") {
		t.Errorf("plain HTTP to the TLS port = %d %q; want 400 and no content", status, b)
	}
	if _, err := http.Get("https://" + addr + "/healthz"); err == nil {
		t.Errorf("a client without the certificate connected; want a TLS error")
	}

	// Bad configurations fail at New with the field named.
	for _, tt := range []struct {
		name       string
		cert, key  string
		wantInText string
	}{
		{"missing files", filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key"), "TLSCertFile"},
		{"cert without key", certFile, "", "TLSCertFile"},
		{"key as cert", keyFile, keyFile, "TLSCertFile"},
	} {
		bad := secConfig(t, nil)
		bad.TLSCertFile, bad.TLSKeyFile = tt.cert, tt.key
		if _, err := New(bad); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantInText) {
			t.Errorf("%s: New = %v; want ErrInvalidConfig naming %s", tt.name, err, tt.wantInText)
		}
	}
}
