package crdt

import "slices"

// ops appends to out the canonical ops of client cs for the clocks
// [from, cs.next): text runs (split pieces merged back), embeds, winning map
// assignments, marks, winning attributes, and skips for the rest. A visible
// text run's content is in its op's value, as UTF-8 (see uop): these ops are
// for encoding only.
func (cs *clientState) ops(from uint64, out []uop) []uop {
	if len(cs.rich) > 0 {
		return cs.richOps(from, out)
	}
	clock := from
	ai, _ := slices.BinarySearchFunc(cs.asgs, from, func(a *assign, c uint64) int {
		if a.clock < c {
			return -1
		}
		if a.clock > c {
			return 1
		}
		return 0
	})
	emitAsgsBefore := func(limit uint64) {
		for ; ai < len(cs.asgs) && cs.asgs[ai].clock < limit; ai++ {
			a := cs.asgs[ai]
			if a.lost {
				continue
			}
			if a.clock > clock {
				out = appendOp(cs.id, out, uop{kind: opSkip, clock: clock, n: a.clock - clock})
			}
			out = appendOp(cs.id, out, uop{kind: opMap, clock: a.clock, n: 1, root: a.root.name, key: a.key, lamport: a.lamport, value: a.value})
			clock = a.clock + 1
		}
	}
	cs.items.each(from, func(it *item) bool {
		emitAsgsBefore(it.clock)
		if it.clock > clock {
			out = appendOp(cs.id, out, uop{kind: opSkip, clock: clock, n: it.clock - clock})
			clock = it.clock
		}
		// The run may start before from: then only its tail is sent.
		out = appendOp(cs.id, out, cs.runOp(it, clock))
		clock = it.end()
		return true
	})
	emitAsgsBefore(cs.next)
	if cs.next > clock {
		out = appendOp(cs.id, out, uop{kind: opSkip, clock: clock, n: cs.next - clock})
	}
	return out
}

// runOp returns the op that sends run it from clock from on: the whole run when it starts at
// from or later, else only its tail (trimOp for a run of the document).
func (cs *clientState) runOp(it *item, from uint64) uop {
	op := uop{kind: opText, clock: it.clock, n: uint64(it.n), root: it.root.name, left: it.left, right: it.right, deleted: it.deleted}
	if from > it.clock {
		k := from - it.clock
		op.left = ID{cs.id, from - 1}
		op.clock, op.n = from, op.n-k
		if !it.deleted {
			op.value = it.text()[it.byteOff(int(k)):]
		}
	} else if it.embed && !it.deleted {
		op.content = []rune{objectReplacement}
		op.embed = it.root.rich.embeds[it.id(0)]
	} else if !it.deleted {
		op.value = it.text()
	}
	return op
}

// deleteSet returns the whole delete set: per client, the ranges of deleted
// text clocks, merged.
func (d *Doc) deleteSet() []delRange {
	clients := make([]uint64, 0, len(d.clients))
	for c := range d.clients {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	var ds []delRange
	for _, c := range clients {
		d.clients[c].items.each(0, func(it *item) bool {
			if !it.deleted {
				return true
			}
			if k := len(ds); k > 0 && ds[k-1].client == c && ds[k-1].clock+ds[k-1].n == it.clock {
				ds[k-1].n += uint64(it.n)
			} else {
				ds = append(ds, delRange{c, it.clock, uint64(it.n)})
			}
			return true
		})
	}
	return ds
}

// EncodeUpdate returns an update (0x01) holding what a peer with state vector
// since lacks: for every client, the units from since[client] on, and the
// whole delete set (a peer may lack any deletion). EncodeUpdate(nil) encodes
// everything. Pending units are not included: see PendingUpdate.
func (d *Doc) EncodeUpdate(since StateVector) []byte {
	u := &update{dels: d.deleteSet()}
	clients := make([]uint64, 0, len(d.clients))
	for c, cs := range d.clients {
		if cs.next > since[c] {
			clients = append(clients, c)
		}
	}
	slices.Sort(clients)
	for _, c := range clients {
		u.blocks = append(u.blocks, block{client: c, ops: d.clients[c].ops(since[c], nil)})
	}
	return encodeUpdate(u)
}

// PendingUpdate returns the units and delete ranges that wait for their
// dependencies, as an update (0x01) a peer can apply (they wait there too until
// the dependencies arrive), or nil when nothing waits. A replica that answers
// others' state vectors sends it after EncodeUpdate's answer: a peer that has
// not received these units by then would not receive them once their
// dependencies arrive, because what is then passed on is the update that
// carries the dependencies, not the units it released.
func (d *Doc) PendingUpdate() []byte {
	if d.pending.empty() {
		return nil
	}
	return encodeUpdate(d.pending.toUpdate())
}

// TakeUpdate returns the local changes since the previous call, as an update
// (0x01) to store and broadcast, or nil if there are none. The update holds one
// block, the units this replica created since the previous call (encoded as
// EncodeUpdate encodes them now), and a delete set of exactly the items deleted
// by local edits since the previous call.
func (d *Doc) TakeUpdate() []byte {
	if d.taken >= d.own.next && len(d.localDel) == 0 {
		return nil
	}
	u := &update{dels: normalizeDels(d.localDel)}
	if d.taken < d.own.next {
		u.blocks = []block{{client: d.client, ops: d.own.ops(d.taken, nil)}}
	}
	d.taken, d.localDel = d.own.next, nil
	return encodeUpdate(u)
}
