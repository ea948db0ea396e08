package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tandemhq/tandem/auth"
)

// Hooks for embedders. An application that mounts tandem on its own router supplies, as
// Config.Hooks, what Hocuspocus users reach for first: its own authentication (beside or instead
// of the built-in tokens), its own per-document authorization, and an observer of the documents'
// changes. Every hook is optional; the zero Hooks leaves the server as it is without them.
//
// The authentication hooks run on the request's goroutine, before anything else is decided about
// the request (the origin check of a WebSocket upgrade excepted), on the WebSocket upgrade, the
// access endpoint and every HTTP API call alike; their refusals are the built-in token check's:
// 401 and close code 4401, 403 and 4403. The observer runs on a goroutine of its own, never on a
// document's: a slow observer delays nothing but its own notifications, which merge (changes of one
// document) or are dropped (past Hooks.MaxPendingEvents) and counted.

// Hooks are the embedding application's hooks (Config.Hooks). Each func field is optional.
type Hooks struct {
	// Authenticate establishes who makes a request: a WebSocket upgrade, a call of the HTTP API or
	// of the access endpoint. It returns the request's identity, or an error that refuses the
	// request: 401 (close code 4401 in the access endpoint's answer), or 403 (4403) if the error
	// wraps ErrForbidden. ErrUseToken leaves the request to the built-in token check
	// (SecurityConfig.AuthSecret), which refuses it with 401 when the server has no token secret.
	// The error's text is logged, never sent to the client. Nil means the built-in check alone.
	//
	// It is called on the request's goroutine, concurrently for concurrent requests, and must not
	// keep the request. A server with an Authenticate hook does not run open: per-subject limits
	// and client ID bindings (docs/security.md) hold for its identities as for tokens.
	Authenticate func(r *http.Request) (Identity, error)

	// Authorize decides what subject may do with document docID, given the role the request asks
	// for: auth.RoleRead for an HTTP read, auth.RoleWrite for an HTTP write or delete, and for a
	// WebSocket connection (or the access endpoint) the most its identity allows (write or read).
	// It returns the role granted for this document, which may be less than the one asked for
	// (auth.RoleRead makes a WebSocket connection read-only and refuses an HTTP write with 403)
	// and is never more than the identity's own (a higher one is lowered to it: the hook
	// restricts, never widens), or an error that refuses the request: 403 (4403), or 401 (4401) if the error wraps
	// ErrUnauthorized. It runs after the identity's own document pattern (a token's "docs") has
	// allowed the document, for identities of tokens and of Authenticate alike, and for the
	// anonymous writer of a server that runs open. The error's text is logged, never sent to the
	// client. Nil means the identity's document pattern and role alone decide.
	//
	// The listing (GET /v1/docs) shows the documents for which it grants auth.RoleRead, asking once
	// per document it scans (at most 10,000 per page).
	//
	// A WebSocket connection is authorized once, at its upgrade (and again at each token refresh,
	// docs/protocol.md section 4.9); to end a connection's access, revoke its subject
	// (POST /v1/revocations) or let its identity expire.
	Authorize func(ctx context.Context, subject, docID string, want auth.Role) (auth.Role, error)

	// Observe is told of the documents' lives: created (the first write of a document not in
	// storage became durable), changed (writes became durable; debounced per document, see
	// ChangeDebounce) and deleted. It runs on one goroutine of the server's, one event at a time,
	// in the order of the events of each document. A slow Observe delays its own events only: a
	// document's changes merge into one while they wait, and events past MaxPendingEvents are
	// dropped and counted (tandem_observer_events_dropped_total). A panic in it is logged and the
	// event is lost. Shutdown delivers what waits, debounced or not, before it returns.
	Observe func(DocEvent)

	// ChangeDebounce is how long a document must stay unchanged before its change is observed:
	// each durable write of the document restarts the wait (up to ChangeMaxDebounce). Zero means
	// 2 s.
	ChangeDebounce time.Duration

	// ChangeMaxDebounce bounds how long a document that keeps changing waits for its change to be
	// observed, from the first change not observed yet. Zero means 10 s; it may not be below
	// ChangeDebounce.
	ChangeMaxDebounce time.Duration

	// MaxPendingEvents bounds the events waiting for Observe: created and deleted events, and
	// documents whose change waits (each counts once, however many writes it merges). An event
	// past it is dropped and counted. Zero means 4096.
	MaxPendingEvents int
}

