package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// hookUser is the header by which the tests' Authenticate hook knows its caller.
const hookUser = "X-Test-User"

// testAuthenticate is an Authenticate hook: the caller named by hookUser, or the built-in token
// check when the header is absent.
func testAuthenticate(r *http.Request) (Identity, error) {
	switch u := r.Header.Get(hookUser); u {
	case "":
		return Identity{}, ErrUseToken
	case "alice":
		return Identity{Subject: "alice", Role: auth.RoleWrite, Documents: "team-*"}, nil
	case "bob":
		return Identity{Subject: "bob", Role: auth.RoleRead}, nil
	case "mallory":
		return Identity{}, fmt.Errorf("banned from the app: %w", ErrForbidden)
	case "ghost":
		return Identity{Subject: "ghost"}, nil // no role: the hook's mistake
	default:
		return Identity{}, fmt.Errorf("no session for %q", u)
	}
}

// testAuthorize is an Authorize hook: team-secret is nobody's, team-ro is read-only for
// everyone, team-reauth asks for credentials again, the rest grants what is asked.
func testAuthorize(_ context.Context, subject, docID string, want auth.Role) (auth.Role, error) {
	switch docID {
	case "team-secret":
		return "", fmt.Errorf("%s may not see %s", subject, docID)
	case "team-ro":
		return auth.RoleRead, nil
	case "team-reauth":
		return "", fmt.Errorf("session too old: %w", ErrUnauthorized)
	}
	return want, nil
}

// access asks the access endpoint of docID with hdr, and returns the status and the answer.
func (ts *testServer) access(t *testing.T, docID string, hdr http.Header) (int, accessAnswer) {
	t.Helper()
	status, _, a, _ := ts.askAccess(t, docID, "", hdr)
	return status, a
}

