package client

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// Options configures a Conn. The zero value connects once, applies every remote update, and does
// not reconnect.
type Options struct {
	// ClientID is the replica's CRDT client ID, in [1, 2^53). Zero draws a random one, which is
	// what almost every program wants. Two replicas must never share an ID, and since every Dial
	// makes a new replica, a non-zero ID must be one that no replica has written under in the
	// document: Dial fails with ErrClientIDUsed if the server holds units under it (an ID must
	// never outlive its clocks, docs/crdt.md section 1.1).
	ClientID uint64
	// Token is sent as the ?token= query parameter of the upgrade; empty sends none.
	Token string
	// Header holds extra request headers for the upgrade (Authorization, Origin).
	Header http.Header
	// ReadOnly sets the read-only intent flag of hello: the server refuses updates, and Edit
	// returns ErrReadOnly without running its function.
	ReadOnly bool
	// CRDT configures the replica.
	CRDT crdt.Config

	// Reconnect reopens a lost connection (except after a terminal close code) with full-jitter
	// exponential backoff between MinBackoff (zero means 500 ms) and MaxBackoff (zero means 20 s).
	Reconnect  bool
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// HandshakeTimeout bounds one connection attempt: dial, upgrade, hello and the sync answer.
	// Zero means 10 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to the socket. Zero means 10 s.
	WriteTimeout time.Duration
	// MaxMessageBytes is the largest message accepted from the server (a sync can be large). Zero
	// means 256 MiB.
	MaxMessageBytes int64
	// MaxSendBytes is the server's limit on one message from a client, in bytes
	// (server.Config.MaxMessageBytes): an update whose message would be larger is sent as
	// several update messages (crdt.SplitUpdate), each acknowledged on its own, and the change
	// counts as saved once the last one is. Zero means 1 MiB, the server's default; a negative
	// value sends every update in one message, whatever its size.
	MaxSendBytes int

	// Observe makes the Conn a cheap observer for load generators: remote updates after the
	// initial sync are handed to OnUpdate but not applied to the replica, which then holds the
	// sync and this client's own edits only. Edits still work (their origins are this client's
	// own characters). Leave it false for a real editor.
	Observe bool

	// OnUpdate is called with each remote update as it arrives (after it is applied, unless
	// Observe is set). The slice is only valid during the call.
	OnUpdate func(update []byte)
	// OnAwareness is called with each awareness message from the server: other clients' states,
	// an empty State meaning that client left. The entries are only valid during the call.
	OnAwareness func(entries []protocol.AwarenessEntry)
	// OnBroadcast is called with each application message relayed from another editor. The
	// payload is only valid during the call.
	OnBroadcast func(from uint64, payload []byte)
	// OnStatus is called when the connection is lost (StatusDisconnected, with the reason) and
	// when a reconnect succeeds (StatusConnected, nil), on the reader goroutine.
	OnStatus func(s Status, err error)

	// Logger receives lifecycle events at Info and Debug. Nil discards them.
	Logger *slog.Logger
	// Dialer dials the WebSocket. Nil uses a dialer with small buffers and no compression.
	Dialer *websocket.Dialer
}

// Status is a change in a Conn's connection, reported to Options.OnStatus.
type Status int

// Statuses.
const (
	StatusConnected    Status = 1
	StatusDisconnected Status = 2
)

