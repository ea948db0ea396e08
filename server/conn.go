package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// closeGrace is how long a connection waits, after sending its close frame, for the peer's close
// frame before it drops the TCP connection. Reading until then (and discarding) also keeps unread
// bytes from turning the close into a TCP reset that would hide the close frame from the peer.
const closeGrace = time.Second

// conn is one WebSocket connection to one document. After the handshake (gorilla's Upgrader), its
// frames are read and written by the server itself (wsframe): a reader that decodes, validates
// and forwards messages to the document's actor, and a writer goroutine (drain) that writes every
// frame, control frames included, and runs only while there is something to write. Where the
// platform allows (poll_linux.go), the reader too runs only while the socket has bytes for it:
// an idle connection holds no goroutine and no timer (the server's keepalive scanner pings it and
// checks its silence, keepalive.go).
//
// The queue is bounded in messages and bytes. send never blocks: when a frame would overflow the
// queue, the connection is a slow consumer and closes with 1013 (its client reconnects and resyncs
// by state vector, so nothing is lost).
type conn struct {
	s     *Server
	nc    net.Conn // nil in actor tests, which read the queue instead
	id    uint64   // server-wide connection number, for logs
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

	// The reader's state: one reader runs at a time (a goroutine of its own, or one the poller
	// starts per burst of bytes), and each hands over to the next through the poller's arming.
	fr     wsframe.Reader
	joined *actor    // the actor the hello joined
	rate   connRate  // security: message rate limits (limits.go)
	poll   pollState // the connection's place on the server's poller (poll_linux.go)

	// lastHeard is when the peer last sent a frame (Unix nanoseconds): the keepalive scanner
	// closes a connection silent for PongWait.
	lastHeard atomic.Int64
	// pingAt is when the next ping is due (Unix nanoseconds); only the keepalive scanner reads
	// and writes it after newConn.
	pingAt int64
	// seat is what the joined document's actor keeps about the connection (member.Seat); only
	// the actor's goroutine touches it.
	seat room.Seat
	// slot is the connection's index in Server.conns, guarded by Server.mu; -1 when not there.
	slot int32
	// flags holds connReadOnly and connPresence (set by newConn and the reader; read by the actor
	// and the keepalive scanner).
	flags atomic.Uint32

	mu          sync.Mutex
	queue       []outFrame
	queueBytes  int         // bytes queued or being written
	rest        *restWrite  // what a write on the sender's goroutine left to the writer; nil mostly
	closeErr    *closeCause // why the connection closes; nil while open
	writing     bool        // a drain goroutine runs (or has run finish)
	readerEnded bool        // the reader has ended (endRead)
	held        bool        // the actor holds frames for this connection to flush (hold)
	// helloReadOnly: the hello asked for read-only, whatever a refreshed token allows. Only the
	// reader touches it (not guarded by mu: it sits here to pack the struct, TestConnSize).
	helloReadOnly bool
	// direct: the socket is plain TCP where writeNow is available, so that frames can be written
	// with its descriptor (rawConn) on the sender's goroutine. Set by newConn (not guarded by mu).
	direct bool
	// done is the context's Done channel (connCtx), made when first asked for and closed when
	// the connection starts closing.
	done chan struct{}
	// readerDone is made by finish when it waits for the reader, and closed by endRead.
	readerDone chan struct{}

	// wg counts drain goroutines; the last one drops the socket (finish).
	wg sync.WaitGroup
}

// outFrame is one frame waiting to be written: a binary message unless op says otherwise (a ping
// or a pong). The bytes may be shared with other connections (an update is encoded once for all):
// nobody modifies them.
type outFrame struct {
	data []byte
	born time.Time // when the update it carries arrived, for tandem_broadcast_seconds; zero otherwise
	op   wsframe.Opcode
}

// restWrite is the unwritten end of frames that the sender's goroutine began to write (writeInline,
// flush) when the socket's buffer filled: the writer goroutine writes it before anything queued
// after it.
type restWrite struct {
	bufs   [][]byte
	queued int        // what it counts in queueBytes
	frames []outFrame // the frames it ends, for the metrics
	off    int        // the bytes of those frames written before bufs
}

