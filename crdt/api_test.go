package crdt_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
)

func TestNewDocClientID(t *testing.T) {
	tests := []struct {
		client uint64
		err    error
	}{
		{0, crdt.ErrInvalidClientID},
		{1, nil},
		{crdt.MaxClientID, nil},
		{crdt.MaxClientID + 1, crdt.ErrInvalidClientID},
		{^uint64(0), crdt.ErrInvalidClientID},
	}
	for _, tt := range tests {
		d, err := crdt.NewDoc(tt.client, crdt.Config{})
		if !errors.Is(err, tt.err) {
			t.Errorf("NewDoc(%d) error = %v; want %v", tt.client, err, tt.err)
		}
		if err == nil && d.ClientID() != tt.client {
			t.Errorf("NewDoc(%d).ClientID() = %d", tt.client, d.ClientID())
		}
	}
}

// TestLocalEditErrors checks every refusal of a local edit: the sentinel,
// the crdt: prefix, and that nothing changed.
func TestLocalEditErrors(t *testing.T) {
	long := strings.Repeat("k", crdt.MaxKeyBytes+1)
	tests := []struct {
		name string
		edit func(d *crdt.Doc) error
		want error
	}{
		{"insert past the end", func(d *crdt.Doc) error { return d.Text("t").Insert(6, "x") }, crdt.ErrOutOfRange},
		{"insert before 0", func(d *crdt.Doc) error { return d.Text("t").Insert(-1, "x") }, crdt.ErrOutOfRange},
		{"insert invalid utf-8", func(d *crdt.Doc) error { return d.Text("t").Insert(0, "a\xffb") }, crdt.ErrInvalidText},
		{"insert a surrogate", func(d *crdt.Doc) error { return d.Text("t").Insert(0, "\xed\xa0\x80") }, crdt.ErrInvalidText},
		{"insert into an empty name", func(d *crdt.Doc) error { return d.Text("").Insert(0, "x") }, crdt.ErrInvalidName},
		{"insert into a long name", func(d *crdt.Doc) error { return d.Text(strings.Repeat("n", 256)).Insert(0, "x") }, crdt.ErrInvalidName},
		{"delete past the end", func(d *crdt.Doc) error { return d.Text("t").Delete(3, 3) }, crdt.ErrOutOfRange},
		{"delete negative", func(d *crdt.Doc) error { return d.Text("t").Delete(1, -1) }, crdt.ErrOutOfRange},
		{"delete in a missing root", func(d *crdt.Doc) error { return d.Text("none").Delete(0, 1) }, crdt.ErrOutOfRange},
		{"relpos past the end", func(d *crdt.Doc) error { _, err := d.Text("t").RelPos(6, 0); return err }, crdt.ErrOutOfRange},
		{"set invalid json", func(d *crdt.Doc) error { return d.Map("m").Set("k", []byte("{")) }, crdt.ErrInvalidJSON},
		{"set empty json", func(d *crdt.Doc) error { return d.Map("m").Set("k", nil) }, crdt.ErrInvalidJSON},
		{"set too deep", func(d *crdt.Doc) error {
			return d.Map("m").Set("k", []byte(strings.Repeat("[", 10001)+strings.Repeat("]", 10001)))
		}, crdt.ErrInvalidJSON},
		{"set too big", func(d *crdt.Doc) error {
			return d.Map("m").Set("k", []byte(`"`+strings.Repeat("x", crdt.MaxValueBytes)+`"`))
		}, crdt.ErrInvalidJSON},
		{"set a long key", func(d *crdt.Doc) error { return d.Map("m").Set(long, []byte("1")) }, crdt.ErrInvalidName},
		{"set an invalid key", func(d *crdt.Doc) error { return d.Map("m").Set("\xff", []byte("1")) }, crdt.ErrInvalidName},
		{"delete a long key", func(d *crdt.Doc) error { return d.Map("m").Delete(long) }, crdt.ErrInvalidName},
		{"set in an empty name", func(d *crdt.Doc) error { return d.Map("").Set("k", []byte("1")) }, crdt.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fresh(1)
			d.Text("t").Insert(0, "hello")
			d.TakeUpdate()
			before := d.EncodeSnapshot()
			err := tt.edit(d)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v; want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "crdt: ") {
				t.Errorf("error %q lacks the crdt: prefix", err)
			}
			if after := d.EncodeSnapshot(); !bytes.Equal(after, before) {
				t.Error("the refused edit changed the document")
			}
			if u := d.TakeUpdate(); u != nil {
				t.Errorf("TakeUpdate after a refused edit = %x; want nil", u)
			}
		})
	}
}

