package crdt

import (
	"math"
	"slices"
	"unsafe"
)

// opNode is a node of a client's pending ops: a B+ tree keyed by clock, whose
// leaves hold up to opFan ops ascending and whose inner nodes hold up to
// opFan children, each entry with the first clock and the last end under it.
// Why a B+ tree rather than a binary one: ops arrive in any order, and an op
// that waits is put where its clock goes and taken again later; in a
// binary tree of a few hundred thousand ops every level of that descent is a
// cache miss (a node per op, scattered in memory), where here a descent
// reads a few arrays of clocks, and taking ops in order walks the leaves'
// arrays. The nil *opNode is the empty tree; no node of a tree is empty,
// and all its leaves are at the same depth.
//
// A plan changes the document's trees in place through an opTx, which logs
// each node of theirs before its first change, so that a refused plan
// leaves the trees as they were: an Apply costs O(log n) per op it adds or
// takes, whatever the size of the pending buffer.
//
// Each node sums up its ops as the encoder would write them (opSum), so that
// the root tells the client's share of the encoded size. Sums are computed
// when asked for (sums) and kept in the node until it changes: a plan asks
// for the roots of the trees it changed, which computes the sums of the
// nodes on the paths it changed, O(opFan log n) per op, and never those of
// the ops that only pass through its queues (updates that arrive in order).
type opNode struct {
	// ents holds the entries, ascending; its capacity grows by doubling up
	// to opFan, so that the tree of a client with one op waiting (a flood
	// of units of new clients) holds one entry, not opFan.
	ents   []opEnt
	leaf   bool
	summed bool // whether sum is computed; it is until the node changes
	// logged is, when gen is the plan's, the first entry the plan's undo
	// log holds as it was: the entries before it are the node's own
	// (opTx.log).
	logged uint8
	// height is the node's level, 1 for a leaf: a node keeps it from its
	// making on (a split's new node is at its own level, a new root one
	// above), so that a root tells its tree's height.
	height uint8
	gen    uint64 // the plan that made the node or last changed it (opTx)
	sum    opSum  // when summed: the sum of the node's ops (opSum)
}

// opEnt is an entry of an opNode: an op of a leaf, or a child of an inner
// node, with the first clock and the last end of what it holds.
type opEnt struct {
	clock, end uint64
	op         *opLeaf // a leaf's
	kid        *opNode // an inner node's
}

// opFan is the most entries an opNode holds: its entries fill 1 KiB.
const opFan = 32

// opLeaf is a pending op, with room for the content of a short text op (a
// keystroke), which is then the op's own from the start: such an op costs
// one allocation, not two.
type opLeaf struct {
	op   uop
	text [inlineRunes]rune
	// born is the plan that put the op, or goneBorn once that plan took it
	// again: what a plan put that stays is read from its ops, with no
	// search. (A flag of its own would take a word: an opLeaf is 192 bytes,
	// a size class of its own, and would be 208.)
	born uint64
}

// goneBorn is the born of an op that the plan that put it took again: no
// plan's generation (they start at 1).
const goneBorn = 0

// gone reports whether the plan that put l took it again.
func (l *opLeaf) gone() bool { return l.born == goneBorn }

// inlineRunes is the content an opLeaf holds itself.
const inlineRunes = 4

// Bytes held by a pending op tree (PendingMemory): an op, and a node
// besides its entries.
const (
	heldOp     = int(unsafe.Sizeof(opLeaf{}))
	heldOpNode = int(unsafe.Sizeof(opNode{}))
	heldOpEnt  = int(unsafe.Sizeof(opEnt{}))
)

// held returns what node t holds besides its ops.
func (t *opNode) held() int { return heldOpNode + heldOpEnt*cap(t.ents) }