// edit posts one insertion into root "body" of docID with hdr and returns the status.
func (ts *testServer) edit(t *testing.T, docID string, hdr http.Header, text string) (int, []byte) {
	t.Helper()
	body := fmt.Sprintf(`{"root": "body", "edits": [{"index": 0, "insert": %q}]}`, text)
	req, err := http.NewRequest(http.MethodPost, ts.base+"/v1/docs/"+docID+"/edits", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if hdr != nil {
		req.Header = hdr.Clone()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// dialAs returns a raw protocol client on docID, upgraded with hdr (no hello sent).
func (ts *testServer) dialAs(t *testing.T, docID string, hdr http.Header) *wstest.Client {
	t.Helper()
	c, _, err := wstest.Dial(context.Background(), ts.base, docID, wstest.DialOptions{Header: hdr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.WS.Close() })
	return c
}

// userHeader returns the headers of a request by user u, for testAuthenticate.
func userHeader(u string) http.Header {
	h := http.Header{}
	h.Set(hookUser, u)
	return h
}

// TestAuthHooks checks the Authenticate and Authorize hooks over real sockets, beside the built-in
// tokens on the same server: a refusal by a hook gives the status, error code and close code that
// the token check gives for the same kind of refusal, on the WebSocket upgrade, the access
// endpoint and the HTTP API alike.
func TestAuthHooks(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.Hooks = Hooks{Authenticate: testAuthenticate, Authorize: testAuthorize}
	ts := startServer(t, cfg, nil)

	// The token check's refusals, which the hooks' must match.
	const (
		unauthorized = http.StatusUnauthorized
		forbidden    = http.StatusForbidden
	)
	tests := []struct {
		name   string
		hdr    http.Header
		doc    string
		status int                // of the upgrade, the access endpoint and an HTTP read
		code   protocol.CloseCode // in the access endpoint's answer; 0 when granted
		role   string             // granted by the access endpoint
		write  int                // status of an HTTP edit
	}{
		{"token: none", http.Header{}, "team-a", unauthorized, protocol.CloseUnauthorized, "", unauthorized},
		{"token: another document", bearer(mint(t, "carol", "team-*", auth.RoleWrite, time.Hour)), "other", forbidden, protocol.CloseForbidden, "", forbidden},
		{"token: writer", bearer(mint(t, "carol", "team-*", auth.RoleWrite, time.Hour)), "team-a", http.StatusOK, 0, "write", http.StatusOK},
		{"token: authorize refuses", bearer(mint(t, "carol", "team-*", auth.RoleWrite, time.Hour)), "team-secret", forbidden, protocol.CloseForbidden, "", forbidden},
		{"token: authorize grants read", bearer(mint(t, "carol", "team-*", auth.RoleWrite, time.Hour)), "team-ro", http.StatusOK, 0, "read", forbidden},

		{"hook: no session", userHeader("eve"), "team-a", unauthorized, protocol.CloseUnauthorized, "", unauthorized},
		{"hook: forbidden", userHeader("mallory"), "team-a", forbidden, protocol.CloseForbidden, "", forbidden},
		{"hook: another document", userHeader("alice"), "other", forbidden, protocol.CloseForbidden, "", forbidden},
		{"hook: writer", userHeader("alice"), "team-a", http.StatusOK, 0, "write", http.StatusOK},
		{"hook: reader", userHeader("bob"), "team-a", http.StatusOK, 0, "read", forbidden},
		{"hook: authorize refuses", userHeader("alice"), "team-secret", forbidden, protocol.CloseForbidden, "", forbidden},
		{"hook: authorize grants read", userHeader("alice"), "team-ro", http.StatusOK, 0, "read", forbidden},
		{"hook: authorize unauthorized", userHeader("alice"), "team-reauth", unauthorized, protocol.CloseUnauthorized, "", unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, got := ts.access(t, tt.doc, tt.hdr); status != tt.status || got.Code != int(tt.code) || got.Role != tt.role {
				t.Errorf("access = %d, code %d, role %q; want %d, code %d, role %q", status, got.Code, got.Role, tt.status, tt.code, tt.role)
			}
			if status, body := ts.edit(t, tt.doc, tt.hdr, "x"); status != tt.write {
				t.Errorf("POST edits = %d %s; want %d", status, body, tt.write)
			}
			wantUp := tt.status
			if wantUp == http.StatusOK {
				wantUp = http.StatusSwitchingProtocols
			}
			up := tryUpgrade(t, ts.wsURL(tt.doc, ""), tt.hdr)
			if up.status != wantUp {
				t.Fatalf("upgrade = %d %s; want %d", up.status, up.body, wantUp)
			}
			if tt.status != http.StatusOK {
				var e struct {
					Code string `json:"code"`
				}
				_ = json.Unmarshal([]byte(up.body), &e)
				if want := http.StatusText(tt.status); e.Code != strings.ToLower(want) {
					t.Errorf("upgrade refused with code %q; want %q", e.Code, strings.ToLower(want))
				}
			}
		})
	}

	// An identity without a role is the hook's mistake: an internal error, never access.
	if status, body := ts.edit(t, "team-a", userHeader("ghost"), "x"); status != http.StatusInternalServerError {
		t.Errorf("POST edits by an identity without a role = %d %s; want 500", status, body)
	}
}

// TestAuthenticateHookWithoutSecret checks a server whose only authentication is the hook: it
// does not run open (a request the hook leaves to tokens is refused, and per-subject limits
// hold), and an identity's expiry closes its connection with 4401.
func TestAuthenticateHookWithoutSecret(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnsPerSubject = 1
	cfg.Hooks.Authenticate = func(r *http.Request) (Identity, error) {
		if r.Header.Get(hookUser) == "short" {
			return Identity{Subject: "short", Role: auth.RoleWrite, Expires: time.Now().Add(300 * time.Millisecond)}, nil
		}
		return testAuthenticate(r)
	}
	ts := startServer(t, cfg, nil)
	if ts.runsOpen() {
		t.Fatalf("runsOpen() = true with an Authenticate hook; want false")
	}

	if status, got := ts.access(t, "team-a", http.Header{}); status != http.StatusUnauthorized || got.Code != int(protocol.CloseUnauthorized) {
		t.Errorf("access without credentials = %d, code %d; want 401, code %d", status, got.Code, protocol.CloseUnauthorized)
	}
	if up := tryUpgrade(t, ts.wsURL("team-a", ""), http.Header{}); up.status != http.StatusUnauthorized {
		t.Errorf("upgrade without credentials = %d; want 401", up.status)
	}

	if up := tryUpgrade(t, ts.wsURL("team-a", ""), userHeader("alice")); up.status != http.StatusSwitchingProtocols {
		t.Fatalf("alice's first upgrade = %d %s; want 101", up.status, up.body)
	}
	if up := tryUpgrade(t, ts.wsURL("team-b", ""), userHeader("alice")); up.status != http.StatusServiceUnavailable {
		t.Errorf("alice's second upgrade with MaxConnsPerSubject 1 = %d %s; want 503", up.status, up.body)
	}

	c := ts.dialAs(t, "team-c", userHeader("short"))
	_ = c.Hello(41, nil, 0) // on a slow machine the identity may have expired already: the close tells
	expectRefusal(t, c, protocol.CloseUnauthorized, "a connection past its identity's expiry")
}

// TestOmitDemoRoute checks that Config.OmitDemoRoute leaves the demo page and the client's modules
// out, and nothing else.
func TestOmitDemoRoute(t *testing.T) {
	for _, omit := range []bool{false, true} {
		t.Run(fmt.Sprint(omit), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.OmitDemoRoute = omit
			ts := startServer(t, cfg, nil)
			want := http.StatusOK
			if omit {
				want = http.StatusNotFound
			}
			for _, path := range []string{"/", "/src/provider.js"} {
				if status, _ := do(t, http.MethodGet, ts.base+path, "", nil); status != want {
					t.Errorf("GET %s with OmitDemoRoute %v = %d; want %d", path, omit, status, want)
				}
			}
			if status, _ := do(t, http.MethodGet, ts.base+"/healthz", "", nil); status != http.StatusOK {
				t.Errorf("GET /healthz with OmitDemoRoute %v = %d; want 200", omit, status)
			}
		})
	}
}

// TestAuthenticateHookRevocation checks that revoking a subject cuts off the hook's identities of
// it as it does its tokens: its open connection closes with 4401 and its next request gets 401.
func TestAuthenticateHookRevocation(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.Hooks.Authenticate = testAuthenticate
	ts := startServer(t, cfg, nil)

	c := ts.dialAs(t, "team-a", userHeader("alice"))
	if err := c.Hello(42, nil, 0); err != nil {
		t.Fatal(err)
	}
	admin := mint(t, "ops", "*", auth.RoleAdmin, time.Hour)
	if status, b := postJSON(t, "POST", ts.base+"/v1/revocations", admin, `{"subject": "alice"}`); status != http.StatusOK {
		t.Fatalf("POST /v1/revocations = %d %s; want 200", status, b)
	}
	expectRefusal(t, c, protocol.CloseUnauthorized, "alice's connection after her revocation")
	if status, body := ts.edit(t, "team-a", userHeader("alice"), "x"); status != http.StatusUnauthorized {
		t.Errorf("POST edits by a revoked subject = %d %s; want 401", status, body)
	}
	if status, body := ts.edit(t, "team-a", userHeader("bob"), "x"); status != http.StatusForbidden {
		t.Errorf("POST edits by bob (read) = %d %s; want 403", status, body)
	}
}

// TestAuthorizeHookAtRefresh checks that a token refresh is authorized per document as the
// upgrade was: the Authorize hook refusing the document now closes the connection with 4401.
func TestAuthorizeHookAtRefresh(t *testing.T) {
	var refuse atomic.Bool
	cfg := secConfig(t, nil)
	cfg.Hooks.Authorize = func(ctx context.Context, subject, docID string, want auth.Role) (auth.Role, error) {
		if refuse.Load() {
			return "", errors.New("no longer a member")
		}
		return want, nil
	}
	ts := startServer(t, cfg, nil)
	c := ts.dialAs(t, "team-a", bearer(mint(t, "alice", "team-*", auth.RoleWrite, time.Hour)))
	if err := c.Hello(43, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(5 * time.Second); err != nil { // the sync answer: joined
		t.Fatal(err)
	}
	refuse.Store(true)
	if err := c.Send(&protocol.Auth{Token: mint(t, "alice", "team-*", auth.RoleWrite, 2*time.Hour)}); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, c, protocol.CloseUnauthorized, "a refresh the Authorize hook refuses")
}

// TestAuthorizeHookListing checks that the listing shows a caller only the documents the
// Authorize hook lets it read, beside its document pattern.
func TestAuthorizeHookListing(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.Hooks.Authenticate = testAuthenticate
	cfg.Hooks.Authorize = func(_ context.Context, subject, docID string, want auth.Role) (auth.Role, error) {
		if subject == "alice" && strings.Contains(docID, "hidden") {
			return "", errors.New("not for alice")
		}
		return want, nil
	}
	ts := startServer(t, cfg, nil)
	carol := bearer(mint(t, "carol", "*", auth.RoleWrite, time.Hour))
	for _, doc := range []string{"other", "team-hidden", "team-shown"} {
		if status, body := ts.edit(t, doc, carol, "x"); status != http.StatusOK {
			t.Fatalf("POST edits to %s = %d %s", doc, status, body)
		}
	}
	list := func(hdr http.Header) []string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.base+"/v1/docs", nil)
		req.Header = hdr
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var lr listResponse
		if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/docs = %d, %v", resp.StatusCode, err)
		}
		var ids []string
		for _, d := range lr.Documents {
			ids = append(ids, d.ID)
		}
		return ids
	}
	if got, want := list(userHeader("alice")), []string{"team-shown"}; !slices.Equal(got, want) {
		t.Errorf("alice lists %q; want %q", got, want)
	}
	if got, want := list(carol), []string{"other", "team-hidden", "team-shown"}; !slices.Equal(got, want) {
		t.Errorf("carol lists %q; want %q", got, want)
	}
}

