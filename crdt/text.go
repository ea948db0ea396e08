package crdt

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Name returns the root's name.
func (t *Text) Name() string { return t.name }

// Len returns the visible length in code points.
func (t *Text) Len() int {
	if r := t.resolve(); r != nil {
		return r.root.vis
	}
	return 0
}

// String returns the visible text.
func (t *Text) String() string {
	r := t.resolve()
	if r == nil {
		return ""
	}
	size := 0
	for l := r.firstLeaf; l != nil; l = l.next {
		for _, it := range l.items {
			if !it.deleted {
				size += it.nb
			}
		}
	}
	var sb strings.Builder
	sb.Grow(size)
	for l := r.firstLeaf; l != nil; l = l.next {
		for _, it := range l.items {
			if !it.deleted {
				sb.Write(it.text())
			}
		}
	}
	return sb.String()
}

// Insert inserts s at code point position pos (0 <= pos <= Len). It fails with
// ErrOutOfRange, ErrInvalidText (s is not valid UTF-8), ErrInvalidName or
// ErrClockOverflow, and then changes nothing.
func (t *Text) Insert(pos int, s string) error {
	d := t.doc
	r := t.resolve()
	if r == nil {
		if err := validName(t.name); err != nil {
			return err
		}
	}
	if pos < 0 || pos > t.Len() {
		return fmt.Errorf("%w: insert at %d in a text of %d", ErrOutOfRange, pos, t.Len())
	}
	r, n, err := t.beginInsert(r, s)
	if n == 0 || err != nil {
		return err
	}
	d.localInsert(r, pos, s, n)
	return nil
}

// beginInsert checks s for a local insertion into t, whose root is root (nil
// if it has none yet), and readies the document for it: it returns the root
// (made if needed) and s's length in code points, 0 when there is nothing to
// insert. An error changes nothing.
func (t *Text) beginInsert(root *textRoot, s string) (*textRoot, int, error) {
	d := t.doc
	if !utf8.ValidString(s) {
		return nil, 0, fmt.Errorf("%w: insert of invalid utf-8", ErrInvalidText)
	}
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return root, 0, nil
	}
	if d.own.next+uint64(n) > maxVarint {
		return nil, 0, ErrClockOverflow
	}
	d.version++
	if root == nil {
		root = d.newTextRoot(t.name)
		t.root = root
	}
	return root, n, nil
}

// InsertAt inserts s at the place of the sequence that r names, deleted
// items included (docs/crdt.md section 1.7): right before r's item
// (RelBefore), right after it (RelAfter), at the very start or the very end.
// Unlike Insert, which puts text right after the visible code point before an
// index, before any deleted ones, it can put text anywhere among deleted
// items: an undo that puts deleted text back lands exactly where the text
// was. It fails with ErrUnknownPosition (r names another root, or an item the
// text does not have), ErrInvalidText, ErrInvalidName or ErrClockOverflow,
// and then changes nothing.
func (t *Text) InsertAt(r RelPos, s string) error {
	root, it, err := t.relItem(r)
	if err != nil {
		return err
	}
	root, n, err := t.beginInsert(root, s)
	if n == 0 || err != nil {
		return err
	}
	at, nx, pos := root.gapAt(it, r)
	t.doc.insertBetween(root, at, nx, pos, s, n)
	return nil
}

// relItem resolves relative position r in this text for an insertion: the
// text's root (nil while it has no content) and, for RelBefore and RelAfter,
// the run holding r's item, which must be in this text.
func (t *Text) relItem(r RelPos) (*textRoot, *item, error) {
	root := t.resolve()
	if r.Root != t.name {
		return nil, nil, fmt.Errorf("%w: %v in text %q", ErrUnknownPosition, r, t.name)
	}
	var it *item
	switch r.Kind {
	case RelStart, RelEnd:
		if root == nil {
			if err := validName(t.name); err != nil {
				return nil, nil, err
			}
		}
	case RelBefore, RelAfter:
		it = t.doc.findItem(r.ID)
		if it == nil || root == nil || it.root != root {
			return nil, nil, fmt.Errorf("%w: %v", ErrUnknownPosition, r)
		}
	default:
		return nil, nil, fmt.Errorf("%w: kind %d", ErrUnknownPosition, r.Kind)
	}
	return root, it, nil
}

// gapAt returns the adjacent runs at and nx (nil: the start, the end) between
// which an insertion at r goes, splitting it (the run relItem found) where r
// falls inside it, and the visible index of that gap.
func (t *textRoot) gapAt(it *item, r RelPos) (at, nx *item, pos int) {
	switch r.Kind {
	case RelStart:
		nx = t.first()
	case RelEnd:
		at = t.last()
	case RelBefore:
		if k := int(r.ID.Clock - it.clock); k > 0 {
			it = t.split(it, k)
		}
		at, nx = prev(it), it
	case RelAfter:
		if k := int(r.ID.Clock-it.clock) + 1; k < it.n {
			t.split(it, k)
		}
		at, nx = it, next(it)
	}
	pos = t.root.vis
	if nx != nil {
		pos, _ = posOf(nx)
	}
	return at, nx, pos
}

