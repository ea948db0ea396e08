package crdt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
)

// TestPendingPastTheLimit: a pending set past MaxPendingBytes (updates taken whatever waits
// with IntegrateAccepted, or a limit lowered since) refuses what would make it larger, and takes
// what leaves it as large or smaller, the update that releases it above all. A snapshot holding
// such a set loads with IntegrateAccepted, and is refused by Integrate.
func TestPendingPastTheLimit(t *testing.T) {
	const limit = 16 << 10
	// Two writers whose first updates are withheld: the rest wait for them.
	var waiting [][]byte
	chain := func(client uint64, root string) (*crdt.Doc, []byte) {
		w := fresh(client)
		if err := w.Text(root).Insert(0, "first"); err != nil {
			t.Fatal(err)
		}
		first := w.TakeUpdate()
		for i := range 8 {
			if err := w.Text(root).Insert(5+i*4096, strings.Repeat("w", 4096)); err != nil {
				t.Fatal(err)
			}
			waiting = append(waiting, w.TakeUpdate())
		}
		return w, first
	}
	w, first := chain(9, "body")
	_, _ = chain(8, "aside") // never released
	if err := w.Text("body").Insert(0, "more "); err != nil {
		t.Fatal(err)
	}
	more := w.TakeUpdate()
	other := fresh(3)
	if err := other.Text("notes").Insert(0, "unrelated"); err != nil {
		t.Fatal(err)
	}
	unrelated := other.TakeUpdate()

	for _, tc := range []struct {
		name    string
		update  []byte
		refused bool
	}{
		{"an update that adds to what waits", more, true},
		{"an update that does not touch what waits", unrelated, false},
		{"an update that releases some of what waits", first, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := crdt.NewDoc(1, crdt.Config{MaxPendingBytes: limit})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range waiting {
				if err := d.IntegrateAccepted(u); err != nil { // accepted elsewhere: taken whatever waits
					t.Fatal(err)
				}
			}
			before := d.EncodeSnapshot()
			if n := d.PendingBytes(); n <= limit {
				t.Fatalf("%d bytes wait, want more than the limit %d", n, limit)
			}
			err = d.Integrate(tc.update)
			if tc.refused {
				if !errors.Is(err, crdt.ErrPendingOverflow) {
					t.Fatalf("Integrate = %v, want ErrPendingOverflow", err)
				}
				if string(d.EncodeSnapshot()) != string(before) {
					t.Fatal("a refused update changed the document")
				}
				return
			}
			if err != nil {
				t.Fatalf("Integrate = %v, want it taken", err)
			}
		})
	}

	// A limit lowered since the updates were taken; released, the document holds the writer's
	// text; the other writer's still waits.
	d, err := crdt.NewDoc(1, crdt.Config{MaxPendingBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range waiting {
		if err := d.Integrate(u); err != nil {
			t.Fatal(err)
		}
	}
	d.SetMaxPendingBytes(limit)
	snap := d.EncodeSnapshot()
	for _, accepted := range []bool{false, true} {
		l, err := crdt.NewDoc(2, crdt.Config{MaxPendingBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		if !accepted {
			if err := l.Integrate(snap); !errors.Is(err, crdt.ErrPendingOverflow) {
				t.Fatalf("Integrate(a snapshot past the limit) = %v, want ErrPendingOverflow", err)
			}
			continue
		}
		if err := l.IntegrateAccepted(snap); err != nil {
			t.Fatalf("IntegrateAccepted(a snapshot past the limit) = %v", err)
		}
		if l.PendingBytes() != d.PendingBytes() {
			t.Fatalf("loaded %d bytes waiting, want %d", l.PendingBytes(), d.PendingBytes())
		}
	}
	if err := d.Integrate(first); err != nil {
		t.Fatal(err)
	}
	if got, want := d.Text("body").String(), w.Text("body").String(); got != strings.TrimPrefix(want, "more ") {
		t.Fatalf("released: text of %d runes, want %d", len(got), len(want)-len("more "))
	}
	if n := d.PendingBytes(); n <= limit {
		t.Fatalf("%d bytes wait after the release, want the other writer's, past the limit", n)
	}
}
