package crdt

// The runs of a text root live in a B-tree in document order. Leaves hold
// runs; every node knows the visible length (vis) and the item count (tot,
// deleted items included) of its subtree, so that finding a visible index or
// the position of a run costs O(log n). Leaves are linked for iteration. Runs
// point back to their leaf. Why a B-tree: a document of 100,000 characters
// edited for hours holds tens of thousands of runs; a list would make every
// edit O(n), a balanced tree with wide nodes keeps edits at a few hundred
// nanoseconds and stays compact.

const (
	leafMax  = 32 // runs per leaf
	innerMax = 32 // children per inner node
)

type node struct {
	parent     *node
	vis, tot   int
	leaf       bool
	items      []*item // leaf
	children   []*node // inner node
	prev, next *node   // leaves
}

// addCounts adds dv and dt to the counts of n and its ancestors.
func addCounts(n *node, dv, dt int) {
	for ; n != nil; n = n.parent {
		n.vis += dv
		n.tot += dt
	}
}

// indexInLeaf returns the index of it in its leaf.
func indexInLeaf(it *item) int {
	for i, x := range it.leaf.items {
		if x == it {
			return i
		}
	}
	panic("crdt: item not in its leaf")
}

func indexInParent(n *node) int {
	for i, c := range n.parent.children {
		if c == n {
			return i
		}
	}
	panic("crdt: node not in its parent")
}

// next returns the run after it in document order, or nil.
func next(it *item) *item {
	l := it.leaf
	i := indexInLeaf(it)
	if i+1 < len(l.items) {
		return l.items[i+1]
	}
	for l = l.next; l != nil; l = l.next {
		if len(l.items) > 0 {
			return l.items[0]
		}
	}
	return nil
}

// prev returns the run before it in document order, or nil.
func prev(it *item) *item {
	l := it.leaf
	i := indexInLeaf(it)
	if i > 0 {
		return l.items[i-1]
	}
	for l = l.prev; l != nil; l = l.prev {
		if len(l.items) > 0 {
			return l.items[len(l.items)-1]
		}
	}
	return nil
}

// first returns the first run of the tree, or nil.
func (t *textRoot) first() *item {
	for l := t.firstLeaf; l != nil; l = l.next {
		if len(l.items) > 0 {
			return l.items[0]
		}
	}
	return nil
}

// last returns the last run of the tree, or nil.
func (t *textRoot) last() *item {
	for l := t.lastLeaf; l != nil; l = l.prev {
		if n := len(l.items); n > 0 {
			return l.items[n-1]
		}
	}
	return nil
}

// posOf returns the visible index and the item index (deleted items counted)
// of the first code point of it.
func posOf(it *item) (vis, tot int) {
	l := it.leaf
	for _, x := range l.items {
		if x == it {
			break
		}
		vis += x.vis()
		tot += x.n
	}
	for n := l; n.parent != nil; n = n.parent {
		for _, c := range n.parent.children {
			if c == n {
				break
			}
			vis += c.vis
			tot += c.tot
		}
	}
	return vis, tot
}

// findVis returns the visible run holding visible index p (0 <= p < vis),
// the offset of p in it, and the visible index of its first code point.
func (t *textRoot) findVis(p int) (it *item, off, start int) {
	if c := t.cur; c.it != nil && !c.it.deleted && p >= c.vis && p < c.vis+c.it.n {
		return c.it, p - c.vis, c.vis
	}
	n := t.root
	start = p
	for !n.leaf {
		for _, c := range n.children {
			if p < c.vis {
				n = c
				break
			}
			p -= c.vis
		}
	}
	for _, x := range n.items {
		if x.deleted {
			continue
		}
		if p < x.n {
			return x, p, start - p
		}
		p -= x.n
	}
	panic("crdt: visible index beyond the tree")
}

// insertAfter inserts it right after prev in document order (at the start if
// prev is nil).
func (t *textRoot) insertAfter(prev, it *item) {
	var l *node
	var i int
	if prev == nil {
		l = t.firstLeaf
	} else {
		l = prev.leaf
		i = indexInLeaf(prev) + 1
	}
	t.insertAt(l, i, it)
}

