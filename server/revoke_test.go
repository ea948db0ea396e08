package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
)

// mintClaims returns a token carrying c, signed with the tests' secret.
func mintClaims(t *testing.T, c auth.Claims) string {
	t.Helper()
	return mintWith(t, secSecret, c)
}

// postJSON sends a JSON body with tok and returns the status and body.
func postJSON(t *testing.T, method, url, tok string, body string) (int, []byte) {
	t.Helper()
	return httpSend(t, method, url, tok, "application/json", []byte(body))
}

// revokeVia asks the administration API to revoke body ({"jti": ...} or {"subject": ...}) and
// returns how many connections it closed.
func (ts *testServer) revokeVia(t *testing.T, body string) int {
	t.Helper()
	admin := mint(t, "ops", "*", auth.RoleAdmin, time.Hour)
	status, b := postJSON(t, "POST", ts.base+"/v1/revocations", admin, body)
	if status != http.StatusOK {
		t.Fatalf("POST /v1/revocations %s = %d %s; want 200", body, status, b)
	}
	var resp revocationResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Closed
}

// TestRevokeTokenWhileConnected revokes one token by its ID: its connection is closed with 4401
// before the revocation is answered, its next upgrade and HTTP request are refused with 401, and
// another token of the same subject, and other subjects, go on.
func TestRevokeTokenWhileConnected(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	revoked := mintClaims(t, auth.Claims{Subject: "alice", Documents: "rv", Role: auth.RoleWrite, Expires: time.Now().Add(time.Hour), ID: "alice-laptop"})
	kept := mintClaims(t, auth.Claims{Subject: "alice", Documents: "rv", Role: auth.RoleWrite, Expires: time.Now().Add(time.Hour), ID: "alice-phone"})
	e := ts.joinAs(t, "rv", 71, revoked)
	phone := ts.joinAs(t, "rv", 72, kept)
	bob := ts.joinAs(t, "rv", 73, mint(t, "bob", "rv", auth.RoleWrite, time.Hour))

	if n := ts.revokeVia(t, `{"jti":"alice-laptop"}`); n != 1 {
		t.Errorf("revocation closed %d connections; want 1", n)
	}
	cl := expectRefusal(t, e.Client, protocol.CloseUnauthorized, "revoked token")
	if !strings.Contains(cl.Message.Message, "revoked") {
		t.Errorf("error message %q; want it to say the token was revoked", cl.Message.Message)
	}
	for _, other := range []struct {
		name string
		e    interface {
			Insert(string, int, string) error
			WaitAcked(time.Duration) error
		}
	}{{"alice's other token", phone}, {"bob", bob}} {
		if err := other.e.Insert("body", 0, "x"); err != nil {
			t.Fatal(err)
		}
		if err := other.e.WaitAcked(5 * time.Second); err != nil {
			t.Errorf("%s after the revocation: %v", other.name, err)
		}
	}
	got := tryUpgrade(t, ts.wsURL("rv", "token="+revoked), nil)
	if got.status != http.StatusUnauthorized || !strings.Contains(got.body, "token revoked") {
		t.Errorf("upgrade with the revoked token = %d %s; want 401 token revoked", got.status, got.body)
	}
	if status, b := httpDo(t, "GET", ts.base+"/v1/docs/rv", revoked, nil); status != http.StatusUnauthorized {
		t.Errorf("GET with the revoked token = %d %s; want 401", status, b)
	}
	if got := ts.metrics.refusals.Value(reasonRevoked); got < 2 {
		t.Errorf("refusals{token_revoked} = %d; want at least 2", got)
	}
}

