package crdt

import (
	"maps"
	"math"
	"slices"
)

// A plan is what applying an update will do, computed without changing the
// document: the ops to integrate in dependency order, the delete ranges to
// apply, and the pending set after it, as changes to the document's (the
// queues' trees, and the maps below) with its totals.
type plan struct {
	steps []step
	dels  []delRange

	// The clients whose pending delete ranges change: their new trees (nil
	// when none are left), and what their trees took before the plan.
	delTrees map[uint64]*delNode
	delWas   map[uint64]delFigures
	// The awaited clients whose waiting sets change: their new trees (nil
	// when empty); the waiting clients whose wait changes (the zero ID when
	// none).
	waitTrees map[uint64]*waitNode
	waitOn    map[uint64]ID

	planTotals

	// tx and dtx hold what the plan changed in the document's op trees and
	// delete-range trees, which install keeps and release, for a plan that
	// is not installed, undoes.
	tx  opTx
	dtx delTx
}

// planTotals are the totals of the pending set after a plan (tally).
type planTotals struct {
	ex          exactSize
	ub          upperBound
	sb          slackBound
	delBytes    int
	nOps, nDels int // clients with pending ops, with pending delete ranges
	held        int

	pendingBytes int
	// pendingChanged reports whether the pending set differs from the document's.
	pendingChanged bool
}

// delFigures is what a client's pending delete ranges take in the encoded
// pending set (delNode.encoded).
type delFigures struct {
	encoded int
}

type step struct {
	client uint64
	op     *uop
}

// queue is a client's ops in a plan: those not integrated (a tree that starts
// as the document's pending ops and is changed in place through the plan's
// opTx), and those the plan integrates, in order.
type queue struct {
	client uint64
	ops    *opNode
	orig   *opNode // the root of the document's pending ops of the client (its nodes may change)
	tx     *opTx
	// changed reports whether ops differs from the document's pending ops.
	changed bool
	// origShare is what the document's pending ops of the client take in
	// the encoded pending set (opNode.share), while the exact size is kept.
	origBytes, origIndices, origBlocks int

	done []*uop
	// doneEnds holds the ends of done, searched without loading the ops.
	doneEnds []uint64
	next     uint64    // the client's clock once done are integrated
	start    uint64    // the client's clock before the plan
	added    []*opLeaf // the ops put into ops (those taken since are gone)
	// taken holds the ops of the document's taken from ops while the exact
	// size is kept (refs), for the tables (countRefs); else took only
	// records that one was (tookOrig).
	taken    []*uop
	refs     bool
	tookOrig bool
	// What the ops put and taken change in the pending set's totals,
	// counted as each comes or goes, while the op is at hand (tally): the
	// bytes held, the upper bound, and the upper-bound share of the ops
	// put that stay (for the slack bound).
	held           int
	ub             upperBound
	sbBytes, sbIdx int
	// lone, when not empty, is the queue's ops: ops of one block of the
	// update (not copies), ascending, held out of ops while ops is empty. An
	// update that is integrated at once costs no tree and no copy, whether
	// it is a keystroke or a whole history: its ops are taken from the
	// block in order. flush puts copies of those left into ops when another
	// block of the client comes or when they have to wait.
	lone []uop
	// kept is the number of ops at the start of added that are not the
	// update's (a pending op trimmed); those after are, and their content is
	// the update's until ownContent copies it.
	kept int
	// walk, while walking, is the path to the first op of ops not yet taken
	// (its top): the plan takes ops from the front without copying paths,
	// and cuts the tree once (stopWalk).
	walk    []walkPos
	walking bool
	walked  bool // whether an op was taken while walking
}

// empty reports whether the queue has no op.
func (q *queue) empty() bool {
	if q.walking {
		return len(q.walk) == 0 && len(q.lone) == 0
	}
	return q.ops == nil && len(q.lone) == 0
}

