package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/server/internal/wstest"
	"github.com/tandemhq/tandem/storage"
)

// testConfig returns a configuration for tests: a data file in a temporary directory and short
// timers where the default would slow a test down.
func testConfig(t testing.TB) Config {
	t.Helper()
	return Config{
		DataPath:          filepath.Join(t.TempDir(), "tandem.db"),
		Logger:            testLogger(t),
		PongWait:          5 * time.Second,
		WriteTimeout:      5 * time.Second,
		AwarenessInterval: 10 * time.Millisecond,
		IdleUnloadAfter:   time.Minute,
		ShutdownTimeout:   10 * time.Second,
		SaveRetryBackoff:  5 * time.Millisecond,
		StorageNoSync:     true,
	}
}

// testLogger logs to the test's output when TANDEM_TEST_LOG is set, and nowhere otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("TANDEM_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testServer is a server listening on 127.0.0.1 for one test.
type testServer struct {
	*Server
	base  string // http://127.0.0.1:port
	inner *storage.Store
	path  string
	done  chan error // Serve's result
}

// startServer starts a server with cfg (DataPath set), its store wrapped by wrap when not nil, and
// shuts it down when the test ends. listen, when not nil, wraps the listener.
func startServer(t testing.TB, cfg Config, wrap func(docStore) docStore) *testServer {
	t.Helper()
	return startServerListener(t, cfg, wrap, nil)
}

func startServerListener(t testing.TB, cfg Config, wrap func(docStore) docStore, listen func(net.Listener) net.Listener) *testServer {
	t.Helper()
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(cfg.DataPath, storage.Options{NoSync: cfg.StorageNoSync, LockTimeout: cfg.StorageLockTimeout})
	if err != nil {
		t.Fatal(err)
	}
	var ds docStore = st
	if wrap != nil {
		ds = wrap(st)
	}
	s, err := newServer(cfg, ds)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if listen != nil {
		l = listen(l)
	}
	ts := &testServer{Server: s, base: "http://" + l.Addr().String(), inner: st, path: cfg.DataPath, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case <-ts.done:
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return ts
}

// shutdown stops the server now and checks it went well.
func (ts *testServer) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// editor returns an editor joined to document docID.
func (ts *testServer) editor(t *testing.T, docID string, clientID uint64) *wstest.Editor {
	t.Helper()
	e, err := wstest.NewEditor(clientID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Join(context.Background(), ts.base, docID, wstest.DialOptions{}); err != nil {
		t.Fatalf("editor %d join %q: %v", clientID, docID, err)
	}
	t.Cleanup(func() { _ = e.Client.WS.Close() })
	return e
}

// dial returns a raw protocol client on document docID (no hello sent).
func (ts *testServer) dial(t *testing.T, docID string) *wstest.Client {
	t.Helper()
	c, _, err := wstest.Dial(context.Background(), ts.base, docID, wstest.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.WS.Close() })
	return c
}

// serverText reads a Text root of a document through GET /v1/docs/{id}.
func (ts *testServer) serverText(t *testing.T, docID, root string) string {
	t.Helper()
	var sum docSummary
	getJSON(t, ts.base+"/v1/docs/"+docID, http.StatusOK, &sum)
	return sum.Texts[root]
}

// reopen opens the data file of a stopped server and loads a document from it into a replica.
func reopenDoc(t *testing.T, path, docID string) *crdt.Doc {
	t.Helper()
	st, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	ds, ok, err := st.Load(docID)
	if err != nil || !ok {
		t.Fatalf("Load(%q) = %v, %v", docID, ok, err)
	}
	doc, _ := crdt.NewDoc(1, crdt.Config{})
	if len(ds.Snapshot) > 0 {
		if _, err := doc.Apply(ds.Snapshot); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range ds.Log {
		if _, err := doc.Apply(e.Data); err != nil {
			t.Fatal(err)
		}
	}
	return doc
}

// waitFor polls cond every millisecond until it holds or timeout passes. It is for states with no
// signal to wait on (a counter in another goroutine).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkGoroutines fails the test if, within a bounded wait, the goroutine count does not come
// back to at most before (plus slack for the runtime's own).
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d after, %d before\n%s", n, before, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gate holds callbacks while it is shut, and runs them in order when the test releases it. It
// starts shut.
type gate struct {
	mu     sync.Mutex
	open   bool
	held   []func()
	holdCh chan struct{} // gets a value for each held callback
}

func newGate() *gate { return &gate{holdCh: make(chan struct{}, 1024)} }

// pass runs f at once while the gate is open; while it is shut, it holds f and sends on holdCh.
func (g *gate) pass(f func()) {
	g.mu.Lock()
	if g.open {
		g.mu.Unlock()
		f()
		return
	}
	g.held = append(g.held, f)
	g.mu.Unlock()
	g.holdCh <- struct{}{}
}

// release opens the gate and calls the held callbacks in order.
func (g *gate) release() {
	g.mu.Lock()
	g.open = true
	held := g.held
	g.held = nil
	g.mu.Unlock()
	for _, f := range held {
		f()
	}
}

// shut shuts the gate again.
func (g *gate) shut() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
}

// gateStore wraps a store and holds every append's done callback until the test opens the gate,
// so that a test can see what happens before an update is durable.
type gateStore struct {
	docStore
	*gate
}

func newGateStore(inner docStore) *gateStore {
	return &gateStore{docStore: inner, gate: newGate()}
}

func (g *gateStore) Append(docID string, data []byte, done func(uint64, error)) {
	g.docStore.Append(docID, data, func(seq uint64, err error) {
		g.pass(func() { done(seq, err) })
	})
}

// faultStore wraps a store and fails appends and compactions while failing is set.
type faultStore struct {
	docStore
	mu      sync.Mutex
	failing bool
}

var errInjected = errors.New("injected storage failure")

func (f *faultStore) setFailing(v bool) {
	f.mu.Lock()
	f.failing = v
	f.mu.Unlock()
}

func (f *faultStore) isFailing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failing
}

func (f *faultStore) Append(docID string, data []byte, done func(uint64, error)) {
	if f.isFailing() {
		done(0, errInjected)
		return
	}
	f.docStore.Append(docID, data, done)
}

func (f *faultStore) CompactAsync(docID string, snap []byte, upto uint64, done func(error)) {
	if f.isFailing() {
		done(errInjected)
		return
	}
	f.docStore.CompactAsync(docID, snap, upto, done)
}

// inActor runs fn on the goroutine of document id's actor (which must be open) and waits for it.
func (ts *testServer) inActor(t *testing.T, id string, fn func(a *actor)) {
	t.Helper()
	a, err := ts.docs.get(id, false)
	if err != nil || a == nil {
		t.Fatalf("document %q is not open (%v)", id, err)
	}
	done := make(chan struct{})
	if err := a.post(t.Context(), funcMsg{fn: func(a *actor) { fn(a); close(done) }}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-a.done:
		t.Fatalf("actor of %q exited", id)
	}
}

// appendFaults wraps a store and fails the next failNext appends.
type appendFaults struct {
	docStore
	failNext atomic.Int32
}

func (f *appendFaults) Append(docID string, data []byte, done func(uint64, error)) {
	if f.failNext.Add(-1) >= 0 {
		done(0, errInjected)
		return
	}
	f.docStore.Append(docID, data, done)
}