// TestRevokeSubjectWhileConnected revokes a subject: every connection of its tokens is closed, and
// those tokens open nothing new.
func TestRevokeSubjectWhileConnected(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	t1 := mint(t, "mallory", "*", auth.RoleWrite, time.Hour)
	t2 := mint(t, "mallory", "rs-*", auth.RoleRead, time.Hour)
	a := ts.joinAs(t, "rs-1", 81, t1)
	b := ts.joinAs(t, "rs-2", 82, t2)
	bob := ts.joinAs(t, "rs-1", 83, mint(t, "bob", "rs-1", auth.RoleWrite, time.Hour))
	if n := ts.revokeVia(t, `{"subject":"mallory"}`); n != 2 {
		t.Errorf("revocation closed %d connections; want 2", n)
	}
	expectRefusal(t, a.Client, protocol.CloseUnauthorized, "revoked subject, first connection")
	expectRefusal(t, b.Client, protocol.CloseUnauthorized, "revoked subject, second connection")
	for _, tok := range []string{t1, t2} {
		if got := tryUpgrade(t, ts.wsURL("rs-1", "token="+tok), nil); got.status != http.StatusUnauthorized {
			t.Errorf("upgrade with a revoked subject's token = %d %s; want 401", got.status, got.body)
		}
	}
	if err := bob.Insert("body", 0, "x"); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("bob after mallory's revocation: %v", err)
	}
}

// TestRevocationsSurviveRestart checks that revocations made through the API are in force after a
// restart, from the file next to the data file.
func TestRevocationsSurviveRestart(t *testing.T) {
	cfg := secConfig(t, nil)
	ts := startServer(t, cfg, nil)
	byID := mintClaims(t, auth.Claims{Subject: "carol", Documents: "*", Role: auth.RoleWrite, Expires: time.Now().Add(time.Hour), ID: "carol-1"})
	bySubject := mint(t, "dave", "*", auth.RoleWrite, time.Hour)
	ts.revokeVia(t, `{"jti":"carol-1"}`)
	ts.revokeVia(t, `{"subject":"dave"}`)
	ts.shutdown(t)

	ts2 := startServer(t, cfg, nil)
	for name, tok := range map[string]string{"revoked token": byID, "revoked subject": bySubject} {
		if got := tryUpgrade(t, ts2.wsURL("doc", "token="+tok), nil); got.status != http.StatusUnauthorized {
			t.Errorf("%s after a restart: upgrade = %d %s; want 401", name, got.status, got.body)
		}
	}
	if got := tryUpgrade(t, ts2.wsURL("doc", "token="+mint(t, "carol", "*", auth.RoleWrite, time.Hour)), nil); got.status != http.StatusSwitchingProtocols {
		t.Errorf("carol's other token after a restart: upgrade = %d %s; want 101", got.status, got.body)
	}
	admin := mint(t, "ops", "*", auth.RoleAdmin, time.Hour)
	status, b := httpDo(t, "GET", ts2.base+"/v1/revocations", admin, nil)
	if status != http.StatusOK || !strings.Contains(string(b), `"jti":"carol-1"`) || !strings.Contains(string(b), `"subject":"dave"`) {
		t.Errorf("GET /v1/revocations after a restart = %d %s; want both entries", status, b)
	}
}

