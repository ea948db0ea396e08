package crdt_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

const v1FixturesFile = "../testdata/crdt/snapshot-v1.json"

// v1Fixture is a snapshot of format version 1 (0x02) and what the document it
// loads into encodes as a version 2 snapshot.
type v1Fixture struct {
	name   string
	v1, v2 []byte
}

type v1FixtureJSON struct {
	Name string `json:"name"`
	V1   string `json:"v1"`
	V2   string `json:"v2"`
}

func readV1Fixtures(tb testing.TB) []v1Fixture {
	tb.Helper()
	src, err := os.ReadFile(v1FixturesFile)
	if err != nil {
		tb.Fatal(err)
	}
	var js []v1FixtureJSON
	if err := json.Unmarshal(src, &js); err != nil {
		tb.Fatal(err)
	}
	var out []v1Fixture
	for _, j := range js {
		v1, err1 := hex.DecodeString(j.V1)
		v2, err2 := hex.DecodeString(j.V2)
		if err := errors.Join(err1, err2); err != nil {
			tb.Fatalf("%s: %v", j.Name, err)
		}
		out = append(out, v1Fixture{j.Name, v1, v2})
	}
	return out
}

// docDump describes a document's visible state: every root's text or map.
func docDump(d *crdt.Doc) string {
	var sb strings.Builder
	for _, r := range d.Roots() {
		if r.Kind == crdt.KindText {
			sb.WriteString("text " + r.Name + ": " + d.Text(r.Name).String() + "\n")
			continue
		}
		m := d.Map(r.Name)
		for _, k := range m.Keys() {
			v, _ := m.Get(k)
			sb.WriteString("map " + r.Name + " " + k + ": " + string(v) + "\n")
		}
	}
	return sb.String()
}