// localInsert inserts s (n code points) at visible index pos, right after
// the visible code point at pos-1 (or at the start of the sequence), before
// any deleted runs that follow it (docs/crdt.md section 1.3): the left origin
// is the code point before the cursor and the right origin whatever follows
// it, so that replacing a character and a concurrent insertion after it keep
// their order whatever the client IDs.
func (d *Doc) localInsert(t *textRoot, pos int, s string, n int) {
	var at *item // the run after which the new one goes; nil: the start
	var nx *item // the run before which it goes; nil: the end
	if pos > 0 {
		// The code point before pos: the cursor cache holds it when typing
		// goes on where the last edit was.
		it, off, _ := t.findVis(pos - 1)
		at = it
		if off+1 < it.n {
			nx = t.split(it, off+1)
		} else {
			nx = next(it)
		}
	} else {
		nx = t.first()
	}
	d.insertBetween(t, at, nx, pos, s, n)
}

// insertBetween inserts s (n code points) as a new run of the document's
// client between the adjacent runs at and nx (nil: the start, the end), at
// visible index pos.
func (d *Doc) insertBetween(t *textRoot, at, nx *item, pos int, s string, n int) {
	cs := d.own
	clock := cs.next
	var left, right ID
	if at != nil {
		left = at.last()
	}
	if nx != nil {
		right = nx.id(0)
	}
	if at != nil && !at.deleted && !at.embed && at.cs == cs && at.end() == clock && at.right == right && at.off+at.nb == len(cs.content) {
		// Typing at the end of our own visible run: extend it.
		cs.content = append(cs.content, s...)
		at.nb += len(s)
		grow(at, n)
		cs.next += uint64(n)
		t.cur = cursor{at, pos - (at.n - n)}
		return
	}
	it := t.items.new()
	*it = item{cs: cs, clock: clock, n: n, off: len(cs.content), nb: len(s), left: left, right: right, root: t}
	cs.content = append(cs.content, s...)
	t.insertAfter(at, it)
	cs.items.push(it)
	cs.next += uint64(n)
	t.cur = cursor{it, pos}
}

// split cuts it at offset k (0 < k < it.n) and returns the second half, which
// follows it in the tree and in its client's index. Counts do not change.
func (t *textRoot) split(it *item, k int) *item {
	r := t.items.new()
	*r = item{cs: it.cs, clock: it.clock + uint64(k), n: it.n - k,
		left: it.id(k - 1), right: it.right, root: it.root, deleted: it.deleted}
	if !it.deleted {
		b := it.byteOff(k)
		r.off, r.nb = it.off+b, it.nb-b
		it.nb = b
	}
	it.n = k
	l := it.leaf
	i := indexInLeaf(it) + 1
	l.items = append(l.items, nil)
	copy(l.items[i+1:], l.items[i:])
	l.items[i] = r
	r.leaf = l
	if len(l.items) > leafMax {
		t.splitLeaf(l)
	}
	it.cs.items.insertAfter(it, r)
	return r
}

// absorb merges b into a, which it continues (continues(a, b)).
func (t *textRoot) absorb(a, b *item) {
	vis, n := b.vis(), b.n
	if a.leaf == b.leaf {
		// Same leaf: the counts do not change.
		l := b.leaf
		i := indexInLeaf(b)
		copy(l.items[i:], l.items[i+1:])
		l.items[len(l.items)-1] = nil
		l.items = l.items[:len(l.items)-1]
		b.leaf = nil
		if t.cur.it == b {
			t.cur = cursor{}
		}
	} else {
		t.remove(b)
		addCounts(a.leaf, vis, n)
	}
	a.n += n
	a.nb += b.nb
	b.cs.items.remove(b)
	t.items.release(b)
}

// mergeDeleted merges the deleted run it with deleted neighbours that
// continue it or that it continues, and returns the run that holds it.
func (t *textRoot) mergeDeleted(it *item) *item {
	if nx := next(it); nx != nil && continues(it, nx) {
		t.absorb(it, nx)
	}
	if p := prev(it); p != nil && continues(p, it) {
		t.absorb(p, it)
		return p
	}
	return it
}

