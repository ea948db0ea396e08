package server

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
	"github.com/tandemhq/tandem/storage/jetstream"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// presenceGone is the bound: a dead node's editors' cursors leave the other nodes'
// editors within it.
const presenceGone = 5 * time.Second

// presenceNode is a cluster node of a presence test: its own NATS connection and a listener that
// can drop every socket at once, as a killed process would.
type presenceNode struct {
	*testServer
	nc *nats.Conn
	l  *dropListener
}

// dropListener keeps the connections it accepted, so that kill can cut them without close frames.
type dropListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// kill stops listening and cuts every accepted connection: no close frame, no goodbye.
func (l *dropListener) kill() {
	_ = l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

// startPresenceNode starts cluster node node (Config.Cluster) with its own NATS connection to
// the server at url, its documents under prefix.
func startPresenceNode(t *testing.T, node, url, prefix string) *presenceNode {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(node))
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close) // after the server's Shutdown (cleanups run last first)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var b *jetstream.Backend
	for attempt := 0; b == nil; attempt++ { // the first requests after a start may go unanswered
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		b, err = jetstream.Open(ctx, js, jetstream.Config{Prefix: prefix})
		cancel()
		if err != nil && attempt == 30 {
			t.Fatalf("jetstream.Open: %v", err)
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	cfg := testConfig(t)
	cfg.DataPath = ""
	cfg.Cluster = Cluster{Conn: nc, Backend: b, NodeID: node}
	// Editors of this test do not read while others are waited for: no keepalive closes them.
	cfg.PongWait, cfg.PresenceWait = time.Minute, time.Minute
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &dropListener{Listener: inner}
	ts := &testServer{Server: s, base: "http://" + inner.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		// A killed node's actors exit once their appends fail (its NATS connection is closed:
		// clusterStore.Append) and their last save is tried; the store must not close under them
		// (Shutdown closes it once its context ends, actors or not), so the wait is generous.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.Shutdown(ctx) // a killed node's may fail: its NATS connection is gone
		<-ts.done
	})
	return &presenceNode{testServer: ts, nc: nc, l: l}
}

// waitPresenceSubject waits until each of the three NATS servers knows the three nodes'
// interest in doc's presence subject (as s names it).
func waitPresenceSubject(t *testing.T, cluster *natstest.Cluster, s *Server, doc string) {
	t.Helper()
	subject := s.relay.DocSubject(doc)
	waitFor(t, 10*time.Second, "the document's presence subject known everywhere", func() bool {
		for i := range 3 {
			if cluster.Server(i).GlobalAccount().Interest(subject) < 3 {
				return false
			}
		}
		return true
	})
}

// showCursor sends editor e's awareness state.
func showCursor(t *testing.T, e *wstest.Editor, clock uint64, state string) {
	t.Helper()
	if err := e.Send(&protocol.Awareness{Clock: clock, State: []byte(state)}); err != nil {
		t.Fatalf("editor %d: send awareness: %v", e.ClientID, err)
	}
}

// sees reports whether editor e shows exactly the cursors want.
func sees(e *wstest.Editor, want map[uint64]string) bool {
	if len(e.Awareness) != len(want) {
		return false
	}
	for cid, s := range want {
		if string(e.Awareness[cid]) != s {
			return false
		}
	}
	return true
}

func showing(e *wstest.Editor) string {
	m := make(map[uint64]string, len(e.Awareness))
	for cid, s := range e.Awareness {
		m[cid] = string(s)
	}
	return fmt.Sprint(m)
}

// TestClusterPresence runs cursors across three cluster nodes, each on its own NATS server of one
// cluster (formed once for the subtests, about two seconds).
func TestClusterPresence(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-server NATS cluster (about two seconds)")
	}
	cluster := startNATSCluster(t, 3)
	t.Run("KillIdle", func(t *testing.T) { testPresenceKillIdle(t, cluster) })
	t.Run("KillUnderLoad", func(t *testing.T) { testPresenceKillUnderLoad(t, cluster) })
}

