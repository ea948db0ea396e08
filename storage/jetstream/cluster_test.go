package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
	"github.com/tandemhq/tandem/storage/storagetest"
)

// TestConformance runs the suite on R3 with three backends, each connected to a different server
// as three nodes would be; the race subtests give each actor the next one.
func TestConformance(t *testing.T) {
	prefix := natstest.Prefix(t)
	var nodes []*Backend
	for i := range cluster.Len() {
		_, js := connect(t, cluster.URL(i))
		nodes = append(nodes, openBackend(t, js, prefix))
	}
	var next atomic.Int64
	storagetest.Run(t, func(*testing.T) backend.Set {
		return nodes[int(next.Add(1))%len(nodes)].Set()
	}, 30*time.Second)
}

func TestServersSyncAlways(t *testing.T) {
	for i := range cluster.Len() {
		s := cluster.Server(i)
		if s == nil {
			t.Fatalf("server %d is not running", i)
		}
		if cfg := s.JetStreamConfig(); cfg == nil || !cfg.SyncAlways {
			t.Errorf("server %s: JetStream config %+v; want SyncAlways", s.Name(), cfg)
		}
	}
}

func TestOpenIsIdempotent(t *testing.T) {
	_, js := connect(t)
	prefix := natstest.Prefix(t)
	b := openBackend(t, js, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seq, err := (*Log)(b).Append(ctx, "d", 1, []byte("x"))
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	again := openBackend(t, js, prefix)
	got, err := (*Log)(again).Read(ctx, "d", 1, 0, 0)
	if err != nil || len(got) != 1 || got[0].Seq != seq {
		t.Fatalf("Read after a second Open = %v, %v; want the entry at %d", got, err, seq)
	}
	for _, name := range []string{prefix + "_updates", "KV_" + prefix + "_meta", "OBJ_" + prefix + "_snapshots"} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("Stream(%s): %v", name, err)
		}
		if cfg := s.CachedInfo().Config; cfg.AllowDirect || cfg.Replicas != 3 {
			t.Errorf("stream %s: AllowDirect %t, Replicas %d; want false, 3", name, cfg.AllowDirect, cfg.Replicas)
		}
	}
}

// TestOpenConcurrently opens one fresh prefix from three nodes at once, as nodes starting together
// do: all succeed, and the streams end with direct gets off.
func TestOpenConcurrently(t *testing.T) {
	prefix := natstest.Prefix(t)
	var wg sync.WaitGroup
	for i := range cluster.Len() {
		_, js := connect(t, cluster.URL(i))
		wg.Go(func() { openBackend(t, js, prefix) })
	}
	wg.Wait()
	_, js := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{prefix + "_updates", "KV_" + prefix + "_meta", "OBJ_" + prefix + "_snapshots"} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("Stream(%s): %v", name, err)
		}
		if s.CachedInfo().Config.AllowDirect {
			t.Errorf("stream %s: direct gets on; want off", name)
		}
	}
}

func TestOpenRejectsBadPrefix(t *testing.T) {
	_, js := connect(t)
	for _, p := range []string{"a.b", "a b", "a>", "*"} {
		if _, err := Open(context.Background(), js, Config{Prefix: p}); err == nil {
			t.Errorf("Open(prefix %q): nil error; want one", p)
		}
	}
}

// streamLeader returns the index of the server leading the backend's update stream.
func streamLeader(t *testing.T, b *Backend) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := b.stream.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %v", err)
	}
	for i := range cluster.Len() {
		if s := cluster.Server(i); s != nil && s.Name() == info.Cluster.Leader {
			return i
		}
	}
	t.Fatalf("stream leader %q is not a running server", info.Cluster.Leader)
	return -1
}

// checkLog reads the whole log and checks that it holds exactly want, in order.
func checkLog(t *testing.T, b *Backend, doc string, want []backend.Entry) {
	t.Helper()
	got := readRetry(t, (*Log)(b), doc, 1)
	if !slices.EqualFunc(got, want, func(a, b backend.Entry) bool { return a.Seq == b.Seq && bytes.Equal(a.Data, b.Data) }) {
		t.Fatalf("log = %d entries %v; want the %d acknowledged ones %v", len(got), seqs(got), len(want), seqs(want))
	}
}

