package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandemhq/tandem/crdt"
)

// recorder is an observer that keeps what it is told, and can be made to block.
type recorder struct {
	mu     sync.Mutex
	events []string
	gate   chan struct{} // when not nil, each event waits for a value
}

func (r *recorder) observe(e DocEvent) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := e.Kind.String() + " " + e.Document
	if e.StateVector != nil {
		s += fmt.Sprint(" ", map[uint64]uint64(e.StateVector))
	}
	r.events = append(r.events, s)
}

// take returns the events recorded since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// TestNotifier drives the notifier as actors do, on fake time: debouncing, its bound, the order
// of a document's events, a slow observer and the flush at close.
func TestNotifier(t *testing.T) {
	sv := func(n uint64) crdt.StateVector { return crdt.StateVector{7: n} }
	type step struct {
		after time.Duration // fake time to let pass first
		do    func(n *notifier)
		want  []string // events observed by then (all delivered since the last step)
	}
	tests := []struct {
		name  string
		max   int
		steps []step
		// merged and dropped (by kind) at the end
		merged  uint64
		dropped map[EventKind]uint64
	}{
		{
			name: "changes merge until the document is quiet for the debounce",
			steps: []step{
				{0, func(n *notifier) { n.changed("a", sv(1)) }, nil},
				{time.Second, func(n *notifier) { n.changed("a", sv(2)) }, nil},
				{1500 * time.Millisecond, func(n *notifier) { n.changed("a", sv(3)) }, nil},
				{1999 * time.Millisecond, nil, nil},
				{time.Millisecond, nil, []string{"changed a map[7:3]"}},
			},
			merged: 2,
		},
		{
			name: "a document that keeps changing is observed at the max debounce",
			steps: []step{
				{0, func(n *notifier) { n.changed("a", sv(1)) }, nil},
				{1500 * time.Millisecond, func(n *notifier) { n.changed("a", sv(2)) }, nil},
				{1500 * time.Millisecond, func(n *notifier) { n.changed("a", sv(3)) }, nil},
				{1500 * time.Millisecond, func(n *notifier) { n.changed("a", sv(4)) }, nil},
				{1500 * time.Millisecond, func(n *notifier) { n.changed("a", sv(5)) }, nil},
				{1500 * time.Millisecond, func(n *notifier) { n.changed("a", sv(6)) }, nil},
				{1500 * time.Millisecond, func(n *notifier) { n.changed("a", sv(7)) }, nil},
				{999 * time.Millisecond, nil, nil},
				{time.Millisecond, nil, []string{"changed a map[7:7]"}},
				{1500 * time.Millisecond, func(n *notifier) { n.changed("a", sv(8)) }, nil},
				{2 * time.Second, nil, []string{"changed a map[7:8]"}},
			},
			merged: 6,
		},
		{
			name: "created and deleted at once, in order; a deletion drops the waiting change",
			steps: []step{
				{0, func(n *notifier) {
					n.event(DocEvent{Kind: DocumentCreated, Document: "a"})
					n.changed("a", sv(1))
					n.changed("b", sv(2))
				}, []string{"created a"}},
				{time.Second, func(n *notifier) {
					n.deleted("a")
					n.event(DocEvent{Kind: DocumentCreated, Document: "a"})
				}, []string{"deleted a", "created a"}},
				{2 * time.Second, nil, []string{"changed b map[7:2]"}},
			},
			merged: 1,
		},
		{
			name: "documents due together are observed in ID order",
			steps: []step{
				{0, func(n *notifier) {
					n.changed("c", sv(3))
					n.changed("a", sv(1))
					n.changed("b", sv(2))
				}, nil},
				{2 * time.Second, nil, []string{"changed a map[7:1]", "changed b map[7:2]", "changed c map[7:3]"}},
			},
		},
		{
			name: "past the bound, events are dropped and counted",
			max:  2,
			steps: []step{
				{0, func(n *notifier) {
					n.changed("a", sv(1))
					n.changed("b", sv(1))
					n.changed("c", sv(1))                                   // dropped
					n.event(DocEvent{Kind: DocumentCreated, Document: "d"}) // dropped
					n.changed("a", sv(2))                                   // merged: no new room needed
				}, nil},
				{2 * time.Second, nil, []string{"changed a map[7:2]", "changed b map[7:1]"}},
			},
			merged:  1,
			dropped: map[EventKind]uint64{DocumentChanged: 1, DocumentCreated: 1},
		},
		{
			name: "close delivers what waits, debounced or not",
			steps: []step{
				{0, func(n *notifier) {
					n.changed("a", sv(1))
					n.deleted("b")
				}, []string{"deleted b"}},
				{time.Second, func(n *notifier) {
					if err := n.close(context.Background()); err != nil {
						t.Errorf("close: %v", err)
					}
				}, []string{"changed a map[7:1]"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var rec recorder
				h := Hooks{Observe: rec.observe, MaxPendingEvents: tt.max}.withDefaults()
				m := newServerMetrics()
				n := newNotifier(h, slog.New(slog.DiscardHandler), m)
				defer n.close(context.Background())
				for i, s := range tt.steps {
					time.Sleep(s.after)
					if s.do != nil {
						s.do(n)
					}
					synctest.Wait()
					if got := rec.take(); !slices.Equal(got, s.want) {
						t.Errorf("step %d: observed %q; want %q", i, got, s.want)
					}
				}
				if got := n.merged.Value(); got != tt.merged {
					t.Errorf("merged = %d; want %d", got, tt.merged)
				}
				for _, k := range []EventKind{DocumentCreated, DocumentChanged, DocumentDeleted} {
					if got := n.dropped.Value(k.String()); got != tt.dropped[k] {
						t.Errorf("dropped %s = %d; want %d", k, got, tt.dropped[k])
					}
				}
			})
		})
	}
}

