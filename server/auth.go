package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/storage"
)

// principal is who makes a request, as authorize established it from the request's token.
type principal struct {
	// Subject is the token's subject, or "anonymous" while the server runs open.
	Subject string
	// Role is the token's role. A principal whose role cannot write (auth.RoleRead) receives
	// everything, may send awareness and broadcasts, and never changes a document: the actor
	// refuses its updates with 4403 and HTTP refuses its writes with 403. auth.RoleAdmin may also
	// use the administration API.
	Role auth.Role
	// Documents is the token's document pattern ("*" while the server runs open).
	Documents string
	// Expires is when the token expires; zero while the server runs open. A WebSocket
	// connection is closed with 4401 at that moment.
	Expires time.Time
	// TokenID is the token's ID (jti), by which it can be revoked; empty if it has none.
	TokenID string
	// Issued is when the token was minted (iat); zero if it does not say.
	Issued time.Time
}

// allows reports whether p may open document docID at all (for reading).
func (p principal) allows(docID string) bool { return auth.Match(p.Documents, docID) }

// LogValue lets a principal appear in logs as its subject and role; nothing in it is secret.
func (p principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("subject", p.Subject), slog.String("role", string(p.Role)))
}

// Errors of authorization, mapped to 401/403 and to close codes 4401/4403.
var (
	// ErrUnauthorized: the request carries no valid credentials.
	ErrUnauthorized = errors.New("server: unauthorized")
	// ErrForbidden: the credentials do not allow this document or this action.
	ErrForbidden = errors.New("server: forbidden")
)

// anonymous is the principal of every request while the server runs open (no AuthSecret): it may
// read and write every document.
var anonymous = principal{Subject: "anonymous", Role: auth.RoleWrite, Documents: "*"}

// security is the server's state for authentication and limits that spans connections. It is
// created once by newServer and safe for concurrent use.
type security struct {
	authority *auth.Authority // nil: the server runs open
	deny      *denyList       // revoked tokens and subjects (revoke.go)
	subjects  subjectConns
	throttles throttles // message rate limits (limits.go)
}

// newSecurity builds the security state of a server from cfg (after withDefaults and validate).
// It fails if the revocations file cannot be read.
func newSecurity(cfg Config) (*security, error) {
	deny, err := newDenyList(cfg.RevocationsPath, cfg.RevokedSubjects, time.Now())
	if err != nil {
		return nil, err
	}
	sec := &security{
		deny:      deny,
		subjects:  subjectConns{max: cfg.MaxConnsPerSubject, n: make(map[string]int)},
		throttles: newThrottles(cfg.SecurityConfig),
	}
	if len(cfg.AuthSecret) > 0 {
		a, err := auth.New(auth.Config{Secret: cfg.AuthSecret})
		if err != nil {
			// validate checked the secret's length, the one thing auth.New refuses.
			panic(fmt.Sprintf("server: %v", err))
		}
		sec.authority = a
	}
	return sec, nil
}

// warnIfOpen logs, loudly, that the server runs without authentication when it does.
func (s *Server) warnIfOpen() {
	if !s.runsOpen() {
		return
	}
	s.log.Warn("AUTHENTICATION IS OFF: no token secret is set (--auth-secret or TANDEM_AUTH_SECRET), " +
		"so anyone who reaches this server can read, change and delete every document. " +
		"Set a secret of at least 32 bytes before exposing it beyond this machine.")
}

// authorize decides who r is and whether it may open document docID (empty for requests that name
// no document, such as the listing, which then filters by principal.allows). It is the one place
// where callers are checked, on the WebSocket upgrade and on every HTTP API call alike: the
// Authenticate hook's identity or the token's (authenticate, hooks.go), then the document (grant:
// the identity's document pattern, then the Authorize hook). The token comes from an
// "Authorization: Bearer" header or the "token" query parameter. An error wraps ErrUnauthorized
// (no token, or a token that is malformed, forged, signed with another algorithm, or expired: 401
// and 4401) or ErrForbidden (a valid token whose pattern does not match docID: 403). The error's
// text never holds the token.
//
// While the server runs open (no AuthSecret, no Authenticate hook), every request is the
// anonymous writer.
func (s *Server) authorize(r *http.Request, docID string) (principal, error) {
	p, err := s.authenticate(r)
	if err != nil || docID == "" {
		return p, err
	}
	return s.grant(r.Context(), p, docID, wantedRole(r, p))
}

// errTokenRevoked: a valid token that is on the deny list (revoke.go).
var errTokenRevoked = errors.New("server: token revoked")

// verifyToken checks tok (signature, claims, expiry) and the deny list, and returns the principal it
// makes. The error wraps an auth sentinel, or errTokenRevoked.
func (s *Server) verifyToken(tok auth.Token) (principal, error) {
	c, err := s.sec.authority.Verify(tok)
	if err != nil {
		return principal{}, err
	}
	if s.sec.deny.denies(c.Subject, c.ID, c.IssuedAt) {
		s.refuse(reasonRevoked)
		return principal{}, fmt.Errorf("%w: subject %q, jti %q", errTokenRevoked, c.Subject, c.ID)
	}
	return principal{Subject: c.Subject, Role: c.Role, Documents: c.Documents, Expires: c.Expires,
		TokenID: c.ID, Issued: c.IssuedAt}, nil
}

// unauthorizedMessage is what a client is told about a refused token: the kind of problem, without
// the parser's detail.
func unauthorizedMessage(err error) string {
	switch {
	case errors.Is(err, errTokenRevoked):
		return "token revoked"
	case errors.Is(err, auth.ErrNoToken):
		return "no token: send it as an Authorization: Bearer header or a token query parameter"
	case errors.Is(err, auth.ErrExpired):
		return "token expired"
	case errors.Is(err, auth.ErrAlgorithm):
		return "token algorithm not allowed (HS256 only)"
	case errors.Is(err, auth.ErrSignature):
		return "invalid token signature"
	case errors.Is(err, auth.ErrInvalidClaims):
		return "invalid token claims"
	}
	return "malformed token"
}

// listScanMax bounds the documents one listing request reads from storage to find the ones its
// token allows; a page cut short by it carries a Next to continue from.
const listScanMax = 10 * maxListLimit

// listAllowed returns up to limit documents after the ID after that who may open, in ID order,
// and the after of the next page ("" on the last): those its document pattern allows and, with an
// Authorize hook, that the hook lets it read. A prefix pattern stops the scan as soon as the IDs
// pass the prefix.
func (s *Server) listAllowed(ctx context.Context, who principal, after string, limit int) ([]storage.DocInfo, string, error) {
	prefix, isPrefix := strings.CutSuffix(who.Documents, "*")
	var out []storage.DocInfo
	scanned := 0
	for {
		batch, err := s.store.List(after, limit+1)
		if err != nil {
			return nil, "", err
		}
		for _, d := range batch {
			scanned++
			if isPrefix && d.ID > prefix && !strings.HasPrefix(d.ID, prefix) {
				return out, "", nil // sorted: no later ID has the prefix
			}
			if !isPrefix && d.ID > who.Documents {
				return out, "", nil
			}
			if who.allows(d.ID) && s.mayRead(ctx, who, d.ID) {
				if len(out) == limit {
					return out, out[limit-1].ID, nil
				}
				out = append(out, d)
			}
			after = d.ID
			if scanned >= listScanMax {
				return out, after, nil
			}
		}
		if len(batch) < limit+1 {
			return out, "", nil
		}
	}
}
