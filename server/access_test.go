package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
)

// accessAnswer is what GET /v1/docs/{id}/access answers, both forms in one.
type accessAnswer struct {
	OK      bool    `json:"ok"`
	Role    string  `json:"role"`
	Subject string  `json:"subject"`
	Expires *string `json:"expires"`
	Code    int     `json:"code"`
	Error   string  `json:"error"`
}

// askAccess asks the access endpoint of docID with the given query and headers.
func (ts *testServer) askAccess(t *testing.T, docID, query string, hdr http.Header) (int, http.Header, accessAnswer, string) {
	t.Helper()
	u := ts.base + "/v1/docs/" + docID + "/access"
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hdr != nil {
		req.Header = hdr
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a accessAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("GET %s: body %q: %v", u, b, err)
	}
	return resp.StatusCode, resp.Header, a, string(b)
}

// TestAccessEndpoint checks every answer of GET /v1/docs/{id}/access against what the upgrade
// with the same token and origin does.
func TestAccessEndpoint(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.AllowedOrigins = []string{"https://app.example.com"}
	ts := startServer(t, cfg, nil)
	writer := mint(t, "alice", "acc-*", auth.RoleWrite, time.Hour)
	reader := mint(t, "bob", "acc-1", auth.RoleRead, time.Hour)
	revoked := mintClaims(t, auth.Claims{Subject: "carol", Documents: "*", Role: auth.RoleWrite, Expires: time.Now().Add(time.Hour), ID: "carol-revoked"})
	ts.revokeVia(t, `{"jti":"carol-revoked"}`)
	withOrigin := func(tok, origin string) http.Header {
		h := bearer(tok)
		h.Set("Origin", origin)
		return h
	}
	tests := []struct {
		name     string
		doc      string
		query    string
		hdr      http.Header
		status   int
		code     protocol.CloseCode
		errMatch string
		role     string
	}{
		{"writer, query token", "acc-1", "token=" + writer, nil, 200, 0, "", "write"},
		{"writer, bearer header", "acc-1", "", bearer(writer), 200, 0, "", "write"},
		{"reader", "acc-1", "token=" + reader, nil, 200, 0, "", "read"},
		{"allowed origin", "acc-1", "", withOrigin(writer, "https://app.example.com"), 200, 0, "", "write"},
		{"the server's own origin", "acc-1", "", withOrigin(writer, ts.base), 200, 0, "", "write"},
		{"bad document ID", "bad%20id", "token=" + writer, nil, 400, 4400, "document ID", ""},
		{"no token", "acc-1", "", nil, 401, 4401, "no token", ""},
		{"forged token", "acc-1", "token=" + writer + "x", nil, 401, 4401, "signature", ""},
		{"expired token", "acc-1", "token=" + mint(t, "alice", "*", auth.RoleWrite, -time.Minute), nil, 401, 4401, "expired", ""},
		{"revoked token", "acc-1", "token=" + revoked, nil, 401, 4401, "revoked", ""},
		{"another document", "other", "token=" + writer, nil, 403, 4403, "does not allow", ""},
		{"refused origin", "acc-1", "", withOrigin(writer, "https://evil.example"), 403, 4403, "origin", ""},
	}
	for _, tt := range tests {
		status, h, a, body := ts.askAccess(t, tt.doc, tt.query, tt.hdr)
		if got := h.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin = %q; want *", tt.name, got)
		}
		if status != tt.status {
			t.Errorf("%s: status %d %s; want %d", tt.name, status, body, tt.status)
			continue
		}
		if tt.status == 200 {
			if !a.OK || a.Role != tt.role || a.Subject == "" || a.Expires == nil {
				t.Errorf("%s: %s; want ok, role %s, a subject and an expiry", tt.name, body, tt.role)
			} else if _, err := time.Parse(time.RFC3339, *a.Expires); err != nil {
				t.Errorf("%s: expires %q is not RFC 3339: %v", tt.name, *a.Expires, err)
			}
			continue
		}
		if a.OK || a.Code != int(tt.code) || !strings.Contains(a.Error, tt.errMatch) {
			t.Errorf("%s: %s; want ok false, code %d, an error mentioning %q", tt.name, body, tt.code, tt.errMatch)
		}
		// The upgrade refuses the same callers, before upgrading.
		if tt.doc == "acc-1" || tt.doc == "other" {
			h := tt.hdr
			if h == nil {
				h = http.Header{}
			}
			if got := tryUpgrade(t, ts.wsURL(tt.doc, tt.query), h); got.status != tt.status {
				t.Errorf("%s: upgrade = %d; want %d like the access endpoint", tt.name, got.status, tt.status)
			}
		}
	}

	// The CORS preflight of a request with an Authorization header.
	req, _ := http.NewRequest("OPTIONS", ts.base+"/v1/docs/acc-1/access", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight = %d %v; want 204 allowing any origin and the Authorization header", resp.StatusCode, resp.Header)
	}
}

