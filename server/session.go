package server

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
	"github.com/tandemhq/tandem/server/internal/transport"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// conn is one client's session on one document: what the document side knows of a WebSocket
// connection. The socket, its frames, queues, keepalive and close handshake are the transport's
// (t, server/internal/transport), reached only through its methods: send, hold and flush queue
// frames, closeWith closes, and the transport calls the server back (hubSide) for each message
// and at the connection's end. The transport is a value inside the session, its first field, so
// that a connection is one allocation and the transport needs no pointer back (sessionOf).
type conn struct {
	t     transport.Conn // first: sessionOf
	docID string
	// subject is the caller's (principal.Subject): the client ID bindings are checked against it
	// (auth_bindings.go). The rest of the principal is used up by the start (handleWS).
	subject string
	// auth is what security keeps for the connection: its current token, which an auth message
	// replaces, the close at its expiry, and its place among its subject's connections
	// (refresh.go); nil while the server runs open. Set before the connection is registered,
	// then read-only (its fields have their own lock); secDone ends it.
	auth *connAuth

	// Set by the reader from the hello before the join message is sent, and read-only after: the
	// actor reads it after receiving that message.
	clientID uint64

	joined *actor   // the actor the hello joined; only the reader touches it
	rate   connRate // security: message rate limits (limits.go); only the reader touches it

	// seat is what the joined document's actor keeps about the connection (member.Seat); only
	// the actor's goroutine touches it.
	seat room.Seat
	// flags holds connReadOnly (set by newConn, the reader and token refreshes; read by the
	// actor).
	flags atomic.Uint32
	// helloReadOnly: the hello asked for read-only, whatever a refreshed token allows. Only the
	// reader touches it.
	helloReadOnly bool
}

// outFrame is one binary message for a connection. The bytes may be shared with other
// connections (an update is encoded once for all): nobody modifies them.
type outFrame struct {
	data []byte
	born time.Time // when the update it carries arrived, for tandem_broadcast_seconds; zero otherwise
}

// newConn returns a session on nc (nil: no socket, in tests) without permessage-deflate.
func newConn(s *Server, nc net.Conn, docID string, who principal) *conn {
	return s.newSession(nc, false, docID, who)
}

// newSession returns a session of who on document docID over nc, whose handshake negotiated
// permessage-deflate or not; the transport takes nc (transport.Hub.Init).
func (s *Server) newSession(nc net.Conn, deflate bool, docID string, who principal) *conn {
	c := &conn{docID: docID, subject: who.Subject}
	s.hub.Init(&c.t, nc, deflate)
	c.setFlag(connReadOnly, !who.Role.CanWrite())
	return c
}

// Bits of conn.flags.
const (
	// connReadOnly: the connection may not change its document, because its caller's role is
	// read or its hello said so. Set by newConn, then by the reader from the hello and from each
	// token refresh (refresh.go); the actor reads it for every update.
	connReadOnly uint32 = 1 << iota
)

// setFlag sets or clears bit f of c.flags.
func (c *conn) setFlag(f uint32, on bool) {
	if on {
		c.flags.Or(f)
	} else {
		c.flags.And(^f)
	}
}

// isReadOnly reports whether c may not change its document.
func (c *conn) isReadOnly() bool { return c.flags.Load()&connReadOnly != 0 }

// srv returns the connection's server: the handler of its transport's hub. (A session holds no
// pointer of its own to the server: every 8 bytes of conn are paid by every idle connection,
// TestConnSize.)
func (c *conn) srv() *Server { return (*Server)(c.t.Handler().(*hubSide)) }

// id returns the connection's number, for logs.
func (c *conn) id() uint64 { return c.t.ID() }

// send queues f for the peer and reports whether it was queued; it never blocks, and a frame
// that overflows the queue closes the connection with 1013 (transport.Conn.Send).
func (c *conn) send(f outFrame) bool {
	return c.t.Send(transport.Frame{Data: f.data, Born: f.born})
}

// sendMsg encodes m and queues it.
func (c *conn) sendMsg(m protocol.Message) bool {
	return c.t.Send(transport.Frame{Data: protocol.EncodeFrame(0, m)})
}

// hold queues f without writing it, and reports whether the caller must flush c
// (transport.Conn.Hold).
func (c *conn) hold(f outFrame) bool {
	return c.t.Hold(transport.Frame{Data: f.data, Born: f.born})
}

// flush writes the frames held for c with one system call (transport.Conn.Flush).
func (c *conn) flush() { c.t.Flush() }

// closeWith starts closing the connection for err, mapped to its wire error: the queued frames,
// an error message and a close frame with the error's code go out, then the socket is dropped.
// Only the first cause counts.
func (c *conn) closeWith(err error) { c.t.Close(wireError(err)) }

