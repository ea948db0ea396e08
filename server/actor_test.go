package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/storage"
)

// memStore is an in-memory docStore for actor tests: writes complete at once (callbacks run in
// the caller's goroutine, as the real store's do after Close), loads can be made to fail.
type memStore struct {
	mu       sync.Mutex
	docs     map[string]*memDoc
	loadErr  error
	appends  int
	compacts int
}

type memDoc struct {
	snap    []byte
	snapSeq uint64
	log     []storage.LogEntry
	kv      map[string][]byte
}

func newMemStore() *memStore { return &memStore{docs: map[string]*memDoc{}} }

func (m *memStore) doc(id string) *memDoc {
	d := m.docs[id]
	if d == nil {
		d = &memDoc{kv: map[string][]byte{}}
		m.docs[id] = d
	}
	return d
}

func (m *memStore) Load(id string) (storage.DocState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loadErr != nil {
		return storage.DocState{}, false, m.loadErr
	}
	d, ok := m.docs[id]
	if !ok {
		return storage.DocState{}, false, nil
	}
	st := storage.DocState{Snapshot: d.snap, SnapshotSeq: d.snapSeq, Log: append([]storage.LogEntry(nil), d.log...), DocMeta: map[string][]byte{}}
	for k, v := range d.kv {
		st.DocMeta[k] = v
	}
	st.Meta.LastSeq = d.snapSeq + uint64(len(d.log))
	st.Meta.LogEntries = len(d.log)
	return st, true, nil
}

func (m *memStore) Stat(id string) (storage.Meta, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.docs[id]
	return storage.Meta{}, ok, nil
}

func (m *memStore) List(string, int) ([]storage.DocInfo, error) { return nil, nil }

func (m *memStore) Append(id string, data []byte, done func(uint64, error)) {
	m.mu.Lock()
	d := m.doc(id)
	seq := d.snapSeq + uint64(len(d.log)) + 1
	d.log = append(d.log, storage.LogEntry{Seq: seq, Data: data})
	m.appends++
	m.mu.Unlock()
	done(seq, nil)
}

func (m *memStore) CompactAsync(id string, snap []byte, upto uint64, done func(error)) {
	m.mu.Lock()
	d := m.doc(id)
	var rest []storage.LogEntry
	for _, e := range d.log {
		if e.Seq > upto {
			rest = append(rest, e)
		}
	}
	d.log, d.snap, d.snapSeq = rest, snap, upto
	m.compacts++
	m.mu.Unlock()
	done(nil)
}

func (m *memStore) PutDocMetaAsync(id, key string, v []byte, done func(error)) {
	m.mu.Lock()
	m.doc(id).kv[key] = v
	m.mu.Unlock()
	done(nil)
}

func (m *memStore) Delete(id string) error {
	m.mu.Lock()
	delete(m.docs, id)
	m.mu.Unlock()
	return nil
}

func (m *memStore) Close() error { return nil }