// Hook defaults, applied by Hooks.withDefaults.
const (
	DefaultChangeDebounce    = 2 * time.Second
	DefaultChangeMaxDebounce = 10 * time.Second
	DefaultMaxPendingEvents  = 4096
)

func (h Hooks) withDefaults() Hooks {
	if h.ChangeDebounce == 0 {
		h.ChangeDebounce = DefaultChangeDebounce
	}
	if h.ChangeMaxDebounce == 0 {
		h.ChangeMaxDebounce = max(DefaultChangeMaxDebounce, h.ChangeDebounce)
	}
	if h.MaxPendingEvents == 0 {
		h.MaxPendingEvents = DefaultMaxPendingEvents
	}
	return h
}

// Identity is who makes a request, as an Authenticate hook establishes it.
type Identity struct {
	// Subject names the user or service; required. Per-subject limits (MaxConnsPerSubject),
	// client ID bindings and revocations by subject apply to it as to a token's subject.
	Subject string
	// Role is what the identity may do: auth.RoleRead, auth.RoleWrite or auth.RoleAdmin (which may
	// also use the administration API); required. Authorize may lower it per document.
	Role auth.Role
	// Documents is the pattern of the documents the identity may open, as a token's (auth.Match):
	// "*", a prefix followed by "*", or one document ID. Empty means every document, leaving the
	// decision to Authorize.
	Documents string
	// Expires, when not zero, is when the identity's access ends: an open WebSocket connection is
	// closed with 4401 then, unless its client refreshes it in time with a token of the built-in
	// check (which needs SecurityConfig.AuthSecret).
	Expires time.Time
}

// ErrUseToken is returned by an Authenticate hook to leave a request to the built-in token check.
var ErrUseToken = errors.New("server: use the built-in token check")

// errHookIdentity: an Authenticate hook returned an identity without a subject or a valid role.
var errHookIdentity = errors.New("server: the authenticate hook returned an invalid identity")

// runsOpen reports whether the server lets everyone in as the anonymous writer: no token secret,
// no Authenticate hook.
func (s *Server) runsOpen() bool {
	return s.sec.authority == nil && s.cfg.Hooks.Authenticate == nil
}

// authenticate decides who r is: the Authenticate hook's identity, or the built-in token's, or the
// anonymous writer while the server runs open. The error wraps ErrUnauthorized or ErrForbidden and
// an httpError to answer with.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if h := s.cfg.Hooks.Authenticate; h != nil {
		id, err := h(r)
		switch {
		case err == nil:
			return s.hookPrincipal(r, id)
		case errors.Is(err, ErrForbidden):
			s.warns.warn(nil, "forbidden by the authenticate hook", "err", err, "method", r.Method, "url", auth.RedactURL(r.URL), "remote", r.RemoteAddr)
			he := &httpError{status: http.StatusForbidden, code: "forbidden", msg: "the request's credentials do not allow it"}
			return principal{}, fmt.Errorf("%w: %w", ErrForbidden, he)
		case !errors.Is(err, ErrUseToken):
			return principal{}, s.unauthorized(r, err, "the request's credentials were refused")
		case s.sec.authority == nil:
			return principal{}, s.unauthorized(r, err, "the request's credentials were refused")
		}
	}
	if s.sec.authority == nil {
		return anonymous, nil
	}
	tok, err := auth.FromRequest(r)
	if err == nil {
		var p principal
		if p, err = s.verifyToken(tok); err == nil {
			return p, nil
		}
	}
	return principal{}, s.unauthorized(r, err, unauthorizedMessage(err))
}

