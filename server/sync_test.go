package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// getJSON GETs url, checks the status and decodes the JSON body into v (when not nil).
func getJSON(t *testing.T, url string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d %s; want %d", url, resp.StatusCode, body, wantStatus)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
}

// do sends a request without a token and returns the status and body.
func do(t *testing.T, method, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	return httpSend(t, method, url, "", contentType, body)
}

func TestThreeEditorsConverge(t *testing.T) {
	before := runtime.NumGoroutine()
	ts := startServer(t, testConfig(t), nil)
	const doc, perEditor = "converge", 40
	eds := []*wstest.Editor{ts.editor(t, doc, 101), ts.editor(t, doc, 102), ts.editor(t, doc, 103)}

	// Each editor types concurrently at the start of the text, and reads what the others send,
	// until it holds every character.
	const total = 3 * perEditor
	var wg sync.WaitGroup
	errs := make([]error, len(eds))
	for i, e := range eds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perEditor {
				if err := e.Insert("body", 0, string(rune('a'+i))); err != nil {
					errs[i] = err
					return
				}
				if k%8 == 0 {
					// Read a little while typing: concurrent edits interleave with remote ones.
					_ = e.Pump(50*time.Millisecond, func() bool { return false })
				}
			}
			errs[i] = e.Pump(10*time.Second, func() bool {
				return e.Doc.Text("body").Len() == total && e.Acked == e.Sent
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !isPumpTimeout(err) {
			t.Fatalf("editor %d: %v", i, err)
		}
		if err != nil {
			t.Fatalf("editor %d: len %d, acked %d of %d: %v", i, eds[i].Doc.Text("body").Len(), eds[i].Acked, eds[i].Sent, err)
		}
	}
	want := eds[0].Text("body")
	for i, e := range eds[1:] {
		if got := e.Text("body"); got != want {
			t.Errorf("editor %d text = %q; want %q (editor 0)", i+1, got, want)
		}
	}
	if got := ts.serverText(t, doc, "body"); got != want {
		t.Errorf("server text = %q; want %q", got, want)
	}

	// A late joiner with an empty replica gets the whole document in its sync.
	late := ts.editor(t, doc, 104)
	if got := late.Text("body"); got != want {
		t.Errorf("late joiner text = %q; want %q", got, want)
	}

	for _, e := range append(eds, late) {
		_ = e.Close()
	}
	ts.shutdown(t)
	checkGoroutines(t, before)
}

func isPumpTimeout(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("not met within"))
}

