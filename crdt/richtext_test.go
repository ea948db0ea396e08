package crdt_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// TestRichConvergence runs random sessions of text, embed, mark and
// attribute edits with shuffled, duplicated and lost deliveries: every Apply
// reports changes that turn the old spans into the new ones, and the
// replicas end with the same spans and the same snapshot bytes.
func TestRichConvergence(t *testing.T) {
	cases := []struct {
		name string
		opts crdttest.SimOptions
	}{
		{"fifo", crdttest.SimOptions{Rich: true, Replicas: 3, ReconnectRate: 0.02, Check: crdt.CheckRichInvariants}},
		{"shuffled", crdttest.SimOptions{Rich: true, Replicas: 4, Shuffle: true, Duplicate: true, ReconnectRate: 0.03, Check: crdt.CheckRichInvariants}},
		{"lossy", crdttest.SimOptions{Rich: true, Replicas: 3, Shuffle: true, DropRate: 0.2, ReconnectRate: 0.05, FlushRate: 0.02, Check: crdt.CheckRichInvariants}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forSeeds(t, func(seed uint64) error {
				s, err := runSim(seed, c.opts)
				if err != nil {
					return err
				}
				// A snapshot loads into a replica equal to its source, and reports
				// changes that build its spans.
				d := fresh(99)
				if err := crdttest.CheckApply(d, s.Docs[0].EncodeSnapshot()); err != nil {
					return err
				}
				return crdttest.Compare(s.Docs[0], d)
			})
		})
	}
}

// fuzzRichDoc returns a document with embeds, marks, attributes, deletions
// and a pending mark. Its client IDs are not those of the scenarios (whose
// values seed the fuzzer), so that a seed does not reuse them with other
// content.
func fuzzRichDoc(tb testing.TB) *crdt.Doc {
	a, b := fresh(1001), fresh(1002)
	ta := a.Text("t")
	ta.Insert(0, "hello wörld 😀")
	ta.InsertEmbed(0, []byte(`{"block":"heading","level":1}`))
	ta.InsertEmbed(6, []byte(`{"inline":"image","src":"a.png"}`))
	ta.Format(1, 8, "bold", []byte("true"), crdt.ExpandAfter)
	ta.Format(3, 4, "link", []byte(`{"href":"x"}`), crdt.ExpandNone)
	ta.SetAttr(0, "level", []byte("2"))
	ta.Delete(2, 1)
	b.Apply(a.TakeUpdate())
	tb2 := b.Text("t")
	tb2.Insert(3, "xyz")
	u1 := b.TakeUpdate()
	tb2.Format(0, 5, "comment:1", []byte(`{}`), crdt.ExpandNone)
	u2 := b.TakeUpdate()
	if _, err := a.Apply(u2); err != nil { // waits for u1
		tb.Fatal(err)
	}
	_ = u1
	return a
}

// FuzzApplyRich feeds arbitrary bytes, seeded with the rich scenarios'
// updates and version 3 snapshots, to a document with rich content: no
// panic; a refusal is a sentinel error and changes nothing; an accepted
// input leaves a document whose snapshot reloads to the same bytes and the
// same spans, and whose mark index, made before the input, agrees with
// placing every mark.
func FuzzApplyRich(f *testing.F) {
	for _, format := range []byte{0x01, 0x06} {
		for _, b := range scenarioHex(f, format) {
			f.Add(b)
		}
	}
	f.Add(fuzzRichDoc(f).EncodeSnapshot())
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fuzzRichDoc(t)
		for _, r := range d.Roots() {
			if r.Kind == crdt.KindText {
				d.Text(r.Name).Spans() // makes the mark index that the input then moves
			}
		}
		before := d.EncodeSnapshot()
		if _, err := d.Apply(data); err != nil {
			if !errors.Is(err, crdt.ErrMalformedUpdate) && !errors.Is(err, crdt.ErrPendingOverflow) {
				t.Fatalf("Apply: error %v is not a sentinel", err)
			}
			if after := d.EncodeSnapshot(); !bytes.Equal(after, before) {
				t.Fatalf("Apply refused the input (%v) but the document changed", err)
			}
			return
		}
		if err := crdt.CheckRichInvariants(d); err != nil {
			t.Fatal(err)
		}
		e := reloaded(t, d)
		for _, r := range d.Roots() {
			if r.Kind != crdt.KindText {
				continue
			}
			if got, want := crdttest.SpansJSON(e.Text(r.Name).Spans()), crdttest.SpansJSON(d.Text(r.Name).Spans()); got != want {
				t.Fatalf("spans of %q after reload = %s; want %s", r.Name, got, want)
			}
		}
	})
}

