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

// queue is a client's ops in a plan, and how far they have been integrated.
// Until ops are added to it, it shares the pending slice (owned is false).
type queue struct {
	client uint64
	ops    []uop
	head   int
	next   uint64 // the client's clock once ops[:head] are integrated
	owned  bool
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
// whatever the shape of the dependencies; pending ops of clients the update
// does not touch are not copied.
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
		for q.head < len(q.ops) && q.ops[q.head].end() <= q.next {
			bound -= pendingCost(&q.ops[q.head])
			q.head++
			changed = true
		}
		if q.head < len(q.ops) && q.ops[q.head].clock < q.next {
			q.own()
			bound -= pendingCost(&q.ops[q.head])
			q.ops[q.head] = trimOp(c, q.ops[q.head], q.next)
			bound += pendingCost(&q.ops[q.head])
			changed = true
		}
		queues[c] = q
	}
	for i := range u.blocks {
		b := &u.blocks[i]
		q := queues[b.client]
		if q == nil {
			q = &queue{client: b.client, next: d.clock(b.client), owned: true}
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
		if q.head < len(q.ops) {
			work = append(work, c)
		}
	}
	slices.Sort(work)
	slices.Reverse(work)
	for len(work) > 0 {
		q := queues[work[len(work)-1]]
		work = work[:len(work)-1]
	ops:
		for q.head < len(q.ops) {
			op := &q.ops[q.head]
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
			if op.kind == opText && !d.originsValid(op, queues) {
				q.own()
				op = &q.ops[q.head]
				op.kind, op.content = opSkip, nil
			}
			p.steps = append(p.steps, step{q.client, op})
			q.next = op.end()
			q.head++
			changed = true
			if h := waiters[q.client]; h != nil {
				for h.Len() > 0 && (*h)[0].clock < q.next {
					work = append(work, heap.Pop(h).(waiter).client)
				}
			}
		}
	}

	// What waits: the ops not reached, and the delete ranges beyond the clocks.
	for c, q := range queues {
		if q.head < len(q.ops) {
			if p.pending.ops == nil {
				p.pending.ops = make(map[uint64][]uop)
			}
			p.pending.ops[c] = q.ops[q.head:]
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
	default:
		p.pendingChanged = true
		p.pending.bound = bound + delsCost(p.pending.dels)
		p.pendingBytes = -1 // not known yet: see Doc.PendingBytes
		if p.pending.bound > d.cfg.MaxPendingBytes {
			p.pendingBytes = len(encodeUpdate(p.pending.toUpdate()))
		}
	}
	return p
}

// own gives the queue its own copy of its ops before they are changed.
func (q *queue) own() {
	if !q.owned {
		q.ops = slices.Clone(q.ops)
		q.owned = true
	}
}

// addOp adds op to the queue unless its clocks are known: the parts already
// integrated or already queued are dropped (the first one received wins). It
// returns the pendingCost of what it added (0 if nothing).
func (q *queue) addOp(op uop) int {
	if op.end() <= q.next {
		return 0
	}
	op = trimOp(q.client, op, q.next)
	// i: the first queued op ending after op.clock.
	i, _ := slices.BinarySearchFunc(q.ops, op.clock, func(o uop, c uint64) int { return cmp.Compare(o.end(), c+1) })
	cost := 0
	for op.n > 0 {
		if i == len(q.ops) {
			// Appending writes past the end of a shared slice only, which the
			// document's pending set does not see: no copy needed.
			q.ops = append(q.ops, op)
			return cost + pendingCost(&op)
		}
		o := &q.ops[i]
		if op.clock < o.clock {
			q.own()
			part := cutOp(op, o.clock)
			q.ops = slices.Insert(q.ops, i, part)
			cost += pendingCost(&part)
			i++
			o = &q.ops[i]
		}
		if op.end() <= o.end() {
			return cost
		}
		op = trimOp(q.client, op, o.end())
		i++
	}
	return cost
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
		po := findOp(q.ops[:q.head], o.Clock)
		if po == nil || po.kind != opText || po.root != op.root {
			return false
		}
	}
	return true
}
