package crdt

import (
	"cmp"
	"container/heap"
	"slices"
)

// A plan is what applying an update will do, computed without changing the
// document: the ops to integrate in dependency order, the delete ranges to
// apply, and the new pending set with its encoded size.
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
	done   []*uop
	next   uint64 // the client's clock once done are integrated
	cut    bool   // ops left the front of ops (trimmed, dropped or integrated)
	added  []*uop // the ops added to ops (some may have left it since)
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
	p := &plan{}
	queues := make(map[uint64]*queue, len(d.pending.ops)+len(u.blocks))
	changed := false
	bound := 0 // the ops part of the new pending set's bound
	if !d.pending.empty() {
		bound = d.pending.bound - delsCost(d.pending.dels)
	}
	for c, ops := range d.pending.ops {
		q := &queue{client: c, ops: ops, next: d.clock(c)}
		// Pending ops that became known meanwhile are dropped.
		for op := q.ops.first(); op != nil && op.end() <= q.next; op = q.ops.first() {
			bound -= pendingCost(op)
			q.ops = q.ops.withoutFirst()
			q.cut, changed = true, true
		}
		if op := q.ops.first(); op != nil && op.clock < q.next {
			trimmed := trimOp(c, *op, q.next)
			bound += pendingCost(&trimmed) - pendingCost(op)
			q.ops = q.ops.withoutFirst().insert(&trimmed)
			q.added = append(q.added, &trimmed)
			q.cut, changed = true, true
		}
		queues[c] = q
	}
	for i := range u.blocks {
		b := &u.blocks[i]
		q := queues[b.client]
		if q == nil {
			q = &queue{client: b.client, next: d.clock(b.client)}
			queues[b.client] = q
		}
		for _, op := range b.ops {
			if cost := q.addOp(op); cost > 0 {
				bound += cost
				changed = true
			}
		}
	}
	clock := func(c uint64) uint64 {
		if q := queues[c]; q != nil {
			return q.next
		}
		return d.clock(c)
	}
	waiters := make(map[uint64]*waitHeap)
	work := make([]uint64, 0, len(queues))
	for c, q := range queues {
		if q.ops != nil {
			work = append(work, c)
		}
	}
	slices.Sort(work)
	slices.Reverse(work)
	for len(work) > 0 {
		q := queues[work[len(work)-1]]
		work = work[:len(work)-1]
	ops:
		for q.ops != nil {
			op := q.ops.first()
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
			bound -= pendingCost(op) // it leaves the queue
			q.ops = q.ops.withoutFirst()
			q.cut = true
			if op.kind == opText && !d.originsValid(op, queues) {
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
	charged, grown := 0, 0 // for pendingSet.since and grown
	for c, q := range queues {
		if q.ops != nil {
			if p.pending.ops == nil {
				p.pending.ops = make(map[uint64]*opNode)
			}
			p.pending.ops[c] = q.ops
			cost, entries := q.charge()
			charged += cost
			grown += entries
		}
	}
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
		p.pending.bound, p.pendingBytes = d.pending.bound, d.pendingBytes
		p.pending.base, p.pending.entries = d.pending.base, d.pending.entries
		p.pending.since, p.pending.grown = d.pending.since, d.pending.grown
	default:
		p.pendingChanged = true
		p.pending.bound = bound + delsCost(p.pending.dels)
		if !slices.Equal(p.pending.dels, d.pending.dels) {
			grown += len(p.pending.dels) // their clients may be new to the table
		}
		p.pending.base, p.pending.entries = d.pending.base, d.pending.entries
		p.pending.since, p.pending.grown = d.pending.since+charged, d.pending.grown+grown
		p.pendingBytes = -1 // not known yet: see Doc.PendingBytes
		if p.pending.upper() > d.cfg.MaxPendingBytes {
			p.pendingBytes = p.pending.measure()
		}
	}
	return p
}

// addOp adds op to the queue unless its clocks are known: the parts already
// integrated or already queued are dropped (the first one received wins). It
// returns the pendingCost of what it added (0 if nothing).
func (q *queue) addOp(op uop) int {
	if op.end() <= q.next {
		return 0
	}
	op = trimOp(q.client, op, q.next)
	cost := 0
	for op.n > 0 {
		o := q.ops.endingAfter(op.clock)
		if o == nil {
			q.ops = q.ops.insert(&op)
			q.added = append(q.added, &op)
			return cost + pendingCost(&op)
		}
		if op.clock < o.clock {
			part := cutOp(op, o.clock)
			q.ops = q.ops.insert(&part)
			q.added = append(q.added, &part)
			cost += pendingCost(&part)
		}
		if op.end() <= o.end() {
			return cost
		}
		op = trimOp(q.client, op, o.end())
	}
	return cost
}

// charge returns what the plan's changes to the queue may add to the encoded
// size of the pending set, and how many table entries, for pendingSet.since
// and grown. Think of the new ops as the old ones that stay, then the added
// ones that stay, in clock order. When a prefix of the old ops left, the first
// old op that stays may need block and op headers of its own: pendingCost.
// An added op costs its content and length growth (mergedCost) when it joins
// the group of the op before it; that, plus its left origin if it names
// another client, when it joins the group of an old op after it (whose group
// header it takes over); else pendingCost.
func (q *queue) charge() (cost, entries int) {
	if len(q.added) == 0 && !q.cut {
		return 0, 0
	}
	slices.SortFunc(q.added, func(a, b *uop) int { return cmp.Compare(a.clock, b.clock) })
	added := func(op *uop) bool {
		i, ok := slices.BinarySearchFunc(q.added, op.clock, func(a *uop, c uint64) int { return cmp.Compare(a.clock, c) })
		for ; ok && i < len(q.added) && q.added[i].clock == op.clock; i++ {
			if q.added[i] == op {
				return true
			}
		}
		return false
	}
	if q.cut {
		q.ops.each(func(op *uop) bool {
			if added(op) {
				return true
			}
			cost += pendingCost(op)
			return false
		})
	}
	for _, x := range q.added {
		if q.ops.find(x.clock) != x {
			continue // integrated
		}
		var prev *uop
		if x.clock > 0 {
			prev = q.ops.find(x.clock - 1)
		}
		next := q.ops.find(x.end())
		switch {
		case prev != nil && canMerge(q.client, prev, x):
			cost += mergedCost(x)
		case next != nil && !added(next) && canMerge(q.client, x, next):
			cost += mergedCost(x)
			if x.left.Client != 0 && x.left.Client != q.client {
				// next's left origin was the client's own, at a later clock: an
				// origin of the client or none is not wider.
				cost += 4 * maxUvarBytes
				entries++
			}
		default:
			cost += pendingCost(x)
			entries += 3
		}
	}
	return cost, entries
}

// originsValid checks, when op is about to be integrated, that its origins are
// text items of its root. Updates that break this are refused when the origin
// is known on arrival; an origin that arrives later as something else makes
// the op a skip.
func (d *Doc) originsValid(op *uop, queues map[uint64]*queue) bool {
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
		q := queues[o.Client]
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
