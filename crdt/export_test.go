package crdt

import (
	"cmp"
	"fmt"
	"maps"
	"unicode/utf8"
)

// CheckPending checks the pending set's invariants: ops are ascending, not
// overlapping, and above the state vector; the trees are balanced and their
// sums are those of their ops; the tables count what the ops name; and the
// size kept up to date is the length of the encoding (or brackets it, with
// wide tables), as is the size PendingBytes has cached.
func CheckPending(d *Doc) error {
	p := &d.pending
	if p.empty() {
		if d.PendingBytes() != 0 {
			return fmt.Errorf("empty pending set of %d bytes", d.PendingBytes())
		}
		return nil
	}
	recount := &tableDelta{}
	opsBytes, indices, blocks := 0, 0, 0
	for c, t := range p.ops {
		if err := checkOpTree(c, t); err != nil {
			return fmt.Errorf("client %d: %w", c, err)
		}
		ops := t.appendTo(nil)
		if len(ops) == 0 {
			return fmt.Errorf("client %d: empty pending list", c)
		}
		for i := range ops {
			recount.count(c, &ops[i], 1)
			if i > 0 && ops[i].clock < ops[i-1].end() {
				return fmt.Errorf("client %d: pending ops overlap or are not ascending", c)
			}
		}
		if ops[0].clock < d.clock(c) {
			return fmt.Errorf("client %d: pending op at %d below the clock %d", c, ops[0].clock, d.clock(c))
		}
		b, i, n := t.share(c)
		opsBytes, indices, blocks = opsBytes+b, indices+i, blocks+n
	}
	if e := &p.ex; e.on {
		if opsBytes != e.opsBytes || indices != e.indices || blocks != e.blocks {
			return fmt.Errorf("pending blocks: %d bytes, %d indices, %d blocks kept; the trees sum to %d, %d, %d",
				e.opsBytes, e.indices, e.blocks, opsBytes, indices, blocks)
		}
		e.refs.settle()
		if err := checkRefs(e.refs, recount); err != nil {
			return err
		}
	}
	var ub upperBound
	for c, t := range p.ops {
		t.each(func(op *uop) { ub.add(c, op, 1) })
	}
	for c := range p.dels {
		ub.delClientBytes += uvLen(c)
	}
	if ub != p.ub {
		return fmt.Errorf("pending upper bound %+v kept; the ops count %+v", p.ub, ub)
	}
	if err := checkDelsAndWaits(d); err != nil {
		return err
	}
	exact := p.measure()
	size, wide, ok := p.size()
	switch {
	case ok && size != exact:
		return fmt.Errorf("pending size %d kept; the encoding has %d", size, exact)
	case !ok && (exact < size || exact > wide):
		return fmt.Errorf("pending size between %d and %d kept; the encoding has %d", size, wide, exact)
	}
	if _, w := p.ub.size(len(p.dels), p.delBytes); exact > w {
		return fmt.Errorf("pending size %d above its upper bound %d", exact, w)
	}
	if p.sb.on {
		if p.ex.on {
			return fmt.Errorf("both the exact size and a slack bound kept")
		}
		if b := p.sb.size(&p.ub, len(p.dels), p.delBytes); exact > b {
			return fmt.Errorf("pending size %d above its slack bound %d", exact, b)
		}
	}
	if got := d.pendingBytes; got >= 0 && got != exact {
		return fmt.Errorf("PendingBytes() = %d; the encoding has %d", got, exact)
	}
	return nil
}

