package transport

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// CloseGrace is how long a connection waits, after sending its close frame, for the peer's close
// frame before it drops the TCP connection. Reading until then (and discarding) also keeps unread
// bytes from turning the close into a TCP reset that would hide the close frame from the peer.
const CloseGrace = time.Second

// Conn is one WebSocket connection after its handshake. Its frames are read and written by the
// transport itself (wsframe): a reader that answers control frames and hands each message to the
// connection's Handler, and a writer goroutine (drain) that writes every frame, control frames
// included, and runs only while there is something to write. Where the platform allows
// (poll_linux.go), the reader too runs only while the socket has bytes for it: an idle connection
// holds no goroutine and no timer (the hub's keepalive scanner pings it and checks its silence,
// keepalive.go).
//
// The queue is bounded in messages and bytes. Send never blocks: when a frame would overflow the
// queue, the connection is a slow consumer and closes with 1013 (its client reconnects and resyncs
// by state vector, so nothing is lost).
//
// A Conn is a value inside the server's session (one allocation per connection), set up by
// Hub.Init; its fields are the transport's alone.
type Conn struct {
	hub *Hub
	nc  net.Conn // nil in the document side's tests, which read the queue instead (TakeQueued)
	id  uint64   // hub-wide connection number, for logs

	// The reader's state: one reader runs at a time (a goroutine of its own, or one the poller
	// starts per burst of bytes), and each hands over to the next through the poller's arming.
	fr wsframe.Reader
	// pollKey is the connection's key on the hub's poller (never 0, never reused; poll_linux.go).
	pollKey uint64

	// lastHeard is when the peer last sent a frame (Unix nanoseconds): the keepalive scanner
	// closes a connection silent for PongWait.
	lastHeard atomic.Int64
	// pingAt is when the next ping is due (Unix nanoseconds); only the keepalive scanner reads
	// and writes it after Init.
	pingAt int64
	// pollState is the reader's state on the poller: pollOff, pollIdle, pollReading or pollDone
	// (poll.go).
	pollState atomic.Int32
	// slot is the connection's index in Hub.conns, guarded by Hub.mu; -1 when not there.
	slot int32
	// presence: the peer's last awareness state was not empty, so the keepalive holds it to the
	// shorter presence wait (keepalive.go). Set by the handler (SetPresence), read by the scanner.
	presence atomic.Bool
	// direct: the socket is plain TCP where writeNow is available, so that frames can be written
	// with its descriptor (rawConn) on the sender's goroutine. Set by Init.
	direct bool

	// The fields below are guarded by mu. (The small ones sit together: every padding byte here
	// is paid by every connection, TestConnSize in the server.)
	writing     bool // a drain goroutine runs (or has run finish)
	readerEnded bool // the reader has ended (endRead)
	held        bool // the sender holds frames for this connection to flush (Hold)
	mu          sync.Mutex
	queue       []Frame
	queueBytes  int         // bytes queued or being written
	rest        *restWrite  // what a write on the sender's goroutine left to the writer; nil mostly
	closeErr    *closeCause // why the connection closes; nil while open
	// done is the context's Done channel (connCtx), made when first asked for and closed when
	// the connection starts closing.
	done chan struct{}
	// readerDone is made by finish when it waits for the reader, and closed by endRead.
	readerDone chan struct{}

	// wg counts drain goroutines; the last one drops the socket (finish).
	wg sync.WaitGroup
}

// Frame is one binary message to send, or, inside the transport, a ping or a pong (op). The
// bytes may be shared with other connections (an update is encoded once for all): nobody
// modifies them.
type Frame struct {
	Data []byte
	// Born is when the update the frame carries arrived, for the broadcast latency the
	// Observer is told of (Delivered); zero for other frames.
	Born time.Time
	op   wsframe.Opcode
}

