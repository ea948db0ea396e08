package client

import (
	"errors"
	"fmt"

	"github.com/tandemhq/tandem/protocol"
)

// Sentinel errors.
var (
	// ErrClosed is returned by the methods of a Conn that Close has ended.
	ErrClosed = errors.New("client: connection closed")
	// ErrNotConnected is returned by Broadcast and SetAwareness while a reconnecting Conn is
	// between connections. Edit does not return it: the edit is kept and sent on reconnect.
	ErrNotConnected = errors.New("client: not connected")
	// ErrReadOnly is returned by Edit on a Conn opened with Options.ReadOnly: the server would
	// refuse the update (4403) and end the connection.
	ErrReadOnly = errors.New("client: read-only connection")
	// ErrInvalidURL is returned by Dial for a server URL it cannot use.
	ErrInvalidURL = errors.New("client: invalid server url")
	// ErrBadFrame reports a frame from the server that does not decode, or that the session does
	// not expect (a second sync, an ack for an update never sent).
	ErrBadFrame = errors.New("client: bad frame from server")
	// ErrClientIDUsed is returned by Dial when Options.ClientID names a client ID under which the
	// server already holds units: a new replica cannot know every clock its predecessor issued (a
	// server crash may have lost some that other replicas hold), and issuing one again with other
	// content would split the document for good (docs/crdt.md, section 1.1). Draw a new ID.
	ErrClientIDUsed = errors.New("client: client id already used by another replica")
)

// CloseError is the end of a connection by the server: the close code and the server's message.
type CloseError struct {
	// Code is the close code: the WebSocket close frame's, or the preceding error message's when
	// the close frame carried none. A connection that dropped without a close frame has 1006.
	Code protocol.CloseCode
	// Message is the server's explanation: the error message's text, or else the close reason.
	Message string
}

// CloseAbnormal is the code a CloseError carries when the connection ended without a close frame
// (RFC 6455 section 7.1.5: 1006 is never sent, only reported).
const CloseAbnormal protocol.CloseCode = 1006

// Error returns "client: closed by server: " followed by the code, its name and the message.
func (e *CloseError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("client: closed by server: %s", e.Code)
	}
	return fmt.Sprintf("client: closed by server: %s: %s", e.Code, e.Message)
}

// Terminal reports whether the code forbids reconnecting automatically.
func (e *CloseError) Terminal() bool { return e.Code.Terminal() }
