package crdt

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// sliceOracle returns the spans of the visible positions [from, to) of t by
// placing every mark operation of t through the tree, as Slice did before
// the mark index: the oracle the index is checked against.
func (d *Doc) sliceOracle(t *textRoot, from, to int) []Span { return d.spansPlaced(t, from, to) }

// checkMarkIndex checks the mark index of t, if it has one, against the
// gaps placed through the tree: every operation is in the array or the
// recent list once; read through the log, the array's gaps are the anchors'
// gaps now, as the recent list's are; the array is sorted by its old starts and its maxEnd is exact;
// the log is sorted by gap, each entry with items and the count of those
// below it.
func (d *Doc) checkMarkIndex(t *textRoot) error {
	if t.rich == nil || t.rich.index == nil {
		return nil
	}
	x := t.rich.index
	seen := make(map[*markOp]int)
	for i, iv := range x.recent {
		seen[iv.m]++
		m := iv.m
		if iv.s != d.gap(t, m.start) || iv.e != d.gap(t, m.end) || iv.sm != moves(m.start.kind) || iv.em != moves(m.end.kind) {
			return fmt.Errorf("recent %d (%s, lamport %d): %+v; want gaps %d to %d", i, m.name, m.lamport, iv, d.gap(t, m.start), d.gap(t, m.end))
		}
	}
	for i, iv := range x.ivs {
		seen[iv.m]++
		m := iv.m
		if got, want := x.at(iv.s, iv.sm), d.gap(t, m.start); got != want || iv.sm != moves(m.start.kind) {
			return fmt.Errorf("interval %d (%s, lamport %d): start at %d (moves %v); want %d", i, m.name, m.lamport, got, iv.sm, want)
		}
		if got, want := x.at(iv.e, iv.em), d.gap(t, m.end); got != want || iv.em != moves(m.end.kind) {
			return fmt.Errorf("interval %d (%s, lamport %d): end at %d (moves %v); want %d", i, m.name, m.lamport, got, iv.em, want)
		}
		if i > 0 && compareStarts(x.ivs[i-1], iv) > 0 {
			return fmt.Errorf("interval %d starts before interval %d", i, i-1)
		}
	}
	n := 0
	for _, ops := range t.rich.byName {
		for _, m := range ops {
			if seen[m] != 1 {
				return fmt.Errorf("operation %s (lamport %d) is %d times in the index", m.name, m.lamport, seen[m])
			}
			n++
		}
	}
	if len(seen) != n {
		return fmt.Errorf("the index holds %d operations; the text %d", len(seen), n)
	}
	var maxEnd func(lo, hi int) (int, error)
	maxEnd = func(lo, hi int) (int, error) {
		if lo >= hi {
			return math.MinInt, nil
		}
		mid := int(uint(lo+hi) >> 1)
		l, err := maxEnd(lo, mid)
		if err != nil {
			return 0, err
		}
		r, err := maxEnd(mid+1, hi)
		if err != nil {
			return 0, err
		}
		want := max(x.ivs[mid].e, l, r)
		if x.maxEnd[mid] != want {
			return 0, fmt.Errorf("maxEnd[%d] = %d; want %d", mid, x.maxEnd[mid], want)
		}
		return want, nil
	}
	if _, err := maxEnd(0, len(x.ivs)); err != nil {
		return err
	}
	before := 0
	for i, e := range x.log {
		if e.n <= 0 || e.before != before || (i > 0 && e.gap <= x.log[i-1].gap) {
			return fmt.Errorf("log entry %d %+v after %d inserted items", i, e, before)
		}
		before += e.n
	}
	return nil
}

