package crdt

import (
	"math"
	"slices"
)

// park puts the ops of u into the pending set when that is all that applying
// u does, and reports whether it did; when it did not, nothing changed and u
// takes the general path (plan, execute). Most updates that arrive out of
// order are of that kind: one client's op, or a short run of them, above
// that client's clock, naming no delete range (or delete ranges only: see
// parkDels). A plan exists so that a
// refused update leaves the pending set as it was, and pays for that on
// every update (a queue, its walk, the undo logs, the maps tally ranges
// over, install and release); parking such an update costs its insert and
// O(1) for the totals.
//
// The result is the general path's, to the byte: the same trees (the ops
// are put in the same order through the same opTx), totals, size kept,
// bytes held and version, and the same refusals (an update that might be
// refused is left to plan). What makes it exact:
//   - u's blocks are one client's, that has ops waiting already (the first
//     of a client is planned), and start above its clock: nothing of u can
//     be integrated, so no clock moves, no waiting client is woken, and
//     what the client's first op waits for stays (the pending ops of a
//     client other than the document's own are integrated up to the first
//     that waits: see plan);
//   - the document's own client has no pending ops (a plan would drop those
//     that local edits made known), so u's client is another;
//   - the exact size is not kept, and either the upper bound after u stays
//     under MaxPendingBytes with no slack bound kept (the plan would keep
//     the upper bound alone), or a slack bound is kept, the upper bound
//     after u passes the limit and the slack bound after u does not (the
//     plan would keep the slack bound, grown by what u's ops add to the
//     upper bound);
//   - no op of u overlaps a pending op of the client (each is put only if
//     it overlaps none: see opTx.insertFree);
//   - the bytes held after u are within MaxPendingMemory, or not above
//     those held before.
//
// Which of the last two holds is known once the ops are in: when one does
// not, the opTx's log puts the trees back, and u takes the general path.
// An update of one op that the memory budget cannot refuse, the most
// common, is put unlogged: an op that overlaps a pending one changes
// nothing (opTx.insertFree), and the bytes it may add are bounded before
// (opNode.putHeldBound).
func (d *Doc) park(u *update) bool {
	pd := &d.pending
	if len(u.blocks) == 0 && len(u.dels) > 0 && !d.noPark {
		return d.parkDels(u)
	}
	if len(u.dels) > 0 || len(u.blocks) == 0 || pd.ops[u.blocks[0].client] == nil || d.noPark {
		// Only a client with ops waiting is looked at further (Apply calls
		// park only when something waits: an update in order pays none of
		// this).
		return false
	}
	c := u.blocks[0].client
	if pd.ops[d.client] != nil || pd.ex.on || pd.ex.refs != nil {
		return false
	}
	next := d.clock(c)
	for i := range u.blocks {
		if b := &u.blocks[i]; b.client != c || b.start() <= next {
			return false
		}
	}
	ub, sb := pd.ub, pd.sb
	for i := range u.blocks {
		for j := range u.blocks[i].ops {
			bytes, indices := ub.add(c, &u.blocks[i].ops[j], 1)
			sb.bytes, sb.indices = sb.bytes+bytes, sb.indices+indices
		}
	}
	if !d.boundsKept(&ub, &sb, len(pd.dels), pd.delBytes) {
		return false
	}
	pd.gen++
	x := &d.scratch.p.tx
	x.begin(pd.gen)
	orig := pd.ops[c]
	m := d.cfg.MaxPendingMemory
	// One op that the memory budget cannot refuse is put unlogged: either
	// it overlaps a pending op and nothing changes, or it is in for good.
	x.direct = len(u.blocks) == 1 && len(u.blocks[0].ops) == 1 &&
		(m <= 0 || pd.held+opHeld(&u.blocks[0].ops[0])+orig.putHeldBound() <= m)
	t, held := orig, 0
	for i := range u.blocks {
		for j := range u.blocks[i].ops {
			nt, l := x.insertFree(t, &u.blocks[i].ops[j], 0, math.MaxUint64)
			if l == nil {
				x.direct = false
				x.rollback()
				return false
			}
			t = nt
			held += opHeld(&l.op)
			if len(l.op.content) > inlineRunes {
				// The update's (see planScratch.ownContent).
				l.op.content = slices.Clone(l.op.content)
			}
		}
	}
	held += x.held // and no map entry: the client has ops waiting already
	if m > 0 && pd.held+held > m && held > 0 {
		if x.direct {
			panic("crdt: an unlogged pending op passed the memory budget") // broken invariant: putHeldBound bounds what it adds
		}
		x.rollback()
		return false
	}
	x.direct = false
	x.commit()
	setOrDelete(&pd.ops, c, t, false)
	pd.ub, pd.sb, pd.held = ub, sb, pd.held+held
	d.pendingBytes = -1
	d.version++
	d.parked++
	return true
}

// boundsKept reports whether a plan that leaves the pending set with upper
// bound ub, slack bound sb (grown by what the plan's ops add to the upper
// bound), nDels clients' delete ranges of delBytes, and the exact size not
// kept, would keep those bounds and measure nothing: the upper bound under
// MaxPendingBytes and no slack bound (then sb is made zero), or the upper
// bound past the limit and the slack bound under it (see tally).
func (d *Doc) boundsKept(ub *upperBound, sb *slackBound, nDels, delBytes int) bool {
	limit := d.cfg.MaxPendingBytes
	switch _, wide := ub.size(nDels, delBytes); {
	case !sb.on && wide > limit:
		return false // the plan measures the size
	case sb.on && (wide <= limit || sb.size(ub, nDels, delBytes) > limit):
		return false // the plan drops the slack bound, or measures the size
	case !sb.on:
		*sb = slackBound{}
	}
	return true
}

// parkDels is park for an update of delete ranges only, of one client and
// all above its clock: they go into the client's pending delete ranges,
// and nothing else changes (most updates of deletes only that arrive out of
// order, in a session where deletes are updates of their own). The plan
// would add them through its delTx and keep the bounds (boundsKept); here
// that log puts the tree back when the bounds or the memory budget say
// that the plan must decide.
func (d *Doc) parkDels(u *update) bool {
	pd := &d.pending
	c := u.dels[0].client
	if pd.ops[d.client] != nil || pd.ex.on || pd.ex.refs != nil {
		return false
	}
	next := d.clock(c)
	for _, r := range u.dels {
		if r.client != c || r.clock < next {
			return false
		}
	}
	pd.gen++
	x := &d.scratch.p.dtx
	x.begin(pd.gen)
	orig := pd.dels[c]
	t, was := orig, orig.encoded() // before the tree changes in place
	for _, r := range u.dels {
		t = x.add(t, r)
	}
	ub, sb := pd.ub, pd.sb
	nDels, delBytes, held := len(pd.dels), pd.delBytes+t.encoded()-was, x.held
	if orig == nil {
		nDels++
		held += heldClient
		ub.delClientBytes += uvLen(c)
	}
	m := d.cfg.MaxPendingMemory
	if !d.boundsKept(&ub, &sb, nDels, delBytes) || m > 0 && pd.held+held > m && held > 0 {
		x.rollback()
		return false
	}
	x.commit()
	setOrDelete(&pd.dels, c, t, false)
	pd.ub, pd.sb, pd.delBytes, pd.held = ub, sb, delBytes, pd.held+held
	d.pendingBytes = -1
	d.version++
	d.parked++
	return true
}
