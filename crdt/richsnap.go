package crdt

import (
	"cmp"
	"slices"
)

// The rich section of a version 3 snapshot (0x06, docs/crdt.md section 4.6):
// the visible embeds by ID, every mark, the winning attributes.

// formatSnapshot3 is a snapshot in format version 3: a version 2 body and
// the rich section.
const formatSnapshot3 = 0x06

type snapEmbed struct {
	id    ID
	value []byte
}

type snapMark struct {
	client, clock uint64
	root          string
	start, end    anchor
	name          string
	lamport       uint64
	value         []byte // nil: remove
}

type snapAttr struct {
	client, clock uint64
	root          string
	target        ID
	key           string
	lamport       uint64
	value         []byte
}

type snapRich struct {
	embeds []snapEmbed
	marks  []snapMark
	attrs  []snapAttr
}

// hasRich reports whether a snapshot of d is a version 3 one.
func (d *Doc) hasRich() bool {
	for _, t := range d.texts {
		if t.hasRich(d) {
			return true
		}
	}
	return false
}

// appendRich writes the rich section of d; roots is the roots table.
func (d *Doc) appendRich(b []byte, roots []rootKey, ci func(uint64) uint64) []byte {
	ri := func(name string) uint64 {
		i, _ := slices.BinarySearchFunc(roots, rootKey{KindText, name}, compareRootKeys)
		return uint64(i)
	}
	byID := func(a, b ID) int { return cmp.Or(cmp.Compare(a.Client, b.Client), cmp.Compare(a.Clock, b.Clock)) }
	var embeds []snapEmbed
	var marks []*markOp
	var attrs []*attrOp
	for _, t := range d.texts {
		rt := t.rich
		if rt == nil {
			continue
		}
		for id, v := range rt.embeds {
			if it := d.findItem(id); it != nil && it.embed && !it.deleted {
				embeds = append(embeds, snapEmbed{id, v})
			}
		}
		for _, ops := range rt.byName {
			marks = append(marks, ops...)
		}
		for _, keys := range rt.attrs {
			for _, a := range keys {
				attrs = append(attrs, a)
			}
		}
	}
	slices.SortFunc(embeds, func(a, b snapEmbed) int { return byID(a.id, b.id) })
	slices.SortFunc(marks, func(a, b *markOp) int { return byID(ID{a.cs.id, a.clock}, ID{b.cs.id, b.clock}) })
	slices.SortFunc(attrs, func(a, b *attrOp) int { return byID(ID{a.cs.id, a.clock}, ID{b.cs.id, b.clock}) })
	b = appendUv(b, uint64(len(embeds)))
	for _, e := range embeds {
		b = appendUv(appendUv(b, ci(e.id.Client)), e.id.Clock)
		b = appendUv(b, uint64(len(e.value)))
		b = append(b, e.value...)
	}
	b = appendUv(b, uint64(len(marks)))
	for _, m := range marks {
		b = appendUv(appendUv(b, ci(m.cs.id)), m.clock)
		if m.value == nil {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = appendUv(b, ri(m.root.name))
		b = appendAnchor(b, m.start.kind, m.start.id, ci)
		b = appendAnchor(b, m.end.kind, m.end.id, ci)
		b = appendStr(b, m.name)
		b = appendUv(b, m.lamport)
		if m.value != nil {
			b = appendUv(b, uint64(len(m.value)))
			b = append(b, m.value...)
		}
	}
	b = appendUv(b, uint64(len(attrs)))
	for _, a := range attrs {
		b = appendUv(appendUv(b, ci(a.cs.id)), a.clock)
		b = appendUv(b, ri(a.root.name))
		b = appendUv(appendUv(b, ci(a.target.Client)), a.target.Clock)
		b = appendStr(b, a.key)
		b = appendUv(b, a.lamport)
		b = appendUv(b, uint64(len(a.value)))
		b = append(b, a.value...)
	}
	return b
}

// decodeRich reads the rich section of a version 3 snapshot into s, adding
// the clocks of marks and attributes to s.claims. The references are checked
// by checkRich once the claims are sorted.
func decodeRich(t *tables, s *snapshot) *snapRich {
	r := t.r
	sr := &snapRich{}
	after := func(a, b ID) bool { return a.Client > b.Client || (a.Client == b.Client && a.Clock > b.Clock) }
	n := r.count(3)
	for i := 0; i < n && r.err == nil; i++ {
		e := snapEmbed{id: t.id()}
		e.value = decodeValue(r)
		if r.err == nil && i > 0 && !after(e.id, sr.embeds[i-1].id) {
			r.fail("embeds not ascending")
		}
		sr.embeds = append(sr.embeds, e)
	}
	addClaim := func(client, clock uint64, prev ID, i int) {
		switch {
		case r.err != nil:
		case clock >= s.sv[client]:
			r.fail("unit (%d,%d) beyond the state vector", client, clock)
		case i > 0 && !after(ID{client, clock}, prev):
			r.fail("rich units not ascending")
		}
		ci, _ := slices.BinarySearch(t.clients, client)
		s.claims = append(s.claims, claim{client, clock, 1, int32(ci), -1, int32(i)})
	}
	n = r.count(6)
	for i := 0; i < n && r.err == nil; i++ {
		m := snapMark{client: t.client(), clock: r.uv()}
		tag := r.byte1()
		m.root = t.root(KindText)
		m.start.kind, m.start.id = decodeAnchor(t)
		m.end.kind, m.end.id = decodeAnchor(t)
		m.name = r.str(MaxKeyBytes)
		m.lamport = r.uv()
		if r.err == nil && tag&1 == 0 {
			m.value = decodeValue(r)
		}
		switch {
		case r.err != nil:
		case tag > 1:
			r.fail("mark tag 0x%02x", tag)
		case m.start.kind == RelEnd || m.end.kind == RelStart:
			r.fail("mark from %d to %d", m.start.kind, m.end.kind)
		case m.name == "":
			r.fail("empty mark name")
		case m.lamport == 0:
			r.fail("lamport 0")
		}
		var prev ID
		if i > 0 {
			prev = ID{sr.marks[i-1].client, sr.marks[i-1].clock}
		}
		addClaim(m.client, m.clock, prev, i)
		sr.marks = append(sr.marks, m)
	}
	n = r.count(6)
	type tk struct {
		target ID
		key    string
	}
	seen := make(map[tk]bool)
	for i := 0; i < n && r.err == nil; i++ {
		a := snapAttr{client: t.client(), clock: r.uv()}
		a.root = t.root(KindText)
		a.target = t.id()
		a.key = r.str(MaxKeyBytes)
		a.lamport = r.uv()
		a.value = decodeValue(r)
		switch {
		case r.err != nil:
		case a.lamport == 0:
			r.fail("lamport 0")
		case seen[tk{a.target, a.key}]:
			r.fail("two attributes of key %q on (%d,%d)", a.key, a.target.Client, a.target.Clock)
		}
		seen[tk{a.target, a.key}] = true
		var prev ID
		if i > 0 {
			prev = ID{sr.attrs[i-1].client, sr.attrs[i-1].clock}
		}
		addClaim(a.client, a.clock, prev, i)
		sr.attrs = append(sr.attrs, a)
	}
	if r.err == nil && len(sr.embeds)+len(sr.marks)+len(sr.attrs) == 0 {
		r.fail("version 3 snapshot without rich units")
	}
	return sr
}

// checkRich checks that the embeds of s name visible items holding U+FFFC,
// and that anchors and targets name items of their root. starts indexes
// s.claims (sorted) by client index.
func (s *snapshot) checkRich(r *reader, clients []uint64, starts []int) bool {
	// run finds the text run holding id: its text and run index.
	run := func(id ID) (ti int, run *snapRun, ok bool) {
		ci, found := slices.BinarySearch(clients, id.Client)
		if !found {
			return 0, nil, false
		}
		cl := s.claims[starts[ci]:starts[ci+1]]
		k, _ := slices.BinarySearchFunc(cl, id.Clock, func(c claim, clock uint64) int {
			if c.clock+c.n <= clock {
				return -1
			}
			if c.clock > clock {
				return 1
			}
			return 0
		})
		if k == len(cl) || cl[k].clock > id.Clock || cl[k].ti < 0 {
			return 0, nil, false
		}
		return int(cl[k].ti), &s.texts[cl[k].ti].runs[cl[k].ri], true
	}
	itemOf := func(id ID, root string) bool {
		ti, _, ok := run(id)
		return ok && s.texts[ti].root == root
	}
	for _, e := range s.rich.embeds {
		_, rn, ok := run(e.id)
		if !ok || rn.deleted || s.content[rn.off+int(e.id.Clock-rn.clock)] != objectReplacement {
			r.fail("embed (%d,%d) is not a visible item holding U+FFFC", e.id.Client, e.id.Clock)
			return false
		}
	}
	for _, m := range s.rich.marks {
		for _, a := range [2]anchor{m.start, m.end} {
			if (a.kind == RelBefore || a.kind == RelAfter) && !itemOf(a.id, m.root) {
				r.fail("anchor (%d,%d) is not an item of %q", a.id.Client, a.id.Clock, m.root)
				return false
			}
		}
	}
	for _, a := range s.rich.attrs {
		if !itemOf(a.target, a.root) {
			r.fail("target (%d,%d) is not an item of %q", a.target.Client, a.target.Clock, a.root)
			return false
		}
	}
	return true
}

// loadRich builds the rich section into n, whose text runs are built, and
// records the marks and attributes in ch.
func (n *Doc) loadRich(sr *snapRich, ch *changes) {
	for _, e := range sr.embeds {
		it := n.findItem(e.id)
		t := it.root
		if k := int(e.id.Clock - it.clock); k > 0 {
			it = t.split(it, k)
		}
		if it.n > 1 {
			t.split(it, 1)
		}
		t.addEmbed(it, e.value)
	}
	root := func(name string) *textRoot {
		if t := n.texts[name]; t != nil {
			return t
		}
		return n.newTextRoot(name)
	}
	for _, m := range sr.marks {
		n.addMark(&markOp{cs: n.clientState(m.client), clock: m.clock, root: root(m.root), start: m.start,
			end: m.end, name: m.name, lamport: m.lamport, value: m.value}, ch)
	}
	for _, a := range sr.attrs {
		n.addAttr(&attrOp{cs: n.clientState(a.client), clock: a.clock, root: root(a.root), target: a.target,
			key: a.key, lamport: a.lamport, value: a.value}, ch)
	}
	for _, cs := range n.clients {
		slices.SortFunc(cs.rich, func(a, b richUnit) int { return cmp.Compare(a.clock(), b.clock()) })
	}
}

// addOps adds the rich units of the snapshot to per (a client's ops, as
// snapshot.toUpdate gathers them), cutting the text runs around the embeds.
func (sr *snapRich) addOps(per map[uint64][]uop) {
	embeds := make(map[uint64][]snapEmbed)
	for _, e := range sr.embeds {
		embeds[e.id.Client] = append(embeds[e.id.Client], e)
	}
	for c, es := range embeds {
		var out []uop
		for _, op := range per[c] {
			if op.kind != opText || op.deleted {
				out = append(out, op)
				continue
			}
			k, _ := slices.BinarySearchFunc(es, op.clock, func(e snapEmbed, clock uint64) int { return cmp.Compare(e.id.Clock, clock) })
			for ; k < len(es) && es[k].id.Clock < op.end(); k++ {
				e := es[k]
				if e.id.Clock > op.clock {
					head := cutOp(op, e.id.Clock)
					out = append(out, head)
					op = trimOp(c, op, e.id.Clock)
				}
				one := cutOp(op, op.clock+1)
				one.embed = e.value
				out = append(out, one)
				if op.n == 1 {
					op.n = 0
					break
				}
				op = trimOp(c, op, op.clock+1)
			}
			if op.n > 0 {
				out = append(out, op)
			}
		}
		per[c] = out
	}
	for _, m := range sr.marks {
		per[m.client] = append(per[m.client], uop{kind: opMark, clock: m.clock, n: 1, root: m.root, left: m.start.id,
			right: m.end.id, sk: m.start.kind, ek: m.end.kind, key: m.name, lamport: m.lamport, value: m.value})
	}
	for _, a := range sr.attrs {
		per[a.client] = append(per[a.client], uop{kind: opAttr, clock: a.clock, n: 1, root: a.root, left: a.target,
			key: a.key, lamport: a.lamport, value: a.value})
	}
}
