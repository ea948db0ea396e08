package server

import "github.com/tandemhq/tandem/server/internal/room"

// member is a connection as a document's actor knows it: the actor calls nothing else of a
// connection, and reads none of its fields. The transport implements it (*conn). A connection
// joins one document, and keeps for that document's actor a room.Seat (its slot among the
// members, the updates counted, whether one was refused), so that an idle member costs the actor
// nothing but its slot.
//
// Every method is safe to call from the actor's goroutine while the connection's reader and
// writer run; none blocks.
type member interface {
	// Closing reports whether the connection is closing (room.Member): the ledger holds no more
	// frames for it.
	Closing() bool
	// Send queues f to be written, after everything queued before it. It never blocks; a
	// connection whose queue is full closes as a slow consumer (and Send reports false).
	Send(f outFrame) bool
	// Hold queues f without writing it yet, and reports whether the caller must Flush the
	// connection to have it written.
	Hold(f outFrame) bool
	// Flush writes what Hold queued.
	Flush()
	// CloseWith closes the connection with err's close code and reason (1011 if err carries none),
	// after the frames already queued.
	CloseWith(err error)
	// ClientID is the client ID of the connection's hello, fixed once it joined.
	ClientID() uint64
	// Subject is the token subject the connection was opened with ("" when the server runs open).
	Subject() string
	// ReadOnly reports whether the connection may send no updates now (its token's role or its
	// hello; a refreshed token may change it).
	ReadOnly() bool
	// Seat returns the record the document's actor keeps in the connection; only the actor's
	// goroutine touches it.
	Seat() *room.Seat
}

var _ member = (*conn)(nil)

func (c *conn) Closing() bool        { return c.closing() }
func (c *conn) Send(f outFrame) bool { return c.send(f) }
func (c *conn) Hold(f outFrame) bool { return c.hold(f) }
func (c *conn) Flush()               { c.flush() }
func (c *conn) CloseWith(err error)  { c.closeWith(err) }
func (c *conn) ClientID() uint64     { return c.clientID }
func (c *conn) Subject() string      { return c.subject }
func (c *conn) ReadOnly() bool       { return c.isReadOnly() }
func (c *conn) Seat() *room.Seat     { return &c.seat }