// testPresenceKillIdle: editors of one document on each node see each other's cursors, a joiner
// sees them at once, and when a node dies without a word (its sockets cut, its NATS connection
// gone), its editors' cursors leave the other nodes' editors within the bound. A node
// that shuts down takes its cursors along at once.
func testPresenceKillIdle(t *testing.T, cluster *natstest.Cluster) {
	prefix := natstest.Prefix(t)
	const doc = "team.notes"
	var nodes []*presenceNode
	for i := range 3 {
		nodes = append(nodes, startPresenceNode(t, fmt.Sprintf("n%d", i), cluster.URL(i), prefix))
	}
	waitFor(t, 10*time.Second, "every node hears the others", func() bool {
		for _, n := range nodes {
			if n.relay.Nodes() != 2 {
				return false
			}
		}
		return true
	})

	a := nodes[0].editor(t, doc, 101)
	b := nodes[1].editor(t, doc, 202)
	c := nodes[2].editor(t, doc, 303)
	// The documents' subscriptions reach every NATS server a moment after they open; until then a
	// change may be lost (it is healed by the next full exchange). Wait for them, then show.
	waitPresenceSubject(t, cluster, nodes[0].Server, doc)
	showCursor(t, a, 1, "a@0")
	showCursor(t, b, 1, "b@0")
	showCursor(t, c, 1, "c@0")
	for _, w := range []struct {
		e    *wstest.Editor
		want map[uint64]string
	}{
		{a, map[uint64]string{202: "b@0", 303: "c@0"}},
		{b, map[uint64]string{101: "a@0", 303: "c@0"}},
		{c, map[uint64]string{101: "a@0", 202: "b@0"}},
	} {
		if err := w.e.Pump(10*time.Second, func() bool { return sees(w.e, w.want) }); err != nil {
			t.Fatalf("editor %d shows %s; want %v: %v", w.e.ClientID, showing(w.e), w.want, err)
		}
	}
	showCursor(t, a, 2, "a@5")
	for _, e := range []*wstest.Editor{b, c} {
		if err := e.Pump(10*time.Second, func() bool { return string(e.Awareness[101]) == "a@5" }); err != nil {
			t.Fatalf("editor %d shows %s; want a's cursor moved: %v", e.ClientID, showing(e), err)
		}
	}

	// A joiner on node 2 gets every node's cursors with its sync answer.
	d := nodes[2].editor(t, doc, 404)
	if err := d.Pump(10*time.Second, func() bool { return sees(d, map[uint64]string{101: "a@5", 202: "b@0", 303: "c@0"}) }); err != nil {
		t.Fatalf("joiner shows %s; want every other editor: %v", showing(d), err)
	}

	// Node 0 dies: sockets cut without close frames, its NATS connection gone without goodbye.
	killed := time.Now()
	nodes[0].l.kill()
	nodes[0].nc.Close()
	for _, e := range []*wstest.Editor{b, c, d} {
		left := presenceGone - time.Since(killed)
		if err := e.Pump(left, func() bool { _, ok := e.Awareness[101]; return !ok }); err != nil {
			t.Fatalf("editor %d still shows the dead node's editor %s after %v: %v", e.ClientID, showing(e), time.Since(killed), err)
		}
	}
	t.Logf("the dead node's cursor left every other editor %v after the kill", time.Since(killed).Round(time.Millisecond))
	if !sees(b, map[uint64]string{303: "c@0"}) {
		t.Errorf("editor 202 shows %s; want 303's cursor still", showing(b))
	}

	// Node 1 shuts down: it says goodbye, and its editor's cursor leaves node 2's editors.
	nodes[1].shutdown(t)
	for _, e := range []*wstest.Editor{c, d} {
		if err := e.Pump(10*time.Second, func() bool { _, ok := e.Awareness[202]; return !ok }); err != nil {
			t.Fatalf("editor %d still shows %s after node 1 shut down: %v", e.ClientID, showing(e), err)
		}
	}
}