// first returns the first of the queue's ops (there is one).
func (q *queue) first() *uop {
	switch {
	case len(q.lone) > 0:
		return &q.lone[0]
	case q.walking:
		top := q.walk[len(q.walk)-1]
		return &top.n.ents[top.i].op.op
	}
	return q.ops.first()
}

// startWalk starts taking ops from the front of ops by walking the tree.
func (q *queue) startWalk() {
	q.walking, q.walked = true, false
	q.walk = q.walk[:0]
	if q.ops != nil {
		q.descend(q.ops)
	}
}

// descend puts on the walk the path from t to its first op.
func (q *queue) descend(t *opNode) {
	for {
		q.walk = append(q.walk, walkPos{t, 0})
		if t.leaf {
			return
		}
		t = t.ents[0].kid
	}
}

// advance moves the walk to the op after the one it is at.
func (q *queue) advance() {
	for len(q.walk) > 0 {
		top := &q.walk[len(q.walk)-1]
		top.i++
		if top.i < len(top.n.ents) {
			if !top.n.leaf {
				q.descend(top.n.ents[top.i].kid)
			}
			return
		}
		q.walk = q.walk[:len(q.walk)-1]
	}
}

// stopWalk ends a walk: ops becomes the ops not taken, cut from the tree in
// O(log n), and the ops of orig that were taken are recorded.
func (q *queue) stopWalk() {
	q.walking = false
	clear(q.walk)
	q.walk = q.walk[:0]
	if q.walked {
		q.ops = q.tx.from(q.ops, q.next)
		q.changed = true
	}
}

// flush moves the ops of lone, if any, into ops as copies (what waits in a
// pending set must not point into the update).
func (q *queue) flush() {
	if len(q.lone) == 0 {
		return
	}
	ops := q.lone
	q.lone = nil
	for i := range ops {
		q.put(ops[i])
	}
}

// ownContent gives the ops of the update that wait their own copy of their
// content: the document reuses the update's buffers from Apply to Apply. Each
// op gets its own array, so that what the pending set holds is what its ops
// hold (PendingMemory), not the whole content of the updates they came in.
func (sc *planScratch) ownContent() {
	for _, q := range sc.queues {
		for _, l := range q.added[q.kept:] {
			if !l.gone() && len(l.op.content) > inlineRunes {
				l.op.content = slices.Clone(l.op.content)
			}
		}
	}
}

// put adds a copy of op to the queue's ops; op must not overlap them.
func (q *queue) put(o uop) {
	var l *opLeaf
	q.ops, l = q.tx.insert(q.ops, &o)
	q.noteAdded(l)
}

// putFree adds a copy of op to the queue's ops if op overlaps none of them,
// and reports whether it did.
func (q *queue) putFree(o *uop) bool {
	t, l := q.tx.insertFree(q.ops, o, 0, math.MaxUint64)
	if l == nil {
		return false
	}
	q.ops = t
	q.noteAdded(l)
	return true
}

// noteAdded records l, which the plan put into the queue's ops.
func (q *queue) noteAdded(l *opLeaf) {
	q.changed = true
	q.added = append(q.added, l)
	q.held += opHeld(&l.op)
	b, i := q.ub.add(q.client, &l.op, 1)
	q.sbBytes, q.sbIdx = q.sbBytes+b, q.sbIdx+i
}

// took records that the plan took op l from ops: the ops of the
// document's it took, and its own that left (gone). The ops of ops are
// those of the document's not yet taken and those the plan put.
func (q *queue) took(l *opLeaf) {
	q.held -= opHeld(&l.op)
	b, i := q.ub.add(q.client, &l.op, -1)
	if l.born == q.tx.gen {
		l.born = goneBorn
		q.sbBytes, q.sbIdx = q.sbBytes-b, q.sbIdx-i
		return
	}
	q.tookOrig = true
	if q.refs {
		q.taken = append(q.taken, &l.op)
	}
}

