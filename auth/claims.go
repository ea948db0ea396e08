package auth

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Role says what a token's holder may do with the documents it names.
type Role string

// The roles. A role is a claim of the token; an unknown role makes the token invalid.
const (
	// RoleRead receives a document and its editors' presence, and may share its own presence;
	// it may not change the document.
	RoleRead Role = "read"
	// RoleWrite may also change the document.
	RoleWrite Role = "write"
	// RoleAdmin may do what RoleWrite may with the documents it names, and also use the server's
	// administration API (revoking tokens).
	RoleAdmin Role = "admin"
)

// ParseRole returns the Role named s ("read", "write" or "admin"), or an error wrapping
// ErrInvalidClaims.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("%w: role %q, want %q, %q or %q", ErrInvalidClaims, s, RoleRead, RoleWrite, RoleAdmin)
	}
	return r, nil
}

// Valid reports whether r is RoleRead, RoleWrite or RoleAdmin.
func (r Role) Valid() bool { return r == RoleRead || r == RoleWrite || r == RoleAdmin }

// CanWrite reports whether r allows changing a document.
func (r Role) CanWrite() bool { return r == RoleWrite || r == RoleAdmin }

// CanAdminister reports whether r allows the administration API.
func (r Role) CanAdminister() bool { return r == RoleAdmin }

// MaxSubjectBytes is the longest subject a token may carry.
const MaxSubjectBytes = 256

// MaxIDBytes is the longest token ID (jti) a token may carry.
const MaxIDBytes = 128

// MaxDocumentIDBytes is the longest document ID, in bytes (DESIGN.md: 1 to 128 characters; every
// document-ID character is ASCII).
const MaxDocumentIDBytes = 128

// Claims is what a token says about its holder.
type Claims struct {
	// Subject is who the holder acts for: a user name or ID, 1 to MaxSubjectBytes bytes of UTF-8.
	// The server binds the CRDT client IDs a subject writes with to it.
	Subject string
	// Documents is the pattern of the documents the token opens: a document ID, or a prefix
	// followed by '*' (see the package doc).
	Documents string
	// Role is what the holder may do: RoleRead or RoleWrite.
	Role Role
	// Expires is when the token stops being accepted, to the second (in UTC once verified).
	Expires time.Time
	// IssuedAt is when the token was minted. A server that revokes a subject's tokens refuses
	// those issued at or before the revocation (and those without it).
	IssuedAt time.Time
	// ID is the token's own identifier (the jti claim), by which a server revokes one token. Mint
	// draws a random one when it is empty; a token without one can only be revoked by subject.
	ID string
}

// Validate checks each field and returns an error wrapping ErrInvalidClaims that names the first
// bad one. It does not look at the clock: Verify checks the expiry.
func (c Claims) Validate() error {
	switch {
	case c.Subject == "":
		return fmt.Errorf("%w: empty subject", ErrInvalidClaims)
	case len(c.Subject) > MaxSubjectBytes:
		return fmt.Errorf("%w: subject of %d bytes, more than %d", ErrInvalidClaims, len(c.Subject), MaxSubjectBytes)
	case !utf8.ValidString(c.Subject):
		return fmt.Errorf("%w: subject is not valid utf-8", ErrInvalidClaims)
	case !c.Role.Valid():
		return fmt.Errorf("%w: role %q, want %q, %q or %q", ErrInvalidClaims, c.Role, RoleRead, RoleWrite, RoleAdmin)
	case len(c.ID) > MaxIDBytes:
		return fmt.Errorf("%w: token id of %d bytes, more than %d", ErrInvalidClaims, len(c.ID), MaxIDBytes)
	case c.Expires.IsZero():
		return fmt.Errorf("%w: no expiry", ErrInvalidClaims)
	}
	if err := ValidatePattern(c.Documents); err != nil {
		return err
	}
	return nil
}

// Allows reports whether the claims' pattern matches the document ID.
func (c Claims) Allows(docID string) bool { return Match(c.Documents, docID) }

// Authorize returns nil if the claims open docID for reading (write false) or writing (write
// true). Otherwise it returns an error wrapping ErrDocumentNotAllowed or ErrReadOnly. It does not
// look at the expiry, which Verify checked.
func (c Claims) Authorize(docID string, write bool) error {
	if !c.Allows(docID) {
		return fmt.Errorf("%w: %q is not in %q", ErrDocumentNotAllowed, docID, c.Documents)
	}
	if write && !c.Role.CanWrite() {
		return fmt.Errorf("%w: subject %q may only read %q", ErrReadOnly, c.Subject, docID)
	}
	return nil
}

// LogValue implements slog.LogValuer: claims log as a group of their fields. Nothing in them is
// secret.
func (c Claims) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("sub", c.Subject),
		slog.String("docs", c.Documents),
		slog.String("role", string(c.Role)),
		slog.Time("exp", c.Expires),
		slog.String("jti", c.ID),
	)
}

// ValidDocumentID reports whether id is a document ID: 1 to 128 ASCII letters, digits, '.', '_',
// '-' and ':', and neither "." nor "..". It is the one definition of a document ID: the server
// checks every ID in a URL with it, and patterns are made of it.
//
// No slash, so that an ID is one path segment; no percent sign or space, so that it needs no
// escaping in a URL. "." and ".." are refused because browsers, HTTP clients and proxies
// normalise them out of a path (/v1/docs/../ws is /v1/ws), so no URL could reach such a document.
func ValidDocumentID(id string) bool {
	return len(id) >= 1 && len(id) <= MaxDocumentIDBytes && id != "." && id != ".." && validIDChars(id)
}

// validIDChars reports whether every byte of s may appear in a document ID.
func validIDChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == ':':
		default:
			return false
		}
	}
	return true
}

// ValidatePattern returns nil if p is a document ID or a prefix of 0 to 127 document-ID
// characters followed by '*'. Otherwise it returns an error wrapping ErrInvalidClaims.
func ValidatePattern(p string) error {
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		if len(prefix) < MaxDocumentIDBytes && validIDChars(prefix) {
			return nil
		}
	} else if ValidDocumentID(p) {
		return nil
	}
	return fmt.Errorf("%w: document pattern %q: want a document id or a prefix ending in '*'", ErrInvalidClaims, p)
}

// Match reports whether the pattern p matches the document ID id: p equals id, or p is a prefix
// followed by '*' and id starts with that prefix. An invalid pattern or ID matches nothing.
func Match(p, id string) bool {
	if ValidatePattern(p) != nil || !ValidDocumentID(id) {
		return false
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return strings.HasPrefix(id, prefix)
	}
	return p == id
}
