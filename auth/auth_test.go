package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	testNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// newTestAuthority returns an Authority with testSecret whose clock reads *now.
func newTestAuthority(t *testing.T, now *time.Time) *Authority {
	t.Helper()
	a, err := New(Config{Secret: testSecret, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func validClaims() Claims {
	return Claims{Subject: "alice", Documents: "team-*", Role: RoleWrite, Expires: testNow.Add(time.Hour)}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// handMade returns a token with the given header and payload JSON, signed with HMAC-SHA256 or
// HMAC-SHA512 over secret, or unsigned if sig is "".
func handMade(header, payload, sig string, secret []byte) Token {
	signing := b64(header) + "." + b64(payload)
	var mac []byte
	switch sig {
	case "HS256":
		h := hmac.New(sha256.New, secret)
		h.Write([]byte(signing))
		mac = h.Sum(nil)
	case "HS512":
		h := hmac.New(sha512.New, secret)
		h.Write([]byte(signing))
		mac = h.Sum(nil)
	}
	return Token(signing + "." + base64.RawURLEncoding.EncodeToString(mac))
}

func TestNewRefusesWeakSecret(t *testing.T) {
	for _, n := range []int{0, 1, MinSecretBytes - 1} {
		_, err := New(Config{Secret: make([]byte, n)})
		if !errors.Is(err, ErrWeakSecret) {
			t.Errorf("New(secret of %d bytes) = %v; want ErrWeakSecret", n, err)
		}
	}
	if _, err := New(Config{Secret: testSecret, Leeway: -time.Second}); err == nil {
		t.Errorf("New(negative leeway) = nil error; want an error")
	}
}

func TestMintVerifyRoundTrip(t *testing.T) {
	now := testNow
	a := newTestAuthority(t, &now)
	tests := []Claims{
		validClaims(),
		{Subject: "bob", Documents: "notes:2026.q1_draft", Role: RoleRead, Expires: testNow.Add(time.Minute)},
		{Subject: "root", Documents: "*", Role: RoleWrite, Expires: testNow.Add(24 * time.Hour)},
		{Subject: "ünïcode subject", Documents: "a", Role: RoleRead, Expires: testNow.Add(time.Second)},
		{Subject: "ops", Documents: "*", Role: RoleAdmin, Expires: testNow.Add(time.Hour), ID: "revocation-test-1"},
	}
	ids := map[string]bool{}
	for _, c := range tests {
		tok, err := a.Mint(c)
		if err != nil {
			t.Fatalf("Mint(%+v): %v", c, err)
		}
		got, err := a.Verify(tok)
		if err != nil {
			t.Fatalf("Verify(Mint(%+v)): %v", c, err)
		}
		want := c
		want.IssuedAt = testNow
		if got.Subject != want.Subject || got.Documents != want.Documents || got.Role != want.Role ||
			!got.Expires.Equal(want.Expires) || !got.IssuedAt.Equal(want.IssuedAt) {
			t.Errorf("Verify(Mint(%+v)) = %+v; want %+v", c, got, want)
		}
		// Every token gets an ID, the one given or a fresh random one.
		if c.ID != "" && got.ID != c.ID || got.ID == "" || ids[got.ID] {
			t.Errorf("Verify(Mint(%+v)).ID = %q; want %q or a new random ID", c, got.ID, c.ID)
		}
		ids[got.ID] = true
	}
}

func TestMintRefusesInvalidClaims(t *testing.T) {
	now := testNow
	a := newTestAuthority(t, &now)
	tests := []struct {
		name string
		edit func(*Claims)
	}{
		{"no subject", func(c *Claims) { c.Subject = "" }},
		{"long subject", func(c *Claims) { c.Subject = strings.Repeat("s", MaxSubjectBytes+1) }},
		{"bad utf-8 subject", func(c *Claims) { c.Subject = "\xff" }},
		{"no role", func(c *Claims) { c.Role = "" }},
		{"unknown role", func(c *Claims) { c.Role = "owner" }},
		{"no expiry", func(c *Claims) { c.Expires = time.Time{} }},
		{"empty pattern", func(c *Claims) { c.Documents = "" }},
		{"inner star", func(c *Claims) { c.Documents = "team-*-x" }},
		{"slash", func(c *Claims) { c.Documents = "team/x" }},
	}
	for _, tt := range tests {
		c := validClaims()
		tt.edit(&c)
		if _, err := a.Mint(c); !errors.Is(err, ErrInvalidClaims) {
			t.Errorf("%s: Mint(%+v) = %v; want ErrInvalidClaims", tt.name, c, err)
		}
	}
}

func TestVerifyRefusals(t *testing.T) {
	now := testNow
	a := newTestAuthority(t, &now)
	other, err := New(Config{Secret: []byte("another secret of at least 32 bytes!!")})
	if err != nil {
		t.Fatal(err)
	}
	good, err := a.Mint(validClaims())
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Mint(validClaims())
	if err != nil {
		t.Fatal(err)
	}
	expiredClaims := validClaims()
	expiredClaims.Expires = testNow.Add(-time.Second)
	expired, err := a.Mint(expiredClaims)
	if err != nil {
		t.Fatal(err)
	}
	atExpiry := validClaims()
	atExpiry.Expires = testNow
	expiresNow, err := a.Mint(atExpiry)
	if err != nil {
		t.Fatal(err)
	}
	exp := testNow.Add(time.Hour).Unix()
	payload := `{"sub":"alice","docs":"team-*","role":"write","exp":` + itoa(exp) + `}`
	parts := strings.Split(string(good), ".")

	tests := []struct {
		name string
		tok  Token
		want error
	}{
		{"empty", "", ErrNoToken},
		{"garbage", "not a token", ErrMalformed},
		{"two parts", Token(parts[0] + "." + parts[1]), ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"bad base64 header", Token("!!." + parts[1] + "." + parts[2]), ErrMalformed},
		{"too long", Token(strings.Repeat("a", MaxTokenBytes+1)), ErrMalformed},
		{"other secret", forged, ErrSignature},
		{"flipped signature", Token(parts[0] + "." + parts[1] + "." + flip(parts[2])), ErrSignature},
		{"payload swapped", Token(parts[0] + "." + b64(strings.Replace(payload, "write", "read", 1)) + "." + parts[2]), ErrSignature},
		{"alg none", handMade(`{"alg":"none","typ":"JWT"}`, payload, "", nil), ErrAlgorithm},
		{"alg None", handMade(`{"alg":"None","typ":"JWT"}`, payload, "", nil), ErrAlgorithm},
		{"alg HS512 same secret", handMade(`{"alg":"HS512","typ":"JWT"}`, payload, "HS512", testSecret), ErrAlgorithm},
		{"alg RS256 with hmac", handMade(`{"alg":"RS256","typ":"JWT"}`, payload, "HS256", testSecret), ErrAlgorithm},
		{"alg unknown", handMade(`{"alg":"XX1","typ":"JWT"}`, payload, "HS256", testSecret), ErrAlgorithm},
		{"no alg", handMade(`{"typ":"JWT"}`, payload, "HS256", testSecret), ErrAlgorithm},
		{"expired", expired, ErrExpired},
		{"expires this second", expiresNow, ErrExpired},
		{"not before", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"read","exp":`+itoa(exp)+`,"nbf":`+itoa(exp-60)+`}`, "HS256", testSecret), ErrExpired},
		{"no exp", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"read"}`, "HS256", testSecret), ErrInvalidClaims},
		{"no sub", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"docs":"a","role":"read","exp":`+itoa(exp)+`}`, "HS256", testSecret), ErrInvalidClaims},
		{"no docs", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","role":"read","exp":`+itoa(exp)+`}`, "HS256", testSecret), ErrInvalidClaims},
		{"bad role", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"owner","exp":`+itoa(exp)+`}`, "HS256", testSecret), ErrInvalidClaims},
		{"exp as string", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"read","exp":"soon"}`, "HS256", testSecret), ErrMalformed},
		{"exp as numeric string", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"read","exp":"`+itoa(exp)+`"}`, "HS256", testSecret), ErrInvalidClaims},
		{"nbf as numeric string", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"read","exp":`+itoa(exp)+`,"nbf":"`+itoa(exp-7200)+`"}`, "HS256", testSecret), ErrInvalidClaims},
		{"iat as numeric string", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"read","exp":`+itoa(exp)+`,"iat":"`+itoa(exp-7200)+`"}`, "HS256", testSecret), ErrInvalidClaims},
		{"exp null", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"read","exp":null}`, "HS256", testSecret), ErrInvalidClaims},
		{"iat as bool", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":"a","role":"read","exp":`+itoa(exp)+`,"iat":true}`, "HS256", testSecret), ErrMalformed},
		{"crit unknown", handMade(`{"alg":"HS256","typ":"JWT","crit":["x"]}`, payload, "HS256", testSecret), ErrMalformed},
		{"crit empty", handMade(`{"alg":"HS256","typ":"JWT","crit":[]}`, payload, "HS256", testSecret), ErrMalformed},
		{"crit null", handMade(`{"alg":"HS256","typ":"JWT","crit":null}`, payload, "HS256", testSecret), ErrMalformed},
		{"crit of a registered name", handMade(`{"alg":"HS256","typ":"JWT","crit":["exp"]}`, payload, "HS256", testSecret), ErrMalformed},
		{"docs as list", handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","docs":["a"],"role":"read","exp":`+itoa(exp)+`}`, "HS256", testSecret), ErrMalformed},
	}
	for _, tt := range tests {
		got, err := a.Verify(tt.tok)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %+v, %v; want error %v", tt.name, got, err, tt.want)
			continue
		}
		if got != (Claims{}) {
			t.Errorf("%s: Verify returned claims %+v with its error; want zero claims", tt.name, got)
		}
		if tt.tok != "" && len(tt.tok) > 20 && strings.Contains(err.Error(), string(tt.tok)) {
			t.Errorf("%s: error %q contains the token", tt.name, err)
		}
	}
}