// take removes the first of the queue's ops (there is one).
func (q *queue) take() {
	if len(q.lone) > 0 {
		q.lone = q.lone[1:]
		return
	}
	if q.walking {
		top := q.walk[len(q.walk)-1]
		q.took(top.n.ents[top.i].op)
		q.advance()
		q.walked = true
		return
	}
	q.took(q.ops.firstLeaf())
	q.ops = q.tx.withoutFirst(q.ops)
	q.changed = true
}

// countRefs adds to t what the queue's changes to its ops change in the
// tables: the ops of orig it took leave, the ops it put that stayed come.
func (q *queue) countRefs(t *tableDelta) {
	for _, op := range q.taken {
		t.count(q.client, op, -1)
	}
	for _, l := range q.added {
		if !l.gone() {
			t.count(q.client, &l.op, 1)
		}
	}
}

// tableDelta is how a plan changes the counts of a refTable.
type tableDelta struct {
	clients map[uint64]int
	roots   map[rootKey]int
}

// count adds dv to the counts of what op, client's, names.
func (t *tableDelta) count(client uint64, op *uop, dv int) {
	if t.clients == nil {
		t.clients, t.roots = make(map[uint64]int), make(map[rootKey]int)
	}
	opRefs(client, op, func(c uint64, r rootKey, hasRoot bool) {
		t.clients[c] += dv
		if hasRoot {
			t.roots[r] += dv
		}
	})
}

// plan merges u into the pending set and finds what can be integrated: a
// client's next op is ready when it starts at the client's clock and its
// origins are integrated (or become so earlier in the plan).
//
// A plan visits only what u names and what becomes applicable, never the
// whole pending set: the queues of u's clients; the queues of the clients
// whose first op waits for an origin that the plan integrates, found in the
// waiting sets (waitNode) of the client that integrates it; and the delete
// ranges of u's clients and of the clients whose clock moves. The op trees
// and delete-range trees are changed in place (opTx, delTx, undone by
// release unless the plan is installed); the waiting sets are persistent,
// changed by copying paths: a plan costs O(log n) per op, range and wait it
// adds or takes in the size n of the pending set, and a refused plan leaves
// the document's trees as they were.
func (d *Doc) plan(u *update) *plan {
	sc := &d.scratch
	sc.reset()
	p := &sc.p
	pd := &d.pending
	pd.gen++
	p.tx.begin(pd.gen)
	p.dtx.begin(pd.gen)
	pd.ex.refs.settle()
	if pd.ops[d.client] != nil {
		// Local edits may have moved the document's own clock past some of
		// its pending ops.
		sc.touch(d, d.client)
	}
	for i := range u.blocks {
		b := &u.blocks[i]
		q := sc.touch(d, b.client)
		if q.empty() && b.start() >= q.next {
			q.lone = b.ops // a block the client's queue does not overlap
			continue
		}
		for j := range b.ops {
			q.addOp(b.ops[j : j+1])
		}
	}
	slices.Reverse(sc.work) // the update's clients in ascending order
	for len(sc.work) > 0 {
		q := sc.get(sc.work[len(sc.work)-1])
		sc.work = sc.work[:len(sc.work)-1]
		var waits ID
		q.startWalk()
	ops:
		for !q.empty() {
			op := q.first()
			if op.clock != q.next {
				break // a gap: the missing clocks are not in the plan
			}
			if op.hasOrigins() {
				for _, o := range [2]ID{op.left, op.right} {
					if o.Client != 0 && o.Clock >= sc.clock(d, o.Client) {
						waits = o
						break ops
					}
				}
			}
			q.take()
			if op.hasOrigins() && !d.originsValid(op, sc) {
				skip := *op
				skip.kind, skip.content = opSkip, nil
				op = &skip
			}
			p.steps = append(p.steps, step{q.client, op})
			q.done = append(q.done, op)
			q.doneEnds = append(q.doneEnds, op.end())
			q.next = op.end()
			sc.fire(d, q.client, q.next)
		}
		q.stopWalk()
		sc.setWait(d, q.client, waits)
	}
	for _, q := range sc.queues {
		q.flush()
	}
	sc.ownContent()
	sc.planDels(d, u)
	sc.tally(d)
	return p
}

