package crdt

import (
	"errors"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// unit is one item of a text's sequence S, in document order.
type unit struct {
	id      ID
	deleted bool
}

// units returns the items of S, deleted ones included, one per code point.
func units(t *textRoot) []unit {
	var us []unit
	if t == nil {
		return nil
	}
	for l := t.firstLeaf; l != nil; l = l.next {
		for _, it := range l.items {
			for k := 0; k < it.n; k++ {
				us = append(us, unit{it.id(k), it.deleted})
			}
		}
	}
	return us
}

// wantOrigins returns the origins that docs/crdt.md 1.3 gives a local
// insertion at visible index pos: visible item pos-1 (START if pos is 0), and
// the item right after it in S, deleted or not (the first item of S if pos
// is 0; END if there is none).
func wantOrigins(us []unit, pos int) (left, right ID) {
	i := 0 // the index in S of the item after the insertion point
	for vis := 0; vis < pos; i++ {
		if !us[i].deleted {
			vis++
		}
	}
	if i > 0 {
		left = us[i-1].id
	}
	if i < len(us) {
		right = us[i].id
	}
	return left, right
}

// origins returns the origins of the own item with clock c.
func origins(d *Doc, c uint64) (left, right ID) {
	it := d.own.items.find(c)
	if it == nil {
		return ID{}, ID{}
	}
	left = it.left
	if c > it.clock {
		left = it.id(int(c-it.clock) - 1)
	}
	return left, it.right
}

func newTestDoc(t *testing.T, client uint64) *Doc {
	t.Helper()
	d, err := NewDoc(client, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLocalInsertLandsAtIndex is a property test: with deleted items
// anywhere (own and another client's, deleted locally and remotely), a local
// insertion at index p makes the visible text the old one with s at p, and
// its first item has the origins of docs/crdt.md 1.3 (right after visible
// item p-1, before the deleted items after it).
func TestLocalInsertLandsAtIndex(t *testing.T) {
	const alphabet = "abcé中😀"
	pick := func(rng *rand.Rand, n int) string {
		rs := []rune(alphabet)
		b := make([]rune, n)
		for i := range b {
			b[i] = rs[rng.IntN(len(rs))]
		}
		return string(b)
	}
	for seed := uint64(1); seed <= 25; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		a, b := newTestDoc(t, 1), newTestDoc(t, 2)
		ta, tb := a.Text("t"), b.Text("t")
		var model []rune
		for step := range 400 {
			switch r := rng.IntN(12); {
			case r < 6:
				pos := rng.IntN(len(model) + 1)
				s := pick(rng, 1+rng.IntN(3))
				wantL, wantR := wantOrigins(units(a.text("t")), pos)
				clock := a.own.next
				if err := ta.Insert(pos, s); err != nil {
					t.Fatalf("seed %d step %d: Insert(%d, %q) = %v", seed, step, pos, s, err)
				}
				model = append(model[:pos], append([]rune(s), model[pos:]...)...)
				if l, r := origins(a, clock); l != wantL || r != wantR {
					t.Fatalf("seed %d step %d: Insert(%d, %q) origins (%v, %v); want (%v, %v)", seed, step, pos, s, l, r, wantL, wantR)
				}
			case r < 9:
				if len(model) == 0 {
					continue
				}
				pos := rng.IntN(len(model))
				n := 1 + rng.IntN(min(4, len(model)-pos))
				if err := ta.Delete(pos, n); err != nil {
					t.Fatalf("seed %d step %d: Delete(%d, %d) = %v", seed, step, pos, n, err)
				}
				model = append(model[:pos], model[pos+n:]...)
			case r < 11:
				// The other client edits, a learns it: tombstones of another client.
				if l := tb.Len(); l > 0 && rng.IntN(2) == 0 {
					pos := rng.IntN(l)
					tb.Delete(pos, 1+rng.IntN(min(3, l-pos)))
				} else {
					tb.Insert(rng.IntN(tb.Len()+1), pick(rng, 1+rng.IntN(3)))
				}
				if u := b.TakeUpdate(); u != nil {
					if _, err := a.Apply(u); err != nil {
						t.Fatalf("seed %d step %d: a.Apply = %v", seed, step, err)
					}
				}
				model = []rune(ta.String())
			default:
				if _, err := b.Apply(a.EncodeUpdate(b.StateVector())); err != nil {
					t.Fatalf("seed %d step %d: b.Apply = %v", seed, step, err)
				}
			}
			if got := ta.String(); got != string(model) {
				t.Fatalf("seed %d step %d: text %q; want %q", seed, step, got, string(model))
			}
		}
		if err := CheckInvariants(a); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if _, err := b.Apply(a.EncodeUpdate(b.StateVector())); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Apply(b.EncodeUpdate(a.StateVector())); err != nil {
			t.Fatal(err)
		}
		if ga, gb := ta.String(), tb.String(); ga != gb {
			t.Fatalf("seed %d: a %q and b %q differ after syncing", seed, ga, gb)
		}
	}
}

// runCount returns the number of runs of a text root.
func runCount(t *textRoot) int {
	n := 0
	for l := t.firstLeaf; l != nil; l = l.next {
		n += len(l.items)
	}
	return n
}

// TestChurnSize (T-SEC-11): 100,000 pairs "insert a character, delete it"
// by one client. Each new character goes right after the visible one before
// the cursor, before the characters deleted there (docs/crdt.md 1.3), so each
// pair leaves a deleted run of its own, at one place as at random positions:
// a few bytes per pair, bounded here at 8 bytes (snapshot) and 12 bytes
// (full update) per pair, and one run in memory per pair.
func TestChurnSize(t *testing.T) {
	const pairs = 100_000
	tests := []struct {
		name      string
		start     int // characters typed first
		pos       func(rng *rand.Rand, n int) int
		maxBytes  int
		maxRuns   int
		maxUpdate int
	}{
		{"end of an empty text", 0, func(_ *rand.Rand, n int) int { return n }, 8 * pairs, pairs + 1, 12 * pairs},
		{"end of 1,000 characters", 1000, func(_ *rand.Rand, n int) int { return n }, 8 * pairs, pairs + 2, 12 * pairs},
		{"start of 1,000 characters", 1000, func(_ *rand.Rand, n int) int { return 0 }, 8 * pairs, pairs + 2, 12 * pairs},
		{"middle of 1,000 characters", 1000, func(_ *rand.Rand, n int) int { return n / 2 }, 8 * pairs, pairs + 3, 12 * pairs},
		{"random positions in 1,000 characters", 1000, func(rng *rand.Rand, n int) int { return rng.IntN(n + 1) }, 8 * pairs, pairs + 1000, 12 * pairs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDoc(t, 1)
			txt := d.Text("body")
			if tt.start > 0 {
				if err := txt.Insert(0, repeat('a', tt.start)); err != nil {
					t.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(11, 0))
			for i := range pairs {
				p := tt.pos(rng, txt.Len())
				if err := txt.Insert(p, "x"); err != nil {
					t.Fatalf("pair %d: Insert(%d) = %v", i, p, err)
				}
				if err := txt.Delete(p, 1); err != nil {
					t.Fatalf("pair %d: Delete(%d, 1) = %v", i, p, err)
				}
			}
			if got, want := txt.Len(), tt.start; got != want {
				t.Fatalf("Len = %d; want %d", got, want)
			}
			if err := CheckInvariants(d); err != nil {
				t.Fatal(err)
			}
			snap := d.EncodeSnapshot()
			upd := d.EncodeUpdate(nil)
			runs := runCount(d.text("body"))
			t.Logf("%d pairs: snapshot %d bytes, full update %d bytes, %d runs in memory", pairs, len(snap), len(upd), runs)
			if len(snap) > tt.maxBytes {
				t.Errorf("snapshot of %d bytes; want at most %d", len(snap), tt.maxBytes)
			}
			if len(upd) > tt.maxUpdate {
				t.Errorf("update of %d bytes; want at most %d", len(upd), tt.maxUpdate)
			}
			if runs > tt.maxRuns {
				t.Errorf("%d runs in memory; want at most %d", runs, tt.maxRuns)
			}
			// The snapshot loads back to the same state.
			e := newTestDoc(t, 2)
			if _, err := e.Apply(snap); err != nil {
				t.Fatal(err)
			}
			if got := e.EncodeSnapshot(); string(got) != string(snap) {
				t.Errorf("snapshot reloaded encodes to %d other bytes", len(got))
			}
		})
	}
}

func repeat(c rune, n int) string {
	b := make([]byte, 0, n*utf8.RuneLen(c))
	for range n {
		b = utf8.AppendRune(b, c)
	}
	return string(b)
}

// TestInsertAt inserts at relative positions next to visible and deleted
// items, checks the text, the origins (docs/crdt.md 1.3) and that a replica
// receiving the update agrees; and the errors.
func TestInsertAt(t *testing.T) {
	// "hello world" by client 1: (1,0)='h' ... (1,5)=' ' ... (1,10)='d'.
	id := func(c uint64) ID { return ID{1, c} }
	tests := []struct {
		name      string
		del       [2]int // Delete(pos, n) after typing, n = 0: none
		rp        RelPos
		want      string
		wantLeft  ID
		wantRight ID
	}{
		{"before a visible item", [2]int{}, RelPos{Kind: RelBefore, ID: id(6)}, "hello Xworld", id(5), id(6)},
		{"after a visible item", [2]int{}, RelPos{Kind: RelAfter, ID: id(4)}, "helloX world", id(4), id(5)},
		{"before the first item", [2]int{}, RelPos{Kind: RelBefore, ID: id(0)}, "Xhello world", ID{}, id(0)},
		{"start", [2]int{}, RelPos{Kind: RelStart}, "Xhello world", ID{}, id(0)},
		{"end", [2]int{}, RelPos{Kind: RelEnd}, "hello worldX", id(10), ID{}},
		{"before a deleted item", [2]int{5, 6}, RelPos{Kind: RelBefore, ID: id(8)}, "helloX", id(7), id(8)},
		{"after a deleted item", [2]int{5, 6}, RelPos{Kind: RelAfter, ID: id(5)}, "helloX", id(5), id(6)},
		{"start before deleted items", [2]int{0, 6}, RelPos{Kind: RelStart}, "Xworld", ID{}, id(0)},
		{"end after deleted items", [2]int{5, 6}, RelPos{Kind: RelEnd}, "helloX", id(10), ID{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDoc(t, 1)
			txt := d.Text("t")
			txt.Insert(0, "hello world")
			if tt.del[1] > 0 {
				txt.Delete(tt.del[0], tt.del[1])
			}
			tt.rp.Root = "t"
			clock := d.own.next
			if err := txt.InsertAt(tt.rp, "X"); err != nil {
				t.Fatalf("InsertAt(%v) = %v", tt.rp, err)
			}
			if got := txt.String(); got != tt.want {
				t.Errorf("InsertAt(%v): text %q; want %q", tt.rp, got, tt.want)
			}
			if l, r := origins(d, clock); l != tt.wantLeft || r != tt.wantRight {
				t.Errorf("InsertAt(%v): origins (%v, %v); want (%v, %v)", tt.rp, l, r, tt.wantLeft, tt.wantRight)
			}
			if err := CheckInvariants(d); err != nil {
				t.Fatal(err)
			}
			e := newTestDoc(t, 2)
			if _, err := e.Apply(d.EncodeUpdate(nil)); err != nil {
				t.Fatal(err)
			}
			if got := e.Text("t").String(); got != tt.want {
				t.Errorf("replica: text %q; want %q", got, tt.want)
			}
		})
	}

	// Undo, then redo in order: the text goes back where it was, which
	// Insert at the resolved index cannot do once everything is deleted.
	d := newTestDoc(t, 1)
	txt := d.Text("t")
	txt.Insert(0, "hello")
	txt.Insert(5, " world")
	txt.Delete(5, 6)
	txt.Delete(0, 5)
	for _, c := range []uint64{0, 5} {
		if err := txt.InsertAt(RelPos{Root: "t", Kind: RelBefore, ID: id(c)}, map[uint64]string{0: "hello", 5: " world"}[c]); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := txt.String(), "hello world"; got != want {
		t.Errorf("redo: %q; want %q", got, want)
	}

	errTests := []struct {
		name string
		root string
		rp   RelPos
		s    string
		want error
	}{
		{"unknown item", "t", RelPos{Root: "t", Kind: RelBefore, ID: ID{9, 0}}, "x", ErrUnknownPosition},
		{"clock past the client", "t", RelPos{Root: "t", Kind: RelAfter, ID: ID{1, 100}}, "x", ErrUnknownPosition},
		{"another root", "t", RelPos{Root: "u", Kind: RelStart}, "x", ErrUnknownPosition},
		{"item of another root", "u", RelPos{Root: "u", Kind: RelBefore, ID: ID{1, 0}}, "x", ErrUnknownPosition},
		{"bad kind", "t", RelPos{Root: "t", Kind: 9}, "x", ErrUnknownPosition},
		{"invalid text", "t", RelPos{Root: "t", Kind: RelEnd}, "\xff", ErrInvalidText},
		{"invalid root name", "", RelPos{Root: "", Kind: RelEnd}, "x", ErrInvalidName},
	}
	for _, tt := range errTests {
		d := newTestDoc(t, 1)
		d.Text("t").Insert(0, "ab")
		before := d.EncodeSnapshot()
		if err := d.Text(tt.root).InsertAt(tt.rp, tt.s); !errors.Is(err, tt.want) {
			t.Errorf("%s: InsertAt(%v, %q) = %v; want %v", tt.name, tt.rp, tt.s, err, tt.want)
		}
		if got := d.EncodeSnapshot(); string(got) != string(before) {
			t.Errorf("%s: the refused InsertAt changed the document", tt.name)
		}
	}
}
