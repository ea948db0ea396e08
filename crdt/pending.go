package crdt

import (
	"slices"
	"unicode/utf8"
)

// pendingSet holds what waits for its dependencies: per client, ops ascending
// by clock and not overlapping (as received: the encoder merges those that
// continue each other), and delete ranges naming clocks not yet integrated.
//
// The encoded size of the pending set (the length of toUpdate's encoding) is
// kept up to date as ops come and go, so that checking MaxPendingBytes costs
// no pass over the buffer. It is the sum of three parts:
//   - each client's blocks, which the client's tree keeps in its root's
//     summary (opSum): a tree built from subtrees combines their summaries
//     in O(1), including the groups and blocks that merge across the seam;
//   - the tables, from how many ops name each client and root (refs);
//   - the delete ranges, whose few bytes a plan counts as it rebuilds them.
//
// Table indices are counted one byte wide in the summaries, which is exact
// while both tables have at most 128 entries. With more, the exact size lies
// between that and the size with every index at the widest the tables allow;
// only when the limit falls between the two is the pending set encoded to
// decide (see sizeOf).
type pendingSet struct {
	ops  map[uint64]*opNode // never nil trees
	dels []delRange
	refs *refTable // the clients and roots that ops name; nil when ops is empty

	slab *sumSlab // where the trees' sums are allocated; shared by the plans of a document

	opsBytes int // the clients' blocks, with one-byte indices (opSum.bytes)
	blocks   int // how many blocks
	indices  int // how many table indices the blocks write
}

func (p *pendingSet) empty() bool { return len(p.ops) == 0 && len(p.dels) == 0 }

// measure returns the exact encoded size of p by encoding it: 0 when p is
// empty. Tests compare it with the size kept up to date (sizeOf).
func (p *pendingSet) measure() int {
	if p.empty() {
		return 0
	}
	return len(encodeUpdate(p.toUpdate()))
}

// sizeOf returns the encoded size of p, with delete ranges ds and tables t:
// exact is set when the size is, else size is a lower bound and wide an upper
// one (more than 128 entries in a table).
func (p *pendingSet) sizeOf(t tableSize) (size, wide int, exact bool) {
	if p.empty() {
		return 0, 0, true
	}
	size = 1 + t.bytes + uvLen(uint64(p.blocks)) + p.opsBytes
	indices := p.indices
	// The delete set: per client, its index, the count of ranges, and per
	// range the gap since the previous one and the length.
	clients := 0
	for i := 0; i < len(p.dels); {
		j, end := i, uint64(0)
		size++ // the client's index
		for ; j < len(p.dels) && p.dels[j].client == p.dels[i].client; j++ {
			r := p.dels[j]
			size += uvLen(r.clock-end) + uvLen(r.n)
			end = r.clock + r.n
		}
		size += uvLen(uint64(j - i))
		clients++
		i = j
	}
	size += uvLen(uint64(clients))
	indices += clients
	if t.clients <= 1<<7 && t.roots <= 1<<7 {
		return size, size, true
	}
	w := uvLen(uint64(max(t.clients, t.roots) - 1))
	return size, size + indices*(w-1), false
}

// tableSize is what the tables of the pending update take: how many clients
// and roots, and their encoded length (counts included).
type tableSize struct {
	clients, roots, bytes int
}

// tables returns the size of the tables of p, whose refs are settled.
func (p *pendingSet) tables() tableSize {
	t := p.refs
	if t == nil {
		t = newRefTable()
	}
	return t.withDels(p.dels, func(c uint64) int { return t.clients[c] })
}

// withDels returns the size of the tables of t's ops and the delete ranges
// dels, count giving how many ops name a client.
func (t *refTable) withDels(dels []delRange, count func(uint64) int) tableSize {
	n, b := t.nClients, t.clientBytes
	for i, r := range dels {
		if (i == 0 || r.client != dels[i-1].client) && count(r.client) == 0 {
			n++ // a client that only delete ranges name
			b += uvLen(r.client)
		}
	}
	return tableSize{clients: n, roots: t.nRoots, bytes: uvLen(uint64(n)) + b + uvLen(uint64(t.nRoots)) + t.rootBytes}
}