// touch returns the queue of client c, making it from the document's pending
// ops of c and putting it on the work list if the plan has none yet.
func (sc *planScratch) touch(d *Doc, c uint64) *queue {
	if q := sc.get(c); q != nil {
		return q
	}
	q := sc.queue(c, d.pending.ops[c], d.clock(c))
	sc.work = append(sc.work, c)
	if d.pending.ex.on {
		q.refs = true
		// The exact size changes by what the queue's ops take then, less
		// what they take now, before the plan changes them.
		q.origBytes, q.origIndices, q.origBlocks = q.orig.share(c)
	}
	// Pending ops that became known meanwhile (the document's own, by
	// local edits) are dropped.
	for op := q.ops.first(); op != nil && op.end() <= q.next; op = q.ops.first() {
		q.take()
	}
	if op := q.ops.first(); op != nil && op.clock < q.next {
		trimmed := trimOp(c, *op, q.next)
		q.take()
		q.put(trimmed)
		q.kept = len(q.added)
	}
	return q
}

// clock returns the clock of client c in the plan.
func (sc *planScratch) clock(d *Doc, c uint64) uint64 {
	if q := sc.get(c); q != nil {
		return q.next
	}
	return d.clock(c)
}

// waitTree returns the plan's waiting set of the clients that wait for c.
func (sc *planScratch) waitTree(d *Doc, c uint64) *waitNode {
	if t, ok := sc.p.waitTrees[c]; ok {
		return t
	}
	return d.pending.waits[c]
}

// waitOf returns what the first op of client c waits for in the plan (the
// zero ID when nothing).
func (sc *planScratch) waitOf(d *Doc, c uint64) ID {
	if w, ok := sc.p.waitOn[c]; ok {
		return w
	}
	return d.pending.waitOn[c]
}

// setWait records that the first op of client c waits for origin w (the zero
// ID: for nothing, or a gap in c's clocks).
func (sc *planScratch) setWait(d *Doc, c uint64, w ID) {
	old := sc.waitOf(d, c)
	if old == w {
		return
	}
	p := &sc.p
	if p.waitTrees == nil {
		p.waitTrees = make(map[uint64]*waitNode)
	}
	if p.waitOn == nil {
		p.waitOn = make(map[uint64]ID)
	}
	if old.Client != 0 {
		p.waitTrees[old.Client] = sc.waitTree(d, old.Client).remove(old.Clock, c)
	}
	if w.Client != 0 {
		p.waitTrees[w.Client] = sc.waitTree(d, w.Client).insert(w.Clock, c)
	}
	p.waitOn[c] = w
}

// fire puts on the work list the clients whose first op waits for a clock of
// client c below next, which c has now reached.
func (sc *planScratch) fire(d *Doc, c, next uint64) {
	t := sc.waitTree(d, c)
	if t == nil {
		return
	}
	for t != nil {
		clock, w := t.first()
		if clock >= next {
			break
		}
		sc.setWait(d, w, ID{})
		t = sc.waitTree(d, c)
		if sc.get(w) == nil {
			sc.touch(d, w)
		} else {
			sc.work = append(sc.work, w)
		}
	}
}

// delTree returns the plan's pending delete ranges of client c.
func (sc *planScratch) delTree(d *Doc, c uint64) *delNode {
	if t, ok := sc.p.delTrees[c]; ok {
		return t
	}
	return d.pending.dels[c]
}

