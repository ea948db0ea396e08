package server

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
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
// the upgrade (each refusal is a JSON error), then hands the socket to the transport, registers
// the connection and starts its reader (transport.Conn.Start), and returns.
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
	nc, deflate, err := s.hub.Upgrade(w, r)
	if err != nil {
		// The upgrader has answered with an error.
		release() // security
		return
	}
	c := s.newSession(nc, deflate, id, who)
	s.watchConn(c, who, release) // security: 4401 at the token's expiry (limits.go)
	if !s.hub.Add(&c.t) {
		// Shutting down: the transport has sent the close frame (1001) and dropped the socket.
		c.secDone() // security
		return
	}
	s.metrics.connections.Inc()
	if s.connRevoked(c) {
		// security: revoked between authorize and hub.Add, so that revoke's pass missed it.
		c.closeWith(errRevoked)
	}
	c.log().Debug("connected", "remote", r.RemoteAddr, "who", who)
	c.t.Start()
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
		act, err := c.srv().docs.join(c.ctx(), c, h)
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
		if len(msg.State) > c.srv().cfg.MaxAwarenessBytes {
			c.srv().refuse(reasonAwarenessTooBig)
			c.closeWith(protocol.Errorf(protocol.CloseMessageTooBig, "awareness state exceeds %d bytes", c.srv().cfg.MaxAwarenessBytes))
			return nil
		}
		c.t.SetPresence(len(msg.State) > 0) // the transport's keepalive: the presence wait
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