func TestTextBasics(t *testing.T) {
	d := fresh(1)
	txt := d.Text("t")
	if txt.Len() != 0 || txt.String() != "" || d.Roots() != nil && len(d.Roots()) != 0 {
		t.Fatalf("a new document is not empty: %d %q %v", txt.Len(), txt.String(), d.Roots())
	}
	steps := []struct {
		op   func() error
		want string
	}{
		{func() error { return txt.Insert(0, "héllo") }, "héllo"},
		{func() error { return txt.Insert(5, " 😀") }, "héllo 😀"},
		{func() error { return txt.Insert(0, "") }, "héllo 😀"},
		{func() error { return txt.Delete(1, 1) }, "hllo 😀"},
		{func() error { return txt.Delete(5, 1) }, "hllo "},
		{func() error { return txt.Delete(2, 0) }, "hllo "},
		{func() error { return txt.Insert(2, "\U0010ffff\x00") }, "hl\U0010ffff\x00lo "},
	}
	for i, s := range steps {
		if err := s.op(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := txt.String(); got != s.want {
			t.Fatalf("step %d: String() = %q; want %q", i, got, s.want)
		}
		if got, want := txt.Len(), len([]rune(s.want)); got != want {
			t.Fatalf("step %d: Len() = %d; want %d", i, got, want)
		}
	}
	if got, want := d.Roots(), []crdt.RootInfo{{Name: "t", Kind: crdt.KindText}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Roots() = %v; want %v", got, want)
	}
}

func TestMapBasics(t *testing.T) {
	d := fresh(1)
	m := d.Map("m")
	if _, ok := m.Get("k"); ok {
		t.Fatal("Get on an empty map found a value")
	}
	if err := m.Set("k", json.RawMessage(` {"a": 1} `)); err != nil {
		t.Fatal(err)
	}
	m.Set("é", []byte("2"))
	m.Set("a", []byte("3"))
	if v, ok := m.Get("k"); !ok || string(v) != ` {"a": 1} ` {
		t.Errorf(`Get("k") = %q, %v; want the bytes as given`, v, ok)
	}
	if got, want := m.Keys(), []string{"a", "k", "é"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys() = %q; want %q", got, want)
	}
	m.Delete("k")
	if _, ok := m.Get("k"); ok {
		t.Error("Get after Delete found a value")
	}
	d.Text("z").Insert(0, "x")
	d.Map("b").Delete("never")
	want := []crdt.RootInfo{{Name: "b", Kind: crdt.KindMap}, {Name: "m", Kind: crdt.KindMap}, {Name: "z", Kind: crdt.KindText}}
	if got := d.Roots(); !reflect.DeepEqual(got, want) {
		t.Errorf("Roots() = %v; want %v", got, want)
	}
}

func TestTakeUpdate(t *testing.T) {
	d := fresh(5)
	if u := d.TakeUpdate(); u != nil {
		t.Errorf("TakeUpdate on a new document = %x; want nil", u)
	}
	d.Text("t").Insert(0, "ab")
	if u := d.TakeUpdate(); u == nil {
		t.Fatal("TakeUpdate after an insert = nil")
	}
	if u := d.TakeUpdate(); u != nil {
		t.Errorf("second TakeUpdate = %x; want nil", u)
	}
	// Only a deletion: an update with a delete set and no blocks.
	d.Text("t").Delete(0, 1)
	u := d.TakeUpdate()
	info, err := crdt.InspectUpdate(u)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Authors) != 0 || !reflect.DeepEqual(info.DeleteClients, []uint64{5}) || info.DeleteRanges != 1 {
		t.Errorf("InspectUpdate(deletion) = %+v", info)
	}
}

func TestEncodeUpdateEmpty(t *testing.T) {
	d := fresh(1)
	if got, want := d.EncodeUpdate(nil), []byte{1, 0, 0, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("EncodeUpdate of an empty document = %x; want %x", got, want)
	}
	d.Text("t").Insert(0, "x")
	if got, want := d.EncodeUpdate(d.StateVector()), []byte{1, 0, 0, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("EncodeUpdate(own state vector) = %x; want %x", got, want)
	}
}