// TestSnapshotV1Fixtures loads the version 1 snapshots kept in testdata: each
// loads, encodes as the version 2 snapshot beside it (which both twins check),
// and that snapshot loads into the same document. With -update the v2 column
// is rewritten.
func TestSnapshotV1Fixtures(t *testing.T) {
	fixtures := readV1Fixtures(t)
	if len(fixtures) == 0 {
		t.Fatal("no fixtures")
	}
	var rewritten []v1FixtureJSON
	for _, fx := range fixtures {
		if fx.v1[0] != 0x02 {
			t.Fatalf("%s: format byte 0x%02x, want 0x02", fx.name, fx.v1[0])
		}
		d := fresh(99)
		if _, err := d.Apply(fx.v1); err != nil {
			t.Fatalf("%s: Apply(v1) = %v", fx.name, err)
		}
		got := d.EncodeSnapshot()
		rewritten = append(rewritten, v1FixtureJSON{fx.name, hex.EncodeToString(fx.v1), hex.EncodeToString(got)})
		if *update {
			continue
		}
		if !bytes.Equal(got, fx.v2) {
			t.Errorf("%s: v1 loads and encodes as\n%x\nwant %x", fx.name, got, fx.v2)
			continue
		}
		e := fresh(99)
		if _, err := e.Apply(fx.v2); err != nil {
			t.Fatalf("%s: Apply(v2) = %v", fx.name, err)
		}
		if a, b := docDump(e), docDump(d); a != b {
			t.Errorf("%s: v2 loads as\n%s\nv1 as\n%s", fx.name, a, b)
		}
		if a, b := e.EncodeUpdate(nil), d.EncodeUpdate(nil); !bytes.Equal(a, b) {
			t.Errorf("%s: full update after loading v2 %x; after v1 %x", fx.name, a, b)
		}
		// A version 1 snapshot also merges into a document that is not empty.
		m := fresh(1 << 51)
		m.Text("other").Insert(0, "kept")
		if _, err := m.Apply(fx.v1); err != nil {
			t.Errorf("%s: merging v1 into a document: %v", fx.name, err)
		}
	}
	if *update {
		b, err := json.MarshalIndent(rewritten, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(v1FixturesFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshotDocs returns documents whose snapshots exercise the encoding: runs
// of every origin kind, coalesced deleted runs, raw and coded content, astral
// code points, several clients and roots, maps, pending units.
func snapshotDocs(tb testing.TB) map[string]*crdt.Doc {
	tb.Helper()
	docs := map[string]*crdt.Doc{"empty": fresh(1), "pending": fuzzDoc(tb)}
	short := fresh(1)
	short.Text("t").Insert(0, "hi")
	docs["short raw content"] = short

	typing := fresh(1)
	replayInto(tb, typing, crdttest.Typing(3, 3000))
	docs["typing"] = typing

	astral := fresh(5)
	astral.Text("t").Insert(0, strings.Repeat("😀 é ∑ 𝄞 abc ", 40))
	astral.Text("t").Delete(7, 30)
	docs["astral coded"] = astral

	// Typing right after "a", before what was just typed there and deleted
	// (the place a relative position After("a") names), leaves one deleted
	// run per character, all alike: the runs column coalesces them.
	churn := fresh(9)
	txt := churn.Text("t")
	txt.Insert(0, "ab")
	for i := 0; i < 1000; i++ {
		rp, err := txt.RelPos(1, -1)
		if err != nil {
			tb.Fatal(err)
		}
		if err := txt.InsertAt(rp, "x"); err != nil {
			tb.Fatal(err)
		}
		if err := txt.Delete(1, 1); err != nil {
			tb.Fatal(err)
		}
	}
	docs["churn"] = churn

	a, b := fresh(3), fresh(1<<50)
	a.Text("body").Insert(0, "common text to edit")
	b.Apply(a.TakeUpdate())
	a.Text("body").Insert(7, "AAA")
	b.Text("body").Insert(7, "BBB")
	b.Text("body").Delete(0, 3)
	b.Map("meta").Set("title", []byte(`"x"`))
	a.Apply(b.TakeUpdate())
	b.Apply(a.TakeUpdate())
	docs["two clients"] = a
	return docs
}

// replayInto makes the edits of a sequential trace, not its start content, as local edits of d.
func replayInto(tb testing.TB, d *crdt.Doc, tr *crdttest.Trace) {
	tb.Helper()
	txt := d.Text("body")
	for _, x := range tr.Txns {
		for _, p := range x.Patches {
			if p.Del > 0 {
				if err := txt.Delete(p.Pos, p.Del); err != nil {
					tb.Fatal(err)
				}
			}
			if p.Ins != "" {
				if err := txt.Insert(p.Pos, p.Ins); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
}

// TestSnapshotRoundTrip encodes documents, loads the snapshots into empty
// documents and into documents that already hold part of the state: the same
// text and maps, the same snapshot bytes.
func TestSnapshotRoundTrip(t *testing.T) {
	docs := snapshotDocs(t)
	for _, f := range crdttest.TraceFiles("sequential_traces") {
		tr, err := crdttest.LoadTrace(f)
		if err != nil {
			t.Fatal(err)
		}
		d := fresh(1)
		replayInto(t, d, tr)
		docs["trace "+filepath.Base(f)] = d
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) {
			snap := d.EncodeSnapshot()
			if snap[0] != 0x05 {
				t.Fatalf("format byte 0x%02x, want 0x05", snap[0])
			}
			// Appended after a prefix, it is the same bytes, and the prefix is kept.
			prefix := []byte("head")
			if got := d.AppendSnapshot(slices.Clip(prefix)); !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], snap) {
				t.Fatalf("AppendSnapshot(%q) = %d bytes beginning %q; want the prefix and the %d bytes of EncodeSnapshot", prefix, len(got), got[:min(len(got), 4)], len(snap))
			}
			e := fresh(77)
			if _, err := e.Apply(snap); err != nil {
				t.Fatalf("Apply(snapshot) = %v", err)
			}
			if got, want := docDump(e), docDump(d); got != want {
				t.Fatalf("loaded\n%s\nwant\n%s", got, want)
			}
			if got := e.EncodeSnapshot(); !bytes.Equal(got, snap) {
				t.Fatalf("reloaded snapshot differs (%d bytes, want %d)", len(got), len(snap))
			}
			if err := crdt.CheckInvariants(e); err != nil {
				t.Fatal(err)
			}
			// Merged into a document that has the state as an update already.
			m := fresh(78)
			if _, err := m.Apply(d.EncodeUpdate(nil)); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Apply(snap); err != nil {
				t.Fatalf("merging the snapshot: %v", err)
			}
			if got, want := docDump(m), docDump(d); got != want {
				t.Fatalf("merged\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestSnapshotSmallerThanV1 checks that the churn of typing and deleting at
// one place costs a few bytes per thousand runs, and that coded content is
// smaller than the text.
func TestSnapshotSizes(t *testing.T) {
	docs := snapshotDocs(t)
	churn := docs["churn"].EncodeSnapshot()
	if len(churn) > 200 {
		t.Errorf("churn of 1000 deleted runs: snapshot of %d bytes, want at most 200", len(churn))
	}
	typing := docs["typing"]
	if got, text := len(typing.EncodeSnapshot()), len(typing.Text("body").String()); got >= text {
		t.Errorf("typing: snapshot of %d bytes for a text of %d bytes, want less", got, text)
	}
}

// TestSnapshotRefusals feeds version 2 snapshots broken in one place each.
func TestSnapshotRefusals(t *testing.T) {
	short := fresh(1)
	short.Text("t").Insert(0, "hi")
	good := short.EncodeSnapshot()
	// 05 clients(01 01) roots(01 01 01 74) sv(01 00 02) texts(01 00 runs...) asg(00) pending(00)
	tests := []struct {
		name string
		b    []byte
	}{
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"runs declared beyond the input", []byte{5, 1, 1, 1, 1, 1, 0x74, 1, 0, 2, 1, 0, 0x7f, 0, 0}},
		{"unknown content mode", bytes.Replace(good, []byte{0, 2, 'h', 'i'}, []byte{2, 2, 'h', 'i'}, 1)},
		{"coded content no shorter than raw", bytes.Replace(good, []byte{0, 2, 'h', 'i'}, []byte{1, 2, 'h', 1, 0, 1, 1, 0x40}, 1)},
	}
	for _, tt := range tests {
		d := fresh(2)
		if _, err := d.Apply(tt.b); !errors.Is(err, crdt.ErrMalformedUpdate) {
			t.Errorf("%s: Apply(%x) = %v; want ErrMalformedUpdate", tt.name, tt.b, err)
		}
	}
}

// TestCodeLengthsLimited builds the content code for counts that would make
// codes longer than 15 bits (Fibonacci counts): the lengths stay within 15
// and the code is complete.
func TestCodeLengthsLimited(t *testing.T) {
	freq := []uint64{1, 1}
	for len(freq) < 30 {
		freq = append(freq, freq[len(freq)-1]+freq[len(freq)-2])
	}
	lens := crdt.CodeLengths(freq)
	var kraft float64
	for _, l := range lens {
		if l == 0 || l > 15 {
			t.Fatalf("code length %d", l)
		}
		kraft += 1 / float64(uint64(1)<<l)
	}
	if kraft != 1 {
		t.Fatalf("Kraft sum %v, want 1", kraft)
	}
}

// FuzzLoadSnapshot loads arbitrary bytes into an empty document: no panic; a
// refusal is ErrMalformedUpdate; what loads re-encodes to bytes that load to
// the same document, and a version 2 snapshot without pending units
// re-encodes to itself (the format is canonical).
func FuzzLoadSnapshot(f *testing.F) {
	for _, b := range scenarioHex(f, 0x05) {
		f.Add(b)
	}
	for _, d := range snapshotDocs(f) {
		f.Add(d.EncodeSnapshot())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fresh(4)
		_, err := d.Apply(data)
		if err != nil {
			if !errors.Is(err, crdt.ErrMalformedUpdate) && !errors.Is(err, crdt.ErrPendingOverflow) {
				t.Fatalf("Apply: error %v is not a sentinel", err)
			}
			return
		}
		snap := d.EncodeSnapshot()
		if len(data) > 0 && data[0] == 0x05 && !crdt.SnapshotPending(data) && !bytes.Equal(snap, data) {
			t.Fatalf("loaded %x, re-encodes as %x", data, snap)
		}
		e := fresh(5)
		if _, err := e.Apply(snap); err != nil {
			t.Fatalf("reloading: %v", err)
		}
		if got := e.EncodeSnapshot(); !bytes.Equal(got, snap) {
			t.Fatal("the reloaded snapshot encodes differently")
		}
		if a, b := docDump(e), docDump(d); a != b {
			t.Fatalf("reloaded\n%s\nwant\n%s", a, b)
		}
	})
}

const snapshotGoldenFile = "../testdata/crdt/snapshot-v2.json"

// TestSnapshotGolden checks the snapshots of snapshotDocs against the golden
// vectors that the JavaScript twin also loads and re-encodes byte for byte.
// With -update it rewrites them.
func TestSnapshotGolden(t *testing.T) {
	type golden struct {
		Name     string `json:"name"`
		Snapshot string `json:"snapshot"`
		State    string `json:"state"` // docDump of the document
	}
	docs := snapshotDocs(t)
	var want []golden
	for name, d := range docs {
		want = append(want, golden{name, hex.EncodeToString(d.EncodeSnapshot()), docDump(d)})
	}
	slices.SortFunc(want, func(a, b golden) int { return strings.Compare(a.Name, b.Name) })
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(snapshotGoldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	src, err := os.ReadFile(snapshotGoldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var got []golden
	if err := json.Unmarshal(src, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./crdt -run TestSnapshotGolden -update and review the diff", snapshotGoldenFile)
	}
}

// TestSnapshotLongRun loads a snapshot whose deleted run is longer than the
// runs column's length field holds (its length goes in the long column), and
// refuses one whose long length is too short for that column.
func TestSnapshotLongRun(t *testing.T) {
	// One client (7, next clock 2^41 + 2), text "t": a run "a", then a deleted run of 2^41 + 1.
	long := uint64(1<<41 + 1)
	b := []byte{0x05, 1, 7, 1, 1, 1, 't', 1, 0}
	b = binary.AppendUvarint(b, long+1) // state vector
	b = append(b, 1, 0, 2)              // one text, ri 0, two runs
	b = append(b, 0, 0)                 // run 0: shape 0 (len 1, visible, no origins), delta 0
	shape := uint64(1<<40-1)<<5 | 1<<1 | 1
	b = binary.AppendUvarint(b, shape<<1)
	b = append(b, 0) // delta 0
	long1 := binary.AppendUvarint(nil, long)
	b = append(b, long1...)        // the long column
	b = append(b, 0, 2)            // both runs of client index 0
	b = append(b, 0, 1, 'a', 0, 0) // content "a", no assignments, no pending
	d := fresh(2)
	if _, err := d.Apply(b); err != nil {
		t.Fatalf("Apply(%x) = %v", b, err)
	}
	if got := d.Text("t").String(); got != "a" {
		t.Fatalf("text %q, want %q", got, "a")
	}
	if got := d.EncodeSnapshot(); !bytes.Equal(got, b) {
		t.Fatalf("re-encoded %x, want %x", got, b)
	}
	bad := bytes.Replace(b, long1, binary.AppendUvarint(nil, 5), 1)
	if _, err := fresh(2).Apply(bad); !errors.Is(err, crdt.ErrMalformedUpdate) {
		t.Fatalf("a long length of 5: Apply = %v; want ErrMalformedUpdate", err)
	}
	zero := bytes.Replace(b, long1, []byte{0}, 1)
	if _, err := fresh(2).Apply(zero); !errors.Is(err, crdt.ErrMalformedUpdate) {
		t.Fatalf("a long length of 0: Apply = %v; want ErrMalformedUpdate", err)
	}
}