// planDels sorts the delete ranges of u and those pending of the clients
// whose clock moved into those that apply (p.dels) and those that wait.
func (sc *planScratch) planDels(d *Doc, u *update) {
	p := &sc.p
	set := func(c uint64, t *delNode) {
		if p.delTrees == nil {
			p.delTrees = make(map[uint64]*delNode)
		}
		p.delTrees[c] = t
	}
	// change returns the plan's tree of client c, about to change in place:
	// what the document's took is recorded first.
	change := func(c uint64) *delNode {
		if _, ok := p.delWas[c]; !ok {
			if p.delWas == nil {
				p.delWas = make(map[uint64]delFigures)
			}
			t := d.pending.dels[c]
			p.delWas[c] = delFigures{t.encoded()}
		}
		return sc.delTree(d, c)
	}
	for _, r := range u.dels {
		k := sc.clock(d, r.client)
		if r.clock < k {
			p.dels = append(p.dels, delRange{r.client, r.clock, min(r.n, k-r.clock)})
		}
		if end := r.clock + r.n; end > k {
			s := max(r.clock, k)
			set(r.client, p.dtx.add(change(r.client), delRange{r.client, s, end - s}))
		}
	}
	// Pending ranges below a clock that moved now apply. Adding a range
	// above the clock may merge it with one below, which is split here.
	split := func(c, k uint64) {
		t := sc.delTree(d, c)
		f, ok := t.first()
		if !ok || f.clock >= k {
			return
		}
		t = change(c)
		for ok && f.clock < k {
			t = p.dtx.remove(t, f.clock)
			p.dels = append(p.dels, delRange{c, f.clock, min(f.n, k-f.clock)})
			if end := f.clock + f.n; end > k {
				t = p.dtx.add(t, delRange{c, k, end - k}) // it touches no range left
			}
			f, ok = t.first()
		}
		set(c, t)
	}
	for _, q := range sc.queues {
		if q.next > q.start {
			split(q.client, q.next)
		}
	}
	for c := range p.delTrees {
		split(c, sc.clock(d, c))
	}
	if len(p.dels) > 1 {
		p.dels = normalizeDels(p.dels)
	}
}

