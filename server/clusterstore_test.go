package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/server/internal/metrics"
	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/storagetest"
)

// gatedLog is a backend log whose appends wait until the test opens the gate, and which
// records how many were in flight at most.
type gatedLog struct {
	backend.Log
	open chan struct{}

	mu       sync.Mutex
	inFlight int
	most     int
}

func (l *gatedLog) Append(ctx context.Context, doc string, epoch uint64, data []byte) (uint64, error) {
	l.mu.Lock()
	l.inFlight++
	l.most = max(l.most, l.inFlight)
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.inFlight--
		l.mu.Unlock()
	}()
	select {
	case <-l.open:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return l.Log.Append(ctx, doc, epoch, data)
}

// gatedClusterStore returns a cluster node's store over a memory backend whose log appends wait
// for the gate, on a node with no goroutines of its own.
func gatedClusterStore() (*clusterStore, *gatedLog) {
	set := storagetest.NewMemory().Set()
	gate := &gatedLog{Log: set.Log, open: make(chan struct{})}
	set.Log = gate
	node := &clusterNode{log: slog.New(slog.DiscardHandler)}
	node.publishSecs = metrics.NewRegistry().NewHistogram("test_publish_seconds", "test", metrics.LatencyBuckets)
	return newClusterStoreOn(set, node), gate
}

// TestClusterStoreBoundsAppendsInFlight: a cluster node hands JetStream at most
// maxAppendsInFlight appends at once, however many its actors make while the stream does not
// answer; the others wait for a slot, and every append is stored once the stream answers.
// Without the bound, each edit made during a quorum loss retried on its own, and once the quorum
// returned the stream was offered more attempts than it could store within their timeouts
// (TestCluster/QuorumLoss stalled on a loaded machine).
func TestClusterStoreBoundsAppendsInFlight(t *testing.T) {
	for _, appends := range []int{maxAppendsInFlight / 2, maxAppendsInFlight, 5 * maxAppendsInFlight} {
		t.Run(fmt.Sprint(appends), func(t *testing.T) {
			cs, gate := gatedClusterStore()
			t.Cleanup(func() { cs.stop(); _ = cs.contractStore.Close() }) // no node goroutine to stop

			const doc = "bounded"
			var wg sync.WaitGroup
			errs := make(chan error, appends)
			for i := range appends {
				wg.Add(1)
				cs.Append(doc, fmt.Appendf(nil, "update %d", i), func(_ uint64, err error) {
					defer wg.Done()
					if err != nil {
						errs <- err
					}
				})
			}
			want := min(appends, maxAppendsInFlight)
			waitFor(t, 10*time.Second, fmt.Sprintf("%d appends in flight", want), func() bool {
				gate.mu.Lock()
				defer gate.mu.Unlock()
				return gate.inFlight >= want
			})
			close(gate.open)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("append: %v", err)
			}
			if gate.most > maxAppendsInFlight {
				t.Errorf("%d appends in flight at once; want at most %d", gate.most, maxAppendsInFlight)
			}
			entries, err := gate.Read(context.Background(), doc, 1, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != appends {
				t.Errorf("%d entries stored; want %d", len(entries), appends)
			}
		})
	}
}

// TestClusterStoreCloseFailsWaitingAppends: when a cluster node's store closes while JetStream
// does not answer, the appends still waiting for a slot fail at once (not acknowledged) rather
// than each making its attempt in turn, which Close would wait for.
func TestClusterStoreCloseFailsWaitingAppends(t *testing.T) {
	cs, gate := gatedClusterStore()

	const appends = 3 * maxAppendsInFlight
	var mu sync.Mutex
	var stored, shut, other int
	var wg sync.WaitGroup
	for i := range appends {
		wg.Add(1)
		cs.Append("closing", fmt.Appendf(nil, "update %d", i), func(_ uint64, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				stored++
			case errors.Is(err, ErrShuttingDown):
				shut++
			default:
				other++
				t.Errorf("append: %v", err)
			}
		})
	}
	waitFor(t, 10*time.Second, "the slots taken", func() bool {
		gate.mu.Lock()
		defer gate.mu.Unlock()
		return gate.inFlight >= maxAppendsInFlight
	})
	cs.stop() // what Close does first
	waitFor(t, 10*time.Second, "the waiting appends failed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return shut == appends-maxAppendsInFlight
	})
	close(gate.open) // the attempts in flight end
	wg.Wait()
	if err := cs.contractStore.Close(); err != nil {
		t.Fatal(err)
	}
	if stored != maxAppendsInFlight || shut != appends-maxAppendsInFlight {
		t.Errorf("%d stored, %d failed as shutting down, %d otherwise; want %d, %d, 0", stored, shut, other, maxAppendsInFlight, appends-maxAppendsInFlight)
	}
}

