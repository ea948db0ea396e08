package server

// The security tests of origins, tokens and roles: T-SEC-01, T-SEC-02, T-SEC-03 and T-SEC-14 (helpers
// in security_helpers_test.go).

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
)

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
