package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/transport"
)

// Sentinel errors. Errors returned by this package wrap one of them with the detail the caller
// lacks (the document ID, the field); test them with errors.Is.
var (
	// ErrInvalidConfig is returned by New for a Config field with a bad value; the message names it.
	ErrInvalidConfig = errors.New("server: invalid config")

	// ErrShuttingDown is returned to requests that arrive after Shutdown has begun.
	ErrShuttingDown = errors.New("server: shutting down")
)

// Refusals that travel on the wire: each is a close code and a short message (the error message a
// client gets before the close frame). HTTP maps the same values to statuses (httpStatus).
var (
	errGoingAway      = protocol.Errorf(protocol.CloseGoingAway, "server shutting down")
	errSlowConsumer   = transport.ErrSlowConsumer // the transport's own closes (server/internal/transport)
	errWriteStalled   = transport.ErrWriteStalled
	errNoPong         = transport.ErrNoPong
	errTextFrame      = transport.ErrTextFrame
	errDocUnavailable = protocol.Errorf(protocol.CloseTryAgainLater, "document unavailable: reconnect")
	errTooManyConns   = protocol.Errorf(protocol.CloseTryAgainLater, "too many connections to this document")
	errLoadFailed     = protocol.Errorf(protocol.CloseInternalError, "document failed to load")
	errStorage        = protocol.Errorf(protocol.CloseInternalError, "storage failed: reconnect to resend unacknowledged updates")
	errDeleted        = protocol.Errorf(protocol.CloseDocumentDeleted, "document deleted")
	errReadOnly       = protocol.Errorf(protocol.CloseForbidden, "read-only access: updates are not allowed")
	errNotFound       = protocol.Errorf(protocol.CloseDocumentDeleted, "no such document")
)

// Internal signals between the registry, the actors and their callers; they never reach a client.
var (
	// errActorGone: the actor exited before taking the message.
	errActorGone = errors.New("server: document actor exited")
	// errRetry: the actor exited before serving the request; ask a fresh one.
	errRetry = errors.New("server: document actor exited, retry")
	// errNotOpen: no actor runs for the document and the caller did not ask to start one.
	errNotOpen = errors.New("server: document not open")
)

// wireError maps any error to the refusal a connection sends: the one table from errors to close
// codes. Unknown errors are internal (1011) and keep their text out of the client's sight.
func wireError(err error) *protocol.Error {
	var pe *protocol.Error
	switch {
	case err == nil:
		return protocol.Errorf(protocol.CloseNormal, "")
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, ErrShuttingDown):
		return errGoingAway
	case errors.Is(err, ErrUnauthorized):
		return protocol.Errorf(protocol.CloseUnauthorized, "unauthorized")
	case errors.Is(err, ErrForbidden):
		return protocol.Errorf(protocol.CloseForbidden, "forbidden")
	case errors.Is(err, crdt.ErrMalformedUpdate), errors.Is(err, crdt.ErrPendingOverflow):
		return protocol.Errorf(protocol.CloseInvalidUpdate, "update refused: %v", err)
	case errors.Is(err, errActorGone), errors.Is(err, errRetry), errors.Is(err, errNotOpen):
		return errDocUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errDocUnavailable
	}
	if code, ok := protocol.CloseCodeFor(err); ok {
		return &protocol.Error{Code: code, Message: err.Error()}
	}
	return protocol.Errorf(protocol.CloseInternalError, "internal error")
}

// httpStatus maps an error to an HTTP status and a stable error code for the JSON body.
func httpStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, ErrShuttingDown):
		return http.StatusServiceUnavailable, "shutting_down"
	case err == errNotFound, errors.Is(err, errNotOpen):
		return http.StatusNotFound, "not_found"
	case err == errDeleted:
		return http.StatusNotFound, "deleted"
	case err == errReadOnly:
		return http.StatusForbidden, "read_only"
	case err == errLoadFailed:
		return http.StatusInternalServerError, "load_failed"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timeout"
	}
	switch wireError(err).Code {
	case protocol.CloseBadMessage:
		return http.StatusBadRequest, "bad_request"
	case protocol.CloseForbidden:
		return http.StatusForbidden, "forbidden"
	case protocol.CloseDocumentTooLarge, protocol.CloseMessageTooBig:
		return http.StatusRequestEntityTooLarge, "too_large"
	case protocol.CloseInvalidUpdate:
		return http.StatusUnprocessableEntity, "invalid_update"
	case protocol.CloseTryAgainLater, protocol.CloseGoingAway:
		return http.StatusServiceUnavailable, "unavailable"
	case protocol.CloseRateLimited:
		return http.StatusTooManyRequests, "rate_limited"
	case protocol.CloseUnauthorized:
		return http.StatusUnauthorized, "unauthorized"
	}
	return http.StatusInternalServerError, "internal"
}

// writeHTTPError answers a request with the JSON error for err.
func (s *Server) writeHTTPError(w http.ResponseWriter, err error) {
	status, code := httpStatus(err)
	msg := wireError(err).Message
	var he *httpError
	if errors.As(err, &he) {
		status, code, msg = he.status, he.code, he.msg
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.log.Error("request failed", "err", err)
	}
	writeError(w, status, code, msg)
}

// httpError is a refusal of the HTTP API with its own status, code and message.
type httpError struct {
	status    int
	code, msg string
}

func (e *httpError) Error() string { return "server: " + e.msg }

// refuse counts a refusal by reason.
func (s *Server) refuse(reason string) { s.metrics.refusals.Inc(reason) }

// refuseErr counts a refusal whose reason follows from the error (a few known values) or its close
// code. Closes that are no refusal (shutdown, an unavailable document) are not counted.
func (s *Server) refuseErr(err error) {
	switch {
	case err == errTooManyConns:
		s.refuse(reasonTooManyConns)
		return
	case err == errLoadFailed:
		s.refuse(reasonLoadFailed)
		return
	case err == errPendingOverflow: // security
		s.refuse(reasonPendingOverflow)
		return
	case err == errPendingBudget:
		s.refuse(reasonPendingBudget)
		return
	}
	switch wireError(err).Code {
	case protocol.CloseDocumentTooLarge:
		s.refuse(reasonDocTooLarge)
	case protocol.CloseBadMessage:
		s.refuse(reasonBadMessage)
	case protocol.CloseUnsupportedVersion:
		s.refuse(reasonVersion)
	case protocol.CloseMessageTooBig:
		s.refuse(reasonTooBig)
	case protocol.CloseInvalidUpdate:
		s.refuse(reasonInvalidUpdate)
	case protocol.CloseUnauthorized:
		s.refuse(reasonUnauthorized)
	case protocol.CloseForbidden:
		s.refuse(reasonForbidden)
	case protocol.CloseDocumentDeleted:
		s.refuse(reasonDeleted)
	case protocol.CloseGoingAway:
		s.refuse(reasonShuttingDown)
	}
}