// closeCause says why a connection closes and what to send before the close.
type closeCause struct {
	// err gives the close frame's code and reason; an error message carrying it goes first,
	// unless quiet or the code is 1000 or 1001.
	err *protocol.Error
	// quiet: the close frame only. The frame layer refused the stream (a protocol error, a
	// message too big by its header), or the peer closed first.
	quiet bool
	// peerClosed: the peer's close frame came first; ours answers it (err holds the peer's code),
	// and the reader has nothing more to wait for.
	peerClosed bool
	// broken: the socket failed (read or write error); send nothing, just drop it.
	broken bool
	// slow: the peer does not read what it is sent (slow consumer). Frames not yet begun are
	// dropped; the one being written is finished, then the error message and the close frame
	// follow, within CloseTimeout, for a client that reads again.
	slow bool
}

// newConn returns a connection on nc, which becomes a sockConn if it is plain TCP (detachConn).
func newConn(s *Server, nc net.Conn, docID string, who principal) *conn {
	if nc != nil {
		setSendBuffer(nc, s.cfg.SendBufferBytes)
		nc = detachConn(nc)
	}
	s.mu.Lock()
	s.connCount++
	id := s.connCount
	s.mu.Unlock()
	c := &conn{
		s:       s,
		nc:      nc,
		id:      id,
		docID:   docID,
		subject: who.Subject,
		slot:    -1,
	}
	c.setFlag(connReadOnly, !who.Role.CanWrite())
	c.direct = isDirect(nc)
	now := time.Now()
	c.heard(now)
	c.pingAt = now.Add(s.pingPeriod()).UnixNano()
	return c
}

// Bits of conn.flags.
const (
	// connReadOnly: the connection may not change its document, because its caller's role is
	// read or its hello said so. Set by newConn, then by the reader from the hello and from each
	// token refresh (refresh.go); the actor reads it for every update.
	connReadOnly uint32 = 1 << iota
	// connPresence: the connection's last awareness state was not empty: its peer shows a
	// presence (a cursor) to the others, and the keepalive checks it on the shorter presence
	// wait (keepalive.go). Set and cleared by the reader.
	connPresence
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

// hasPresence reports whether c's peer shows a presence to the others.
func (c *conn) hasPresence() bool { return c.flags.Load()&connPresence != 0 }

// setSendBuffer sets the kernel's send buffer (SO_SNDBUF) of nc's socket, plain or under TLS, to
// n bytes: what the connection may park in the kernel beyond its send queue. Setting it also
// stops the kernel from growing the buffer (to megabytes on Linux) for a client that reads
// slowly, which would hide a client that stopped reading behind megabytes of buffered frames.
func setSendBuffer(nc net.Conn, n int) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(n)
	}
}

// ctx returns the connection as a context, done once the connection starts closing: what the
// reader's calls to the actor and its rate-limit waits give up on.
func (c *conn) ctx() context.Context { return (*connCtx)(c) }

// connCtx is a conn seen as a context.Context, so that a connection needs no context of its own
// (a context.WithCancel costs a few hundred bytes per connection for its life). Its channel is
// made when asked for and dropped when the reader goes idle (readerIdle). Only the reader uses it,
// and nothing derives contexts from it.
type connCtx conn

func (x *connCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done returns a channel closed once the connection starts closing.
func (x *connCtx) Done() <-chan struct{} {
	c := (*conn)(x)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.closeErr != nil {
			close(c.done)
		}
	}
	return c.done
}

// Err returns context.Canceled once the connection has started closing.
func (x *connCtx) Err() error {
	if (*conn)(x).closing() {
		return context.Canceled
	}
	return nil
}

func (x *connCtx) Value(any) any { return nil }

// heard records that the peer sent something at now: it may stay silent for PongWait from then.
func (c *conn) heard(now time.Time) { c.lastHeard.Store(now.UnixNano()) }

