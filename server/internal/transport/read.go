package transport

import (
	"errors"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// PeerCloseDrain bounds how long a connection reads what its peer sends after the peer's close
// frame.
const PeerCloseDrain = 100 * time.Millisecond

// drainRaw reads and discards what the peer still sends for at most d, or until it closes. After
// the frame layer has given up on a connection (a protocol error) the stream can no longer be
// parsed; draining keeps the peer's unread bytes from turning our close into a TCP reset that
// could destroy the close frame before the peer reads it.
func (c *Conn) drainRaw(d time.Duration) {
	c.fr.Reset(nil, nil) // gives its buffers back
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	var buf [512]byte
	for {
		if _, err := c.nc.Read(buf[:]); err != nil {
			return
		}
	}
}

// readOne reads one frame or message and acts on it: a message goes to the handler (or is
// discarded once the connection is closing), a ping is answered, a close answered. It reports whether the reader goes on: false once the peer's close frame has come,
// the stream is broken, or the socket has failed.
func (c *Conn) readOne() bool {
	// No read deadline between messages: a peer silent for PongWait is closed by the keepalive
	// scanner (keepalive.go). Inside a frame or a fragmented message, the frame reader sets one
	// (FrameStallTimeout), and a peer that stalls there fails the read (1008, readFailed).
	f, err := c.fr.Next()
	if err != nil {
		return c.readFailed(err)
	}
	c.heard(time.Now())
	switch f.Op {
	case wsframe.OpPing:
		c.Send(Frame{Data: f.Payload, op: wsframe.OpPong})
		return true
	case wsframe.OpPong:
		return true
	case wsframe.OpClose:
		code, _, _ := wsframe.ParseClose(f.Payload) // checked by Next
		if c.setClose(&closeCause{err: &protocol.Error{Code: protocol.CloseCode(code)}, quiet: true, peerClosed: true}) {
			// Drain briefly what the peer may still (wrongly) send, so that dropping the socket
			// does not reset the connection under our close frame.
			c.drainRaw(PeerCloseDrain)
		}
		// When we started the close, the handshake is complete: the writer drops the socket.
		return false
	}
	if c.Closing() {
		return true // discarded: the connection waits for the peer's close frame
	}
	c.hub.handler.Message(c, f.Op, f.Payload)
	return true
}

// readFailed acts on an error of the frame reader and reports whether the reader goes on.
func (c *Conn) readFailed(err error) bool {
	max := c.hub.cfg.MaxMessageBytes
	var fe *wsframe.Error
	switch {
	case errors.Is(err, wsframe.ErrInflatedTooBig):
		// The message was read to its end: the stream goes on, and the peer hears why.
		c.hub.obs.Refusal(RefusedTooBig)
		c.Close(protocol.Errorf(protocol.CloseMessageTooBig, "message exceeds %d bytes", max))
		return true
	case errors.As(err, &fe):
		// The stream cannot be parsed further: the close frame, then drain. A violation of RFC
		// 6455 gets the close frame only, as the RFC fails a connection; a refusal of the server's
		// own (text, a bound) is also said in an error message first.
		cause := &closeCause{err: &protocol.Error{Code: protocol.CloseCode(fe.Code), Message: fe.Reason}}
		switch fe.Code {
		case wsframe.CloseMessageTooBig:
			c.hub.obs.Refusal(RefusedTooBig)
			cause.quiet = true
		case wsframe.CloseUnsupportedData:
			c.hub.obs.Refusal(RefusedTextFrame)
			cause.err = ErrTextFrame
		case wsframe.CloseTryAgainLater:
			c.hub.obs.Refusal(RefusedPartialBudget)
			c.hub.obs.Warn("partial message budget exhausted: closing", "doc", c.doc(), "conn", c.id, "budget_bytes", c.hub.cfg.Partial.Limit())
		case wsframe.ClosePolicyViolation:
			c.hub.obs.Refusal(RefusedFrameStalled)
		default:
			c.hub.obs.Refusal(RefusedBadMessage)
			cause.quiet = true
		}
		c.log().Debug("frame refused", "err", err)
		if c.setClose(cause) {
			c.drainRaw(CloseGrace)
		}
	default:
		if !isNetClosed(err) {
			c.log().Debug("read failed", "err", err)
		}
		c.setClose(&closeCause{broken: true})
	}
	return false
}

// readerIdle is called when the reader is about to wait for its peer (or, on the poller, to stop
// until its next burst): it gives back what only reading needs, the read buffer and the context's
// channel, so that a waiting connection holds neither. Only the reader uses the context.
func (c *Conn) readerIdle() {
	c.fr.Release()
	c.mu.Lock()
	if c.closeErr == nil {
		c.done = nil
	}
	c.mu.Unlock()
}

// endRead ends the reader: the handler learns of it (the connection leaves its document), and the
// writer, which may be waiting for the peer's close frame, learns that no more will be read.
func (c *Conn) endRead() {
	c.fr.Reset(nil, nil)
	c.hub.handler.ReadEnded(c)
	c.mu.Lock()
	c.readerEnded = true
	readerDone := c.readerDone
	c.mu.Unlock()
	if readerDone != nil {
		close(readerDone)
	}
}

// Start starts a registered connection's reader, on the hub's poller if the connection can be
// polled, else in a goroutine of its own. Either way it returns at once, so that the HTTP
// handler's deeper stack is not kept alive by an idle connection. Pings and the silence check
// are the keepalive scanner's (keepalive.go).
func (c *Conn) Start() {
	if c.hub.poll.add(c) {
		return
	}
	go c.serve()
}

// serve runs the connection's reader as a goroutine of its own, then ends the connection.
func (c *Conn) serve() {
	c.readLoop()
	c.ended()
}

// readLoop is the connection's reader when it has a goroutine of its own: it reads frame after
// frame (readOne) until the connection ends, then ends the reading. The read buffer goes back to
// the pool whenever the reader is about to wait for its peer.
func (c *Conn) readLoop() {
	defer c.endRead()
	for c.readOne() {
		c.readerIdle()
	}
}

// ended waits for the writer to drop the socket, takes the connection off the hub, and tells the
// handler. It runs once, after the reader has ended (endRead), and never on a drain goroutine.
func (c *Conn) ended() {
	defer c.hub.wg.Done()
	// Every reader's end follows a close cause, which started the drain goroutine that finishes
	// the connection: waiting for the drains is waiting for the socket to be dropped.
	c.wg.Wait()
	c.hub.mu.Lock()
	c.hub.removeConn(c)
	c.hub.mu.Unlock()
	c.hub.handler.Ended(c)
}