// String returns "connected" or "disconnected".
func (s Status) String() string {
	switch s {
	case StatusConnected:
		return "connected"
	case StatusDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// SyncInfo describes the last sync answer the Conn received.
type SyncInfo struct {
	// Bytes is the length of the update the sync carried.
	Bytes int
	// Sent is when hello was written; Received when the sync frame arrived; Applied when the
	// replica had applied it.
	Sent, Received, Applied time.Time
}

// HandshakeError is an upgrade that the server refused with an HTTP status.
type HandshakeError struct {
	Status int
	Body   string
}

// Error returns the status and the server's explanation.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("client: upgrade refused: %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
}

// Terminal reports whether retrying cannot help: any 4xx status except 408 and 429.
func (e *HandshakeError) Terminal() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

const (
	defaultHandshakeTimeout = 10 * time.Second
	defaultWriteTimeout     = 10 * time.Second
	defaultMaxMessageBytes  = 256 << 20
	defaultMaxSendBytes     = 1 << 20
)

// sentUpdate ties an update sent on the current socket to the local state it covered, so that
// an ack (a count of updates) becomes a saved position.
type sentUpdate struct {
	seq   uint64 // 1-based number of the update on its socket
	gen   uint64 // local change counter after the edit
	clock uint64 // own next clock after the edit
}

// Conn is an open document: a CRDT replica kept in sync with the server over one WebSocket (or a
// succession of them, with Options.Reconnect).
type Conn struct {
	url  string
	opts Options
	log  *slog.Logger
	id   uint64

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the Conn has ended for good
	once   sync.Once

	// sendMu orders outgoing updates: an edit is taken from the replica and written under it,
	// so updates reach the server in the order they were made. It also guards ws and seq.
	sendMu sync.Mutex
	ws     *websocket.Conn // the current socket; nil between connections
	seq    uint64          // updates written on ws

	// writeMu serialises writes to the socket (gorilla allows one writer at a time).
	writeMu sync.Mutex

	// mu guards everything below.
	mu         sync.Mutex
	doc        *crdt.Doc
	gen        uint64 // local changes made (one per Edit that changed something)
	clock      uint64 // own next clock
	pending    []sentUpdate
	savedGen   uint64
	savedClock uint64
	savedCh    chan struct{} // closed and replaced when savedGen advances or the Conn ends
	peers      map[uint64]Peer
	awClock    uint64
	awState    []byte // nil: no presence announced
	lastSync   SyncInfo
	lastError  *protocol.Error // the server's error message on the current socket
	err        error           // why the Conn ended; set once, before done is closed
}

// Peer is another client's awareness state, as the server last relayed it.
type Peer struct {
	Clock uint64
	State []byte
}

// Dial opens document docID on the server at serverURL (ws://host:port, wss://, or http(s)://,
// which is mapped to ws(s)://) and returns once the replica holds the server's state. It fails if
// the first connection fails, whatever Options.Reconnect says.
func Dial(ctx context.Context, serverURL, docID string, opts Options) (*Conn, error) {
	u, err := docURL(serverURL, docID, opts.Token)
	if err != nil {
		return nil, err
	}
	id := opts.ClientID
	if id == 0 {
		id = randomClientID()
	}
	doc, err := crdt.NewDoc(id, opts.CRDT)
	if err != nil {
		return nil, fmt.Errorf("client: new replica: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{
		url:     u,
		opts:    opts,
		log:     log.With("doc", docID, "client", id),
		id:      id,
		done:    make(chan struct{}),
		doc:     doc,
		savedCh: make(chan struct{}),
		peers:   map[uint64]Peer{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	ws, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	go c.run(ws)
	return c, nil
}

// docURL builds the WebSocket URL of a document.
func docURL(serverURL, docID, token string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidURL, serverURL, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("%w: %q: scheme must be ws, wss, http or https", ErrInvalidURL, serverURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%w: %q: no host", ErrInvalidURL, serverURL)
	}
	if docID == "" {
		return "", fmt.Errorf("%w: empty document id", ErrInvalidURL)
	}
	raw := strings.TrimSuffix(u.EscapedPath(), "/") + "/v1/docs/" + url.PathEscape(docID) + "/ws"
	path, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidURL, serverURL, err)
	}
	u.Path, u.RawPath = path, raw
	if token != "" {
		q := u.Query()
		q.Set("token", token)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// randomClientID draws a client ID uniformly from [1, 2^53).
func randomClientID() uint64 {
	var b [8]byte
	for {
		_, _ = crand.Read(b[:])
		if id := binary.LittleEndian.Uint64(b[:]) & crdt.MaxClientID; id != 0 {
			return id
		}
	}
}

var defaultDialer = &websocket.Dialer{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	WriteBufferPool: &sync.Pool{},
}

// connect opens one socket: upgrade, hello, the sync answer applied, then the update the server
// lacks. On success the socket is installed as c.ws.
func (c *Conn) connect(ctx context.Context) (*websocket.Conn, error) {
	timeout := c.opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel) // Close interrupts a connection attempt
	defer stop()

	d := c.opts.Dialer
	if d == nil {
		d = defaultDialer
	}
	ws, resp, err := d.DialContext(ctx, c.url, c.opts.Header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			return nil, &HandshakeError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
		}
		return nil, fmt.Errorf("client: dial %s: %w", c.url, err)
	}
	maxBytes := c.opts.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = defaultMaxMessageBytes
	}
	ws.SetReadLimit(maxBytes)
	deadline, _ := ctx.Deadline()
	_ = ws.SetReadDeadline(deadline)
	abort := context.AfterFunc(ctx, func() { ws.Close() })
	defer abort()

	c.mu.Lock()
	c.lastError = nil
	hello := &protocol.Hello{
		Version:     protocol.Version,
		ClientID:    c.id,
		StateVector: crdt.EncodeStateVector(c.doc.StateVector()),
	}
	if c.opts.ReadOnly {
		hello.Flags |= protocol.FlagReadOnly
	}
	c.mu.Unlock()
	sent := time.Now()
	if err := c.write(ws, protocol.EncodeFrame(0, hello)); err != nil {
		ws.Close()
		return nil, err
	}
	var sync *protocol.Sync
	for sync == nil {
		data, err := c.readMessage(ws, nil)
		if err != nil {
			ws.Close()
			if ctx.Err() != nil && c.ctx.Err() == nil {
				return nil, fmt.Errorf("client: handshake: %w", ctx.Err())
			}
			return nil, err
		}
		f, err := protocol.DecodeFrame(data, protocol.FromServer)
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
		}
		if s, ok := f.Message.(*protocol.Sync); ok {
			sync = s
			break
		}
		if err := c.handle(ws, f.Message, data); err != nil {
			ws.Close()
			return nil, err
		}
	}
	received := time.Now()
	serverSV, err := crdt.DecodeStateVector(sync.StateVector)
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("%w: sync state vector: %w", ErrBadFrame, err)
	}
	c.mu.Lock()
	if own := c.doc.StateVector()[c.id]; serverSV[c.id] > own {
		// The server holds units of this client ID that this replica never issued: the ID belongs
		// to an earlier replica (Options.ClientID reused), whose clocks this one cannot know.
		c.mu.Unlock()
		ws.Close()
		return nil, fmt.Errorf("%w: the server holds clocks up to %d of client id %d, this replica %d", ErrClientIDUsed, serverSV[c.id], c.id, own)
	}
	if len(sync.Update) > 0 {
		if _, err := c.doc.Apply(sync.Update); err != nil {
			c.mu.Unlock()
			ws.Close()
			return nil, fmt.Errorf("%w: sync update: %w", ErrBadFrame, err)
		}
	}
	c.lastSync = SyncInfo{Bytes: len(sync.Update), Sent: sent, Received: received, Applied: time.Now()}
	c.mu.Unlock()
	_ = ws.SetReadDeadline(time.Time{})

	// Send what the server lacks of this client's own changes: its units from the last
	// acknowledged clock on (even those the server holds but has not confirmed as durable: a server
	// that crashed lost them; one that did not applies them again, idempotently), with the whole
	// delete set. Never other clients' units, even those the server lost in a crash after
	// broadcasting them: their authors re-send them when they reconnect, and a server that checks
	// authorship refuses one subject's units from another (docs/protocol.md).
	// sendMu is taken before the update is encoded, so that an edit made meanwhile is either in
	// this update or sent after it on the new socket.
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	since := c.doc.StateVector() // every other client: as much as this replica has, so none is sent
	own := min(serverSV[c.id], c.savedClock)
	if own < c.clock {
		since[c.id] = own
	}
	var upd []byte
	gen, clock := c.gen, c.clock
	if c.gen > c.savedGen || serverSV[c.id] < c.clock {
		upd = c.doc.EncodeUpdate(since)
	}
	c.doc.TakeUpdate() // everything local is in upd, or already on the server
	c.pending = c.pending[:0]
	c.mu.Unlock()
	c.seq = 0
	if upd != nil {
		if err := c.sendUpdate(ws, upd, gen, clock); err != nil {
			ws.Close()
			return nil, err
		}
	}
	c.mu.Lock()
	aw := c.awState
	if aw != nil {
		// The server removed the state when the last connection left, at the clock after it;
		// the announcement on this one takes a new clock, so that receivers take it over the
		// removal (as client-js does).
		c.awClock++
	}
	awClock := c.awClock
	c.mu.Unlock()
	if aw != nil {
		if err := c.write(ws, protocol.EncodeFrame(0, &protocol.Awareness{Clock: awClock, State: aw})); err != nil {
			ws.Close()
			return nil, err
		}
	}
	c.ws = ws
	c.log.Debug("connected", "sync_bytes", len(sync.Update), "resent_bytes", len(upd))
	return ws, nil
}

