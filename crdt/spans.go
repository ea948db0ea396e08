package crdt

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Span is a piece of a Text's visible content (docs/crdt.md section 4.5):
// either code points with the same marks (Insert), or one embed (Embed, with
// its winning attributes in Attrs). Marks maps each mark name present to its
// value, as written; nil when there is none.
type Span struct {
	Insert string
	Embed  json.RawMessage
	Attrs  map[string]json.RawMessage
	Marks  map[string]json.RawMessage
}

// FormatEdit is a mark change reported by Apply: the mark Name now has Value
// (nil: no mark) over the visible positions [Pos, Pos+Len) of the text
// after the change's edits.
type FormatEdit struct {
	Pos, Len int
	Name     string
	Value    json.RawMessage
}

// AttrEdit is an attribute change reported by Apply: the embed at visible
// position Pos (after the change's edits) now has Value for Key.
type AttrEdit struct {
	Pos   int
	Key   string
	Value json.RawMessage
}

// Spans returns the visible content of the text as spans in document order.
func (t *Text) Spans() []Span {
	s, _ := t.Slice(0, t.Len())
	return s
}

// Slice returns the spans of the n visible positions from pos. It fails with
// ErrOutOfRange unless 0 <= pos, 0 <= n and pos+n <= Len.
func (t *Text) Slice(pos, n int) ([]Span, error) {
	if pos < 0 || n < 0 || pos+n > t.Len() {
		return nil, fmt.Errorf("%w: slice %d+%d in a text of %d", ErrOutOfRange, pos, n, t.Len())
	}
	r := t.resolve()
	if r == nil || n == 0 {
		return nil, nil
	}
	return t.doc.spans(r, pos, pos+n), nil
}

// boundary is where a mark operation starts or stops covering items.
type boundary struct {
	gap   int
	m     *markOp
	start bool
}

// spans returns the spans of the visible positions [from, to) of t (0 <= from
// < to <= the visible length). The mark index gives the K operations that
// overlap the items of the runs swept (markindex.go); their boundaries are
// sorted, O(K log K), and swept with the runs.
func (d *Doc) spans(t *textRoot, from, to int) []Span {
	first, vis0, tot0, tot1 := t.runsOf(from, to)
	rt := t.rich
	if rt == nil || rt.nMarks == 0 {
		return d.sweep(t, first, vis0, tot0, from, to, nil)
	}
	x := d.markIndex(t)
	bs := x.overlapping(tot0, tot1, x.buf[:0])
	// The starts at or before the first run swept are applied together
	// before it, in any order: only the others need sorting.
	i := 0
	for j, b := range bs {
		if b.gap <= tot0 {
			bs[i], bs[j] = b, bs[i]
			i++
		}
	}
	slices.SortFunc(bs[i:], func(a, b boundary) int { return a.gap - b.gap })
	out := d.sweep(t, first, vis0, tot0, from, to, bs)
	x.buf = bs[:0]
	return out
}

// spansPlaced returns what spans does, placing every mark operation of t
// through the tree instead of asking the mark index, which it neither makes
// nor uses: O(M log n + K log K) for M operations.
func (d *Doc) spansPlaced(t *textRoot, from, to int) []Span {
	first, vis0, tot0, tot1 := t.runsOf(from, to)
	var bs []boundary
	if rt := t.rich; rt != nil {
		bs = make([]boundary, 0, 2*rt.nMarks)
		for _, ops := range rt.byName {
			for _, m := range ops {
				s, e := d.gap(t, m.start), d.gap(t, m.end)
				if s < e && s < tot1 && e > tot0 {
					bs = append(bs, boundary{s, m, true}, boundary{e, m, false})
				}
			}
		}
		slices.SortFunc(bs, func(a, b boundary) int { return a.gap - b.gap })
	}
	return d.sweep(t, first, vis0, tot0, from, to, bs)
}

// runsOf returns the run holding the visible position from (0 <= from < to
// <= the visible length) with its visible and item indexes, and the item
// index just past the visible position to-1.
func (t *textRoot) runsOf(from, to int) (first *item, vis0, tot0, tot1 int) {
	first, _, _ = t.findVis(from)
	vis0, tot0 = posOf(first)
	last, off, _ := t.findVis(to - 1)
	_, tot1 = posOf(last)
	return first, vis0, tot0, tot1 + off + 1
}

