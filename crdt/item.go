package crdt

import "unicode/utf8"

// item is a run: n code points inserted by one client in one go, with the
// consecutive clocks clock..clock+n-1. Its first code point has the left origin
// left; every other has the previous code point of the run; all share the right
// origin right (docs/crdt.md section 1.2). A zero origin Client means START
// (left) or END (right).
//
// The run contract: a run splits at any offset 0 < k < n into two runs that
// satisfy the same invariant (the second's left origin is the first's last
// item), and two runs merge when the second continues the first (see
// continues). The content of a visible run is the UTF-8 text
// content[off:off+nb] of its client's append-only buffer (nb bytes for n code
// points; nb == n when the text is ASCII), so splitting never copies text; a
// deleted run may have no content at all (its off and nb are meaningless).
//
// Why bytes: a code point held as a rune costs 4 bytes, and text is mostly
// ASCII; positions count code points, so the byte offset of a code point
// inside a run is found by scanning the run (see byteOff), at once when the
// run is ASCII.
type item struct {
	cs      *clientState
	clock   uint64
	n       int
	off     int // visible runs: byte offset of the content in cs.content
	nb      int // visible runs: byte length of the content
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

// text returns the UTF-8 content of a visible run.
func (it *item) text() []byte { return it.cs.content[it.off : it.off+it.nb] }

// byteOff returns the byte offset, in the content of the visible run it, of
// its code point at offset k (0 <= k <= it.n). It scans the run from its
// nearer end, unless the run is ASCII.
func (it *item) byteOff(k int) int {
	switch {
	case it.nb == it.n || k == 0:
		return k
	case k == it.n:
		return it.nb
	case k > it.n/2:
		return utf8OffBack(it.text(), it.n-k)
	}
	return utf8Off(it.text(), k)
}

// utf8OffBack returns the byte offset of the code point that comes k code
// points before the end of the valid UTF-8 text b (0 <= k <= its code point
// count).
func utf8OffBack(b []byte, k int) int {
	i := len(b)
	for ; k > 0; k-- {
		i--
		for b[i]&0xc0 == 0x80 { // a continuation byte
			i--
		}
	}
	return i
}

// utf8Off returns the byte offset of code point k in the valid UTF-8 text b
// (0 <= k <= its code point count).
func utf8Off(b []byte, k int) int {
	i := 0
	for ; k > 0; k-- {
		switch c := b[i]; {
		case c < utf8.RuneSelf:
			i++
		case c < 0xe0:
			i += 2
		case c < 0xf0:
			i += 3
		default:
			i += 4
		}
	}
	return i
}

// continues reports whether b continues a: same client and root, b's first
// clock follows a's last, b's left origin is a's last item, same right origin,
// same deleted flag, and (for visible runs) contiguous content. Such runs merge.
func continues(a, b *item) bool {
	return a.cs == b.cs && a.root == b.root && a.end() == b.clock &&
		b.left == a.last() && a.right == b.right && a.deleted == b.deleted &&
		(a.deleted || !a.embed && !b.embed) &&
		(a.deleted || a.off+a.nb == b.off)
}
