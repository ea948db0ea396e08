package crdt

import (
	"math"
	"slices"
	"unsafe"
)

// delNode is a node of a client's pending delete ranges: a B+ tree keyed by
// clock, like the client's pending ops (opNode), whose leaves hold up to
// delFan ranges ascending and whose inner nodes hold up to delFan children,
// each entry with the first clock and the last end under it. The ranges
// are disjoint and never adjacent (ranges that touch are merged). Why a B+
// tree rather than a binary one: a range that comes is put by a descent
// that reads a few arrays of clocks, where a binary tree of a few hundred
// thousand ranges took a cache miss per level, and rewrote (and logged)
// every node of the path to keep its sums.
//
// A plan changes the document's trees in place through a delTx, which logs
// a node of theirs before its first change, so that a refused plan leaves
// the trees as they were. Each node sums up its ranges as the delete set
// encodes them (delSum), computed when asked for and kept until the node
// changes, so that a client's share of the pending size is read at its
// root. The nil *delNode is the empty tree; no node of a tree is empty, and
// all its leaves are at the same depth.
type delNode struct {
	// ents holds the entries, ascending; its capacity grows by doubling up
	// to delFan, so that a client with one range waiting holds one entry.
	ents   []delEnt
	leaf   bool
	summed bool   // whether sum is computed; it is until the node changes
	gen    uint64 // the plan that made the node or logged it (delTx)
	listed uint64 // the plan that listed it for a rollback without logging it (delTx.stale)
	sum    delSum // when summed
}

// delEnt is an entry of a delNode: a leaf's range [clock, end), or an inner
// node's child with the first clock and the last end of its ranges.
type delEnt struct {
	clock, end uint64
	kid        *delNode
}

// delFan is the most entries a delNode holds.
const delFan = 32

// Bytes held by a pending delete-range tree (PendingMemory): a node besides
// its entries, and an entry.
const (
	heldDelNode = int(unsafe.Sizeof(delNode{}))
	heldDelEnt  = int(unsafe.Sizeof(delEnt{}))
)

// held returns what node t holds.
func (t *delNode) held() int { return heldDelNode + heldDelEnt*cap(t.ents) }

// entry returns the entry of t in its parent.
func (t *delNode) entry() delEnt {
	return delEnt{clock: t.ents[0].clock, end: t.ents[len(t.ents)-1].end, kid: t}
}

// delSum sums up ascending ranges as the delete set writes them: each range
// as its gap since the previous end (the first one's since 0) and its length.
type delSum struct {
	first, end uint64 // the first range's clock, the last one's end
	count      int
	bytes      int
}

// rangeSum returns the sum of the range [clock, end) alone.
func rangeSum(clock, end uint64) delSum {
	return delSum{first: clock, end: end, count: 1, bytes: uvLen(clock) + uvLen(end-clock)}
}

// joinDels returns the sum of the ranges of l followed by those of r.
func joinDels(l, r delSum) delSum {
	if l.count == 0 {
		return r
	}
	if r.count == 0 {
		return l
	}
	return delSum{first: l.first, end: r.end, count: l.count + r.count,
		bytes: l.bytes + r.bytes - uvLen(r.first) + uvLen(r.first-l.end)}
}

// encoded returns what the ranges of t take in the delete set: the client's
// index (one byte), the count of ranges and the ranges; 0 when t is empty.
func (t *delNode) encoded() int {
	if t == nil {
		return 0
	}
	s := t.sums()
	return 1 + uvLen(uint64(s.count)) + s.bytes
}

// sums returns the sum of the ranges of t, computing those of the nodes
// that lack it.
func (t *delNode) sums() delSum {
	if t == nil {
		return delSum{}
	}
	if !t.summed {
		var s delSum
		for i := range t.ents {
			e := &t.ents[i]
			if t.leaf {
				s = joinDels(s, rangeSum(e.clock, e.end))
			} else {
				s = joinDels(s, e.kid.sums())
			}
		}
		t.sum, t.summed = s, true
	}
	return t.sum
}