// sweep returns the spans of the visible positions [from, to) of t, sweeping
// the runs from first (at visible index vis0 and item index tot0) with bs, the
// boundaries of the mark operations that cover any item swept, each starting
// before it ends (others may come along: they change nothing), sorted by gap
// but for those at or before tot0, which may come first in any order. Per
// name it keeps the covering operations in the total order, so the winner is
// the last one. O(R + K) for the R runs swept and the K boundaries.
func (d *Doc) sweep(t *textRoot, first *item, vis0, tot0, from, to int, bs []boundary) []Span {
	active := make(map[string][]*markOp)
	var marks map[string]json.RawMessage
	changed := true
	apply := func(b boundary) {
		ops := active[b.m.name]
		if b.start {
			i, _ := slices.BinarySearchFunc(ops, b.m, compareMarks)
			ops = slices.Insert(ops, i, b.m)
		} else {
			i, _ := slices.BinarySearchFunc(ops, b.m, compareMarks)
			ops = slices.Delete(ops, i, i+1)
		}
		if len(ops) == 0 {
			delete(active, b.m.name)
		} else {
			active[b.m.name] = ops
		}
		changed = true
	}
	current := func() map[string]json.RawMessage {
		if !changed {
			return marks
		}
		changed = false
		marks = nil
		for name, ops := range active {
			if w := ops[len(ops)-1]; w.value != nil {
				if marks == nil {
					marks = make(map[string]json.RawMessage)
				}
				marks[name] = w.value
			}
		}
		return marks
	}
	var out []Span
	var sb strings.Builder
	var textMarks map[string]json.RawMessage
	open := false
	flush := func() {
		if open {
			out = append(out, Span{Insert: sb.String(), Marks: textMarks})
			sb.Reset()
			open = false
		}
	}
	bi, tot, vis := 0, tot0, vis0
	skip := indexInLeaf(first)
	for l := first.leaf; l != nil && vis < to; l = l.next {
		items := l.items[skip:]
		skip = 0
		for _, it := range items {
			if vis >= to {
				break
			}
			if it.deleted || vis+it.n <= from {
				vis += it.vis()
				tot += it.n
				continue
			}
			var content []byte
			if !it.embed {
				content = it.text()
			}
			for k := 0; k < it.n && vis < to; {
				for bi < len(bs) && bs[bi].gap <= tot+k {
					apply(bs[bi])
					bi++
				}
				// The piece up to the next boundary inside the run.
				end := it.n
				if bi < len(bs) && bs[bi].gap < tot+end {
					end = bs[bi].gap - tot
				}
				if skip := from - vis; skip > 0 {
					s := min(skip, end-k)
					k, vis = k+s, vis+s
					continue
				}
				end = min(end, k+to-vis)
				wasChanged := changed
				ms := current()
				if it.embed {
					flush()
					sp := Span{Embed: t.rich.embeds[it.id(0)], Marks: ms}
					if keys := t.rich.attrs[it.id(0)]; len(keys) > 0 {
						sp.Attrs = make(map[string]json.RawMessage, len(keys))
						for key, a := range keys {
							sp.Attrs[key] = a.value
						}
					}
					out = append(out, sp)
				} else {
					if open && wasChanged && !sameMarks(textMarks, ms) {
						flush()
					}
					if !open {
						open, textMarks = true, ms
					}
					sb.Write(content[it.byteOff(k):it.byteOff(end)])
				}
				vis += end - k
				k = end
			}
			tot += it.n
		}
	}
	flush()
	return out
}

func sameMarks(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || string(v) != string(w) {
			return false
		}
	}
	return true
}

// richChange is a mark or attribute that an Apply integrated.
type richChange struct {
	mark *markOp
	attr *attrOp
}