// TestNotifierSlowObserver checks that an observer that does not return blocks nothing but its
// own events: the actors' calls return, a document's changes merge, and the bound drops the rest.
func TestNotifierSlowObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := recorder{gate: make(chan struct{})}
		h := Hooks{Observe: rec.observe, MaxPendingEvents: 3}.withDefaults()
		n := newNotifier(h, slog.New(slog.DiscardHandler), newServerMetrics())
		n.deleted("x") // the observer takes it and blocks
		synctest.Wait()
		for i := range 100 {
			n.changed("a", crdt.StateVector{1: uint64(i + 1)})
			n.deleted(fmt.Sprint("d", i))
		}
		time.Sleep(time.Hour)
		synctest.Wait() // every call above has returned while the observer is stuck
		if got := n.merged.Value(); got != 99 {
			t.Errorf("merged = %d; want 99", got)
		}
		if got := n.dropped.Value(DocumentDeleted.String()); got != 98 {
			t.Errorf("dropped deletions = %d; want 98", got)
		}
		close(rec.gate) // the observer is back
		synctest.Wait()
		want := []string{"deleted x", "deleted d0", "deleted d1", "changed a map[1:100]"}
		if got := rec.take(); !slices.Equal(got, want) {
			t.Errorf("observed %q; want %q", got, want)
		}
		if err := n.close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNotifierDurable checks what an actor's report of durability turns into: created once for a
// document that was not in storage, nothing while the server's own writes are in flight or when
// nothing new is durable, and the state vector as the observer's own copy.
func TestNotifierDurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		var got []DocEvent
		h := Hooks{Observe: func(e DocEvent) {
			got = append(got, e)
			rec.observe(e)
		}}.withDefaults()
		n := newNotifier(h, slog.New(slog.DiscardHandler), newServerMetrics())
		shared := crdt.StateVector{1: 5}
		svOf := func() crdt.StateVector { return shared }

		var fresh, stored changeMark
		stored.existed = true
		n.durable(&fresh, "new", 1, true, svOf)
		n.durable(&stored, "old", 1, true, svOf)
		n.durable(&fresh, "new", 1, true, svOf)   // nothing new
		n.durable(&stored, "old", 2, false, svOf) // the server's own write in flight
		time.Sleep(3 * time.Second)
		synctest.Wait()
		want := []string{"created new", "changed new map[1:5]", "changed old map[1:5]"}
		if ev := rec.take(); !slices.Equal(ev, want) {
			t.Errorf("observed %q; want %q", ev, want)
		}
		n.durable(&fresh, "new", 2, true, svOf)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if ev := rec.take(); !slices.Equal(ev, []string{"changed new map[1:5]"}) {
			t.Errorf("observed %q after a second durable write; want one change, no second creation", ev)
		}
		got[0].StateVector = nil
		got[1].StateVector[1] = 99 // the observer's copy
		if shared[1] != 5 {
			t.Errorf("the observer's change reached the actor's state vector")
		}
		var nilN *notifier
		nilN.durable(&fresh, "new", 3, true, svOf) // no observer: nothing, no panic
		nilN.deleted("new")
		if err := n.close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestObserveOverSockets checks the observer on a real server: a document written over WebSocket