// TestReconnectGetsOnlyWhatItLacks checks the bytes of the sync answer to a hello with a state
// vector: exactly the server document's EncodeUpdate of that state vector, and the server's state
// vector.
func TestReconnectGetsOnlyWhatItLacks(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "reconnect"
	a := ts.editor(t, doc, 201)
	b := ts.editor(t, doc, 202)
	if err := a.Insert("body", 0, "hello "); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	if err := b.Pump(0, func() bool { return b.Text("body") == "hello " }); err != nil {
		t.Fatal(err)
	}
	// b goes away; a keeps typing.
	_ = b.Close()
	if err := a.Insert("body", 6, "world"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("body", 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitAcked(0); err != nil {
		t.Fatal(err)
	}

	// The reference: the server's whole document, over HTTP.
	status, full := do(t, http.MethodGet, ts.base+"/v1/docs/"+doc+"/update", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET update = %d %s", status, full)
	}
	ref, _ := crdt.NewDoc(999, crdt.Config{})
	if _, err := ref.Apply(full); err != nil {
		t.Fatal(err)
	}
	bSV := b.Doc.StateVector()
	wantUpdate := ref.EncodeUpdate(bSV)
	wantSV := crdt.EncodeStateVector(ref.StateVector())

	if err := b.Join(context.Background(), ts.base, doc, wstest.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.LastSync.Update, wantUpdate) {
		t.Errorf("sync update = %x; want %x (EncodeUpdate of the client's state vector)", b.LastSync.Update, wantUpdate)
	}
	if !bytes.Equal(b.LastSync.StateVector, wantSV) {
		t.Errorf("sync state vector = %x; want %x", b.LastSync.StateVector, wantSV)
	}
	if got, want := b.Text("body"), "ello world"; got != want {
		t.Errorf("text after reconnect = %q; want %q", got, want)
	}
	// A snapshot would hold "hello world" whole; the update holds only what b lacked.
	if snap := ref.EncodeSnapshot(); len(b.LastSync.Update) >= len(snap) {
		t.Errorf("sync update is %d bytes, the snapshot %d: want the update smaller", len(b.LastSync.Update), len(snap))
	}
}

// TestJoinSnapshotCached checks that joiners with empty state vectors share one encoding per
// document version.
func TestJoinSnapshotCached(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "crowd"
	w := ts.editor(t, doc, 301)
	if err := w.Insert("body", 0, "some text"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	first := ts.editor(t, doc, 302)
	hits := ts.metrics.joinSnapshotHit.Value()
	for i := range 5 {
		e := ts.editor(t, doc, uint64(303+i))
		if !bytes.Equal(e.LastSync.Update, first.LastSync.Update) {
			t.Fatalf("joiner %d got another snapshot", i)
		}
	}
	if got := ts.metrics.joinSnapshotHit.Value() - hits; got != 5 {
		t.Errorf("join cache hits = %d; want 5", got)
	}
}

// TestJoinSnapshotLarge checks the join answer of a document whose snapshot passes joinKeepBytes:
// every joiner gets the snapshot the document encodes, byte for byte; the first joiner's frame
// is not kept, the second's is, and the joiners after it share it until the next edit.
func TestJoinSnapshotLarge(t *testing.T) {
	cfg := testConfig(t)
	cfg.ReleaseMemoryAfterBytes = joinKeepBytes
	cfg.PongWait = time.Minute // w reads only when it edits, seconds apart under the race detector
	ts := startServer(t, cfg, nil)
	const doc = "large"
	w := ts.editor(t, doc, 311)
	// Letters drawn from 32 (a Huffman code of 5 bits each): 2 MiB of text, a snapshot of about
	// 1.25 MiB, in messages under the 1 MiB limit.
	const letters = "abcdefghijklmnopqrstuvwxyz .,;\n!"
	state := uint32(1)
	for range 8 {
		chunk := make([]byte, 256<<10)
		for i := range chunk {
			state = state*1664525 + 1013904223
			chunk[i] = letters[state>>27]
		}
		if err := w.Insert("body", 0, string(chunk)); err != nil {
			t.Fatal(err)
		}
		if err := w.WaitAcked(0); err != nil {
			t.Fatal(err)
		}
	}
	snap := w.Doc.EncodeSnapshot()
	if len(snap) < joinKeepBytes {
		t.Fatalf("snapshot of %d bytes; the test needs at least joinKeepBytes (%d)", len(snap), joinKeepBytes)
	}
	sv := crdt.EncodeStateVector(w.Doc.StateVector())
	id := uint64(320)
	for _, step := range []struct {
		edit      bool   // w edits before the joiners join
		joiners   int    // joiners in a row
		wantHits  uint64 // joins answered from the kept frame
		wantNotes int    // frames not kept, which ask for a memory release (memrelease.go)
	}{
		{false, 1, 0, 1}, // a lone joiner: built, not kept
		{false, 3, 2, 0}, // the second joiner at the version: built and kept; the third shares it
		{true, 2, 0, 1},  // an edit: the kept frame is stale; built twice again
		{false, 2, 2, 0},
	} {
		if step.edit {
			if err := w.Insert("body", 0, "x"); err != nil {
				t.Fatal(err)
			}
			if err := w.WaitAcked(0); err != nil {
				t.Fatal(err)
			}
			snap = w.Doc.EncodeSnapshot()
			sv = crdt.EncodeStateVector(w.Doc.StateVector())
		}
		hits, notes := ts.metrics.joinSnapshotHit.Value(), ts.mem.notes(noteJoin)
		for range step.joiners {
			id++
			e := ts.editor(t, doc, id)
			if !bytes.Equal(e.LastSync.Update, snap) || !bytes.Equal(e.LastSync.StateVector, sv) {
				t.Fatalf("join answer: update of %d bytes, state vector %x; want the snapshot (%d bytes), %x",
					len(e.LastSync.Update), e.LastSync.StateVector, len(snap), sv)
			}
			e.Close()
		}
		if got := ts.metrics.joinSnapshotHit.Value() - hits; got != step.wantHits {
			t.Errorf("after %d joiners (edit first: %t): join cache hits = %d; want %d", step.joiners, step.edit, got, step.wantHits)
		}
		if got := ts.mem.notes(noteJoin) - notes; got != step.wantNotes {
			t.Errorf("after %d joiners (edit first: %t): release notes = %d; want %d", step.joiners, step.edit, got, step.wantNotes)
		}
	}
}

func TestAckAfterDurable(t *testing.T) {
	var gate *gateStore
	ts := startServer(t, testConfig(t), func(s docStore) docStore { gate = newGateStore(s); return gate })
	const doc = "durable"
	a := ts.editor(t, doc, 401)
	b := ts.editor(t, doc, 402)
	if err := a.Insert("body", 0, "x"); err != nil {
		t.Fatal(err)
	}
	// The storage commit is done, but its report is held: the other editor gets the update at
	// once, and the author gets no ack.
	select {
	case <-gate.holdCh:
	case <-time.After(5 * time.Second):
		t.Fatal("the append never reached storage")
	}
	if err := b.Pump(0, func() bool { return b.Text("body") == "x" }); err != nil {
		t.Fatal(err)
	}
	if m, err := a.Read(100 * time.Millisecond); err == nil {
		t.Fatalf("author got %T %+v before the update was durable; want nothing", m, m)
	}
	gate.release()
	m, err := a.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	if ack, ok := m.(*protocol.Ack); !ok || ack.Seq != 1 {
		t.Fatalf("author got %T %+v; want ack 1", m, m)
	}
}

func TestAwareness(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "presence"
	a := ts.editor(t, doc, 501)
	b := ts.editor(t, doc, 502)
	if err := a.Send(&protocol.Awareness{Clock: 1, State: []byte(`{"name":"a"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Pump(0, func() bool { return string(b.Awareness[501]) == `{"name":"a"}` }); err != nil {
		t.Fatal(err)
	}
	// A stale clock changes nothing; a newer one does.
	_ = a.Send(&protocol.Awareness{Clock: 1, State: []byte(`{"name":"stale"}`)})
	_ = a.Send(&protocol.Awareness{Clock: 2, State: []byte(`{"name":"a2"}`)})
	if err := b.Pump(0, func() bool { return string(b.Awareness[501]) == `{"name":"a2"}` }); err != nil {
		t.Fatal(err)
	}
	// A new joiner gets the current states.
	c := ts.editor(t, doc, 503)
	if err := c.Pump(0, func() bool { return string(c.Awareness[501]) == `{"name":"a2"}` }); err != nil {
		t.Fatal(err)
	}
	// a never gets its own state back.
	if err := a.Pump(200*time.Millisecond, func() bool { return false }); !isPumpTimeout(err) {
		t.Fatalf("a: %v", err)
	}
	if _, ok := a.Awareness[501]; ok {
		t.Errorf("a got its own awareness state back")
	}
	// When a disconnects, the others see its state removed.
	_ = a.Close()
	for _, e := range []*wstest.Editor{b, c} {
		if err := e.Pump(0, func() bool { _, ok := e.Awareness[501]; return !ok }); err != nil {
			t.Fatalf("editor %d: %v", e.ClientID, err)
		}
	}
	// Broadcasts are relayed, stamped with the sender.
	if err := b.Send(&protocol.Broadcast{Payload: []byte("typing")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Pump(0, func() bool { return len(c.Broadcasts) == 1 }); err != nil {
		t.Fatal(err)
	}
	if got := c.Broadcasts[0]; got.ClientID != 502 || string(got.Payload) != "typing" {
		t.Errorf("broadcast = %+v; want from 502 with typing", got)
	}
}

func TestReadOnlyRefusesUpdates(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "readonly"
	w := ts.editor(t, doc, 601)
	if err := w.Insert("body", 0, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, doc)
	if err := c.Hello(602, nil, protocol.FlagReadOnly); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(0); err != nil { // sync
		t.Fatal(err)
	}
	// Awareness is allowed for a reader.
	if err := c.Send(&protocol.Awareness{Clock: 1, State: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	d, _ := crdt.NewDoc(602, crdt.Config{})
	_ = d.Text("body").Insert(0, "evil")
	if err := c.Send(&protocol.Update{Data: d.TakeUpdate()}); err != nil {
		t.Fatal(err)
	}
	cl, err := c.ExpectClose(0)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Code != int(protocol.CloseForbidden) || cl.Message == nil || cl.Message.Code != protocol.CloseForbidden {
		t.Errorf("read-only update: closed with %v; want error message and close 4403", cl)
	}
	if got := ts.serverText(t, doc, "body"); got != "abc" {
		t.Errorf("server text = %q; want %q (nothing applied)", got, "abc")
	}
	ts.shutdown(t)
	if got := reopenDoc(t, ts.path, doc).Text("body").String(); got != "abc" {
		t.Errorf("stored text = %q; want %q (nothing stored)", got, "abc")
	}
}

// TestSlowConsumer checks that a client that stops reading is closed with 1013 once its queue is
// full, that the others keep receiving, and that it converges after reconnecting.
func TestSlowConsumer(t *testing.T) {
	cfg := testConfig(t)
	cfg.SendQueueBytes = 64 << 10
	cfg.WriteTimeout = 10 * time.Second
	// Small socket send buffers on the server, so that a client that stops reading blocks the
	// server's writer after a few messages rather than after more kernel buffer.
	cfg.SendBufferBytes = 16 << 10
	ts := startServer(t, cfg, nil)
	const doc = "slow"
	writer := ts.editor(t, doc, 701)
	fast := ts.editor(t, doc, 702)

	slow, err := wstest.NewEditor(703)
	if err != nil {
		t.Fatal(err)
	}
	if err := slow.Join(context.Background(), ts.base, doc, wstest.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	defer slow.WS.Close()

	// The slow client reads nothing from here on. The writer sends 8 KiB updates until the server
	// gives up on the slow one.
	chunk := bytes.Repeat([]byte("x"), 8<<10)
	sent := 0
	for ts.metrics.slowConsumers.Value(slowQueueFull) == 0 {
		if sent > 2000 {
			t.Fatalf("no slow-consumer close after %d updates of %d bytes", sent, len(chunk))
		}
		if err := writer.Insert("body", 0, string(chunk)); err != nil {
			t.Fatal(err)
		}
		sent++
		// Keep the fast reader and the writer's acks flowing.
		if err := writer.Pump(0, func() bool { return writer.Acked == writer.Sent }); err != nil {
			t.Fatal(err)
		}
		if err := fast.Pump(0, func() bool { return fast.Doc.Text("body").Len() == writer.Doc.Text("body").Len() }); err != nil {
			t.Fatal(err)
		}
	}
	// The slow client, reading again, finds its backlog, then the error and the 1013 close.
	cl, err := slow.ExpectClose(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Code != int(protocol.CloseTryAgainLater) || cl.Message == nil || cl.Message.Code != protocol.CloseTryAgainLater {
		t.Errorf("slow consumer closed with %v; want error message and close 1013", cl)
	}
	// The others were not affected.
	if err := writer.Insert("body", 0, "after"); err != nil {
		t.Fatal(err)
	}
	if err := fast.Pump(0, func() bool { return fast.Text("body") == writer.Text("body") }); err != nil {
		t.Fatal(err)
	}
	// Reconnecting, the slow client converges.
	if err := slow.Join(context.Background(), ts.base, doc, wstest.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := slow.Text("body"), writer.Text("body"); got != want {
		t.Errorf("after reconnect: %d code points; want %d", len([]rune(got)), len([]rune(want)))
	}
	t.Logf("slow consumer closed after %d updates of %d bytes", sent, len(chunk))
}

func TestIdleUnloadAndReload(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleUnloadAfter = 50 * time.Millisecond
	ts := startServer(t, cfg, nil)
	const doc = "idle"
	e := ts.editor(t, doc, 801)
	if err := e.Insert("body", 0, "persist me"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	saves := ts.metrics.saves.Value()
	_ = e.Close()
	waitFor(t, 5*time.Second, "the document to unload", func() bool { return ts.docs.open() == 0 })
	if got := ts.metrics.saves.Value() - saves; got != 1 {
		t.Errorf("saves on unload = %d; want 1", got)
	}
	if got := ts.metrics.documentsOpen.Value(); got != 0 {
		t.Errorf("tandem_documents_open = %d; want 0", got)
	}
	// The snapshot replaced the log.
	meta, ok, err := ts.inner.Stat(doc)
	if err != nil || !ok || meta.LogEntries != 0 || !meta.HasSnapshot {
		t.Errorf("stored after unload: %+v, %v, %v; want a snapshot and no log", meta, ok, err)
	}
	// A new editor gets the document back from storage.
	f := ts.editor(t, doc, 802)
	if got := f.Text("body"); got != "persist me" {
		t.Errorf("after reload: %q; want %q", got, "persist me")
	}
	// HTTP edits keep working on the reloaded document, under a stable server client ID.
	if status, body := do(t, http.MethodPost, ts.base+"/v1/docs/"+doc+"/edits", "application/json",
		[]byte(`{"root":"body","edits":[{"index":0,"insert":">"}]}`)); status != http.StatusOK {
		t.Fatalf("edit = %d %s", status, body)
	}
	if err := f.Pump(0, func() bool { return f.Text("body") == ">persist me" }); err != nil {
		t.Fatal(err)
	}
}

// TestGracefulShutdown checks that clients get 1001 and that everything acknowledged is in the
// file after a shutdown.
func TestGracefulShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	ts := startServer(t, testConfig(t), nil)
	var eds []*wstest.Editor
	for i := range 4 {
		doc := fmt.Sprintf("shut-%d", i%2)
		e := ts.editor(t, doc, uint64(901+i))
		for k := range 20 {
			if err := e.Insert("body", 0, fmt.Sprintf("%d.%d ", i, k)); err != nil {
				t.Fatal(err)
			}
		}
		eds = append(eds, e)
	}
	for _, e := range eds {
		if err := e.WaitAcked(0); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(context.Background()) }()
	for _, e := range eds {
		cl, err := e.ExpectClose(0)
		if err != nil {
			t.Fatal(err)
		}
		if cl.Code != int(protocol.CloseGoingAway) {
			t.Errorf("editor %d closed with %v; want 1001", e.ClientID, cl)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// A second Shutdown returns at once, with the same result.
	if err := ts.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	for i, e := range eds {
		doc := fmt.Sprintf("shut-%d", i%2)
		got := reopenDoc(t, ts.path, doc).Text("body").String()
		for k := range 20 {
			if !bytes.Contains([]byte(got), []byte(fmt.Sprintf("%d.%d ", i, k))) {
				t.Errorf("document %s lacks %d.%d after shutdown (editor %d)", doc, i, k, e.ClientID)
			}
		}
	}
	checkGoroutines(t, before)
}

// TestNoOpUpdateNotStored checks that an update bringing nothing new (a reconnecting client's
// catch-up that only repeats deletions the server has) is acknowledged, but neither stored nor
// relayed.
func TestNoOpUpdateNotStored(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "noop"
	a := ts.editor(t, doc, 1001)
	b := ts.editor(t, doc, 1002)
	if err := a.Insert("body", 0, "abcdef"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("body", 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	if err := b.Pump(0, func() bool { return b.Text("body") == "adef" }); err != nil {
		t.Fatal(err)
	}
	appends := ts.inner.Stats().Appends
	applied := ts.metrics.updatesApplied.Value()

	// a reconnects: its catch-up update holds the delete set, which the server already has.
	_ = a.Close()
	if err := a.Join(t.Context(), ts.base, doc, wstest.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	if a.Sent != 1 {
		t.Fatalf("catch-up updates sent = %d; want 1 (the delete set)", a.Sent)
	}
	if err := a.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	if got := ts.inner.Stats().Appends - appends; got != 0 {
		t.Errorf("appends for a no-op update = %d; want 0", got)
	}
	if got := ts.metrics.updatesApplied.Value() - applied; got != 0 {
		t.Errorf("updates applied = %d; want 0", got)
	}
	if err := b.Pump(200*time.Millisecond, func() bool { return false }); !isPumpTimeout(err) {
		t.Errorf("b: %v; want nothing relayed", err)
	}
}
