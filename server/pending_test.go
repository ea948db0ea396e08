package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// floodFrames returns n update frames of k units each, every unit under a client ID of its own
// (from first on) and inserted after a unit of client missing, which is never sent: every unit
// waits for it, each client ID a new entry of the pending set.
func floodFrames(t *testing.T, missing, first uint64, n, k int) [][]byte {
	t.Helper()
	dep, err := crdt.NewDoc(missing, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dep.Text("body").Insert(0, "x"); err != nil {
		t.Fatal(err)
	}
	depUpdate := dep.TakeUpdate()
	frames := make([][]byte, n)
	c := first
	for i := range frames {
		all, err := crdt.NewDoc(crdt.MaxClientID, crdt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := all.Apply(depUpdate); err != nil {
			t.Fatal(err)
		}
		for range k {
			d, err := crdt.NewDoc(c, crdt.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Apply(depUpdate); err != nil {
				t.Fatal(err)
			}
			if err := d.Text("body").Insert(1, "y"); err != nil {
				t.Fatal(err)
			}
			if _, err := all.Apply(d.TakeUpdate()); err != nil {
				t.Fatal(err)
			}
			c++
		}
		u := all.EncodeUpdate(crdt.StateVector{missing: 1})
		frames[i] = protocol.EncodeFrame(0, &protocol.Update{Data: u})
	}
	return frames
}

// flood sends frames from a writer that joins docID as client, and returns how the server closed
// its connection. The acks are read as they come (until the close), as a client does.
func flood(t *testing.T, ts *testServer, docID string, client uint64, frames [][]byte) *wstest.Closed {
	t.Helper()
	e := ts.editor(t, docID, client)
	sent := make(chan int, 1)
	go func() {
		n := 0
		for _, f := range frames {
			if err := e.SendRaw(websocket.BinaryMessage, f); err != nil {
				break
			}
			n++
		}
		sent <- n
	}()
	cl, err := e.ExpectClose(2 * time.Minute)
	if err != nil {
		t.Fatalf("flood of %q: %v; want a close", docID, err)
	}
	_ = e.WS.Close()
	select {
	case n := <-sent:
		t.Logf("flood of %q: closed with %d %q after %d of %d updates", docID, cl.Code, cl.Text, n, len(frames))
	case <-time.After(time.Minute):
		t.Fatalf("flood of %q: the sender still blocked a minute after the close", docID)
	}
	return cl
}

// TestPendingFlood: a writer floods a document with units of new client IDs that wait for a
// dependency that never comes. The document's other editors keep receiving each other's edits;
// the flood is refused with 4422 once the document's pending budget is reached, and a flood of a
// second document with 1013 once the server's budget is; both budgets are released when the
// documents unload.
func TestPendingFlood(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxPendingBytes = 256 << 10
	cfg.MaxPendingBytesTotal = 384 << 10
	cfg.UpdatesPerSecond, cfg.UpdateBurst = 1e6, 1e6 // the flood is about bytes, not rate
	cfg.IdleUnloadAfter = 100 * time.Millisecond
	ts := startServer(t, cfg, nil)
	const doc, doc2 = "flooded", "flooded-2"

	alice := ts.editor(t, doc, 801)
	bob := ts.editor(t, doc, 802)
	// Each update: 100 units of new client IDs, far fewer bytes on the wire than they hold.
	frames := floodFrames(t, 999, 1<<40, 40, 100)

	// Alice types while the flood goes on; Bob receives every keystroke.
	typed := make(chan error, 1)
	go func() {
		for i := range 50 {
			if err := alice.Insert("body", alice.Doc.Text("body").Len(), fmt.Sprint(i%10)); err != nil {
				typed <- err
				return
			}
			want := alice.Text("body")
			if err := bob.Pump(time.Minute, func() bool { return strings.HasPrefix(bob.Text("body"), want) }); err != nil {
				typed <- fmt.Errorf("bob after alice's keystroke %d: %w", i, err)
				return
			}
		}
		typed <- alice.WaitAcked(time.Minute)
	}()
	cl := flood(t, ts, doc, 900, frames)
	if err := <-typed; err != nil {
		t.Fatal(err)
	}
	if cl.Code != int(protocol.CloseInvalidUpdate) || cl.Message == nil || !strings.Contains(cl.Message.Message, "waiting for missing dependencies") {
		t.Fatalf("the flood closed with %d %q after %+v; want %d, updates waiting for missing dependencies", cl.Code, cl.Text, cl.Message, protocol.CloseInvalidUpdate)
	}
	if n := ts.metrics.refusals.Value(reasonPendingOverflow); n != 1 {
		t.Errorf("refusals{pending_overflow} = %d; want 1", n)
	}
	held := ts.metrics.pendingBytes.Value()
	if held <= 0 || held > int64(cfg.MaxPendingBytes) {
		t.Errorf("tandem_pending_bytes = %d after the flood; want in (0, %d]", held, cfg.MaxPendingBytes)
	}
	if got, want := ts.serverText(t, doc, "body"), alice.Text("body"); !strings.HasPrefix(got, want) || len(got) != len(want) {
		t.Errorf("server text %q; want alice's %q (the flood's units wait)", got, want)
	}

	// A second document: what is left of the server's budget is less than a document's, and
	// the second flood is refused with 1013 when it is used up.
	cl = flood(t, ts, doc2, 901, floodFrames(t, 998, 1<<41, 40, 100))
	if cl.Code != int(protocol.CloseTryAgainLater) {
		t.Fatalf("the second flood closed with %d %q; want %d (the server's pending budget)", cl.Code, cl.Text, protocol.CloseTryAgainLater)
	}
	if n := ts.metrics.refusals.Value(reasonPendingBudget); n != 1 {
		t.Errorf("refusals{pending_budget} = %d; want 1", n)
	}
	if held := ts.metrics.pendingBytes.Value(); held > int64(cfg.MaxPendingBytesTotal) {
		t.Errorf("tandem_pending_bytes = %d after both floods; want at most %d", held, cfg.MaxPendingBytesTotal)
	}

	// Everyone leaves: the documents unload and give their budget back.
	_ = alice.Close()
	_ = bob.Close()
	waitFor(t, time.Minute, "the documents to unload", func() bool { return ts.metrics.documentsOpen.Value() == 0 })
	if held := ts.metrics.pendingBytes.Value(); held != 0 {
		t.Errorf("tandem_pending_bytes = %d after the unloads; want 0", held)
	}

	// A document reloaded with its stored pending units counts them again, unbounded at load,
	// and gives them back at its next unload.
	carol := ts.editor(t, doc, 803)
	if held := ts.metrics.pendingBytes.Value(); held <= 0 {
		t.Errorf("tandem_pending_bytes = %d with the flooded document reloaded; want its pending units", held)
	}
	_ = carol.Close()
	waitFor(t, time.Minute, "the document to unload again", func() bool { return ts.metrics.documentsOpen.Value() == 0 })
	if held := ts.metrics.pendingBytes.Value(); held != 0 {
		t.Errorf("tandem_pending_bytes = %d after the second unload; want 0", held)
	}
}

// TestPendingBudgetLimit: a document may hold its own budget, or what is left of the server's
// (its own share included) if that is less, and never 0 (no bound, to the crdt).
func TestPendingBudgetLimit(t *testing.T) {
	tests := []struct {
		name             string
		total, held      int64
		perDoc, mine     int
		want             int
		wantServerBudget bool
	}{
		{"nothing held", 100, 0, 10, 0, 10, false},
		{"others hold little", 100, 50, 10, 5, 10, false},
		{"others hold most", 100, 95, 10, 5, 10, false},
		{"less left than a document's", 100, 97, 10, 2, 5, true},
		{"all used by others", 100, 100, 10, 0, 1, true},
		{"over by concurrent updates", 100, 120, 10, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &pendingBudget{total: tt.total, held: newServerMetrics().pendingBytes}
			b.held.Add(tt.held)
			got, server := b.limit(tt.perDoc, tt.mine)
			if got != tt.want || server != tt.wantServerBudget {
				t.Errorf("limit(%d, %d) with %d of %d held = %d, %v; want %d, %v",
					tt.perDoc, tt.mine, tt.held, tt.total, got, server, tt.want, tt.wantServerBudget)
			}
		})
	}
}
