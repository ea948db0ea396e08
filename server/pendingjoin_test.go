package server

import (
	"context"
	"testing"
	"time"

	"github.com/tandemhq/tandem/server/internal/wstest"
)

// A unit the server holds pending (its dependency lost in a crash, say) reaches a client that
// joins after it arrived, once that client re-sends the dependency: the server sends its pending
// units right after the sync answer. Without them the joiner would never get the unit: what the
// server passes on when the dependency arrives is the update carrying it, and not to its sender.
func TestPendingReachesJoiner(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	b := ts.editor(t, "pj", 202)

	// a typed "x" and b received it (from a server that then lost it); b types "y" after it.
	a, err := wstest.NewEditor(201)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Doc.Text("body").Insert(0, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Doc.Apply(a.Doc.TakeUpdate()); err != nil {
		t.Fatal(err)
	}
	if err := b.Insert("body", 1, "y"); err != nil { // sends b's unit only: pending on the server
		t.Fatal(err)
	}
	if err := b.WaitAcked(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	ts.inActor(t, "pj", func(act *actor) {
		if act.doc.PendingBytes() == 0 {
			t.Error("b's unit is not pending on the server")
		}
	})

	// a joins, then re-sends "x" (Join sends what the server lacks).
	if err := a.Join(context.Background(), ts.base, "pj", wstest.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Client.WS.Close() })
	if err := a.Pump(10*time.Second, func() bool { return a.Text("body") == "xy" && a.Acked == a.Sent }); err != nil {
		t.Fatalf("joiner: text %q, %d of %d acked: %v; want \"xy\"", a.Text("body"), a.Acked, a.Sent, err)
	}
	if err := b.Pump(10*time.Second, func() bool { return b.Text("body") == "xy" }); err != nil {
		t.Fatalf("b: text %q: %v", b.Text("body"), err)
	}
	if got := ts.serverText(t, "pj", "body"); got != "xy" {
		t.Errorf("server text %q; want \"xy\"", got)
	}
}
