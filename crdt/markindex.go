package crdt

import (
	"cmp"
	"math"
	"slices"
)

// The mark index of a rich text: where each mark operation starts and ends,
// so that a slice finds the operations that overlap it without placing all
// of them (docs/crdt.md section 4.5).
//
// An anchor's gap (richtext.go, gap) is an item index, deleted items
// counted. Items never move and deletions leave tombstones, so gaps change
// only when items are inserted: k items inserted at index p move every gap
// above p by k, and the gap p itself when its anchor is Before the item that
// was at p (or End); a gap p After the item before p (or Start) stays. The
// index keeps the gaps of every operation as they were at its last flush, in
// an array sorted by start with the largest end of each subtree of the
// implicit binary tree over the array (an interval tree in one slice), and a
// short log of the insertions since, by the old gap they landed in. Reading
// a gap goes through the log: a binary search in it. A query descends the
// tree, skipping the subtrees that end before the slice and the part that
// starts after it: O((K+1) log M log S) for the K operations found among M
// with S insertions in the log. Typing at one place adds to one entry of
// the log; when the log is full, it is applied to the array (O(M log S)), or
// the index is dropped if nothing read it since its last flush, so that a
// document that is edited and never read pays nothing. A new operation is
// placed through the tree once and waits in a short list, whose gaps every
// insertion moves, until enough of them are merged into the array (O(M)).
//
// Why not keep the anchors in the run tree itself: a leaf split or a merge
// of runs would have to move them, and every edit would pay for it; the
// index costs nothing until a slice is read, and then what the slice
// overlaps.

// interval is a mark operation with its gaps as of the index's last flush.
// The flags say whether an insertion at the gap moves it (Before, End).
type interval struct {
	s, e   int
	sm, em bool
	m      *markOp
}

// insertion is what the log knows of the items inserted in one old gap since
// the last flush: n items, landed between the items of old indexes gap-1 and
// gap, and before, the number of items inserted in the gaps below it.
type insertion struct {
	gap, n, before int
}

// markIndex places the mark operations of a rich text (see above).
type markIndex struct {
	ivs     []interval  // every operation placed at the last flush, by (s, sm)
	maxEnd  []int       // the largest end of the subtree rooted at each index
	log     []insertion // by gap
	recent  []interval  // operations added since the last flush, their gaps now
	queried bool        // the index was read since its last flush
	buf     []boundary  // the boundaries of the last read, for the next
}

const (
	maxLog    = 64 // insertions in distinct old gaps before a flush
	maxRecent = 64 // operations added before they are merged into the array
)

// moves reports whether the gap of an anchor of kind k moves with items
// inserted at it.
func moves(k RelPosKind) bool { return k == RelBefore || k == RelEnd }

// place returns m with its gaps in t now.
func (d *Doc) place(t *textRoot, m *markOp) interval {
	return interval{s: d.gap(t, m.start), e: d.gap(t, m.end), sm: moves(m.start.kind), em: moves(m.end.kind), m: m}
}

func compareStarts(a, b interval) int {
	if c := cmp.Compare(a.s, b.s); c != 0 {
		return c
	}
	switch {
	case a.sm == b.sm:
		return 0
	case b.sm:
		return -1
	}
	return 1
}

// newMarkIndex places every mark operation of t.
func (d *Doc) newMarkIndex(t *textRoot) *markIndex {
	rt := t.rich
	x := &markIndex{ivs: make([]interval, 0, rt.nMarks)}
	for _, ops := range rt.byName {
		for _, m := range ops {
			x.ivs = append(x.ivs, d.place(t, m))
		}
	}
	slices.SortFunc(x.ivs, compareStarts)
	x.buildMax()
	return x
}

// buildMax computes maxEnd for the whole array.
func (x *markIndex) buildMax() {
	x.maxEnd = slices.Grow(x.maxEnd[:0], len(x.ivs))[:len(x.ivs)]
	var build func(lo, hi int) int
	build = func(lo, hi int) int {
		if lo >= hi {
			return math.MinInt
		}
		mid := int(uint(lo+hi) >> 1)
		m := max(x.ivs[mid].e, build(lo, mid), build(mid+1, hi))
		x.maxEnd[mid] = m
		return m
	}
	build(0, len(x.ivs))
}

// at returns where the old gap g is now; moving says whether items inserted
// at g went before it.
func (x *markIndex) at(g int, moving bool) int {
	l := x.log
	lo, hi := 0, len(l)
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); l[m].gap < g {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(l) {
		e := l[lo]
		if moving && e.gap == g {
			return g + e.before + e.n
		}
		return g + e.before
	}
	if lo > 0 {
		e := l[lo-1]
		return g + e.before + e.n
	}
	return g
}