// and one written over HTTP are each observed created, then changed with the state vector the
// server reports; a document loaded from storage is not observed created again; and a deletion is
// observed.
func TestObserveOverSockets(t *testing.T) {
	events := make(chan DocEvent, 256)
	cfg := testConfig(t)
	cfg.Hooks = Hooks{
		Observe:           func(e DocEvent) { events <- e },
		ChangeDebounce:    20 * time.Millisecond,
		ChangeMaxDebounce: 200 * time.Millisecond,
	}
	cfg.IdleUnloadAfter = 50 * time.Millisecond
	ts := startServer(t, cfg, nil)

	// next returns the next event, failing the test if none comes within a bound that no
	// debounce here comes near.
	next := func(what string) DocEvent {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("no event while waiting for %s", what)
			return DocEvent{}
		}
	}
	// changedTo reads changes of doc until one carries want (earlier ones may carry less: a
	// debounce may pass between two writes on a loaded machine).
	changedTo := func(doc string, want crdt.StateVector) {
		t.Helper()
		for {
			e := next("document " + doc + " changed")
			if e.Kind != DocumentChanged || e.Document != doc {
				t.Fatalf("observed %s %s; want changed %s", e.Kind, e.Document, doc)
			}
			if maps.Equal(e.StateVector, want) {
				return
			}
			for c, n := range e.StateVector {
				if n > want[c] {
					t.Fatalf("observed state vector %v; passes the server's %v", e.StateVector, want)
				}
			}
		}
	}
	serverSV := func(doc string) crdt.StateVector {
		t.Helper()
		var sum docSummary
		getJSON(t, ts.base+"/v1/docs/"+doc, http.StatusOK, &sum)
		sv, err := decodeSV(sum.StateVector)
		if err != nil {
			t.Fatal(err)
		}
		return sv
	}

	// Over WebSocket: three edits, acknowledged, hence durable.
	e := ts.editor(t, "ws-doc", 501)
	for i, s := range []string{"a", "b", "c"} {
		if err := e.Insert("body", i, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.WaitAcked(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if ev := next("ws-doc created"); ev.Kind != DocumentCreated || ev.Document != "ws-doc" || ev.StateVector != nil {
		t.Fatalf("observed %+v; want ws-doc created", ev)
	}
	changedTo("ws-doc", serverSV("ws-doc"))

	// Over HTTP: the answer's state vector is the one observed.
	status, body := ts.edit(t, "http-doc", nil, "hello")
	if status != http.StatusOK {
		t.Fatalf("POST edits = %d %s", status, body)
	}
	var wr writeResponse
	if err := json.Unmarshal(body, &wr); err != nil {
		t.Fatal(err)
	}
	want, err := decodeSV(wr.StateVector)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next("http-doc created"); ev.Kind != DocumentCreated || ev.Document != "http-doc" {
		t.Fatalf("observed %+v; want http-doc created", ev)
	}
	changedTo("http-doc", want)

	// A write to a document in storage, loaded afresh: changed, not created.
	_ = e.Close()
	waitFor(t, 10*time.Second, "ws-doc to unload", func() bool {
		a, err := ts.docs.get("ws-doc", false)
		return err == nil && a == nil
	})
	if status, body := ts.edit(t, "ws-doc", nil, "d"); status != http.StatusOK {
		t.Fatalf("POST edits = %d %s", status, body)
	}
	changedTo("ws-doc", serverSV("ws-doc"))

	// Deleted.
	if status, body := do(t, http.MethodDelete, ts.base+"/v1/docs/http-doc", "", nil); status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", status, body)
	}
	if ev := next("http-doc deleted"); ev.Kind != DocumentDeleted || ev.Document != "http-doc" {
		t.Fatalf("observed %+v; want http-doc deleted", ev)
	}

	// The metric of dropped events is exposed.
	_, metricsText := do(t, http.MethodGet, ts.base+"/metrics", "", nil)
	if !strings.Contains(string(metricsText), `tandem_observer_events_dropped_total{kind="changed"} 0`) {
		t.Errorf("GET /metrics lacks tandem_observer_events_dropped_total")
	}
	select {
	case ev := <-events:
		t.Errorf("observed %+v after the deletion; want nothing more", ev)
	default:
	}
}
