package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/waitgroup"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// Config is a hub's settings, shared by its connections. The server fills it from its own
// configuration, defaults applied: every field must be set (none has a default here).
type Config struct {
	// SendQueueMessages and SendQueueBytes bound a connection's send queue; a frame past either
	// makes it a slow consumer (1013).
	SendQueueMessages int
	SendQueueBytes    int
	// SendBufferBytes is the kernel's send buffer (SO_SNDBUF) of each socket.
	SendBufferBytes int
	// WriteTimeout is how long a write waits for a socket that takes no byte before the
	// connection is a slow consumer.
	WriteTimeout time.Duration
	// CloseTimeout bounds the writing of the error message and close frame.
	CloseTimeout time.Duration
	// PongWait is how long a peer may stay silent; PresenceWait (at most PongWait) is the same
	// for a peer that shows a presence (keepalive.go).
	PongWait     time.Duration
	PresenceWait time.Duration
	// MaxMessageBytes bounds an incoming message; FrameStallTimeout drops a frame begun that
	// stalls.
	MaxMessageBytes   int
	FrameStallTimeout time.Duration
	// Partial is the server-wide budget of the messages being received.
	Partial *wsframe.Budget
	// EnableCompression lets the handshake negotiate permessage-deflate.
	EnableCompression bool
	// CheckOrigin accepts or refuses a handshake's Origin (gorilla's Upgrader.CheckOrigin), and
	// UpgradeError answers a failed handshake.
	CheckOrigin  func(r *http.Request) bool
	UpgradeError func(w http.ResponseWriter, r *http.Request, status int, reason error)
	// Logger receives the transport's debug records; nil discards them.
	Logger *slog.Logger
	// Handler is the document side of every connection; Observer is told what the server counts
	// and warns of.
	Handler  Handler
	Observer Observer
}

// Handler is the document side of a hub's connections (the server's sessions): it learns of each
// message and of each connection's end. There is one per hub, not one per connection, so that a
// connection holds no interface value for it: the handler finds its session from the *Conn (in
// the server, the Conn is the session's first field). For each connection the transport calls
// Message and ReadEnded on the connection's reader, one call at a time, and Ended once, last.
type Handler interface {
	// Message handles a data message (binary, or text if the frame layer let one through) that
	// arrived while the connection was open. It may block (a rate limit's wait; the reader does
	// not read meanwhile) and must give up once Conn.Context is done. It closes the connection
	// itself (Conn.Close) to refuse the message.
	Message(c *Conn, op wsframe.Opcode, data []byte)
	// ReadEnded tells that c's reader has ended: no Message follows.
	ReadEnded(c *Conn)
	// Refused tells that c closed, at the server's initiative, with e (a code other than 1000,
	// 1001 and 1013), after its close frame was sent or given up on.
	Refused(c *Conn, e *protocol.Error)
	// Ended tells that c's socket is dropped and c has left its hub.
	Ended(c *Conn)
	// Doc returns the ID of c's document, for the transport's logs.
	Doc(c *Conn) string
}

// Observer is what a hub reports to the server that runs it: counters and rate-limited
// warnings. Its methods are called from any goroutine and must not block.
type Observer interface {
	// Sent counts binary messages written, and their payload bytes.
	Sent(messages, bytes uint64)
	// Delivered observes the time from an update's arrival (Frame.Born) to its frame written.
	Delivered(d time.Duration)
	// SlowConsumer counts a connection closed with 1013 for not reading (cause: Slow*).
	SlowConsumer(cause string)
	// Refusal counts a message or stream refused by the frame layer (reason: Refused*).
	Refusal(reason string)
	// Warn logs a warning (rate-limited by the server).
	Warn(msg string, args ...any)
}

// Causes of SlowConsumer.
const (
	SlowQueueFull    = "queue_full"    // the send queue passed SendQueueBytes or SendQueueMessages
	SlowWriteStalled = "write_stalled" // the socket took no byte for WriteTimeout
	SlowNoPong       = "no_pong"       // silent (no pong, no message) for PongWait
)

// Reasons of Observer.Refusal.
const (
	RefusedBadMessage    = "bad_message"
	RefusedTextFrame     = "text_frame"
	RefusedTooBig        = "message_too_big"
	RefusedPartialBudget = "partial_message_budget"
	RefusedFrameStalled  = "frame_stalled"
)

// The close errors of the transport's own decisions.
var (
	ErrSlowConsumer = protocol.Errorf(protocol.CloseTryAgainLater, "send queue full: read faster, then reconnect")
	ErrWriteStalled = protocol.Errorf(protocol.CloseTryAgainLater, "not reading: the connection took nothing for the write timeout; reconnect")
	ErrNoPong       = protocol.Errorf(protocol.CloseTryAgainLater, "no pong within the pong wait: read, then reconnect")
	ErrTextFrame    = protocol.Errorf(protocol.CloseUnsupportedData, "text frames are not supported: send binary frames")
)

