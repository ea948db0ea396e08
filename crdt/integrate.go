package crdt

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// integrateText places the remote text run op of client cs into t by the
// FugueMax rule (docs/crdt.md section 1.3). Its origins are integrated items of t.
// The insertion is recorded in ch unless it is nil.
func (d *Doc) integrateText(t *textRoot, cs *clientState, op *uop, ch *changes) {
	t.cur = cursor{}
	// Split so that the left origin ends a run and the right origin starts one;
	// the scan then moves run by run.
	// The right split leaves leftIt whole: the left origin ends leftIt, and
	// the right origin is another item.
	var leftIt, rightIt *item
	if op.left.Client != 0 {
		leftIt = d.itemAt(op.left)
		if k := int(op.left.Clock-leftIt.clock) + 1; k < leftIt.n {
			t.split(leftIt, k)
		}
	}
	if op.right.Client != 0 {
		it := d.itemAt(op.right)
		if k := int(op.right.Clock - it.clock); k > 0 {
			it = t.split(it, k)
		}
		rightIt = it
	}
	var o *item
	if leftIt != nil {
		o = next(leftIt)
	} else {
		o = t.first()
	}
	n := int(op.n)
	at := o
	if o != rightIt {
		at = d.scan(t, leftIt, o, rightIt, op, cs.id)
	} else if l := leftIt; l != nil && l.cs == cs && l.end() == op.clock && l.right == op.right &&
		l.deleted == op.deleted && (op.deleted || l.off+l.nb == len(cs.content) && !l.embed && op.embed == nil) {
		// The run continues its left origin's run, with nothing in between: extend.
		if !op.deleted {
			k := len(cs.content)
			cs.content = appendUTF8(cs.content, op.content)
			l.nb += len(cs.content) - k
			if ch != nil {
				vis, _ := posOf(l)
				ch.ins(t.name, vis+l.n, op.content)
			}
		}
		grow(l, n)
		return
	}
	it := t.items.new()
	*it = item{cs: cs, clock: op.clock, n: n, off: len(cs.content), left: op.left, right: op.right, root: t, deleted: op.deleted}
	if !op.deleted {
		cs.content = appendUTF8(cs.content, op.content)
		it.nb = len(cs.content) - it.off
	}
	t.insertBefore(at, it)
	cs.items.push(it)
	if op.embed != nil {
		t.addEmbed(it, op.embed)
	}
	if !op.deleted && ch != nil {
		vis, _ := posOf(it)
		ch.ins(t.name, vis, op.content)
	}
}

// itemAt returns the integrated text item holding id.
func (d *Doc) itemAt(id ID) *item {
	if cs := d.clients[id.Client]; cs != nil {
		if it := cs.items.find(id.Clock); it != nil {
			return it
		}
	}
	panic(fmt.Sprintf("crdt: integrated item (%d,%d) not found", id.Client, id.Clock))
}

// index returns the position of id in the sequence (deleted items counted).
func (d *Doc) index(id ID) int {
	it := d.itemAt(id)
	_, tot := posOf(it)
	return tot + int(id.Clock-it.clock)
}

// scan runs the FugueMax loop from run o (the run after the left origin)
// and returns the run before which op goes (nil: the end). Only a run's first
// item can stop the scan or change its state: the others have their left
// origin inside the run, after op's left origin.
func (d *Doc) scan(t *textRoot, leftIt, o, rightIt *item, op *uop, client uint64) *item {
	L := -1
	if leftIt != nil {
		_, tot := posOf(leftIt)
		L = tot + leftIt.n - 1
	}
	R := t.root.tot
	if rightIt != nil {
		_, R = posOf(rightIt)
	}
	scanning := false
	var scanStart *item
	for ; o != nil && o != rightIt; o = next(o) {
		oL := L
		if o.left != op.left {
			oL = -1
			if o.left.Client != 0 {
				oL = d.index(o.left)
			}
		}
		if oL < L {
			break
		}
		if oL > L {
			continue
		}
		switch {
		case o.right == op.right:
			// Siblings: the smaller client ID (then clock) goes first.
			if client < o.cs.id || (client == o.cs.id && op.clock < o.clock) {
				return whenScanning(scanning, scanStart, o)
			}
			scanning = false
		case o.right.Client == 0: // o's right origin is END, at or after R
			scanning = false
		case d.index(o.right) < R:
			if !scanning {
				scanning, scanStart = true, o
			}
		default:
			scanning = false
		}
	}
	return whenScanning(scanning, scanStart, o)
}

func whenScanning(scanning bool, scanStart, o *item) *item {
	if scanning {
		return scanStart
	}
	return o
}

// appendUTF8 appends the code points rs to b as UTF-8.
func appendUTF8(b []byte, rs []rune) []byte {
	size := 0
	for _, c := range rs {
		size += utf8.RuneLen(c)
	}
	b = slices.Grow(b, size)
	for _, c := range rs {
		if c < utf8.RuneSelf {
			b = append(b, byte(c))
		} else {
			b = utf8.AppendRune(b, c)
		}
	}
	return b
}