// readMessage reads one binary message. buf, if not nil, is reused to hold it.
func (c *Conn) readMessage(ws *websocket.Conn, buf *[]byte) ([]byte, error) {
	for {
		mt, r, err := ws.NextReader()
		if err != nil {
			return nil, c.closeError(err)
		}
		if mt != websocket.BinaryMessage {
			continue
		}
		if buf == nil {
			return io.ReadAll(r)
		}
		b := (*buf)[:0]
		for {
			if len(b) == cap(b) {
				b = append(b, 0)[:len(b)]
			}
			n, err := r.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, c.closeError(err)
			}
		}
		*buf = b
		return b, nil
	}
}

// closeError turns a read error into a *CloseError when the server closed the connection, with
// the message of its error frame when one came first.
func (c *Conn) closeError(err error) error {
	c.mu.Lock()
	last := c.lastError
	c.mu.Unlock()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		e := &CloseError{Code: protocol.CloseCode(ce.Code), Message: ce.Text}
		if last != nil {
			e.Message = last.Message
			if ce.Code == websocket.CloseNoStatusReceived {
				e.Code = last.Code
			}
		}
		return e
	}
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	if last != nil {
		return &CloseError{Code: last.Code, Message: last.Message}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &CloseError{Code: CloseAbnormal, Message: err.Error()}
	}
	return fmt.Errorf("client: read: %w", err)
}

