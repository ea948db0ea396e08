package crdt

import "fmt"

// CheckPending checks the pending set's invariants: its bound is the sum of
// the costs of what it holds and is at least the exact encoded size, which
// PendingBytes reports; ops are ascending, not overlapping, and above the
// state vector.
func CheckPending(d *Doc) error {
	if d.pending.empty() {
		if d.PendingBytes() != 0 {
			return fmt.Errorf("empty pending set of %d bytes", d.PendingBytes())
		}
		return nil
	}
	sum := delsCost(d.pending.dels)
	for c, t := range d.pending.ops {
		if err := checkOpTree(t); err != nil {
			return fmt.Errorf("client %d: %w", c, err)
		}
		ops := t.appendTo(nil)
		if len(ops) == 0 {
			return fmt.Errorf("client %d: empty pending list", c)
		}
		for i := range ops {
			sum += pendingCost(&ops[i])
			if i > 0 && ops[i].clock < ops[i-1].end() {
				return fmt.Errorf("client %d: pending ops overlap or are not ascending", c)
			}
		}
		if ops[0].clock < d.clock(c) {
			return fmt.Errorf("client %d: pending op at %d below the clock %d", c, ops[0].clock, d.clock(c))
		}
	}
	exact := len(encodeUpdate(d.pending.toUpdate()))
	if sum != d.pending.bound {
		return fmt.Errorf("pending bound %d, the sum of costs is %d", d.pending.bound, sum)
	}
	if exact > d.pending.bound {
		return fmt.Errorf("pending bound %d below the exact size %d", d.pending.bound, exact)
	}
	if up := d.pending.upper(); exact > up {
		return fmt.Errorf("pending upper bound %d (base %d, since %d) below the exact size %d", up, d.pending.base, d.pending.since, exact)
	}
	// The cached size only: PendingBytes would reset base and since, which
	// would hide from the tests how Apply keeps them.
	if got := d.pendingBytes; got >= 0 && got != exact {
		return fmt.Errorf("PendingBytes() = %d; the encoding has %d", got, exact)
	}
	return nil
}

// checkOpTree checks that t is an AVL tree: heights are right and differ by
// at most one between siblings.
func checkOpTree(t *opNode) error {
	if t == nil {
		return nil
	}
	if err := checkOpTree(t.left); err != nil {
		return err
	}
	if err := checkOpTree(t.right); err != nil {
		return err
	}
	hl, hr := t.left.h(), t.right.h()
	if t.height != 1+max(hl, hr) || hl > hr+1 || hr > hl+1 {
		return fmt.Errorf("pending tree unbalanced at clock %d: height %d, children %d and %d", t.op.clock, t.height, hl, hr)
	}
	return nil
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
			case !it.deleted && it.off+it.n > len(cs.content):
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

// PendingTableLen returns the length of the larger table (clients, roots) of
// the pending update.
func PendingTableLen(d *Doc) int {
	clients, roots := d.pending.toUpdate().tables()
	return max(len(clients), len(roots))
}