// TestAuthorizeWantedRole checks the role each kind of request asks the Authorize hook for, with
// the handler mounted as it is, under a prefix stripped by net/http, and mounted by chi.
func TestAuthorizeWantedRole(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]auth.Role{} // by document
	cfg := testConfig(t)
	cfg.Hooks.Authorize = func(_ context.Context, _, docID string, want auth.Role) (auth.Role, error) {
		mu.Lock()
		asked[docID] = want
		mu.Unlock()
		return want, nil
	}
	ts := startServer(t, cfg, nil)
	stripped := http.NewServeMux()
	stripped.Handle("/collab/", http.StripPrefix("/collab", ts.Handler()))
	mounted := chi.NewRouter()
	mounted.Mount("/collab", ts.Handler())

	for _, m := range []struct {
		name    string
		handler http.Handler
		prefix  string
	}{{"direct", ts.Handler(), ""}, {"StripPrefix", stripped, "/collab"}, {"chi Mount", mounted, "/collab"}} {
		t.Run(m.name, func(t *testing.T) {
			app := httptest.NewServer(m.handler)
			defer app.Close()
			base := app.URL + m.prefix
			get := func(path string) {
				t.Helper()
				if status, b := do(t, http.MethodGet, base+path, "", nil); status >= 500 {
					t.Fatalf("GET %s = %d %s", path, status, b)
				}
			}
			get("/v1/docs/read-doc")
			get("/v1/docs/ws")
			get("/v1/docs/access-doc/access")
			if status, b := do(t, http.MethodPost, base+"/v1/docs/write-doc/edits", "application/json", []byte(`{"root": "body", "edits": [{"index": 0, "insert": "x"}]}`)); status != http.StatusOK {
				t.Fatalf("POST edits = %d %s", status, b)
			}
			c, _, err := wstest.Dial(context.Background(), base, "ws-doc", wstest.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_ = c.WS.Close()

			want := map[string]auth.Role{
				"read-doc": auth.RoleRead, "ws": auth.RoleRead, "access-doc": auth.RoleWrite,
				"write-doc": auth.RoleWrite, "ws-doc": auth.RoleWrite,
			}
			mu.Lock()
			defer mu.Unlock()
			if !maps.Equal(asked, want) {
				t.Errorf("roles asked = %v; want %v", asked, want)
			}
			clear(asked)
		})
	}
}

// TestHooksConfig checks the defaults and the validation of the observer's settings.
func TestHooksConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hooks Hooks
		field string // "" means valid
	}{
		{"defaults", Hooks{}, ""},
		{"debounce alone raises the max", Hooks{ChangeDebounce: time.Minute}, ""},
		{"max below debounce", Hooks{ChangeDebounce: time.Second, ChangeMaxDebounce: time.Millisecond}, "Hooks.ChangeMaxDebounce"},
		{"negative debounce", Hooks{ChangeDebounce: -time.Second}, "Hooks.ChangeDebounce"},
		{"negative bound", Hooks{MaxPendingEvents: -1}, "Hooks.MaxPendingEvents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{DataPath: "x.db", Hooks: tc.hooks}.withDefaults()
			err := c.validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("validate() = %v; want nil", err)
				}
				if c.Hooks.ChangeMaxDebounce < c.Hooks.ChangeDebounce || c.Hooks.MaxPendingEvents == 0 {
					t.Errorf("defaults = %+v; want a max debounce at least the debounce and a bound", c.Hooks)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("validate() = %v; want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}