// TestAccessRetryable: a subject at its connection limit is told 503 with 1013, as its upgrade
// would be refused with 503; a client retries with backoff.
func TestAccessRetryable(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.MaxConnsPerSubject = 1
	ts := startServer(t, cfg, nil)
	tok := mint(t, "alice", "*", auth.RoleWrite, time.Hour)
	ts.joinAs(t, "full", 98, tok)
	status, _, a, body := ts.askAccess(t, "full", "token="+tok, nil)
	if status != http.StatusServiceUnavailable || a.Code != int(protocol.CloseTryAgainLater) {
		t.Errorf("subject at its limit: %d %s; want 503 with 1013", status, body)
	}
	if got := tryUpgrade(t, ts.wsURL("full", "token="+tok), nil); got.status != http.StatusServiceUnavailable {
		t.Errorf("upgrade of a subject at its limit = %d; want 503 like the access endpoint", got.status)
	}
}

// TestAccessOpenServer: without a secret, everyone is the anonymous writer, with no expiry.
func TestAccessOpenServer(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	status, _, a, body := ts.askAccess(t, "doc", "", nil)
	if status != 200 || !a.OK || a.Role != "write" || a.Subject != "anonymous" || a.Expires != nil || !strings.Contains(body, `"expires":null`) {
		t.Errorf("open server: %d %s; want 200, the anonymous writer, expires null", status, body)
	}
}

// TestAccessDocumentBeingDeleted answers 404 with 4404 while a deletion is in progress (its
// actor waits for a write to become durable before it deletes).
func TestAccessDocumentBeingDeleted(t *testing.T) {
	var gate *gateStore
	ts := startServer(t, testConfig(t), func(st docStore) docStore { gate = newGateStore(st); return gate })
	gate.release() // the seed's write goes through
	ts.seed(t, "del", 96, "text")
	gate.mu.Lock()
	gate.open = false
	gate.mu.Unlock()
	e := ts.editor(t, "del", 97)
	if err := e.Insert("body", 0, "held "); err != nil {
		t.Fatal(err)
	}
	<-gate.holdCh // the write is held: the deletion will wait for it
	deleted := make(chan int, 1)
	go func() {
		status, _ := httpDo(t, "DELETE", ts.base+"/v1/docs/del", "", nil)
		deleted <- status
	}()
	waitFor(t, 5*time.Second, "the access endpoint to say 4404", func() bool {
		status, _, a, _ := ts.askAccess(t, "del", "", nil)
		return status == http.StatusNotFound && a.Code == int(protocol.CloseDocumentDeleted)
	})
	gate.release()
	if status := <-deleted; status != http.StatusNoContent {
		t.Errorf("DELETE = %d; want 204", status)
	}
	// Deleted, the document is gone: a new connection would start it afresh.
	if status, _, _, body := ts.askAccess(t, "del", "", nil); status != http.StatusOK {
		t.Errorf("after the deletion: %d %s; want 200", status, body)
	}
}
