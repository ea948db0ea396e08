package relay

import (
	"context"
	"fmt"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// cluster is the three-server NATS cluster the package's tests share (forming one takes about two
// seconds). Each test uses a subject prefix of its own.
var cluster *natstest.Cluster

func TestMain(m *testing.M) { os.Exit(natstest.RunShared(m, 3, &cluster)) }

// waitFor polls cond until it holds, and fails the test if it does not within a bound far above
// what it should take (this is no measurement: benchmarks measure).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testNode is one node of a test: its own NATS connection (to server i of the cluster), its relay.
type testNode struct {
	nc *nats.Conn
	r  *Relay
}

// startNode starts a relay named id on its own connection to server i, with a fast heartbeat.
// The test's cleanup closes both.
func startNode(t *testing.T, prefix, id string, i int, tweak func(*Config)) *testNode {
	t.Helper()
	nc, err := nats.Connect(cluster.URL(i), nats.Name(id))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	cfg := Config{Conn: nc, Node: id, Prefix: prefix, Heartbeat: 100 * time.Millisecond, FullEvery: time.Hour}
	if tweak != nil {
		tweak(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	t.Cleanup(func() {
		r.Close()
		nc.Close()
	})
	return &testNode{nc: nc, r: r}
}

// view is what an editor on a node sees of the other nodes' clients of one document: it applies
// what the Doc's Flush returns each time it is notified.
type view struct {
	d *Doc

	mu     sync.Mutex
	states map[uint64]string
	clocks map[uint64]uint64
}

func openView(t *testing.T, n *testNode, docID string) *view {
	t.Helper()
	v := &view{states: make(map[uint64]string), clocks: make(map[uint64]uint64)}
	d, err := n.r.Open(docID, func() { go v.flush() })
	if err != nil {
		t.Fatalf("Open(%q): %v", docID, err)
	}
	v.mu.Lock()
	v.d = d
	v.mu.Unlock()
	v.flush() // what notified before v.d was set
	count, _ := openedViews.LoadOrStore(d.subject, new(atomic.Int64))
	count.(*atomic.Int64).Add(1)
	t.Cleanup(func() { count.(*atomic.Int64).Add(-1) })
	t.Cleanup(d.Close)
	// Interest in a subject reaches the other servers of the cluster a moment after the
	// subscription: a message published before is lost (core NATS), and healed in the field by
	// the next full exchange. The tests wait for it instead.
	waitFor(t, "the document's subscription known on every server", func() bool {
		for i := range cluster.Len() {
			if s := cluster.Server(i); s != nil && s.GlobalAccount().Interest(d.subject) < v.opened(d.subject) {
				return false
			}
		}
		return true
	})
	return v
}

// opened counts the views opened on subject in this test process, for waiting on the interest.
var openedViews sync.Map // subject -> *atomic.Int64

func (v *view) opened(subject string) int {
	n, _ := openedViews.LoadOrStore(subject, new(atomic.Int64))
	return int(n.(*atomic.Int64).Load())
}

func (v *view) flush() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.d == nil {
		return // openView flushes once it is set
	}
	for _, e := range v.d.Flush() {
		if e.Clock < v.clocks[e.ClientID] {
			panic(fmt.Sprintf("client %d: clock %d after %d", e.ClientID, e.Clock, v.clocks[e.ClientID]))
		}
		v.clocks[e.ClientID] = e.Clock
		if e.State == nil {
			delete(v.states, e.ClientID)
		} else {
			v.states[e.ClientID] = string(e.State)
		}
	}
}

// is reports whether the view shows exactly want.
func (v *view) is(want map[uint64]string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Equal(v.states, want)
}

func (v *view) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return fmt.Sprint(v.states)
}

func TestRelayCarriesStates(t *testing.T) {
	prefix := "t1"
	a := startNode(t, prefix, "a", 0, nil)
	b := startNode(t, prefix, "b", 1, nil)
	va := openView(t, a, "team.doc-1")
	vb := openView(t, b, "team.doc-1")
	other := openView(t, b, "team.doc-2")

	va.d.Publish([]Entry{st(11, 1, "a's cursor"), st(12, 1, "a's other")})
	vb.d.Publish([]Entry{st(21, 1, "b's cursor")})
	waitFor(t, "b sees a's clients", func() bool { return vb.is(map[uint64]string{11: "a's cursor", 12: "a's other"}) })
	waitFor(t, "a sees b's client", func() bool { return va.is(map[uint64]string{21: "b's cursor"}) })

	va.d.Publish([]Entry{st(11, 2, "moved"), st(12, 2, "")})
	waitFor(t, "b sees a's change and removal", func() bool { return vb.is(map[uint64]string{11: "moved"}) })

	// A node that opens the document later gets the states at once (query), from both nodes.
	c := startNode(t, prefix, "c", 2, nil)
	vc := openView(t, c, "team.doc-1")
	waitFor(t, "c, late, gets everyone's state", func() bool {
		return vc.is(map[uint64]string{11: "moved", 21: "b's cursor"}) &&
			fmt.Sprint(vc.d.Current()) == fmt.Sprint([]Entry{st(11, 2, "moved"), st(21, 1, "b's cursor")})
	})

	// No echo, and no crossing between documents.
	if !va.is(map[uint64]string{21: "b's cursor"}) {
		t.Errorf("a sees %v; want only b's client", va)
	}
	if got := other.d.Current(); len(got) != 0 {
		t.Errorf("another document's Current() = %v; want nothing", got)
	}
}

func TestRelayNodeDeath(t *testing.T) {
	prefix := "t2"
	a := startNode(t, prefix, "a", 0, nil)
	b := startNode(t, prefix, "b", 1, nil)
	va := openView(t, a, "doc")
	vb := openView(t, b, "doc")
	va.d.Publish([]Entry{st(1, 5, "x"), st(2, 5, "y")})
	vb.d.Publish([]Entry{st(3, 1, "z")})
	waitFor(t, "b sees a's clients", func() bool { return vb.is(map[uint64]string{1: "x", 2: "y"}) })
	waitFor(t, "a is tracked by b", func() bool { return b.r.Nodes() == 1 })

	// a dies without a word: its connection drops, no goodbye, no removals.
	a.nc.Close()
	waitFor(t, "a's clients disappear from b", func() bool { return vb.is(map[uint64]string{}) })
	if got := b.r.Nodes(); got != 0 {
		t.Errorf("b tracks %d nodes after a died; want 0", got)
	}
	// The removals came at the states' clocks (vb.flush checks clocks never go back).
	vb.mu.Lock()
	if vb.clocks[1] != 5 || vb.clocks[2] != 5 {
		t.Errorf("removal clocks = %d, %d; want 5, 5", vb.clocks[1], vb.clocks[2])
	}
	vb.mu.Unlock()
}

func TestRelayGoodbyeAndDocClose(t *testing.T) {
	prefix := "t3"
	a := startNode(t, prefix, "a", 0, func(c *Config) { c.Heartbeat = time.Hour }) // no expiry: only words count
	b := startNode(t, prefix, "b", 2, func(c *Config) { c.Heartbeat = time.Hour })
	va := openView(t, a, "doc")
	va2 := openView(t, a, "doc2")
	vb := openView(t, b, "doc")
	vb2 := openView(t, b, "doc2")
	va.d.Publish([]Entry{st(1, 1, "x")})
	va2.d.Publish([]Entry{st(2, 1, "y")})
	waitFor(t, "b sees a's clients", func() bool {
		return vb.is(map[uint64]string{1: "x"}) && vb2.is(map[uint64]string{2: "y"})
	})

	va.d.Close() // the document unloads on a
	waitFor(t, "a's document closed: its client is removed on b", func() bool { return vb.is(map[uint64]string{}) })
	if !vb2.is(map[uint64]string{2: "y"}) {
		t.Errorf("b's other document shows %v; want a's client still", vb2)
	}
	a.r.Close() // a leaves
	waitFor(t, "a left: its clients are removed on b", func() bool { return vb2.is(map[uint64]string{}) })
}

// TestRelayClientMoves: a client whose node dies reconnects to another node; its cursor stays on
// the third node through the first one's death.
func TestRelayClientMoves(t *testing.T) {
	prefix := "t4"
	a := startNode(t, prefix, "a", 0, nil)
	b := startNode(t, prefix, "b", 1, nil)
	c := startNode(t, prefix, "c", 2, nil)
	va, vb, vc := openView(t, a, "doc"), openView(t, b, "doc"), openView(t, c, "doc")
	va.d.Publish([]Entry{st(1, 3, "on a"), st(2, 1, "stays on a")})
	waitFor(t, "c sees a's clients", func() bool { return vc.is(map[uint64]string{1: "on a", 2: "stays on a"}) })
	vb.d.Publish([]Entry{st(1, 4, "on b")}) // client 1 reconnected to b
	waitFor(t, "c sees client 1 on b", func() bool { return vc.is(map[uint64]string{1: "on b", 2: "stays on a"}) })
	a.nc.Close()
	waitFor(t, "a's remaining client disappears from c", func() bool { return vc.is(map[uint64]string{1: "on b"}) })
	// On b, client 1 is local now: b's editors see its local state, and a's death sends them no
	// removal of it (the remote view keeps what it had, the local one wins in the actor); b too
	// drops client 2, on its own clock.
	waitFor(t, "a's remaining client disappears from b", func() bool { return vb.is(map[uint64]string{1: "on a"}) })
	if got := vb.d.Current(); len(got) != 0 {
		t.Errorf("b's Current() = %v; want nothing (client 1 is local)", got)
	}
}

// TestRelayHostile: malformed messages and a flood of made-up nodes are ignored and counted;
// memory stays within the limits.
func TestRelayHostile(t *testing.T) {
	prefix := "t5"
	b := startNode(t, prefix, "b", 1, func(c *Config) {
		c.MaxNodes = 4
		c.Limits = Limits{MaxClientsPerNode: 3, MaxClients: 5, MaxStateBytes: 8}
	})
	vb := openView(t, b, "doc")
	raw, err := nats.Connect(cluster.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	subject := vb.d.subject
	for _, junk := range [][]byte{nil, {1}, {9, 9, 9}, []byte("not a message at all")} {
		if err := raw.Publish(subject, junk); err != nil {
			t.Fatal(err)
		}
		if err := raw.Publish(prefix+".awhb", junk); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		from := Node{ID: fmt.Sprintf("evil-%d", i), Instance: uint64(i)}
		var es []Entry
		for k := range 10 {
			es = append(es, st(uint64(i*100+k), 1, "s"))
		}
		es = append(es, st(uint64(i*100+99), 1, "far too large a state"))
		if err := raw.Publish(subject, encode(message{kind: kindChanges, from: from, entries: es})); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	// 8 malformed, and 16 messages of nodes beyond the first 4.
	waitFor(t, "every hostile message counted", func() bool { return b.r.Refused() == 8+16 })
	if got := b.r.Nodes(); got > 4 {
		t.Errorf("b tracks %d nodes; want at most 4", got)
	}
	vb.d.mu.Lock()
	n := vb.d.table.Len()
	vb.d.mu.Unlock()
	if n != 5 {
		t.Errorf("the table holds %d states; want the limit, 5", n)
	}
}

// TestRelayFullHeals: the periodic full exchange replaces a node's states on the others, so a
// removal lost in transit (here, a state the node never held, published in its name) heals.
func TestRelayFullHeals(t *testing.T) {
	prefix := "t6"
	a := startNode(t, prefix, "a", 0, func(c *Config) { c.FullEvery = 200 * time.Millisecond })
	b := startNode(t, prefix, "b", 1, nil)
	va := openView(t, a, "doc")
	vb := openView(t, b, "doc")
	va.d.Publish([]Entry{st(1, 1, "x")})
	waitFor(t, "b sees a's client", func() bool { return vb.is(map[uint64]string{1: "x"}) })

	raw, err := nats.Connect(cluster.URL(2))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ghost := encode(message{kind: kindChanges, from: a.r.Self(), entries: []Entry{st(99, 1, "ghost")}})
	if err := raw.Publish(va.d.subject, ghost); err != nil {
		t.Fatal(err)
	}
	// The ghost appears, then a's next full state, which lacks it, takes it away.
	waitFor(t, "the ghost is gone after a's full state", func() bool {
		vb.mu.Lock()
		seen := vb.clocks[99] > 0
		vb.mu.Unlock()
		return seen && vb.is(map[uint64]string{1: "x"})
	})
}

// TestRelayNodeBack: a node cut off from NATS for longer than the expiry is taken for dead (its
// cursors go); once it is back, the nodes hear it as new, ask each other for their states, and the
// cursors come back both ways, with no change sent meanwhile.
func TestRelayNodeBack(t *testing.T) {
	prefix := "t7"
	nc, err := nats.Connect(cluster.URL(0), nats.Name("a"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.IgnoreDiscoveredServers()) // stays cut off while its server is down
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ra, err := New(Config{Conn: nc, Node: "a", Prefix: prefix, Heartbeat: 100 * time.Millisecond, FullEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	a := &testNode{nc: nc, r: ra}
	b := startNode(t, prefix, "b", 1, nil)
	va, vb := openView(t, a, "doc"), openView(t, b, "doc")
	va.d.Publish([]Entry{st(1, 1, "x")})
	vb.d.Publish([]Entry{st(2, 1, "y")})
	waitFor(t, "each sees the other", func() bool {
		return va.is(map[uint64]string{2: "y"}) && vb.is(map[uint64]string{1: "x"})
	})

	cluster.Stop(0) // a's only server: a is cut off
	restarted := false
	defer func() {
		if !restarted {
			_ = cluster.Restart(0)
		}
	}()
	waitFor(t, "each takes the other for dead", func() bool {
		return va.is(map[uint64]string{}) && vb.is(map[uint64]string{})
	})
	if err := cluster.Restart(0); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFor(t, "the cursors come back both ways", func() bool {
		return va.is(map[uint64]string{2: "y"}) && vb.is(map[uint64]string{1: "x"})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cluster.WaitReady(ctx); err != nil {
		t.Fatalf("the cluster after the restart: %v", err)
	}
}
