package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
)

var testAuthSecret = []byte("test secret: 32 bytes or longer!")

// newAuthTestServer returns a server holding only what authorize needs, logging into logs.
func newAuthTestServer(t *testing.T, secret []byte, logs *bytes.Buffer) *Server {
	t.Helper()
	cfg := Config{SecurityConfig: SecurityConfig{AuthSecret: secret}.withDefaults()}
	if err := cfg.SecurityConfig.validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	log := slog.New(slog.NewTextHandler(logs, nil))
	sec, err := newSecurity(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Server{cfg: cfg, log: log, sec: sec, warns: newWarner(log), metrics: newServerMetrics()}
}

// mintToken returns a token signed with secret.
func mintToken(t *testing.T, secret []byte, sub, docs string, role auth.Role, ttl time.Duration) string {
	t.Helper()
	return mintWith(t, secret, auth.Claims{Subject: sub, Documents: docs, Role: role, Expires: time.Now().Add(ttl)})
}

// signHS256 returns a token of the given header and payload JSON, signed with HMAC-SHA256 over
// secret: for claims that Mint would never write.
func signHS256(secret []byte, header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(h.Sum(nil))
}

func TestAuthorize(t *testing.T) {
	var logs bytes.Buffer
	s := newAuthTestServer(t, testAuthSecret, &logs)
	writer := mintToken(t, testAuthSecret, "alice", "team-*", auth.RoleWrite, time.Hour)
	reader := mintToken(t, testAuthSecret, "bob", "doc-a", auth.RoleRead, time.Hour)
	expired := mintToken(t, testAuthSecret, "alice", "team-*", auth.RoleWrite, -time.Second)
	forged := mintToken(t, []byte("some other secret, also 32 bytes long"), "alice", "team-*", auth.RoleWrite, time.Hour)
	parts := strings.Split(writer, ".")
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	claims := `{"sub":"alice","docs":"team-*","role":"write","exp":` + exp + `}`
	stringExp := signHS256(testAuthSecret, `{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","docs":"team-*","role":"write","exp":"`+exp+`"}`)
	stringNbf := signHS256(testAuthSecret, `{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","docs":"team-*","role":"write","exp":`+exp+`,"nbf":"0"}`)
	crit := signHS256(testAuthSecret, `{"alg":"HS256","typ":"JWT","crit":["x"],"x":1}`, claims)
	iat := strconv.FormatInt(time.Now().Unix(), 10)
	plain := signHS256(testAuthSecret, `{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","docs":"team-*","role":"write","exp":`+exp+`,"iat":`+iat+`,"jti":"hand-made"}`)

	tests := []struct {
		name   string
		target string
		header string
		doc    string
		want   error // nil, ErrUnauthorized or ErrForbidden
		who    principal
	}{
		{"no token", "/v1/docs/team-a/ws", "", "team-a", ErrUnauthorized, principal{}},
		{"garbage", "/v1/docs/team-a/ws?token=xyz", "", "team-a", ErrUnauthorized, principal{}},
		{"forged", "/v1/docs/team-a/ws?token=" + forged, "", "team-a", ErrUnauthorized, principal{}},
		{"alg none", "/v1/docs/team-a/ws?token=" + none, "", "team-a", ErrUnauthorized, principal{}},
		{"expired", "/v1/docs/team-a/ws?token=" + expired, "", "team-a", ErrUnauthorized, principal{}},
		{"exp as a string", "/v1/docs/team-a/ws?token=" + stringExp, "", "team-a", ErrUnauthorized, principal{}},
		{"nbf as a string", "/v1/docs/team-a", "Bearer " + stringNbf, "team-a", ErrUnauthorized, principal{}},
		{"crit header", "/v1/docs/team-a/ws?token=" + crit, "", "team-a", ErrUnauthorized, principal{}},
		{"hand-made, no crit", "/v1/docs/team-a", "Bearer " + plain, "team-a", nil, principal{Subject: "alice", Role: auth.RoleWrite, Documents: "team-*"}},
		{"basic auth", "/v1/docs/team-a", "Basic YTpi", "team-a", ErrUnauthorized, principal{}},
		{"query", "/v1/docs/team-a/ws?token=" + writer, "", "team-a", nil, principal{Subject: "alice", Role: auth.RoleWrite, Documents: "team-*"}},
		{"header", "/v1/docs/team-a/ws", "Bearer " + writer, "team-a", nil, principal{Subject: "alice", Role: auth.RoleWrite, Documents: "team-*"}},
		{"prefix: team-", "/v1/docs/team-/ws", "Bearer " + writer, "team-", nil, principal{Subject: "alice", Role: auth.RoleWrite, Documents: "team-*"}},
		{"prefix: team", "/v1/docs/team/ws", "Bearer " + writer, "team", ErrForbidden, principal{}},
		{"prefix: teamx-a", "/v1/docs/teamx-a/ws", "Bearer " + writer, "teamx-a", ErrForbidden, principal{}},
		{"token for doc A on B", "/v1/docs/doc-b/ws", "Bearer " + reader, "doc-b", ErrForbidden, principal{}},
		{"token for doc A on A1", "/v1/docs/doc-a1/ws", "Bearer " + reader, "doc-a1", ErrForbidden, principal{}},
		{"reader reads", "/v1/docs/doc-a", "Bearer " + reader, "doc-a", nil, principal{Subject: "bob", Role: auth.RoleRead, Documents: "doc-a"}},
		{"reader", "/v1/docs/doc-a/update", "Bearer " + reader, "doc-a", nil, principal{Subject: "bob", Role: auth.RoleRead, Documents: "doc-a"}},
		{"listing", "/v1/docs", "Bearer " + reader, "", nil, principal{Subject: "bob", Role: auth.RoleRead, Documents: "doc-a"}},
		{"listing without token", "/v1/docs", "", "", ErrUnauthorized, principal{}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.target, nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		got, err := s.authorize(r, tt.doc)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: authorize = %v; want %v", tt.name, err, tt.want)
			continue
		}
		if err != nil {
			if got != (principal{}) {
				t.Errorf("%s: authorize returned %+v with its error; want the zero principal", tt.name, got)
			}
			continue
		}
		if got.Expires.IsZero() {
			t.Errorf("%s: principal has no expiry", tt.name)
		}
		if got.TokenID == "" || got.Issued.IsZero() {
			t.Errorf("%s: principal has no token ID or issue time: %+v", tt.name, got)
		}
		got.Expires, got.TokenID, got.Issued = time.Time{}, "", time.Time{}
		if got != tt.who {
			t.Errorf("%s: authorize = %+v; want %+v", tt.name, got, tt.who)
		}
	}
	// The log holds the refusals, never a token or a signature.
	out := logs.String()
	if !strings.Contains(out, "unauthorized") || !strings.Contains(out, "forbidden") {
		t.Errorf("log lacks the refusals:\n%s", out)
	}
	for _, tok := range []string{writer, reader, expired, forged, none} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(out, tok) || (sig != "" && strings.Contains(out, sig)) {
			t.Errorf("log contains a token:\n%s", out)
		}
	}
}