// checkDelsAndWaits checks the pending delete ranges (balanced trees of
// disjoint ranges that do not touch, above their client's clock, their sums
// those of their ranges), the clients that only they name, the waits (every
// waiting client's first op starts at its clock and waits for the origin
// recorded, which is not integrated, and the waiting sets hold exactly the
// waiting clients) and the bytes held.
func checkDelsAndWaits(d *Doc) error {
	p := &d.pending
	delBytes, delOnly, delOnlyBytes, held := 0, 0, 0, 0
	for c, t := range p.dels {
		if t == nil {
			return fmt.Errorf("client %d: nil delete tree", c)
		}
		nodes, err := checkDelTree(t)
		if err != nil {
			return fmt.Errorf("client %d: %w", c, err)
		}
		rs := t.appendTo(c, nil)
		for i, r := range rs {
			if r.n == 0 || i > 0 && r.clock <= rs[i-1].clock+rs[i-1].n {
				return fmt.Errorf("client %d: pending delete ranges %v empty, overlapping or touching", c, rs)
			}
		}
		if rs[0].clock < d.clock(c) {
			return fmt.Errorf("client %d: pending delete range at %d below the clock %d", c, rs[0].clock, d.clock(c))
		}
		delBytes += t.encoded()
		held += heldClient + nodes
		if p.ex.refs == nil || p.ex.refs.clients[c] == 0 {
			delOnly, delOnlyBytes = delOnly+1, delOnlyBytes+uvLen(c)
		}
	}
	if !p.ex.on {
		delOnly, delOnlyBytes = 0, 0
	}
	if delBytes != p.delBytes || delOnly != p.ex.delOnly || delOnlyBytes != p.ex.delOnlyBytes {
		return fmt.Errorf("pending delete ranges: %d bytes, %d clients only they name (%d bytes) kept; they sum to %d, %d (%d)",
			p.delBytes, p.ex.delOnly, p.ex.delOnlyBytes, delBytes, delOnly, delOnlyBytes)
	}
	entries := 0
	for c, t := range p.waits {
		if t == nil {
			return fmt.Errorf("client %d: nil waiting set", c)
		}
		held += heldClient
		var walk func(t *waitNode) error
		walk = func(t *waitNode) error {
			if t == nil {
				return nil
			}
			entries++
			if w := p.waitOn[t.client]; w != (ID{c, t.clock}) {
				return fmt.Errorf("client %d waits for (%d,%d) in the waiting sets, for %v in waitOn", t.client, c, t.clock, w)
			}
			if hl, hr := t.left.h(), t.right.h(); t.height != 1+max(hl, hr) || hl > hr+1 || hr > hl+1 {
				return fmt.Errorf("waiting set of %d unbalanced", c)
			}
			return cmp.Or(walk(t.left), walk(t.right))
		}
		if err := walk(t); err != nil {
			return err
		}
	}
	if entries != len(p.waitOn) {
		return fmt.Errorf("%d clients wait in waitOn, %d in the waiting sets", len(p.waitOn), entries)
	}
	for c, w := range p.waitOn {
		op := p.ops[c].first()
		if op == nil || op.clock != d.clock(c) || !op.hasOrigins() || (op.left != w && op.right != w) || w.Clock < d.clock(w.Client) {
			return fmt.Errorf("client %d waits for %v, its first pending op %+v, clocks %d and %d", c, w, op, d.clock(c), d.clock(w.Client))
		}
		held += heldWait
	}
	for c, t := range p.ops {
		ops := t.appendTo(nil)
		held += heldClient
		var nodes func(t *opNode)
		nodes = func(t *opNode) {
			held += t.held()
			for _, e := range t.ents {
				if !t.leaf {
					nodes(e.kid)
				}
			}
		}
		nodes(t)
		for i := range ops {
			held += opHeld(&ops[i])
		}
		if _, waits := p.waitOn[c]; !waits && ops[0].clock == d.clock(c) && ops[0].hasOrigins() {
			for _, o := range [2]ID{ops[0].left, ops[0].right} {
				if o.Client != 0 && o.Clock >= d.clock(o.Client) {
					return fmt.Errorf("client %d: its first pending op waits for %v, not recorded", c, o)
				}
			}
		}
	}
	if p.ex.on && p.ex.refs != nil {
		for _, n := range p.ex.refs.clients {
			if n != 0 {
				held += heldClient
			}
		}
		for r, n := range p.ex.refs.roots {
			if n != 0 {
				held += heldRootBase + rootEntryBytes(r)
			}
		}
	}
	if held != p.held {
		return fmt.Errorf("pending set holds %d bytes kept; its parts sum to %d", p.held, held)
	}
	return nil
}