// opTx changes the pending op trees of a document in place for one plan,
// recording in an undo log the nodes of the document's trees as they were
// before the plan changed them, so that a refused plan is rolled back and
// an accepted one keeps its changes (commit). A record is one of:
//
//   - the node's fields and its entries from an index on (those a change
//     moves or overwrites, in a buffer reused from plan to plan): later
//     changes of the plan to those entries are not logged again (logged);
//   - the node's fields and the index where one entry was put (an op put
//     into a leaf, a split child into its parent): undone by taking it out
//     again, with no entry copied;
//   - the node's fields and one entry as it was before it was overwritten
//     (a child's first clock changed).
//
// A rollback applies the records backwards: each finds the node as the
// change it records left it. A node made by the plan carries its
// generation (gen) and is never logged. A record holds the node's entries
// (its slice), gen and logged, not its sum: a rolled-back node's sum is
// computed again when asked for.
//
// A node on the path of a put whose entry for the child stays as it was is
// not logged at all: only its sum changes. Such nodes are listed (resum),
// so that a rollback drops the sums the plan may have computed for them.
type opTx struct {
	gen   uint64
	undo  []opUndo
	ents  []opEnt   // the logged nodes' entries, one after the other
	resum []*opNode // nodes whose sum the plan made stale without logging them
	// direct, set for a change that is never undone, leaves the changes
	// unlogged (see Doc.park).
	direct bool
	// held is what the nodes the plan made, grew and dropped change in the
	// bytes held (opNode.held).
	held int
}

// opUndo is a node of a document's tree and what it held when logged: its
// entries (the slice), gen and logged, and by kind its entries from index
// from on at ents[at:] (up to its length then), or the index from where an
// entry was put, or the entry e that was at index from.
type opUndo struct {
	n      *opNode
	was    []opEnt
	gen    uint64
	logged uint8
	kind   undoKind
	at     int
	from   int
	e      opEnt
}

// undoOf returns a record of n as it is, of kind k with index from.
func undoOf(n *opNode, k undoKind, from int) opUndo {
	return opUndo{n: n, was: n.ents, gen: n.gen, logged: n.logged, kind: k, from: from}
}

// undoKind tells what an opUndo records.
type undoKind uint8

const (
	undoEnts undoKind = iota // the entries from an index on
	undoPut                  // an entry put at an index
	undoSet                  // an entry overwritten
)

// noneLogged is the logged of a node whose last record saved no entries:
// its next change is logged whatever it touches.
const noneLogged = math.MaxUint8

// begin starts a plan's changes, whose nodes will carry generation gen
// (never one that a node of the document's trees carries).
func (x *opTx) begin(gen uint64) {
	x.gen = gen
	x.commit()
}

// commit keeps the changes of the plan: a test when it changed no node of
// the document's (see delTx.commit).
func (x *opTx) commit() {
	x.held = 0
	if len(x.undo) == 0 && len(x.resum) == 0 {
		return
	}
	x.undo = clearSlice(x.undo, bigMap)
	x.ents = clearSlice(x.ents, bigMap*opFan)
	x.resum = clearSlice(x.resum, bigMap)
}

// rollback gives the document's trees back what they held before the plan.
func (x *opTx) rollback() {
	for _, n := range x.resum {
		n.summed = false
	}
	for i := len(x.undo) - 1; i >= 0; i-- {
		u := &x.undo[i]
		switch u.kind {
		case undoPut:
			e := u.n.ents
			copy(e[u.from:], e[u.from+1:])
			e[len(e)-1] = opEnt{}
		case undoSet:
			u.n.ents[u.from] = u.e
		}
		u.n.ents, u.n.gen, u.n.logged, u.n.summed = u.was, u.gen, u.logged, false
		if u.kind == undoEnts {
			copy(u.n.ents[u.from:], x.ents[u.at:])
		}
	}
	x.commit()
}

// log records n, whose entries from index i on are about to change (or its
// fields), if it is a node of the document's trees that the plan has not
// logged from i or before, and marks its sum as not computed. Only the
// entries from i on are copied: a plan that puts an op into a leaf moves
// the entries after it and no others. When a later change of the plan
// reaches entries before those logged, the node is logged again from there:
// the entries before the first log's are as they were until then, and a
// rollback, going backwards, restores the first record last.
func (x *opTx) log(n *opNode, i int) {
	if x.direct {
		n.summed = false
		return
	}
	if n.gen != x.gen || i < int(n.logged) {
		x.record(n, i)
	}
	n.summed = false
}

// logPut records that an entry is about to be put at index i of n, which
// has room for it in its array.
func (x *opTx) logPut(n *opNode, i int) {
	if x.direct {
		n.summed = false
		return
	}
	if n.gen != x.gen || i < int(n.logged) {
		x.undo = append(x.undo, undoOf(n, undoPut, i))
		n.gen, n.logged = x.gen, noneLogged
	}
	n.summed = false
}

