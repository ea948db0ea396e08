package crdt

import (
	"cmp"
	"container/heap"
	"slices"
)

// A plan is what applying an update will do, computed without changing the
// document: the ops to integrate in dependency order, the delete ranges to
// apply, and the new pending set with its encoded size (-1 when not known:
// see Doc.PendingBytes).
type plan struct {
	steps        []step
	dels         []delRange
	pending      pendingSet
	pendingBytes int
	// pendingChanged reports whether pending differs from the document's.
	pendingChanged bool
}

type step struct {
	client uint64
	op     *uop
}

// queue is a client's ops in a plan: those not integrated (a tree that starts
// as the document's pending ops and is changed by copying paths only), and
// those the plan integrates, in order.
type queue struct {
	client uint64
	ops    *opNode
	orig   *opNode // the document's pending ops of the client
	done   []*uop
	next   uint64 // the client's clock once done are integrated
	added  []*uop // the ops put into ops (some may have left since)
	taken  []*uop // the ops of orig taken from ops
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
}

// empty reports whether the queue has no op.
func (q *queue) empty() bool { return q.ops == nil && len(q.lone) == 0 }

// first returns the first of the queue's ops (there is one).
func (q *queue) first() *uop {
	if len(q.lone) > 0 {
		return &q.lone[0]
	}
	return q.ops.first()
}

// flush moves the ops of lone, if any, into ops as copies (what waits in a
// pending set must not point into the update).
func (q *queue) flush() {
	if len(q.lone) == 0 {
		return
	}
	ops := make([]uop, len(q.lone))
	copy(ops, q.lone)
	q.lone = nil
	for i := range ops {
		q.put(&ops[i])
	}
}

// ownContent gives the ops of the update that wait their own copy of their
// content, all in one array: the document reuses the update's buffers from
// Apply to Apply.
func (sc *planScratch) ownContent() {
	n := 0
	for i := range sc.queues {
		q := &sc.queues[i]
		for _, op := range q.added[q.kept:] {
			if op.content != nil && q.ops.find(op.clock) == op {
				n += len(op.content)
			}
		}
	}
	if n == 0 {
		return
	}
	buf := make([]rune, 0, n)
	for i := range sc.queues {
		q := &sc.queues[i]
		for _, op := range q.added[q.kept:] {
			if op.content != nil && q.ops.find(op.clock) == op {
				k := len(buf)
				buf = append(buf, op.content...)
				op.content = buf[k:len(buf):len(buf)]
			}
		}
	}
}

// put adds op to the queue's ops; op must not overlap them.
func (q *queue) put(op *uop) {
	q.ops = q.ops.insert(q.client, op)
	q.added = append(q.added, op)
}

// take removes the first of the queue's ops (there is one).
func (q *queue) take() {
	if len(q.lone) > 0 {
		q.lone = q.lone[1:]
		return
	}
	if q.orig != nil {
		if op := q.ops.first(); q.orig.find(op.clock) == op {
			q.taken = append(q.taken, op)
		}
	}
	q.ops = q.ops.withoutFirst(q.client)
}

