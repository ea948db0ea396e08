package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFromRequest(t *testing.T) {
	tests := []struct {
		name    string
		target  string
		headers []string // Authorization values
		want    Token
		err     error
	}{
		{"none", "/v1/docs/a/ws", nil, "", ErrNoToken},
		{"query", "/v1/docs/a/ws?token=abc.def.ghi", nil, "abc.def.ghi", nil},
		{"query escaped", "/v1/docs/a/ws?x=1&token=a%2Eb.c", nil, "a.b.c", nil},
		{"header", "/v1/docs/a", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", nil},
		{"header lowercase scheme", "/v1/docs/a", []string{"bearer  abc.def.ghi "}, "abc.def.ghi", nil},
		{"header and same query", "/v1/docs/a?token=t.t.t", []string{"Bearer t.t.t"}, "t.t.t", nil},
		{"header and other query", "/v1/docs/a?token=u.u.u", []string{"Bearer t.t.t"}, "", ErrMalformed},
		{"two query tokens", "/v1/docs/a?token=a&token=b", nil, "", ErrMalformed},
		{"two headers", "/v1/docs/a", []string{"Bearer a", "Bearer b"}, "", ErrMalformed},
		{"basic scheme", "/v1/docs/a", []string{"Basic YWxpY2U6cHc="}, "", ErrMalformed},
		{"bare token header", "/v1/docs/a", []string{"abc.def.ghi"}, "", ErrMalformed},
		{"empty bearer", "/v1/docs/a", []string{"Bearer "}, "", ErrMalformed},
		{"empty query", "/v1/docs/a?token=", nil, "", ErrNoToken},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.target, nil)
		for _, h := range tt.headers {
			r.Header.Add("Authorization", h)
		}
		got, err := FromRequest(r)
		if string(got) != string(tt.want) || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("%s: FromRequest = %q, %v; want %q, %v", tt.name, string(got), err, string(tt.want), tt.err)
		}
	}
}

func TestRedactQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"token=secret", "token=REDACTED"},
		{"a=1&token=eyJ.x.y&b=2", "a=1&token=REDACTED&b=2"},
		{"TOKEN=s&Token=t", "TOKEN=REDACTED&Token=REDACTED"},
		{"tok%65n=s", "tok%65n=REDACTED"},
		{"access_token=s&token=t&token=u", "access_token=REDACTED&token=REDACTED&token=REDACTED"},
		{"token", "token"},
		{"mytoken=s&token2=t", "mytoken=s&token2=t"},
		{"token=a=b", "token=REDACTED"},
		{"%zz=1&token=s", "%zz=1&token=REDACTED"},
	}
	for _, tt := range tests {
		if got := RedactQuery(tt.in); got != tt.want {
			t.Errorf("RedactQuery(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	u, err := url.Parse("https://user:pw@example.com/v1/docs/a/ws?token=eyJhbGciOi.x.y&v=1")
	if err != nil {
		t.Fatal(err)
	}
	orig := u.String()
	got := RedactURL(u)
	want := "https://user:xxxxx@example.com/v1/docs/a/ws?token=REDACTED&v=1"
	if got != want {
		t.Errorf("RedactURL = %q; want %q", got, want)
	}
	if u.String() != orig {
		t.Errorf("RedactURL modified its argument: %q; want %q", u.String(), orig)
	}
	if got := RedactURL(nil); got != "" {
		t.Errorf("RedactURL(nil) = %q; want \"\"", got)
	}
}

// TestSecretsNeverPrinted formats tokens and authorities every way fmt and slog can, and scans the
// output for the secret and the token.
func TestSecretsNeverPrinted(t *testing.T) {
	now := testNow
	a := newTestAuthority(t, &now)
	tok, err := a.Mint(validClaims())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("token", "tok", tok, "authority", a, slog.Any("any", tok), slog.Group("g", "tok", tok))
		log.Info("nested", "req", map[string]any{"tok": tok})
		log.Info("struct", "s", struct{ T Token }{tok})
	}
	fmt.Fprintf(&buf, "%v %s %+v %#v %q %v %+v %#v\n", tok, tok, tok, tok, tok, a, a, a)
	fmt.Fprintln(&buf, tok, a, []Token{tok}, struct{ T Token }{tok})
	out := buf.String()
	if strings.Contains(out, string(tok)) {
		t.Errorf("output contains the token:\n%s", out)
	}
	if strings.Contains(out, string(testSecret)) {
		t.Errorf("output contains the secret:\n%s", out)
	}
	if !strings.Contains(out, "REDACTED") {
		t.Errorf("output has no REDACTED:\n%s", out)
	}
	// The signature part alone must not leak either (a log scan would look for it).
	sig := string(tok)[strings.LastIndexByte(string(tok), '.')+1:]
	if strings.Contains(out, sig) {
		t.Errorf("output contains the token's signature:\n%s", out)
	}
	_ = time.Second
}