// Delete deletes n code points at position pos. It fails with ErrOutOfRange
// (and changes nothing) unless 0 <= pos, 0 <= n and pos+n <= Len.
func (t *Text) Delete(pos, n int) error {
	d := t.doc
	if pos < 0 || n < 0 || pos > t.Len()-n {
		return fmt.Errorf("%w: delete %d at %d in a text of %d", ErrOutOfRange, n, pos, t.Len())
	}
	if n == 0 {
		return nil
	}
	d.version++
	r := t.resolve()
	it, off, start := r.findVis(pos)
	if off > 0 && off+n == it.n && r.deleteTail(it, off) {
		d.recordDelete(it.cs.id, it.clock+uint64(off), uint64(n))
		r.cur = cursor{it, start}
		return nil
	}
	if off == 0 && n < it.n && r.deleteHead(it, n) {
		d.recordDelete(it.cs.id, it.clock-uint64(n), uint64(n))
		r.cur = cursor{it, start}
		return nil
	}
	var cur cursor
	if off > 0 {
		cur = cursor{it, start}
		it = r.split(it, off)
	}
	for n > 0 {
		if it.deleted {
			it = next(it)
			continue
		}
		if it.n > n {
			r.split(it, n)
		}
		setDeleted(it)
		d.recordDelete(it.cs.id, it.clock, uint64(it.n))
		n -= it.n
		it = r.mergeDeleted(it)
		if n > 0 {
			it = next(it)
		}
	}
	r.cur = cur
	return nil
}

// deleteTail deletes the code points of the visible run it from offset off
// (0 < off < it.n) to its end when the next run is a deleted run that the
// deleted tail continues (backspacing after a previous backspace): the tail
// moves into that run, with no split and no merge. It reports whether it did.
func (t *textRoot) deleteTail(it *item, off int) bool {
	nx := next(it)
	if nx == nil || !nx.deleted || nx.cs != it.cs || nx.clock != it.end() || nx.left != it.last() || nx.right != it.right {
		return false
	}
	k := it.n - off
	it.nb = it.byteOff(off)
	it.n = off
	nx.clock -= uint64(k)
	nx.n += k
	nx.left = it.last()
	if it.leaf == nx.leaf {
		addCounts(it.leaf, -k, 0)
	} else {
		addCounts(it.leaf, -k, -k)
		addCounts(nx.leaf, 0, k)
	}
	return true
}

// deleteHead deletes the first k code points of the visible run it (k < it.n)
// when the previous run is a deleted run that they continue (deleting forward
// after a previous deletion): the head moves into that run, with no split and
// no merge. It reports whether it did.
func (t *textRoot) deleteHead(it *item, k int) bool {
	p := prev(it)
	if p == nil || !p.deleted || p.cs != it.cs || p.end() != it.clock || it.left != p.last() || p.right != it.right {
		return false
	}
	p.n += k
	b := it.byteOff(k)
	it.clock += uint64(k)
	it.off += b
	it.nb -= b
	it.n -= k
	it.left = p.last()
	if it.leaf == p.leaf {
		addCounts(it.leaf, -k, 0)
	} else {
		addCounts(it.leaf, -k, -k)
		addCounts(p.leaf, 0, k)
	}
	return true
}

// RelPos returns a relative position for visible index pos (0 <= pos <= Len):
// with assoc >= 0 it sticks to the code point at pos (Before, or End at the
// end); with assoc < 0 to the code point at pos-1 (After, or Start at 0).
func (t *Text) RelPos(pos int, assoc int) (RelPos, error) {
	n := t.Len()
	if pos < 0 || pos > n {
		return RelPos{}, fmt.Errorf("%w: relative position at %d in a text of %d", ErrOutOfRange, pos, n)
	}
	rp := RelPos{Root: t.name}
	r := t.resolve()
	switch {
	case assoc >= 0 && pos < n:
		it, off, _ := r.findVis(pos)
		rp.Kind, rp.ID = RelBefore, it.id(off)
	case assoc >= 0:
		rp.Kind = RelEnd
	case pos > 0:
		it, off, _ := r.findVis(pos - 1)
		rp.Kind, rp.ID = RelAfter, it.id(off)
	default:
		rp.Kind = RelStart
	}
	return rp, nil
}

// Resolve returns the visible index that r designates in the document's text
// (docs/crdt.md section 1.7). It fails with ErrUnknownPosition when r names an
// item the document does not have (yet), or an item of another root.
func (d *Doc) Resolve(r RelPos) (int, error) {
	t := d.text(r.Root)
	switch r.Kind {
	case RelStart:
		return 0, nil
	case RelEnd:
		if t == nil {
			return 0, nil
		}
		return t.root.vis, nil
	case RelBefore, RelAfter:
	default:
		return 0, fmt.Errorf("%w: kind %d", ErrUnknownPosition, r.Kind)
	}
	var it *item
	if cs := d.clients[r.ID.Client]; cs != nil {
		it = cs.items.find(r.ID.Clock)
	}
	if it == nil || it.root != t {
		return 0, fmt.Errorf("%w: %v", ErrUnknownPosition, r)
	}
	vis, _ := posOf(it)
	if it.deleted {
		return vis, nil
	}
	vis += int(r.ID.Clock - it.clock)
	if r.Kind == RelAfter {
		vis++
	}
	return vis, nil
}
