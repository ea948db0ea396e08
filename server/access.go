package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
)

// The access endpoint, GET /v1/docs/{id}/access. A refused WebSocket upgrade tells a browser
// nothing: the page sees a close with 1006 whatever the status was. So a client that fails to
// connect asks this endpoint, with the same token and from the same origin, and learns what the
// upgrade would decide and why, as the close code the same refusal carries on an open connection
// (docs/protocol.md, section 1). The upgrade itself still refuses before upgrading.
//
// Every answer carries Access-Control-Allow-Origin: *, so that a page on an origin the server
// refuses can read why; that gives away nothing the caller does not hold already (its own token's
// claims, and whether its origin is allowed).

// accessGranted is the body of a 200 answer.
type accessGranted struct {
	OK      bool       `json:"ok"`
	Role    string     `json:"role"`
	Subject string     `json:"subject"`
	Expires *time.Time `json:"expires"` // null while the server runs open
}

// accessRefused is the body of a refusal.
type accessRefused struct {
	OK    bool               `json:"ok"`
	Code  protocol.CloseCode `json:"code"`
	Error string             `json:"error"`
}

// allowAnyOrigin lets a page of any origin read the answer.
func allowAnyOrigin(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
}

// handleAccessPreflight answers the CORS preflight of a request that carries an Authorization
// header.
func (s *Server) handleAccessPreflight(w http.ResponseWriter, _ *http.Request) {
	allowAnyOrigin(w)
	w.Header().Set("Access-Control-Allow-Methods", "GET")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAccess(w http.ResponseWriter, r *http.Request) {
	allowAnyOrigin(w)
	refuse := func(status int, code protocol.CloseCode, msg string) {
		writeJSON(w, status, accessRefused{Code: code, Error: msg})
	}
	id := chi.URLParam(r, "id")
	if !auth.ValidDocumentID(id) {
		refuse(http.StatusBadRequest, protocol.CloseBadMessage, "bad document ID: IDs are 1 to 128 characters of letters, digits, '.', '_', '-' and ':'")
		return
	}
	// In the upgrade's order: the origin, then the token.
	if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(s.cfg.AllowedOrigins, origin, r.Host) {
		refuse(http.StatusForbidden, protocol.CloseForbidden, fmt.Sprintf("origin %s is not allowed: the server's --allowed-origins must list it", origin))
		return
	}
	who, err := s.authorize(r, id)
	if err != nil {
		var he *httpError
		msg := "unauthorized"
		if errors.As(err, &he) {
			msg = he.msg
		}
		if errors.Is(err, ErrForbidden) {
			refuse(http.StatusForbidden, protocol.CloseForbidden, msg)
		} else {
			refuse(http.StatusUnauthorized, protocol.CloseUnauthorized, msg)
		}
		return
	}
	if s.beingDeleted(r.Context(), id) {
		refuse(http.StatusNotFound, protocol.CloseDocumentDeleted, "the document is being deleted")
		return
	}
	// Refusals that pass: a client retries them with backoff.
	if s.isClosing() {
		refuse(http.StatusServiceUnavailable, protocol.CloseGoingAway, "server shutting down")
		return
	}
	if s.subjectFull(who) {
		refuse(http.StatusServiceUnavailable, protocol.CloseTryAgainLater, fmt.Sprintf("subject %q holds as many connections as it may", who.Subject))
		return
	}
	role := auth.RoleRead // what the connection may do with the document: an admin writes
	if who.Role.CanWrite() {
		role = auth.RoleWrite
	}
	ok := accessGranted{OK: true, Role: string(role), Subject: who.Subject}
	if !who.Expires.IsZero() {
		t := who.Expires.UTC()
		ok.Expires = &t
	}
	writeJSON(w, http.StatusOK, ok)
}

// beingDeleted reports whether document id is open and being deleted: the one case in which a
// connection to it would be closed with 4404. It loads nothing; a deleted document is simply
// gone, and a new connection starts it afresh.
func (s *Server) beingDeleted(ctx context.Context, id string) bool {
	a, err := s.docs.get(id, false)
	if err != nil || a == nil {
		return false
	}
	deleting := make(chan bool, 1)
	if err := a.post(ctx, funcMsg{fn: func(a *actor) { deleting <- a.core.Mode() == room.Delete }}); err != nil {
		return false // the actor exited: nothing is being deleted
	}
	select {
	case d := <-deleting:
		return d
	case <-a.done:
		return false
	case <-ctx.Done():
		return false
	}
}
