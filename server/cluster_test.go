package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// TestCluster runs tandem as three nodes on one three-server NATS cluster, in process, over
// loopback: real servers, real WebSockets, the Go client. The NATS cluster takes about two
// seconds to form, so the scenarios share it as subtests, each under its own resource prefix;
// it is stopped when they end, so that no other test of the package sees its goroutines.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server NATS cluster")
	}
	nc := startNATSCluster(t, 3)
	t.Run("KillNodeUnderLoad", func(t *testing.T) {
		testClusterTyping(t, nc, typingScenario{kill: true})
	})
	t.Run("DroppedDeliveries", func(t *testing.T) {
		testClusterTyping(t, nc, typingScenario{dropPercent: 3})
	})
	t.Run("DroppedDeliveriesNothingHeld", func(t *testing.T) {
		testClusterTyping(t, nc, typingScenario{dropPercent: 3, holdNothing: true})
	})
	t.Run("CompactionRaceColdLoad", func(t *testing.T) {
		testClusterTyping(t, nc, typingScenario{compactEvery: 150, coldLoad: true})
	})
	t.Run("DeleteRace", func(t *testing.T) { testClusterDeleteRace(t, nc) })
	t.Run("BindingAcrossNodes", func(t *testing.T) { testClusterBinding(t, nc) })
	t.Run("HTTPEditsOnTwoNodes", func(t *testing.T) { testClusterHTTPEdits(t, nc) })
	t.Run("ForeignLogEntries", func(t *testing.T) { testClusterForeignEntries(t, nc) })
	t.Run("AcceptedPastThePendingLimit", func(t *testing.T) { testClusterAcceptedPastLimit(t, nc, false) })
	t.Run("AcceptedPastThePendingLimitCompacted", func(t *testing.T) { testClusterAcceptedPastLimit(t, nc, true) })
	t.Run("ForgedDeliveries", func(t *testing.T) { testClusterForgedDeliveries(t, nc) })
	t.Run("EntryKeysDiffer", func(t *testing.T) { testClusterEntryKeysDiffer(t, nc) })
	t.Run("Readyz", func(t *testing.T) { testClusterReadyz(t, nc) })
	// Last: it stops two NATS servers, and the cluster takes a while to settle after.
	t.Run("QuorumLoss", func(t *testing.T) {
		testClusterTyping(t, nc, typingScenario{quorumLoss: true})
	})
}

