// Package wstest is a small tandem protocol client for the server's tests: it dials
// /v1/docs/{id}/ws, sends and reads frames, and keeps a CRDT replica in step with the server
// (Editor). It reports every failure as an error so that tests decide what is fatal.
//
// A Client is used by one goroutine at a time (the test's). It reads only when asked: a helper
// goroutine performs at most one socket read at a time, started by Read, so that a read that times
// out stays pending (gorilla's connection does not survive a read deadline) and a client that stops
// calling Read stops reading the socket (which is how the tests make a slow consumer).
package wstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// DefaultTimeout bounds each read when the caller gives none.
const DefaultTimeout = 5 * time.Second

// Client is one WebSocket connection speaking the tandem protocol.
type Client struct {
	WS *websocket.Conn

	pending chan readResult // the read in flight, nil when none
}

type readResult struct {
	mt  int
	b   []byte
	err error
}

// next returns the next message's type and bytes, waiting at most timeout. A read that times out
// stays in flight and is the next call's.
func (c *Client) next(timeout time.Duration) (int, []byte, error) {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if c.pending == nil {
		ch := make(chan readResult, 1)
		c.pending = ch
		go func() {
			mt, b, err := c.WS.ReadMessage()
			ch <- readResult{mt, b, err}
		}()
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-c.pending:
		if r.err == nil {
			c.pending = nil
		} else {
			// The connection is finished: every later read gets the same error.
			c.pending = make(chan readResult, 1)
			c.pending <- r
		}
		return r.mt, r.b, r.err
	case <-t.C:
		return 0, nil, errTimeout
	}
}

// errTimeout is returned by reads that found no message in time.
var errTimeout = errors.New("wstest: read timed out")

// IsTimeout reports whether err is a read that timed out (the connection is still usable).
func IsTimeout(err error) bool { return errors.Is(err, errTimeout) }

// DialOptions tune Dial.
type DialOptions struct {
	// Header is sent with the upgrade request (Origin, Authorization).
	Header http.Header
	// ReadBufferBytes, if positive, sets the TCP receive buffer of the socket (SO_RCVBUF), so that
	// a client that stops reading fills up quickly.
	ReadBufferBytes int
}

// Dial connects to the WebSocket endpoint of document docID on the server at base
// ("http://127.0.0.1:port").
func Dial(ctx context.Context, base, docID string, opts DialOptions) (*Client, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/docs/" + docID + "/ws"
	d := websocket.Dialer{HandshakeTimeout: DefaultTimeout}
	if opts.ReadBufferBytes > 0 {
		nd := &net.Dialer{}
		d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(opts.ReadBufferBytes)
			}
			return c, nil
		}
	}
	ws, resp, err := d.DialContext(ctx, u, opts.Header)
	if err != nil {
		return nil, resp, fmt.Errorf("wstest: dial %s: %w", u, err)
	}
	return &Client{WS: ws}, resp, nil
}

// Send writes m as one binary frame on channel 0.
func (c *Client) Send(m protocol.Message) error {
	return c.SendRaw(websocket.BinaryMessage, protocol.EncodeFrame(0, m))
}

// SendRaw writes one message of the given WebSocket type with the bytes as they are.
func (c *Client) SendRaw(messageType int, b []byte) error {
	_ = c.WS.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	if err := c.WS.WriteMessage(messageType, b); err != nil {
		return fmt.Errorf("wstest: write: %w", err)
	}
	return nil
}

// Hello sends a hello with the client's ID, state vector (encoded, may be nil) and flags.
func (c *Client) Hello(clientID uint64, sv []byte, flags uint64) error {
	return c.Send(&protocol.Hello{Version: protocol.Version, ClientID: clientID, StateVector: sv, Flags: flags})
}

// Closed is the end of a connection as a client sees it: the error message that preceded the close
// frame (nil if none) and the close frame's code (1006 if the socket dropped without one).
type Closed struct {
	Code int
	Text string
	// Message is the error message received before the close frame, nil if none.
	Message *protocol.Error
}

