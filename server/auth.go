package server

import (
	"errors"
	"log/slog"
	"net/http"
)

// Role is what a principal may do with a document.
type Role uint8

// Roles. A read-only principal receives everything, may send awareness and broadcasts, and never
// changes a document: the actor refuses its updates with 4403 and HTTP refuses its writes with 403.
const (
	RoleRead  Role = 1
	RoleWrite Role = 2
)

// String returns "read" or "write".
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	}
	return "none"
}

// principal is who makes a request, as authorize established it.
type principal struct {
	Subject string
	Role    Role
}

// LogValue lets a principal appear in logs as its subject and role.
func (p principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("subject", p.Subject), slog.String("role", p.Role.String()))
}

// Errors of authorization, mapped to 401/403 and to close codes 4401/4403.
var (
	// ErrUnauthorized: the request carries no valid credentials.
	ErrUnauthorized = errors.New("server: unauthorized")
	// ErrForbidden: the credentials do not allow this document or this action.
	ErrForbidden = errors.New("server: forbidden")
)

// anonymous is the principal of every request while the server runs open (no token verification
// is configured): it may read and write every document.
var anonymous = principal{Subject: "anonymous", Role: RoleWrite}

// authorize decides who r is and what it may do with document docID (empty for requests that name
// no document, such as the listing). It is the one place where tokens, roles and per-document
// patterns are checked, on the WebSocket upgrade and on every HTTP API call alike; an error wraps
// ErrUnauthorized or ErrForbidden.
//
// Today the server runs open and every request is the anonymous writer. Token verification plugs in
// here.
func (s *Server) authorize(r *http.Request, docID string) (principal, error) {
	_ = r
	_ = docID
	return anonymous, nil
}

// authorizeUpdate decides whether who, on a connection whose hello named clientID, may send the
// update data (before it is applied). It is where a client ID gets bound to the subject that first
// used it in a document, and where updates carrying another subject's client IDs are refused
// (crdt.InspectUpdate lists an update's authors without applying it). An error wraps ErrForbidden
// or is a *protocol.Error.
//
// Today every update of a writer is allowed.
func (s *Server) authorizeUpdate(who principal, clientID uint64, data []byte) error {
	_, _, _ = who, clientID, data
	return nil
}