func TestInspectUpdate(t *testing.T) {
	a := fresh(7)
	a.Text("t").Insert(0, "héllo")
	a.Map("m").Set("k", []byte("1"))
	a.Map("m").Set("k", []byte("2"))
	b := fresh(3)
	b.Apply(a.TakeUpdate())
	b.Text("t").Delete(0, 2)
	b.Text("t").Insert(0, "X")
	tests := []struct {
		name string
		in   []byte
		want crdt.UpdateInfo
	}{
		{"update", b.TakeUpdate(), crdt.UpdateInfo{Format: 1, Authors: []uint64{3},
			Ranges: []crdt.ClockRange{{Client: 3, Start: 0, End: 1}}, DeleteClients: []uint64{7},
			Units: 1, TextUnits: 1, DeleteRanges: 1, Roots: []crdt.RootInfo{{Name: "t", Kind: crdt.KindText}}}},
		{"everything", b.EncodeUpdate(nil), crdt.UpdateInfo{Format: 1, Authors: []uint64{3, 7},
			Ranges: []crdt.ClockRange{{Client: 3, Start: 0, End: 1}, {Client: 7, Start: 0, End: 7}}, DeleteClients: []uint64{7},
			Units: 8, TextUnits: 6, DeleteRanges: 1, Roots: []crdt.RootInfo{{Name: "t", Kind: crdt.KindText}, {Name: "m", Kind: crdt.KindMap}}}},
		{"snapshot", b.EncodeSnapshot(), crdt.UpdateInfo{Format: 5, Authors: []uint64{3, 7},
			Ranges: []crdt.ClockRange{{Client: 3, Start: 0, End: 1}, {Client: 7, Start: 0, End: 7}}, DeleteClients: []uint64{7},
			Units: 8, TextUnits: 6, DeleteRanges: 1, Roots: []crdt.RootInfo{{Name: "t", Kind: crdt.KindText}, {Name: "m", Kind: crdt.KindMap}}}},
	}
	// Two blocks of one client with a gap (as in a snapshot's pending section).
	twoBlocks, _ := hex.DecodeString("0101010101017002000701080000060101320009010800000801013400")
	tests = append(tests, struct {
		name string
		in   []byte
		want crdt.UpdateInfo
	}{"two blocks", twoBlocks, crdt.UpdateInfo{Format: 1, Authors: []uint64{1},
		Ranges: []crdt.ClockRange{{Client: 1, Start: 7, End: 8}, {Client: 1, Start: 9, End: 10}},
		Units:  2, TextUnits: 2, Roots: []crdt.RootInfo{{Name: "p", Kind: crdt.KindText}}}})
	for _, tt := range tests {
		got, err := crdt.InspectUpdate(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: InspectUpdate = %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
	for _, bad := range [][]byte{nil, {0}, {3, 0}, {1}, {2, 0}} {
		if _, err := crdt.InspectUpdate(bad); !errors.Is(err, crdt.ErrMalformedUpdate) {
			t.Errorf("InspectUpdate(%x) error = %v; want ErrMalformedUpdate", bad, err)
		}
	}
}

// TestChanges checks the changes Apply reports for a remote edit.
func TestChanges(t *testing.T) {
	a, b := fresh(1), fresh(2)
	a.Text("t").Insert(0, "hello world")
	a.Map("m").Set("k", []byte("1"))
	ch, err := b.Apply(a.TakeUpdate())
	if err != nil {
		t.Fatal(err)
	}
	want := []crdt.Change{
		{Root: "t", Kind: crdt.KindText, Edits: []crdt.TextEdit{{Pos: 0, Insert: "hello world"}}},
		{Root: "m", Kind: crdt.KindMap, Keys: []string{"k"}},
	}
	if !reflect.DeepEqual(ch, want) {
		t.Errorf("changes = %+v; want %+v", ch, want)
	}
	a.Text("t").Delete(0, 6)
	a.Text("t").Insert(5, "!")
	ch, _ = b.Apply(a.TakeUpdate())
	want = []crdt.Change{{Root: "t", Kind: crdt.KindText, Edits: []crdt.TextEdit{{Pos: 11, Insert: "!"}, {Pos: 0, Delete: 6}}}}
	if !reflect.DeepEqual(ch, want) {
		t.Errorf("changes = %+v; want %+v", ch, want)
	}
	if ch, _ := b.Apply(a.EncodeUpdate(nil)); ch != nil {
		t.Errorf("changes of a known update = %+v; want none", ch)
	}
}

// TestDecodeAllocationBounded: declared counts are checked against the bytes
// that remain before anything is allocated, so a short input that claims
// huge tables costs little.
func TestDecodeAllocationBounded(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}
	inputs := [][]byte{
		append([]byte{1}, huge...),                                    // clients
		append([]byte{1, 0}, huge...),                                 // roots
		append([]byte{1, 0, 0}, huge...),                              // blocks
		append([]byte{1, 0, 0, 0}, huge...),                           // delete set
		append([]byte{2, 0, 0}, huge...),                              // state vector of a snapshot
		append([]byte{2, 1, 5, 1, 1, 1, 't', 1, 0, 1, 1, 0}, huge...), // runs
		append([]byte{3}, huge...),
		append([]byte{4, 0}, huge...), // root name length
	}
	d := fresh(1)
	for _, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := d.Apply(in)
		crdt.InspectUpdate(in)
		crdt.DecodeStateVector(in)
		crdt.DecodeRelPos(in)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("Apply(%x) accepted", in)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("decoding %x allocated %d bytes", in, n)
		}
	}
}

