package crdt

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Rich text (docs/crdt.md section 4): embeds are items of a Text root that
// hold a JSON value; marks are operations of their own, anchored before or
// after items, the latest winning per item and name; attributes are
// last-writer-wins assignments on embeds. This file holds their state and
// their local API; richops.go their encoding, richsnap.go their snapshot
// section.

// ErrNotEmbed reports an attribute set on a position that holds no visible embed.
var ErrNotEmbed = errors.New("crdt: not an embed")

// objectReplacement is the code point an embed reads as in the text.
const objectReplacement = '\uFFFC'

// Expand says at which ends a mark grows when text is typed there
// (docs/crdt.md section 4.2): it decides the anchors a Format writes.
type Expand uint8

// Expand values.
const (
	ExpandNone   Expand = 0                          // links, comments
	ExpandBefore Expand = 1                          // grows at the start
	ExpandAfter  Expand = 2                          // grows at the end: bold, italic
	ExpandBoth          = ExpandBefore | ExpandAfter // grows at both ends
)

// anchor is one end of a mark: a relative position's kind and item.
type anchor struct {
	kind RelPosKind
	id   ID // RelBefore and RelAfter only
}

// markOp is a mark operation: value over the items between start and end,
// or the removal of the mark name there (value nil).
type markOp struct {
	cs         *clientState
	clock      uint64
	root       *textRoot
	start, end anchor
	name       string
	lamport    uint64
	value      []byte // JSON; nil: remove
}

// later reports whether m comes after o in the total order of mark
// operations: (lamport, client, clock) ascending.
func (m *markOp) later(o *markOp) bool { return compareMarks(m, o) > 0 }

func compareMarks(a, b *markOp) int {
	return cmp.Or(cmp.Compare(a.lamport, b.lamport), cmp.Compare(a.cs.id, b.cs.id), cmp.Compare(a.clock, b.clock))
}

// attrOp is an attribute assignment on an item (docs/crdt.md section 4.3).
type attrOp struct {
	cs      *clientState
	clock   uint64
	root    *textRoot
	target  ID
	key     string
	lamport uint64
	value   []byte // JSON
	lost    bool   // no longer the winner: its clock is a skip
}

func (a *attrOp) beats(b *attrOp) bool {
	return cmp.Or(cmp.Compare(a.lamport, b.lamport), cmp.Compare(a.cs.id, b.cs.id), cmp.Compare(a.clock, b.clock)) > 0
}

// richUnit is a client's mark or attribute, kept by clock for encoding.
type richUnit struct {
	mark *markOp
	attr *attrOp
}

func (u richUnit) clock() uint64 {
	if u.mark != nil {
		return u.mark.clock
	}
	return u.attr.clock
}

// richText is the rich state of a Text root, made on its first rich unit.
type richText struct {
	lamport uint64                    // the largest lamport of its marks and attributes
	byName  map[string][]*markOp      // every mark operation, per name, in the total order
	nMarks  int                       // how many mark operations
	embeds  map[ID][]byte             // the JSON of every embed integrated (deleted ones too)
	attrs   map[ID]map[string]*attrOp // the winning attributes, per target and key
	index   *markIndex                // where the marks are (markindex.go); nil until a read
}

// rich returns t's rich state, making it if needed.
func (t *textRoot) richState() *richText {
	if t.rich == nil {
		t.rich = &richText{byName: make(map[string][]*markOp), embeds: make(map[ID][]byte),
			attrs: make(map[ID]map[string]*attrOp)}
	}
	return t.rich
}

// hasRich reports whether t holds a mark, an attribute or a visible embed,
// which makes a snapshot of its document a version 3 one.
func (t *textRoot) hasRich(d *Doc) bool {
	rt := t.rich
	if rt == nil {
		return false
	}
	if rt.nMarks > 0 || len(rt.attrs) > 0 {
		return true
	}
	for id := range rt.embeds {
		if it := d.findItem(id); it != nil && it.embed && !it.deleted {
			return true
		}
	}
	return false
}

// findItem returns the integrated item holding id, or nil.
func (d *Doc) findItem(id ID) *item {
	if cs := d.clients[id.Client]; cs != nil {
		return cs.items.find(id.Clock)
	}
	return nil
}

// addEmbed records the JSON of the embed item it (integrated as an embed).
func (t *textRoot) addEmbed(it *item, value []byte) {
	it.embed = true
	t.richState().embeds[it.id(0)] = value
}

