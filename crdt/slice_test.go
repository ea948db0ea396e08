package crdt_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// position is one visible position of a rich text: a code point or an embed,
// with its marks and attributes.
type position struct {
	r     rune
	embed string
	attrs map[string]json.RawMessage
	marks map[string]json.RawMessage
}

func positions(spans []crdt.Span) []position {
	var out []position
	for _, s := range spans {
		if s.Embed != nil {
			out = append(out, position{embed: string(s.Embed), attrs: s.Attrs, marks: s.Marks})
			continue
		}
		for _, r := range s.Insert {
			out = append(out, position{r: r, marks: s.Marks})
		}
	}
	return out
}

// TestSliceMatchesSpans checks that a slice, which sweeps only the runs and
// marks it needs, reads every position as the whole text's spans do, on the
// generated rich-text session at several lengths.
func TestSliceMatchesSpans(t *testing.T) {
	for _, n := range []int{10, 300, 3_000} {
		d, _ := replayRich(t, crdttest.RichTrace(uint64(n), n), false)
		text := d.Text("body")
		all := positions(text.Spans())
		if len(all) != text.Len() {
			t.Fatalf("%d edits: spans hold %d positions, the text %d", n, len(all), text.Len())
		}
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		for range 200 {
			p := rng.IntN(text.Len() + 1)
			k := rng.IntN(text.Len() - p + 1)
			if rng.IntN(2) == 0 {
				k = min(k, 3)
			}
			s, err := text.Slice(p, k)
			if err != nil {
				t.Fatal(err)
			}
			got := positions(s)
			if k == 0 {
				got = []position{}
			}
			if want := all[p : p+k]; !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("%d edits: Slice(%d, %d) differs from the spans' positions", n, p, k)
			}
		}
	}
}

// BenchmarkRichSlice reads one position's spans (what an editor asks at its
// caret) at random places of the benchmarks' 120,000-edit rich-text session.
func BenchmarkRichSlice(b *testing.B) {
	d, _ := replayRich(b, crdttest.RichTrace(1, richTraceOps), false)
	text := d.Text("body")
	rng := rand.New(rand.NewPCG(1, 2))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := text.Slice(rng.IntN(text.Len()), 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRichSliceWindow reads the spans of 100 positions (what an editor
// renders of a screen) at random places of the 120,000-edit session.
func BenchmarkRichSliceWindow(b *testing.B) {
	d, _ := replayRich(b, crdttest.RichTrace(1, richTraceOps), false)
	text := d.Text("body")
	rng := rand.New(rand.NewPCG(1, 2))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := text.Slice(rng.IntN(text.Len()-100), 100); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRichSliceTyping types one character at a random place of the
// 120,000-edit session, then reads the spans of the position typed (an
// editor reading the marks at its caret after each keystroke): the marks'
// places move with every insertion.
func BenchmarkRichSliceTyping(b *testing.B) {
	d, _ := replayRich(b, crdttest.RichTrace(1, richTraceOps), false)
	text := d.Text("body")
	rng := rand.New(rand.NewPCG(1, 2))
	pos := 0
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		if i%16 == 0 {
			pos = rng.IntN(text.Len())
		}
		if err := text.Insert(pos, "x"); err != nil {
			b.Fatal(err)
		}
		if _, err := text.Slice(pos, 1); err != nil {
			b.Fatal(err)
		}
		pos++
	}
}

// BenchmarkRichSliceRemoteMark applies a peer's mark over a few positions
// at a random place of the 120,000-edit session (its change events
// included), then reads the spans of those positions.
func BenchmarkRichSliceRemoteMark(b *testing.B) {
	d, _ := replayRich(b, crdttest.RichTrace(1, richTraceOps), false)
	peer := fresh(2)
	if _, err := peer.Apply(d.EncodeSnapshot()); err != nil {
		b.Fatal(err)
	}
	text, ptext := d.Text("body"), peer.Text("body")
	rng := rand.New(rand.NewPCG(1, 2))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		pos := rng.IntN(text.Len() - 8)
		if err := ptext.Format(pos, 8, "bold", []byte("true"), crdt.ExpandAfter); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Apply(peer.TakeUpdate()); err != nil {
			b.Fatal(err)
		}
		if _, err := text.Slice(pos, 8); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports the process's CPU time per operation since start
// (cpu-ns/op), steadier than wall time on a shared machine.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkRichConcurrentMark applies, to the 120,000-edit session, a bold
// made by a peer that saw only its first 2,000 edits: the mark comes before
// nearly every other bold in the total order, so its change events must
// find where later bolds cover it.
func BenchmarkRichConcurrentMark(b *testing.B) {
	d, us := replayRich(b, crdttest.RichTrace(1, richTraceOps), true)
	peer := fresh(2)
	for _, u := range us[:2000] {
		if _, err := peer.Apply(u); err != nil {
			b.Fatal(err)
		}
	}
	text, ptext := d.Text("body"), peer.Text("body")
	text.Slice(0, 1) // an editor has read the text: the mark index is made
	rng := rand.New(rand.NewPCG(1, 2))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if err := ptext.Format(rng.IntN(ptext.Len()-8), 8, "bold", []byte("true"), crdt.ExpandAfter); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Apply(peer.TakeUpdate()); err != nil {
			b.Fatal(err)
		}
	}
}