// inserted records k items inserted at index p (the index of the first of
// them now).
func (x *markIndex) inserted(p, k int) {
	l := x.log
	i, before := 0, 0
	for ; i < len(l); i++ {
		start := l[i].gap + l[i].before // where the items of the entry start now
		if p < start {
			break
		}
		if p <= start+l[i].n {
			// In or at either edge of the items of the entry: the same old gap.
			l[i].n += k
			for j := i + 1; j < len(l); j++ {
				l[j].before += k
			}
			return
		}
		before = l[i].before + l[i].n
	}
	for j := i; j < len(l); j++ {
		l[j].before += k
	}
	x.log = slices.Insert(l, i, insertion{gap: p - before, n: k, before: before})
}

// flushLog applies the log to the array.
func (x *markIndex) flushLog() {
	if len(x.log) == 0 {
		return
	}
	for i := range x.ivs {
		iv := &x.ivs[i]
		iv.s, iv.e = x.at(iv.s, iv.sm), x.at(iv.e, iv.em)
	}
	x.log = x.log[:0]
	x.buildMax()
}

// flush applies the log and merges the recent operations into the array.
func (x *markIndex) flush() {
	x.flushLog()
	x.queried = false
	if len(x.recent) == 0 {
		return
	}
	add := x.recent
	slices.SortFunc(add, compareStarts)
	// Merge from the back, in place.
	n := len(x.ivs)
	x.ivs = slices.Grow(x.ivs, len(add))[:n+len(add)]
	i, j := n-1, len(add)-1
	for k := len(x.ivs) - 1; j >= 0; k-- {
		if i >= 0 && compareStarts(x.ivs[i], add[j]) > 0 {
			x.ivs[k] = x.ivs[i]
			i--
		} else {
			x.ivs[k] = add[j]
			j--
		}
	}
	clear(add)
	x.recent = add[:0]
	x.buildMax()
}

// overlapping appends to bs the boundaries of the mark operations of t that
// cover some item of indexes [tot0, tot1), in no particular order.
func (x *markIndex) overlapping(tot0, tot1 int, bs []boundary) []boundary {
	x.queried = true
	add := func(m *markOp, s, e int) {
		if s < e && s < tot1 && e > tot0 {
			bs = append(bs, boundary{s, m, true}, boundary{e, m, false})
		}
	}
	var walk func(lo, hi int)
	walk = func(lo, hi int) {
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if x.at(x.maxEnd[mid], true) <= tot0 {
				return
			}
			walk(lo, mid)
			iv := &x.ivs[mid]
			s := x.at(iv.s, iv.sm)
			if s >= tot1 {
				return // and so do those after it
			}
			add(iv.m, s, x.at(iv.e, iv.em))
			lo = mid + 1
		}
	}
	walk(0, len(x.ivs))
	for _, iv := range x.recent {
		add(iv.m, iv.s, iv.e)
	}
	return bs
}

// markIndex returns the mark index of t, making it if needed.
func (d *Doc) markIndex(t *textRoot) *markIndex {
	rt := t.rich
	if rt.index == nil {
		rt.index = d.newMarkIndex(t)
	}
	return rt.index
}

// markAdded tells the mark index of t, if any, of the new operation m. A
// full recent list is merged if the index was read since its last flush;
// otherwise (many marks applied at once) the index is dropped.
func (d *Doc) markAdded(t *textRoot, m *markOp) {
	x := t.rich.index
	if x == nil {
		return
	}
	if len(x.recent) == maxRecent {
		if !x.queried {
			t.rich.index = nil
			return
		}
		x.flush()
	}
	x.recent = append(x.recent, d.place(t, m))
}

// inserted tells the mark index of t, if any, that the last k items of the
// run it were just inserted. A full log is applied if the index was read
// since its last flush; otherwise the index is dropped.
func (t *textRoot) inserted(it *item, k int) {
	if t.rich == nil || t.rich.index == nil {
		return
	}
	x := t.rich.index
	_, tot := posOf(it)
	p := tot + it.n - k
	for i := range x.recent {
		iv := &x.recent[i]
		if iv.s > p || iv.s == p && iv.sm {
			iv.s += k
		}
		if iv.e > p || iv.e == p && iv.em {
			iv.e += k
		}
	}
	x.inserted(p, k)
	if len(x.log) > maxLog {
		if !x.queried {
			t.rich.index = nil
			return
		}
		x.flushLog()
		x.queried = false
	}
}