func (c *Closed) Error() string {
	s := fmt.Sprintf("wstest: connection closed with %d %q", c.Code, c.Text)
	if c.Message != nil {
		s += fmt.Sprintf(" after error message %d %q", c.Message.Code, c.Message.Message)
	}
	return s
}

// Read returns the next message, decoded as sent by the server, waiting at most timeout (zero means
// DefaultTimeout). When the server closes, it returns a *Closed error; an error message is
// returned as a message (*protocol.Error), as the server sends it before the close.
func (c *Client) Read(timeout time.Duration) (protocol.Message, error) {
	mt, b, err := c.next(timeout)
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return nil, &Closed{Code: ce.Code, Text: ce.Text}
		}
		return nil, fmt.Errorf("wstest: read: %w", err)
	}
	if mt != websocket.BinaryMessage {
		return nil, fmt.Errorf("wstest: got a message of type %d, want binary", mt)
	}
	f, err := protocol.DecodeFrame(b, protocol.FromServer)
	if err != nil {
		return nil, fmt.Errorf("wstest: decode %x: %w", b, err)
	}
	if f.Channel != 0 {
		return nil, fmt.Errorf("wstest: frame on channel %d", f.Channel)
	}
	return f.Message, nil
}

// ReadRaw returns the next message's bytes without decoding them.
func (c *Client) ReadRaw(timeout time.Duration) ([]byte, error) {
	_, b, err := c.next(timeout)
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return nil, &Closed{Code: ce.Code, Text: ce.Text}
		}
		return nil, fmt.Errorf("wstest: read: %w", err)
	}
	return b, nil
}

// ExpectClose reads until the server closes, skipping other messages, and returns how it closed,
// with the error message that came before the close frame, if any.
func (c *Client) ExpectClose(timeout time.Duration) (*Closed, error) {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	var last *protocol.Error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("wstest: no close within %v", timeout)
		}
		m, err := c.Read(left)
		var cl *Closed
		if errors.As(err, &cl) {
			cl.Message = last
			return cl, nil
		}
		if err != nil {
			if last != nil || isDrop(err) {
				return &Closed{Code: websocket.CloseAbnormalClosure, Message: last}, nil
			}
			return nil, err
		}
		if e, ok := m.(*protocol.Error); ok {
			last = e
		}
	}
}

func isDrop(err error) bool {
	if IsTimeout(err) {
		return false
	}
	return strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "closed") || strings.Contains(err.Error(), "broken pipe")
}

// Close sends a normal close frame and closes the socket.
func (c *Client) Close() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = c.WS.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	return c.WS.Close()
}

// Editor is a client with a CRDT replica: it joins like a real editor (hello with its state
// vector, applies the sync, sends what the server lacks), edits locally, and applies what the
// server sends. It counts the updates it sent and the acks it got.
type Editor struct {
	*Client
	Doc      *crdt.Doc
	ClientID uint64
	Sent     uint64 // update messages sent since the hello
	Acked    uint64 // the last ack received
	// Awareness holds the latest awareness state received per client ID (removed on empty state).
	Awareness map[uint64][]byte
	// Broadcasts collects the broadcasts received.
	Broadcasts []protocol.PeerBroadcast
	// LastSync is the sync message of the last join.
	LastSync *protocol.Sync
}

// NewEditor returns an editor with an empty replica under clientID, not connected.
func NewEditor(clientID uint64) (*Editor, error) {
	doc, err := crdt.NewDoc(clientID, crdt.Config{})
	if err != nil {
		return nil, err
	}
	return &Editor{Doc: doc, ClientID: clientID, Awareness: map[uint64][]byte{}}, nil
}