func TestVerifyHandMadeHS256Accepted(t *testing.T) {
	// A token made by any correct HS256 implementation is accepted: the format is the standard's,
	// not this package's.
	now := testNow
	a := newTestAuthority(t, &now)
	exp := testNow.Add(time.Hour).Unix()
	tok := handMade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"carol","docs":"x","role":"read","exp":`+itoa(exp)+`}`, "HS256", testSecret)
	got, err := a.Verify(tok)
	if err != nil {
		t.Fatalf("Verify(hand-made HS256) = %v; want nil", err)
	}
	if got.Subject != "carol" || got.Documents != "x" || got.Role != RoleRead || got.Expires.Unix() != exp {
		t.Errorf("Verify(hand-made HS256) = %+v; want carol/x/read/%d", got, exp)
	}
}

func TestVerifyExpiryAndLeeway(t *testing.T) {
	now := testNow
	a := newTestAuthority(t, &now)
	tok, err := a.Mint(validClaims()) // expires at testNow + 1h
	if err != nil {
		t.Fatal(err)
	}
	lenient, err := New(Config{Secret: testSecret, Now: func() time.Time { return now }, Leeway: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at          time.Duration // after testNow
		strict, len error
	}{
		{time.Hour - time.Second, nil, nil},
		{time.Hour - time.Nanosecond, nil, nil},
		{time.Hour, ErrExpired, nil},
		{time.Hour + 4*time.Second, ErrExpired, nil},
		{time.Hour + 5*time.Second, ErrExpired, ErrExpired},
	}
	for _, tt := range tests {
		now = testNow.Add(tt.at)
		if _, err := a.Verify(tok); !errors.Is(err, tt.strict) {
			t.Errorf("Verify at exp%+v = %v; want %v", tt.at-time.Hour, err, tt.strict)
		}
		c, err := lenient.Verify(tok)
		if !errors.Is(err, tt.len) {
			t.Errorf("Verify with 5s leeway at exp%+v = %v; want %v", tt.at-time.Hour, err, tt.len)
		}
		if err == nil && !c.Expires.Equal(testNow.Add(time.Hour)) {
			t.Errorf("Verify with leeway: Expires = %v; want %v (leeway never moves the expiry)", c.Expires, testNow.Add(time.Hour))
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// flip changes the first character of a base64url string to another valid one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