// waitReplicasAgree waits until every server holds the same number of messages and the same last
// sequence of the stream: the replicas converged.
func waitReplicasAgree(t *testing.T, stream string) {
	t.Helper()
	var states []string
	for range 300 {
		states = states[:0]
		for i := range cluster.Len() {
			msgs, last, ok := cluster.StreamState(i, stream)
			states = append(states, fmt.Sprintf("%d msgs, last %d, %t", msgs, last, ok))
		}
		if len(slices.Compact(slices.Clone(states))) == 1 && strings.HasSuffix(states[0], "true") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("replicas of %s do not agree: %q", stream, states)
}

// TestAppendWhileOneServerDown stops the stream's leader: appends go on being acknowledged (after
// a leader election), and once the server is back every replica holds every acknowledged entry.
func TestAppendWhileOneServerDown(t *testing.T) {
	restoreCluster(t)
	_, js := connect(t)
	b := openBackend(t, js, natstest.Prefix(t))
	l := (*Log)(b)
	var acked []backend.Entry
	add := func(n int) (failed int) {
		for range n {
			data := fmt.Appendf(nil, "e%d", len(acked))
			seq, f := appendRetry(t, l, "doc", 1, data)
			failed += f
			acked = append(acked, backend.Entry{Seq: seq, Data: data})
		}
		return failed
	}
	add(20)
	leader := streamLeader(t, b)
	cluster.Stop(leader)
	failed := add(40)
	t.Logf("with server %d (the stream leader) stopped: 40 appends acknowledged after %d failed attempts", leader, failed)
	checkLog(t, b, "doc", acked)
	restartAll(t)
	add(20)
	checkLog(t, b, "doc", acked)
	waitReplicasAgree(t, b.stream.CachedInfo().Config.Name)
}

// TestQuorumLoss stops two of three servers: no append is acknowledged, each fails within its
// context; once the servers are back, appends are acknowledged again and the replicas agree.
func TestQuorumLoss(t *testing.T) {
	restoreCluster(t)
	_, js := connect(t)
	b := openBackend(t, js, natstest.Prefix(t))
	l := (*Log)(b)
	var acked []backend.Entry
	for i := range 10 {
		data := fmt.Appendf(nil, "before%d", i)
		seq, _ := appendRetry(t, l, "doc", 1, data)
		acked = append(acked, backend.Entry{Seq: seq, Data: data})
	}
	keep := streamLeader(t, b)
	for i := range cluster.Len() {
		if i != keep {
			cluster.Stop(i)
		}
	}
	var unacked [][]byte
	for i := range 3 {
		data := fmt.Appendf(nil, "during%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		seq, err := l.Append(ctx, "doc", 1, data)
		cancel()
		if err == nil {
			t.Fatalf("Append with two of three servers stopped = %d, nil error; want no acknowledgement", seq)
		}
		t.Logf("append without quorum: %v", err)
		unacked = append(unacked, data)
	}
	restartAll(t)
	// The node's client resends what was not acknowledged, as tandem's clients do on reconnect.
	for _, data := range unacked {
		seq, _ := appendRetry(t, l, "doc", 1, data)
		acked = append(acked, backend.Entry{Seq: seq, Data: data})
	}
	// An unacknowledged append may still have been stored (indeterminate); what must hold is that
	// every acknowledged entry is there, in order, each once.
	got := readRetry(t, l, "doc", 1)
	seen := map[string]uint64{}
	for _, e := range got {
		if prev, dup := seen[string(e.Data)]; dup {
			t.Errorf("entry %q stored twice, at %d and %d", e.Data, prev, e.Seq)
		}
		seen[string(e.Data)] = e.Seq
	}
	for _, e := range acked {
		if seen[string(e.Data)] != e.Seq {
			t.Errorf("acknowledged entry %q at %d: in the log at %d", e.Data, e.Seq, seen[string(e.Data)])
		}
	}
	waitReplicasAgree(t, b.stream.CachedInfo().Config.Name)
}

// TestFollowConverges runs followers on connections to different servers while several writers
// append to one document and a hook drops every seventh live delivery: with their repair reads,
// the followers apply exactly the log, in order.
func TestFollowConverges(t *testing.T) {
	_, js := connect(t)
	b := openBackend(t, js, natstest.Prefix(t))
	l := (*Log)(b)
	const doc, writers, each = "doc.with.dots", 3, 30

	type node struct {
		mu      sync.Mutex
		f       *Follower
		applied []backend.Entry
		dropped int
		n       int
	}
	repair := func(nd *node, s Steps) {
		// Called with nd.mu held; the owner (an actor) would read outside its loop and post the
		// result back, which changes nothing here.
		for s.Repair || len(s.Apply) > 0 {
			nd.applied = append(nd.applied, s.Apply...)
			if !s.Repair {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			entries, err := l.Read(ctx, doc, 1, s.RepairFrom, s.RepairTo)
			cancel()
			if err != nil {
				t.Errorf("repair read: %v", err)
				return
			}
			s = nd.f.Repaired(entries)
		}
	}
	nodes := make([]*node, cluster.Len())
	for i := range nodes {
		nd := &node{f: NewFollower(0, 0, nil)}
		nodes[i] = nd
		nc, _ := connect(t, cluster.URL(i))
		sub, err := b.Follow(nc, doc, 1, func(d Delivery) {
			nd.mu.Lock()
			defer nd.mu.Unlock()
			nd.n++
			if nd.n%7 == 0 {
				nd.dropped++
				return
			}
			repair(nd, nd.f.Deliver(d))
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() })
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				appendRetry(t, l, doc, 1, fmt.Appendf(nil, "w%d-%d", w, i))
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want, err := l.Read(ctx, doc, 1, 0, 0)
	if err != nil || len(want) != writers*each {
		t.Fatalf("Read = %d entries, %v; want %d", len(want), err, writers*each)
	}
	for i, nd := range nodes {
		// The owner's periodic catch-up: a read from the cursor heals a loss no later delivery
		// revealed (the last deliveries may be the dropped ones).
		nd.mu.Lock()
		entries, err := l.Read(ctx, doc, 1, nd.f.Last()+1, 0)
		if err != nil {
			t.Fatal(err)
		}
		repair(nd, nd.f.Repaired(entries))
		if !slices.EqualFunc(nd.applied, want, func(a, b backend.Entry) bool { return a.Seq == b.Seq && bytes.Equal(a.Data, b.Data) }) {
			t.Errorf("follower on server %d applied %v; want the log %v", i, seqs(nd.applied), seqs(want))
		}
		t.Logf("follower on server %d: %d deliveries, %d dropped, %d still held", i, nd.n, nd.dropped, nd.f.Held())
		nd.mu.Unlock()
	}
}