// logSet records that the entry at index i of n is about to be
// overwritten.
func (x *opTx) logSet(n *opNode, i int) {
	if x.direct {
		n.summed = false
		return
	}
	if n.gen != x.gen || i < int(n.logged) {
		u := undoOf(n, undoSet, i)
		u.e = n.ents[i]
		x.undo = append(x.undo, u)
		n.gen, n.logged = x.gen, noneLogged
	}
	n.summed = false
}

// stale marks the sum of n as not computed, n's entries staying as they
// are. A node of the document's trees is listed once (it takes the plan's
// generation, with nothing logged: its next change is logged whatever it
// touches), so that a rollback marks it again: the plan may compute its sum
// before it is rolled back.
func (x *opTx) stale(n *opNode) {
	if x.direct {
		n.summed = false
		return
	}
	if n.gen != x.gen {
		x.resum = append(x.resum, n)
		n.gen, n.logged = x.gen, noneLogged
	}
	n.summed = false
}

// record logs n with its entries from index i on.
func (x *opTx) record(n *opNode, i int) {
	i = min(i, len(n.ents))
	u := undoOf(n, undoEnts, i)
	u.at = len(x.ents)
	x.undo = append(x.undo, u)
	x.ents = append(x.ents, n.ents[i:]...)
	n.gen, n.logged = x.gen, uint8(i)
}

// newNode returns a new node at level height (1: a leaf) with room for c
// entries.
func (x *opTx) newNode(height uint8, c int) *opNode {
	n := &opNode{ents: make([]opEnt, 0, c), leaf: height == 1, height: height, gen: x.gen}
	x.held += n.held()
	return n
}

// drop records that n left its tree.
func (x *opTx) drop(n *opNode) { x.held -= n.held() }

// dropAll records that the nodes of t left their tree.
func (x *opTx) dropAll(t *opNode) {
	x.drop(t)
	if !t.leaf {
		for i := range t.ents {
			x.dropAll(t.ents[i].kid)
		}
	}
}

// leafOf returns a new op, a copy of op, whose content is its own when it
// fits (see ownContent for the longer ones).
func (x *opTx) leafOf(op *uop) *opLeaf {
	l := &opLeaf{op: *op, born: x.gen}
	if c := op.content; len(c) > 0 && len(c) <= inlineRunes {
		l.op.content = l.text[:copy(l.text[:], c):len(c)]
	}
	return l
}

// first returns the op of t with the lowest clock, or nil.
func (t *opNode) first() *uop {
	if t == nil {
		return nil
	}
	return &t.firstLeaf().op
}

// firstLeaf returns the op of t with the lowest clock; t is not empty.
func (t *opNode) firstLeaf() *opLeaf {
	for !t.leaf {
		t = t.ents[0].kid
	}
	return t.ents[0].op
}

