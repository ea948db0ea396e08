package crdt

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"sort"
)

// pendingSet holds what waits for its dependencies: per client, ops ascending
// by clock and not overlapping (as received: the encoder merges those that
// continue each other), and delete ranges naming clocks not yet integrated.
type pendingSet struct {
	ops   map[uint64][]uop
	dels  []delRange
	bound int // an upper bound of the encoded size: the sum of pendingCost and delsCost
}

// pendingCost bounds what op adds to the encoded size of an update: its bytes
// with every index and varint at its widest (8 bytes), a block header of its
// own, and table entries for every client and root it names. Keeping the sum
// of these bounds up to date costs O(1) per op, so that checking
// MaxPendingBytes does not encode the pending set on every Apply: only a
// bound above the limit calls for the exact size.
func pendingCost(op *uop) int {
	const w = maxUvarBytes
	n := 1 + 3*w + 2*w // tag, block header, the author's table entry and its index
	switch op.kind {
	case opText:
		n += w + 1 + w + len(op.root) + 2*w + 4*w // ri, root entry, len, 2 origins with table entries
		if !op.deleted {
			n += w + 4*len(op.content)
		}
	case opMap:
		n += w + 1 + w + len(op.root) + w + len(op.key) + w + w + len(op.value)
	case opSkip:
		n += w
	}
	return n
}

// delsCost bounds the encoded size of delete ranges (with their headers and
// table entries).
func delsCost(ds []delRange) int { return 5*maxUvarBytes + len(ds)*5*maxUvarBytes }

func (p *pendingSet) empty() bool { return len(p.ops) == 0 && len(p.dels) == 0 }

// toUpdate returns the pending set as a canonical update: one block per run of
// consecutive clocks of a client.
func (p *pendingSet) toUpdate() *update {
	u := &update{dels: p.dels}
	clients := make([]uint64, 0, len(p.ops))
	for c := range p.ops {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	for _, c := range clients {
		ops := p.ops[c]
		for i := 0; i < len(ops); {
			j := i + 1
			for j < len(ops) && ops[j].clock == ops[j-1].end() {
				j++
			}
			u.blocks = append(u.blocks, block{client: c, ops: ops[i:j]})
			i = j
		}
	}
	return u
}

// findOp returns the op of ops (ascending, not overlapping) that covers clock.
func findOp(ops []uop, clock uint64) *uop {
	i, _ := slices.BinarySearchFunc(ops, clock, func(o uop, c uint64) int {
		switch {
		case o.end() <= c:
			return -1
		case o.clock > c:
			return 1
		}
		return 0
	})
	if i < len(ops) && ops[i].clock <= clock && clock < ops[i].end() {
		return &ops[i]
	}
	return nil
}

// trimOp returns the part of op at or after clock from (op.end() > from).
func trimOp(client uint64, op uop, from uint64) uop {
	if from <= op.clock {
		return op
	}
	k := from - op.clock
	if op.kind == opText {
		op.left = ID{client, from - 1}
		if !op.deleted {
			op.content = op.content[k:]
		}
	}
	op.clock, op.n = from, op.n-k
	return op
}

// cutOp returns the part of op before clock to (op.clock < to).
func cutOp(op uop, to uint64) uop {
	if to >= op.end() {
		return op
	}
	k := to - op.clock
	if op.kind == opText && !op.deleted {
		op.content = op.content[:k:k]
	}
	op.n = k
	return op
}

// Apply applies an update (0x01) or a snapshot (0x02) and returns what changed,
// per root. Units the document already has are ignored; units whose
// dependencies are missing wait in the pending buffer and are integrated when
// they arrive. An update is checked in full first: if it is refused
// (ErrMalformedUpdate, ErrPendingOverflow), the document is unchanged.
func (d *Doc) Apply(b []byte) ([]Change, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrMalformedUpdate)
	}
	switch b[0] {
	case formatUpdate:
		u, err := decodeUpdate(b)
		if err != nil {
			return nil, err
		}
		return d.applyUpdate(u)
	case formatSnapshot:
		s, err := decodeSnapshot(b)
		if err != nil {
			return nil, err
		}
		if d.isEmpty() {
			return d.loadSnapshot(s)
		}
		return d.applyUpdate(s.toUpdate())
	}
	return nil, fmt.Errorf("%w: format byte 0x%02x", ErrMalformedUpdate, b[0])
}

// isEmpty reports whether the document has integrated nothing and has nothing pending.
func (d *Doc) isEmpty() bool {
	if !d.pending.empty() {
		return false
	}
	for _, cs := range d.clients {
		if cs.next > 0 {
			return false
		}
	}
	return true
}

