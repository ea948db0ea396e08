package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/storage/jetstream"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// startNATSCluster starts n NATS servers with JetStream (sync always) for the test.
func startNATSCluster(t *testing.T, n int) *natstest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := natstest.Start(ctx, t.TempDir(), n)
	if err != nil {
		t.Fatalf("natstest.Start: %v", err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// testNode is one tandem node of a test cluster.
type testNode struct {
	*Server
	id   string
	addr string // the server's listening address
	nc   *nats.Conn
	b    *jetstream.Backend
}

// openClusterBackend connects to the NATS cluster and opens the backend with cfg, retrying with
// short attempts as a node does at start.
func openClusterBackend(t *testing.T, c *natstest.Cluster, cfg jetstream.Config) (*nats.Conn, *jetstream.Backend) {
	t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatalf("nats.Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		b, err := jetstream.Open(ctx, js, cfg)
		cancel()
		if err == nil {
			return nc, b
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("jetstream.Open(%s): %v", cfg.Prefix, last)
	return nil, nil
}

// testEntryKey is the key test nodes sign their log entries with (jetstream.Config.EntryKey).
const testEntryKey = "the test nodes' entry key, 32 bytes or more"

// startNode starts tandem node id on the NATS cluster under prefix; edit, if not nil, changes
// its configuration. The node is shut down when the test ends.
func startNode(t *testing.T, c *natstest.Cluster, prefix, id string, edit func(*Config)) *testNode {
	t.Helper()
	return startNodeWith(t, c, jetstream.Config{Prefix: prefix, EntryKey: []byte(testEntryKey)}, id, edit)
}

// startNodeWith is startNode with the backend's whole configuration.
func startNodeWith(t *testing.T, c *natstest.Cluster, bcfg jetstream.Config, id string, edit func(*Config)) *testNode {
	t.Helper()
	nc, b := openClusterBackend(t, c, bcfg)
	cfg := testConfig(t)
	cfg.DataPath = ""
	cfg.Cluster = Cluster{Conn: nc, Backend: b, NodeID: id}
	cfg.PongWait = 20 * time.Second // a hello waits for the load, longer when compactions race with it
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx) // a killed node's may fail: its NATS connection is gone
		<-done
	})
	n := &testNode{Server: s, id: id, addr: l.Addr().String(), nc: nc, b: b}
	waitFor(t, 30*time.Second, "node "+id+" ready", func() bool { return s.cluster.node.canAppend() })
	return n
}

// text returns the text of doc's root "body" as the node serves it over HTTP.
func (n *testNode) text(t *testing.T, doc string) string {
	t.Helper()
	return (&testServer{Server: n.Server, base: "http://" + n.addr}).serverText(t, doc, "body")
}

// insertAtStart inserts s at the start of doc's root "body" through the node's HTTP API.
func (n *testNode) insertAtStart(t *testing.T, doc, s string) {
	t.Helper()
	body := fmt.Sprintf(`{"root":"body","edits":[{"index":0,"insert":%q}]}`, s)
	if code, out := httpDo(t, http.MethodPost, "http://"+n.addr+"/v1/docs/"+doc+"/edits", "", []byte(body)); code != http.StatusOK {
		t.Fatalf("POST edits on node %s: %d %s", n.id, code, out)
	}
}

// followedOnTwo writes "one." to doc through node a, waits until node b serves it, and returns
// the document's epoch and a JetStream context on node a's connection, to write to its log as
// something other than a node would.
func followedOnTwo(t *testing.T, a, b *testNode, doc string) (uint64, natsjs.JetStream) {
	t.Helper()
	a.insertAtStart(t, doc, "one.")
	waitFor(t, 20*time.Second, "node b to follow the document", func() bool { return b.text(t, doc) == "one." })
	epoch, err := a.cluster.followEpoch(doc)
	if err != nil {
		t.Fatal(err)
	}
	js, err := natsjs.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	return epoch, js
}

// waitEveryNode waits (bounded) until every node serves a text of doc that ok accepts.
func waitEveryNode(t *testing.T, nodes []*testNode, doc, what string, ok func(text string) bool) {
	t.Helper()
	waitFor(t, 30*time.Second, "every node to serve "+what, func() bool {
		for _, n := range nodes {
			if !ok(n.text(t, doc)) {
				return false
			}
		}
		return true
	})
}

// checkSameReplicas checks that every node's replica of doc is byte for byte the first node's.
func checkSameReplicas(t *testing.T, nodes []*testNode, doc string) {
	t.Helper()
	ref := nodes[0].snapshot(doc)
	for _, n := range nodes[1:] {
		if got := n.snapshot(doc); string(got) != string(ref) {
			t.Errorf("node %s's replica differs from node %s's", n.id, nodes[0].id)
		}
	}
}

// snapshot returns the snapshot of the node's replica of doc, or nil if it is not open.
func (n *testNode) snapshot(doc string) []byte {
	return onReplica(n, doc, (*crdt.Doc).EncodeSnapshot)
}

// pendingBytes returns the encoded size of what waits in the node's replica of doc (0 if it is
// not open).
func (n *testNode) pendingBytes(doc string) int {
	return onReplica(n, doc, (*crdt.Doc).PendingBytes)
}

// onReplica returns what fn reads from the node's replica of doc, on its actor, or the zero
// value if the document is not open.
func onReplica[T any](n *testNode, doc string, fn func(*crdt.Doc) T) T {
	var zero T
	a, _ := n.docs.get(doc, false)
	if a == nil {
		return zero
	}
	reply := make(chan T, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.post(ctx, funcMsg{fn: func(a *actor) {
		if a.doc == nil {
			reply <- zero
			return
		}
		reply <- fn(a.doc)
	}}); err != nil {
		return zero
	}
	select {
	case v := <-reply:
		return v
	case <-ctx.Done():
		return zero
	}
}

// balancer stands for the load balancer in front of the nodes: it forwards each accepted
// connection to its target, which the test may change, and can drop every connection it carries
// at once, without a close frame, as a dead machine does.
type balancer struct {
	l net.Listener

	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newBalancer(t *testing.T, target string) *balancer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{l: l, target: target, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() {
		l.Close()
		b.cut()
		b.wg.Wait()
	})
	return b
}

func (b *balancer) url() string { return "ws://" + b.l.Addr().String() }

func (b *balancer) accept() {
	defer b.wg.Done()
	for {
		in, err := b.l.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		target := b.target
		b.mu.Unlock()
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		b.mu.Lock()
		b.conns[in], b.conns[out] = struct{}{}, struct{}{}
		b.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer b.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		b.wg.Add(2)
		go pipe(in, out)
		go pipe(out, in)
	}
}

// retarget sends new connections to target.
func (b *balancer) retarget(target string) {
	b.mu.Lock()
	b.target = target
	b.mu.Unlock()
}

// cut drops every connection carried so far.
func (b *balancer) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as from a machine that is gone
		}
		c.Close()
		delete(b.conns, c)
	}
}

// typingScenario is a run of editors typing into shared documents on three nodes.
type typingScenario struct {
	kill        bool // kill node 1 halfway
	dropPercent int  // every node drops this share of the live deliveries
	// holdNothing: the nodes hold no delivery above a gap (Cluster.MaxHeldBytes negative), so
	// that every one is read from the log with its gap.
	holdNothing bool
	// compactEvery is the nodes' CompactLogEntries; zero means 200, so that compactions race
	// on every node meanwhile.
	compactEvery int
	// coldLoad: node 2's editors join halfway, so that node 2 loads the documents while the
	// others compact them.
	coldLoad bool
	// quorumLoss: halfway, two of the three NATS servers stop for a while; no edit is
	// acknowledged meanwhile, and every edit is once they are back.
	quorumLoss bool
}