// refTable counts, per client and per root, the pending ops that name it (as
// their author, their origins or their root): the tables of the pending
// update are the named clients, those of delete ranges, and the named roots.
//
// A plan does not change the document's table: it records its changes in a
// new refTable whose base is the document's, and the document takes them
// over (settle) when that plan's pending set has become its own. Only one
// plan's table ever does, and a refused plan's is dropped with it.
type refTable struct {
	clients     map[uint64]int
	roots       map[rootKey]int
	clientBytes int // the encoded client IDs of clients
	rootBytes   int // the encoded entries of roots

	nClients int // how many clients have a count (not 0)
	nRoots   int // how many roots have a count

	base   *refTable // not nil until settled: then clients and roots are changes
	pinned bool      // the base's counts were taken over
}

// settle makes t's counts complete, taking over its base's maps.
func (t *refTable) settle() {
	if t == nil || t.base == nil {
		return
	}
	b := t.base
	b.settle()
	if b.pinned {
		panic("crdt: pending tables settled twice") // broken invariant: only one plan is executed per document state
	}
	b.pinned = true
	for c, dv := range t.clients {
		if n := b.clients[c] + dv; n != 0 {
			b.clients[c] = n
		} else {
			delete(b.clients, c)
		}
	}
	for r, dv := range t.roots {
		if n := b.roots[r] + dv; n != 0 {
			b.roots[r] = n
		} else {
			delete(b.roots, r)
		}
	}
	t.clients, t.roots, t.base = b.clients, b.roots, nil
}

func newRefTable() *refTable {
	return &refTable{clients: make(map[uint64]int), roots: make(map[rootKey]int)}
}

// rootEntryBytes is the encoded length of a roots table entry.
func rootEntryBytes(r rootKey) int { return 1 + uvLen(uint64(len(r.name))) + len(r.name) }

// opRefs calls fn with the clients and the root that op names.
func opRefs(client uint64, op *uop, fn func(c uint64, r rootKey, hasRoot bool)) {
	switch op.kind {
	case opText:
		fn(client, rootKey{KindText, op.root}, true)
		if op.left.Client != 0 {
			fn(op.left.Client, rootKey{}, false)
		}
		if op.right.Client != 0 {
			fn(op.right.Client, rootKey{}, false)
		}
	case opMap:
		fn(client, rootKey{KindMap, op.root}, true)
	default:
		fn(client, rootKey{}, false)
	}
}

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
//
// Each node sums up its subtree's ops as the encoder would write them
// (opSum), so that the root tells the client's share of the encoded size.
// Sums are computed when asked for (sums) and kept in the node: a plan asks
// for the roots of the trees it changed, which computes the sums of the nodes
// it made, O(log n) per op, and never those of the ops that only pass through
// its queues (updates that arrive in order).
type opNode struct {
	op          *uop // not changed once in a tree
	left, right *opNode
	height      int32
	sum         *opSum // nil until sums computes it; then not changed
}

// opSum sums up ops of one client, ascending and not overlapping, as
// encodeUpdate writes them: blocks of consecutive clocks, each a count of
// groups (ops that continue each other, written as one). Two sums of ops
// that follow each other combine in O(1) (joinSums): the last group and block
// of the first may merge with the first group and block of the second, so
// their lengths are kept apart, and so is what the first op writes as the
// head of a group and a block, which it is only when nothing before it
// continues it. Table indices count one byte.
type opSum struct {
	first, last *uop
	bytes       int // all but the heads of first and the lengths below
	indices     int // the table indices that bytes holds
	blocks      int
	// The first and last groups: their clocks and content bytes; the same
	// group when oneGroup.
	firstN, lastN uint64
	firstB, lastB int
	oneGroup      bool
	// The first and last blocks: their counts of groups; the same block
	// when oneBlock.
	firstG, lastG int
	oneBlock      bool
}

// contentBytes returns the UTF-8 length of op's content.
func contentBytes(op *uop) int {
	b := 0
	for _, r := range op.content {
		b += utf8.RuneLen(r)
	}
	return b
}

