package crdt

import (
	"cmp"
	"slices"
	"unicode/utf8"
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
func (d *Doc) appendRich(b []byte, roots []rootKey, nClients int, ci func(uint64) uint64) []byte {
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
	multi := nClients > 1
	// Embeds: their values as a table, then per embed its client (run-length),
	// clock (a delta) and value.
	values := newStrTable()
	for _, e := range embeds {
		values.add(string(e.value))
	}
	b = values.append(b)
	b = appendUv(b, uint64(len(embeds)))
	b = appendClientRuns(b, len(embeds), func(i int) uint64 { return ci(embeds[i].id.Client) })
	for i, e := range embeds {
		b = appendUv(b, e.id.Clock-nextClock(i, func(k int) ID { return embeds[k].id }))
		b = appendUv(b, values.index(string(e.value)))
	}
	// Marks: the tables of names and values, then per mark its client
	// (run-length), clock (a delta), kinds, root, name, value, lamport (a
	// delta) and anchors (clock deltas from the mark's own).
	names, mvals := newStrTable(), newStrTable()
	for _, m := range marks {
		names.add(m.name)
		if m.value != nil {
			mvals.add(string(m.value))
		}
	}
	b = names.append(b)
	b = mvals.append(b)
	b = appendUv(b, uint64(len(marks)))
	b = appendClientRuns(b, len(marks), func(i int) uint64 { return ci(marks[i].cs.id) })
	var lamport uint64
	for i, m := range marks {
		b = appendUv(b, m.clock-nextClock(i, func(k int) ID { return ID{marks[k].cs.id, marks[k].clock} }))
		head := byte(m.start.kind)<<1 | byte(m.end.kind)<<3
		if m.value == nil {
			head |= 1
		}
		b = append(b, head)
		b = appendUv(b, ri(m.root.name))
		b = appendUv(b, names.index(m.name))
		if m.value != nil {
			b = appendUv(b, mvals.index(string(m.value)))
		}
		b = appendSv(b, int64(m.lamport)-int64(lamport))
		lamport = m.lamport
		for _, a := range [2]anchor{m.start, m.end} {
			if a.kind == RelBefore || a.kind == RelAfter {
				if multi {
					b = appendUv(b, ci(a.id.Client))
				}
				b = appendSv(b, int64(a.id.Clock)-int64(m.clock))
			}
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
	evals := decodeStrTable(r, MaxValueBytes, true)
	used := make([]bool, len(evals))
	n := r.count(2)
	eclients := decodeClientRuns(t, n)
	for i := 0; i < n && r.err == nil; i++ {
		e := snapEmbed{id: ID{Client: eclients[i]}}
		var prev ID
		if i > 0 {
			prev = sr.embeds[i-1].id
		}
		e.id.Clock = r.uv()
		if i > 0 && prev.Client == e.id.Client {
			e.id.Clock += prev.Clock + 1
		}
		k := r.uv()
		switch {
		case r.err != nil:
		case k >= uint64(len(evals)):
			r.fail("embed value %d out of range", k)
		case e.id.Clock >= s.sv[e.id.Client]:
			r.fail("embed (%d,%d) beyond the state vector", e.id.Client, e.id.Clock)
		}
		if r.err != nil {
			break
		}
		used[k] = true
		e.value = []byte(evals[k])
		sr.embeds = append(sr.embeds, e)
	}
	if r.err == nil && slices.Contains(used, false) {
		r.fail("embed value in the table not used")
	}
	addClaim := func(client, clock uint64, i int) {
		if r.err == nil && clock >= s.sv[client] {
			r.fail("unit (%d,%d) beyond the state vector", client, clock)
		}
		ci, _ := slices.BinarySearch(t.clients, client)
		s.claims = append(s.claims, claim{client, clock, 1, int32(ci), -1, int32(i)})
	}
	names := decodeStrTable(r, MaxKeyBytes, false)
	mvals := decodeStrTable(r, MaxValueBytes, true)
	usedN, usedV := make([]bool, len(names)), make([]bool, len(mvals))
	n = r.count(6)
	mclients := decodeClientRuns(t, n)
	multi := len(t.clients) > 1
	var lamport int64
	for i := 0; i < n && r.err == nil; i++ {
		m := snapMark{client: mclients[i], clock: r.uv()}
		if i > 0 && sr.marks[i-1].client == m.client {
			m.clock += sr.marks[i-1].clock + 1
		}
		head := r.byte1()
		m.start.kind, m.end.kind = RelPosKind(head>>1&3), RelPosKind(head>>3&3)
		m.root = t.root(KindText)
		ni := r.uv()
		if r.err == nil && ni < uint64(len(names)) {
			m.name = names[ni]
			usedN[ni] = true
		} else if r.err == nil {
			r.fail("mark name %d out of range", ni)
		}
		if r.err == nil && head&1 == 0 {
			if vi := r.uv(); r.err == nil && vi < uint64(len(mvals)) {
				m.value = []byte(mvals[vi])
				usedV[vi] = true
			} else if r.err == nil {
				r.fail("mark value %d out of range", vi)
			}
		}
		lamport += r.sv()
		m.lamport = uint64(lamport)
		for _, a := range [2]*anchor{&m.start, &m.end} {
			if a.kind != RelBefore && a.kind != RelAfter {
				continue
			}
			a.id.Client = m.client
			if multi {
				a.id.Client = t.client()
			}
			c := int64(m.clock) + r.sv()
			if r.err == nil && (c < 0 || c > maxVarint) {
				r.fail("anchor clock %d", c)
			}
			a.id.Clock = uint64(c)
		}
		switch {
		case r.err != nil:
		case head>>5 != 0:
			r.fail("mark head 0x%02x", head)
		case m.start.kind == RelEnd || m.end.kind == RelStart:
			r.fail("mark from %d to %d", m.start.kind, m.end.kind)
		case m.name == "":
			r.fail("empty mark name")
		case lamport < 1 || lamport > maxVarint:
			r.fail("lamport %d", lamport)
		}
		addClaim(m.client, m.clock, i)
		sr.marks = append(sr.marks, m)
	}
	if r.err == nil && (slices.Contains(usedN, false) || slices.Contains(usedV, false)) {
		r.fail("mark name or value in the table not used")
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
		if r.err == nil && i > 0 && !after(ID{a.client, a.clock}, ID{sr.attrs[i-1].client, sr.attrs[i-1].clock}) {
			r.fail("attributes not ascending")
		}
		addClaim(a.client, a.clock, i)
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
		if !ok || rn.deleted || !holdsObject(s.content[rn.off:rn.off+rn.nb], int(e.id.Clock-rn.clock)) {
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

// nextClock returns the clock expected of unit i of a list ascending by
// client and clock (ids gives the IDs): the previous unit's clock plus one
// when it is of the same client, else 0.
func nextClock(i int, ids func(int) ID) uint64 {
	if i > 0 {
		if p, c := ids(i-1), ids(i); p.Client == c.Client {
			return p.Clock + 1
		}
	}
	return 0
}

// appendClientRuns writes the client indexes of n units as pairs (uv ci,
// uv count), consecutive pairs with different indexes.
func appendClientRuns(b []byte, n int, ci func(int) uint64) []byte {
	for i := 0; i < n; {
		j := i + 1
		for j < n && ci(j) == ci(i) {
			j++
		}
		b = appendUv(appendUv(b, ci(i)), uint64(j-i))
		i = j
	}
	return b
}

// decodeClientRuns reads the client of each of n units (appendClientRuns).
func decodeClientRuns(t *tables, n int) []uint64 {
	r := t.r
	out := make([]uint64, 0, n)
	for len(out) < n && r.err == nil {
		c := t.client()
		k := r.uv()
		switch {
		case r.err != nil:
		case k == 0 || k > uint64(n-len(out)):
			r.fail("unit client count %d", k)
		case len(out) > 0 && out[len(out)-1] >= c:
			r.fail("unit clients not ascending or not merged")
		}
		for j := uint64(0); j < k && r.err == nil; j++ {
			out = append(out, c)
		}
	}
	return out
}

// strTable is a table of distinct strings, written ascending by bytes.
type strTable struct {
	idx  map[string]uint64
	list []string
}

func newStrTable() *strTable { return &strTable{idx: make(map[string]uint64)} }

func (st *strTable) add(v string) {
	if _, ok := st.idx[v]; !ok {
		st.idx[v] = 0
		st.list = append(st.list, v)
	}
}

func (st *strTable) index(v string) uint64 { return st.idx[v] }

// append sorts the table, numbers its entries and writes it: uv n, n × str.
func (st *strTable) append(b []byte) []byte {
	slices.Sort(st.list)
	b = appendUv(b, uint64(len(st.list)))
	for i, v := range st.list {
		st.idx[v] = uint64(i)
		b = appendStr(b, v)
	}
	return b
}

// decodeStrTable reads a table of strings of at most max bytes, strictly
// ascending; json: each must be a JSON value.
func decodeStrTable(r *reader, max int, json bool) []string {
	n := r.count(1)
	out := make([]string, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		var v string
		if json {
			v = string(decodeValue(r))
		} else {
			v = r.str(max)
		}
		if r.err == nil && i > 0 && v <= out[i-1] {
			r.fail("table not ascending")
		}
		out = append(out, v)
	}
	return out
}

// holdsObject reports whether code point k of the valid UTF-8 text b is
// U+FFFC, the code point an embed reads as.
func holdsObject(b []byte, k int) bool {
	r, _ := utf8.DecodeRune(b[utf8Off(b, k):])
	return r == objectReplacement
}