// TestMarkIndexMatchesOracle makes random edits on three replicas (typing
// at a caret and elsewhere, deletions, embeds, marks and removals of every
// expand, concurrent ones delivered in random order, marks past the visible
// end and on tombstones, replicas reloaded from their snapshots) and after
// every edit reads random slices of the replica edited, and sometimes of
// another, checking them and the index against the oracle. Bursts of typing
// or of marks at scattered places, with reads or without, fill the log and
// the recent list past their flush and drop points.
func TestMarkIndexMatchesOracle(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := range uint64(seeds) {
		if err := markIndexRun(seed, 400); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

func markIndexRun(seed uint64, steps int) error {
	rng := rand.New(rand.NewPCG(seed, 16))
	const replicas = 3
	docs := make([]*Doc, replicas)
	inbox := make([][][]byte, replicas)
	carets := make([]int, replicas)
	nextClient := uint64(1)
	newDoc := func() (*Doc, error) {
		d, err := NewDoc(nextClient, Config{})
		nextClient++
		return d, err
	}
	for i := range docs {
		d, err := newDoc()
		if err != nil {
			return err
		}
		docs[i] = d
	}
	names := []string{"bold", "italic", "link", "comment:1", "comment:2"}
	values := []string{"true", `{"href":"a"}`, `{"href":"b"}`, `"x"`}
	check := func(r int, reads int) error {
		d := docs[r]
		tr := d.text("body")
		if tr == nil {
			return nil
		}
		text := d.Text("body")
		for range reads {
			l := text.Len()
			if l == 0 {
				break
			}
			pos := rng.IntN(l)
			n := 1 + rng.IntN(min(l-pos, 1+rng.IntN(40)))
			if rng.IntN(8) == 0 {
				pos, n = 0, l
			}
			got, err := text.Slice(pos, n)
			if err != nil {
				return err
			}
			if want := d.sliceOracle(tr, pos, pos+n); !reflect.DeepEqual(got, want) {
				return fmt.Errorf("replica %d: Slice(%d, %d) = %v; want %v", r, pos, n, got, want)
			}
		}
		if err := d.checkMarkIndex(tr); err != nil {
			return fmt.Errorf("replica %d: %w", r, err)
		}
		return nil
	}
	quiet := 0 // edits left in a burst without reads
	for step := range steps {
		r := rng.IntN(replicas)
		d := docs[r]
		text := d.Text("body")
		l := text.Len()
		var err error
		switch p := rng.IntN(100); {
		case p < 30 || l == 0:
			if rng.IntN(3) > 0 {
				carets[r] = rng.IntN(l + 1)
			}
			pos := min(carets[r], l)
			s := "abcdefgh"[:1+rng.IntN(4)]
			err = text.Insert(pos, s)
			carets[r] = pos + len(s)
		case p < 45:
			pos := rng.IntN(l)
			err = text.Delete(pos, 1+rng.IntN(min(l-pos, 6)))
		case p < 52:
			err = text.InsertEmbed(rng.IntN(l+1), json.RawMessage(`{"block":"p"}`))
		case p < 75:
			pos := rng.IntN(l)
			n := 1 + rng.IntN(min(l-pos, 10))
			if rng.IntN(4) == 0 {
				n = l - pos // to the visible end
			}
			var v json.RawMessage
			if rng.IntN(5) > 0 {
				v = json.RawMessage(values[rng.IntN(len(values))])
			}
			err = text.Format(pos, n, names[rng.IntN(len(names))], v, Expand(rng.IntN(4)))
		case p < 93:
			// Deliver some of the updates waiting for r, in random order.
			for k := rng.IntN(len(inbox[r]) + 1); k > 0; k-- {
				i := rng.IntN(len(inbox[r]))
				b := inbox[r][i]
				inbox[r] = slices.Delete(inbox[r], i, i+1)
				if _, err := d.Apply(b); err != nil {
					return fmt.Errorf("step %d: replica %d apply: %w", step, r, err)
				}
			}
		case p < 96:
			// Reload r from its snapshot, as a new client.
			n, err := newDoc()
			if err != nil {
				return err
			}
			if _, err := n.Apply(d.EncodeSnapshot()); err != nil {
				return fmt.Errorf("step %d: replica %d reload: %w", step, r, err)
			}
			docs[r] = n
		default:
			// A burst of typing or of marks at scattered places, then maybe
			// edits without reads.
			marks := rng.IntN(3) == 0
			n := 40 + rng.IntN(80)
			if marks {
				n = maxRecent + 1 + rng.IntN(8)
			}
			for range n {
				if l := text.Len(); marks && l > 0 {
					pos := rng.IntN(l)
					err = text.Format(pos, 1+rng.IntN(min(l-pos, 10)), names[rng.IntN(len(names))], json.RawMessage("true"), Expand(rng.IntN(4)))
				} else {
					err = text.Insert(rng.IntN(l+1), "z")
				}
				if err != nil {
					break
				}
			}
			if rng.IntN(2) == 0 {
				quiet = 1 + rng.IntN(30)
			}
		}
		if err != nil {
			return fmt.Errorf("step %d: replica %d: %w", step, r, err)
		}
		if u := docs[r].TakeUpdate(); u != nil {
			for o := range inbox {
				if o != r {
					inbox[o] = append(inbox[o], u)
				}
			}
		}
		if quiet > 0 {
			quiet--
			continue
		}
		if err := check(r, 1+rng.IntN(3)); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		if o := rng.IntN(replicas); rng.IntN(4) == 0 {
			if err := check(o, 1); err != nil {
				return fmt.Errorf("step %d: %w", step, err)
			}
		}
	}
	// Deliver everything: the replicas converge, and their indexes agree with
	// the oracle.
	for r, d := range docs {
		for _, b := range inbox[r] {
			if _, err := d.Apply(b); err != nil {
				return fmt.Errorf("final apply on replica %d: %w", r, err)
			}
		}
		if err := check(r, 3); err != nil {
			return fmt.Errorf("final: %w", err)
		}
	}
	want := docs[0].Text("body").Spans()
	for r, d := range docs[1:] {
		if got := d.Text("body").Spans(); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("replica %d's spans differ from replica 0's", r+1)
		}
	}
	return nil
}

// TestMarkIndexLog checks the log of insertions on its own: items inserted
// at old gaps, inside and at either edge of earlier insertions, move each
// old gap as a replay of the insertions on a plain sequence does.
func TestMarkIndexLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		// The sequence holds old items (their old index) and new ones (-1).
		const old = 30
		seq := make([]int, old)
		for i := range seq {
			seq[i] = i
		}
		var x markIndex
		for range 1 + rng.IntN(12) {
			p, k := rng.IntN(len(seq)+1), 1+rng.IntN(3)
			seq = slices.Insert(seq, p, make([]int, k)...)
			for i := p; i < p+k; i++ {
				seq[i] = -1
			}
			x.inserted(p, k)
		}
		where := make([]int, old+1) // where each old item is now; old: the end
		for i, v := range seq {
			if v >= 0 {
				where[v] = i
			}
		}
		where[old] = len(seq)
		for g := 0; g <= old; g++ {
			// Before(item g) (or End) moves with what landed in front of it;
			// After(item g-1) (or Start) stays right after its item.
			if got, want := x.at(g, true), where[g]; got != want {
				t.Fatalf("log %+v: at(%d, moving) = %d; want %d", x.log, g, got, want)
			}
			want := 0
			if g > 0 {
				want = where[g-1] + 1
			}
			if got := x.at(g, false); got != want {
				t.Fatalf("log %+v: at(%d, staying) = %d; want %d", x.log, g, got, want)
			}
		}
	}
}
