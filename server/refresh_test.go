package server

import (
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// roundTrip sends a ping and handles what comes before its pong: every message e sent before
// has been read by the server when it returns.
func roundTrip(t *testing.T, e *wstest.Editor) {
	t.Helper()
	const nonce = 4242
	if err := e.Send(&protocol.Ping{Nonce: nonce}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := e.Read(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the pong: %v", err)
		}
		if p, ok := m.(*protocol.Pong); ok && p.Nonce == nonce {
			return
		}
		if err := e.Handle(m); err != nil {
			t.Fatal(err)
		}
	}
}

// connOf returns the open connection of subject (there must be one).
func (ts *testServer) connOf(t *testing.T, subject string) *conn {
	t.Helper()
	for _, tc := range ts.hub.Conns() {
		if c := sessionOf(tc); c.subject == subject {
			return c
		}
	}
	t.Fatalf("no connection of %q", subject)
	return nil
}

// TestRefreshExtendsExpiry sends a new token before the first one expires: the connection adopts
// its expiry and outlives the first one.
func TestRefreshExtendsExpiry(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	// JWT expiries are whole seconds: this one falls between 1 and 2 s from now.
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
	e := ts.joinAs(t, "rf", 91, mintClaims(t, auth.Claims{Subject: "alice", Documents: "rf", Role: auth.RoleWrite, Expires: exp}))
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := e.Send(&protocol.Auth{Token: mintClaims(t, auth.Claims{Subject: "alice", Documents: "rf", Role: auth.RoleWrite, Expires: later, ID: "second"})}); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, e)
	ca := ts.connOf(t, "alice").auth
	ca.mu.Lock()
	gotExp, gotID := ca.expires, ca.tokenID
	ca.mu.Unlock()
	if !gotExp.Equal(later) || gotID != "second" {
		t.Errorf("after the refresh, the connection's token expires %v with ID %q; want %v, %q", gotExp, gotID, later, "second")
	}
	// Past the first token's expiry, the connection is still served.
	time.Sleep(time.Until(exp) + 200*time.Millisecond)
	if err := e.Insert("body", 0, "still here"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("after the first token's expiry: %v; want the refreshed connection served", err)
	}
}

// TestRefreshEarlierExpiry adopts a token that expires sooner: the connection closes with 4401
// at its expiry.
func TestRefreshEarlierExpiry(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	e := ts.joinAs(t, "rf", 92, mint(t, "alice", "rf", auth.RoleWrite, time.Hour))
	soon := time.Now().Add(2 * time.Second).Truncate(time.Second)
	if err := e.Send(&protocol.Auth{Token: mintClaims(t, auth.Claims{Subject: "alice", Documents: "rf", Role: auth.RoleWrite, Expires: soon})}); err != nil {
		t.Fatal(err)
	}
	cl := expectRefusal(t, e.Client, protocol.CloseUnauthorized, "the refreshed token's expiry")
	if !strings.Contains(cl.Message.Message, "expired") {
		t.Errorf("error message %q; want it to say the token expired", cl.Message.Message)
	}
}

// TestRefreshRole adopts the new token's role: read to write lets the connection write, write to
// read makes it read-only.
func TestRefreshRole(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	reader := ts.joinAs(t, "rr", 93, mint(t, "alice", "rr", auth.RoleRead, time.Hour))
	if err := reader.Send(&protocol.Auth{Token: mint(t, "alice", "rr", auth.RoleWrite, time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := reader.Insert("body", 0, "now a writer"); err != nil {
		t.Fatal(err)
	}
	if err := reader.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("update after a refresh to write: %v; want it acknowledged", err)
	}

	writer := ts.joinAs(t, "rr", 94, mint(t, "bob", "rr", auth.RoleWrite, time.Hour))
	if err := writer.Send(&protocol.Auth{Token: mint(t, "bob", "rr", auth.RoleRead, time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := writer.Insert("body", 0, "x"); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, writer.Client, protocol.CloseForbidden, "update after a refresh to read")
}

// TestRefreshRefused closes with 4401 for a token that is not valid for the connection.
func TestRefreshRefused(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	revoked := mintClaims(t, auth.Claims{Subject: "alice", Documents: "rx", Role: auth.RoleWrite, Expires: time.Now().Add(time.Hour), ID: "gone"})
	ts.revokeVia(t, `{"jti":"gone"}`)
	tests := []struct {
		name, tok, want string
	}{
		{"another subject", mint(t, "mallory", "rx", auth.RoleWrite, time.Hour), "another subject"},
		{"another document", mint(t, "alice", "other", auth.RoleWrite, time.Hour), "does not allow this document"},
		{"expired", mint(t, "alice", "rx", auth.RoleWrite, -time.Minute), "expired"},
		{"forged", mint(t, "alice", "rx", auth.RoleWrite, time.Hour) + "x", "signature"},
		{"garbage", "not a token", "malformed"},
		{"empty", "", "no token"},
		{"revoked", revoked, "revoked"},
	}
	for i, tt := range tests {
		e := ts.joinAs(t, "rx", uint64(100+i), mint(t, "alice", "rx", auth.RoleWrite, time.Hour))
		if err := e.Send(&protocol.Auth{Token: tt.tok}); err != nil {
			t.Fatal(err)
		}
		cl := expectRefusal(t, e.Client, protocol.CloseUnauthorized, tt.name)
		if !strings.Contains(cl.Message.Message, tt.want) {
			t.Errorf("%s: error message %q; want it to mention %q", tt.name, cl.Message.Message, tt.want)
		}
	}
	// auth before hello is refused as any message before hello is.
	c, _, err := wstest.Dial(t.Context(), ts.base, "rx", wstest.DialOptions{Header: bearer(mint(t, "alice", "rx", auth.RoleWrite, time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Send(&protocol.Auth{Token: "x"}); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, c, protocol.CloseBadMessage, "auth before hello")
}

// TestRefreshOpenServer: a server without a secret accepts auth messages and ignores them.
func TestRefreshOpenServer(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	e := ts.editor(t, "open", 95)
	if err := e.Send(&protocol.Auth{Token: "anything"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Insert("body", 0, "x"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("after an auth message on an open server: %v", err)
	}
}