// Join connects to document docID, sends hello with the replica's state vector, applies the sync
// answer and sends the update the server lacks (if any).
func (e *Editor) Join(ctx context.Context, base, docID string, opts DialOptions) error {
	c, _, err := Dial(ctx, base, docID, opts)
	if err != nil {
		return err
	}
	e.Client = c
	e.Sent, e.Acked = 0, 0
	var sv []byte
	if cur := e.Doc.StateVector(); len(cur) > 0 {
		sv = crdt.EncodeStateVector(cur)
	}
	if err := c.Hello(e.ClientID, sv, 0); err != nil {
		return err
	}
	m, err := c.Read(0)
	if err != nil {
		return fmt.Errorf("wstest: waiting for sync: %w", err)
	}
	s, ok := m.(*protocol.Sync)
	if !ok {
		return fmt.Errorf("wstest: got %T, want sync", m)
	}
	e.LastSync = s
	if len(s.Update) > 0 {
		if _, err := e.Doc.Apply(s.Update); err != nil {
			return fmt.Errorf("wstest: apply sync: %w", err)
		}
	}
	serverSV, err := crdt.DecodeStateVector(s.StateVector)
	if err != nil {
		return fmt.Errorf("wstest: sync state vector: %w", err)
	}
	// Anything local the server lacks (local edits made while disconnected) goes up now.
	_ = e.Doc.TakeUpdate()
	if lack := e.Doc.EncodeUpdate(serverSV); hasUnits(lack, serverSV) {
		if err := e.sendUpdate(lack); err != nil {
			return err
		}
	}
	return nil
}

// hasUnits reports whether update u holds units beyond sv (an update of deletions only is sent
// too, since the server may lack them; an empty update is not).
func hasUnits(u []byte, sv crdt.StateVector) bool {
	info, err := crdt.InspectUpdate(u)
	if err != nil {
		return true
	}
	return info.Units > 0 || info.DeleteRanges > 0
}

func (e *Editor) sendUpdate(u []byte) error {
	if err := e.Send(&protocol.Update{Data: u}); err != nil {
		return err
	}
	e.Sent++
	return nil
}

// Insert inserts s at pos in Text root and sends the update.
func (e *Editor) Insert(root string, pos int, s string) error {
	if err := e.Doc.Text(root).Insert(pos, s); err != nil {
		return err
	}
	return e.Flush()
}

// Delete deletes n code points at pos in Text root and sends the update.
func (e *Editor) Delete(root string, pos, n int) error {
	if err := e.Doc.Text(root).Delete(pos, n); err != nil {
		return err
	}
	return e.Flush()
}

// Flush sends the local changes not sent yet, if any.
func (e *Editor) Flush() error {
	u := e.Doc.TakeUpdate()
	if u == nil {
		return nil
	}
	return e.sendUpdate(u)
}

// Text returns the replica's text of root.
func (e *Editor) Text(root string) string { return e.Doc.Text(root).String() }

// Handle applies one message from the server to the editor's state.
func (e *Editor) Handle(m protocol.Message) error {
	switch m := m.(type) {
	case *protocol.Update:
		if _, err := e.Doc.Apply(m.Data); err != nil {
			return fmt.Errorf("wstest: apply update: %w", err)
		}
	case *protocol.Ack:
		if m.Seq < e.Acked || m.Seq > e.Sent {
			return fmt.Errorf("wstest: ack %d after ack %d with %d sent", m.Seq, e.Acked, e.Sent)
		}
		e.Acked = m.Seq
	case *protocol.PeerAwareness:
		for _, en := range m.Entries {
			if len(en.State) == 0 {
				delete(e.Awareness, en.ClientID)
			} else {
				e.Awareness[en.ClientID] = en.State
			}
		}
	case *protocol.PeerBroadcast:
		e.Broadcasts = append(e.Broadcasts, *m)
	case *protocol.Error:
		return fmt.Errorf("wstest: error message %d %q", m.Code, m.Message)
	case *protocol.Sync:
		return fmt.Errorf("wstest: unexpected sync")
	}
	return nil
}

// Pump reads and handles messages until cond returns true, or the timeout (zero means
// DefaultTimeout) passes.
func (e *Editor) Pump(timeout time.Duration, cond func() bool) error {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("wstest: condition not met within %v", timeout)
		}
		m, err := e.Read(left)
		if IsTimeout(err) {
			return fmt.Errorf("wstest: condition not met within %v", timeout)
		}
		if err != nil {
			return err
		}
		if err := e.Handle(m); err != nil {
			return err
		}
	}
	return nil
}

// WaitAcked pumps until every update sent is acknowledged.
func (e *Editor) WaitAcked(timeout time.Duration) error {
	return e.Pump(timeout, func() bool { return e.Acked == e.Sent })
}