// newActorTestServer returns a server over a memStore, for use inside a synctest bubble.
func newActorTestServer(t testing.TB, cfg Config, st docStore) *Server {
	cfg.DataPath = "unused"
	cfg.Logger = testLogger(t)
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	s, err := newServer(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stopDocs stops every document actor of s, within a second of the bubble's time.
func stopDocs(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.docs.stopAll(ctx); err != nil {
		t.Fatal(err)
	}
}

// queued takes the frames queued for a connection without a socket, decoded.
func queued(t *testing.T, c *conn) []protocol.Message {
	t.Helper()
	var out []protocol.Message
	for _, f := range c.t.TakeQueued() {
		fr, err := protocol.DecodeFrame(f.Data, protocol.FromServer)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fr.Message)
	}
	return out
}

// fakeConn joins a connection without a socket to document id with client ID cid.
func fakeConn(t *testing.T, s *Server, id string, cid uint64) (*conn, *actor) {
	t.Helper()
	c := newConn(s, nil, id, anonymous)
	c.clientID = cid
	a, err := s.docs.join(context.Background(), c, &protocol.Hello{Version: protocol.Version, ClientID: cid})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	return c, a
}

func TestActorIdleUnloadOnFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		s := newActorTestServer(t, Config{IdleUnloadAfter: 30 * time.Second}, st)
		c, a := fakeConn(t, s, "idle", 7)
		d, _ := crdt.NewDoc(7, crdt.Config{})
		_ = d.Text("body").Insert(0, "kept")
		if err := a.post(context.Background(), updateMsg{c: c, data: d.TakeUpdate(), at: time.Now()}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := queued(t, c); len(got) != 2 {
			t.Fatalf("queued %d messages (%v); want sync and ack", len(got), got)
		}
		a.leave(c)
		synctest.Wait()

		time.Sleep(29 * time.Second)
		synctest.Wait()
		if s.docs.open() != 1 {
			t.Fatalf("unloaded before the grace period")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s.docs.open() != 0 {
			t.Fatalf("still loaded after the grace period")
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.compacts != 1 || len(st.docs["idle"].log) != 0 {
			t.Errorf("compacts %d, log %d; want one snapshot replacing the log", st.compacts, len(st.docs["idle"].log))
		}
	})
}

func TestActorAwarenessCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newActorTestServer(t, Config{AwarenessInterval: 50 * time.Millisecond}, newMemStore())
		a1, act := fakeConn(t, s, "aw", 1)
		b, _ := fakeConn(t, s, "aw", 2)
		synctest.Wait()
		queued(t, a1)
		queued(t, b)
		for clock := uint64(1); clock <= 5; clock++ {
			_ = act.post(context.Background(), awarenessMsg{c: a1, clock: clock, state: []byte{byte('0' + clock)}})
		}
		synctest.Wait()
		if got := queued(t, b); len(got) != 0 {
			t.Fatalf("awareness sent before the interval: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		got := queued(t, b)
		if len(got) != 1 {
			t.Fatalf("b got %d messages; want one coalesced awareness message", len(got))
		}
		pa, ok := got[0].(*protocol.PeerAwareness)
		if !ok || len(pa.Entries) != 1 || pa.Entries[0].ClientID != 1 || pa.Entries[0].Clock != 5 || string(pa.Entries[0].State) != "5" {
			t.Errorf("b got %+v; want client 1's latest state (clock 5)", got[0])
		}
		if got := queued(t, a1); len(got) != 0 {
			t.Errorf("the author got %v; want nothing (no echo)", got)
		}
		// Leaving removes the state at the others, at the next tick.
		act.leave(a1)
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		got = queued(t, b)
		if len(got) != 1 {
			t.Fatalf("after leave b got %d messages; want 1", len(got))
		}
		if pa := got[0].(*protocol.PeerAwareness); len(pa.Entries) != 1 || pa.Entries[0].ClientID != 1 || len(pa.Entries[0].State) != 0 {
			t.Errorf("after leave b got %+v; want the removal of client 1", pa)
		}
		act.leave(b)
		synctest.Wait()
		stopDocs(t, s)
	})
}