// checkDelTree checks that t is a B+ tree of ascending ranges that neither
// overlap nor touch, its leaves at one depth, no node empty or over delFan
// entries, its inner entries the first clock and last end of their child,
// and computed sums those of the ranges; it returns the bytes its nodes
// hold.
func checkDelTree(t *delNode) (int, error) {
	if t == nil {
		return 0, nil
	}
	depth := -1
	var walk func(n *delNode, d int) (int, error)
	walk = func(n *delNode, d int) (int, error) {
		if len(n.ents) == 0 || len(n.ents) > delFan {
			return 0, fmt.Errorf("pending delete tree node of %d entries", len(n.ents))
		}
		held := n.held()
		for i, e := range n.ents {
			if e.clock >= e.end || i > 0 && e.clock <= n.ents[i-1].end {
				return 0, fmt.Errorf("pending delete tree entries %+v and %+v", n.ents[max(i-1, 0)], e)
			}
			if n.leaf {
				if e.kid != nil {
					return 0, fmt.Errorf("pending delete tree leaf entry with a child")
				}
				continue
			}
			if e.kid == nil || e != e.kid.entry() {
				return 0, fmt.Errorf("pending delete tree entry %+v; its child holds %d..%d", e, e.kid.ents[0].clock, e.kid.ents[len(e.kid.ents)-1].end)
			}
			h, err := walk(e.kid, d+1)
			if err != nil {
				return 0, err
			}
			held += h
		}
		if n.leaf {
			if depth >= 0 && depth != d {
				return 0, fmt.Errorf("pending delete tree leaves at depths %d and %d", depth, d)
			}
			depth = d
		}
		if n.summed {
			s := n.sum
			n.summed = false
			if want := n.sums(); s != want {
				return 0, fmt.Errorf("pending delete tree node at clock %d sums to %+v; its ranges to %+v", n.ents[0].clock, s, want)
			}
		}
		return held, nil
	}
	return walk(t, 0)
}

// checkRefs checks that t's counts are those of want, and its totals theirs.
func checkRefs(t *refTable, want *tableDelta) error {
	if t == nil {
		t = newRefTable()
	}
	nonzero := func(m map[uint64]int) map[uint64]int {
		out := make(map[uint64]int)
		for k, v := range m {
			if v != 0 {
				out[k] = v
			}
		}
		return out
	}
	if got, want := nonzero(t.clients), nonzero(want.clients); !maps.Equal(got, want) {
		return fmt.Errorf("pending clients table counts %v; the ops name %v", got, want)
	}
	roots, bytes := 0, 0
	for r, n := range want.roots {
		if n != 0 {
			roots, bytes = roots+1, bytes+rootEntryBytes(r)
			if t.roots[r] != n {
				return fmt.Errorf("pending root %v counted %d times; the ops name it %d times", r, t.roots[r], n)
			}
		}
	}
	clients, cbytes := 0, 0
	for c, n := range want.clients {
		if n != 0 {
			clients, cbytes = clients+1, cbytes+uvLen(c)
		}
	}
	if len(t.roots) != roots || t.nRoots != roots || t.rootBytes != bytes || t.nClients != clients || t.clientBytes != cbytes {
		return fmt.Errorf("pending tables: %d clients (%d bytes), %d roots (%d bytes) kept; the ops name %d (%d), %d (%d)",
			t.nClients, t.clientBytes, t.nRoots, t.rootBytes, clients, cbytes, roots, bytes)
	}
	return nil
}

// checkOpTree checks that t, client's, is a B+ tree: no node empty or with
// more than opFan entries, every leaf at the same depth, each entry giving
// the first clock and the last end of what it holds, and computed sums
// those of the node's entries (CheckPending compares the total with the
// encoding).
func checkOpTree(client uint64, t *opNode) error {
	_, err := checkOpNode(client, t)
	return err
}