// testPresenceKillUnderLoad: ten editors of one document type and move their cursors on three
// nodes. Node 1 dies without a word: its editor that does not reconnect leaves every other
// editor's screen within the bound, while those that reconnect (through the balancer, to
// node 0) stay visible everywhere.
func testPresenceKillUnderLoad(t *testing.T, cluster *natstest.Cluster) {
	prefix := natstest.Prefix(t)
	const doc = "busy"
	var nodes []*presenceNode
	var lbs []*balancer
	for i := range 3 {
		n := startPresenceNode(t, fmt.Sprintf("n%d", i), cluster.URL(i), prefix)
		nodes = append(nodes, n)
		lbs = append(lbs, newBalancer(t, strings.TrimPrefix(n.base, "http://")))
	}
	waitFor(t, 10*time.Second, "every node hears the others", func() bool {
		for _, n := range nodes {
			if n.relay.Nodes() != 2 {
				return false
			}
		}
		return true
	})
	dial := func(url string, reconnect bool) *client.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, url, doc, client.Options{Reconnect: reconnect, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatalf("Dial %s: %v", url, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	const editors = 9
	conns := make([]*client.Conn, 0, editors+1)
	for i := range editors {
		conns = append(conns, dial(lbs[i%3].url(), true)) // editor i on node i%3
	}
	// The stayer is on node 1 directly and does not reconnect: its cursor must go with the node.
	stayer := dial("ws://"+strings.TrimPrefix(nodes[1].base, "http://"), false)
	conns = append(conns, stayer)
	waitPresenceSubject(t, cluster, nodes[0].Server, doc)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(15 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				if n%8 == 0 {
					// Refused while the editor reconnects; the state is announced again once it has.
					_ = c.SetAwareness(fmt.Appendf(nil, `{"editor":%d,"at":%d}`, i, n))
				}
				err := c.Edit(func(d *crdt.Doc) error {
					body := d.Text("body")
					return body.Insert(body.Len(), string(rune('a'+i)))
				})
				if err != nil && c != stayer {
					t.Errorf("editor %d: Edit: %v", i, err)
					return
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	// sees reports whether editor i shows the cursor of every editor in ids (and, with absent,
	// of none of them).
	ids := func(cs []*client.Conn) []uint64 {
		var out []uint64
		for _, c := range cs {
			out = append(out, c.ClientID())
		}
		return out
	}
	shows := func(c *client.Conn, want []uint64, present bool) bool {
		peers := c.Peers()
		for _, id := range want {
			if _, ok := peers[id]; ok != present {
				return false
			}
		}
		return true
	}
	everyone := ids(conns)
	for i, c := range conns {
		others := slices.DeleteFunc(slices.Clone(everyone), func(id uint64) bool { return id == c.ClientID() })
		waitFor(t, 15*time.Second, fmt.Sprintf("editor %d shows every other editor's cursor", i), func() bool { return shows(c, others, true) })
	}

	var watchers, moved []*client.Conn // editors on nodes 0 and 2; editors of node 1 that reconnect
	for i := range editors {
		if i%3 == 1 {
			moved = append(moved, conns[i])
		} else {
			watchers = append(watchers, conns[i])
		}
	}
	killed := time.Now()
	lbs[1].retarget(strings.TrimPrefix(nodes[0].base, "http://"))
	lbs[1].cut()
	nodes[1].l.kill()
	nodes[1].nc.Close()
	gone := []uint64{stayer.ClientID()}
	for i, c := range watchers {
		for !shows(c, gone, false) {
			if time.Since(killed) > presenceGone {
				t.Fatalf("watcher %d still shows the dead node's editor %v after %v", i, gone, time.Since(killed))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("under load, the dead node's cursor left every other editor %v after the kill", time.Since(killed).Round(time.Millisecond))
	// The editors that reconnected keep (or get back) their cursors everywhere, past the expiry.
	for i, c := range watchers {
		others := slices.DeleteFunc(ids(append(slices.Clone(watchers), moved...)), func(id uint64) bool { return id == c.ClientID() })
		waitFor(t, 15*time.Second, fmt.Sprintf("watcher %d shows the moved editors", i), func() bool {
			return time.Since(killed) > presenceGone && shows(c, others, true)
		})
	}
}