// endingFrom returns the index of the first entry of t whose end is at or
// past clock (len(t.ents) when none is).
func (t *delNode) endingFrom(clock uint64) int {
	lo, hi := 0, len(t.ents)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.ents[m].end < clock {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// startingAfter returns the index of the first entry of t whose clock is
// above clock.
func (t *delNode) startingAfter(clock uint64) int {
	lo, hi := 0, len(t.ents)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.ents[m].clock <= clock {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// touching returns the first range of t that ends at or after clock.
func (t *delNode) touching(clock uint64) (delEnt, bool) {
	for t != nil {
		i := t.endingFrom(clock)
		if i == len(t.ents) {
			break
		}
		if t.leaf {
			return t.ents[i], true
		}
		t = t.ents[i].kid
	}
	return delEnt{}, false
}

// first returns the range of t with the lowest clock (client unset), and
// whether t has one.
func (t *delNode) first() (delRange, bool) {
	if t == nil {
		return delRange{}, false
	}
	for !t.leaf {
		t = t.ents[0].kid
	}
	e := t.ents[0]
	return delRange{clock: e.clock, n: e.end - e.clock}, true
}

// appendTo appends the ranges of t, client's, to out, ascending.
func (t *delNode) appendTo(client uint64, out []delRange) []delRange {
	if t == nil {
		return out
	}
	for i := range t.ents {
		e := &t.ents[i]
		if t.leaf {
			out = append(out, delRange{client, e.clock, e.end - e.clock})
		} else {
			out = e.kid.appendTo(client, out)
		}
	}
	return out
}

// delTx changes the pending delete-range trees of a document in place for
// one plan, as opTx does the op trees: each node of the document's trees
// that the plan changes is logged once, before its first change (its
// entries, copied into a buffer reused from plan to plan), so that a
// refused plan is rolled back and an accepted one keeps its changes. A node
// on a change's path whose entry for the child stays as it was is not
// logged, only listed (resum), so that a rollback drops the sum the plan
// may have computed for it. A range that comes or goes costs one descent
// of O(log n) nodes.
type delTx struct {
	gen   uint64
	undo  []delUndo
	ents  []delEnt   // the logged nodes' entries, one after the other
	resum []*delNode // nodes whose sum the plan made stale without logging them
	held  int        // what the nodes the plan made, grew and dropped change in the bytes held
}

// delUndo is a node of a document's tree and what it held when logged: its
// entries (the slice, and their values at ents[at:]) and gen.
type delUndo struct {
	n   *delNode
	was []delEnt
	gen uint64
	at  int
}

// begin starts a plan's changes, whose nodes will carry generation gen.
func (x *delTx) begin(gen uint64) {
	x.gen = gen
	x.commit()
}

// commit keeps the changes of the plan. A plan that changed no tree of the
// document's (most: a plan is made on every Apply, and commit is called
// three times for it) costs a test.
func (x *delTx) commit() {
	x.held = 0
	if len(x.undo) == 0 && len(x.resum) == 0 {
		return // and the logs' capacity was checked by the commit that emptied them
	}
	x.undo = clearSlice(x.undo, bigMap)
	x.ents = clearSlice(x.ents, bigMap*delFan)
	x.resum = clearSlice(x.resum, bigMap)
}

// rollback gives the document's trees back what they held before the plan.
func (x *delTx) rollback() {
	for _, n := range x.resum {
		n.summed = false
	}
	for i := len(x.undo) - 1; i >= 0; i-- {
		u := &x.undo[i]
		n := u.n
		n.ents, n.gen, n.summed = u.was, u.gen, false
		copy(n.ents, x.ents[u.at:])
		clear(n.ents[len(n.ents):cap(n.ents)]) // what the plan put past them
	}
	x.commit()
}

// log records n, whose entries are about to change, if it is a node of the
// document's trees that the plan has not logged, and marks its sum as not
// computed.
func (x *delTx) log(n *delNode) {
	if n.gen != x.gen {
		x.undo = append(x.undo, delUndo{n: n, was: n.ents, gen: n.gen, at: len(x.ents)})
		x.ents = append(x.ents, n.ents...)
		n.gen = x.gen
	}
	n.summed = false
}

// stale marks the sum of n as not computed, its entries staying as they
// are; a node of the document's trees is listed for a rollback, once per
// plan (every put passes the nodes above it).
func (x *delTx) stale(n *delNode) {
	if n.gen != x.gen && n.listed != x.gen {
		x.resum = append(x.resum, n)
		n.listed = x.gen
	}
	n.summed = false
}

// newNode returns a new node with room for c entries.
func (x *delTx) newNode(leaf bool, c int) *delNode {
	n := &delNode{ents: make([]delEnt, 0, c), leaf: leaf, gen: x.gen}
	x.held += n.held()
	return n
}

// drop records that n left its tree.
func (x *delTx) drop(n *delNode) { x.held -= n.held() }

// setKid brings the entry of t's child at index k up to date after the
// child changed.
func (x *delTx) setKid(t *delNode, k int) {
	if e := t.ents[k].kid.entry(); e != t.ents[k] {
		x.log(t)
		t.ents[k] = e
	} else {
		x.stale(t)
	}
}

// insertAt puts e at index i of t's entries, and returns the node split off
// t's end when t was full (nil otherwise). As opTx.insertAt, a full node
// that e reaches at one end keeps its entries whole.
func (x *delTx) insertAt(t *delNode, i int, e delEnt) *delNode {
	n := len(t.ents)
	if n == delFan && i == n {
		r := x.newNode(t.leaf, delFan)
		r.ents = append(r.ents, e)
		return r
	}
	x.log(t)
	if n < delFan {
		grown := growEntries(t.ents, delFan)
		x.held += heldDelEnt * (cap(grown) - cap(t.ents))
		t.ents = slices.Insert(grown, i, e)
		return nil
	}
	r := x.newNode(t.leaf, delFan)
	t.ents, r.ents = splitEntries(t.ents, r.ents, i, e)
	return r
}

// removeAt removes the entry at index i of t.
func (x *delTx) removeAt(t *delNode, i int) {
	x.log(t)
	copy(t.ents[i:], t.ents[i+1:])
	t.ents[len(t.ents)-1] = delEnt{}
	t.ents = t.ents[:len(t.ents)-1]
}

// add returns t with the clocks of r added, merged with the ranges that r
// overlaps or touches. It costs one descent when r reaches at most one
// range (put), else one descent more per range merged.
func (x *delTx) add(t *delNode, r delRange) *delNode {
	e := delEnt{clock: r.clock, end: r.clock + r.n}
	for {
		if t == nil {
			n := x.newNode(true, 1)
			n.ents = append(n.ents, e)
			return n
		}
		ok, split := x.put(t, e, 0, math.MaxUint64)
		if ok {
			if split == nil {
				return t
			}
			root := x.newNode(false, 2)
			root.ents = append(root.ents, t.entry(), split.entry())
			return root
		}
		// e reaches more ranges than one: the first one it touches is
		// taken out and merged into it.
		o, _ := t.touching(e.clock)
		t = x.remove(t, o.clock)
		e = delEnt{clock: min(o.clock, e.clock), end: max(o.end, e.end)}
	}
}

// put adds the range e to t, widening the range it touches in place or
// putting it as a range of its own, when e touches at most one range and
// the result touches no other; else it changes nothing and reports false.
// prevEnd is the end of the range before t's (0: none), nextClock the clock
// of the one after them (math.MaxUint64: none). It returns the node split
// off t's end, if t was full.
func (x *delTx) put(t *delNode, e delEnt, prevEnd, nextClock uint64) (bool, *delNode) {
	i := t.endingFrom(e.clock) // the first entry that may touch e
	if !t.leaf {
		k := min(i, len(t.ents)-1)
		if k > 0 {
			prevEnd = t.ents[k-1].end
		}
		if k+1 < len(t.ents) {
			nextClock = t.ents[k+1].clock
		}
		ok, split := x.put(t.ents[k].kid, e, prevEnd, nextClock)
		if !ok {
			return false, nil
		}
		x.setKid(t, k)
		if split == nil {
			return true, nil
		}
		return true, x.insertAt(t, k+1, split.entry())
	}
	if i > 0 {
		prevEnd = t.ents[i-1].end
	}
	if i < len(t.ents) && t.ents[i].clock <= e.end {
		// e touches entry i: widen it.
		o := t.ents[i]
		s, end := min(o.clock, e.clock), max(o.end, e.end)
		if i+1 < len(t.ents) {
			nextClock = t.ents[i+1].clock
		}
		if prevEnd != 0 && prevEnd >= s || nextClock <= end {
			return false, nil
		}
		if s != o.clock || end != o.end {
			x.log(t)
			t.ents[i] = delEnt{clock: s, end: end}
		}
		return true, nil
	}
	if i < len(t.ents) {
		nextClock = t.ents[i].clock
	}
	if prevEnd != 0 && prevEnd >= e.clock || nextClock <= e.end {
		return false, nil
	}
	return true, x.insertAt(t, i, e)
}

// remove returns t without its range that starts at clock (there is one).
func (x *delTx) remove(t *delNode, clock uint64) *delNode {
	if x.removeFrom(t, clock) {
		x.drop(t)
		return nil
	}
	for !t.leaf && len(t.ents) == 1 {
		x.drop(t)
		t = t.ents[0].kid
	}
	return t
}

// removeFrom removes the range of t that starts at clock, and reports
// whether t is left empty (its parent then drops it).
func (x *delTx) removeFrom(t *delNode, clock uint64) bool {
	k := t.startingAfter(clock) - 1 // the entry that starts at clock, or the child that holds it
	if t.leaf {
		x.removeAt(t, k)
		return len(t.ents) == 0
	}
	kid := t.ents[k].kid
	if x.removeFrom(kid, clock) {
		x.drop(kid)
		x.removeAt(t, k)
		return len(t.ents) == 0
	}
	x.setKid(t, k)
	return false
}