// after returns the index of the first entry of t whose clock is above
// clock.
func (t *opNode) after(clock uint64) int {
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

// endingAfter returns the first op of t that ends after clock, or nil.
func (t *opNode) endingAfter(clock uint64) *uop {
	for t != nil {
		lo, hi := 0, len(t.ents)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if t.ents[m].end <= clock {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == len(t.ents) {
			return nil
		}
		if t.leaf {
			return &t.ents[lo].op.op
		}
		t = t.ents[lo].kid
	}
	return nil
}

// find returns the op of t that covers clock, or nil.
func (t *opNode) find(clock uint64) *uop {
	if o := t.endingAfter(clock); o != nil && o.clock <= clock {
		return o
	}
	return nil
}

// each calls fn with the ops of t, ascending.
func (t *opNode) each(fn func(*uop)) {
	if t == nil {
		return
	}
	for i := range t.ents {
		if t.leaf {
			fn(&t.ents[i].op.op)
		} else {
			t.ents[i].kid.each(fn)
		}
	}
}

// appendTo appends the ops of t to out, ascending.
func (t *opNode) appendTo(out []uop) []uop {
	t.each(func(op *uop) { out = append(out, *op) })
	return out
}

// nodes returns how many nodes t has.
func (t *opNode) nodes() int {
	if t == nil {
		return 0
	}
	n := 1
	if !t.leaf {
		for i := range t.ents {
			n += t.ents[i].kid.nodes()
		}
	}
	return n
}

// share returns what the ops of t, client's, take in the encoded pending set: bytes
// with one-byte indices, indices and blocks (0 for the empty tree).
func (t *opNode) share(client uint64) (bytes, indices, blocks int) {
	if t == nil {
		return 0, 0, 0
	}
	s := t.sums(client)
	bytes, indices = s.total()
	return bytes, indices, s.blocks
}

// sums returns the sum of the ops of t, client's (not empty), computing those
// of the nodes that lack it.
func (t *opNode) sums(client uint64) *opSum {
	if !t.summed {
		t.sum, t.summed = t.nodeSum(client), true
	}
	return &t.sum
}

// sumsCounting returns the sum of the ops of t, client's (not empty), as
// sums does, and adds to delta what they name: one pass over the tree, each
// leaf's ops counted while it is at hand, where sums then each would load
// them twice (a pending set measured from scratch holds up to hundreds of
// thousands).
func (t *opNode) sumsCounting(client uint64, delta *tableDelta) *opSum {
	for i := range t.ents {
		if t.leaf {
			delta.count(client, &t.ents[i].op.op, 1)
		} else {
			t.ents[i].kid.sumsCounting(client, delta)
		}
	}
	return t.sums(client) // the children's are computed
}

// nodeSum returns the sum of the ops of t, from its entries.
func (t *opNode) nodeSum(client uint64) opSum {
	var s opSum
	for i := range t.ents {
		var c opSum
		if t.leaf {
			c = leafSum(&t.ents[i].op.op)
		} else {
			c = *t.ents[i].kid.sums(client)
		}
		if i == 0 {
			s = c
		} else {
			s = joinSums(client, &s, &c)
		}
	}
	return s
}

// insert returns t with a copy of op added, and the copy; op must not
// overlap the ops of t.
func (x *opTx) insert(t *opNode, op *uop) (*opNode, *opLeaf) {
	t, l := x.insertFree(t, op, 0, math.MaxUint64)
	if l == nil {
		panic("crdt: pending op overlaps the ops it is put beside") // broken invariant: callers put only what overlaps nothing
	}
	return t, l
}

// insertFree returns t with a copy of op added, and the copy, when op
// overlaps no op of t; else t as it was and nil. It finds where op goes
// and whether its neighbours leave room for it in one descent: lo and hi
// are the end of the op before t's ops and the clock of the one after them.
func (x *opTx) insertFree(t *opNode, op *uop, lo, hi uint64) (*opNode, *opLeaf) {
	if t == nil {
		if op.clock < lo || op.end() > hi {
			return nil, nil
		}
		t = x.newNode(1, 1)
		l := x.leafOf(op)
		t.ents = append(t.ents, opEnt{clock: op.clock, end: op.end(), op: l})
		return t, l
	}
	l, right := x.put(t, op, lo, hi)
	if l == nil || right == nil {
		return t, l
	}
	root := x.newNode(t.height+1, 2)
	root.ents = append(root.ents, t.entry(), right.entry())
	return root, l
}

// putHeldBound bounds what putting one op into t adds to the bytes its
// nodes hold (opTx.held): on each level at most a node of opFan entries
// (a split, or an array grown), and a new root of two.
func (t *opNode) putHeldBound() int {
	levels := 1
	if t != nil {
		levels += int(t.height)
	}
	return levels * (heldOpNode + heldOpEnt*opFan)
}

// entry returns the entry of t in its parent.
func (t *opNode) entry() opEnt {
	return opEnt{clock: t.ents[0].clock, end: t.ents[len(t.ents)-1].end, kid: t}
}

// put adds a copy of op to t, as insertFree, and returns the copy and the
// node split off t's end, if t was full (nil otherwise).
func (x *opTx) put(t *opNode, op *uop, lo, hi uint64) (*opLeaf, *opNode) {
	i := t.after(op.clock)
	if t.leaf {
		if i > 0 {
			lo = t.ents[i-1].end
		}
		if i < len(t.ents) {
			hi = t.ents[i].clock
		}
		if op.clock < lo || op.end() > hi {
			return nil, nil
		}
		l := x.leafOf(op)
		return l, x.insertAt(t, i, opEnt{clock: op.clock, end: op.end(), op: l})
	}
	k := max(i-1, 0) // the last child starting at or before op, else the first
	if k > 0 {
		lo = t.ents[k-1].end
	}
	if k+1 < len(t.ents) {
		hi = t.ents[k+1].clock
	}
	kid := t.ents[k].kid
	l, split := x.put(kid, op, lo, hi)
	if l == nil {
		return nil, nil
	}
	if e := kid.entry(); e != t.ents[k] {
		x.logSet(t, k)
		t.ents[k] = e
	} else {
		x.stale(t) // its sum changes, not its entries
	}
	if split == nil {
		return l, nil
	}
	return l, x.insertAt(t, k+1, split.entry())
}

// insertAt puts e at index i of t's entries, and returns the node split off
// t's end when t was full (nil otherwise).
//
// A full node is split in the middle, unless e goes to one of its ends:
// then e goes into a node of its own (past the end) or t keeps e alone and
// the new node all that t held (at the front), so that ops that come in
// ascending or descending order (a writer's keystrokes, in order or
// reversed) fill their nodes rather than leave each half full.
func (x *opTx) insertAt(t *opNode, i int, e opEnt) *opNode {
	n := len(t.ents)
	switch {
	case n == opFan && i == n:
		r := x.newNode(t.height, opFan)
		r.ents = append(r.ents, e)
		return r
	case n == opFan:
		x.log(t, min(i, opFan/2)) // the split moves the entries from there on
	case n == cap(t.ents):
		x.log(t, n) // the entries move to a new array, the old stays
	default:
		x.logPut(t, i)
	}
	if n < opFan {
		grown := growEntries(t.ents, opFan)
		x.held += heldOpEnt * (cap(grown) - cap(t.ents))
		t.ents = slices.Insert(grown, i, e)
		return nil
	}
	r := x.newNode(t.height, opFan)
	t.ents, r.ents = splitEntries(t.ents, r.ents, i, e)
	return r
}

// withoutFirst returns t without its first op; t is not empty.
func (x *opTx) withoutFirst(t *opNode) *opNode {
	if x.dropFirst(t) {
		x.drop(t)
		return nil
	}
	return x.collapse(t)
}

// dropFirst removes the first op of t, and reports whether t is left empty
// (its parent then drops it).
func (x *opTx) dropFirst(t *opNode) bool {
	x.log(t, 0)
	if !t.leaf {
		kid := t.ents[0].kid
		if !x.dropFirst(kid) {
			t.ents[0].clock = kid.ents[0].clock
			return false
		}
		x.drop(kid)
	}
	t.removeFront(1)
	return len(t.ents) == 0
}

// removeFront removes the first k entries of t.
func (t *opNode) removeFront(k int) {
	n := copy(t.ents, t.ents[k:])
	clear(t.ents[n:])
	t.ents = t.ents[:n]
}

// collapse returns the root of t once inner nodes with one child at its top
// are dropped.
func (x *opTx) collapse(t *opNode) *opNode {
	for !t.leaf && len(t.ents) == 1 {
		x.drop(t)
		t = t.ents[0].kid
	}
	return t
}

// from returns t without its ops before clock, which must not straddle it.
func (x *opTx) from(t *opNode, clock uint64) *opNode {
	if t == nil {
		return nil
	}
	if x.cut(t, clock) {
		x.drop(t)
		return nil
	}
	return x.collapse(t)
}

// cut removes the ops of t before clock, and reports whether t is left
// empty (its parent then drops it).
func (x *opTx) cut(t *opNode, clock uint64) bool {
	if t.ents[0].clock >= clock {
		return false
	}
	x.log(t, 0)
	i := 0
	for i < len(t.ents) && t.ents[i].end <= clock {
		if !t.leaf {
			x.dropAll(t.ents[i].kid)
		}
		i++
	}
	if !t.leaf && i < len(t.ents) {
		// Its last op ends after clock and does not straddle it: the
		// child keeps it.
		kid := t.ents[i].kid
		x.cut(kid, clock)
		t.ents[i].clock = kid.ents[0].clock
	}
	t.removeFront(i)
	return len(t.ents) == 0
}

// walkPos is a node on the path of a walk through a tree, and the index of
// the entry the walk is at.
type walkPos struct {
	n *opNode
	i int
}