// addMark integrates m into its root and records it in ch unless nil.
func (d *Doc) addMark(m *markOp, ch *changes) {
	rt := m.root.richState()
	ops := rt.byName[m.name]
	i := len(ops)
	for i > 0 && compareMarks(ops[i-1], m) > 0 {
		i--
	}
	rt.byName[m.name] = slices.Insert(ops, i, m)
	rt.nMarks++
	d.markAdded(m.root, m)
	rt.lamport = max(rt.lamport, m.lamport)
	m.cs.rich = append(m.cs.rich, richUnit{mark: m})
	if ch != nil {
		ch.rich = append(ch.rich, richChange{mark: m})
	}
}

// addAttr integrates a into its root and records it in ch unless nil.
func (d *Doc) addAttr(a *attrOp, ch *changes) {
	rt := a.root.richState()
	rt.lamport = max(rt.lamport, a.lamport)
	a.cs.rich = append(a.cs.rich, richUnit{attr: a})
	keys := rt.attrs[a.target]
	if keys == nil {
		keys = make(map[string]*attrOp)
		rt.attrs[a.target] = keys
	}
	if w := keys[a.key]; w != nil {
		if !a.beats(w) {
			a.lost, a.value = true, nil
			return
		}
		w.lost, w.value = true, nil
	}
	keys[a.key] = a
	if ch != nil {
		ch.rich = append(ch.rich, richChange{attr: a})
	}
}

// gap returns the gap an anchor designates in t's sequence (docs/crdt.md
// section 4.2): the index of the item after it, deleted items counted.
func (d *Doc) gap(t *textRoot, a anchor) int {
	switch a.kind {
	case RelStart:
		return 0
	case RelEnd:
		return t.root.tot
	}
	g := d.index(a.id)
	if a.kind == RelAfter {
		g++
	}
	return g
}

// visAt returns the number of visible items before index tot of t (deleted
// items counted in tot).
func (t *textRoot) visAt(tot int) int {
	if tot >= t.root.tot {
		return t.root.vis
	}
	vis := 0
	n := t.root
	for !n.leaf {
		for _, c := range n.children {
			if tot < c.tot {
				n = c
				break
			}
			tot -= c.tot
			vis += c.vis
		}
	}
	for _, x := range n.items {
		if tot < x.n {
			if !x.deleted {
				vis += tot
			}
			return vis
		}
		tot -= x.n
		vis += x.vis()
	}
	return vis
}

func validMarkName(name string) error {
	if len(name) == 0 || len(name) > MaxKeyBytes || !utf8.ValidString(name) {
		return fmt.Errorf("%w: mark name of %d bytes", ErrInvalidName, len(name))
	}
	return nil
}

// InsertEmbed inserts an embed holding value (valid JSON of at most
// MaxValueBytes, copied) at visible position pos. It takes one position and
// reads as U+FFFC in String. It fails like Insert, or with ErrInvalidJSON,
// and then changes nothing.
func (t *Text) InsertEmbed(pos int, value json.RawMessage) error {
	d := t.doc
	if err := validValue(value); err != nil {
		return err
	}
	r := t.resolve()
	if r == nil {
		if err := validName(t.name); err != nil {
			return err
		}
	}
	if pos < 0 || pos > t.Len() {
		return fmt.Errorf("%w: embed at %d in a text of %d", ErrOutOfRange, pos, t.Len())
	}
	r, _, err := t.beginInsert(r, string(objectReplacement))
	if err != nil {
		return err
	}
	var at, nx *item
	if pos > 0 {
		it, off, _ := r.findVis(pos - 1)
		at = it
		if off+1 < it.n {
			nx = r.split(it, off+1)
		} else {
			nx = next(it)
		}
	} else {
		nx = r.first()
	}
	d.insertEmbedBetween(r, at, nx, pos, slices.Clone([]byte(value)))
	return nil
}

// InsertEmbedAt inserts an embed holding value at the place of the sequence
// that p names, deleted items included, as InsertAt places text (docs/crdt.md
// section 1.7): an undo puts a deleted embed back where it was. It fails like
// InsertAt, or with ErrInvalidJSON, and then changes nothing.
func (t *Text) InsertEmbedAt(p RelPos, value json.RawMessage) error {
	if err := validValue(value); err != nil {
		return err
	}
	root, it, err := t.relItem(p)
	if err != nil {
		return err
	}
	root, _, err = t.beginInsert(root, string(objectReplacement))
	if err != nil {
		return err
	}
	at, nx, pos := root.gapAt(it, p)
	t.doc.insertEmbedBetween(root, at, nx, pos, slices.Clone([]byte(value)))
	return nil
}

