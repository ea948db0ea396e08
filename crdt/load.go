package crdt

import (
	"cmp"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// toUpdate turns a snapshot into an update with the same units, so that it
// merges into a document that is not empty: per client, the runs and
// assignments by clock with skips in the gaps, the deleted runs in the delete
// set, and the snapshot's pending units.
func (s *snapshot) toUpdate() *update {
	per := make(map[uint64][]uop)
	var dels []delRange
	// The ops' code points, decoded from the snapshot's text run by run.
	rs := make([]rune, 0, utf8.RuneCount(s.content))
	for _, t := range s.texts {
		for _, r := range t.runs {
			per[r.client] = append(per[r.client], uop{kind: opText, clock: r.clock, n: r.n, root: t.root,
				left: r.left, right: r.right, deleted: r.deleted})
			if !r.deleted {
				k := len(rs)
				for _, c := range string(s.content[r.off : r.off+r.nb]) {
					rs = append(rs, c)
				}
				per[r.client][len(per[r.client])-1].content = rs[k:len(rs):len(rs)]
			}
			if r.deleted {
				dels = append(dels, delRange{r.client, r.clock, r.n})
			}
		}
	}
	for _, a := range s.asgs {
		per[a.client] = append(per[a.client], uop{kind: opMap, clock: a.clock, n: 1, root: a.root,
			key: a.key, lamport: a.lamport, value: a.value})
	}
	if s.rich != nil {
		s.rich.addOps(per)
	}
	u := &update{}
	for _, c := range s.sv.sortedClients() {
		ops := per[c]
		slices.SortFunc(ops, func(a, b uop) int { return cmp.Compare(a.clock, b.clock) })
		var out []uop
		var clock uint64
		for _, op := range ops {
			if op.clock > clock {
				out = append(out, uop{kind: opSkip, clock: clock, n: op.clock - clock})
			}
			out = append(out, op)
			clock = op.end()
		}
		if end := s.sv[c]; end > clock {
			out = append(out, uop{kind: opSkip, clock: clock, n: end - clock})
		}
		u.blocks = append(u.blocks, block{client: c, ops: out})
	}
	if p := s.pending; p != nil {
		u.blocks = append(u.blocks, p.blocks...)
		dels = append(dels, p.dels...)
		// Keep blocks ascending by client, then clock (unitAt relies on it).
		slices.SortStableFunc(u.blocks, func(a, b block) int {
			return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.start(), b.start()))
		})
	}
	u.dels = normalizeDels(dels)
	return u
}

// loadSnapshot builds the snapshot into the empty document d in one linear
// pass: runs straight into B-tree leaves, client indexes sorted once. The
// snapshot's pending units then go through Apply's usual path. d is replaced
// only if everything succeeds.
func (d *Doc) loadSnapshot(s *snapshot, bounded bool) ([]Change, error) {
	n := &Doc{client: d.client, cfg: d.cfg, clients: make(map[uint64]*clientState, len(s.sv)),
		texts: make(map[string]*textRoot, len(s.texts)), maps: make(map[string]*mapRoot)}
	n.own = n.clientState(d.client)
	n.items = &itemSlab{}
	n.gen = d.gen + 1
	var ch changes
	// Every client with text shares the snapshot's content buffer (capped, so
	// that a client's first append copies it): no text is copied here.
	content := s.content[:len(s.content):len(s.content)]
	items := make([][]item, len(s.texts)) // one allocation for the runs of a root
	for ti, st := range s.texts {
		t := &textRoot{name: st.root, items: n.items}
		n.texts[st.root] = t
		its := make([]item, len(st.runs))
		items[ti] = its
		leaves := make([]*node, 0, len(st.runs)/bulkLeaf+1)
		lo, hi := len(content), 0
		for i, r := range st.runs {
			cs := n.clientState(r.client)
			it := &its[i]
			*it = item{cs: cs, clock: r.clock, n: int(r.n), left: r.left, right: r.right, root: t, deleted: r.deleted}
			if !r.deleted {
				it.off, it.nb = r.off, r.nb
				cs.content = content
				lo, hi = min(lo, r.off), max(hi, r.off+r.nb)
			}
			if i%bulkLeaf == 0 {
				leaves = append(leaves, &node{leaf: true, items: make([]*item, 0, leafMax+1)})
			}
			l := leaves[len(leaves)-1]
			l.items = append(l.items, it)
			it.leaf = l
			l.tot += it.n
			l.vis += it.vis()
		}
		t.build(leaves)
		if hi > lo {
			ch.insText(t.name, 0, frozenString(st.text))
		}
	}
	for _, c := range s.claims {
		if c.ti >= 0 {
			it := &items[c.ti][c.ri]
			it.cs.items.push(it)
		}
	}
	for _, a := range s.asgs {
		m := n.mapRoot(a.root, true)
		x := &assign{cs: n.clientState(a.client), clock: a.clock, root: m, key: a.key, lamport: a.lamport, value: a.value}
		x.cs.asgs = append(x.cs.asgs, x)
		m.entries[a.key] = x
		if a.value != nil {
			ch.key(m.name, a.key)
		}
	}
	if s.rich != nil {
		n.loadRich(s.rich, &ch)
	}
	for c, k := range s.sv {
		n.clientState(c).next = k
	}
	if s.pending != nil {
		var pch changes
		more, err := n.applyUpdate(s.pending, &pch, bounded)
		if err != nil {
			return nil, err
		}
		for _, c := range more {
			for _, e := range c.Edits {
				if e.Insert != "" {
					ch.ins(c.Root, e.Pos, []rune(e.Insert))
				}
				if e.Delete > 0 {
					ch.del(c.Root, e.Pos, e.Delete)
				}
			}
			for _, k := range c.Keys {
				ch.key(c.Root, k)
			}
			if len(c.Formats)+len(c.Attrs) > 0 {
				x := ch.get(c.Root, c.Kind)
				x.Formats = append(x.Formats, c.Formats...)
				x.Attrs = append(x.Attrs, c.Attrs...)
			}
		}
	}
	n.taken = n.own.next
	n.localDel = d.localDel
	n.version = d.version + 1
	*d = *n
	d.richChanges(&ch)
	return ch.list(), nil
}

// frozenString returns the bytes b as a string without copying them. b must
// never be written again: it is a decoded snapshot's text, which the
// document's content buffers share, and content buffers are append-only (the
// shared one capped at its length besides, so that a client's append copies
// it). A large document's load would otherwise copy its whole text once more,
// only for the change list.
func frozenString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// bulkLeaf is how full a snapshot load packs leaves: room is left for edits.
const bulkLeaf = leafMax * 3 / 4

// build makes the tree from its leaves, in order, bottom-up.
func (t *textRoot) build(leaves []*node) {
	for i, l := range leaves {
		if i > 0 {
			l.prev = leaves[i-1]
			leaves[i-1].next = l
		}
	}
	t.firstLeaf, t.lastLeaf = leaves[0], leaves[len(leaves)-1]
	level := leaves
	for len(level) > 1 {
		var up []*node
		for i, c := range level {
			if i%bulkLeaf == 0 {
				up = append(up, &node{children: make([]*node, 0, innerMax+1)})
			}
			p := up[len(up)-1]
			p.children = append(p.children, c)
			c.parent = p
			p.vis += c.vis
			p.tot += c.tot
		}
		level = up
	}
	t.root = level[0]
}