func TestVersionTellsNoOpFromChange(t *testing.T) {
	a, _ := crdt.NewDoc(1, crdt.Config{})
	b, _ := crdt.NewDoc(2, crdt.Config{})
	step := func(name string, d *crdt.Doc, fn func() error, wantChange bool) {
		t.Helper()
		before := d.Version()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if changed := d.Version() != before; changed != wantChange {
			t.Errorf("%s: version changed = %v; want %v", name, changed, wantChange)
		}
	}
	apply := func(d *crdt.Doc, u []byte) func() error {
		return func() error { _, err := d.Apply(u); return err }
	}
	step("insert", a, func() error { return a.Text("body").Insert(0, "hello") }, true)
	u1 := a.TakeUpdate()
	step("apply new", b, apply(b, u1), true)
	step("apply again", b, apply(b, u1), false)
	step("delete", a, func() error { return a.Text("body").Delete(0, 1) }, true)
	u2 := a.TakeUpdate()
	step("apply deletion", b, apply(b, u2), true)
	step("apply deletion again", b, apply(b, u2), false)
	step("catch-up with known deletions", b, apply(b, a.EncodeUpdate(b.StateVector())), false)
	step("map set", a, func() error { return a.Map("meta").Set("k", []byte(`1`)) }, true)
	// An update whose dependencies are missing changes the pending buffer only.
	step("more text", a, func() error { return a.Text("body").Insert(0, "x") }, true)
	skipped := a.TakeUpdate()
	step("more text again", a, func() error { return a.Text("body").Insert(0, "y") }, true)
	dependent := a.TakeUpdate()
	step("apply out of order", b, apply(b, dependent), true)
	step("apply out of order again", b, apply(b, dependent), false)
	step("apply the missing one", b, apply(b, skipped), true)
	step("empty insert", a, func() error { return a.Text("body").Insert(0, "") }, false)
	step("empty delete", a, func() error { return a.Text("body").Delete(0, 0) }, false)
}

// TestSnapshotOfSmallDeletedRunsLoads: a deleted run whose origins the
// snapshot implies takes three bytes (flags, clock delta, length) and no
// content, so the decoder's bound on the run count must allow three bytes per
// run. Text typed backwards at the start, one character at a time, then
// deleted, is such a text.
func TestSnapshotOfSmallDeletedRunsLoads(t *testing.T) {
	for _, n := range []int{1, 10, 1000} {
		d := fresh(1)
		txt := d.Text("body")
		for range n {
			if err := txt.Insert(0, "x"); err != nil {
				t.Fatal(err)
			}
		}
		if err := txt.Delete(0, n); err != nil {
			t.Fatal(err)
		}
		snap := d.EncodeSnapshot()
		e := fresh(2)
		if _, err := e.Apply(snap); err != nil {
			t.Fatalf("%d runs: Apply(snapshot of %d bytes) = %v", n, len(snap), err)
		}
		if got := e.EncodeSnapshot(); !bytes.Equal(got, snap) {
			t.Errorf("%d runs: the loaded snapshot encodes to %x; want %x", n, got, snap)
		}
	}
}