// tally sets the totals of the pending set after the plan, and its encoded
// size (pendingBytes) when it is known. It costs O(1) per queue (what its
// ops change in the totals is counted as they come and go: noteAdded,
// took) and per client whose delete ranges or waits changed; keeping the
// size exact costs more (see exactSize), and only a pending set that may
// pass MaxPendingBytes pays it.
func (sc *planScratch) tally(d *Doc) {
	p, old := &sc.p, &d.pending
	p.ex, p.ub, p.sb = old.ex, old.ub, old.sb
	p.delBytes, p.held = old.delBytes, old.held
	p.nOps, p.nDels = len(old.ops), len(old.dels)
	p.pendingBytes = d.pendingBytes
	p.pendingChanged = len(p.delTrees) > 0 || len(p.waitOn) > 0
	for _, q := range sc.queues {
		if q.orig == nil && q.ops == nil {
			q.changed = false // what came has left
		}
		if q.changed {
			p.pendingChanged = true
		}
	}
	if !p.pendingChanged {
		return
	}
	ex := &p.ex
	var delta *tableDelta
	if ex.on {
		delta = &tableDelta{} // its maps become the new table's (refTable.settle)
	}
	p.held += p.tx.held + p.dtx.held // the trees' nodes
	for _, q := range sc.queues {
		if !q.changed {
			continue
		}
		p.held += q.held
		p.ub.merge(&q.ub)
		if p.sb.on {
			p.sb.bytes += q.sbBytes
			p.sb.indices += q.sbIdx
			if q.tookOrig {
				p.sb.bytes += removalBytes
				p.sb.indices += removalIndices
			}
		}
		switch {
		case q.orig == nil:
			p.nOps++
			p.held += heldClient
		case q.ops == nil:
			p.nOps--
			p.held -= heldClient
		}
		if ex.on {
			q.countRefs(delta)
			b0, i0, n0 := q.origBytes, q.origIndices, q.origBlocks
			b1, i1, n1 := q.ops.share(q.client)
			ex.opsBytes += b1 - b0
			ex.indices += i1 - i0
			ex.blocks += n1 - n0
		}
	}
	var base *refTable
	if ex.on {
		base = ex.refs
		if base == nil {
			base = &refTable{} // no counts: reading its nil maps gives 0
		}
		ex.refs = base.derive(delta)
	}
	named := func(c uint64) bool { return base.clients[c]+delta.clients[c] > 0 }
	onlyDels := func(c uint64, has, named bool, dv int) {
		if has && !named {
			ex.delOnly += dv
			ex.delOnlyBytes += dv * uvLen(c)
		}
	}
	for c, nt := range p.delTrees {
		ot, was := old.dels[c], p.delWas[c]
		p.delBytes += nt.encoded() - was.encoded
		switch {
		case ot == nil && nt != nil:
			p.nDels++
			p.held += heldClient
			p.ub.delClientBytes += uvLen(c)
		case ot != nil && nt == nil:
			p.nDels--
			p.held -= heldClient
			p.ub.delClientBytes -= uvLen(c)
		}
		if ex.on {
			onlyDels(c, ot != nil, base.clients[c] > 0, -1)
			onlyDels(c, nt != nil, named(c), 1)
		}
	}
	if ex.on {
		for c := range delta.clients {
			if _, done := p.delTrees[c]; !done && old.dels[c] != nil {
				onlyDels(c, true, base.clients[c] > 0, -1)
				onlyDels(c, true, named(c), 1)
			}
		}
	}
	for c, w := range p.waitOn {
		if ow := old.waitOn[c]; (ow.Client != 0) != (w.Client != 0) {
			if w.Client != 0 {
				p.held += heldWait
			} else {
				p.held -= heldWait
			}
		}
	}
	for c, nt := range p.waitTrees {
		if ot := old.waits[c]; (ot == nil) != (nt == nil) {
			if nt != nil {
				p.held += heldClient
			} else {
				p.held -= heldClient
			}
		}
	}
	if ex.on {
		p.held += ex.refs.held() - base.held()
	}

	if p.nOps == 0 && p.nDels == 0 {
		p.pendingBytes = 0
		p.held -= p.ex.refs.held()
		p.ex, p.sb = exactSize{}, slackBound{}
		return
	}
	limit := d.cfg.MaxPendingBytes
	if _, wide := p.ub.size(p.nDels, p.delBytes); wide <= limit && (!ex.on || wide <= limit/2) {
		// Far enough under the limit: the size is computed when asked for.
		p.held -= p.ex.refs.held()
		p.ex, p.sb = exactSize{}, slackBound{}
		p.pendingBytes = -1
		return
	}
	if !ex.on {
		if p.sb.on && p.sb.size(&p.ub, p.nDels, p.delBytes) <= limit {
			p.pendingBytes = -1 // under the limit, with slack left
			return
		}
		// Measure the size; far under the limit, keep a slack bound
		// rather than the exact size.
		e := sc.after(d).exactFromScratch()
		size, wide, exact := pendingSize(e.tables(), e.blocks, e.opsBytes, e.indices, p.nDels, p.delBytes)
		if wide <= limit/2 {
			p.sb = slackFrom(&e)
			p.pendingBytes = -1
			if exact {
				p.pendingBytes = size
			}
			return
		}
		p.ex, p.sb = e, slackBound{}
		p.held += p.ex.refs.held()
	}
	size, wide, exact := pendingSize(p.ex.tables(), p.ex.blocks, p.ex.opsBytes, p.ex.indices, p.nDels, p.delBytes)
	switch {
	case wide <= limit/4:
		// Far under the limit again: a slack bound is enough.
		p.held -= p.ex.refs.held()
		p.sb, p.ex = slackFrom(&p.ex), exactSize{}
		p.pendingBytes = -1
		if exact {
			p.pendingBytes = size
		}
	case exact:
		p.pendingBytes = size
	case wide <= limit:
		p.pendingBytes = -1 // not known, under the limit: see Doc.PendingBytes
	default:
		p.pendingBytes = sc.after(d).measure()
	}
}