// TestActorLoadFailurePoisons checks that a document whose load fails is never served, empty or
// otherwise, and that the failed actor, once its retries are spent (TestActorLoadRetry), goes
// away after a short grace (so that a later attempt loads again) without leaving goroutines or
// timers behind.
func TestActorLoadFailurePoisons(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		st.loadErr = errors.New("disk on fire")
		s := newActorTestServer(t, Config{IdleUnloadAfter: time.Second}, st)
		for i := range 3 {
			c := newConn(s, nil, "broken", anonymous)
			_, err := s.docs.join(context.Background(), c, &protocol.Hello{Version: protocol.Version, ClientID: uint64(10 + i)})
			if !errors.Is(err, errLoadFailed) {
				t.Fatalf("join %d: %v; want errLoadFailed", i, err)
			}
			if got := queued(t, c); len(got) != 0 {
				t.Fatalf("join %d: the refused connection got %v", i, got)
			}
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s.docs.open() != 0 {
			t.Fatal("the poisoned actor is still there after the grace period")
		}
		if st.appends != 0 || st.compacts != 0 {
			t.Errorf("a poisoned document wrote: %d appends, %d compactions", st.appends, st.compacts)
		}
		// Once storage works, the document loads.
		st.mu.Lock()
		st.loadErr = nil
		st.mu.Unlock()
		c, a := fakeConn(t, s, "broken", 20)
		a.leave(c)
		stopDocs(t, s)
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string // "" means valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"no data path", func(c *Config) { c.DataPath = "" }, "DataPath"},
		{"negative message size", func(c *Config) { c.MaxMessageBytes = -1 }, "MaxMessageBytes"},
		{"negative pong wait", func(c *Config) { c.PongWait = -time.Second }, "PongWait"},
		{"tiny pong wait", func(c *Config) { c.PongWait = time.Millisecond }, "PongWait"},
		{"awareness above message", func(c *Config) { c.MaxMessageBytes = 100; c.MaxAwarenessBytes = 200 }, "MaxAwarenessBytes"},
		{"origin without scheme", func(c *Config) { c.AllowedOrigins = []string{"example.com"} }, "AllowedOrigins"},
		{"origin with path", func(c *Config) { c.AllowedOrigins = []string{"https://example.com/app"} }, "AllowedOrigins"},
		{"origin star", func(c *Config) { c.AllowedOrigins = []string{"*"} }, ""},
		{"negative batch delay", func(c *Config) { c.StorageMaxBatchDelay = -1 }, "StorageMaxBatchDelay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{DataPath: "x.db"}
			tc.edit(&c)
			err := c.withDefaults().validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("validate() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !containsWord(err.Error(), tc.field) {
				t.Fatalf("validate() = %v; want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

func helloFor(cid uint64) *protocol.Hello {
	return &protocol.Hello{Version: protocol.Version, ClientID: cid}
}

// TestActorDeleteWaitsForAppend: a deletion that arrives while an append is in flight waits for
// its report before it touches storage (room.Settle), so that the append cannot land after the
// deletion; then the document is gone and the deletion answered.
func TestActorDeleteWaitsForAppend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		gate := newGateStore(st)
		s := newActorTestServer(t, Config{}, gate)
		c, a := fakeConn(t, s, "del", 31)
		queued(t, c) // the sync answer
		d, _ := crdt.NewDoc(31, crdt.Config{})
		_ = d.Text("body").Insert(0, "x")
		if err := a.post(t.Context(), updateMsg{c: c, data: d.TakeUpdate(), at: time.Now()}); err != nil {
			t.Fatal(err)
		}
		<-gate.holdCh // the append is stored, its report held
		reply := make(chan error, 1)
		if err := a.post(t.Context(), deleteMsg{reply: reply}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case err := <-reply:
			t.Fatalf("the deletion answered %v while an append was in flight", err)
		default:
		}
		st.mu.Lock()
		_, stored := st.docs["del"]
		st.mu.Unlock()
		if !stored {
			t.Fatal("the document was deleted from storage while an append was in flight")
		}
		gate.release()
		if err := <-reply; err != nil {
			t.Fatalf("delete: %v", err)
		}
		synctest.Wait()
		st.mu.Lock()
		_, stored = st.docs["del"]
		st.mu.Unlock()
		if stored {
			t.Fatal("the document is still in storage after its deletion was answered")
		}
		if s.docs.open() != 0 {
			t.Fatal("the deleted document's actor is still open")
		}
	})
}

// TestActorJoinDuringUnloadSave: a join that arrives while an idle document saves before it
// unloads brings it back (room.Admit): the joiner is served by the same actor, which stays open.
func TestActorJoinDuringUnloadSave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		hold := &holdCompactStore{docStore: st, held: make(chan func(), 1)}
		s := newActorTestServer(t, Config{IdleUnloadAfter: time.Second}, hold)
		c, a := fakeConn(t, s, "rejoin", 41)
		queued(t, c)
		d, _ := crdt.NewDoc(41, crdt.Config{})
		_ = d.Text("body").Insert(0, "x")
		if err := a.post(t.Context(), updateMsg{c: c, data: d.TakeUpdate(), at: time.Now()}); err != nil {
			t.Fatal(err)
		}
		a.leave(c)
		time.Sleep(2 * time.Second) // past the idle grace: the actor unloads, saving first
		done := <-hold.held         // the save is in flight
		c2, a2 := fakeConn(t, s, "rejoin", 42)
		if a2 != a {
			t.Fatal("the join during the unload's save started another actor")
		}
		done()
		synctest.Wait()
		if s.docs.open() != 1 {
			t.Fatalf("open documents = %d after the join; want 1", s.docs.open())
		}
		msgs := queued(t, c2)
		if len(msgs) == 0 {
			t.Fatal("the joiner got no sync answer")
		}
		if _, ok := msgs[0].(*protocol.Sync); !ok {
			t.Fatalf("the joiner got %T first; want *protocol.Sync", msgs[0])
		}
		a2.leave(c2)
		stopDocs(t, s)
	})
}

// holdCompactStore holds each compaction's report until the test calls the function it sends.
type holdCompactStore struct {
	docStore
	held chan func()
}

func (h *holdCompactStore) CompactAsync(id string, snap []byte, upto uint64, done func(error)) {
	h.docStore.CompactAsync(id, snap, upto, func(err error) {
		h.held <- func() { done(err) }
	})
}