// hookPrincipal checks an identity of the Authenticate hook and returns the principal it makes.
// A subject revoked (POST /v1/revocations) is refused as a revoked token is.
func (s *Server) hookPrincipal(r *http.Request, id Identity) (principal, error) {
	if id.Subject == "" || !id.Role.Valid() {
		s.log.Error("the authenticate hook returned an identity without a subject or a valid role",
			"subject", id.Subject, "role", id.Role)
		return principal{}, fmt.Errorf("%w: subject %q, role %q", errHookIdentity, id.Subject, id.Role)
	}
	if s.sec.deny.denies(id.Subject, "", time.Time{}) {
		s.refuse(reasonRevoked)
		return principal{}, s.unauthorized(r, fmt.Errorf("%w: subject %q", errTokenRevoked, id.Subject), "token revoked")
	}
	p := principal{Subject: id.Subject, Role: id.Role, Documents: id.Documents, Expires: id.Expires}
	if p.Documents == "" {
		p.Documents = "*"
	}
	return p, nil
}

// unauthorized logs (rate-limited) and returns the 401 refusal of r, whose cause is err; msg is what
// the client is told.
func (s *Server) unauthorized(r *http.Request, err error, msg string) error {
	s.warns.warn(nil, "unauthorized", "err", err, "method", r.Method, "url", auth.RedactURL(r.URL), "remote", r.RemoteAddr)
	he := &httpError{status: http.StatusUnauthorized, code: "unauthorized", msg: msg}
	return fmt.Errorf("%w: %w: %w", ErrUnauthorized, he, err)
}

// grant decides what p may do with document docID: its document pattern first, then the Authorize
// hook, asked for want. It returns p with the role granted for the document. The error wraps
// ErrForbidden or ErrUnauthorized and an httpError to answer with.
func (s *Server) grant(ctx context.Context, p principal, docID string, want auth.Role) (principal, error) {
	if !p.allows(docID) {
		s.warns.warn(nil, "forbidden: the token does not name this document", "doc", docID, "who", p)
		msg := fmt.Sprintf("the token does not allow document %q", docID)
		return principal{}, fmt.Errorf("%w: %w", ErrForbidden, &httpError{status: http.StatusForbidden, code: "forbidden", msg: msg})
	}
	h := s.cfg.Hooks.Authorize
	if h == nil {
		return p, nil
	}
	role, err := h(ctx, p.Subject, docID, want)
	if err == nil && !role.Valid() {
		s.log.Error("the authorize hook granted no valid role", "doc", docID, "who", p, "role", role)
		err = fmt.Errorf("server: the authorize hook granted role %q", role)
	}
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			s.warns.warn(nil, "unauthorized by the authorize hook", "doc", docID, "who", p, "err", err)
			he := &httpError{status: http.StatusUnauthorized, code: "unauthorized", msg: "the request's credentials were refused"}
			return principal{}, fmt.Errorf("%w: %w: %w", ErrUnauthorized, he, err)
		}
		s.warns.warn(nil, "forbidden by the authorize hook", "doc", docID, "who", p, "err", err)
		msg := fmt.Sprintf("access to document %q is not allowed", docID)
		return principal{}, fmt.Errorf("%w: %w", ErrForbidden, &httpError{status: http.StatusForbidden, code: "forbidden", msg: msg})
	}
	if roleRank(role) < roleRank(p.Role) {
		p.Role = role // the hook restricts, never widens
	}
	return p, nil
}

// roleRank orders the roles: read, write, admin.
func roleRank(r auth.Role) int {
	switch {
	case r.CanAdminister():
		return 2
	case r.CanWrite():
		return 1
	}
	return 0
}

// mayRead reports whether the Authorize hook, if any, lets p read document docID: the listing
// shows only such documents. A refusal here is not logged: it is no request's refusal.
func (s *Server) mayRead(ctx context.Context, p principal, docID string) bool {
	h := s.cfg.Hooks.Authorize
	if h == nil {
		return true
	}
	role, err := h(ctx, p.Subject, docID, auth.RoleRead)
	return err == nil && role.Valid()
}

// wantedRole is the role a request on a document asks for (Hooks.Authorize): the most p may do for
// a WebSocket connection and the access endpoint, which tells what the connection would get;
// reading for the other GETs; writing for the rest.
func wantedRole(r *http.Request, p principal) auth.Role {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return auth.RoleWrite
	}
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if pat := rc.RoutePattern(); strings.HasSuffix(pat, "/{id}/ws") || strings.HasSuffix(pat, "/{id}/access") {
			if p.Role.CanWrite() {
				return auth.RoleWrite
			}
		}
	}
	return auth.RoleRead
}