// Hub is the transport of one server: the handshake, the poller that reads idle sockets without
// a goroutine each, the keepalive scanner, and the table of open connections. See the package
// documentation for a connection's life.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	handler  Handler
	obs      Observer
	upgrader *websocket.Upgrader
	poll     *poller // reads idle connections without a goroutine each (poll_linux.go)
	// readerCfgs are the frame readers' configurations, without and with permessage-deflate,
	// shared by every connection (readerConfig).
	readerCfgs [2]wsframe.Config

	// mu guards the fields below it.
	mu        sync.Mutex
	closing   bool              // Shutdown has begun: Add refuses
	conns     []*Conn           // open connections, each at its slot (keepalive.go)
	count     uint64            // connections ever set up, for log IDs
	keepalive *keepaliveScanner // pings and drops silent peers; nil before the first connection

	wg sync.WaitGroup // one per connection added, done when its goroutines have ended
}

// New returns a hub for cfg.
func New(cfg Config) *Hub {
	h := &Hub{cfg: cfg, log: cfg.Logger, handler: cfg.Handler, obs: cfg.Observer}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.poll = newPoller()
	h.readerCfgs = newReaderConfigs(cfg, h.poll.bufs, cfg.Partial)
	h.upgrader = newUpgrader(cfg)
	return h
}

// Add registers c, set up by Init, among the hub's open connections, and starts the keepalive
// scanner with the first one. While the hub shuts down it sends c's peer a close frame (1001)
// instead, drops the socket, and reports false.
func (h *Hub) Add(c *Conn) bool {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		if c.nc != nil {
			var w frameWriter
			w.add(wsframe.OpClose, wsframe.ClosePayload(uint16(protocol.CloseGoingAway), "server shutting down"))
			_ = w.writeTo(c, h.cfg.WriteTimeout, time.Time{})
			_ = c.nc.Close()
		}
		return false
	}
	c.slot = int32(len(h.conns))
	h.conns = append(h.conns, c)
	h.startKeepalive()
	h.wg.Add(1)
	h.mu.Unlock()
	return true
}

// Len returns the number of open connections.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Conns returns the open connections.
func (h *Hub) Conns() []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.conns)
}

// Shutdown refuses new connections, closes the open ones with e, and waits for their end (or
// ctx); then it stops the poller and the keepalive scanner. Call it once.
func (h *Hub) Shutdown(ctx context.Context, e *protocol.Error) error {
	h.mu.Lock()
	h.closing = true
	conns := slices.Clone(h.conns)
	h.mu.Unlock()
	for _, c := range conns {
		c.Close(e)
	}
	err := waitgroup.Wait(ctx, &h.wg)
	if err == nil {
		h.poll.close()
	}
	h.stopKeepalive()
	return err
}

// readerConfig returns the frame reader's configuration for a connection that negotiated
// permessage-deflate or not: one of the hub's two, which every reader shares.
func (h *Hub) readerConfig(deflate bool) *wsframe.Config {
	if deflate {
		return &h.readerCfgs[1]
	}
	return &h.readerCfgs[0]
}

// newReaderConfigs returns the frame readers' configurations of a hub: without and with
// permessage-deflate. Text messages are refused at their first frame (the server speaks binary
// only), messages that do not arrive whole grow in chunks of the server's budget, and a frame
// begun that stalls is dropped after FrameStallTimeout.
func newReaderConfigs(cfg Config, bufs *wsframe.BufferPool, budget *wsframe.Budget) [2]wsframe.Config {
	c := wsframe.Config{
		MaxMessageBytes: cfg.MaxMessageBytes,
		RefuseText:      true,
		Buffers:         bufs,
		Budget:          budget,
		StallTimeout:    cfg.FrameStallTimeout,
	}
	d := c
	d.Deflate = true
	return [2]wsframe.Config{c, d}
}

// isNetClosed reports whether err means the socket is gone (closed by us, reset, timed out).
func isNetClosed(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// connLog logs for a connection, adding its document and number to each record it writes. It
// builds them when it writes, not when the connection starts (as slog.Logger.With would, at the
// cost of a handler held for the connection's life), because most of its records are debug ones
// that are never written.
type connLog struct{ c *Conn }

// log returns the connection's logger.
func (c *Conn) log() connLog { return connLog{c} }

// Debug logs at Debug level.
func (l connLog) Debug(msg string, args ...any) {
	log := l.c.hub.log
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.Debug(msg, append([]any{"doc", l.c.doc(), "conn", l.c.id}, args...)...)
}
