package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// TestAppendSurvivesLostConnection connects a writer to one follower of the update stream (the
// others listed for reconnecting) and stops that server while many appends are in flight: an
// append whose acknowledgement was lost with the connection is published again on the next one
// (its message ID makes the second publish a duplicate), so every append is acknowledged within
// its context, long as it is, and each is in the log once.
func TestAppendSurvivesLostConnection(t *testing.T) {
	restoreCluster(t)
	_, js := connect(t)
	b := openBackend(t, js, natstest.Prefix(t))
	leader := streamLeader(t, b)
	follower := (leader + 1) % cluster.Len()
	urls := []string{cluster.URL(follower)}
	for i := range cluster.Len() {
		if i != follower {
			urls = append(urls, cluster.URL(i))
		}
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats.Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	wjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	w := openBackend(t, wjs, b.prefix)
	l := (*Log)(w)
	if got := nc.ConnectedUrl(); got != cluster.URL(follower) {
		t.Fatalf("writer connected to %s; want the follower %s", got, cluster.URL(follower))
	}

	const writers = 32
	var (
		mu      sync.Mutex
		acked   = map[string]uint64{}
		failed  []error
		slowest time.Duration
	)
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopped:
					if i > 0 {
						return
					}
				default:
				}
				data := fmt.Appendf(nil, "w%d-%d", g, i)
				// Far longer than a reconnection and a leader's answer; an append that waits
				// it out lost its acknowledgement and was not published again.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				start := time.Now()
				seq, err := l.Append(ctx, "doc", 1, data)
				took := time.Since(start)
				cancel()
				mu.Lock()
				slowest = max(slowest, took)
				if err != nil {
					failed = append(failed, err)
				} else {
					acked[string(data)] = seq
				}
				mu.Unlock()
			}
		})
	}
	// Let the writers get going, then stop the writer's server under them.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 4*writers {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cluster.Stop(follower)
	close(stopped)
	wg.Wait()
	t.Logf("%d appends acknowledged, the slowest after %v; %d failed", len(acked), slowest, len(failed))
	for _, err := range failed {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("append lost with the connection: %v", err)
		} else {
			t.Errorf("append: %v", err)
		}
	}
	got := readRetry(t, (*Log)(b), "doc", 1)
	seen := map[string]uint64{}
	for _, e := range got {
		if prev, dup := seen[string(e.Data)]; dup {
			t.Errorf("entry %q stored twice, at %d and %d", e.Data, prev, e.Seq)
		}
		seen[string(e.Data)] = e.Seq
	}
	var missing []string
	for data, seq := range acked {
		if seen[data] != seq {
			missing = append(missing, fmt.Sprintf("%s@%d (log: %d)", data, seq, seen[data]))
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("acknowledged entries not in the log where acknowledged: %v", missing)
	}
}