// leafSum returns the sum of op alone.
func leafSum(op *uop) opSum {
	b := 0
	if op.kind == opText && !op.deleted {
		b = contentBytes(op)
	}
	return opSum{first: op, last: op, bytes: b, blocks: 1,
		firstN: op.n, lastN: op.n, firstB: b, lastB: b, oneGroup: true,
		firstG: 1, lastG: 1, oneBlock: true}
}

// groupHead returns what op writes as the first op of a group, but the
// lengths (groupLengths), and how many table indices.
func groupHead(op *uop) (bytes, indices int) {
	switch op.kind {
	case opText:
		bytes, indices = 2, 1 // tag, root
		if op.left.Client != 0 {
			bytes, indices = bytes+1+uvLen(op.left.Clock), indices+1
		}
		if op.right.Client != 0 {
			bytes, indices = bytes+1+uvLen(op.right.Clock), indices+1
		}
		return bytes, indices
	case opMap:
		bytes = 2 + uvLen(uint64(len(op.key))) + len(op.key) + uvLen(op.lamport)
		if op.value != nil {
			bytes += uvLen(uint64(len(op.value))) + len(op.value)
		}
		return bytes, 1
	}
	return 1, 0 // skip: tag
}

// groupLengths returns the length fields of a group of kind like op's with n
// clocks and b content bytes (the content is counted by leafSum).
func groupLengths(op *uop, n uint64, b int) int {
	switch {
	case op.kind == opMap:
		return 0
	case op.kind == opText && !op.deleted:
		return uvLen(n) + uvLen(uint64(b))
	}
	return uvLen(n)
}

// joinSums returns the sum of the ops of l followed by those of r, client's.
func joinSums(client uint64, l, r *opSum) opSum {
	s := opSum{first: l.first, last: r.last, bytes: l.bytes + r.bytes,
		indices: l.indices + r.indices, blocks: l.blocks + r.blocks}
	adjacent := l.last.end() == r.first.clock
	merged := adjacent && canMerge(client, l.last, r.first)
	if merged {
		n, b := l.lastN+r.firstN, l.lastB+r.firstB
		s.firstN, s.firstB, s.lastN, s.lastB = l.firstN, l.firstB, r.lastN, r.lastB
		switch {
		case l.oneGroup && r.oneGroup:
			s.firstN, s.firstB, s.lastN, s.lastB, s.oneGroup = n, b, n, b, true
		case l.oneGroup:
			s.firstN, s.firstB = n, b
		case r.oneGroup:
			s.lastN, s.lastB = n, b
		default:
			s.bytes += groupLengths(l.last, n, b)
		}
	} else {
		if !adjacent {
			s.bytes += 1 + uvLen(r.first.clock) // client index, start
			s.indices++
		}
		hb, hi := groupHead(r.first)
		s.bytes, s.indices = s.bytes+hb, s.indices+hi
		s.firstN, s.firstB, s.lastN, s.lastB = l.firstN, l.firstB, r.lastN, r.lastB
		if !l.oneGroup {
			s.bytes += groupLengths(l.last, l.lastN, l.lastB)
		}
		if !r.oneGroup {
			s.bytes += groupLengths(r.first, r.firstN, r.firstB)
		}
	}
	s.firstG, s.lastG = l.firstG, r.lastG
	if adjacent {
		s.blocks--
		g := l.lastG + r.firstG
		if merged {
			g--
		}
		switch {
		case l.oneBlock && r.oneBlock:
			s.firstG, s.lastG, s.oneBlock = g, g, true
		case l.oneBlock:
			s.firstG = g
		case r.oneBlock:
			s.lastG = g
		default:
			s.bytes += uvLen(uint64(g))
		}
	} else {
		if !l.oneBlock {
			s.bytes += uvLen(uint64(l.lastG))
		}
		if !r.oneBlock {
			s.bytes += uvLen(uint64(r.firstG))
		}
	}
	return s
}