func TestAuthorizeOpen(t *testing.T) {
	var logs bytes.Buffer
	s := newAuthTestServer(t, nil, &logs)
	s.warnIfOpen()
	if !strings.Contains(logs.String(), "AUTHENTICATION IS OFF") {
		t.Errorf("warnIfOpen logged %q; want the warning", logs.String())
	}
	for _, target := range []string{"/v1/docs/a/ws", "/v1/docs/a/ws?token=garbage"} {
		r := httptest.NewRequest("GET", target, nil)
		got, err := s.authorize(r, "a")
		if err != nil || got != anonymous {
			t.Errorf("open server: authorize(%s) = %+v, %v; want anonymous, nil", target, got, err)
		}
	}
	s2 := newAuthTestServer(t, testAuthSecret, &logs)
	logs.Reset()
	s2.warnIfOpen()
	if logs.Len() != 0 {
		t.Errorf("warnIfOpen with a secret logged %q; want nothing", logs.String())
	}
}

func TestRefusalWarningsRateLimited(t *testing.T) {
	var logs bytes.Buffer
	s := newAuthTestServer(t, testAuthSecret, &logs)
	for range 1000 {
		_, _ = s.authorize(httptest.NewRequest("GET", "/v1/docs/a/ws", nil), "a")
	}
	lines := strings.Count(logs.String(), "\n")
	if lines > warnBurst+5 {
		t.Errorf("1000 refusals wrote %d log lines; want at most about %d", lines, warnBurst)
	}
	if lines < warnBurst {
		t.Errorf("1000 refusals wrote %d log lines; want at least %d", lines, warnBurst)
	}
}