// TestDenyList checks the deny list's decisions and its file: entries past their Until are
// dropped when it is read.
func TestDenyList(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "revocations.json")
	d, err := newDenyList(path, []string{"banned"}, now)
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := now
	for _, r := range []Revocation{
		{TokenID: "t1", Until: now.Add(time.Hour)},
		{Subject: "s", IssuedBefore: &revokedAt, Until: now.Add(time.Hour)},
		{TokenID: "old", Until: now.Add(time.Minute)},
	} {
		if err := d.add(r, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.add(Revocation{TokenID: "t2", Subject: "s", Until: now.Add(time.Hour)}, now); err == nil {
		t.Errorf("add(jti and subject) = nil; want an error")
	}
	tests := []struct {
		subject, id string
		issued      time.Time
		want        bool
	}{
		{"x", "t1", now, true},
		{"x", "t2", now, false},
		{"s", "a", now.Add(-time.Hour), true},
		{"s", "a", now, true}, // issued the second of the revocation
		{"s", "a", now.Add(time.Second), false},
		{"s", "a", time.Time{}, true}, // no iat: covered
		{"banned", "any", now.Add(time.Hour), true},
		{"other", "", now, false},
	}
	for _, tt := range tests {
		if got := d.denies(tt.subject, tt.id, tt.issued); got != tt.want {
			t.Errorf("denies(%q, %q, %v) = %v; want %v", tt.subject, tt.id, tt.issued, got, tt.want)
		}
	}
	// Read back two minutes later: "old" has passed its Until, the others are kept; the banned
	// subjects come from the configuration only.
	d2, err := newDenyList(path, nil, now.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range d2.list() {
		ids = append(ids, r.TokenID+r.Subject)
	}
	if got, want := strings.Join(ids, ","), "t1,s"; got != want {
		t.Errorf("entries read back = %s; want %s", got, want)
	}
	if d2.denies("banned", "any", now) {
		t.Errorf("a banned subject was written to the file")
	}
	// A damaged file stops the server rather than forget revocations.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newDenyList(path, nil, now); err == nil {
		t.Errorf("newDenyList(damaged file) = nil error; want one")
	}
}

// TestRevokedSubjectsConfig checks Config.RevokedSubjects (--revoked-subjects): every token of
// the subject is refused, however recent.
func TestRevokedSubjectsConfig(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.RevokedSubjects = []string{"eve"}
	ts := startServer(t, cfg, nil)
	if got := tryUpgrade(t, ts.wsURL("doc", "token="+mint(t, "eve", "*", auth.RoleWrite, time.Hour)), nil); got.status != http.StatusUnauthorized {
		t.Errorf("upgrade of a banned subject = %d %s; want 401", got.status, got.body)
	}
	if got := tryUpgrade(t, ts.wsURL("doc", "token="+mint(t, "frank", "*", auth.RoleWrite, time.Hour)), nil); got.status != http.StatusSwitchingProtocols {
		t.Errorf("upgrade of another subject = %d %s; want 101", got.status, got.body)
	}
}

// TestRevocationAPIRefusals checks who may use the administration API and what it refuses.
func TestRevocationAPIRefusals(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	admin := mint(t, "ops", "*", auth.RoleAdmin, time.Hour)
	tests := []struct {
		name, tok, body string
		want            int
	}{
		{"no token", "", `{"jti":"x"}`, http.StatusUnauthorized},
		{"writer", mint(t, "w", "*", auth.RoleWrite, time.Hour), `{"jti":"x"}`, http.StatusForbidden},
		{"reader", mint(t, "r", "*", auth.RoleRead, time.Hour), `{"jti":"x"}`, http.StatusForbidden},
		{"neither jti nor subject", admin, `{}`, http.StatusBadRequest},
		{"both", admin, `{"jti":"x","subject":"y"}`, http.StatusBadRequest},
		{"until in the past", admin, `{"jti":"x","until":"2001-01-01T00:00:00Z"}`, http.StatusBadRequest},
		{"unknown field", admin, `{"token":"x"}`, http.StatusBadRequest},
		{"admin", admin, `{"jti":"x","until":"2099-01-01T00:00:00Z"}`, http.StatusOK},
	}
	for _, tt := range tests {
		if status, b := postJSON(t, "POST", ts.base+"/v1/revocations", tt.tok, tt.body); status != tt.want {
			t.Errorf("%s: POST /v1/revocations = %d %s; want %d", tt.name, status, b, tt.want)
		}
	}
	// A server without a secret has no tokens to revoke.
	open := startServer(t, testConfig(t), nil)
	if status, b := postJSON(t, "POST", open.base+"/v1/revocations", "", `{"jti":"x"}`); status != http.StatusConflict {
		t.Errorf("open server: POST /v1/revocations = %d %s; want 409", status, b)
	}
}