// after returns the pending set after the plan as a new set, sharing the
// trees: a copy of the document's maps, O(n) in its clients, for the rare
// plan that has to encode it to decide (see pendingSize).
func (sc *planScratch) after(d *Doc) *pendingSet {
	n := &pendingSet{ops: maps.Clone(d.pending.ops), dels: maps.Clone(d.pending.dels)}
	if n.ops == nil {
		n.ops = make(map[uint64]*opNode)
	}
	if n.dels == nil {
		n.dels = make(map[uint64]*delNode)
	}
	for _, q := range sc.queues {
		if q.ops == nil {
			delete(n.ops, q.client)
		} else {
			n.ops[q.client] = q.ops
		}
	}
	for c, t := range sc.p.delTrees {
		if t == nil {
			delete(n.dels, c)
		} else {
			n.dels[c] = t
		}
	}
	return n
}

// planScratch is what a document's plans reuse from one Apply to the next, so
// that an update that flows straight through (a keystroke) allocates no plan,
// queues or step lists: the owner serialises calls, so one is enough. Nothing
// in it is used after execute, and release drops the pointers it holds so
// that it keeps no ops or trees alive.
type planScratch struct {
	p      plan
	queues []*queue // a plan's queues
	pool   []*queue // queues made by earlier plans, reused
	// byClient finds the queues when there are more than smallQueues; a
	// few (an update of one client, little pending) are found by a scan.
	byClient map[uint64]*queue
	work     []uint64 // the clients whose queues are to be looked at
}

// smallQueues is the number of queues up to which a plan finds a client's
// queue by a scan.
const smallQueues = 8

// reset prepares an empty plan: its lists emptied (release emptied its
// maps and logs), its totals zero. The plan is not written whole: its logs
// and maps stay where they are.
func (sc *planScratch) reset() {
	p := &sc.p
	p.steps, p.dels = p.steps[:0], p.dels[:0]
	p.planTotals = planTotals{}
	sc.queues = sc.queues[:0]
	sc.work = sc.work[:0]
}

// get returns the queue of client c, or nil.
func (sc *planScratch) get(c uint64) *queue {
	if len(sc.queues) > smallQueues {
		return sc.byClient[c]
	}
	for _, q := range sc.queues {
		if q.client == c {
			return q
		}
	}
	return nil
}

// queue returns a new queue of the plan: client's, with the document's pending
// ops of the client (ops) and its clock (next).
func (sc *planScratch) queue(client uint64, ops *opNode, next uint64) *queue {
	n := len(sc.queues)
	if n == len(sc.pool) {
		sc.pool = append(sc.pool, new(queue))
	}
	q := sc.pool[n]
	*q = queue{client: client, ops: ops, orig: ops, tx: &sc.p.tx, next: next, start: next, done: q.done[:0], doneEnds: q.doneEnds[:0], added: q.added[:0], taken: q.taken[:0], walk: q.walk[:0]}
	sc.queues = append(sc.queues, q)
	switch n := len(sc.queues); {
	case n == smallQueues+1:
		if sc.byClient == nil {
			sc.byClient = make(map[uint64]*queue)
		}
		for _, q := range sc.queues {
			sc.byClient[q.client] = q
		}
	case n > smallQueues+1:
		sc.byClient[client] = q
	}
	return q
}

// bigMap is the size past which a scratch map is dropped rather than
// cleared: clearing costs as much as its largest size.
const bigMap = 1024

// release drops what the last plan pointed to, and undoes what it changed in
// the document's op trees unless it was installed (a refused plan).
func (sc *planScratch) release() {
	sc.p.tx.rollback()
	sc.p.dtx.rollback()
	clear(sc.p.steps)
	for _, q := range sc.queues {
		clear(q.done)
		clear(q.added)
		clear(q.taken)
		q.ops, q.orig, q.lone, q.tx = nil, nil, nil, nil
	}
	if len(sc.pool) > bigMap {
		sc.pool = nil
	}
	sc.queues = sc.queues[:0]
	sc.byClient = clearMap(sc.byClient)
	sc.p.delTrees = clearMap(sc.p.delTrees)
	sc.p.delWas = clearMap(sc.p.delWas)
	sc.p.waitTrees = clearMap(sc.p.waitTrees)
	sc.p.waitOn = clearMap(sc.p.waitOn)
	sc.p.ex = exactSize{}
}

