package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/protocol"
)

// closeGrace is how long a connection waits, after sending its close frame, for the peer's close
// frame before it drops the TCP connection. Reading until then (and discarding) also keeps unread
// bytes from turning the close into a TCP reset that would hide the close frame from the peer.
const closeGrace = time.Second

// conn is one WebSocket connection to one document: a reader goroutine (serve, then readLoop) that
// decodes, validates and forwards messages to the document's actor, and a writer goroutine (drain)
// that runs only while there is something to write: an idle connection costs one goroutine and a
// timer (the ping), not two goroutines. Only drain writes data frames; close and ping frames go
// through gorilla's WriteControl, which may be called concurrently.
//
// The queue is bounded in messages and bytes. send never blocks: when a frame would overflow the
// queue, the connection is a slow consumer and closes with 1013 (its client reconnects and resyncs
// by state vector, so nothing is lost).
type conn struct {
	s     *Server
	ws    *websocket.Conn // nil in actor tests, which read the queue instead
	id    uint64          // server-wide connection number, for logs
	docID string
	log   *slog.Logger
	who   principal
	rate  *connRate // security: message rate limits, used by the reader only (limits.go)
	// secDone ends what security keeps for the connection (expiry timer, per-subject count);
	// called once when the connection has ended (limits.go watchConn).
	secDone func()

	// Set by the reader from the hello before the join message is sent, and read-only after: the
	// actor reads them after receiving that message.
	clientID uint64
	readOnly bool

	ctx    context.Context // cancelled when the connection starts closing
	cancel context.CancelFunc

	mu         sync.Mutex
	queue      []outFrame
	queueBytes int         // bytes queued or being written
	closeErr   *closeCause // why the connection closes; nil while open
	writing    bool        // a drain goroutine runs (or has run finish)
	ping       *time.Timer // the next ping; nil before start and after finish

	wg         sync.WaitGroup // drain goroutines
	readerDone chan struct{}  // closed when readLoop returns
	writerDone chan struct{}  // closed when finish has dropped the socket
}

// outFrame is one encoded frame waiting to be written. The bytes may be shared with other
// connections (an update is encoded once for all): nobody modifies them.
type outFrame struct {
	data []byte
	born time.Time // when the update it carries arrived, for tandem_broadcast_seconds; zero otherwise
}

// closeCause says why a connection closes and what to send before the close.
type closeCause struct {
	err *protocol.Error
	// peerClosed: the peer sent its close frame (gorilla answered it already); send nothing.
	peerClosed bool
	// broken: the socket failed (read or write error); send nothing, just drop it.
	broken bool
	// closeSent: gorilla has sent the close frame itself (a message over the read limit, a
	// protocol error); send nothing, wait for the reader to finish draining.
	closeSent bool
}

func newConn(s *Server, ws *websocket.Conn, docID string, who principal) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.connCount++
	id := s.connCount
	s.mu.Unlock()
	return &conn{
		s:          s,
		ws:         ws,
		id:         id,
		docID:      docID,
		log:        s.log.With("doc", docID, "conn", id),
		who:        who,
		rate:       s.newConnRate(),
		secDone:    func() {},
		ctx:        ctx,
		cancel:     cancel,
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
}

// pingPeriod is how often the server pings: 9/10 of the pong wait, so that the pong can arrive in
// time.
func (c *conn) pingPeriod() time.Duration { return c.s.cfg.PongWait * 9 / 10 }

// startPing schedules the first ping.
func (c *conn) startPing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		c.ping = time.AfterFunc(c.pingPeriod(), c.sendPing)
	}
}

// sendPing runs on the ping timer: it writes a ping (WriteControl is safe beside the writer) and
// schedules the next one.
func (c *conn) sendPing() {
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
		c.setClose(&closeCause{broken: true})
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil && c.ping != nil {
		c.ping.Reset(c.pingPeriod())
	}
}

// kick starts a drain goroutine if there is work and none runs. c.mu must be held.
func (c *conn) kick() {
	if c.writing || c.ws == nil || (len(c.queue) == 0 && c.closeErr == nil) {
		return
	}
	c.writing = true
	c.wg.Add(1)
	go c.drain()
}

// send queues a frame for the writer and reports whether it was queued. It never blocks. A frame
// that overflows the queue closes the connection with 1013 instead.
func (c *conn) send(f outFrame) bool {
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return false
	}
	cfg := &c.s.cfg
	if len(c.queue) >= cfg.SendQueueMessages || (c.queueBytes > 0 && c.queueBytes+len(f.data) > cfg.SendQueueBytes) {
		n, b := len(c.queue), c.queueBytes
		c.closeErr = &closeCause{err: errSlowConsumer}
		c.kick()
		c.mu.Unlock()
		c.cancel()
		c.s.metrics.slowConsumers.Inc()
		c.s.warns.warn(c.log, "slow consumer: closing", "queued_messages", n, "queued_bytes", b)
		return false
	}
	c.queue = append(c.queue, f)
	c.queueBytes += len(f.data)
	c.kick()
	c.mu.Unlock()
	return true
}

// sendMsg encodes m and queues it.
func (c *conn) sendMsg(m protocol.Message) bool {
	return c.send(outFrame{data: protocol.EncodeFrame(0, m)})
}

// closeWith starts closing the connection for err: the writer flushes what is queued (unless the
// cause is a slow consumer or a broken socket), sends an error message and a close frame with the
// error's code, and drops the socket once the peer answers or closeGrace passes. Only the first
// cause counts; later calls do nothing.
func (c *conn) closeWith(err error) {
	c.setClose(&closeCause{err: wireError(err)})
}