// closing reports whether the connection has started closing.
func (c *conn) closing() bool { return c.t.Closing() }

// ctx returns the connection as a context, done once it starts closing; only the reader uses it.
func (c *conn) ctx() context.Context { return c.t.Context() }

// sessionOf returns the session whose transport is tc. Every transport.Conn of the server's hub
// is the first field of a conn (newSession), so a pointer to it is a pointer to its session; the
// build fails if t ever moves from the start of conn (below).
func sessionOf(tc *transport.Conn) *conn { return (*conn)(unsafe.Pointer(tc)) }

// conn.t must stay conn's first field (sessionOf): the index below is out of range otherwise,
// which fails the build.
var _ = [1]struct{}{}[unsafe.Offsetof(conn{}.t)]

// hubSide is the server seen by its transport: the document side of every connection
// (transport.Handler) and the metrics and warnings (transport.Observer).
type hubSide Server

func (h *hubSide) Message(tc *transport.Conn, op wsframe.Opcode, data []byte) {
	sessionOf(tc).message(op, data)
}

func (h *hubSide) ReadEnded(tc *transport.Conn) { sessionOf(tc).readEnded() }

func (h *hubSide) Refused(tc *transport.Conn, e *protocol.Error) { sessionOf(tc).warnRefused(e) }

func (h *hubSide) Ended(tc *transport.Conn) { sessionOf(tc).ended() }

func (h *hubSide) Doc(tc *transport.Conn) string { return sessionOf(tc).docID }

func (h *hubSide) Sent(messages, bytes uint64) {
	h.metrics.messagesOut.Add(messages)
	h.metrics.bytesOut.Add(bytes)
	h.mem.note(noteWritten, int64(bytes)) // a large join answer written: garbage now (memrelease.go)
}

func (h *hubSide) Delivered(d time.Duration) { h.metrics.broadcastSecs.ObserveDuration(d) }

func (h *hubSide) SlowConsumer(cause string) { h.metrics.slowConsumers.Inc(cause) }

func (h *hubSide) Refusal(reason string) { (*Server)(h).refuse(reason) }

func (h *hubSide) Warn(msg string, args ...any) { h.warns.warn(nil, msg, args...) }

// message handles a message the peer sent: rate limits, then decoding and forwarding to the
// document (handle). It runs on the reader.
func (c *conn) message(op wsframe.Opcode, data []byte) {
	// security: rate limits (limits.go). Over its rate, the connection is not read until it is
	// back within it; past the grace period it is closed with 4429.
	if len(data) > 0 {
		if err := c.rateWait(c.ctx(), protocol.Type(data[0])); err != nil {
			if !c.closing() {
				c.closeWith(err)
			}
			return
		}
	}
	c.srv().metrics.messagesIn.Inc()
	c.srv().metrics.bytesIn.Add(uint64(len(data)))
	if op != wsframe.OpBinary { // the frame reader refuses text at its first frame already
		c.srv().refuse(reasonTextFrame)
		c.closeWith(errTextFrame)
		return
	}
	if err := c.handle(data, &c.joined); err != nil {
		c.srv().refuseErr(err)
		c.closeWith(err)
	}
}

// readEnded acts on the reader's end: the connection leaves its document.
func (c *conn) readEnded() {
	if c.joined != nil {
		c.joined.leave(c)
	}
}

// warnRefused logs a close the server started with an error code, once its close frame is sent.
func (c *conn) warnRefused(e *protocol.Error) {
	c.srv().warns.warn(nil, "connection refused", "doc", c.docID, "conn", c.id(), "client", c.clientID, "code", int(e.Code), "reason", e.Message)
}

// ended acts on the connection's end: its socket is dropped and it has left the hub.
func (c *conn) ended() {
	c.srv().metrics.connections.Dec()
	c.secDone() // security
	c.log().Debug("disconnected")
}

// eachConn calls visit for every open connection (transport.Hub.Each).
func (s *Server) eachConn(visit func(c *conn)) {
	s.hub.Each(func(tc *transport.Conn) { visit(sessionOf(tc)) })
}

// connLog logs for a connection, adding its document and number to each record it writes. It
// builds them when it writes, not when the connection starts (as slog.Logger.With would, at the
// cost of a handler held for the connection's life), because most of its records are debug ones
// that are never written.
type connLog struct{ c *conn }

// log returns the connection's logger.
func (c *conn) log() connLog { return connLog{c} }

// Debug logs at Debug level.
func (l connLog) Debug(msg string, args ...any) {
	log := l.c.srv().log
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.Debug(msg, append([]any{"doc", l.c.docID, "conn", l.c.id()}, args...)...)
}