// write writes one binary message under writeMu with the write deadline.
func (c *Conn) write(ws *websocket.Conn, b []byte) error {
	timeout := c.opts.WriteTimeout
	if timeout <= 0 {
		timeout = defaultWriteTimeout
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(timeout))
	if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

// run owns the reader side: it reads the current socket until it fails, then reconnects or ends
// the Conn.
func (c *Conn) run(ws *websocket.Conn) {
	defer close(c.done)
	for {
		err := c.readLoop(ws)
		c.sendMu.Lock()
		c.ws = nil
		c.sendMu.Unlock()
		ws.Close()
		if c.ctx.Err() != nil {
			c.finish(ErrClosed)
			return
		}
		c.log.Info("disconnected", "err", err)
		if c.opts.OnStatus != nil {
			c.opts.OnStatus(StatusDisconnected, err)
		}
		if !c.opts.Reconnect || isTerminal(err) {
			c.finish(err)
			return
		}
		ws = c.reconnect()
		if ws == nil {
			return
		}
		if c.opts.OnStatus != nil {
			c.opts.OnStatus(StatusConnected, nil)
		}
	}
}

// reconnect retries with backoff until a connection succeeds (returning it), the Conn is closed,
// or a terminal refusal ends it (both return nil, after finish).
func (c *Conn) reconnect() *websocket.Conn {
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(backoff(attempt, c.opts.MinBackoff, c.opts.MaxBackoff, nil))
		select {
		case <-c.ctx.Done():
			t.Stop()
			c.finish(ErrClosed)
			return nil
		case <-t.C:
		}
		ws, err := c.connect(c.ctx)
		if err == nil {
			c.log.Info("reconnected", "attempt", attempt+1)
			return ws
		}
		if c.ctx.Err() != nil {
			c.finish(ErrClosed)
			return nil
		}
		c.log.Debug("reconnect failed", "attempt", attempt+1, "err", err)
		if isTerminal(err) {
			c.finish(err)
			return nil
		}
	}
}

// isTerminal reports whether err forbids reconnecting.
func isTerminal(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Terminal()
	}
	var he *HandshakeError
	if errors.As(err, &he) {
		return he.Terminal()
	}
	return errors.Is(err, ErrBadFrame)
}

// finish records why the Conn ended and wakes WaitSaved callers. done is closed by run.
func (c *Conn) finish(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	close(c.savedCh)
	c.savedCh = make(chan struct{})
	c.mu.Unlock()
}

// readLoop reads and handles frames until the socket fails.
func (c *Conn) readLoop(ws *websocket.Conn) error {
	var buf []byte
	var bufp *[]byte
	if c.opts.Observe {
		bufp = &buf // updates are not kept by the replica: reuse one buffer
	}
	for {
		data, err := c.readMessage(ws, bufp)
		if err != nil {
			return err
		}
		f, err := protocol.DecodeFrame(data, protocol.FromServer)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadFrame, err)
		}
		if err := c.handle(ws, f.Message, data); err != nil {
			return err
		}
	}
}

