package auth

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	long := strings.Repeat("a", MaxDocumentIDBytes)
	tests := []struct {
		pattern, id string
		want        bool
	}{
		{"doc-1", "doc-1", true},
		{"doc-1", "doc-10", false},
		{"doc-1", "doc-", false},
		{"doc-1", "DOC-1", false},
		{"team-*", "team-x", true},
		{"team-*", "team-", true},
		{"team-*", "team-x:notes.v2", true},
		{"team-*", "team", false},
		{"team-*", "teamx", false},
		{"team-*", "team_x", false},
		{"team-*", "xteam-y", false},
		{"team*", "teamx", true},
		{"team*", "team", true},
		{"*", "anything", true},
		{"*", "a", true},
		{"*", "", false},
		{"*", "a/b", false},
		{"*", long, true},
		{"*", long + "a", false},
		{"a*", long, true},
		// Invalid patterns match nothing, even where a naive matcher would.
		{"", "", false},
		{"team-**", "team-*x", false},
		{"team/*", "team/x", false},
		{"*team", "xteam", false},
		{"te*am", "team", false},
		{"team-", "team-x", false},
		{long + "*", long, false},
		{"a", "a\x00", false},
		// IDs that are not document IDs match nothing.
		{"*", "a b", false},
		{"team-*", "team-é", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.id); got != tt.want {
			t.Errorf("Match(%q, %q) = %v; want %v", tt.pattern, tt.id, got, tt.want)
		}
	}
}

func TestValidDocumentID(t *testing.T) {
	long := strings.Repeat("x", MaxDocumentIDBytes)
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"lower case", "abcxyz", true},
		{"upper case", "ABCXYZ", true},
		{"digits", "0123456789", true},
		{"dot inside", "notes.md", true},
		{"underscore", "a_b", true},
		{"hyphen", "a-b", true},
		{"colon", "team:notes", true},
		{"every class", "Team-1:notes_v2.md", true},
		{"one character", "a", true},
		{"only punctuation", "-_:", true},
		{"three dots", "...", true},
		{"leading dots", "..a", true},
		{"trailing dots", "a..", true},
		{"dot dash", ".-", true},
		{"128 bytes", long, true},
		{"129 bytes", long + "x", false},
		{"empty", "", false},
		{"dot alone", ".", false},
		{"dot dot", "..", false},
		{"slash", "a/b", false},
		{"dot dot slash", "../a", false},
		{"backslash", `a\b`, false},
		{"space", "a b", false},
		{"percent", "a%2f", false},
		{"question mark", "a?b", false},
		{"hash", "a#b", false},
		{"star", "a*", false},
		{"plus", "a+b", false},
		{"tilde", "a~b", false},
		{"nul", "a\x00", false},
		{"newline", "a\n", false},
		{"non-ASCII letter", "é", false},
		{"DEL", "a\x7f", false},
		{"high byte", "a\xff", false},
	}
	for _, tt := range tests {
		if got := ValidDocumentID(tt.id); got != tt.want {
			t.Errorf("%s: ValidDocumentID(%q) = %v; want %v", tt.name, tt.id, got, tt.want)
		}
	}
	// "." and ".." name no document, so no pattern names them either; a prefix of dots is a
	// pattern, and matches longer IDs only.
	for _, p := range []string{".", ".."} {
		if err := ValidatePattern(p); !errors.Is(err, ErrInvalidClaims) {
			t.Errorf("ValidatePattern(%q) = %v; want ErrInvalidClaims", p, err)
		}
	}
	if Match(".*", ".") || Match(".*", "..") || !Match(".*", "...") {
		t.Errorf(`Match(".*", ...) matches "." or ".." or misses "..."`)
	}
}

func TestValidatePattern(t *testing.T) {
	long := strings.Repeat("x", MaxDocumentIDBytes)
	tests := []struct {
		pattern string
		ok      bool
	}{
		{"a", true},
		{"A.b_c-d:e", true},
		{long, true},
		{long + "x", false},
		{"*", true},
		{long[1:] + "*", true},
		{long + "*", false},
		{"", false},
		{"**", false},
		{"a*b", false},
		{"a/b", false},
		{"a?", false},
		{"a b", false},
		{"%2F", false},
	}
	for _, tt := range tests {
		err := ValidatePattern(tt.pattern)
		if (err == nil) != tt.ok {
			t.Errorf("ValidatePattern(%q) = %v; want ok %v", tt.pattern, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidClaims) {
			t.Errorf("ValidatePattern(%q) = %v; want an error wrapping ErrInvalidClaims", tt.pattern, err)
		}
	}
}

func TestAuthorize(t *testing.T) {
	writer := Claims{Subject: "w", Documents: "team-*", Role: RoleWrite}
	reader := Claims{Subject: "r", Documents: "team-*", Role: RoleRead}
	tests := []struct {
		c     Claims
		doc   string
		write bool
		want  error
	}{
		{writer, "team-a", true, nil},
		{writer, "team-a", false, nil},
		{writer, "other", false, ErrDocumentNotAllowed},
		{writer, "other", true, ErrDocumentNotAllowed},
		{reader, "team-a", false, nil},
		{reader, "team-a", true, ErrReadOnly},
		{reader, "other", true, ErrDocumentNotAllowed},
	}
	for _, tt := range tests {
		err := tt.c.Authorize(tt.doc, tt.write)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s.Authorize(%q, write=%v) = %v; want %v", tt.c.Role, tt.doc, tt.write, err, tt.want)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range []string{"read", "write", "admin"} {
		r, err := ParseRole(s)
		if err != nil || string(r) != s {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, nil", s, r, err, s)
		}
	}
	for _, s := range []string{"", "Read", "WRITE", "owner", "Admin", "rw"} {
		if r, err := ParseRole(s); !errors.Is(err, ErrInvalidClaims) {
			t.Errorf("ParseRole(%q) = %q, %v; want ErrInvalidClaims", s, r, err)
		}
	}
	if !RoleWrite.CanWrite() || RoleRead.CanWrite() || Role("").CanWrite() || !RoleAdmin.CanWrite() {
		t.Errorf("CanWrite: write %v, read %v, empty %v, admin %v; want true, false, false, true",
			RoleWrite.CanWrite(), RoleRead.CanWrite(), Role("").CanWrite(), RoleAdmin.CanWrite())
	}
	if !RoleAdmin.CanAdminister() || RoleWrite.CanAdminister() || RoleRead.CanAdminister() {
		t.Errorf("CanAdminister: admin %v, write %v, read %v; want true, false, false",
			RoleAdmin.CanAdminister(), RoleWrite.CanAdminister(), RoleRead.CanAdminister())
	}
}

func TestClaimsLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	c := validClaims()
	log.Info("joined", "claims", c)
	got := buf.String()
	for _, want := range []string{"claims.sub=alice", "claims.docs=team-*", "claims.role=write", "claims.exp=2026-03-01T13:00:00.000Z"} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
}