// countRefs adds to t what the queue's changes to its ops change in the
// tables: the ops of orig it took leave, the ops it put that stayed come.
func (q *queue) countRefs(t *tableDelta) {
	for _, op := range q.taken {
		t.count(q.client, op, -1)
	}
	for _, op := range q.added {
		if q.ops.find(op.clock) == op {
			t.count(q.client, op, 1)
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

// waiter is a client queue waiting for the clock of another client to pass clock.
type waiter struct {
	clock  uint64
	client uint64
}

type waitHeap []waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].clock < h[j].clock }
func (h waitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waitHeap) Push(x any)        { *h = append(*h, x.(waiter)) }
func (h *waitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// plan merges u into the pending set and finds what can be integrated: a
// client's next op is ready when it starts at the client's clock and its
// origins are integrated (or become so earlier in the plan). Waiting is by
// heap per awaited client, so a plan costs O(n log n) in the ops it touches
// whatever the shape of the dependencies; pending ops are not copied (see
// opNode), so that a plan costs O(log n) per op it adds or takes in the
// size n of the pending buffer.
func (d *Doc) plan(u *update) *plan {
	sc := &d.scratch
	sc.reset(len(d.pending.ops) + len(u.blocks))
	p := &sc.p
	d.pending.refs.settle()
	changed := false
	for c, ops := range d.pending.ops {
		q := sc.queue(c, ops, d.clock(c))
		// Pending ops that became known meanwhile are dropped.
		for op := q.ops.first(); op != nil && op.end() <= q.next; op = q.ops.first() {
			q.take()
			changed = true
		}
		if op := q.ops.first(); op != nil && op.clock < q.next {
			trimmed := trimOp(c, *op, q.next)
			q.take()
			q.put(&trimmed)
			q.kept = len(q.added)
			changed = true
		}
	}
	for i := range u.blocks {
		b := &u.blocks[i]
		q := sc.get(b.client)
		if q == nil {
			q = sc.queue(b.client, nil, d.clock(b.client))
		}
		if q.empty() && b.start() >= q.next {
			q.lone = b.ops // a block the client's queue does not overlap
			changed = true
			continue
		}
		for j := range b.ops {
			if q.addOp(b.ops[j : j+1]) {
				changed = true
			}
		}
	}
	clock := func(c uint64) uint64 {
		if q := sc.get(c); q != nil {
			return q.next
		}
		return d.clock(c)
	}
	waiters := make(map[uint64]*waitHeap)
	work := make([]uint64, 0, len(sc.queues))
	for i := range sc.queues {
		if q := &sc.queues[i]; !q.empty() {
			work = append(work, q.client)
		}
	}
	slices.Sort(work)
	slices.Reverse(work)
	for len(work) > 0 {
		q := sc.get(work[len(work)-1])
		work = work[:len(work)-1]
	ops:
		for !q.empty() {
			op := q.first()
			if op.clock != q.next {
				break // a gap: the missing clocks are not in the plan
			}
			if op.kind == opText {
				for _, o := range [2]ID{op.left, op.right} {
					if o.Client != 0 && o.Clock >= clock(o.Client) {
						h := waiters[o.Client]
						if h == nil {
							h = &waitHeap{}
							waiters[o.Client] = h
						}
						heap.Push(h, waiter{o.Clock, q.client})
						break ops
					}
				}
			}
			q.take()
			if op.kind == opText && !d.originsValid(op, sc) {
				skip := *op
				skip.kind, skip.content = opSkip, nil
				op = &skip
			}
			p.steps = append(p.steps, step{q.client, op})
			q.done = append(q.done, op)
			q.next = op.end()
			changed = true
			if h := waiters[q.client]; h != nil {
				for h.Len() > 0 && (*h)[0].clock < q.next {
					work = append(work, heap.Pop(h).(waiter).client)
				}
			}
		}
	}

	// What waits: the ops not reached, and the delete ranges beyond the clocks.
	for i := range sc.queues {
		q := &sc.queues[i]
		q.flush()
		if q.ops != nil {
			if p.pending.ops == nil {
				p.pending.ops = make(map[uint64]*opNode)
			}
			p.pending.ops[q.client] = q.ops
		}
	}
	sc.ownContent()
	dels := d.pending.dels
	if len(u.dels) > 0 {
		dels = normalizeDels(append(slices.Clone(d.pending.dels), u.dels...))
	}
	for _, r := range dels {
		k := clock(r.client)
		if r.clock < k {
			p.dels = append(p.dels, delRange{r.client, r.clock, min(r.n, k-r.clock)})
		}
		if end := r.clock + r.n; end > k {
			s := max(r.clock, k)
			p.pending.dels = append(p.pending.dels, delRange{r.client, s, end - s})
		}
	}
	switch {
	case p.pending.empty():
		p.pendingChanged = !d.pending.empty()
	case !changed && slices.Equal(p.pending.dels, d.pending.dels):
		p.pending.refs, p.pending.slab, p.pendingBytes = d.pending.refs, d.pending.slab, d.pendingBytes
		p.pending.opsBytes, p.pending.blocks, p.pending.indices = d.pending.opsBytes, d.pending.blocks, d.pending.indices
	default:
		p.pendingChanged = true
		size, wide, exact := p.pending.sizeOf(p.pending.tally(&d.pending, sc.queues))
		switch {
		case exact:
			p.pendingBytes = size
		case wide <= d.cfg.MaxPendingBytes:
			p.pendingBytes = -1 // not known, under the limit: see Doc.PendingBytes
		default:
			p.pendingBytes = p.pending.measure()
		}
	}
	return p
}

// planScratch is what a document's plans reuse from one Apply to the next, so
// that an update that flows straight through (a keystroke) allocates no plan,
// queues or step lists: the owner serialises calls, so one is enough. Nothing
// in it is used after execute, and release drops the pointers it holds so
// that it keeps no ops or trees alive.
type planScratch struct {
	p      plan
	queues []queue // a plan's queues; never grown during a plan, so pointers to them hold
	// byClient finds the queues when there are more than smallQueues; a
	// few (an update of one client, little pending) are found by a scan.
	byClient map[uint64]*queue
}

// smallQueues is the number of queues up to which a plan finds a client's
// queue by a scan.
const smallQueues = 8

// reset prepares an empty plan for at most n queues.
func (sc *planScratch) reset(n int) {
	sc.p = plan{steps: sc.p.steps[:0], dels: sc.p.dels[:0]}
	if cap(sc.queues) < n {
		sc.queues = make([]queue, 0, n)
	}
	sc.queues = sc.queues[:0]
}

// get returns the queue of client c, or nil.
func (sc *planScratch) get(c uint64) *queue {
	if len(sc.queues) > smallQueues {
		return sc.byClient[c]
	}
	for i := range sc.queues {
		if sc.queues[i].client == c {
			return &sc.queues[i]
		}
	}
	return nil
}

// queue returns a new queue of the plan: client's, with the document's pending
// ops of the client (ops) and its clock (next).
func (sc *planScratch) queue(client uint64, ops *opNode, next uint64) *queue {
	sc.queues = sc.queues[:len(sc.queues)+1]
	q := &sc.queues[len(sc.queues)-1]
	*q = queue{client: client, ops: ops, orig: ops, next: next, done: q.done[:0], added: q.added[:0], taken: q.taken[:0]}
	switch n := len(sc.queues); {
	case n == smallQueues+1:
		if sc.byClient == nil {
			sc.byClient = make(map[uint64]*queue)
		}
		for i := range sc.queues {
			sc.byClient[sc.queues[i].client] = &sc.queues[i]
		}
	case n > smallQueues+1:
		sc.byClient[client] = q
	}
	return q
}

// release drops what the last plan pointed to.
func (sc *planScratch) release() {
	clear(sc.p.steps)
	sc.p.pending = pendingSet{}
	for i := range sc.queues {
		q := &sc.queues[i]
		clear(q.done)
		clear(q.added)
		clear(q.taken)
		q.ops, q.orig, q.lone = nil, nil, nil
	}
	sc.queues = sc.queues[:0]
	clear(sc.byClient)
}

// tally sets the size parts of p, the pending set that a plan derives from
// old with the queues given, and returns its tables' size. It costs O(1) per
// queue, O(log n) per op a queue put or took, and a pass over the delete
// ranges.
func (p *pendingSet) tally(old *pendingSet, queues []queue) tableSize {
	p.opsBytes, p.blocks, p.indices = old.opsBytes, old.blocks, old.indices
	p.slab = old.slab
	if p.slab == nil {
		p.slab = &sumSlab{}
	}
	delta := &tableDelta{}
	for i := range queues {
		q := &queues[i]
		if q.ops == q.orig {
			continue
		}
		q.countRefs(delta)
		b0, i0, n0 := q.orig.share(q.client, p.slab)
		b1, i1, n1 := q.ops.share(q.client, p.slab)
		p.opsBytes += b1 - b0
		p.indices += i1 - i0
		p.blocks += n1 - n0
	}
	base := old.refs
	if base == nil {
		base = newRefTable()
	}
	t := &refTable{clients: delta.clients, roots: delta.roots, base: base,
		nClients: base.nClients, nRoots: base.nRoots, clientBytes: base.clientBytes, rootBytes: base.rootBytes}
	for c, dv := range delta.clients {
		switch was := base.clients[c]; {
		case was == 0 && was+dv > 0:
			t.nClients++
			t.clientBytes += uvLen(c)
		case was > 0 && was+dv == 0:
			t.nClients--
			t.clientBytes -= uvLen(c)
		}
	}
	for r, dv := range delta.roots {
		switch was := base.roots[r]; {
		case was == 0 && was+dv > 0:
			t.nRoots++
			t.rootBytes += rootEntryBytes(r)
		case was > 0 && was+dv == 0:
			t.nRoots--
			t.rootBytes -= rootEntryBytes(r)
		}
	}
	if len(p.ops) > 0 {
		p.refs = t
	}
	return t.withDels(p.dels, func(c uint64) int { return base.clients[c] + delta.clients[c] })
}

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
	added := false
	for op.n > 0 {
		o := q.ops.endingAfter(op.clock)
		if o == nil {
			q.put(&op)
			return true
		}
		if op.clock < o.clock {
			part := cutOp(op, o.clock)
			q.put(&part)
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
// text items of its root. Updates that break this are refused when the origin
// is known on arrival; an origin that arrives later as something else makes
// the op a skip.
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
		po := findDone(q.done, o.Clock)
		if po == nil || po.kind != opText || po.root != op.root {
			return false
		}
	}
	return true
}

// findDone returns the op of done (ascending, not overlapping) that covers clock.
func findDone(done []*uop, clock uint64) *uop {
	i, _ := slices.BinarySearchFunc(done, clock, func(o *uop, c uint64) int { return cmp.Compare(o.end(), c+1) })
	if i < len(done) && done[i].clock <= clock {
		return done[i]
	}
	return nil
}