// richEdits returns the format and attribute edits of the rich units an
// Apply integrated, per root, in terms of the final text (docs/crdt.md
// section 4.5).
func (d *Doc) richEdits(rcs []richChange, emit func(root string, f *FormatEdit, a *AttrEdit)) {
	type attrSeen struct {
		target ID
		key    string
	}
	seen := make(map[attrSeen]bool)
	// Many marks on one root (a snapshot load, a peer's history) are reported
	// name by name over the whole text, from one sweep.
	perRoot := make(map[*textRoot]map[string]bool)
	for _, rc := range rcs {
		if m := rc.mark; m != nil {
			names := perRoot[m.root]
			if names == nil {
				names = make(map[string]bool)
				perRoot[m.root] = names
			}
			names[m.name] = true
		}
	}
	bulk := make(map[*textRoot]bool)
	for t, names := range perRoot {
		n := 0
		for _, rc := range rcs {
			if rc.mark != nil && rc.mark.root == t {
				n++
			}
		}
		if n > bulkMarks {
			bulk[t] = true
			d.formatsOf(t, names, func(f *FormatEdit) { emit(t.name, f, nil) })
		}
	}
	for _, rc := range rcs {
		if a := rc.attr; a != nil {
			if a.lost || seen[attrSeen{a.target, a.key}] {
				continue
			}
			seen[attrSeen{a.target, a.key}] = true
			it := d.findItem(a.target)
			if it == nil || it.deleted || !it.embed || it.root != a.root {
				continue
			}
			vis, _ := posOf(it)
			emit(a.root.name, nil, &AttrEdit{Pos: vis, Key: a.key, Value: a.value})
			continue
		}
		m := rc.mark
		t := m.root
		rt := t.rich
		if bulk[t] {
			continue
		}
		s, e := d.gap(t, m.start), d.gap(t, m.end)
		if s >= e {
			continue
		}
		pieces := [][2]int{{s, e}}
		// Where a later operation of the same name covers, m does not win.
		cut := func(os, oe int) {
			var next [][2]int
			for _, p := range pieces {
				if oe <= p[0] || os >= p[1] {
					next = append(next, p)
					continue
				}
				if p[0] < os {
					next = append(next, [2]int{p[0], os})
				}
				if oe < p[1] {
					next = append(next, [2]int{oe, p[1]})
				}
			}
			pieces = next
		}
		ops := rt.byName[m.name]
		i, _ := slices.BinarySearchFunc(ops, m, compareMarks)
		if x := rt.index; x != nil && i+1 < len(ops) {
			// Only the operations that overlap m can cut it: the mark index
			// finds them, in pairs of boundaries, start then end.
			bs := x.overlapping(s, e, x.buf[:0])
			for k := 0; k < len(bs); k += 2 {
				if o := bs[k].m; o.name == m.name && compareMarks(o, m) > 0 {
					cut(bs[k].gap, bs[k+1].gap)
				}
			}
			x.buf = bs[:0]
		} else {
			for _, o := range ops[i+1:] {
				if os, oe := d.gap(t, o.start), d.gap(t, o.end); os < oe {
					cut(os, oe)
				}
			}
		}
		for _, p := range pieces {
			vs, ve := t.visAt(p[0]), t.visAt(p[1])
			if vs < ve {
				emit(t.name, &FormatEdit{Pos: vs, Len: ve - vs, Name: m.name, Value: m.value}, nil)
			}
		}
	}
}

// richChanges adds to ch the format and attribute edits of the marks and
// attributes it recorded.
func (d *Doc) richChanges(ch *changes) {
	if len(ch.rich) == 0 {
		return
	}
	d.richEdits(ch.rich, func(root string, f *FormatEdit, a *AttrEdit) {
		x := ch.get(root, KindText)
		if f != nil {
			x.Formats = append(x.Formats, *f)
		} else {
			x.Attrs = append(x.Attrs, *a)
		}
	})
	ch.rich = nil
}

// bulkMarks is how many marks of one root an Apply reports one by one; above
// it, formatsOf reports the names they touch over the whole text.
const bulkMarks = 32

// formatsOf reports, for every name of names, the value of the mark over the
// whole visible text of t, as maximal ranges in document order (Value nil
// where the text does not have it).
func (d *Doc) formatsOf(t *textRoot, names map[string]bool, emit func(*FormatEdit)) {
	type open struct {
		pos   int
		value json.RawMessage
	}
	cur := make(map[string]*open)
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	slices.Sort(sorted)
	// Without an index (a snapshot just loaded, a peer's history just
	// applied), the marks are placed without making one: nothing may read
	// the text before it changes again.
	var sps []Span
	if t.root.vis > 0 && t.rich.index != nil {
		sps = d.spans(t, 0, t.root.vis)
	} else if t.root.vis > 0 {
		sps = d.spansPlaced(t, 0, t.root.vis)
	}
	pos := 0
	for _, sp := range sps {
		n := 1
		if sp.Embed == nil {
			n = utf8.RuneCountInString(sp.Insert)
		}
		for _, name := range sorted {
			v := sp.Marks[name]
			o := cur[name]
			if o != nil && string(o.value) == string(v) && (o.value == nil) == (v == nil) {
				continue
			}
			if o != nil {
				emit(&FormatEdit{Pos: o.pos, Len: pos - o.pos, Name: name, Value: o.value})
			}
			cur[name] = &open{pos, v}
		}
		pos += n
	}
	for _, name := range sorted {
		if o := cur[name]; o != nil && pos > o.pos {
			emit(&FormatEdit{Pos: o.pos, Len: pos - o.pos, Name: name, Value: o.value})
		}
	}
}