// checkOpNode checks t as checkOpTree, and returns its depth.
func checkOpNode(client uint64, t *opNode) (int, error) {
	if t == nil {
		return 0, nil
	}
	if len(t.ents) == 0 || len(t.ents) > opFan || cap(t.ents) > opFan {
		return 0, fmt.Errorf("pending tree node of %d entries (room for %d)", len(t.ents), cap(t.ents))
	}
	depth := -1
	for i, e := range t.ents {
		clock, end, d := e.clock, e.end, 1
		if t.leaf {
			clock, end = e.op.op.clock, e.op.op.end()
		} else {
			k, err := checkOpNode(client, e.kid)
			if err != nil {
				return 0, err
			}
			clock, end, d = e.kid.ents[0].clock, e.kid.ents[len(e.kid.ents)-1].end, k+1
		}
		if clock != e.clock || end != e.end {
			return 0, fmt.Errorf("pending tree entry keeps clocks %d to %d; it holds %d to %d", e.clock, e.end, clock, end)
		}
		if i > 0 && t.ents[i-1].end > e.clock {
			return 0, fmt.Errorf("pending tree entries at %d and %d overlap or are not ascending", t.ents[i-1].clock, e.clock)
		}
		if depth >= 0 && d != depth {
			return 0, fmt.Errorf("pending tree leaves at depths %d and %d", depth, d)
		}
		depth = d
	}
	if int(t.height) != depth || t.leaf != (t.height == 1) {
		return 0, fmt.Errorf("pending tree node at clock %d keeps height %d (leaf %v); its leaves are %d down", t.ents[0].clock, t.height, t.leaf, depth)
	}
	if want := t.nodeSum(client); t.summed && t.sum != want {
		return 0, fmt.Errorf("pending tree node at clock %d sums to %+v; its entries to %+v", t.ents[0].clock, t.sum, want)
	}
	return depth, nil
}