// heldMeta is a backend metadata store whose writes of the keys under prefix wait until the
// test opens the gate.
type heldMeta struct {
	backend.Meta
	prefix string
	open   chan struct{}
}

func (m *heldMeta) hold(key string) {
	if strings.HasPrefix(key, m.prefix) {
		<-m.open
	}
}

func (m *heldMeta) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	m.hold(key)
	return m.Meta.Create(ctx, key, value)
}

func (m *heldMeta) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	m.hold(key)
	return m.Meta.Update(ctx, key, value, rev)
}

// failOnceLog is a backend log whose first append, once the test set the gate, waits until the
// test opens it, and then fails without storing anything.
type failOnceLog struct {
	backend.Log
	open chan struct{}
	once sync.Once
}

func (l *failOnceLog) Append(ctx context.Context, doc string, epoch uint64, data []byte) (uint64, error) {
	failed := false
	l.once.Do(func() {
		if l.open == nil {
			return
		}
		<-l.open
		failed = true
	})
	if failed {
		return 0, errors.New("test: the stream did not answer")
	}
	return l.Log.Append(ctx, doc, epoch, data)
}

// TestClusterStoreWritesAfterDeletion: a write that a node's actor handed over before another
// node deleted the document, and that reaches the backend only after the actor closed (the
// deletion's notice made it exit, and the store forgot the document), never brings the
// document back: it lands in the deleted epoch, or fails. TestCluster/DeleteRace found the
// document alive again after the deletion in about one run in seven: such an append, waiting
// for a metadata write or retried, looked the document up afresh, found its tombstone and
// created it again at the next epoch.
func TestClusterStoreWritesAfterDeletion(t *testing.T) {
	const doc = "doomed"
	tests := []struct {
		name string
		// existing: the document exists when the node loads it (else another node creates it
		// after the load, before the deletion).
		existing bool
		// closed: the actor closes (the store forgets the document) before the writes reach the
		// backend; else they do while it is still open, before it learnt of the deletion.
		closed bool
		// hand hands the store its writes, and returns a function that lets them reach the
		// backend; done is called once per write with its result.
		hand func(cs *clusterStore, meta *heldMeta, log *failOnceLog, done func(error)) (writes int, release func())
	}{
		{"append waiting for a metadata write", true, true, func(cs *clusterStore, meta *heldMeta, _ *failOnceLog, done func(error)) (int, func()) {
			cs.PutDocMetaAsync(doc, "first", []byte("1"), done)
			cs.Append(doc, []byte("late"), func(_ uint64, err error) { done(err) })
			return 2, func() { close(meta.open) }
		}},
		{"metadata write waiting for another", true, true, func(cs *clusterStore, meta *heldMeta, _ *failOnceLog, done func(error)) (int, func()) {
			cs.PutDocMetaAsync(doc, "first", []byte("1"), done)
			cs.PutDocMetaAsync(doc, clientBindingsKey, (&clientBindings{bound: map[uint64]string{77: "alice"}}).encode(), done)
			return 2, func() { close(meta.open) }
		}},
		{"append retried", true, true, func(cs *clusterStore, _ *heldMeta, log *failOnceLog, done func(error)) (int, func()) {
			log.open = make(chan struct{})
			cs.Append(doc, []byte("late"), func(_ uint64, err error) { done(err) })
			return 1, func() { close(log.open) }
		}},
		{"first append of a document created and deleted elsewhere", false, false, func(cs *clusterStore, _ *heldMeta, _ *failOnceLog, done func(error)) (int, func()) {
			return 1, func() { cs.Append(doc, []byte("late"), func(_ uint64, err error) { done(err) }) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			mem := storagetest.NewMemory()
			other := backend.NewDocs(mem.Set(), nil) // another node
			if tt.existing {
				if _, err := other.Open(ctx, doc); err != nil {
					t.Fatal(err)
				}
			}
			set := mem.Set()
			meta := &heldMeta{Meta: set.Meta, prefix: "dmeta.", open: make(chan struct{})}
			log := &failOnceLog{Log: set.Log}
			set.Meta, set.Log = meta, log
			node := &clusterNode{log: slog.New(slog.DiscardHandler)}
			node.publishSecs = metrics.NewRegistry().NewHistogram("test_publish_seconds", "test", metrics.LatencyBuckets)
			cs := newClusterStoreOn(set, node)
			t.Cleanup(func() { cs.stop(); _ = cs.contractStore.Close() })

			// The node's actor loads the document and follows its epoch.
			if _, ok, err := cs.Load(doc); err != nil || ok != tt.existing {
				t.Fatalf("Load = %t, %v; want %t", ok, err, tt.existing)
			}
			if epoch, err := cs.followEpoch(doc); err != nil || epoch != 1 {
				t.Fatalf("followEpoch = %d, %v; want 1", epoch, err)
			}
			if !tt.existing {
				if _, err := other.Open(ctx, doc); err != nil {
					t.Fatal(err)
				}
			}
			results := make(chan error, 4)
			writes, release := tt.hand(cs, meta, log, func(err error) { results <- err })

			// Another node deletes it; its notice closes the actor, which makes the store forget it.
			if err := other.Delete(ctx, doc); err != nil {
				t.Fatal(err)
			}
			if tt.closed {
				cs.Forget(doc)
			}
			release()
			for range writes {
				select {
				case err := <-results:
					if err != nil && !errors.Is(err, backend.ErrDeleted) {
						t.Errorf("write: %v; want success (in the deleted epoch) or ErrDeleted", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a write did not end in 10 s")
				}
			}
			if m, ok, err := other.Stat(ctx, doc); err != nil || ok {
				t.Fatalf("Stat after the writes = %+v, %t, %v; want the document deleted", m, ok, err)
			}
		})
	}
}

// failingMeta fails every Get of key.
type failingMeta struct {
	backend.Meta
	key string
}

func (m failingMeta) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if key == m.key {
		return nil, 0, errors.New("test: the bucket did not answer")
	}
	return m.Meta.Get(ctx, key)
}

// TestGetAll: a load's metadata values read concurrently are those of the keys asked, without
// the keys deleted meanwhile; a failed read fails the whole.
func TestGetAll(t *testing.T) {
	ctx := context.Background()
	meta := storagetest.NewMemory().Set().Meta
	want := map[string][]byte{}
	var keys []string
	for i := range 3 * metaReads {
		k := fmt.Sprintf("dmeta.k.%d", i)
		keys = append(keys, k)
		if i%5 == 4 {
			continue // deleted meanwhile: listed, but without a value
		}
		want[k] = fmt.Appendf(nil, "v%d", i)
		if _, err := meta.Create(ctx, k, want[k]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := getAll(ctx, meta, keys)
	if err != nil || len(got) != len(want) {
		t.Fatalf("getAll = %d values, %v; want %d", len(got), err, len(want))
	}
	for k, v := range want {
		if string(got[k]) != string(v) {
			t.Errorf("getAll[%s] = %q; want %q", k, got[k], v)
		}
	}
	if _, err := getAll(ctx, failingMeta{Meta: meta, key: keys[7]}, keys); err == nil || !strings.Contains(err.Error(), keys[7]) {
		t.Errorf("getAll with %s failing = %v; want an error naming it", keys[7], err)
	}
}