func (d *Doc) applyUpdate(u *update) ([]Change, error) {
	if err := d.validate(u); err != nil {
		return nil, err
	}
	p := d.plan(u)
	if p.pendingBytes > d.cfg.MaxPendingBytes {
		return nil, fmt.Errorf("%w: %d bytes would wait, the limit is %d", ErrPendingOverflow, p.pendingBytes, d.cfg.MaxPendingBytes)
	}
	return d.execute(p), nil
}

// unitAt describes the unit of ID id as the document, its pending buffer or
// the update u know it: found, and if so whether it is a text item and its root.
func (d *Doc) unitAt(id ID, u *update) (found, text bool, root string) {
	if cs := d.clients[id.Client]; cs != nil && id.Clock < cs.next {
		if it := cs.items.find(id.Clock); it != nil {
			return true, true, it.root.name
		}
		return true, false, ""
	}
	if op := findOp(d.pending.ops[id.Client], id.Clock); op != nil {
		return true, op.kind == opText, op.root
	}
	if u != nil {
		// Blocks are ascending by client: look at this client's only.
		i := sort.Search(len(u.blocks), func(i int) bool { return u.blocks[i].client >= id.Client })
		for ; i < len(u.blocks) && u.blocks[i].client == id.Client; i++ {
			if op := findOp(u.blocks[i].ops, id.Clock); op != nil {
				return true, op.kind == opText, op.root
			}
		}
	}
	return false, false, ""
}

// validate refuses an update whose text origins name a known unit that is not
// a text item of the same root (docs/crdt.md section 1.6, rule 4).
func (d *Doc) validate(u *update) error {
	for i := range u.blocks {
		b := &u.blocks[i]
		for j := range b.ops {
			op := &b.ops[j]
			if op.kind != opText {
				continue
			}
			for _, o := range [2]ID{op.left, op.right} {
				if o.Client == 0 {
					continue
				}
				if found, text, root := d.unitAt(o, u); found && (!text || root != op.root) {
					return fmt.Errorf("%w: origin (%d,%d) of (%d,%d) is not a text item of %q",
						ErrMalformedUpdate, o.Client, o.Clock, b.client, op.clock, op.root)
				}
			}
		}
	}
	return nil
}

// A plan is what applying an update will do, computed without changing the
// document: the ops to integrate in dependency order, the delete ranges to
// apply, and the new pending set with its encoded size.
type plan struct {
	steps        []step
	dels         []delRange
	pending      pendingSet
	pendingBytes int
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
	case !changed && slices.Equal(p.pending.dels, d.pending.dels):
		p.pending.bound, p.pendingBytes = d.pending.bound, d.pendingBytes
	default:
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

// execute carries out a plan.
func (d *Doc) execute(p *plan) []Change {
	var ch changes
	ownNext := d.own.next
	for _, s := range p.steps {
		cs := d.clientState(s.client)
		op := s.op
		switch op.kind {
		case opText:
			t := d.text(op.root)
			if t == nil {
				t = d.newTextRoot(op.root)
			}
			d.integrateText(t, cs, op, &ch)
		case opMap:
			m := d.mapRoot(op.root, true)
			ch.touch(m, op.key)
			d.addAssign(&assign{cs: cs, clock: op.clock, root: m, key: op.key, lamport: op.lamport, value: op.value})
		}
		cs.next = op.end()
	}
	for _, r := range p.dels {
		d.deleteRange(r, &ch)
	}
	d.pending, d.pendingBytes = p.pending, p.pendingBytes
	if d.taken == ownNext {
		// Our own units that came back from elsewhere are not ours to send.
		d.taken = d.own.next
	}
	return ch.list()
}

// deleteRange marks the text items of r deleted.
func (d *Doc) deleteRange(r delRange, ch *changes) {
	cs := d.clients[r.client]
	if cs == nil {
		return
	}
	end := min(r.clock+r.n, cs.next)
	for clock := r.clock; clock < end; {
		it := cs.items.ceil(clock)
		if it == nil || it.clock >= end {
			return
		}
		if it.deleted {
			clock = it.end()
			continue
		}
		t := it.root
		if it.clock < clock {
			it = t.split(it, int(clock-it.clock))
		}
		if it.end() > end {
			t.split(it, int(end-it.clock))
		}
		vis, _ := posOf(it)
		setDeleted(it)
		t.cur = cursor{}
		ch.del(t.name, vis, it.n)
		clock = it.end()
		t.mergeDeleted(it)
	}
}