// handle acts on one frame from the server (sync excepted, which only connect expects).
func (c *Conn) handle(ws *websocket.Conn, m protocol.Message, raw []byte) error {
	switch m := m.(type) {
	case *protocol.Update:
		if !c.opts.Observe {
			c.mu.Lock()
			_, err := c.doc.Apply(m.Data)
			c.mu.Unlock()
			if err != nil {
				return fmt.Errorf("%w: update: %w", ErrBadFrame, err)
			}
		}
		if c.opts.OnUpdate != nil {
			c.opts.OnUpdate(m.Data)
		}
	case *protocol.Ack:
		c.ack(m.Seq)
	case *protocol.PeerAwareness:
		c.mu.Lock()
		for _, e := range m.Entries {
			if e.ClientID == c.id {
				continue
			}
			if len(e.State) == 0 {
				delete(c.peers, e.ClientID)
			} else {
				c.peers[e.ClientID] = Peer{Clock: e.Clock, State: append([]byte(nil), e.State...)}
			}
		}
		c.mu.Unlock()
		if c.opts.OnAwareness != nil {
			c.opts.OnAwareness(m.Entries)
		}
	case *protocol.PeerBroadcast:
		if c.opts.OnBroadcast != nil {
			c.opts.OnBroadcast(m.ClientID, m.Payload)
		}
	case *protocol.Ping:
		return c.write(ws, protocol.EncodeFrame(0, &protocol.Pong{Nonce: m.Nonce}))
	case *protocol.Pong:
	case *protocol.Error:
		c.mu.Lock()
		c.lastError = &protocol.Error{Code: m.Code, Message: m.Message}
		c.mu.Unlock()
	case *protocol.Sync:
		return fmt.Errorf("%w: sync after the session started", ErrBadFrame)
	default:
		return fmt.Errorf("%w: unexpected %s", ErrBadFrame, m.Type())
	}
	return nil
}

// ack records that the first seq updates sent on the current socket are durable.
func (c *Conn) ack(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	advanced := false
	for ; i < len(c.pending) && c.pending[i].seq <= seq; i++ {
		p := c.pending[i]
		if p.gen > c.savedGen {
			c.savedGen = p.gen
			advanced = true
		}
		if p.clock > c.savedClock {
			c.savedClock = p.clock
		}
	}
	c.pending = c.pending[:copy(c.pending, c.pending[i:])]
	if advanced {
		close(c.savedCh)
		c.savedCh = make(chan struct{})
	}
}

// Edit runs fn on the replica and sends the change it made to the server. fn must not keep d
// after it returns. If fn returns an error, whatever it changed is still sent (the CRDT has no
// rollback), and Edit returns the error. While a reconnecting Conn is between connections the
// change stays in the replica and is sent on reconnect; Edit returns nil.
func (c *Conn) Edit(fn func(d *crdt.Doc) error) error {
	if c.opts.ReadOnly {
		return ErrReadOnly
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	select {
	case <-c.done:
		return c.Err()
	default:
	}
	c.mu.Lock()
	fnErr := fn(c.doc)
	upd := c.doc.TakeUpdate()
	if len(upd) == 0 {
		c.mu.Unlock()
		return fnErr
	}
	c.gen++
	c.clock = c.doc.StateVector()[c.id]
	gen, clock := c.gen, c.clock
	c.mu.Unlock()
	if c.ws == nil {
		return fnErr
	}
	if err := c.sendUpdate(c.ws, upd, gen, clock); err != nil {
		c.ws.Close() // the reader notices and reconnects (or ends the Conn)
		if c.opts.Reconnect {
			return fnErr
		}
		return err
	}
	return fnErr
}

// sendUpdate writes upd, the local changes up to generation gen and own clock clock, on ws as one
// update message, or as several when one would exceed the server's message limit. Only the
// last message is tied to gen and clock, so the change counts as saved when the server has
// acknowledged every part. The caller holds sendMu.
func (c *Conn) sendUpdate(ws *websocket.Conn, upd []byte, gen, clock uint64) error {
	parts := [][]byte{upd}
	if limit := c.opts.MaxSendBytes; limit >= 0 {
		if limit == 0 {
			limit = defaultMaxSendBytes
		}
		// The frame adds a type byte, the channel (0: one byte) and the update's length.
		max := limit - 2 - uvarintLen(uint64(limit))
		if len(upd) > max {
			p, err := crdt.SplitUpdate(upd, max)
			if err != nil {
				// A unit larger than the limit on its own (a map value near 1 MiB): sent whole,
				// for a server whose limit is larger than this client was told.
				c.log.Warn("update not split", "bytes", len(upd), "max", max, "err", err)
			} else {
				parts = p
			}
		}
	}
	// Registered before the writes: the ack can arrive before Write returns.
	c.seq += uint64(len(parts))
	c.mu.Lock()
	c.pending = append(c.pending, sentUpdate{seq: c.seq, gen: gen, clock: clock})
	c.mu.Unlock()
	for _, p := range parts {
		if err := c.write(ws, protocol.EncodeFrame(0, &protocol.Update{Data: p})); err != nil {
			return err
		}
	}
	if len(parts) > 1 {
		c.log.Debug("update split", "bytes", len(upd), "parts", len(parts))
	}
	return nil
}

// uvarintLen returns the encoded length of v as an unsigned varint.
func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// Read runs fn on the replica with no edit allowed to interleave. fn must not modify d (a change
// made here would not be sent until the next Edit) and must not keep it after returning.
func (c *Conn) Read(fn func(d *crdt.Doc)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c.doc)
}