// kick starts a drain goroutine if there is work and none runs. c.mu must be held.
func (c *conn) kick() {
	if c.writing || c.nc == nil || (len(c.queue) == 0 && c.closeErr == nil) {
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
	if !c.admitLocked(f) {
		return false
	}
	if !c.writing && len(c.queue) == 0 && c.direct {
		// Nothing is being written: write the frame here, without a goroutine or a deadline,
		// unless the socket's buffer is full.
		c.writing = true
		c.mu.Unlock()
		c.writeInline(f)
		return true
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

// hold queues a frame without writing it: the document's actor holds what it sends while it
// handles a batch of messages, then writes each connection's frames with one system call (flush).
// It reports whether the caller must flush c: true for the first frame held since the last
// flush, while no writer goroutine runs (one that runs takes the frame itself).
func (c *conn) hold(f outFrame) bool {
	c.mu.Lock()
	if !c.admitLocked(f) {
		return false
	}
	c.queue = append(c.queue, f)
	c.queueBytes += len(f.data)
	first := false
	switch {
	case c.writing:
	case !c.direct:
		c.kick()
	case !c.held:
		c.held, first = true, true
	}
	c.mu.Unlock()
	return first
}

// admitLocked checks that f may be queued: the connection is open and f fits in its queue. A
// frame that does not fit closes the connection with 1013. c.mu is held, and is released when
// admitLocked returns false.
func (c *conn) admitLocked(f outFrame) bool {
	if c.closeErr != nil {
		c.mu.Unlock()
		return false
	}
	cfg := &c.s.cfg
	if len(c.queue) >= cfg.SendQueueMessages || (c.queueBytes > 0 && c.queueBytes+len(f.data) > cfg.SendQueueBytes) {
		n, b := len(c.queue), c.queueBytes
		c.closeErr = &closeCause{err: errSlowConsumer, slow: true}
		c.closed()
		c.mu.Unlock()
		c.s.metrics.slowConsumers.Inc(slowQueueFull)
		c.s.warns.warn(nil, "slow consumer: closing", "doc", c.docID, "conn", c.id, "queued_messages", n, "queued_bytes", b)
		return false
	}
	return true
}

// flush writes the frames held for c (hold) with one writev that does not wait; a writer goroutine
// takes over what the socket's buffer does not take.
func (c *conn) flush() {
	c.mu.Lock()
	c.held = false
	if c.writing || len(c.queue) == 0 || c.closeErr != nil {
		c.kick()
		c.mu.Unlock()
		return
	}
	batch := c.queue
	c.queue = nil
	c.writing = true
	c.mu.Unlock()
	var w frameWriter
	bufs, total := w.gather(batch)
	n, err := c.s.poll.writeNow(c.nc, bufs)
	c.handOver(bufs, n, total, err, batch, payloadBytes(batch))
}

// writeInline writes f on the caller's goroutine, as far as the socket's buffer takes it at once;
// the writer goroutine (drain) takes over what is left, and whatever was queued meanwhile. The
// caller has set c.writing, so no other write runs.
func (c *conn) writeInline(f outFrame) {
	op := f.op
	if op == 0 {
		op = wsframe.OpBinary
	}
	n, hdrLen, err := c.s.poll.writeFrameNow(c.nc, op, f.data)
	total := hdrLen + len(f.data)
	if err == nil && n == total { // the usual case, without handOver's allocations
		c.written([]outFrame{f}, 0)
		c.mu.Lock()
		c.writing = false
		c.kick() // frames queued while this one was written, or a close
		c.mu.Unlock()
		return
	}
	var bufs [][]byte
	if err == nil {
		// The header was on writeFrameNow's buffer: what is left of it is made again.
		bufs = [][]byte{wsframe.AppendHeader(make([]byte, 0, hdrLen), op, len(f.data)), f.data}
	}
	c.handOver(bufs, n, total, err, []outFrame{f}, 0)
}

// handOver ends a write begun on the sender's goroutine (writeInline, flush): n of total bytes of
// bufs, which carry frames, were written. What is left goes to a writer goroutine, with queued,
// the bytes of the frames counted in queueBytes. The writer goroutine also starts if frames were
// queued meanwhile.
func (c *conn) handOver(bufs [][]byte, n, total int, err error, frames []outFrame, queued int) {
	if err != nil {
		c.log().Debug("write failed", "err", err)
		c.mu.Lock()
		c.writing = false
		c.queueBytes -= queued
		c.mu.Unlock()
		c.setClose(&closeCause{broken: true})
		return
	}
	if n == total {
		c.written(frames, queued)
		c.mu.Lock()
		c.writing = false
		c.kick() // frames queued while these were written, or a close
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	c.rest = &restWrite{bufs: consumeBufs(bufs, n), queued: queued + total - n, frames: frames, off: n}
	c.queueBytes += total - n
	c.wg.Add(1)
	go c.drain()
	c.mu.Unlock()
}

// payloadBytes returns the bytes of the frames' payloads: what they count in queueBytes.
func payloadBytes(frames []outFrame) int {
	n := 0
	for _, f := range frames {
		n += len(f.data)
	}
	return n
}

// consumeBufs drops the first n bytes of bufs and returns what is left, in bufs' own array.
func consumeBufs(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// written accounts for frames written to the socket: messages and bytes out, the broadcast latency
// of updates, and queued bytes of them leave queueBytes.
func (c *conn) written(frames []outFrame, queued int) {
	var bytes, msgs uint64
	now := time.Now()
	for _, f := range frames {
		if f.op != 0 {
			continue
		}
		bytes += uint64(len(f.data))
		msgs++
		if !f.born.IsZero() {
			c.s.metrics.broadcastSecs.ObserveDuration(now.Sub(f.born))
		}
	}
	c.s.metrics.messagesOut.Add(msgs)
	c.s.metrics.bytesOut.Add(bytes)
	if queued != 0 {
		c.mu.Lock()
		c.queueBytes -= queued
		c.mu.Unlock()
	}
}

// closeWith starts closing the connection for err: the writer flushes what is queued (unless the
// cause is a slow consumer or a broken socket), sends an error message and a close frame with the
// error's code, and drops the socket once the peer answers or closeGrace passes. Only the first
// cause counts; later calls do nothing.
func (c *conn) closeWith(err error) {
	c.setClose(&closeCause{err: wireError(err)})
}

// setClose records why the connection closes and reports whether it did: only the first cause
// counts. A broken socket is closed at once, so that a write or read blocked on it returns.
func (c *conn) setClose(cause *closeCause) bool {
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return false
	}
	c.closeErr = cause
	c.closed()
	c.mu.Unlock()
	if cause.broken && c.nc != nil {
		_ = c.nc.Close()
	}
	return true
}

// closed acts on a close cause just recorded: the writer finishes, the context is done. c.mu is
// held.
func (c *conn) closed() {
	c.kick()
	if c.done != nil {
		close(c.done)
	}
}

// closeSilent closes a connection whose peer has been silent (no frame, not even a pong) for
// PongWait. Either it is gone, or it does not read (its pings wait unread): a slow consumer, closed
// with 1013 like one, so that a client that reads again within CloseTimeout gets the close code
// rather than a stream cut short. A peer that is gone costs at most CloseTimeout more.
func (c *conn) closeSilent() {
	if c.setClose(&closeCause{err: errNoPong, slow: true}) {
		c.s.metrics.slowConsumers.Inc(slowNoPong)
		c.log().Debug("peer silent past the pong wait")
	}
}

// closing reports whether the connection has started closing.
func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr != nil
}

// drain is the connection's writer: it writes what is queued, each pass in one system call, until
// the queue is empty (and then exits; the next send starts another) or the connection closes (and
// then finishes it). At most one drain runs at a time, so frames never interleave on the socket.
//
// A write whose socket takes no byte for WriteTimeout makes the connection a slow consumer
// (writeFailed): the frame being written is finished and the close frame follows (finish), so
// that a client that reads again gets a whole stream and the code 1013, never a frame cut short.
func (c *conn) drain() {
	defer c.wg.Done()
	var w frameWriter
	var tail [][]byte // the end of a frame begun, to write before the close frame
	failed := false   // a write failed: the connection closes (writeFailed gave the cause)
	for {
		c.mu.Lock()
		rest := c.rest
		c.rest = nil
		batch := c.queue
		c.queue = nil
		cause := c.closeErr
		if len(batch) == 0 && cause == nil && rest == nil {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if cause != nil && (cause.broken || cause.peerClosed || cause.slow) {
			c.unqueue(payloadBytes(batch))
			batch = nil
			if rest != nil {
				// Only the frame being written is finished, with the close frame.
				if !cause.broken {
					tail = frameTail(rest.frames, rest.off, rest.bufs)
				}
				c.unqueue(rest.queued)
				rest = nil
			}
		}
		if rest != nil {
			n, err := c.writeBufs(rest.bufs, c.s.cfg.WriteTimeout, time.Time{})
			if err == nil {
				c.written(rest.frames, rest.queued)
			} else {
				c.unqueue(rest.queued)
				tail, failed = c.writeFailed(err, rest.frames, rest.off+n, consumeBufs(rest.bufs, n)), true
				c.unqueue(payloadBytes(batch))
				batch = nil
			}
		}
		if len(batch) > 0 {
			bufs, _ := w.gather(batch)
			n, err := c.writeBufs(bufs, c.s.cfg.WriteTimeout, time.Time{})
			if err == nil {
				c.written(batch, payloadBytes(batch))
			} else {
				c.unqueue(payloadBytes(batch))
				tail, failed = c.writeFailed(err, batch, n, consumeBufs(bufs, n)), true
			}
			w.reset()
			clear(batch)
		}
		if failed {
			c.mu.Lock()
			cause = c.closeErr
			c.mu.Unlock()
		}
		if cause != nil {
			c.finish(&w, cause, tail)
			c.dropped()
			return
		}
	}
}

// unqueue takes n bytes of frames that will not be written out of queueBytes.
func (c *conn) unqueue(n int) {
	if n != 0 {
		c.mu.Lock()
		c.queueBytes -= n
		c.mu.Unlock()
	}
}

// writeFailed acts on a failed write of frames, of which done bytes were written, rest being
// what is left of them, and returns what the close must be preceded by. A socket that took no
// byte for WriteTimeout is a slow consumer (closed with 1013; the rest of the frame being written
// is returned, to go before the close frame); any other error is a broken socket.
func (c *conn) writeFailed(err error, frames []outFrame, done int, rest [][]byte) [][]byte {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.log().Debug("write failed", "err", err)
		c.setClose(&closeCause{broken: true})
		return nil
	}
	if c.setClose(&closeCause{err: errWriteStalled, slow: true}) {
		c.s.metrics.slowConsumers.Inc(slowWriteStalled)
		c.s.warns.warn(nil, "slow consumer: the socket took nothing for the write timeout: closing", "doc", c.docID, "conn", c.id, "write_timeout", c.s.cfg.WriteTimeout)
	}
	return frameTail(frames, done, rest)
}

// frameTail returns the part of rest (what is left to write of frames, done bytes of which are
// written) that ends the frame being written: nothing when done is at a frame's end. The slices
// are new; the bytes are rest's.
func frameTail(frames []outFrame, done int, rest [][]byte) [][]byte {
	end := 0
	for _, f := range frames {
		if end >= done {
			break
		}
		end += wsframe.HeaderLen(len(f.data)) + len(f.data)
	}
	left := end - done
	var tail [][]byte
	for _, b := range rest {
		if left <= 0 {
			break
		}
		k := min(len(b), left)
		tail = append(tail, b[:k])
		left -= k
	}
	return tail
}

// writeBufs writes bufs whole and returns the bytes written: first as far as the socket's buffer
// takes them at once, then waiting for the socket, for at most idle since it last took bytes and
// never past limit (zero: none). A wait that passes its bound fails with os.ErrDeadlineExceeded.
func (c *conn) writeBufs(bufs [][]byte, idle time.Duration, limit time.Time) (int, error) {
	if c.direct {
		return c.s.poll.writeAll(c.nc, bufs, idle, limit)
	}
	// Without the descriptor the deadline is set once: idle from now, within limit.
	d := time.Now().Add(idle)
	if !limit.IsZero() && limit.Before(d) {
		d = limit
	}
	if err := c.nc.SetWriteDeadline(d); err != nil {
		return 0, err
	}
	if len(bufs) == 1 {
		return c.nc.Write(bufs[0])
	}
	nb := net.Buffers(bufs)
	n, err := nb.WriteTo(c.nc)
	return int(n), err
}

// frameWriter gathers frames for one system call: headers and small payloads are copied
// together into one buffer, larger payloads are written from where they are (update bytes shared
// by every connection), beside them. A pass with large payloads is one writev (net.Buffers); one
// with small frames only is one write, which also spares the socket the iovec array the runtime
// keeps after a writev. The buffer is sized to the pass (flatLen) and dropped after it: a pool
// would keep a buffer for every writer that ran at once during a burst of fan-out.
type frameWriter struct {
	flat  []byte // headers and small payloads
	start int    // flat[start:] is not yet in bufs
	bufs  net.Buffers
}

// copyMaxBytes is the largest payload a frameWriter copies rather than points to.
const copyMaxBytes = 512

// flatLen returns the bytes that add copies for a frame of n bytes of payload.
func flatLen(n int) int {
	if n <= copyMaxBytes {
		return wsframe.HeaderLen(n) + n
	}
	return wsframe.HeaderLen(n)
}

// add appends a frame.
func (w *frameWriter) add(op wsframe.Opcode, p []byte) {
	w.flat = wsframe.AppendHeader(w.flat, op, len(p))
	if len(p) <= copyMaxBytes {
		w.flat = append(w.flat, p...)
		return
	}
	w.bufs = append(w.bufs, w.flat[w.start:len(w.flat):len(w.flat)], p)
	w.start = len(w.flat)
}

// gather adds frames (a binary message unless op says otherwise) in a buffer sized for them, and
// returns the slices to write, which stay valid until the next add, and their length.
func (w *frameWriter) gather(frames []outFrame) ([][]byte, int) {
	n := 0
	for _, f := range frames {
		n += flatLen(len(f.data))
	}
	w.flat = make([]byte, 0, n)
	total := 0
	for _, f := range frames {
		op := f.op
		if op == 0 {
			op = wsframe.OpBinary
		}
		w.add(op, f.data)
		total += wsframe.HeaderLen(len(f.data)) + len(f.data)
	}
	if w.start < len(w.flat) {
		w.bufs = append(w.bufs, w.flat[w.start:])
		w.start = len(w.flat)
	}
	return w.bufs, total
}

// writeTo writes the gathered frames to c (conn.writeBufs: idle and limit bound the waits), and
// empties w.
func (w *frameWriter) writeTo(c *conn, idle time.Duration, limit time.Time) error {
	if w.start < len(w.flat) {
		w.bufs = append(w.bufs, w.flat[w.start:])
	}
	defer w.reset()
	if len(w.bufs) == 0 {
		return nil
	}
	_, err := c.writeBufs(w.bufs, idle, limit)
	return err
}

// reset empties w, keeping nothing the frames point to.
func (w *frameWriter) reset() {
	clear(w.bufs)
	w.bufs, w.flat, w.start = w.bufs[:0], nil, 0
}

// finish sends tail (the end of a frame begun), then the error message and the close frame the
// cause calls for, waiting at most CloseTimeout for the socket to take them; then it waits for the
// peer's close (the reader ends when it arrives) or closeGrace, and drops the socket. It runs once,
// on the last drain goroutine; the connection's end (ended) waits for that goroutine.
func (c *conn) finish(w *frameWriter, cause *closeCause, tail [][]byte) {
	c.mu.Lock()
	var readerDone chan struct{}
	if !c.readerEnded {
		c.readerDone = make(chan struct{})
		readerDone = c.readerDone
	}
	c.mu.Unlock()
	if !cause.broken && cause.err != nil {
		e := cause.err
		w.bufs = append(w.bufs[:0], tail...)
		var msg []byte
		if !cause.quiet && e.Code != protocol.CloseNormal && e.Code != protocol.CloseGoingAway {
			msg = protocol.EncodeFrame(0, e)
			w.add(wsframe.OpBinary, msg)
		}
		w.add(wsframe.OpClose, wsframe.ClosePayload(uint16(e.Code), e.CloseReason()))
		if err := w.writeTo(c, c.s.cfg.CloseTimeout, time.Now().Add(c.s.cfg.CloseTimeout)); err != nil {
			c.log().Debug("close frame not sent", "err", err)
		} else if msg != nil {
			c.s.metrics.messagesOut.Inc()
			c.s.metrics.bytesOut.Add(uint64(len(msg)))
		}
		if !cause.peerClosed && e.Code != protocol.CloseNormal && e.Code != protocol.CloseGoingAway && e.Code != protocol.CloseTryAgainLater {
			c.s.warns.warn(nil, "connection refused", "doc", c.docID, "conn", c.id, "client", c.clientID, "code", int(e.Code), "reason", e.Message)
		}
	}
	if !cause.broken && readerDone != nil {
		t := time.NewTimer(closeGrace)
		select {
		case <-readerDone:
		case <-t.C:
		}
		t.Stop()
	}
	_ = c.nc.Close()
}

// peerCloseDrain bounds how long a connection reads what its peer sends after the peer's close
// frame.
const peerCloseDrain = 100 * time.Millisecond

// drainRaw reads and discards what the peer still sends for at most d, or until it closes. After
// the frame layer has given up on a connection (a protocol error) the stream can no longer be
// parsed; draining keeps the peer's unread bytes from turning our close into a TCP reset that
// could destroy the close frame before the peer reads it.
func (c *conn) drainRaw(d time.Duration) {
	c.fr.Reset(nil, nil) // gives its buffers back
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	var buf [512]byte
	for {
		if _, err := c.nc.Read(buf[:]); err != nil {
			return
		}
	}
}

// readOne reads one frame or message and acts on it: a message is decoded, validated and
// forwarded to the actor (or discarded once the connection is closing), a ping answered, a close
// answered. It reports whether the reader goes on: false once the peer's close frame has come,
// the stream is broken, or the socket has failed.
func (c *conn) readOne() bool {
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
		c.send(outFrame{data: f.Payload, op: wsframe.OpPong})
		return true
	case wsframe.OpPong:
		return true
	case wsframe.OpClose:
		code, _, _ := wsframe.ParseClose(f.Payload) // checked by Next
		if c.setClose(&closeCause{err: &protocol.Error{Code: protocol.CloseCode(code)}, quiet: true, peerClosed: true}) {
			// Drain briefly what the peer may still (wrongly) send, so that dropping the socket
			// does not reset the connection under our close frame.
			c.drainRaw(peerCloseDrain)
		}
		// When we started the close, the handshake is complete: the writer drops the socket.
		return false
	}
	if c.closing() {
		return true // discarded: the connection waits for the peer's close frame
	}
	data := f.Payload
	// security: rate limits (limits.go). Over its rate, the connection is not read until it is
	// back within it; past the grace period it is closed with 4429.
	if len(data) > 0 {
		if err := c.rateWait(c.ctx(), protocol.Type(data[0])); err != nil {
			if !c.closing() {
				c.closeWith(err)
			}
			return true
		}
	}
	c.s.metrics.messagesIn.Inc()
	c.s.metrics.bytesIn.Add(uint64(len(data)))
	if f.Op != wsframe.OpBinary { // the frame reader refuses text at its first frame already
		c.s.refuse(reasonTextFrame)
		c.closeWith(errTextFrame)
		return true
	}
	if err := c.handle(data, &c.joined); err != nil {
		c.s.refuseErr(err)
		c.closeWith(err)
	}
	return true
}

// readFailed acts on an error of the frame reader and reports whether the reader goes on.
func (c *conn) readFailed(err error) bool {
	max := c.s.cfg.MaxMessageBytes
	var fe *wsframe.Error
	switch {
	case errors.Is(err, wsframe.ErrInflatedTooBig):
		// The message was read to its end: the stream goes on, and the peer hears why.
		c.s.refuse(reasonTooBig)
		c.closeWith(protocol.Errorf(protocol.CloseMessageTooBig, "message exceeds %d bytes", max))
		return true
	case errors.As(err, &fe):
		// The stream cannot be parsed further: the close frame, then drain. A violation of RFC
		// 6455 gets the close frame only, as the RFC fails a connection; a refusal of the server's
		// own (text, a bound) is also said in an error message first.
		cause := &closeCause{err: &protocol.Error{Code: protocol.CloseCode(fe.Code), Message: fe.Reason}}
		switch fe.Code {
		case wsframe.CloseMessageTooBig:
			c.s.refuse(reasonTooBig)
			cause.quiet = true
		case wsframe.CloseUnsupportedData:
			c.s.refuse(reasonTextFrame)
			cause.err = errTextFrame
		case wsframe.CloseTryAgainLater:
			c.s.refuse(reasonPartialBudget)
			c.s.warns.warn(nil, "partial message budget exhausted: closing", "doc", c.docID, "conn", c.id, "budget_bytes", c.s.partial.Limit())
		case wsframe.ClosePolicyViolation:
			c.s.refuse(reasonFrameStalled)
		default:
			c.s.refuse(reasonBadMessage)
			cause.quiet = true
		}
		c.log().Debug("frame refused", "err", err)
		if c.setClose(cause) {
			c.drainRaw(closeGrace)
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
func (c *conn) readerIdle() {
	c.fr.Release()
	c.mu.Lock()
	if c.closeErr == nil {
		c.done = nil
	}
	c.mu.Unlock()
}

// endRead ends the reader: the connection leaves its document, and the writer, which may be
// waiting for the peer's close frame, learns that no more will be read.
func (c *conn) endRead() {
	c.fr.Reset(nil, nil)
	if c.joined != nil {
		c.joined.leave(c)
	}
	c.mu.Lock()
	c.readerEnded = true
	readerDone := c.readerDone
	c.mu.Unlock()
	if readerDone != nil {
		close(readerDone)
	}
}

// readerConfig returns the frame reader's configuration for a connection that negotiated
// permessage-deflate or not: one of the server's two, which every reader shares.
func (s *Server) readerConfig(deflate bool) *wsframe.Config {
	if deflate {
		return &s.readerCfgs[1]
	}
	return &s.readerCfgs[0]
}

// newReaderConfigs returns the frame readers' configurations of a server: without and with
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

// handshakeReadBufferBytes is the read buffer of gorilla's connection, which the server drops
// right after the handshake: the least gorilla accepts.
const handshakeReadBufferBytes = 128

// newUpgrader returns the WebSocket upgrader for cfg (after withDefaults): origins checked against
// cfg.AllowedOrigins, compression negotiated only if configured. The connection it returns is
// used for the handshake only (see handleWS), so its buffers are the smallest it takes: a tiny
// read buffer and a write buffer pool it never draws from.
func newUpgrader(cfg Config) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   handshakeReadBufferBytes,
		WriteBufferSize:  256,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			return origin == "" || originAllowed(cfg.AllowedOrigins, origin, r.Host)
		},
		Error:             upgradeError,
		EnableCompression: cfg.EnableCompression, // security: off unless configured
	}
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
type connLog struct{ c *conn }

// log returns the connection's logger.
func (c *conn) log() connLog { return connLog{c} }

// Debug logs at Debug level.
func (l connLog) Debug(msg string, args ...any) {
	log := l.c.s.log
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.Debug(msg, append([]any{"doc", l.c.docID, "conn", l.c.id}, args...)...)
}