// clearSlice empties s for reuse (its elements zeroed, so that it keeps
// nothing alive), or drops it when its array grew past keep elements: the
// slice counterpart of clearMap.
func clearSlice[T any](s []T, keep int) []T {
	clear(s)
	if cap(s) > keep {
		return nil
	}
	return s[:0]
}

// clearMap empties m for reuse, or drops it when it grew past a few
// entries: a map keeps the room it grew to, and ranging over it costs that
// room, not its entries, which the next plans (a keystroke's, most often)
// would pay after one plan that released many clients.
func clearMap[K comparable, V any](m map[K]V) map[K]V {
	switch n := len(m); {
	case n > smallMap:
		return nil
	case n > 0:
		clear(m)
	}
	return m
}

// smallMap is the size past which a scratch map is dropped by clearMap.
const smallMap = 16

// addOp adds the op of one (an op of the update) to the queue unless its
// clocks are known: the parts already integrated or already queued are
// dropped (the first one received wins). It reports whether it added
// anything.
func (q *queue) addOp(one []uop) bool {
	src := &one[0]
	if src.end() <= q.next {
		return false
	}
	if q.empty() && src.clock >= q.next {
		q.lone = one
		return true
	}
	q.flush()
	op := trimOp(q.client, *src, q.next)
	if q.putFree(&op) {
		return true // what most often comes: no op of the queue overlaps it
	}
	added := false
	for op.n > 0 {
		o := q.ops.endingAfter(op.clock)
		if o == nil {
			q.put(op)
			return true
		}
		if op.clock < o.clock {
			part := cutOp(op, o.clock)
			q.put(part)
			added = true
		}
		if op.end() <= o.end() {
			return added
		}
		op = trimOp(q.client, op, o.end())
	}
	return added
}

// originsValid checks, when op is about to be integrated, that its origins are
// text items of its root; an op whose origins are not is integrated as a skip.
// This is decided here and only here, never when the op arrives (docs/crdt.md
// 1.6 rule 4): whether an origin is known on arrival depends on the arrival
// order, and a pending set whose ops were checked against what was known then
// could name, once more arrives, origins of another root, and encode as an
// update that no replica accepts.
func (d *Doc) originsValid(op *uop, sc *planScratch) bool {
	for _, o := range [2]ID{op.left, op.right} {
		if o.Client == 0 {
			continue
		}
		if cs := d.clients[o.Client]; cs != nil && o.Clock < cs.next {
			it := cs.items.find(o.Clock)
			if it == nil || it.root.name != op.root {
				return false
			}
			continue
		}
		q := sc.get(o.Client)
		po := q.findDone(o.Clock)
		if po == nil || po.kind != opText || po.root != op.root {
			return false
		}
	}
	return true
}

// findDone returns the op of done (ascending, one after the other from
// start) that covers clock. The last one is tried first: an op's left
// origin is most often the op integrated just before it. Else the ends are
// searched, a dense array, where a search of the ops would load one op per
// step (a plan that releases a large pending set integrates it all).
func (q *queue) findDone(clock uint64) *uop {
	k := len(q.done)
	if k == 0 || clock < q.start {
		return nil
	}
	if last := q.done[k-1]; last.clock <= clock {
		if clock < last.end() {
			return last
		}
		return nil
	}
	i, _ := slices.BinarySearch(q.doneEnds, clock+1) // the first end past clock
	if i < k && q.done[i].clock <= clock {
		return q.done[i]
	}
	return nil
}
