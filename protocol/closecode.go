package protocol

import "strconv"

// CloseCode is the status code of a WebSocket close frame. The server sends the same code in the
// error message that precedes the close, so that a client whose transport hides close codes still
// learns it. Codes below 4000 are RFC 6455's; 4000-4999 are tandem's, and each one's last three
// digits echo the HTTP status of the same meaning (4401 unauthorized, 4404 gone...).
type CloseCode uint16

// The close codes. docs/protocol.md says when each is used and what a client does about it.
const (
	// CloseNormal: the connection did what it was for (the client left, or the server ended a
	// session on purpose).
	CloseNormal CloseCode = 1000
	// CloseGoingAway: the server is shutting down or restarting.
	CloseGoingAway CloseCode = 1001
	// CloseProtocolError: the WebSocket framing itself was broken.
	CloseProtocolError CloseCode = 1002
	// CloseUnsupportedData: a text frame arrived; tandem speaks binary frames only.
	CloseUnsupportedData CloseCode = 1003
	// ClosePolicyViolation: a generic refusal by policy (origin not allowed, too many connections
	// to the document).
	ClosePolicyViolation CloseCode = 1008
	// CloseMessageTooBig: a message exceeded the server's maximum message size.
	CloseMessageTooBig CloseCode = 1009
	// CloseInternalError: the server failed (a storage error, a bug); nothing was wrong with the
	// client's messages.
	CloseInternalError CloseCode = 1011
	// CloseTryAgainLater: the server is overloaded, or the client read too slowly and its outbound
	// queue filled up. Reconnect with backoff; the resync by state vector loses nothing.
	CloseTryAgainLater CloseCode = 1013
	// CloseBadMessage: a frame was malformed, had an unknown type or one not allowed from the
	// client, or hello was missing or repeated.
	CloseBadMessage CloseCode = 4400
	// CloseUnauthorized: no valid token, or the token expired or was revoked.
	CloseUnauthorized CloseCode = 4401
	// CloseForbidden: the token does not allow this (a read-only connection sent an update; the
	// client ID is bound to another subject).
	CloseForbidden CloseCode = 4403
	// CloseDocumentDeleted: the document was deleted while the connection was open.
	CloseDocumentDeleted CloseCode = 4404
	// CloseUnsupportedVersion: the server does not speak the protocol version of the hello.
	CloseUnsupportedVersion CloseCode = 4409
	// CloseDocumentTooLarge: applying the update would take the document past its size limit.
	CloseDocumentTooLarge CloseCode = 4413
	// CloseInvalidUpdate: the CRDT refused the update's bytes.
	CloseInvalidUpdate CloseCode = 4422
	// CloseRateLimited: the client sent more than its rate limit allows.
	CloseRateLimited CloseCode = 4429
)

// String returns the code and its name, such as "4403 forbidden", or the code alone for a code
// this package does not name.
func (c CloseCode) String() string {
	name := c.Name()
	if name == "" {
		return strconv.Itoa(int(c))
	}
	return strconv.Itoa(int(c)) + " " + name
}

// Name returns the code's name in lowercase words, such as "forbidden", or "" for a code this
// package does not name. The JavaScript twin's closeCodeName returns the same names.
func (c CloseCode) Name() string {
	switch c {
	case CloseNormal:
		return "normal"
	case CloseGoingAway:
		return "going away"
	case CloseProtocolError:
		return "protocol error"
	case CloseUnsupportedData:
		return "unsupported data"
	case ClosePolicyViolation:
		return "policy violation"
	case CloseMessageTooBig:
		return "message too big"
	case CloseInternalError:
		return "internal error"
	case CloseTryAgainLater:
		return "try again later"
	case CloseBadMessage:
		return "bad message"
	case CloseUnauthorized:
		return "unauthorized"
	case CloseForbidden:
		return "forbidden"
	case CloseDocumentDeleted:
		return "document deleted"
	case CloseUnsupportedVersion:
		return "unsupported version"
	case CloseDocumentTooLarge:
		return "document too large"
	case CloseInvalidUpdate:
		return "invalid update"
	case CloseRateLimited:
		return "rate limited"
	}
	return ""
}

// Terminal reports whether a client must not reconnect on its own after a close with this code:
// reconnecting would be refused again for the same reason until a person acts (a new token, another
// document, a newer client, a smaller document). After any other code, including codes unknown to
// this package, a client may reconnect with backoff.
func (c CloseCode) Terminal() bool {
	switch c {
	case CloseUnauthorized, CloseForbidden, CloseDocumentDeleted, CloseUnsupportedVersion, CloseDocumentTooLarge:
		return true
	}
	return false
}

// valid reports whether c may appear in an error message: the range a WebSocket close frame may
// carry (RFC 6455 section 7.4), codes that must never be sent aside.
func (c CloseCode) valid() bool {
	return c >= 1000 && c <= 4999
}