// setClose records why the connection closes and reports whether it did: only the first cause
// counts.
func (c *conn) setClose(cause *closeCause) bool {
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return false
	}
	c.closeErr = cause
	c.kick()
	c.mu.Unlock()
	c.cancel()
	return true
}

// closing reports whether the connection has started closing.
func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr != nil
}

// drain is the connection's writer: it writes what is queued until the queue is empty (and then
// exits; the next send starts another) or the connection closes (and then finishes it). At most
// one drain runs at a time.
func (c *conn) drain() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		cause := c.closeErr
		if len(batch) == 0 && cause == nil {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if cause != nil && (cause.broken || cause.err == errSlowConsumer) {
			batch = nil
		}
		for i, f := range batch {
			if err := c.write(f.data); err != nil {
				c.log.Debug("write failed", "err", err)
				c.setClose(&closeCause{broken: true})
				break
			}
			if !f.born.IsZero() {
				c.s.metrics.broadcastSecs.ObserveDuration(time.Since(f.born))
			}
			batch[i] = outFrame{}
			c.mu.Lock()
			c.queueBytes -= len(f.data)
			c.mu.Unlock()
		}
		if cause != nil {
			c.finish(cause)
			return
		}
	}
}

// write writes one binary message with the write deadline.
func (c *conn) write(b []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
		return err
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return err
	}
	c.s.metrics.messagesOut.Inc()
	c.s.metrics.bytesOut.Add(uint64(len(b)))
	return nil
}

// finish sends the error message and the close frame the cause calls for, waits for the peer's
// close (the reader returns when it arrives) or closeGrace, and drops the socket. It runs once,
// on the last drain goroutine.
func (c *conn) finish(cause *closeCause) {
	defer close(c.writerDone)
	c.mu.Lock()
	if c.ping != nil {
		c.ping.Stop()
		c.ping = nil
	}
	c.mu.Unlock()
	if !cause.broken && !cause.peerClosed && !cause.closeSent && cause.err != nil {
		e := cause.err
		if e.Code != protocol.CloseNormal && e.Code != protocol.CloseGoingAway {
			if err := c.write(protocol.EncodeFrame(0, e)); err != nil {
				c.log.Debug("error message not sent", "err", err)
			}
		}
		msg := websocket.FormatCloseMessage(int(e.Code), e.CloseReason())
		if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
			c.log.Debug("close frame not sent", "err", err)
		}
		if e.Code != protocol.CloseNormal && e.Code != protocol.CloseGoingAway && e.Code != protocol.CloseTryAgainLater {
			c.s.warns.warn(c.log, "connection refused", "client", c.clientID, "code", int(e.Code), "reason", e.Message)
		}
	}
	if !cause.broken {
		t := time.NewTimer(closeGrace)
		select {
		case <-c.readerDone:
		case <-t.C:
		}
		t.Stop()
	}
	_ = c.ws.Close()
}

// errMessageTooBig is returned by readMessage for a message longer than the limit.
var errMessageTooBig = errors.New("server: message too big")

// readMessage reads the next message from ws, keeping at most max bytes of it. The limit is first
// gorilla's (configureConn sets SetReadLimit to max): a frame header that takes the message past it
// ends the connection with 1009 at once, before any of the payload is awaited, and returns
// websocket.ErrReadLimit. As a second line, a longer message returns errMessageTooBig after max+1
// bytes. With discard set, it reads and drops the whole message and returns no bytes.
func readMessage(ws *websocket.Conn, max int, discard bool) (int, []byte, error) {
	mt, r, err := ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	if discard {
		_, err := io.Copy(io.Discard, r)
		return mt, nil, err
	}
	// security: memory bounded by max even for a message that inflates without bound (limits.go).
	b, err := readBounded(r, max)
	return mt, b, err
}

// newUpgrader returns the WebSocket upgrader for cfg (after withDefaults): no compression, a small
// read buffer, write buffers pooled (an idle connection holds none), origins checked against
// cfg.AllowedOrigins.
func newUpgrader(cfg Config) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// A small read buffer of its own per connection (the HTTP server's 4 KiB one is let go);
		// large messages are read straight into their own buffer anyway.
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			return origin == "" || originAllowed(cfg.AllowedOrigins, origin, r.Host)
		},
		Error:             upgradeError,
		EnableCompression: cfg.EnableCompression, // security: off unless configured
	}
}

// configureConn sets up a freshly upgraded socket: the read limit (MaxMessageBytes), the read
// deadline, extended by every pong (and, in readLoop, by every message), and gorilla's default ping
// answer and close echo (kept).
func configureConn(ws *websocket.Conn, cfg Config) {
	ws.SetReadLimit(int64(cfg.MaxMessageBytes))
	_ = ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
	})
}

// isNetClosed reports whether err means the socket is gone (closed by us, reset, timed out).
func isNetClosed(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// drainRaw reads and discards what the peer still sends on ws's socket for at most d, or until it
// closes. After gorilla has given up on a connection (read limit, protocol error) its reader can no
// longer be used; draining keeps the peer's unread bytes from turning our close into a TCP reset
// that could destroy the close frame before the peer reads it.
func drainRaw(ws *websocket.Conn, d time.Duration) {
	nc := ws.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(d))
	_, _ = io.Copy(io.Discard, nc)
}