// restWrite is the unwritten end of frames that the sender's goroutine began to write (writeInline,
// Flush) when the socket's buffer filled: the writer goroutine writes it before anything queued
// after it.
type restWrite struct {
	bufs   [][]byte
	queued int     // what it counts in queueBytes
	frames []Frame // the frames it ends, for the metrics
	off    int     // the bytes of those frames written before bufs
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

// Init sets up c, a connection's transport, on nc (nil: no socket; the frames sent stay queued
// for TakeQueued); deflate says whether the handshake negotiated permessage-deflate. A plain TCP
// socket becomes a bare descriptor (detachConn). c must be the zero Conn, inside the value the
// hub's Handler knows the connection by, and must not move afterwards.
func (h *Hub) Init(c *Conn, nc net.Conn, deflate bool) {
	if nc != nil {
		setSendBuffer(nc, h.cfg.SendBufferBytes)
		nc = detachConn(nc)
	}
	h.mu.Lock()
	h.count++
	c.id = h.count
	h.mu.Unlock()
	c.hub, c.nc = h, nc
	c.slot = -1
	c.direct = isDirect(nc)
	now := time.Now()
	c.heard(now)
	c.pingAt = now.Add(h.pingPeriod()).UnixNano()
	if nc != nil {
		c.fr.Reset(nc, h.readerConfig(deflate))
	}
}

// ID returns the connection's number, unique in its hub, for logs.
func (c *Conn) ID() uint64 { return c.id }

// Handler returns the hub's handler: the document side of the connection.
func (c *Conn) Handler() Handler { return c.hub.handler }

// SetPresence records whether the peer shows a presence to the others (its last awareness state
// was not empty): the keepalive then holds it to the presence wait (keepalive.go). Only the reader
// (the handler's Message) calls it.
func (c *Conn) SetPresence(on bool) {
	if c.presence.Load() != on {
		c.presence.Store(on)
	}
}

// doc returns the ID of the connection's document (the handler's Doc), for logs.
func (c *Conn) doc() string { return c.hub.handler.Doc(c) }

// hasPresence reports whether c's peer shows a presence to the others.
func (c *Conn) hasPresence() bool { return c.presence.Load() }

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

// Context returns the connection as a context, done once the connection starts closing: what the
// handler's calls to the actor and its rate-limit waits give up on. Only the reader (the
// handler's Message) may use it.
func (c *Conn) Context() context.Context { return (*connCtx)(c) }

// connCtx is a Conn seen as a context.Context, so that a connection needs no context of its own
// (a context.WithCancel costs a few hundred bytes per connection for its life). Its channel is
// made when asked for and dropped when the reader goes idle (readerIdle). Only the reader uses it,
// and nothing derives contexts from it.
type connCtx Conn

func (x *connCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done returns a channel closed once the connection starts closing.
func (x *connCtx) Done() <-chan struct{} {
	c := (*Conn)(x)
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
	if (*Conn)(x).Closing() {
		return context.Canceled
	}
	return nil
}

func (x *connCtx) Value(any) any { return nil }

// heard records that the peer sent something at now: it may stay silent for PongWait from then.
func (c *Conn) heard(now time.Time) { c.lastHeard.Store(now.UnixNano()) }

// kick starts a drain goroutine if there is work and none runs. c.mu must be held.
func (c *Conn) kick() {
	if c.writing || c.nc == nil || (len(c.queue) == 0 && c.closeErr == nil) {
		return
	}
	c.writing = true
	c.wg.Add(1)
	go c.drain()
}

// Send queues a frame for the writer and reports whether it was queued. It never blocks. A frame
// that overflows the queue closes the connection with 1013 instead.
func (c *Conn) Send(f Frame) bool {
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
	c.queueBytes += len(f.Data)
	c.kick()
	c.mu.Unlock()
	return true
}

// Hold queues a frame without writing it: the document's actor holds what it sends while it
// handles a batch of messages, then writes each connection's frames with one system call (Flush).
// It reports whether the caller must flush c: true for the first frame held since the last
// flush, while no writer goroutine runs (one that runs takes the frame itself).
func (c *Conn) Hold(f Frame) bool {
	c.mu.Lock()
	if !c.admitLocked(f) {
		return false
	}
	c.queue = append(c.queue, f)
	c.queueBytes += len(f.Data)
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
func (c *Conn) admitLocked(f Frame) bool {
	if c.closeErr != nil {
		c.mu.Unlock()
		return false
	}
	cfg := &c.hub.cfg
	if len(c.queue) >= cfg.SendQueueMessages || (c.queueBytes > 0 && c.queueBytes+len(f.Data) > cfg.SendQueueBytes) {
		n, b := len(c.queue), c.queueBytes
		c.closeErr = &closeCause{err: ErrSlowConsumer, slow: true}
		c.closed()
		c.mu.Unlock()
		c.hub.obs.SlowConsumer(SlowQueueFull)
		c.hub.obs.Warn("slow consumer: closing", "doc", c.doc(), "conn", c.id, "queued_messages", n, "queued_bytes", b)
		return false
	}
	return true
}

// Flush writes the frames held for c (Hold) with one writev that does not wait; a writer goroutine
// takes over what the socket's buffer does not take.
func (c *Conn) Flush() {
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
	n, err := c.hub.poll.writeNow(c.nc, bufs)
	c.handOver(bufs, n, total, err, batch, payloadBytes(batch))
}

// writeInline writes f on the caller's goroutine, as far as the socket's buffer takes it at once;
// the writer goroutine (drain) takes over what is left, and whatever was queued meanwhile. The
// caller has set c.writing, so no other write runs.
func (c *Conn) writeInline(f Frame) {
	op := f.op
	if op == 0 {
		op = wsframe.OpBinary
	}
	n, hdrLen, err := c.hub.poll.writeFrameNow(c.nc, op, f.Data)
	total := hdrLen + len(f.Data)
	if err == nil && n == total { // the usual case, without handOver's allocations
		c.written([]Frame{f}, 0)
		c.mu.Lock()
		c.writing = false
		c.kick() // frames queued while this one was written, or a close
		c.mu.Unlock()
		return
	}
	var bufs [][]byte
	if err == nil {
		// The header was on writeFrameNow's buffer: what is left of it is made again.
		bufs = [][]byte{wsframe.AppendHeader(make([]byte, 0, hdrLen), op, len(f.Data)), f.Data}
	}
	c.handOver(bufs, n, total, err, []Frame{f}, 0)
}

// handOver ends a write begun on the sender's goroutine (writeInline, flush): n of total bytes of
// bufs, which carry frames, were written. What is left goes to a writer goroutine, with queued,
// the bytes of the frames counted in queueBytes. The writer goroutine also starts if frames were
// queued meanwhile.
func (c *Conn) handOver(bufs [][]byte, n, total int, err error, frames []Frame, queued int) {
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
func payloadBytes(frames []Frame) int {
	n := 0
	for _, f := range frames {
		n += len(f.Data)
	}
	return n
}

// consumeBufs drops the first n bytes of bufs and returns what is left. It never changes bufs:
// a buffer cut in the middle is cut in a new array, so that the caller's view of what it wrote
// stays whole (the writer works out the end of a frame begun from it, writeFailed).
func consumeBufs(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		cut := make([][]byte, len(bufs))
		copy(cut, bufs)
		cut[0] = cut[0][n:]
		return cut
	}
	return bufs
}

// written accounts for frames written to the socket: messages and bytes out, the broadcast latency
// of updates, and queued bytes of them leave queueBytes.
func (c *Conn) written(frames []Frame, queued int) {
	var bytes, msgs uint64
	now := time.Now()
	for _, f := range frames {
		if f.op != 0 {
			continue
		}
		bytes += uint64(len(f.Data))
		msgs++
		if !f.Born.IsZero() {
			c.hub.obs.Delivered(now.Sub(f.Born))
		}
	}
	c.hub.obs.Sent(msgs, bytes)
	if queued != 0 {
		c.mu.Lock()
		c.queueBytes -= queued
		c.mu.Unlock()
	}
}

// Close starts closing the connection for e: the writer flushes what is queued (unless the
// cause is a slow consumer or a broken socket), sends an error message and a close frame with the
// error's code, and drops the socket once the peer answers or CloseGrace passes. Only the first
// cause counts; later calls do nothing.
func (c *Conn) Close(e *protocol.Error) {
	c.setClose(&closeCause{err: e})
}

// setClose records why the connection closes and reports whether it did: only the first cause
// counts. A broken socket is closed at once, so that a write or read blocked on it returns.
func (c *Conn) setClose(cause *closeCause) bool {
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
func (c *Conn) closed() {
	c.kick()
	if c.done != nil {
		close(c.done)
	}
}

// closeSilent closes a connection whose peer has been silent (no frame, not even a pong) for
// PongWait. Either it is gone, or it does not read (its pings wait unread): a slow consumer, closed
// with 1013 like one, so that a client that reads again within CloseTimeout gets the close code
// rather than a stream cut short. A peer that is gone costs at most CloseTimeout more.
func (c *Conn) closeSilent() {
	if c.setClose(&closeCause{err: ErrNoPong, slow: true}) {
		c.hub.obs.SlowConsumer(SlowNoPong)
		c.log().Debug("peer silent past the pong wait")
	}
}

// Closing reports whether the connection has started closing.
func (c *Conn) Closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr != nil
}

// TakeQueued returns the frames queued for a connection without a socket (Init with a nil
// net.Conn), and empties its queue: how the document side's tests read what it was sent.
func (c *Conn) TakeQueued() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue, c.queueBytes = nil, 0
	return q
}
