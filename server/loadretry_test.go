package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/storage"
)

// flakyLoadStore is a memStore whose first fails loads fail (a negative fails: every load) after
// taking took each, and which counts the loads.
type flakyLoadStore struct {
	*memStore
	took  time.Duration
	mu    sync.Mutex
	fails int
	loads int
}

func (f *flakyLoadStore) Load(id string) (storage.DocState, bool, error) {
	f.mu.Lock()
	f.loads++
	fail := f.fails != 0
	if f.fails > 0 {
		f.fails--
	}
	f.mu.Unlock()
	if fail {
		time.Sleep(f.took)
		return storage.DocState{}, false, errInjected
	}
	return f.memStore.Load(id)
}

func (f *flakyLoadStore) loaded() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loads
}

// TestActorLoadRetry checks that a document whose load fails (storage unreachable for a
// while, as a cluster's NATS servers are during a leader election) loads again after a backoff
// while its joiners wait, and that they are synced once a load works; and that storage that
// fails for good has the joiners refused with 1011 once the retries are spent, is read a bounded
// number of times, and lets the document end after the short grace rather than the idle grace,
// so that the next join starts a fresh load.
func TestActorLoadRetry(t *testing.T) {
	// The waits between loads: 100 ms doubling to 2 s while they add up to 8 s at most
	// (0.1+0.2+0.4+0.8+1.6+2+2 = 7.1 s), so 8 loads at most.
	const maxLoads = 8
	for _, tc := range []struct {
		name      string
		fails     int
		took      time.Duration // each failed load
		wantLoads int
		wantErr   error
	}{
		{"first load works", 0, 0, 1, nil},
		{"fails three times", 3, 0, 4, nil},
		{"fails until the last try", maxLoads - 1, 0, maxLoads, nil},
		{"fails for good", -1, 0, maxLoads, errLoadFailed},
		// Loads that wait 3 s for their deadline count: 3+0.1+3+0.2+3 s passes 8 s.
		{"fails slowly for good", -1, 3 * time.Second, 3, errLoadFailed},
		{"fails slowly twice", 2, 3 * time.Second, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &flakyLoadStore{memStore: newMemStore(), took: tc.took, fails: tc.fails}
				s := newActorTestServer(t, Config{IdleUnloadAfter: 30 * time.Second}, st)
				conns := make([]*conn, 3)
				errs := make([]error, len(conns))
				var wg sync.WaitGroup
				for i := range conns {
					c := newConn(s, nil, "flaky", anonymous)
					c.clientID = uint64(10 + i)
					conns[i] = c
					wg.Go(func() {
						_, errs[i] = s.docs.join(context.Background(), c, &protocol.Hello{Version: protocol.Version, ClientID: c.clientID})
					})
				}
				wg.Wait()
				for i, c := range conns {
					if !errors.Is(errs[i], tc.wantErr) {
						t.Fatalf("join %d: %v; want %v", i, errs[i], tc.wantErr)
					}
					got := queued(t, c)
					if tc.wantErr != nil {
						if len(got) != 0 {
							t.Errorf("join %d: the refused connection got %v", i, got)
						}
						continue
					}
					if len(got) == 0 {
						t.Fatalf("join %d: got nothing; want the sync answer", i)
					}
					if _, ok := got[0].(*protocol.Sync); !ok {
						t.Errorf("join %d: got %T first; want the sync answer", i, got[0])
					}
				}
				if got := st.loaded(); got != tc.wantLoads {
					t.Errorf("loads = %d; want %d", got, tc.wantLoads)
				}
				if tc.wantErr != nil {
					// The refusing document ends after the short grace, not the idle grace, and
					// reads storage no more until the next join.
					time.Sleep(loadFailedGrace)
					synctest.Wait()
					if s.docs.open() != 0 {
						t.Errorf("the document refusing joins is still open %v after its last load", loadFailedGrace)
					}
					time.Sleep(time.Minute)
					synctest.Wait()
					if got := st.loaded(); got != tc.wantLoads {
						t.Errorf("loads a minute later = %d; want %d", got, tc.wantLoads)
					}
					if got := s.metrics.loadFailures.Value(); got != 1 {
						t.Errorf("load failures = %d; want 1 (one document refused)", got)
					}
				}
				for _, c := range conns {
					if tc.wantErr == nil {
						if a, _ := s.docs.get("flaky", false); a != nil {
							a.leave(c)
						}
					}
				}
				stopDocs(t, s)
			})
		})
	}
}

// TestStopDuringLoadRetry checks that a server shutting down while a document waits to load again
// (its storage failing) stops it at once rather than after the retries left (up to 8 s): the
// joiner is refused, storage is read no more, and stopAll returns within its second.
func TestStopDuringLoadRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &flakyLoadStore{memStore: newMemStore(), fails: -1}
		s := newActorTestServer(t, Config{IdleUnloadAfter: 30 * time.Second}, st)
		c := newConn(s, nil, "flaky", anonymous)
		c.clientID = 10
		var joinErr error
		joined := make(chan struct{})
		go func() {
			defer close(joined)
			_, joinErr = s.docs.join(context.Background(), c, &protocol.Hello{Version: protocol.Version, ClientID: c.clientID})
		}()
		synctest.Wait() // the first load failed: the document waits to load again, taking no message
		if got := st.loaded(); got != 1 {
			t.Fatalf("loads before the stop = %d; want 1", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.docs.stopAll(ctx); err != nil {
			t.Fatalf("stopAll: %v; want the waiting document stopped at once", err)
		}
		<-joined
		if joinErr == nil {
			t.Error("the join waiting for the load succeeded; want it refused")
		}
		if got := st.loaded(); got != 1 {
			t.Errorf("loads = %d; want 1 (none after the stop)", got)
		}
	})
}