// TestRichSplitUpdate cuts a rich update into parts of at most max bytes:
// applied in order, they give the document the whole update gives.
func TestRichSplitUpdate(t *testing.T) {
	src := fuzzRichDoc(t)
	whole := src.EncodeUpdate(nil)
	want := fresh(7)
	if err := apply(want, whole, src.PendingUpdate()); err != nil {
		t.Fatal(err)
	}
	for _, max := range []int{crdt.MinSplitBytes, 80, 100, 200, 1 << 20} {
		parts, err := crdt.SplitUpdate(whole, max)
		if err != nil {
			t.Fatalf("SplitUpdate(%d): %v", max, err)
		}
		got := fresh(7)
		for i, p := range parts {
			if len(p) > max {
				t.Fatalf("max %d: part %d has %d bytes", max, i, len(p))
			}
			if err := apply(got, p); err != nil {
				t.Fatalf("max %d: part %d: %v", max, i, err)
			}
		}
		if err := apply(got, src.PendingUpdate()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.EncodeSnapshot(), want.EncodeSnapshot()) {
			t.Fatalf("max %d (%d parts): the snapshot differs", max, len(parts))
		}
		if g, w := crdttest.SpansJSON(got.Text("t").Spans()), crdttest.SpansJSON(want.Text("t").Spans()); g != w {
			t.Fatalf("max %d (%d parts): spans %s; want %s", max, len(parts), g, w)
		}
	}
}

// Bold grows when text is typed at its end; a link does not.
func ExampleText_Format() {
	d, _ := crdt.NewDoc(1, crdt.Config{})
	t := d.Text("body")
	t.InsertEmbed(0, []byte(`{"block":"heading","level":1}`))
	t.Insert(1, "Hello world")
	t.Format(1, 5, "bold", []byte("true"), crdt.ExpandAfter)
	t.Format(7, 5, "link", []byte(`{"href":"https://example.com"}`), crdt.ExpandNone)
	t.Insert(6, "!")
	t.Insert(13, "?")
	fmt.Println(crdttest.SpansJSON(t.Spans()))
	// Output:
	// [{"embed":{"block":"heading","level":1}},{"insert":"Hello!","marks":{"bold":true}},{"insert":" "},{"insert":"world","marks":{"link":{"href":"https://example.com"}}},{"insert":"?"}]
}

// TestInsertEmbedAt puts a deleted embed back where it was, next to its
// deleted neighbours, and refuses unknown positions.
func TestInsertEmbedAt(t *testing.T) {
	d := fresh(1)
	tx := d.Text("t")
	tx.Insert(0, "ab")
	tx.InsertEmbed(1, []byte(`{"inline":"image"}`))
	before, err := tx.RelPos(2, -1) // after the embed
	if err != nil {
		t.Fatal(err)
	}
	tx.Delete(1, 1)
	cases := []struct {
		name string
		pos  crdt.RelPos
		want string
		err  error
	}{
		{"after the deleted embed", before, `[{"insert":"a"},{"embed":{"inline":"image"}},{"insert":"b"}]`, nil},
		{"start", crdt.RelPos{Root: "t", Kind: crdt.RelStart}, `[{"embed":{"inline":"image"}},{"insert":"a"},{"embed":{"inline":"image"}},{"insert":"b"}]`, nil},
		{"unknown item", crdt.RelPos{Root: "t", Kind: crdt.RelBefore, ID: crdt.ID{Client: 9, Clock: 0}}, "", crdt.ErrUnknownPosition},
		{"other root", crdt.RelPos{Root: "u", Kind: crdt.RelStart}, "", crdt.ErrUnknownPosition},
	}
	for _, c := range cases {
		err := tx.InsertEmbedAt(c.pos, []byte(`{"inline":"image"}`))
		if !errors.Is(err, c.err) {
			t.Fatalf("%s: InsertEmbedAt = %v; want %v", c.name, err, c.err)
		}
		if err != nil {
			continue
		}
		if got := crdttest.SpansJSON(tx.Spans()); got != c.want {
			t.Fatalf("%s: spans %s; want %s", c.name, got, c.want)
		}
	}
	e := fresh(2)
	if err := apply(e, d.EncodeUpdate(nil)); err != nil {
		t.Fatal(err)
	}
	if err := crdttest.Compare(d, e); err != nil {
		t.Fatal(err)
	}
}

// TestManyMarksOnEmptyText applies more marks than the change events report
// one by one (so that they are reported over the whole text) to a replica,
// in a snapshot and in an update, when the text they format has been
// deleted entirely: no change lists a format, and nothing panics.
func TestManyMarksOnEmptyText(t *testing.T) {
	src := fresh(1)
	text := src.Text("t")
	if err := text.Insert(0, "hello world"); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := text.Format(i%5, 3, "bold", []byte("true"), crdt.ExpandNone); err != nil {
			t.Fatal(err)
		}
	}
	if err := text.Delete(0, text.Len()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"snapshot", src.EncodeSnapshot()},
		{"update", src.EncodeUpdate(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := fresh(2)
			changes, err := d.Apply(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range changes {
				if len(c.Formats) > 0 {
					t.Errorf("Apply: change of %q lists formats %+v; want none", c.Root, c.Formats)
				}
			}
			if got := d.Text("t").Spans(); len(got) != 0 {
				t.Errorf("Spans() = %+v; want none", got)
			}
		})
	}
}