// insertEmbedBetween inserts an embed of the document's client holding value
// between the adjacent runs at and nx (nil: the start, the end), at visible
// index pos. Unlike text, it never extends a run.
func (d *Doc) insertEmbedBetween(r *textRoot, at, nx *item, pos int, value []byte) {
	cs := d.own
	it := r.items.new()
	*it = item{cs: cs, clock: cs.next, n: 1, off: len(cs.content), nb: utf8.RuneLen(objectReplacement), root: r}
	if at != nil {
		it.left = at.last()
	}
	if nx != nil {
		it.right = nx.id(0)
	}
	cs.content = utf8.AppendRune(cs.content, objectReplacement)
	r.insertAfter(at, it)
	cs.items.push(it)
	cs.next++
	r.cur = cursor{it, pos}
	r.addEmbed(it, value)
}

// Format sets the mark name to value (valid JSON, copied) over the n visible
// positions from pos, or removes it there when value is nil. expand decides
// whether text typed later at either end gets the mark (docs/crdt.md
// section 4.2): ExpandAfter for bold and the like, ExpandNone for links and
// comments; a removal takes the expand of the mark it removes. n = 0 does
// nothing. It fails with ErrOutOfRange, ErrInvalidName (name not 1 to
// MaxKeyBytes of UTF-8), ErrInvalidJSON or ErrClockOverflow, and then changes
// nothing.
func (t *Text) Format(pos, n int, name string, value json.RawMessage, expand Expand) error {
	d := t.doc
	if err := validMarkName(name); err != nil {
		return err
	}
	if value != nil {
		if err := validValue(value); err != nil {
			return err
		}
	}
	l := t.Len()
	if pos < 0 || n < 0 || pos+n > l {
		return fmt.Errorf("%w: format %d+%d in a text of %d", ErrOutOfRange, pos, n, l)
	}
	if n == 0 {
		return nil
	}
	if d.own.next+1 > maxVarint {
		return ErrClockOverflow
	}
	r := t.resolve()
	at := func(p int) ID {
		it, off, _ := r.findVis(p)
		return it.id(off)
	}
	m := &markOp{cs: d.own, clock: d.own.next, root: r, name: name}
	switch {
	case expand&ExpandBefore == 0:
		m.start = anchor{RelBefore, at(pos)}
	case pos == 0:
		m.start = anchor{kind: RelStart}
	default:
		m.start = anchor{RelAfter, at(pos - 1)}
	}
	switch {
	case expand&ExpandAfter == 0:
		m.end = anchor{RelAfter, at(pos + n - 1)}
	case pos+n == l:
		m.end = anchor{kind: RelEnd}
	default:
		m.end = anchor{RelBefore, at(pos + n)}
	}
	if value != nil {
		m.value = slices.Clone([]byte(value))
	}
	m.lamport = 1
	if r.rich != nil {
		m.lamport = r.rich.lamport + 1
	}
	d.own.next++
	d.version++
	d.addMark(m, nil)
	return nil
}

// SetAttr assigns value (valid JSON, copied; null unsets by convention) to key
// of the embed at visible position pos. It fails with ErrOutOfRange,
// ErrNotEmbed, ErrInvalidName, ErrInvalidJSON or ErrClockOverflow, and then
// changes nothing.
func (t *Text) SetAttr(pos int, key string, value json.RawMessage) error {
	d := t.doc
	if err := validKey(key); err != nil {
		return err
	}
	if err := validValue(value); err != nil {
		return err
	}
	if pos < 0 || pos >= t.Len() {
		return fmt.Errorf("%w: attribute at %d in a text of %d", ErrOutOfRange, pos, t.Len())
	}
	r := t.resolve()
	it, off, _ := r.findVis(pos)
	if !it.embed {
		return fmt.Errorf("%w: position %d", ErrNotEmbed, pos)
	}
	if d.own.next+1 > maxVarint {
		return ErrClockOverflow
	}
	a := &attrOp{cs: d.own, clock: d.own.next, root: r, target: it.id(off), key: key,
		value: slices.Clone([]byte(value)), lamport: 1}
	if r.rich != nil {
		a.lamport = r.rich.lamport + 1
	}
	d.own.next++
	d.version++
	d.addAttr(a, nil)
	return nil
}

// integrateRich integrates a remote mark or attribute op of client cs.
func (d *Doc) integrateRich(cs *clientState, op *uop, ch *changes) {
	t := d.text(op.root)
	if t == nil {
		t = d.newTextRoot(op.root)
	}
	switch op.kind {
	case opMark:
		d.addMark(&markOp{cs: cs, clock: op.clock, root: t, start: anchor{op.sk, op.left},
			end: anchor{op.ek, op.right}, name: op.key, lamport: op.lamport, value: op.value}, ch)
	case opAttr:
		d.addAttr(&attrOp{cs: cs, clock: op.clock, root: t, target: op.left, key: op.key,
			lamport: op.lamport, value: op.value}, ch)
	}
}
