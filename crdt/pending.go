package crdt

import (
	"slices"
	"unicode/utf8"
)

// pendingSet holds what waits for its dependencies: per client, ops ascending
// by clock and not overlapping (as received: the encoder merges those that
// continue each other), and delete ranges naming clocks not yet integrated.
type pendingSet struct {
	ops   map[uint64]*opNode // never nil trees
	dels  []delRange
	bound int // an upper bound of the encoded size: the sum of pendingCost and delsCost

	// upper() is another upper bound of the encoded size, tighter than bound
	// when ops merge in the encoding (typing), kept from the exact size when
	// it was last computed: base is that size (0 when the set was last empty)
	// and entries the length of the larger table (clients, roots) then; since
	// sums what the plans after that may have added (see queue.charge), and
	// grown how many table entries they may have added. A computed exact size
	// resets them, so that once bound exceeds the limit the exact size is not
	// computed on every Apply, but when this bound exceeds it too.
	base, entries, since, grown int
}

// upper returns the tighter of the two upper bounds of the encoded size.
func (p *pendingSet) upper() int {
	u := p.base + p.since + delsCost(p.dels)
	if p.grown > 0 && p.entries+p.grown > 1<<7 {
		// New table entries may move old ones to wider indices: each index of
		// the base (at most base of them) grows by at most uvLen(grown) bytes.
		u += p.base * uvLen(uint64(p.grown))
	}
	return min(p.bound, u)
}

// measure returns the exact encoded size of p, and resets the upper bound to it.
func (p *pendingSet) measure() int {
	u := p.toUpdate()
	clients, roots := u.tables()
	size := len(encodeUpdate(u))
	p.base, p.entries, p.since, p.grown = size, max(len(clients), len(roots)), 0, 0
	return size
}

// mergedCost bounds what op adds to the encoded size when it joins the op
// group of a neighbour (canMerge): its content, and the growth of the
// group's length and byte size varints.
func mergedCost(op *uop) int {
	n := uvLen(op.n)
	if op.kind == opText && !op.deleted {
		b := 0
		for _, r := range op.content {
			b += utf8.RuneLen(r)
		}
		n += b + uvLen(uint64(b))
	}
	return n
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
		ops := p.ops[c].appendTo(nil)
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

// opNode is a client's pending ops: an AVL tree keyed by clock. Trees are
// persistent: a node never changes once built, and adding or removing an op
// copies the O(log n) nodes on its path. A plan derives the new pending ops
// from the document's without copying them, and a refused plan leaves the
// document's as they were; an Apply costs O(log n) per op it adds or takes,
// whatever the size of the pending buffer. The nil *opNode is the empty tree.
type opNode struct {
	op          *uop // not changed once in a tree
	left, right *opNode
	height      int32
}

func (t *opNode) h() int32 {
	if t == nil {
		return 0
	}
	return t.height
}

func newOpNode(op *uop, l, r *opNode) *opNode {
	return &opNode{op: op, left: l, right: r, height: 1 + max(l.h(), r.h())}
}

// balanced returns a tree of l, op, r, whose heights differ by at most 2.
func balanced(op *uop, l, r *opNode) *opNode {
	switch hl, hr := l.h(), r.h(); {
	case hl > hr+1:
		if l.left.h() >= l.right.h() {
			return newOpNode(l.op, l.left, newOpNode(op, l.right, r))
		}
		lr := l.right
		return newOpNode(lr.op, newOpNode(l.op, l.left, lr.left), newOpNode(op, lr.right, r))
	case hr > hl+1:
		if r.right.h() >= r.left.h() {
			return newOpNode(r.op, newOpNode(op, l, r.left), r.right)
		}
		rl := r.left
		return newOpNode(rl.op, newOpNode(op, l, rl.left), newOpNode(r.op, rl.right, r.right))
	}
	return newOpNode(op, l, r)
}

// insert returns t with op added; op must not overlap the ops of t.
func (t *opNode) insert(op *uop) *opNode {
	if t == nil {
		return newOpNode(op, nil, nil)
	}
	if op.clock < t.op.clock {
		return balanced(t.op, t.left.insert(op), t.right)
	}
	return balanced(t.op, t.left, t.right.insert(op))
}

// first returns the op of t with the lowest clock, or nil.
func (t *opNode) first() *uop {
	if t == nil {
		return nil
	}
	for t.left != nil {
		t = t.left
	}
	return t.op
}

// withoutFirst returns t without its first op; t is not empty.
func (t *opNode) withoutFirst() *opNode {
	if t.left == nil {
		return t.right
	}
	return balanced(t.op, t.left.withoutFirst(), t.right)
}

// find returns the op of t that covers clock, or nil.
func (t *opNode) find(clock uint64) *uop {
	for t != nil {
		switch {
		case clock < t.op.clock:
			t = t.left
		case clock >= t.op.end():
			t = t.right
		default:
			return t.op
		}
	}
	return nil
}

// endingAfter returns the first op of t that ends after clock, or nil.
func (t *opNode) endingAfter(clock uint64) *uop {
	var found *uop
	for t != nil {
		if t.op.end() > clock {
			found, t = t.op, t.left
		} else {
			t = t.right
		}
	}
	return found
}

// each calls fn with the ops of t, ascending, until it returns false.
func (t *opNode) each(fn func(*uop) bool) bool {
	if t == nil {
		return true
	}
	return t.left.each(fn) && fn(t.op) && t.right.each(fn)
}

// appendTo appends the ops of t to out, ascending.
func (t *opNode) appendTo(out []uop) []uop {
	if t == nil {
		return out
	}
	out = t.left.appendTo(out)
	out = append(out, *t.op)
	return t.right.appendTo(out)
}
