package crdt

import (
	"maps"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// pendingSet holds what waits for its dependencies: per client, ops ascending
// by clock and not overlapping (as received: the encoder merges those that
// continue each other), and delete ranges naming clocks not yet integrated;
// and, per client, what its first op waits for, so that an Apply visits only
// the clients that what it integrates may unblock.
//
// The encoded size of the pending set (the length of toUpdate's encoding) is
// kept up to date as ops come and go, so that checking MaxPendingBytes costs
// no pass over the buffer. It is the sum of three parts:
//   - each client's blocks, which the client's tree keeps in its root's
//     summary (opSum): a tree built from subtrees combines their summaries
//     in O(1), including the groups and blocks that merge across the seam;
//   - the tables, from how many ops name each client and root (refs), and
//     the clients that only delete ranges name;
//   - each client's delete ranges, which its tree sums up likewise (delSum).
//
// Table indices are counted one byte wide in the summaries, which is exact
// while both tables have at most 128 entries. With more, the exact size lies
// between that and the size with every index at the widest the tables allow;
// only when the limit falls between the two is the pending set encoded to
// decide (see pendingSize).
//
// What the structures hold in memory (held, PendingMemory) is kept up to date
// as well, from the sizes of their nodes, ops and map entries.
type pendingSet struct {
	ops  map[uint64]*opNode  // never nil trees
	dels map[uint64]*delNode // never nil trees
	// waits holds, per awaited client, the clients whose first op waits for
	// one of its clocks (an origin); waitOn, per waiting client, that origin.
	// A client is in waits exactly when it is in waitOn.
	waits  map[uint64]*waitNode // never nil trees
	waitOn map[uint64]ID

	ex       exactSize  // the parts of the exact size, while the size may pass the limit
	ub       upperBound // a bound of the size
	sb       slackBound // a tighter bound of the size, measured now and then
	delBytes int        // the clients' delete ranges (delNode.encoded)

	held int // bytes the structures hold (PendingMemory)

	gen uint64 // the last plan's generation (opTx): each plan's is new
}

func (p *pendingSet) empty() bool { return len(p.ops) == 0 && len(p.dels) == 0 }

// measure returns the exact encoded size of p by encoding it: 0 when p is
// empty. Tests compare it with the size kept up to date (pendingSize).
func (p *pendingSet) measure() int {
	if p.empty() {
		return 0
	}
	return len(encodeUpdate(p.toUpdate()))
}

// pendingSize returns the encoded size of a pending set with tables t, blocks
// and delete ranges as given: exact is set when the size is, else size is a
// lower bound and wide an upper one (more than 128 entries in a table).
func pendingSize(t tableSize, blocks, opsBytes, indices, delClients, delBytes int) (size, wide int, exact bool) {
	size = 1 + t.bytes + uvLen(uint64(blocks)) + opsBytes + uvLen(uint64(delClients)) + delBytes
	indices += delClients
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

// size returns the encoded size of p, as pendingSize, from its exact parts
// (computed if not kept).
func (p *pendingSet) size() (size, wide int, exact bool) {
	if p.empty() {
		return 0, 0, true
	}
	e := p.ex
	if !e.on {
		e = p.exactFromScratch()
		e.refs.settle()
	}
	return pendingSize(e.tables(), e.blocks, e.opsBytes, e.indices, len(p.dels), p.delBytes)
}

// install makes the pending set the one that plan pl computed, with the
// queues of its scratch.
func (p *pendingSet) install(pl *plan, queues []*queue) {
	pl.tx.commit()
	pl.dtx.commit()
	if !pl.pendingChanged {
		return
	}
	for _, q := range queues {
		switch {
		case !q.changed:
		case q.ops == nil:
			delete(p.ops, q.client)
		default:
			if p.ops == nil {
				p.ops = make(map[uint64]*opNode)
			}
			p.ops[q.client] = q.ops
		}
	}
	for c, t := range pl.delTrees {
		setOrDelete(&p.dels, c, t, t == nil)
	}
	for c, t := range pl.waitTrees {
		setOrDelete(&p.waits, c, t, t == nil)
	}
	for c, w := range pl.waitOn {
		setOrDelete(&p.waitOn, c, w, w.Client == 0)
	}
	p.ex, p.ub, p.sb = pl.ex, pl.ub, pl.sb
	p.delBytes, p.held = pl.delBytes, pl.held
	if p.empty() && len(p.waitOn) == 0 {
		// Drop the maps, which keep the size they grew to.
		*p = pendingSet{gen: p.gen}
	}
}

// exactSize is what the exact encoded size of the pending set is made of,
// besides its delete ranges (delBytes): the clients' blocks, which each
// client's tree sums up (opSum), and the tables, from how many ops name each
// client and root (refs). It is kept only while the pending set may pass
// MaxPendingBytes (on): summing the trees and counting the names costs more
// per op than the rest of the pending machinery, and a pending set far under
// the limit needs no more than its upper bound (upperBound).
type exactSize struct {
	on                        bool
	refs                      *refTable // nil when no op waits
	opsBytes, blocks, indices int       // the blocks with one-byte indices (opSum), how many, their indices
	delOnly, delOnlyBytes     int       // the clients that only delete ranges name, their encoded IDs
}

// tables returns the size of the tables, whose refs are settled.
func (e *exactSize) tables() tableSize {
	t := e.refs
	if t == nil {
		t = &refTable{}
	}
	n := t.nClients + e.delOnly
	return tableSize{clients: n, roots: t.nRoots,
		bytes: uvLen(uint64(n)) + t.clientBytes + e.delOnlyBytes + uvLen(uint64(t.nRoots)) + t.rootBytes}
}

// upperBound bounds the encoded size of the pending set from above, in O(1)
// per op that comes or goes: each op counted as if it were a block of its
// own (merging ops only saves bytes), naming its clients and root in tables
// of its own (sharing entries only saves bytes), with table indices as wide
// as that many entries need.
type upperBound struct {
	bytes          int // per op, its block alone with one-byte indices, and the table entries it names
	indices        int // per op, its table indices
	names, roots   int // per op, the clients and roots it names
	ops            int
	delClientBytes int // the encoded IDs of the clients with delete ranges
}

// add counts op, client's, dv times (1 or -1), and returns what op alone
// counts: bytes with one-byte indices, and indices.
func (u *upperBound) add(client uint64, op *uop, dv int) (bytes, indices int) {
	s := leafSum(op)
	b, i := s.total()
	opRefs(client, op, func(c uint64, r rootKey, hasRoot bool) {
		b += uvLen(c)
		u.names += dv
		if hasRoot {
			b += rootEntryBytes(r)
			u.roots += dv
		}
	})
	u.bytes += dv * b
	u.indices += dv * i
	u.ops += dv
	return b, i
}

// merge adds the counts of v to u's.
func (u *upperBound) merge(v *upperBound) {
	u.bytes += v.bytes
	u.indices += v.indices
	u.names += v.names
	u.roots += v.roots
	u.ops += v.ops
	u.delClientBytes += v.delClientBytes
}

// slackBound bounds the encoded size of the pending set from above, tighter
// than upperBound, for a pending set whose upper bound passes
// MaxPendingBytes while its exact size stays far under it (ops that continue
// each other, such as a writer's keystrokes arriving out of order, encode in
// a tenth of what upperBound counts for them). It is the exact size, measured
// once (O(n)), plus what each change since may have added: an op that comes
// adds at most what upperBound counts for it (merging only saves bytes), and
// a client whose first ops leave adds at most removalBytes and
// removalIndices (see there). When the bound passes the limit, the size is
// measured again, which leaves at least half the limit as slack: a pending
// set is measured at most once per limit/2 bytes of ops that come, and pays
// O(1) per op in between, no sums and no table counts (exactSize).
type slackBound struct {
	on bool
	// bytes bounds the clients' blocks with one-byte indices and the table
	// entries that ops name (exactSize's opsBytes and the refTable's
	// clientBytes and rootBytes); indices bounds the blocks' table indices.
	bytes, indices int
}

// Removing the first ops of a client's pending ops grows the encoding of
// the rest by at most removalBytes and removalIndices: only the block and
// the group that the cut goes through change. The block's start clock grows
// by at most 9 bytes (a varint of 1 to 10), its count of groups only
// shrinks; the group's head becomes that of its first op left, a text op
// that writes its left origin (at most 1+10 bytes, one index more) and its
// right one (as the group's first op did, canMerge) where the group's head
// wrote at least its tag and root; its lengths and content only shrink. Ops
// of other kinds form groups of their own. The tables lose entries or stay.
const (
	removalBytes   = 9 + 1 + 10
	removalIndices = 1
)

// slackFrom returns the slack bound of a pending set whose exact size parts
// are e (refs not nil unless no op waits).
func slackFrom(e *exactSize) slackBound {
	s := slackBound{on: true, bytes: e.opsBytes, indices: e.indices}
	if e.refs != nil {
		s.bytes += e.refs.clientBytes + e.refs.rootBytes
	}
	return s
}

// size returns the bound, with u the pending set's upper bound and nDels
// clients' delete ranges of delBytes (exact): the counts of the tables and of
// the blocks are bounded by upperBound's (every op counted apart), the
// entries of clients that only delete ranges name by those of every client
// with delete ranges, and table indices are as wide as upperBound's counts
// may need.
func (s *slackBound) size(u *upperBound, nDels, delBytes int) int {
	clients := u.names + nDels
	size := 1 + uvLen(uint64(clients)) + u.delClientBytes + uvLen(uint64(u.roots)) +
		uvLen(uint64(u.ops)) + s.bytes + uvLen(uint64(nDels)) + delBytes
	w := uvLen(uint64(max(clients, u.roots, 1) - 1))
	return size + (s.indices+nDels)*(w-1)
}

// size returns the bound with nDels clients' delete ranges of delBytes: with
// one-byte indices, and with indices as wide as the tables may need.
func (u *upperBound) size(nDels, delBytes int) (size, wide int) {
	clients := u.names + nDels
	size = 1 + uvLen(uint64(clients)) + u.delClientBytes + uvLen(uint64(u.roots)) +
		uvLen(uint64(u.ops)) + u.bytes + uvLen(uint64(nDels)) + delBytes
	w := uvLen(uint64(max(clients, u.roots, 1) - 1))
	return size, size + (u.indices+nDels)*(w-1)
}

// exactFromScratch returns the exact size parts of p, computed over all of
// it: O(n), when a pending set first comes near MaxPendingBytes.
func (p *pendingSet) exactFromScratch() exactSize {
	e := exactSize{on: true}
	delta := &tableDelta{}
	for c, t := range p.ops {
		s := t.sumsCounting(c, delta)
		b, i := s.total()
		e.opsBytes, e.indices, e.blocks = e.opsBytes+b, e.indices+i, e.blocks+s.blocks
	}
	if len(p.ops) > 0 {
		e.refs = (&refTable{}).derive(delta)
	}
	for c := range p.dels {
		if delta.clients[c] == 0 {
			e.delOnly, e.delOnlyBytes = e.delOnly+1, e.delOnlyBytes+uvLen(c)
		}
	}
	return e
}

// derive returns the table of t's counts changed by delta (see settle).
func (t *refTable) derive(delta *tableDelta) *refTable {
	n := &refTable{clients: delta.clients, roots: delta.roots, base: t,
		nClients: t.nClients, nRoots: t.nRoots, clientBytes: t.clientBytes, rootBytes: t.rootBytes}
	for c, dv := range delta.clients {
		switch was := t.clients[c]; {
		case was == 0 && was+dv > 0:
			n.nClients++
			n.clientBytes += uvLen(c)
		case was > 0 && was+dv == 0:
			n.nClients--
			n.clientBytes -= uvLen(c)
		}
	}
	for r, dv := range delta.roots {
		switch was := t.roots[r]; {
		case was == 0 && was+dv > 0:
			n.nRoots++
			n.rootBytes += rootEntryBytes(r)
		case was > 0 && was+dv == 0:
			n.nRoots--
			n.rootBytes -= rootEntryBytes(r)
		}
	}
	return n
}

// held returns what t's counts hold in memory (0 for nil).
func (t *refTable) held() int {
	if t == nil {
		return 0
	}
	return heldClient*t.nClients + heldRootBase*t.nRoots + t.rootBytes
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
	if b.clients == nil {
		b.clients, b.roots = make(map[uint64]int), make(map[rootKey]int)
	}
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
	case opMark, opAttr:
		fn(client, rootKey{KindText, op.root}, true)
		richOpSize(op, func(c uint64) { fn(c, rootKey{}, false) })
	default:
		fn(client, rootKey{}, false)
	}
}

// toUpdate returns the pending set as a canonical update: one block per run of
// consecutive clocks of a client.
func (p *pendingSet) toUpdate() *update {
	u := &update{}
	for _, c := range slices.Sorted(maps.Keys(p.dels)) {
		u.dels = p.dels[c].appendTo(c, u.dels)
	}
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
	if op.kind == opText && !op.deleted && op.embed == nil {
		b = contentBytes(op)
	}
	return opSum{first: op, last: op, bytes: b, blocks: 1,
		firstN: op.n, lastN: op.n, firstB: b, lastB: b, oneGroup: true,
		firstG: 1, lastG: 1, oneBlock: true}
}

// groupHead returns what op writes as the first op of a group, but the
// lengths (groupLengths), and how many table indices.
func groupHead(op *uop) (bytes, indices int) {
	if isRichOp(op) {
		refs := 1 // the root
		size := richOpSize(op, func(uint64) { refs++ })
		return size + refs, refs
	}
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
	case op.kind == opMap || isRichOp(op):
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

// waitNode is the set of pending clients whose first op waits for one client
// to reach a clock (an origin it names): a persistent AVL tree keyed by that
// clock, then the waiting client. When the awaited client's clock passes a
// key, the waiting client's queue is looked at again: only what may have
// become applicable is visited, never the whole pending set. The nil
// *waitNode is the empty tree.
type waitNode struct {
	clock, client uint64
	left, right   *waitNode
	height        int32
}

func (t *waitNode) h() int32 {
	if t == nil {
		return 0
	}
	return t.height
}

func (t *waitNode) less(clock, client uint64) bool {
	return clock < t.clock || clock == t.clock && client < t.client
}

func newWaitNode(clock, client uint64, l, r *waitNode) *waitNode {
	return &waitNode{clock: clock, client: client, left: l, right: r, height: 1 + max(l.h(), r.h())}
}

func balancedWait(clock, client uint64, l, r *waitNode) *waitNode {
	switch hl, hr := l.h(), r.h(); {
	case hl > hr+1:
		if l.left.h() >= l.right.h() {
			return newWaitNode(l.clock, l.client, l.left, newWaitNode(clock, client, l.right, r))
		}
		lr := l.right
		return newWaitNode(lr.clock, lr.client, newWaitNode(l.clock, l.client, l.left, lr.left), newWaitNode(clock, client, lr.right, r))
	case hr > hl+1:
		if r.right.h() >= r.left.h() {
			return newWaitNode(r.clock, r.client, newWaitNode(clock, client, l, r.left), r.right)
		}
		rl := r.left
		return newWaitNode(rl.clock, rl.client, newWaitNode(clock, client, l, rl.left), newWaitNode(r.clock, r.client, rl.right, r.right))
	}
	return newWaitNode(clock, client, l, r)
}

// insert returns t with (clock, client) added; it must not be in t.
func (t *waitNode) insert(clock, client uint64) *waitNode {
	if t == nil {
		return newWaitNode(clock, client, nil, nil)
	}
	if t.less(clock, client) {
		return balancedWait(t.clock, t.client, t.left.insert(clock, client), t.right)
	}
	return balancedWait(t.clock, t.client, t.left, t.right.insert(clock, client))
}

// remove returns t without (clock, client), which must be in t.
func (t *waitNode) remove(clock, client uint64) *waitNode {
	switch {
	case t.less(clock, client):
		return balancedWait(t.clock, t.client, t.left.remove(clock, client), t.right)
	case clock != t.clock || client != t.client:
		return balancedWait(t.clock, t.client, t.left, t.right.remove(clock, client))
	}
	if t.left == nil {
		return t.right
	}
	if t.right == nil {
		return t.left
	}
	m := t.right
	for m.left != nil {
		m = m.left
	}
	return balancedWait(m.clock, m.client, t.left, t.right.remove(m.clock, m.client))
}

// first returns the lowest entry of t; t is not empty.
func (t *waitNode) first() (clock, client uint64) {
	for t.left != nil {
		t = t.left
	}
	return t.clock, t.client
}

// Bytes held by the pending structures (PendingMemory), per element: the
// nodes, the op and its sum, and the map entries (counted at twice their
// key and value, for the slack of a growing map).
const (
	heldWait     = int(unsafe.Sizeof(waitNode{})) + 2*int(unsafe.Sizeof(uint64(0))+unsafe.Sizeof(ID{}))
	heldClient   = 2 * 16 // a map entry from a client ID to a tree (ops, deletes, waits) or a count
	heldRootBase = 2 * int(unsafe.Sizeof(rootKey{})+unsafe.Sizeof(0))
)

// opHeld returns what a pending op holds with its node: its content when
// the node does not hold it (opLeaf), its map key and value.
func opHeld(op *uop) int {
	h := heldOp + len(op.key) + len(op.value)
	if len(op.content) > inlineRunes {
		h += 4 * len(op.content)
	}
	return h
}

// PendingMemory returns the bytes that the units and delete ranges waiting
// for their dependencies hold in memory: their tree nodes, ops and content,
// the tables of clients and roots they name, what each waits for, and the
// map entries that find them (counted at twice their key and value, for the
// slack of a map that grows). It is kept up to date as they come and go, so
// it costs nothing to read; 0 when nothing waits. Unlike PendingBytes, it is
// what a document pays for them, typically 10 to 40 times their encoded size.
func (d *Doc) PendingMemory() int { return d.pending.held }

// SetMaxPendingMemory sets Config.MaxPendingMemory for the updates applied
// from now on (n <= 0: no bound but MaxPendingBytes). An owner that shares
// one budget among documents lowers it to what is left of the budget.
func (d *Doc) SetMaxPendingMemory(n int) { d.cfg.MaxPendingMemory = max(n, 0) }

// setOrDelete sets (*m)[k] to v, making the map if need be, or deletes k when
// gone: how a plan's per-client changes are installed into the pending set.
func setOrDelete[V any](m *map[uint64]V, k uint64, v V, gone bool) {
	if gone {
		delete(*m, k)
		return
	}
	if *m == nil {
		*m = make(map[uint64]V)
	}
	(*m)[k] = v
}