// insertBefore inserts it right before next (at the end if next is nil).
func (t *textRoot) insertBefore(next, it *item) {
	if next == nil {
		t.insertAt(t.lastLeaf, len(t.lastLeaf.items), it)
		return
	}
	t.insertAt(next.leaf, indexInLeaf(next), it)
}

// insertAt puts it at index i of leaf l, counts it up the tree and splits the leaf if it is full.
func (t *textRoot) insertAt(l *node, i int, it *item) {
	l.items = append(l.items, nil)
	copy(l.items[i+1:], l.items[i:])
	l.items[i] = it
	it.leaf = l
	addCounts(l, it.vis(), it.n)
	if len(l.items) > leafMax {
		t.splitLeaf(l)
	}
	t.inserted(it, it.n)
}

func (t *textRoot) splitLeaf(l *node) {
	half := len(l.items) / 2
	r := &node{leaf: true, items: make([]*item, len(l.items)-half, leafMax+1)}
	copy(r.items, l.items[half:])
	clear(l.items[half:])
	l.items = l.items[:half]
	for _, x := range r.items {
		x.leaf = r
		r.vis += x.vis()
		r.tot += x.n
	}
	l.vis -= r.vis
	l.tot -= r.tot
	r.prev, r.next = l, l.next
	if l.next != nil {
		l.next.prev = r
	} else {
		t.lastLeaf = r
	}
	l.next = r
	t.addSibling(l, r)
}

// addSibling inserts r (whose counts were taken from n) right after n in n's parent.
func (t *textRoot) addSibling(n, r *node) {
	p := n.parent
	if p == nil {
		p = &node{children: make([]*node, 0, innerMax+1), vis: n.vis + r.vis, tot: n.tot + r.tot}
		p.children = append(p.children, n, r)
		n.parent, r.parent = p, p
		t.root = p
		return
	}
	i := indexInParent(n) + 1
	p.children = append(p.children, nil)
	copy(p.children[i+1:], p.children[i:])
	p.children[i] = r
	r.parent = p
	if len(p.children) > innerMax {
		t.splitInner(p)
	}
}

func (t *textRoot) splitInner(n *node) {
	half := len(n.children) / 2
	r := &node{children: make([]*node, len(n.children)-half, innerMax+1)}
	copy(r.children, n.children[half:])
	clear(n.children[half:])
	n.children = n.children[:half]
	for _, c := range r.children {
		c.parent = r
		r.vis += c.vis
		r.tot += c.tot
	}
	n.vis -= r.vis
	n.tot -= r.tot
	t.addSibling(n, r)
}

// remove takes it out of the tree.
func (t *textRoot) remove(it *item) {
	l := it.leaf
	i := indexInLeaf(it)
	copy(l.items[i:], l.items[i+1:])
	l.items[len(l.items)-1] = nil
	l.items = l.items[:len(l.items)-1]
	addCounts(l, -it.vis(), -it.n)
	it.leaf = nil
	if t.cur.it == it {
		t.cur = cursor{}
	}
	if len(l.items) == 0 && l.parent != nil {
		t.removeNode(l)
	}
}

// removeNode removes the empty node n from its parent (n is not the root).
func (t *textRoot) removeNode(n *node) {
	if n.leaf {
		if n.prev != nil {
			n.prev.next = n.next
		} else {
			t.firstLeaf = n.next
		}
		if n.next != nil {
			n.next.prev = n.prev
		} else {
			t.lastLeaf = n.prev
		}
	}
	p := n.parent
	i := indexInParent(n)
	copy(p.children[i:], p.children[i+1:])
	p.children[len(p.children)-1] = nil
	p.children = p.children[:len(p.children)-1]
	n.parent = nil
	switch {
	case len(p.children) == 0 && p.parent != nil:
		t.removeNode(p)
	case p.parent == nil && len(p.children) == 1:
		// Shrink the tree from the top.
		c := p.children[0]
		c.parent = nil
		t.root = c
	}
}

// setDeleted marks it deleted and updates the counts.
func setDeleted(it *item) {
	if it.deleted {
		return
	}
	addCounts(it.leaf, -it.n, 0)
	it.deleted = true
}

// grow extends it by k code points (counts included).
func grow(it *item, k int) {
	it.n += k
	dv := k
	if it.deleted {
		dv = 0
	}
	addCounts(it.leaf, dv, k)
	it.root.inserted(it, k)
}
