package crdt_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

func newDoc(t testing.TB, client uint64) *crdt.Doc {
	t.Helper()
	d, err := crdt.NewDoc(client, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// loadDoc returns a new replica of client that holds snapshot (nil: empty).
func loadDoc(t testing.TB, client uint64, snapshot []byte) *crdt.Doc {
	t.Helper()
	d := newDoc(t, client)
	if snapshot != nil {
		if _, err := d.Apply(snapshot); err != nil {
			t.Fatalf("load snapshot: %v", err)
		}
	}
	return d
}

// checkParts checks that parts are at most max bytes each and that each decodes (decoders refuse
// updates that are not canonical).
func checkParts(t *testing.T, parts [][]byte, max int) {
	t.Helper()
	for i, p := range parts {
		if len(p) > max {
			t.Errorf("part %d of %d: %d bytes; want at most %d", i, len(parts), len(p), max)
		}
		if _, err := newDoc(t, 1<<52).Apply(p); err != nil {
			t.Errorf("part %d of %d does not decode: %v", i, len(parts), err)
		}
	}
}

// checkSame applies whole to one copy of the replica held in snapshot and parts in order to
// another, and compares the two snapshots byte for byte.
func checkSame(t *testing.T, what string, snapshot, whole []byte, parts [][]byte) {
	t.Helper()
	a, b := loadDoc(t, 1<<52, snapshot), loadDoc(t, 1<<52, snapshot)
	_, errWhole := a.Apply(whole)
	var errParts error
	for i, p := range parts {
		if _, err := b.Apply(p); err != nil {
			errParts = fmt.Errorf("part %d: %w", i, err)
			break
		}
	}
	if errWhole != nil || errParts != nil {
		t.Fatalf("%s: Apply(whole) = %v, Apply(parts) = %v; want both nil", what, errWhole, errParts)
	}
	if sa, sb := a.EncodeSnapshot(), b.EncodeSnapshot(); !bytes.Equal(sa, sb) {
		t.Errorf("%s: snapshot after %d parts differs from the one after the whole update:\n got %x\nwant %x", what, len(parts), sb, sa)
	}
}

func TestSplitUpdateSmall(t *testing.T) {
	d := newDoc(t, 7)
	if err := d.Text("t").Insert(0, "héllo"); err != nil {
		t.Fatal(err)
	}
	u := d.TakeUpdate()
	for _, max := range []int{crdt.MinSplitBytes, 1 << 20} {
		parts, err := crdt.SplitUpdate(u, max)
		if err != nil {
			t.Fatalf("SplitUpdate(%d bytes, %d): %v", len(u), max, err)
		}
		if len(parts) != 1 || &parts[0][0] != &u[0] {
			t.Errorf("SplitUpdate(%d bytes, %d) = %d parts; want the update itself", len(u), max, len(parts))
		}
	}
}

func TestSplitUpdateErrors(t *testing.T) {
	d := newDoc(t, 7)
	if err := d.Text("t").Insert(0, strings.Repeat("x", 200)); err != nil {
		t.Fatal(err)
	}
	text := d.TakeUpdate()
	if err := d.Map("m").Set("k", []byte(`"`+strings.Repeat("v", 300)+`"`)); err != nil {
		t.Fatal(err)
	}
	bigValue := d.TakeUpdate()
	long := strings.Repeat("r", crdt.MaxRootNameBytes)
	if err := d.Text(long).Insert(0, "ab"); err != nil {
		t.Fatal(err)
	}
	longRoot := d.TakeUpdate()
	truncated := text[:len(text)-1]
	tests := []struct {
		name   string
		update []byte
		max    int
		want   error
	}{
		{"max below the floor", text, crdt.MinSplitBytes - 1, crdt.ErrUnsplittable},
		{"max below the floor, small update", text[:5], 10, crdt.ErrUnsplittable},
		{"map value larger than max", bigValue, 200, crdt.ErrUnsplittable},
		{"code point with its root name larger than max", longRoot, 200, crdt.ErrUnsplittable},
		{"truncated", truncated, 100, crdt.ErrMalformedUpdate},
		{"snapshot", d.EncodeSnapshot(), 100, crdt.ErrMalformedUpdate},
	}
	for _, tt := range tests {
		parts, err := crdt.SplitUpdate(tt.update, tt.max)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: SplitUpdate(%d bytes, %d) = %d parts, %v; want %v", tt.name, len(tt.update), tt.max, len(parts), err, tt.want)
		}
	}
}

// TestSplitUpdateRun cuts one long run of multi-byte text: the parts fill max (to the byte
// that a cut between code points allows) and give the same text.
func TestSplitUpdateRun(t *testing.T) {
	for _, alphabet := range []string{"abc", "é", "中文", "😀", "aé中😀"} {
		d := newDoc(t, 1<<40)
		text := strings.Repeat(alphabet, 3000/len([]rune(alphabet)))
		if err := d.Text("body").Insert(0, text); err != nil {
			t.Fatal(err)
		}
		if err := d.Text("body").Delete(10, 5); err != nil {
			t.Fatal(err)
		}
		u := d.TakeUpdate()
		for _, max := range []int{64, 65, 100, 1000, len(u) - 1} {
			parts, err := crdt.SplitUpdate(u, max)
			if err != nil {
				t.Fatalf("%q: SplitUpdate(%d bytes, %d): %v", alphabet, len(u), max, err)
			}
			checkParts(t, parts, max)
			for i := 1; i < len(parts)-1; i++ {
				// Past the first part (which holds the deleted run), a cut leaves at most a code
				// point (4 bytes) unused, or one byte more where a length's varint grows.
				if p := parts[i]; len(p) < max-4 {
					t.Errorf("%q, max %d: part %d of %d has %d bytes; want at least %d", alphabet, max, i, len(parts), len(p), max-4)
				}
			}
			checkSame(t, fmt.Sprintf("%q, max %d", alphabet, max), nil, u, parts)
			r := newDoc(t, 3)
			for _, p := range parts {
				if _, err := r.Apply(p); err != nil {
					t.Fatal(err)
				}
			}
			want := []rune(text)
			want = append(want[:10:10], want[15:]...)
			if got := r.Text("body").String(); got != string(want) {
				t.Errorf("%q, max %d: text after the parts differs from the text inserted", alphabet, max)
			}
		}
	}
}

// TestSplitUpdateEquivalence splits the updates of random editing sessions (several clients,
// multi-byte text, deletions, map assignments and the skips of lost ones) at many sizes and
// applies the parts, in order, to replicas in various states: empty, at earlier points of the
// session, with concurrent edits of their own, already complete, with units pending.
func TestSplitUpdateEquivalence(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if !testing.Short() {
		seeds = append(seeds, 5, 6, 7, 8)
	}
	for _, seed := range seeds {
		s := crdttest.NewSim(seed, crdttest.SimOptions{Replicas: 4, Steps: 250})
		if err := s.Run(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		full := s.Docs[0]
		rng := rand.New(rand.NewPCG(seed, 9))

		// Prior states: empty, earlier points, earlier points with concurrent edits, complete.
		priors := [][]byte{nil, full.EncodeSnapshot()}
		for i, m := range s.Marks {
			priors = append(priors, m.Snapshot)
			if i%2 == 0 {
				c := loadDoc(t, 1<<51+uint64(i), m.Snapshot)
				if err := c.Text("body").Insert(c.Text("body").Len()/2, "concurrent ✓"); err != nil {
					t.Fatal(err)
				}
				if err := c.Map("m").Set("a", []byte(`"mine"`)); err != nil {
					t.Fatal(err)
				}
				priors = append(priors, c.EncodeSnapshot())
			}
		}
		// A replica with units pending: a third of the log, delivered backwards.
		p := newDoc(t, 1<<50)
		for i := len(s.Log) / 3; i >= 0; i-- {
			if _, err := p.Apply(s.Log[i]); err != nil {
				t.Fatal(err)
			}
		}
		priors = append(priors, p.EncodeSnapshot())

		updates := map[string][]byte{"everything": full.EncodeUpdate(nil)}
		if len(s.Marks) > 0 {
			since := loadDoc(t, 1<<52, s.Marks[len(s.Marks)/2].Snapshot).StateVector()
			updates["catch-up"] = full.EncodeUpdate(since)
		}
		if pu := p.PendingUpdate(); pu != nil {
			updates["pending"] = pu // several blocks per client, with gaps
		}
		for name, u := range updates {
			for _, max := range []int{64, 97, 200, 1000, 1 + len(u)/2} {
				parts, err := crdt.SplitUpdate(u, max)
				if err != nil {
					t.Fatalf("seed %d, %s: SplitUpdate(%d bytes, %d): %v", seed, name, len(u), max, err)
				}
				checkParts(t, parts, max)
				// Every prior state at the larger sizes; a sample at the smallest (many parts).
				for i, prior := range priors {
					if max < 200 && i > 2 && rng.IntN(3) > 0 {
						continue
					}
					checkSame(t, fmt.Sprintf("seed %d, %s (%d bytes), max %d, prior state %d", seed, name, len(u), max, i), prior, u, parts)
				}
			}
		}
	}
}

// TestSplitUpdateLarge splits 3 MiB of text at the server's default message limit.
func TestSplitUpdateLarge(t *testing.T) {
	d := newDoc(t, 1<<45)
	line := "2024-05-01T12:00:00Z INFO request served — 200 OK ✓ 😀\n"
	text := strings.Repeat(line, 3<<20/len(line)+1)
	if err := d.Text("log").Insert(0, text); err != nil {
		t.Fatal(err)
	}
	u := d.TakeUpdate()
	max := 1<<20 - 5
	parts, err := crdt.SplitUpdate(u, max)
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(u) + max - 1) / max; len(parts) != want {
		t.Errorf("SplitUpdate(%d bytes, %d) = %d parts; want %d", len(u), max, len(parts), want)
	}
	checkParts(t, parts, max)
	r := newDoc(t, 2)
	for _, p := range parts {
		if _, err := r.Apply(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Text("log").String(); got != text {
		t.Errorf("text after %d parts: %d bytes; want the %d bytes inserted", len(parts), len(got), len(text))
	}
}

// splitVector is one golden vector of testdata/crdt/split.json, which the JavaScript twin reads
// too: SplitUpdate(update, max) must give exactly parts.
type splitVector struct {
	Name   string   `json:"name"`
	Max    int      `json:"max"`
	Update string   `json:"update"`
	Parts  []string `json:"parts"`
}

const splitVectors = "../testdata/crdt/split.json"

// splitVectorUpdates returns the updates of the golden vectors.
func splitVectorUpdates(t *testing.T) []splitVector {
	t.Helper()
	var out []splitVector
	add := func(name string, max int, u []byte) {
		out = append(out, splitVector{Name: name, Max: max, Update: hex.EncodeToString(u)})
	}
	a, b := newDoc(t, 5), newDoc(t, 1<<50+3)
	mustDo(t, a.Text("body").Insert(0, "héllo wörld, 中文 and 😀😀😀 "+strings.Repeat("ab", 40)))
	mustDo(t, a.Text("title").Insert(0, "Tïtle"))
	mustDo(t, a.Map("m").Set("k", []byte(`{"x":[1,2,3]}`)))
	ua := a.TakeUpdate()
	mustApply(t, b, ua)
	mustDo(t, b.Text("body").Insert(3, strings.Repeat("😀é", 30)))
	mustDo(t, b.Text("body").Delete(20, 10))
	mustDo(t, b.Map("m").Set("k", []byte(`"b"`)))
	mustDo(t, a.Map("m").Set("k", []byte(`"a"`))) // concurrent: one of them becomes a skip
	mustDo(t, a.Text("body").Delete(0, 4))
	mustApply(t, a, b.TakeUpdate())
	mustApply(t, b, a.TakeUpdate())
	add("one run, ascii and multi-byte", 64, ua)
	all := a.EncodeUpdate(nil)
	for _, max := range []int{64, 70, 100, 150, 250} {
		add(fmt.Sprintf("two clients, deletions, maps, skips; max %d", max), max, all)
	}
	// Many delete ranges of two clients.
	c := newDoc(t, 300)
	mustApply(t, c, all)
	for i := 0; i < 40; i++ {
		mustDo(t, c.Text("body").Delete(i, 1))
	}
	add("delete ranges", 64, c.TakeUpdate())
	// A pending update: several blocks of one client, with gaps.
	p := newDoc(t, 9)
	var log [][]byte
	for i := 0; i < 6; i++ {
		mustDo(t, a.Text("body").Insert(i*3, fmt.Sprintf("[%d %s]", i, strings.Repeat("é", 12))))
		log = append(log, a.TakeUpdate())
	}
	mustApply(t, p, log[1])
	mustApply(t, p, log[3])
	mustApply(t, p, log[5])
	add("pending blocks", 64, p.PendingUpdate())
	// 200 clients: parts with more than 128 clients count every index as two bytes.
	many := newDoc(t, 1<<52)
	for i := 0; i < 200; i++ {
		e := newDoc(t, uint64(1000+i*37))
		mustApply(t, e, many.EncodeUpdate(nil))
		mustDo(t, e.Text("body").Insert(i/2, "xé"))
		mustApply(t, many, e.TakeUpdate())
	}
	mustDo(t, many.Text("body").Delete(0, 150))
	add("200 clients", 2600, many.EncodeUpdate(nil))
	return out
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustApply(t *testing.T, d *crdt.Doc, u []byte) {
	t.Helper()
	if _, err := d.Apply(u); err != nil {
		t.Fatal(err)
	}
}

// TestSplitUpdateGolden checks SplitUpdate against testdata/crdt/split.json; with -update it
// rewrites the file from the vectors' updates.
func TestSplitUpdateGolden(t *testing.T) {
	checkSplitGolden(t, splitVectors, splitVectorUpdates)
}

// checkSplitGolden checks SplitUpdate against the golden vectors in file, which the JavaScript
// twin reads too; with -update it first rewrites file from the updates vectors returns.
func checkSplitGolden(t *testing.T, file string, vectors func(*testing.T) []splitVector) {
	t.Helper()
	if *update {
		vs := vectors(t)
		for i := range vs {
			u, _ := hex.DecodeString(vs[i].Update)
			parts, err := crdt.SplitUpdate(u, vs[i].Max)
			if err != nil {
				t.Fatalf("%s: %v", vs[i].Name, err)
			}
			if len(parts) < 2 {
				t.Fatalf("%s: %d parts; a vector should split", vs[i].Name, len(parts))
			}
			for _, p := range parts {
				vs[i].Parts = append(vs[i].Parts, hex.EncodeToString(p))
			}
		}
		b, err := json.MarshalIndent(vs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var vs []splitVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s holds no vectors", file)
	}
	for _, v := range vs {
		u, err := hex.DecodeString(v.Update)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		parts, err := crdt.SplitUpdate(u, v.Max)
		if err != nil {
			t.Errorf("%s: SplitUpdate: %v", v.Name, err)
			continue
		}
		got := make([]string, len(parts))
		for i, p := range parts {
			got[i] = hex.EncodeToString(p)
		}
		if strings.Join(got, "\n") != strings.Join(v.Parts, "\n") {
			t.Errorf("%s: SplitUpdate(max %d) =\n%s\nwant\n%s", v.Name, v.Max, strings.Join(got, "\n"), strings.Join(v.Parts, "\n"))
		}
		checkSame(t, v.Name, nil, u, parts)
	}
}

// FuzzSplitUpdate splits arbitrary bytes: no panic; parts within max; and when the whole update
// applies to an empty replica, its parts in order give the same snapshot.
func FuzzSplitUpdate(f *testing.F) {
	d, _ := crdt.NewDoc(11, crdt.Config{})
	_ = d.Text("t").Insert(0, "héllo 😀 wörld")
	_ = d.Text("t").Delete(2, 3)
	_ = d.Map("m").Set("k", []byte(`[1,2]`))
	f.Add(d.EncodeUpdate(nil), 64)
	f.Add(d.TakeUpdate(), 70)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		max = crdt.MinSplitBytes + (max&0xffff)%256
		parts, err := crdt.SplitUpdate(b, max)
		if err != nil {
			return
		}
		for i, p := range parts {
			if len(p) > max && !(len(parts) == 1 && bytes.Equal(p, b)) {
				t.Fatalf("part %d: %d bytes; want at most %d", i, len(p), max)
			}
		}
		whole := newDoc(t, 1<<52)
		if _, err := whole.Apply(b); err != nil {
			return
		}
		split := newDoc(t, 1<<52)
		for i, p := range parts {
			if _, err := split.Apply(p); err != nil {
				t.Fatalf("part %d refused: %v (the whole update applies)", i, err)
			}
		}
		if sa, sb := whole.EncodeSnapshot(), split.EncodeSnapshot(); !bytes.Equal(sa, sb) {
			t.Fatalf("snapshot after the parts:\n%x\nwant\n%x", sb, sa)
		}
	})
}

// BenchmarkSplitUpdate cuts 3 MiB of text at the server's default message limit.
func BenchmarkSplitUpdate(b *testing.B) {
	d := newDoc(b, 1<<45)
	if err := d.Text("log").Insert(0, strings.Repeat("log line — ünïcödé 中文 😀\n", 3<<20/36)); err != nil {
		b.Fatal(err)
	}
	u := d.TakeUpdate()
	b.SetBytes(int64(len(u)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := crdt.SplitUpdate(u, 1<<20-5); err != nil {
			b.Fatal(err)
		}
	}
}

// A change too large for one message is sent as several updates; applied in order, they give
// the same document.
func ExampleSplitUpdate() {
	a, _ := crdt.NewDoc(1, crdt.Config{})
	_ = a.Text("body").Insert(0, strings.Repeat("héllo wörld ", 100))
	update := a.TakeUpdate()

	parts, err := crdt.SplitUpdate(update, 256)
	if err != nil {
		panic(err)
	}
	b, _ := crdt.NewDoc(2, crdt.Config{})
	for _, p := range parts {
		if _, err := b.Apply(p); err != nil {
			panic(err)
		}
	}
	fmt.Println(len(update), "bytes in", len(parts), "parts;", b.Text("body").String() == a.Text("body").String())
	// Output: 1421 bytes in 7 parts; true
}
