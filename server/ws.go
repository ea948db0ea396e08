package server

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// upgradeError answers a failed WebSocket handshake with the JSON error body of the HTTP API.
func upgradeError(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	code := "bad_handshake"
	if status == http.StatusForbidden {
		code = "origin_not_allowed"
	}
	// RFC 6455 section 4.4: tell a client with another protocol version which one we speak.
	w.Header().Set("Sec-WebSocket-Version", "13")
	writeError(w, status, code, reason.Error())
}

// handleWS serves GET /v1/docs/{id}/ws: it checks the document ID, the caller and the origin before
// the upgrade (each refusal is a JSON error), then starts the connection (conn.start) and returns.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !auth.ValidDocumentID(id) {
		s.refuse(reasonBadDocID)
		writeError(w, http.StatusBadRequest, "bad_doc_id", "document IDs are 1 to 128 characters of letters, digits, '.', '_', '-' and ':'")
		return
	}
	// security: the origin first (cross-site WebSocket hijacking), then the token.
	if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(s.cfg.AllowedOrigins, origin, r.Host) {
		s.refuse(reasonOrigin)
		s.warns.warn(nil, "origin refused", "doc", id, "origin", origin, "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "origin_not_allowed", "origin not allowed")
		return
	}
	who, err := s.authorize(r, id)
	if err != nil {
		s.refuseErr(err)
		s.writeHTTPError(w, err)
		return
	}
	if s.isClosing() {
		s.refuse(reasonShuttingDown)
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "server is shutting down")
		return
	}
	release, err := s.admitConn(who) // security: connections per subject (limits.go)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "too_many_connections", err.Error())
		return
	}
	id = s.docs.intern(id)
	nc, deflate, err := s.upgrade(w, r)
	if err != nil {
		// The upgrader has answered with an error.
		release() // security
		return
	}
	c := newConn(s, nc, id, who)
	c.fr.Reset(c.nc, s.readerConfig(deflate))
	s.watchConn(c, who, release) // security: 4401 at the token's expiry (limits.go)
	if !s.addConn(c) {
		c.secDone() // security
		var w frameWriter
		w.add(wsframe.OpClose, wsframe.ClosePayload(uint16(protocol.CloseGoingAway), "server shutting down"))
		_ = w.writeTo(c, s.cfg.WriteTimeout, time.Time{})
		_ = c.nc.Close()
		return
	}
	if s.connRevoked(c) {
		// security: revoked between authorize and addConn, so that revoke's pass missed it.
		c.closeWith(errRevoked)
	}
	c.log().Debug("connected", "remote", r.RemoteAddr, "who", who)
	c.start()
}

// upgrade answers the WebSocket handshake with gorilla's Upgrader (which checks it and answers
// errors itself) and returns the hijacked connection and whether permessage-deflate was
// negotiated. Gorilla's connection is dropped at once: the frames after the handshake are read and
// written by the server (wsframe), so that an idle connection holds no read buffer and a writer
// can send many frames in one system call (docs/server.md).
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, bool, error) {
	hw := &hijackWriter{ResponseWriter: w}
	if _, err := s.upgrader.Upgrade(hw, r, nil); err != nil {
		return nil, false, err
	}
	return hw.hc.Conn, hw.hc.deflate, nil
}

// start starts a registered connection's reader, on the server's poller if the connection can be
// polled, else in a goroutine of its own. Either way the HTTP handler returns, so that its deeper
// stack is not kept alive by an idle connection. Pings and the silence check are the keepalive
// scanner's (keepalive.go).
func (c *conn) start() {
	if c.s.poll.add(c) {
		return
	}
	go c.serve()
}

// serve runs the connection's reader as a goroutine of its own, then ends the connection.
func (c *conn) serve() {
	c.readLoop()
	c.ended()
}

// readLoop is the connection's reader when it has a goroutine of its own: it reads frame after
// frame (readOne) until the connection ends, then leaves the document. The read buffer goes back
// to the pool whenever the reader is about to wait for its peer.
func (c *conn) readLoop() {
	defer c.endRead()
	for c.readOne() {
		c.readerIdle()
	}
}

