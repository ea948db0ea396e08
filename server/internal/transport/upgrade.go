package transport

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// handshakeReadBufferBytes is the read buffer of gorilla's connection, which the hub drops right
// after the handshake: the least gorilla accepts.
const handshakeReadBufferBytes = 128

// newUpgrader returns the WebSocket upgrader for cfg: origins checked by cfg.CheckOrigin,
// compression negotiated only if configured. The connection it returns is used for the handshake
// only (see Upgrade), so its buffers are the smallest it takes: a tiny read buffer and a write
// buffer pool it never draws from.
func newUpgrader(cfg Config) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout:  10 * time.Second,
		ReadBufferSize:    handshakeReadBufferBytes,
		WriteBufferSize:   256,
		WriteBufferPool:   &sync.Pool{},
		CheckOrigin:       cfg.CheckOrigin,
		Error:             cfg.UpgradeError,
		EnableCompression: cfg.EnableCompression, // security: off unless configured
	}
}

// Upgrade answers the WebSocket handshake with gorilla's Upgrader (which checks it and answers
// errors itself) and returns the hijacked connection and whether permessage-deflate was
// negotiated. Gorilla's connection is dropped at once: the frames after the handshake are read and
// written by the transport (wsframe), so that an idle connection holds no read buffer and a
// writer can send many frames in one system call (docs/server.md).
func (h *Hub) Upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, bool, error) {
	hw := &hijackWriter{ResponseWriter: w}
	if _, err := h.upgrader.Upgrade(hw, r, nil); err != nil {
		return nil, false, err
	}
	return hw.hc.Conn, hw.hc.deflate, nil
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