// testClusterTyping: twelve editors, spread over three nodes and two documents, type at random
// places; then every acknowledged edit is in a replica rebuilt from the stream alone, the
// nodes' replicas are byte for byte that replica, and every editor converges to it. With kill,
// node 1 dies halfway (its sockets dropped without close frames, its NATS connection gone, its
// actors not flushed) and its editors reconnect through the balancer to node 0. With
// dropPercent, every node loses that share of the live deliveries, which its followers repair.
func testClusterTyping(t *testing.T, nc *natstest.Cluster, sc typingScenario) {
	prefix := natstest.Prefix(t)
	edit := func(c *Config) {
		c.CompactLogEntries = cmp.Or(sc.compactEvery, 200)
		if sc.holdNothing {
			c.Cluster.MaxHeldBytes = -1 // every delivery above a gap is read with it
		}
	}
	nodes := make([]*testNode, 3)
	lbs := make([]*balancer, 3)
	for i := range nodes {
		nodes[i] = startNode(t, nc, prefix, fmt.Sprintf("n%d", i), edit)
		lbs[i] = newBalancer(t, nodes[i].addr)
		if sc.dropPercent > 0 {
			var mu sync.Mutex
			rnd := mrand.New(mrand.NewPCG(uint64(i), 7))
			drop := func() bool {
				mu.Lock()
				defer mu.Unlock()
				return rnd.IntN(100) < sc.dropPercent
			}
			nodes[i].cluster.node.dropDelivery.Store(&drop)
		}
	}
	docs := []string{"shared-a", "shared-b"}
	const editors = 12
	conns := make([]*client.Conn, editors)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	join := func(i int) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := client.Dial(ctx, lbs[i%3].url(), docs[i%2], client.Options{
			Reconnect: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			HandshakeTimeout: 20 * time.Second, // a cold load waits for compactions elsewhere
		})
		cancel()
		if err != nil {
			t.Fatalf("editor %d: Dial: %v", i, err)
		}
		if sc.coldLoad && i%3 == 2 {
			t.Logf("editor %d joined node 2 halfway in %v", i, time.Since(start).Round(time.Millisecond))
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := mrand.New(mrand.NewPCG(uint64(i), 1))
			tick := time.NewTicker(15 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				err := c.Edit(func(d *crdt.Doc) error {
					body := d.Text("body")
					if l := body.Len(); l > 20 && rnd.IntN(5) == 0 {
						return body.Delete(rnd.IntN(l-1), 1)
					}
					return body.Insert(rnd.IntN(body.Len()+1), string(rune('a'+i)))
				})
				if err != nil {
					t.Errorf("editor %d: Edit: %v", i, err)
					return
				}
			}
		}()
	}
	for i := range editors {
		if !sc.coldLoad || i%3 != 2 {
			join(i)
		}
	}

	const typing = 3 * time.Second
	time.Sleep(typing / 2)
	switch {
	case sc.kill:
		lbs[1].retarget(nodes[0].addr)
		lbs[1].cut()
		nodes[1].nc.Close()
	case sc.coldLoad:
		for i := 2; i < editors; i += 3 {
			join(i)
		}
	case sc.quorumLoss:
		nc.Stop(1)
		nc.Stop(2)
		waitFor(t, 30*time.Second, "the nodes not ready", func() bool {
			return !nodes[0].cluster.node.canAppend() && !nodes[1].cluster.node.canAppend()
		})
		for i, c := range conns {
			// An append stored before the quorum went may still be acknowledged (its retry is
			// answered from the stream's duplicate window); what is acknowledged is checked
			// against the stream at the end.
			if !c.Unsaved() {
				t.Errorf("editor %d has nothing unacknowledged while the quorum is lost", i)
			}
		}
		for _, i := range []int{1, 2} {
			if err := nc.Restart(i); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := nc.WaitReady(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(typing / 2)
	close(stop)
	wg.Wait()

	for i, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := c.WaitSaved(ctx)
		cancel()
		if err != nil {
			t.Fatalf("editor %d: WaitSaved: %v (saved %d of %d)", i, err, c.Saved(), c.Clock())
		}
	}

	survivors := nodes
	if sc.kill {
		survivors = []*testNode{nodes[0], nodes[2]}
	}
	for _, doc := range docs {
		// The replica rebuilt from the stream alone (the snapshot and the log after it).
		var rebuilt *crdt.Doc
		for deadline := time.Now().Add(30 * time.Second); ; {
			rebuilt = rebuildFromStream(t, survivors[0].b, doc)
			want := rebuilt.EncodeSnapshot()
			var differ []string
			for _, n := range survivors {
				if got := n.snapshot(doc); string(got) != string(want) {
					differ = append(differ, fmt.Sprintf("node %s: %s", n.id, describeSnapshot(got)))
				}
			}
			if len(differ) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: replicas differ from the stream's (%s) after 30s: %s", doc, describeSnapshot(want), strings.Join(differ, "; "))
			}
			time.Sleep(50 * time.Millisecond)
		}
		sv := rebuilt.StateVector()
		for i, c := range conns {
			if docs[i%2] != doc {
				continue
			}
			if saved := c.Saved(); sv[c.ClientID()] < saved {
				t.Errorf("%s: editor %d's edits acknowledged up to clock %d; the stream holds %d", doc, i, saved, sv[c.ClientID()])
			}
		}
		want := rebuilt.Text("body").String()
		for i, c := range conns {
			if docs[i%2] != doc {
				continue
			}
			for deadline := time.Now().Add(30 * time.Second); c.Text("body") != want; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					var got string
					c.Read(func(d *crdt.Doc) { got = describeSnapshot(d.EncodeSnapshot()) })
					var who []string
					for j, c := range conns {
						who = append(who, fmt.Sprintf("editor %d: client %d on node %d, doc %s", j, c.ClientID(), j%3, docs[j%2]))
					}
					t.Fatalf("%s: editor %d did not converge in 30s: %s; want %s (err %v); %s", doc, i, got, describeSnapshot(rebuilt.EncodeSnapshot()), c.Err(), strings.Join(who, "; "))
				}
			}
		}
		t.Logf("%s: %d characters; state vector %v", doc, len([]rune(want)), sv)
	}
	var gaps, short uint64
	for _, n := range survivors {
		gaps += uint64(n.cluster.node.gapsRepaired.Value())
		short += uint64(n.cluster.node.shortReads.Value())
	}
	t.Logf("gaps repaired %d, short reads %d", gaps, short)
	if sc.dropPercent > 0 && gaps == 0 {
		t.Errorf("no gap repaired with %d%% of the deliveries dropped", sc.dropPercent)
	}
	// Every gap read, the deliveries held above them are given back to each node's budget.
	waitFor(t, 20*time.Second, "every node's held deliveries given back", func() bool {
		for _, n := range survivors {
			if n.cluster.node.held.Used() != 0 {
				return false
			}
		}
		return true
	})
}