// ended waits for the writer to drop the socket, and unregisters the connection. It runs once,
// after the reader has ended (endRead), and never on a drain goroutine.
func (c *conn) ended() {
	defer c.s.connWG.Done()
	// Every reader's end follows a close cause, which started the drain goroutine that finishes
	// the connection: waiting for the drains is waiting for the socket to be dropped.
	c.wg.Wait()
	c.s.mu.Lock()
	c.s.removeConn(c)
	c.s.mu.Unlock()
	c.s.metrics.connections.Dec()
	c.secDone() // security
	c.log().Debug("disconnected")
}

// hijackWriter hands gorilla's Upgrader the hijacked connection wrapped in a handshakeConn, which
// sees the handshake's answer go by.
type hijackWriter struct {
	http.ResponseWriter
	hc *handshakeConn
}

// Hijack hijacks the underlying connection.
func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.hc = &handshakeConn{Conn: nc}
	return h.hc, brw, nil
}

// handshakeConn notes, from the first bytes written (the 101 answer), whether the Upgrader
// negotiated permessage-deflate: gorilla says so only there.
type handshakeConn struct {
	net.Conn
	wrote   bool
	deflate bool
}

func (hc *handshakeConn) Write(p []byte) (int, error) {
	if !hc.wrote {
		hc.wrote = true
		hc.deflate = bytes.Contains(p, []byte("\r\nSec-WebSocket-Extensions: permessage-deflate"))
	}
	return hc.Conn.Write(p)
}

// handle decodes one message and acts on it; a returned error closes the connection. a is the
// joined actor, set by the hello.
func (c *conn) handle(data []byte, a **actor) error {
	f, err := protocol.DecodeFrame(data, protocol.FromClient)
	if err != nil {
		return err
	}
	if f.Channel != 0 {
		return protocol.Errorf(protocol.CloseBadMessage, "unknown channel %d (this endpoint has channel 0 only)", f.Channel)
	}
	if h, ok := f.Message.(*protocol.Hello); ok {
		if *a != nil {
			return protocol.Errorf(protocol.CloseBadMessage, "hello repeated")
		}
		c.clientID = h.ClientID
		c.helloReadOnly = h.ReadOnly()
		if h.ReadOnly() {
			c.setFlag(connReadOnly, true)
		}
		act, err := c.s.docs.join(c.ctx(), c, h)
		if err != nil {
			return err
		}
		*a = act
		return nil
	}
	if *a == nil {
		return protocol.Errorf(protocol.CloseBadMessage, "expected hello first, got %s", f.Message.Type())
	}
	var m message
	switch msg := f.Message.(type) {
	case *protocol.Update:
		m = updateMsg{c: c, data: msg.Data, at: time.Now()}
	case *protocol.Awareness:
		if len(msg.State) > c.s.cfg.MaxAwarenessBytes {
			c.s.refuse(reasonAwarenessTooBig)
			c.closeWith(protocol.Errorf(protocol.CloseMessageTooBig, "awareness state exceeds %d bytes", c.s.cfg.MaxAwarenessBytes))
			return nil
		}
		c.setFlag(connPresence, len(msg.State) > 0) // keepalive.go: the presence wait
		m = awarenessMsg{c: c, clock: msg.Clock, state: msg.State}
	case *protocol.Broadcast:
		m = broadcastMsg{c: c, payload: msg.Payload}
	case *protocol.Ping:
		c.sendMsg(&protocol.Pong{Nonce: msg.Nonce})
		return nil
	case *protocol.Pong:
		return nil
	case *protocol.Auth:
		return c.refresh(msg) // security: a new token (refresh.go)
	default:
		return protocol.Errorf(protocol.CloseBadMessage, "unexpected %s", f.Message.Type())
	}
	if err := (*a).post(c.ctx(), m); err != nil {
		if c.closing() {
			return nil
		}
		return errDocUnavailable
	}
	return nil
}