// Text returns the content of the Text root named root.
func (c *Conn) Text(root string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.doc.Text(root).String()
}

// WaitSaved waits until every change made by Edit before the call is durably stored by the
// server, ctx ends, or the Conn ends.
func (c *Conn) WaitSaved(ctx context.Context) error {
	c.mu.Lock()
	target := c.gen
	c.mu.Unlock()
	for {
		c.mu.Lock()
		if c.savedGen >= target {
			c.mu.Unlock()
			return nil
		}
		ch, err := c.savedCh, c.err
		c.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("client: wait saved: %w", ctx.Err())
		}
	}
}

// Saved returns this client's clock up to which the server has acknowledged its changes as
// durable: every unit of this client with a clock below it is stored.
func (c *Conn) Saved() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.savedClock
}

// Clock returns this client's next clock: the clocks of its units so far are below it.
func (c *Conn) Clock() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock
}

// Unsaved reports whether some local change is not yet acknowledged as durable.
func (c *Conn) Unsaved() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen > c.savedGen
}

// ClientID returns the replica's client ID.
func (c *Conn) ClientID() uint64 { return c.id }

// LastSync describes the sync answer of the latest connection.
func (c *Conn) LastSync() SyncInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSync
}

// SetAwareness announces this client's presence state (opaque to the server; by convention
// JSON), or clears it with nil. The state is announced again on every reconnect.
func (c *Conn) SetAwareness(state []byte) error {
	c.mu.Lock()
	c.awClock++
	clock := c.awClock
	if state == nil {
		c.awState = nil
	} else {
		c.awState = append([]byte(nil), state...)
	}
	c.mu.Unlock()
	return c.send(&protocol.Awareness{Clock: clock, State: state})
}

// Peers returns the other clients' current awareness states, by client ID.
func (c *Conn) Peers() map[uint64]Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uint64]Peer, len(c.peers))
	for id, p := range c.peers {
		out[id] = p
	}
	return out
}

// Broadcast relays payload to the document's other editors; the server never stores it.
func (c *Conn) Broadcast(payload []byte) error {
	return c.send(&protocol.Broadcast{Payload: payload})
}

// send writes a message that is not an update on the current socket.
func (c *Conn) send(m protocol.Message) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	select {
	case <-c.done:
		return c.Err()
	default:
	}
	if c.ws == nil {
		return ErrNotConnected
	}
	return c.write(c.ws, protocol.EncodeFrame(0, m))
}

// Done returns a channel that is closed when the Conn has ended: closed by Close, closed by the
// server without Options.Reconnect, or refused with a terminal code.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the Conn ended (ErrClosed after Close, a *CloseError for the server's close),
// or nil while it is running.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the Conn: it sends a close frame (1000), closes the socket and waits for the reader
// to stop. Unsaved changes are not waited for (call WaitSaved first). Close is idempotent and
// returns nil.
func (c *Conn) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.sendMu.Lock()
		ws := c.ws
		c.sendMu.Unlock()
		if ws != nil {
			c.writeMu.Lock()
			_ = ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.writeMu.Unlock()
			ws.Close()
		}
	})
	<-c.done
	return nil
}
