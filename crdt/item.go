package crdt

// item is a run: n code points inserted by one client in one go, with the
// consecutive clocks clock..clock+n-1. Its first code point has the left origin
// left; every other has the previous code point of the run; all share the right
// origin right (docs/crdt.md section 1.2). A zero origin Client means START
// (left) or END (right).
//
// The run contract: a run splits at any offset 0 < k < n into two runs that
// satisfy the same invariant (the second's left origin is the first's last
// item), and two runs merge when the second continues the first (see
// continues). The content of a visible run is content[off:off+n] of its
// client's append-only buffer, so splitting never copies text; a deleted run
// may have no content at all (its off is meaningless).
type item struct {
	cs      *clientState
	clock   uint64
	n       int
	off     int
	left    ID
	right   ID
	leaf    *node
	root    *textRoot
	deleted bool
	embed   bool // a visible embed (docs/crdt.md section 4.1); meaningless once deleted
}

// id returns the ID of the item's code point at offset k.
func (it *item) id(k int) ID { return ID{it.cs.id, it.clock + uint64(k)} }

// last returns the ID of the run's last code point.
func (it *item) last() ID { return ID{it.cs.id, it.clock + uint64(it.n) - 1} }

// end returns the clock after the run.
func (it *item) end() uint64 { return it.clock + uint64(it.n) }

// vis returns the visible length of the run.
func (it *item) vis() int {
	if it.deleted {
		return 0
	}
	return it.n
}

// runes returns the content of a visible run.
func (it *item) runes() []rune { return it.cs.content[it.off : it.off+it.n] }

// continues reports whether b continues a: same client and root, b's first
// clock follows a's last, b's left origin is a's last item, same right origin,
// same deleted flag, and (for visible runs) contiguous content. Such runs merge.
func continues(a, b *item) bool {
	return a.cs == b.cs && a.root == b.root && a.end() == b.clock &&
		b.left == a.last() && a.right == b.right && a.deleted == b.deleted &&
		(a.deleted || !a.embed && !b.embed) &&
		(a.deleted || a.off+a.n == b.off)
}
