package client

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// fakeServer is a one-document tandem server small enough to steer from a test: it can hold acks
// back, forget what it never acknowledged (a crash), drop every socket, or close them with a code.
// It speaks the protocol faithfully otherwise: sync by state vector, broadcast to the others, acks
// counted per socket, awareness stamped with the sender's client ID.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	up  websocket.Upgrader

	mu      sync.Mutex
	doc     *crdt.Doc
	durable [][]byte // updates acknowledged (what survives a crash)
	conns   map[*fakeConn]bool
	holdAck bool
	updates int                       // updates received, all sockets
	sizes   []int                     // the message size of each update received, all sockets
	aware   []protocol.AwarenessEntry // awareness messages received, all sockets, in order
}

type fakeConn struct {
	ws       *websocket.Conn
	clientID uint64
	received uint64   // updates received on this socket
	held     [][]byte // updates not yet acknowledged while holdAck is set
	writeMu  sync.Mutex
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	doc, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{t: t, doc: doc, conns: map[*fakeConn]bool{}}
	fs.srv = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.srv.Close)
	t.Cleanup(func() { fs.dropAll() })
	return fs
}

func (fs *fakeServer) URL() string { return fs.srv.URL }

func (c *fakeConn) send(m protocol.Message) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.WriteMessage(websocket.BinaryMessage, protocol.EncodeFrame(0, m))
}

func (fs *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := fs.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws}
	defer func() {
		fs.mu.Lock()
		delete(fs.conns, c)
		fs.mu.Unlock()
		ws.Close()
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		f, err := protocol.DecodeFrame(data, protocol.FromClient)
		if err != nil {
			fs.t.Errorf("fake server: decode: %v", err)
			return
		}
		switch m := f.Message.(type) {
		case *protocol.Hello:
			sv, err := crdt.DecodeStateVector(m.StateVector)
			if err != nil {
				fs.t.Errorf("fake server: hello state vector: %v", err)
				return
			}
			fs.mu.Lock()
			c.clientID = m.ClientID
			fs.conns[c] = true
			sync := &protocol.Sync{Update: fs.doc.EncodeUpdate(sv), StateVector: crdt.EncodeStateVector(fs.doc.StateVector())}
			fs.mu.Unlock()
			c.send(sync)
		case *protocol.Update:
			fs.mu.Lock()
			fs.updates++
			fs.sizes = append(fs.sizes, len(data))
			if _, err := fs.doc.Apply(m.Data); err != nil {
				fs.mu.Unlock()
				fs.t.Errorf("fake server: apply: %v", err)
				return
			}
			c.received++
			upd := append([]byte(nil), m.Data...)
			var others []*fakeConn
			for o := range fs.conns {
				if o != c {
					others = append(others, o)
				}
			}
			hold := fs.holdAck
			if hold {
				c.held = append(c.held, upd)
			} else {
				fs.durable = append(fs.durable, upd)
			}
			seq := c.received
			fs.mu.Unlock()
			for _, o := range others {
				o.send(&protocol.Update{Data: upd})
			}
			if !hold {
				c.send(&protocol.Ack{Seq: seq})
			}
		case *protocol.Awareness:
			fs.mu.Lock()
			fs.aware = append(fs.aware, protocol.AwarenessEntry{ClientID: c.clientID, Clock: m.Clock, State: append([]byte(nil), m.State...)})
			fs.mu.Unlock()
			fs.broadcast(c, &protocol.PeerAwareness{Entries: []protocol.AwarenessEntry{{ClientID: c.clientID, Clock: m.Clock, State: m.State}}})
		case *protocol.Broadcast:
			fs.broadcast(c, &protocol.PeerBroadcast{ClientID: c.clientID, Payload: m.Payload})
		case *protocol.Ping:
			c.send(&protocol.Pong{Nonce: m.Nonce})
		}
	}
}

func (fs *fakeServer) broadcast(from *fakeConn, m protocol.Message) {
	fs.mu.Lock()
	var others []*fakeConn
	for o := range fs.conns {
		if o != from {
			others = append(others, o)
		}
	}
	fs.mu.Unlock()
	for _, o := range others {
		o.send(m)
	}
}

// setHoldAck stops (true) or resumes (false) acknowledging; resuming acknowledges what was held.
func (fs *fakeServer) setHoldAck(hold bool) {
	fs.mu.Lock()
	fs.holdAck = hold
	type ack struct {
		c   *fakeConn
		seq uint64
	}
	var acks []ack
	if !hold {
		for c := range fs.conns {
			if len(c.held) > 0 {
				fs.durable = append(fs.durable, c.held...)
				c.held = nil
				acks = append(acks, ack{c, c.received})
			}
		}
	}
	fs.mu.Unlock()
	for _, a := range acks {
		a.c.send(&protocol.Ack{Seq: a.seq})
	}
}

// ackHeld acknowledges the first n updates held on each socket (all of them if fewer), leaving
// acks held.
func (fs *fakeServer) ackHeld(n int) {
	fs.mu.Lock()
	type ack struct {
		c   *fakeConn
		seq uint64
	}
	var acks []ack
	for c := range fs.conns {
		k := min(n, len(c.held))
		if k == 0 {
			continue
		}
		seq := c.received - uint64(len(c.held)) + uint64(k)
		fs.durable = append(fs.durable, c.held[:k]...)
		c.held = c.held[k:]
		acks = append(acks, ack{c, seq})
	}
	fs.mu.Unlock()
	for _, a := range acks {
		a.c.send(&protocol.Ack{Seq: a.seq})
	}
}

// received returns the message sizes of the updates received so far.
func (fs *fakeServer) received() []int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]int(nil), fs.sizes...)
}

// crash forgets every update not acknowledged and drops every socket, as a killed server would.
func (fs *fakeServer) crash() {
	fs.mu.Lock()
	doc, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		fs.t.Fatal(err)
	}
	for _, u := range fs.durable {
		if _, err := doc.Apply(u); err != nil {
			fs.t.Errorf("fake server: replay: %v", err)
		}
	}
	fs.doc = doc
	for c := range fs.conns {
		c.held = nil
	}
	fs.mu.Unlock()
	fs.dropAll()
}

// awareness returns the awareness messages received so far.
func (fs *fakeServer) awareness() []protocol.AwarenessEntry {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.aware)
}

// dropAll ends every socket without a close frame.
func (fs *fakeServer) dropAll() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for c := range fs.conns {
		c.ws.NetConn().Close()
	}
}

// closeAll sends an error message and a close frame with code to every socket.
func (fs *fakeServer) closeAll(code protocol.CloseCode, msg string) {
	fs.mu.Lock()
	conns := make([]*fakeConn, 0, len(fs.conns))
	for c := range fs.conns {
		conns = append(conns, c)
	}
	fs.mu.Unlock()
	for _, c := range conns {
		c.send(&protocol.Error{Code: code, Message: msg})
		c.writeMu.Lock()
		_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(int(code), msg))
		c.writeMu.Unlock()
	}
}

func (fs *fakeServer) text(root string) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.doc.Text(root).String()
}

func (fs *fakeServer) connCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.conns)
}