// describeSnapshot describes a replica's snapshot for a failure message: its state vector and
// text length.
func describeSnapshot(b []byte) string {
	if b == nil {
		return "not open"
	}
	d, err := crdt.NewDoc(crdt.MaxClientID, crdt.Config{})
	if err != nil {
		return err.Error()
	}
	if _, err := d.Apply(b); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d bytes, %d characters, state vector %v, pending %d", len(b), d.Text("body").Len(), d.StateVector(), d.PendingMemory())
}

// rebuildLoadAttempt bounds one load of rebuildFromStream, and rebuildLoadBound all of them: a
// long log read right after servers returned, on a loaded machine, may take longer than one
// attempt (or meet a leader election) and succeed when tried again.
const (
	rebuildLoadAttempt = 20 * time.Second
	rebuildLoadBound   = 2 * time.Minute
)

// rebuildFromStream loads doc from the backend alone into a fresh replica. A failed load is
// tried again, within rebuildLoadBound: what the replica holds is what is asserted, not how fast
// it was read.
func rebuildFromStream(t *testing.T, b *jetstream.Backend, doc string) *crdt.Doc {
	t.Helper()
	docs := backend.NewDocs(b.Set(), nil)
	var (
		st       backend.State
		err      error
		attempts int
	)
	for deadline := time.Now().Add(rebuildLoadBound); ; {
		attempts++
		ctx, cancel := context.WithTimeout(context.Background(), min(rebuildLoadAttempt, time.Until(deadline)))
		st, err = docs.Load(ctx, doc)
		cancel()
		if err == nil {
			break
		}
		if errors.Is(err, backend.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("load %q from the stream (attempt %d, %v allowed in all): %v", doc, attempts, rebuildLoadBound, err)
		}
		t.Logf("load %q from the stream (attempt %d): %v; trying again", doc, attempts, err)
		time.Sleep(100 * time.Millisecond)
	}
	d, err := crdt.NewDoc(crdt.MaxClientID, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshot != nil {
		if _, err := d.Apply(st.Snapshot); err != nil {
			t.Fatalf("apply snapshot of %q: %v", doc, err)
		}
	}
	for _, e := range st.Entries {
		if _, err := d.Apply(e.Data); err != nil {
			t.Fatalf("apply entry %d of %q: %v", e.Seq, doc, err)
		}
	}
	return d
}

// testClusterBinding: a client ID bound to one subject by a hello on one node is refused
// (4403) to another subject on another node, and stays its first subject's on both.
func testClusterBinding(t *testing.T, nc *natstest.Cluster) {
	prefix := natstest.Prefix(t)
	sec := func(c *Config) { c.AuthSecret = secSecret }
	a := startNode(t, nc, prefix, "a", sec)
	b := startNode(t, nc, prefix, "b", sec)
	const doc = "bound"
	const id = 7001
	alice := (&testServer{Server: a.Server, base: "http://" + a.addr}).joinAs(t, doc, id, mint(t, "alice", doc, auth.RoleWrite, time.Hour))
	if err := alice.Insert("body", 0, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitAcked(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	tb := &testServer{Server: b.Server, base: "http://" + b.addr}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wstest.Dial(ctx, tb.base, doc, wstest.DialOptions{Header: bearer(mint(t, "mallory", doc, auth.RoleWrite, time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(id, nil, 0); err != nil {
		t.Fatal(err)
	}
	expectRefusal(t, c, protocol.CloseForbidden, "mallory's hello with alice's client id on node b")

	// alice herself is welcome on node b.
	again := tb.joinAs(t, doc, id, mint(t, "alice", doc, auth.RoleWrite, time.Hour))
	if got := again.Text("body"); got != "alice" {
		t.Fatalf("alice on node b sees %q; want \"alice\"", got)
	}
}

// testClusterHTTPEdits: HTTP edits to one document on two nodes are made under two distinct
// server client IDs, and both nodes converge on both.
func testClusterHTTPEdits(t *testing.T, nc *natstest.Cluster) {
	prefix := natstest.Prefix(t)
	nodes := []*testNode{startNode(t, nc, prefix, "a", nil), startNode(t, nc, prefix, "b", nil)}
	const doc = "http-two"
	for round := range 5 {
		for i, n := range nodes {
			body := fmt.Sprintf(`{"root":"body","edits":[{"index":0,"insert":"%c%d"}]}`, 'a'+i, round)
			if code, out := httpDo(t, http.MethodPost, "http://"+n.addr+"/v1/docs/"+doc+"/edits", "", []byte(body)); code != http.StatusOK {
				t.Fatalf("POST edits on node %s: %d %s", n.id, code, out)
			}
		}
	}
	var texts [2]string
	waitFor(t, 20*time.Second, "both nodes' texts equal", func() bool {
		for i, n := range nodes {
			texts[i] = (&testServer{Server: n.Server, base: "http://" + n.addr}).serverText(t, doc, "body")
		}
		return texts[0] == texts[1] && len(texts[0]) == 20
	})
	sv := rebuildFromStream(t, nodes[0].b, doc).StateVector()
	if len(sv) != 2 {
		t.Fatalf("state vector %v; want two server client IDs, one per node", sv)
	}
	for id, clock := range sv {
		if clock != 10 {
			t.Errorf("client %d wrote %d units; want 10 (5 edits of 2 characters)", id, clock)
		}
	}
}

// testClusterForeignEntries: messages that are not updates, written to a document's subject by
// something other than a node (anything with publish rights on it can), are skipped alike by the
// nodes that follow the log and by a node that loads it cold: all serve the same document, byte
// for byte, with every edit the nodes acknowledged; it stays writable; each node counts the skips
// and holds no delivery once it has read them. A few of them, a flood of small ones, and a few as
// large as an entry may be.
func testClusterForeignEntries(t *testing.T, nc *natstest.Cluster) {
	update := insertUpdate(t, 7, "never applied")
	rng := mrand.New(mrand.NewPCG(5, 8))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var flood [][]byte
	for i := range 2000 {
		switch i % 4 {
		case 0:
			flood = append(flood, nil)
		case 1:
			flood = append(flood, garbage(1+rng.IntN(256)))
		case 2:
			flood = append(flood, update[:1+rng.IntN(len(update)-1)]) // an update cut short
		default:
			flood = append(flood, append([]byte{1}, garbage(rng.IntN(64))...)) // an update's format byte, then garbage
		}
	}
	var large [][]byte
	for range 4 {
		large = append(large, garbage(1<<20-1024)) // under the servers' 1 MiB max_payload
	}
	// Valid updates whose units wait for one that never comes, past the nodes' pending limit
	// (foreignPendingLimit): the first ones wait on every node, the rest overflow it and are
	// skipped alike, by followers and by the cold load.
	waiting, err := crdt.NewDoc(99, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := waiting.Text("body").Insert(0, "withheld"); err != nil {
		t.Fatal(err)
	}
	_ = waiting.TakeUpdate() // never published: what the rest depends on
	var pending [][]byte
	for i := range 64 {
		if err := waiting.Text("body").Insert(i, strings.Repeat("p", 4<<10)); err != nil {
			t.Fatal(err)
		}
		pending = append(pending, waiting.TakeUpdate())
	}
	for _, tc := range []struct {
		name    string
		foreign [][]byte
		// waits: the entries are updates, some of which wait (the rest are skipped, as many on
		// every node); else none is an update and every one is skipped.
		waits bool
	}{
		{"few", [][]byte{nil, []byte("not an update"), update[:len(update)/2]}, false},
		{"flood", flood, false},
		{"large", large, false},
		{"pending past the limit", pending, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testForeignEntries(t, nc, update, tc.foreign, tc.waits, nil) })
	}
	// The nodes sign their entries (testEntryKey): a header that is not the entry's signature
	// does not make it a node's, and what waits past the limit is skipped all the same.
	for _, h := range []string{"1", strings.Repeat("0", 32)} {
		t.Run("pending past the limit, header "+h, func(t *testing.T) {
			testForeignEntries(t, nc, update, pending, true, nats.Header{jetstream.EntryHeader: []string{h}})
		})
	}
}

// foreignPendingLimit is the nodes' MaxPendingBytes in testForeignEntries.
const foreignPendingLimit = 64 << 10

// testForeignEntries is testClusterForeignEntries with the entries foreign written between the
// nodes' edits, with header (nil: none).
func testForeignEntries(t *testing.T, nc *natstest.Cluster, update []byte, foreign [][]byte, waits bool, header nats.Header) {
	prefix := natstest.Prefix(t)
	logs := map[string]*logBuffer{}
	logTo := func(id string) func(*Config) {
		logs[id] = &logBuffer{}
		return func(cfg *Config) {
			cfg.Logger = slog.New(slog.NewTextHandler(logs[id], nil))
			cfg.MaxPendingBytes = foreignPendingLimit
		}
	}
	a := startNode(t, nc, prefix, "a", logTo("a"))
	b := startNode(t, nc, prefix, "b", logTo("b"))
	const doc = "foreign"
	post := func(n *testNode, s string) { n.insertAtStart(t, doc, s) }
	epoch, js := followedOnTwo(t, a, b, doc)
	subject := a.b.Subject(doc, epoch)
	acks := make([]natsjs.PubAckFuture, 0, len(foreign))
	for _, data := range foreign {
		f, err := js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data, Header: header})
		if err != nil {
			t.Fatalf("publish a foreign entry: %v", err)
		}
		acks = append(acks, f)
	}
	for i, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("foreign entry %d: %v", i, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("foreign entry %d: no ack from JetStream", i)
		}
	}
	post(b, "two.")
	// Node a reads the foreign entries before it (with signed entries, from the stream: they are
	// not delivered), then "two.": "three." goes before it.
	waitFor(t, 30*time.Second, "node a to follow node b's edit", func() bool { return a.text(t, doc) == "two.one." })
	post(a, "three.")
	c := startNode(t, nc, prefix, "c", logTo("c")) // loads the document cold, foreign entries and all
	const want = "three.two.one."
	nodes := []*testNode{a, b, c}
	waitEveryNode(t, nodes, doc, want, func(s string) bool { return s == want })
	checkSameReplicas(t, nodes, doc)
	for _, n := range nodes {
		switch got, first := n.cluster.node.entriesSkipped.Value(), a.cluster.node.entriesSkipped.Value(); {
		case !waits && got != uint64(len(foreign)):
			t.Errorf("node %s skipped %d foreign entries; want %d", n.id, got, len(foreign))
		case waits && (got == 0 || got >= uint64(len(foreign)) || got != first):
			t.Errorf("node %s skipped %d of %d waiting entries (node a %d); want some, not all, as many on every node", n.id, got, len(foreign), first)
		}
		if held := n.cluster.node.held.Used(); held != 0 {
			t.Errorf("node %s holds %d bytes of deliveries; want 0", n.id, held)
		}
		// Logged, but not once per entry: one line per document per skipLogEvery.
		lines := strings.Count(logs[n.id].String(), "skipping it")
		if lines == 0 || lines > 5 {
			t.Errorf("node %s logged %d lines about the %d foreign entries; want 1 to 5", n.id, lines, len(foreign))
		}
	}
	post(c, "four.")
	waitEveryNode(t, nodes, doc, "the edit made after the load", func(s string) bool { return s == "four."+want })
}

// testClusterAcceptedPastLimit: nodes accept updates concurrently, each before it has seen the
// others', so that entries that their nodes accepted within the pending limit may, in the log's
// order, leave more waiting than the limit on the nodes that follow them. They take them all the
// same: skipped, an entry would be lost on every node but its own, for good, though acknowledged.
// Here entries of two nodes that had not seen each other's (appended as the nodes append, signed)
// hold units that wait, 40 KiB of each against the nodes' 64 KiB limit. Every node takes them;
// later updates that bring what they wait for, accepted by node a though what waits is past its
// limit, release them; and every replica, a cold load's included, is the same. With compact,
// node a compacts the document while what waits is past the limit (after an edit of its own,
// which adds nothing that waits and is taken), so that the cold load starts from a snapshot that
// holds it.
func testClusterAcceptedPastLimit(t *testing.T, nc *natstest.Cluster, compact bool) {
	prefix := natstest.Prefix(t)
	const limit = 64 << 10
	limited := func(cfg *Config) {
		cfg.MaxPendingBytes = limit
		if compact {
			cfg.CompactLogEntries = 1
		}
	}
	a := startNode(t, nc, prefix, "a", limited)
	b := startNode(t, nc, prefix, "b", limited)
	const doc = "past-limit"
	url := func(n *testNode, what string) string { return "http://" + n.addr + "/v1/docs/" + doc + "/" + what }
	if code, out := httpDo(t, http.MethodPost, url(a, "edits"), "", []byte(`{"root":"body","edits":[{"index":0,"insert":"one."}]}`)); code != http.StatusOK {
		t.Fatalf("POST edits: %d %s", code, out)
	}
	waitFor(t, 20*time.Second, "node b to follow the document", func() bool { return b.text(t, doc) == "one." })

	// chain returns the first update of a writer, withheld, and the ten of 4 KiB that wait for it.
	chain := func(client uint64, fill string) (first []byte, rest [][]byte) {
		w, err := crdt.NewDoc(client, crdt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Text("body").Insert(0, "<"); err != nil {
			t.Fatal(err)
		}
		first = w.TakeUpdate()
		for i := range 10 {
			if err := w.Text("body").Insert(1+i*4096, strings.Repeat(fill, 4096)); err != nil {
				t.Fatal(err)
			}
			rest = append(rest, w.TakeUpdate())
		}
		return first, rest
	}
	firstB, onB := chain(201, "b")
	firstX, onX := chain(202, "x")
	epoch, err := a.cluster.followEpoch(doc)
	if err != nil {
		t.Fatal(err)
	}
	var c *testNode // the node that loads the document cold
	for i, u := range append(onB, onX...) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := a.b.Set().Log.Append(ctx, doc, epoch, u) // as a node appends what it accepted
		cancel()
		if err != nil {
			t.Fatalf("append entry %d: %v", i, err)
		}
	}
	if compact {
		waitFor(t, 20*time.Second, "node a to follow what waits past the limit", func() bool { return a.pendingBytes(doc) > limit })
		before := a.metrics.compactions.Value()
		if code, out := httpDo(t, http.MethodPost, url(a, "edits"), "", []byte(`{"root":"body","edits":[{"index":0,"insert":"zero."}]}`)); code != http.StatusOK {
			t.Fatalf("POST edits past the limit: %d %s", code, out)
		}
		waitFor(t, 20*time.Second, "node a to compact", func() bool { return a.metrics.compactions.Value() > before })
		if got := a.pendingBytes(doc); got <= limit {
			t.Fatalf("node a holds %d bytes waiting after its compaction; want more than %d", got, limit)
		}
		c = startNode(t, nc, prefix, "c", limited) // loads the snapshot, what waits included
		if got := c.text(t, doc); !strings.HasPrefix(got, "zero.") {
			t.Fatalf("node c loads %.40q...; want the text from the compaction", got)
		}
		if got := c.pendingBytes(doc); got <= limit {
			t.Fatalf("node c loaded %d bytes waiting; want what node a holds, more than %d", got, limit)
		}
	}
	// What they wait for comes through node a: releasing, it is taken though what waits is past
	// the limit.
	for _, u := range [][]byte{firstB, firstX} {
		if code, out := httpDo(t, http.MethodPost, url(a, "update"), "", u); code != http.StatusOK {
			t.Fatalf("POST a first update to node a: %d %s", code, out)
		}
	}
	if c == nil {
		c = startNode(t, nc, prefix, "c", limited) // loads the document cold
	}
	nodes := []*testNode{a, b, c}
	waitEveryNode(t, nodes, doc, "both writers' text", func(s string) bool {
		return strings.Count(s, "b") == 10*4096 && strings.Count(s, "x") == 10*4096 && strings.Contains(s, "one.")
	})
	checkSameReplicas(t, nodes, doc)
	for _, n := range nodes {
		if got := n.cluster.node.entriesSkipped.Value(); got != 0 {
			t.Errorf("node %s skipped %d entries; want none", n.id, got)
		}
	}
}

// testClusterForgedDeliveries: something that can publish on the republishing subjects sends
// followers a delivery that the stream never stored, a valid update with the sequence that the
// next entry will have, unsigned or with the unsigned nodes' header. The nodes sign their
// entries, so it is skipped: no node applies it, none skips the entry that does get that
// sequence, and every replica, a cold load's included, is the same. The nodes that had the
// document open count the skipped deliveries and warn about them.
func testClusterForgedDeliveries(t *testing.T, nc *natstest.Cluster) {
	prefix := natstest.Prefix(t)
	logs := map[string]*logBuffer{"a": {}, "b": {}}
	logTo := func(id string) func(*Config) {
		return func(cfg *Config) { cfg.Logger = slog.New(slog.NewTextHandler(logs[id], nil)) }
	}
	a := startNode(t, nc, prefix, "a", logTo("a"))
	b := startNode(t, nc, prefix, "b", logTo("b"))
	const doc = "forged"
	epoch, js := followedOnTwo(t, a, b, doc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, prefix+"_updates")
	if err != nil {
		t.Fatal(err)
	}
	last := stream.CachedInfo().State.LastSeq
	injected := insertUpdate(t, 77, "injected.")
	// Sent through each following node's own connection, so that each has them whatever the
	// NATS servers have learnt of the others' subscriptions yet.
	for _, conn := range []*nats.Conn{a.nc, b.nc} {
		for _, mark := range []string{"", "1"} {
			h := nats.Header{}
			h.Set(nats.JSSequence, strconv.FormatUint(last+1, 10))
			h.Set(nats.JSLastSequence, strconv.FormatUint(last, 10))
			if mark != "" {
				h.Set(jetstream.EntryHeader, mark)
			}
			if err := conn.PublishMsg(&nats.Msg{Subject: a.b.RepublishSubject(doc, epoch), Data: injected, Header: h}); err != nil {
				t.Fatal(err)
			}
		}
		if err := conn.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	a.insertAtStart(t, doc, "two.")
	c := startNode(t, nc, prefix, "c", nil) // loads the document cold
	nodes := []*testNode{a, b, c}
	waitEveryNode(t, nodes, doc, "both edits", func(s string) bool { return s == "two.one." })
	checkSameReplicas(t, nodes, doc)
	for _, n := range []*testNode{a, b} {
		got := n.b.UnsignedDeliveries()
		if got < 2 {
			t.Errorf("node %s counted %d unsigned deliveries; want at least the 2 it was sent", n.id, got)
		}
		waitFor(t, 10*time.Second, "node "+n.id+" to warn about unsigned deliveries", func() bool {
			return strings.Contains(logs[n.id].String(), "without this node's signature")
		})
		code, body := httpDo(t, http.MethodGet, "http://"+n.addr+"/metrics", "", nil)
		var v uint64
		for l := range strings.Lines(string(body)) {
			if rest, ok := strings.CutPrefix(l, "tandem_cluster_deliveries_unsigned_total "); ok {
				v, _ = strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
			}
		}
		if code != http.StatusOK || v < got {
			t.Errorf("node %s's /metrics: %d, tandem_cluster_deliveries_unsigned_total %d; want at least %d", n.id, code, v, got)
		}
	}
}

// testClusterEntryKeysDiffer: two nodes sign their entries with different keys (a
// misconfiguration, or a change of key not made on every node yet). Each takes the other's live
// deliveries for unsigned and skips them, and reads what the stream holds at once: with the
// checks of the log's tail made rare, every edit still reaches the other node, and the replicas
// are the same. Both count what they skipped.
func testClusterEntryKeysDiffer(t *testing.T, nc *natstest.Cluster) {
	prefix := natstest.Prefix(t)
	a := startNode(t, nc, prefix, "a", nil)
	b := startNodeWith(t, nc, jetstream.Config{Prefix: prefix, EntryKey: []byte("another entry key, 32 bytes or more")}, "b", nil)
	nodes := []*testNode{a, b}
	for _, n := range nodes {
		n.cluster.node.tailCheckPeriod.Store(int64(time.Hour))
	}
	const doc = "keys"
	b.insertAtStart(t, doc, "b.")
	waitFor(t, 20*time.Second, "node a to load the document", func() bool { return a.text(t, doc) == "b." })
	a.insertAtStart(t, doc, "a.")
	waitEveryNode(t, nodes, doc, "node a's edit", func(s string) bool { return s == "a.b." })
	b.insertAtStart(t, doc, "c.")
	waitEveryNode(t, nodes, doc, "node b's edit", func(s string) bool { return s == "c.a.b." })
	checkSameReplicas(t, nodes, doc)
	for _, n := range nodes {
		if got := n.b.UnsignedDeliveries(); got == 0 {
			t.Errorf("node %s counted no unsigned deliveries; want the other node's", n.id)
		}
	}
}

// insertUpdate returns the update of a new replica under client that inserts s into root "body".
func insertUpdate(t *testing.T, client uint64, s string) []byte {
	t.Helper()
	d, err := crdt.NewDoc(client, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Text("body").Insert(0, s); err != nil {
		t.Fatal(err)
	}
	return d.EncodeUpdate(nil)
}

// testClusterReadyz: /readyz is 200 while JetStream answers, and 503 once the node lost NATS.
func testClusterReadyz(t *testing.T, nc *natstest.Cluster) {
	n := startNode(t, nc, natstest.Prefix(t), "r", nil)
	url := "http://" + n.addr + "/readyz"
	if code, body := httpDo(t, http.MethodGet, url, "", nil); code != http.StatusOK {
		t.Fatalf("GET /readyz: %d %s; want 200", code, body)
	}
	n.nc.Close()
	waitFor(t, 10*time.Second, "readyz 503", func() bool {
		code, _ := httpDo(t, http.MethodGet, url, "", nil)
		return code == http.StatusServiceUnavailable
	})
	var m strings.Builder
	if _, err := n.metrics.reg.WriteTo(&m); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tandem_cluster_publish_seconds", "tandem_cluster_gaps_repaired_total", "tandem_cluster_nodes", "tandem_cluster_ready 0"} {
		if !strings.Contains(m.String(), name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

// testClusterDeleteRace: editors type on node a while node b deletes the document. Every editor
// is closed with 4404. Nothing node a had in flight at the deletion brings the document back:
// once node a has shut down (its store waits for its writes), the document does not exist, and a
// node that looks it up afresh does not find it (appends in flight land in the deleted epoch's
// log, which nobody reads; a write that would have created the document anew finds it deleted).
// A write made after the deletion creates a new document, at the next epoch, holding none of the
// deleted one's content.
func testClusterDeleteRace(t *testing.T, nc *natstest.Cluster) {
	prefix := natstest.Prefix(t)
	a := startNode(t, nc, prefix, "a", nil)
	b := startNode(t, nc, prefix, "b", nil)
	const doc = "doomed"
	conns := make([]*client.Conn, 3)
	var wg sync.WaitGroup
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := client.Dial(ctx, "ws://"+a.addr, doc, client.Options{Reconnect: true, MinBackoff: 20 * time.Millisecond})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := c.Edit(func(d *crdt.Doc) error { return d.Text("body").Insert(0, "x") })
				if err != nil {
					return // closed: the document is gone
				}
				select {
				case <-c.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if code, body := httpDo(t, http.MethodDelete, "http://"+b.addr+"/v1/docs/"+doc, "", nil); code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("DELETE on node b: %d %s", code, body)
	}
	for i, c := range conns {
		select {
		case <-c.Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("editor %d still open 15 s after the deletion", i)
		}
		var ce *client.CloseError
		if err := c.Err(); !errors.As(err, &ce) || ce.Code != protocol.CloseDocumentDeleted {
			t.Errorf("editor %d ended with %v; want a close with %d", i, err, protocol.CloseDocumentDeleted)
		}
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatalf("node a's shutdown: %v", err)
	}
	docs := backend.NewDocs(b.b.Set(), nil)
	if m, ok, err := docs.Stat(ctx, doc); err != nil || ok {
		t.Fatalf("Stat after the deletion and node a's writes: %+v, exists %v, %v; want deleted", m, ok, err)
	}
	c := startNode(t, nc, prefix, "c", nil)
	if code, body := httpDo(t, http.MethodGet, "http://"+c.addr+"/v1/docs/"+doc, "", nil); code != http.StatusNotFound {
		t.Fatalf("GET on a fresh node after the deletion: %d %s; want 404", code, body)
	}

	edit := `{"root":"body","edits":[{"index":0,"insert":"new"}]}`
	if code, body := httpDo(t, http.MethodPost, "http://"+b.addr+"/v1/docs/"+doc+"/edits", "", []byte(edit)); code != http.StatusOK {
		t.Fatalf("POST edits on node b after the deletion: %d %s", code, body)
	}
	m, ok, err := docs.Stat(ctx, doc)
	if err != nil || !ok || m.Epoch != 2 {
		t.Fatalf("Stat after a new write: %+v, exists %v, %v; want the document at epoch 2", m, ok, err)
	}
	if got := rebuildFromStream(t, b.b, doc).Text("body").String(); got != "new" {
		t.Errorf("the document created after the deletion holds %q; want only \"new\"", got)
	}
}

func TestClusterConfigValidate(t *testing.T) {
	conn := new(nats.Conn) // never used: validation only looks at the fields
	b := new(jetstream.Backend)
	tests := []struct {
		name  string
		c     Cluster
		field string // "" when valid
	}{
		{"single node", Cluster{}, ""},
		{"node", Cluster{Conn: conn, Backend: b, NodeID: "node-1_a"}, ""},
		{"node id without conn", Cluster{NodeID: "a"}, "Cluster.Conn"},
		{"no backend", Cluster{Conn: conn, NodeID: "a"}, "Cluster.Backend"},
		{"no node id", Cluster{Conn: conn, Backend: b}, "Cluster.NodeID"},
		{"dotted node id", Cluster{Conn: conn, Backend: b, NodeID: "a.b"}, "Cluster.NodeID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.validate(Config{})
			if tt.field == "" {
				if err != nil {
					t.Fatalf("validate() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("validate() = %v; want an ErrInvalidConfig naming %s", err, tt.field)
			}
		})
	}
}
