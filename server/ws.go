package server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

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
// the upgrade (each refusal is a JSON error), then runs the connection: the writer in its own
// goroutine, the reader in this one.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !validDocID(id) {
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
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered with an error.
		release() // security
		return
	}
	configureConn(ws, s.cfg)
	c := newConn(s, ws, id, who)
	c.secDone = s.watchConn(c, release) // security: 4401 at the token's expiry (limits.go)

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.secDone() // security
		msg := websocket.FormatCloseMessage(int(protocol.CloseGoingAway), "server shutting down")
		_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteTimeout))
		_ = ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	s.metrics.connections.Inc()
	c.log.Debug("connected", "remote", r.RemoteAddr, "who", who)
	c.startPing()
	// The reader runs in a goroutine of its own, so that the HTTP server's deeper stack is not
	// kept alive by an idle connection: the handler returns now.
	go c.serve()
}

// serve runs the connection's reader, then waits for the writer to drop the socket, and
// unregisters the connection.
func (c *conn) serve() {
	defer c.s.connWG.Done()
	c.readLoop()
	<-c.writerDone
	c.wg.Wait()
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	c.s.metrics.connections.Dec()
	c.secDone() // security
	c.log.Debug("disconnected")
}

// peerCloseDrain bounds how long a connection reads what its peer sends after the peer's close
// frame.
const peerCloseDrain = 100 * time.Millisecond

// isProtocolError reports whether err is gorilla's report of a broken frame, after which gorilla
// has sent a 1002 close frame itself.
func isProtocolError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return false
	}
	return strings.HasPrefix(err.Error(), "websocket: ") && !errors.Is(err, websocket.ErrCloseSent)
}

// readLoop is the connection's reader: it reads each message (bounded by MaxMessageBytes), decodes
// and validates it, and forwards it to the actor. Once the connection is closing, it reads and
// discards until the peer's close frame arrives or the writer drops the socket. When it returns,
// the connection leaves its document.
func (c *conn) readLoop() {
	defer close(c.readerDone)
	var a *actor
	defer func() {
		if a != nil {
			a.leave(c)
		}
	}()
	max := c.s.cfg.MaxMessageBytes
	for {
		discard := c.closing()
		mt, data, err := readMessage(c.ws, max, discard)
		if err != nil {
			if errors.Is(err, errMessageTooBig) {
				c.s.refuse(reasonTooBig)
				c.closeWith(protocol.Errorf(protocol.CloseMessageTooBig, "message exceeds %d bytes", max))
				continue
			}
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce):
				// gorilla has answered the peer's close frame. When the peer started the close,
				// drain briefly what it may still (wrongly) send, so that dropping the socket
				// does not reset the connection under our close frame. When we started it, the
				// handshake is complete: drop the socket now.
				if c.setClose(&closeCause{peerClosed: true}) {
					drainRaw(c.ws, peerCloseDrain)
				}
			case errors.Is(err, websocket.ErrReadLimit), isProtocolError(err):
				// gorilla has sent the close frame (1009, 1002) itself.
				if errors.Is(err, websocket.ErrReadLimit) {
					c.s.refuse(reasonTooBig)
				} else {
					c.s.refuse(reasonBadMessage)
				}
				c.log.Debug("closed by the websocket layer", "err", err)
				c.setClose(&closeCause{closeSent: true})
				drainRaw(c.ws, closeGrace)
			default:
				if !isNetClosed(err) {
					c.log.Debug("read failed", "err", err)
				}
				c.setClose(&closeCause{broken: true})
			}
			return
		}
		if discard {
			continue
		}
		// security: rate limits (limits.go). Over its rate, the connection is not read until it is
		// back within it; past the grace period it is closed with 4429.
		if len(data) > 0 {
			if err := c.rate.wait(c.ctx, protocol.Type(data[0])); err != nil {
				if c.ctx.Err() == nil {
					c.closeWith(err)
				}
				continue
			}
		}
		// Anything from the peer shows it is alive, like a pong.
		_ = c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongWait))
		c.s.metrics.messagesIn.Inc()
		c.s.metrics.bytesIn.Add(uint64(len(data)))
		if mt != websocket.BinaryMessage {
			c.s.refuse(reasonTextFrame)
			c.closeWith(protocol.Errorf(protocol.CloseUnsupportedData, "text frames are not supported: send binary frames"))
			continue
		}
		if err := c.handle(data, &a); err != nil {
			c.s.refuseErr(err)
			c.closeWith(err)
		}
	}
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
		c.readOnly = h.ReadOnly() || c.who.Role != RoleWrite
		act, err := c.s.docs.join(c.ctx, c, h)
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
		m = awarenessMsg{c: c, clock: msg.Clock, state: msg.State}
	case *protocol.Broadcast:
		m = broadcastMsg{c: c, payload: msg.Payload}
	case *protocol.Ping:
		c.sendMsg(&protocol.Pong{Nonce: msg.Nonce})
		return nil
	case *protocol.Pong:
		return nil
	default:
		return protocol.Errorf(protocol.CloseBadMessage, "unexpected %s", f.Message.Type())
	}
	if err := (*a).post(c.ctx, m); err != nil {
		if c.closing() {
			return nil
		}
		return errDocUnavailable
	}
	return nil
}
