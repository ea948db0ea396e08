package server

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemhq/tandem/storage"
	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream"
	"github.com/tandemhq/tandem/storage/storagetest"
)

// startContractServer starts a server over the storage contract set (Config.Storage, no data
// file) and shuts it down when the test ends, or when stop is called.
func startContractServer(t *testing.T, set backend.Set, edit func(*Config)) (ts *testServer, stop func()) {
	t.Helper()
	cfg := testConfig(t)
	cfg.DataPath = ""
	cfg.Storage = set
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
	ts = &testServer{Server: s, base: "http://" + l.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(context.Background(), l) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-ts.done
	}
	t.Cleanup(stop)
	return ts, stop
}

// contractBackends are the storage contract's backends a server is tested over: the bbolt file's
// own (storage.Store.Contract), the conformance suite's in-memory one and, unless -short,
// JetStream on a one-server in-process NATS.
func contractBackends(t *testing.T) map[string]backend.Set {
	st, err := storage.Open(filepath.Join(t.TempDir(), "contract.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sets := map[string]backend.Set{
		"bbolt":  st.Contract(),
		"memory": storagetest.NewMemory().Set(),
	}
	if !testing.Short() {
		sets["jetstream"] = jetStreamSet(t)
	}
	return sets
}

// jetStreamSet starts a one-server NATS with JetStream for the test and opens the JetStream
// backend on it, with one replica.
func jetStreamSet(t *testing.T) backend.Set {
	t.Helper()
	_, b := openClusterBackend(t, startNATSCluster(t, 1), jetstream.Config{Prefix: "servertest", Replicas: 1})
	return b.Set()
}

// TestContractStorage runs a server on the storage contract (Config.Storage): editors sync and are
// acknowledged, the log compacts, and a second server over the same backend finds every
// acknowledged edit, the server's own HTTP edits included; a deleted document comes back empty.
func TestContractStorage(t *testing.T) {
	for name, set := range contractBackends(t) {
		t.Run(name, func(t *testing.T) {
			compact := func(c *Config) { c.CompactLogEntries = 5 }
			ts, stop := startContractServer(t, set, compact)
			const doc = "over-contract"
			a := ts.editor(t, doc, 501)
			b := ts.editor(t, doc, 502)
			for i, s := range []string{"h", "e", "l", "l", "o", " ", "w", "o", "r", "l", "d"} {
				if err := a.Insert("body", i, s); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.WaitAcked(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := b.Pump(10*time.Second, func() bool { return b.Text("body") == "hello world" }); err != nil {
				t.Fatalf("second editor: %q, %v; want \"hello world\"", b.Text("body"), err)
			}
			if code, body := httpDo(t, http.MethodPost, ts.base+"/v1/docs/"+doc+"/edits", "", []byte(`{"root":"title","edits":[{"index":0,"insert":"T"}]}`)); code != http.StatusOK {
				t.Fatalf("POST edits: %d %s", code, body)
			}
			waitFor(t, 10*time.Second, "a compaction", func() bool { return ts.metrics.saves.Value() > 0 })
			stop()
			cs := ts.store.(*contractStore)
			cs.mu.Lock()
			kept := len(cs.open)
			cs.mu.Unlock()
			if kept != 0 {
				t.Errorf("the store keeps %d documents after every actor exited; want 0", kept)
			}

			ts2, _ := startContractServer(t, set, compact)
			if got := ts2.serverText(t, doc, "body"); got != "hello world" {
				t.Fatalf("after restart: body %q; want \"hello world\"", got)
			}
			if got := ts2.serverText(t, doc, "title"); got != "T" {
				t.Fatalf("after restart: title %q; want \"T\"", got)
			}
			if code, body := httpDo(t, http.MethodDelete, ts2.base+"/v1/docs/"+doc, "", nil); code != http.StatusNoContent && code != http.StatusOK {
				t.Fatalf("DELETE: %d %s", code, body)
			}
			c := ts2.editor(t, doc, 503)
			if got := c.Text("body"); got != "" {
				t.Fatalf("after delete: a joiner got %q; want an empty document", got)
			}
		})
	}
}

func TestConfigStorageValidate(t *testing.T) {
	set := storagetest.NewMemory().Set()
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"storage without data path", func(c *Config) { c.DataPath = ""; c.Storage = set }, ""},
		{"neither", func(c *Config) { c.DataPath = "" }, "DataPath"},
		{"storage lacking meta", func(c *Config) { c.Storage = backend.Set{Log: set.Log, Snapshots: set.Snapshots} }, "Storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{DataPath: "x.db"}
			tt.edit(&c)
			err := c.withDefaults().validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("validate() = %v; want nil", err)
				}
				return
			}
			if err == nil || !containsWord(err.Error(), tt.field) {
				t.Fatalf("validate() = %v; want an error naming %s", err, tt.field)
			}
		})
	}
}

// TestContractStoreCloseWhileWriting closes the store while writes are still being handed to it,
// as when an actor outlives the server's shutdown deadline: under -race, a write that joined the
// wait group as Close waited on it was a data race. Every write reports, and Close returns.
func TestContractStoreCloseWhileWriting(t *testing.T) {
	cs := newContractStore(storagetest.NewMemory().Set(), 0)
	const writes = 200
	reported := make(chan error, writes)
	go func() {
		for i := range writes {
			cs.Append("doc", []byte{byte(i)}, func(_ uint64, err error) { reported <- err })
		}
	}()
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	for range writes {
		<-reported
	}
}
