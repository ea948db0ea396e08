package crdt_test

import (
	"testing"

	"github.com/tandemhq/tandem/crdt"
)

// PendingUpdate hands a unit whose dependency is missing to a peer, which
// integrates it as soon as it has the dependency.
func TestPendingUpdate(t *testing.T) {
	newDoc := func(client uint64) *crdt.Doc {
		t.Helper()
		d, err := crdt.NewDoc(client, crdt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b, server, late := newDoc(1), newDoc(2), newDoc(3), newDoc(4)
	if err := a.Text("t").Insert(0, "x"); err != nil {
		t.Fatal(err)
	}
	ux := a.TakeUpdate()
	if _, err := b.Apply(ux); err != nil {
		t.Fatal(err)
	}
	if err := b.Text("t").Insert(1, "y"); err != nil {
		t.Fatal(err)
	}
	if err := b.Text("t").Delete(0, 1); err != nil {
		t.Fatal(err)
	}
	uy := b.TakeUpdate() // "y" after "x", and the deletion of "x": both wait for "x"

	if got := server.PendingUpdate(); got != nil {
		t.Fatalf("PendingUpdate of a document with nothing pending = %x; want nil", got)
	}
	if _, err := server.Apply(uy); err != nil {
		t.Fatal(err)
	}
	p := server.PendingUpdate()
	if p == nil {
		t.Fatal("PendingUpdate = nil with a unit and a deletion pending")
	}
	if got := len(p); got != server.PendingBytes() {
		t.Errorf("len(PendingUpdate) = %d; want PendingBytes %d", got, server.PendingBytes())
	}
	// A peer that joins now gets the state and the pending update; the dependency arrives later
	// from its author, as what the server passes on.
	if _, err := late.Apply(server.EncodeUpdate(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Apply(p); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*crdt.Doc{server, late} {
		if _, err := d.Apply(ux); err != nil {
			t.Fatal(err)
		}
	}
	for name, d := range map[string]*crdt.Doc{"server": server, "late joiner": late} {
		if got := d.Text("t").String(); got != "y" {
			t.Errorf("%s: text %q; want %q", name, got, "y")
		}
		if got := d.PendingUpdate(); got != nil {
			t.Errorf("%s: PendingUpdate after the dependency arrived = %x; want nil", name, got)
		}
	}
}