// CheckInvariants checks the structure of d (doc.go, Invariants): the trees'
// counts, parents, leaf links and back pointers; the client indexes (sorted,
// disjoint, holding exactly the tree's runs); run lengths and origins; and
// the pending set (CheckPending).
func CheckInvariants(d *Doc) error {
	seen := make(map[*item]bool)
	for name, t := range d.texts {
		if t.root.parent != nil {
			return fmt.Errorf("text %q: the root has a parent", name)
		}
		var prevLeaf *node
		var walk func(n *node) (vis, tot int, err error)
		walk = func(n *node) (vis, tot int, err error) {
			if n.leaf {
				if n.prev != prevLeaf {
					return 0, 0, fmt.Errorf("text %q: leaf links broken", name)
				}
				if prevLeaf == nil && t.firstLeaf != n {
					return 0, 0, fmt.Errorf("text %q: firstLeaf is wrong", name)
				}
				prevLeaf = n
				if len(n.items) > leafMax || (len(n.items) == 0 && n.parent != nil) {
					return 0, 0, fmt.Errorf("text %q: leaf of %d runs", name, len(n.items))
				}
				for _, it := range n.items {
					if it.leaf != n || it.root != t || it.n < 1 {
						return 0, 0, fmt.Errorf("text %q: run (%d,%d) has a wrong leaf, root or length", name, it.cs.id, it.clock)
					}
					seen[it] = true
					vis += it.vis()
					tot += it.n
				}
			} else {
				if len(n.children) == 0 || len(n.children) > innerMax {
					return 0, 0, fmt.Errorf("text %q: inner node of %d children", name, len(n.children))
				}
				for _, c := range n.children {
					if c.parent != n {
						return 0, 0, fmt.Errorf("text %q: wrong parent pointer", name)
					}
					v, tt, err := walk(c)
					if err != nil {
						return 0, 0, err
					}
					vis += v
					tot += tt
				}
			}
			if vis != n.vis || tot != n.tot {
				return 0, 0, fmt.Errorf("text %q: node counts %d/%d, children sum %d/%d", name, n.vis, n.tot, vis, tot)
			}
			return vis, tot, nil
		}
		if _, _, err := walk(t.root); err != nil {
			return err
		}
		if t.lastLeaf != prevLeaf {
			return fmt.Errorf("text %q: lastLeaf is wrong", name)
		}
		if c := t.cur; c.it != nil {
			if !seen[c.it] {
				return fmt.Errorf("text %q: the cursor names a run not in the tree", name)
			}
			if vis, _ := posOf(c.it); vis != c.vis {
				return fmt.Errorf("text %q: the cursor says %d, the run starts at %d", name, c.vis, vis)
			}
		}
	}
	n := 0
	for c, cs := range d.clients {
		var prev *item
		var err error
		cs.items.each(0, func(it *item) bool {
			n++
			switch {
			case !seen[it]:
				err = fmt.Errorf("client %d: indexed run %d is not in a tree", c, it.clock)
			case prev != nil && it.clock < prev.end():
				err = fmt.Errorf("client %d: indexed runs overlap or are not ascending at %d", c, it.clock)
			case it.end() > cs.next:
				err = fmt.Errorf("client %d: run %d beyond the clock %d", c, it.clock, cs.next)
			case !it.deleted && (it.off+it.nb > len(cs.content) || utf8.RuneCount(it.text()) != it.n):
				err = fmt.Errorf("client %d: run %d beyond its content", c, it.clock)
			}
			for _, o := range [2]ID{it.left, it.right} {
				if err == nil && o.Client != 0 {
					if x := d.clients[o.Client]; x == nil || x.items.find(o.Clock) == nil || x.items.find(o.Clock).root != it.root {
						err = fmt.Errorf("client %d: run %d has origin (%d,%d) that is not a text item of its root", c, it.clock, o.Client, o.Clock)
					}
				}
			}
			prev = it
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	if n != len(seen) {
		return fmt.Errorf("%d runs in the trees, %d in the indexes", len(seen), n)
	}
	for name, m := range d.maps {
		for k, a := range m.entries {
			if a.lost || a.key != k || a.root != m {
				return fmt.Errorf("map %q key %q: the winner is flagged lost or misfiled", name, k)
			}
		}
	}
	return CheckPending(d)
}

// PendingSizeKept returns how the document keeps its pending size between
// measures: "exact", "slack" (a bound measured now and then) or "bound".
func PendingSizeKept(d *Doc) string {
	switch {
	case d.pending.ex.on:
		return "exact"
	case d.pending.sb.on:
		return "slack"
	}
	return "bound"
}

// PendingTableLen returns the length of the larger table (clients, roots) of
// the pending update.
func PendingTableLen(d *Doc) int {
	clients, roots := d.pending.toUpdate().tables()
	return max(len(clients), len(roots))
}

// SnapshotPending reports whether the snapshot b decodes and carries pending
// units.
func SnapshotPending(b []byte) bool {
	s, err := decodeSnapshot(b)
	return err == nil && s.pending != nil
}

// CodeLengths exposes the content code's length construction.
func CodeLengths(freq []uint64) []uint8 { return codeLengths(freq) }

// SetParking turns parking (Doc.park) on or off for d: off, every update
// takes the general path (plan), against which tests compare it.
func SetParking(d *Doc, on bool) { d.noPark = !on }

// Parked returns how many updates d has parked (Doc.park).
func Parked(d *Doc) int { return d.parked }

// PendingUpdate returns the encoding of d's pending set (nil when empty).
func PendingUpdate(d *Doc) []byte {
	if d.pending.empty() {
		return nil
	}
	return encodeUpdate(d.pending.toUpdate())
}

// PendingTotals describes the totals d keeps of its pending set: its upper
// bound, slack bound, delete ranges' size, bytes held and the size cached.
func PendingTotals(d *Doc) string {
	p := &d.pending
	return fmt.Sprintf("ub %+v sb %+v exact %v delBytes %d held %d cached %d",
		p.ub, p.sb, p.ex.on, p.delBytes, p.held, d.pendingBytes)
}
