package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// TestClusterStoreBoundsAppendsInFlight: a cluster node hands JetStream at most
// maxAppendsInFlight appends at once, however many its actors make while the stream does not
// answer; the others wait for a slot, and every append is stored once the stream answers.
// Without the bound, each edit made during a quorum loss retried on its own, and once the quorum
// returned the stream was offered more attempts than it could store within their timeouts
// (TestCluster/QuorumLoss stalled on a loaded machine).
func TestClusterStoreBoundsAppendsInFlight(t *testing.T) {
	for _, appends := range []int{maxAppendsInFlight / 2, maxAppendsInFlight, 5 * maxAppendsInFlight} {
		t.Run(fmt.Sprint(appends), func(t *testing.T) {
			set := storagetest.NewMemory().Set()
			gate := &gatedLog{Log: set.Log, open: make(chan struct{})}
			set.Log = gate
			node := &clusterNode{log: slog.New(slog.DiscardHandler)}
			node.publishSecs = metrics.NewRegistry().NewHistogram("test_publish_seconds", "test", metrics.LatencyBuckets)
			cs := newClusterStoreOn(set, node)
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
			entries, err := set.Log.Read(context.Background(), doc, 1, 0, 0)
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
	set := storagetest.NewMemory().Set()
	gate := &gatedLog{Log: set.Log, open: make(chan struct{})}
	set.Log = gate
	node := &clusterNode{log: slog.New(slog.DiscardHandler)}
	node.publishSecs = metrics.NewRegistry().NewHistogram("test_publish_seconds", "test", metrics.LatencyBuckets)
	cs := newClusterStoreOn(set, node)

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