// total returns the encoded length of the blocks that s sums up, with
// one-byte table indices, and how many indices they hold.
func (s *opSum) total() (bytes, indices int) {
	hb, hi := groupHead(s.first)
	bytes = s.bytes + 1 + uvLen(s.first.clock) + hb + groupLengths(s.first, s.firstN, s.firstB) + uvLen(uint64(s.firstG))
	if !s.oneGroup {
		bytes += groupLengths(s.last, s.lastN, s.lastB)
	}
	if !s.oneBlock {
		bytes += uvLen(uint64(s.lastG))
	}
	return bytes, s.indices + 1 + hi
}

// share returns what the ops of t, client's, take in the encoded pending set: bytes
// with one-byte indices, indices and blocks (0 for the empty tree).
func (t *opNode) share(client uint64, sl *sumSlab) (bytes, indices, blocks int) {
	if t == nil {
		return 0, 0, 0
	}
	s := t.sums(client, sl)
	bytes, indices = s.total()
	return bytes, indices, s.blocks
}

// sums returns the sum of the ops of t, client's (not empty), computing those
// of the nodes that lack it.
func (t *opNode) sums(client uint64, sl *sumSlab) *opSum {
	if t.sum == nil {
		s := nodeSum(client, t.op, t.left, t.right, sl)
		t.sum = sl.new()
		*t.sum = s
	}
	return t.sum
}

// sumSlab allocates sums in chunks rather than one by one: a plan sums the
// O(log n) nodes on the path of each op it adds or takes. A chunk lives while
// any node refers to one of its sums. The nil *sumSlab allocates one by one.
type sumSlab struct{ chunk []opSum }

func (s *sumSlab) new() *opSum {
	if s == nil {
		return new(opSum)
	}
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([]opSum, 0, 64)
	}
	s.chunk = s.chunk[:len(s.chunk)+1]
	return &s.chunk[len(s.chunk)-1]
}

func (t *opNode) h() int32 {
	if t == nil {
		return 0
	}
	return t.height
}

func newOpNode(client uint64, op *uop, l, r *opNode) *opNode {
	return &opNode{op: op, left: l, right: r, height: 1 + max(l.h(), r.h())}
}

// nodeSum returns the sum of the ops of l, then op, then those of r.
func nodeSum(client uint64, op *uop, l, r *opNode, sl *sumSlab) opSum {
	s := leafSum(op)
	if l != nil {
		s = joinSums(client, l.sums(client, sl), &s)
	}
	if r != nil {
		s = joinSums(client, &s, r.sums(client, sl))
	}
	return s
}

// balanced returns a tree of l, op, r, whose heights differ by at most 2.
func balanced(client uint64, op *uop, l, r *opNode) *opNode {
	switch hl, hr := l.h(), r.h(); {
	case hl > hr+1:
		if l.left.h() >= l.right.h() {
			return newOpNode(client, l.op, l.left, newOpNode(client, op, l.right, r))
		}
		lr := l.right
		return newOpNode(client, lr.op, newOpNode(client, l.op, l.left, lr.left), newOpNode(client, op, lr.right, r))
	case hr > hl+1:
		if r.right.h() >= r.left.h() {
			return newOpNode(client, r.op, newOpNode(client, op, l, r.left), r.right)
		}
		rl := r.left
		return newOpNode(client, rl.op, newOpNode(client, op, l, rl.left), newOpNode(client, r.op, rl.right, r.right))
	}
	return newOpNode(client, op, l, r)
}

// insert returns t, client's, with op added; op must not overlap the ops of t.
func (t *opNode) insert(client uint64, op *uop) *opNode {
	if t == nil {
		return newOpNode(client, op, nil, nil)
	}
	if op.clock < t.op.clock {
		return balanced(client, t.op, t.left.insert(client, op), t.right)
	}
	return balanced(client, t.op, t.left, t.right.insert(client, op))
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

// withoutFirst returns t, client's, without its first op; t is not empty.
func (t *opNode) withoutFirst(client uint64) *opNode {
	if t.left == nil {
		return t.right
	}
	return balanced(client, t.op, t.left.withoutFirst(client), t.right)
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

// appendTo appends the ops of t to out, ascending.
func (t *opNode) appendTo(out []uop) []uop {
	if t == nil {
		return out
	}
	out = t.left.appendTo(out)
	out = append(out, *t.op)
	return t.right.appendTo(out)
}
