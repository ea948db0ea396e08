package crdt

import (
	"fmt"
)

// Apply applies an update (0x01) or a snapshot (0x05, or 0x02 of format
// version 1) and returns what changed, per root. Units the document already has are ignored; units whose
// dependencies are missing wait in the pending buffer and are integrated when
// they arrive. An update is checked in full first: if it is refused
// (ErrMalformedUpdate, ErrPendingOverflow), the document is unchanged.
func (d *Doc) Apply(b []byte) ([]Change, error) {
	var ch changes
	return d.apply(b, &ch, true)
}

// Integrate applies an update or a snapshot as Apply does, without building
// the list of changes: for an owner that does not read them, such as a
// server, it costs less per update (no visible positions are computed, no
// edits collected). The document ends in the same state, and its Version
// moves in the same way.
func (d *Doc) Integrate(b []byte) error {
	_, err := d.apply(b, nil, true)
	return err
}

// IntegrateAccepted integrates as Integrate does an update or a snapshot that
// its owner must take whatever waits already, because it was accepted
// within the bounds once: by another replica, before it saw what waits here,
// or before the bounds were lowered. Neither MaxPendingBytes nor
// MaxPendingMemory refuses it; what waits after it is measured against them
// as after any update, so that the next update is judged as usual.
func (d *Doc) IntegrateAccepted(b []byte) error {
	_, err := d.apply(b, nil, false)
	return err
}

// apply is Apply, collecting changes into ch unless ch is nil; bounded
// refuses what would pass the pending bounds (IntegrateAccepted does not).
func (d *Doc) apply(b []byte, ch *changes, bounded bool) ([]Change, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrMalformedUpdate)
	}
	switch b[0] {
	case formatUpdate:
		u, err := d.decodeUpdate(b)
		defer d.decode.release()
		if err != nil {
			return nil, err
		}
		return d.applyUpdate(u, ch, bounded)
	case formatSnapshot, formatSnapshot2, formatSnapshot3:
		s, err := decodeSnapshot(b)
		if err != nil {
			return nil, err
		}
		if d.isEmpty() {
			return d.loadSnapshot(s, bounded)
		}
		return d.applyUpdate(s.toUpdate(), ch, bounded)
	}
	return nil, fmt.Errorf("%w: format byte 0x%02x", ErrMalformedUpdate, b[0])
}

// isEmpty reports whether the document has integrated nothing and has nothing pending.
func (d *Doc) isEmpty() bool {
	if !d.pending.empty() {
		return false
	}
	for _, cs := range d.clients {
		if cs.next > 0 {
			return false
		}
	}
	return true
}

func (d *Doc) applyUpdate(u *update, ch *changes, bounded bool) ([]Change, error) {
	if !d.pending.empty() && d.park(u) {
		return nil, nil // nothing integrated, nothing changed but what waits
	}
	p := d.plan(u)
	if !bounded {
		defer d.scratch.release()
		return d.execute(p, ch), nil
	}
	// Past the limit, an update is refused when it makes what waits larger: one that brings (some
	// of) what waits the units it waits for is taken, or nothing would leave a pending set that is
	// past the limit already (updates accepted elsewhere, IntegrateAccepted, or a limit lowered
	// since: SetMaxPendingBytes).
	if after := p.pendingBytes; after > d.cfg.MaxPendingBytes {
		before := d.pendingBytes
		if before < 0 {
			// Not measured yet: measured as it was, the plan undone, then planned again.
			d.scratch.release()
			before = d.PendingBytes()
			p = d.plan(u)
		}
		if after > before {
			d.scratch.release()
			return nil, fmt.Errorf("%w: %d bytes would wait, the limit is %d", ErrPendingOverflow, after, d.cfg.MaxPendingBytes)
		}
	}
	defer d.scratch.release()
	if m := d.cfg.MaxPendingMemory; m > 0 && p.held > m && p.held > d.pending.held {
		return nil, fmt.Errorf("%w: waiting units would hold %d bytes, the limit is %d", ErrPendingOverflow, p.held, m)
	}
	return d.execute(p, ch), nil
}

// execute carries out a plan and returns the changes collected into ch
// (none when ch is nil).
func (d *Doc) execute(p *plan, ch *changes) []Change {
	ownNext := d.own.next
	for _, s := range p.steps {
		cs := d.clientState(s.client)
		op := s.op
		switch op.kind {
		case opText:
			t := d.text(op.root)
			if t == nil {
				t = d.newTextRoot(op.root)
			}
			d.integrateText(t, cs, op, ch)
		case opMap:
			m := d.mapRoot(op.root, true)
			ch.touch(m, op.key)
			d.addAssign(&assign{cs: cs, clock: op.clock, root: m, key: op.key, lamport: op.lamport, value: op.value})
		case opMark, opAttr:
			d.integrateRich(cs, op, ch)
		}
		cs.next = op.end()
	}
	deleted := false
	for _, r := range p.dels {
		if d.deleteRange(r, ch) {
			deleted = true
		}
	}
	d.pending.install(p, d.scratch.queues)
	d.pendingBytes = p.pendingBytes
	if d.taken == ownNext {
		// Our own units that came back from elsewhere are not ours to send.
		d.taken = d.own.next
	}
	if len(p.steps) > 0 || deleted || p.pendingChanged {
		d.version++
	}
	if ch == nil {
		return nil
	}
	d.richChanges(ch)
	return ch.list()
}

// deleteRange marks the text items of r deleted, records the deletions in ch
// unless it is nil, and reports whether it deleted anything.
func (d *Doc) deleteRange(r delRange, ch *changes) bool {
	deleted := false
	cs := d.clients[r.client]
	if cs == nil {
		return false
	}
	end := min(r.clock+r.n, cs.next)
	for clock := r.clock; clock < end; {
		it := cs.items.ceil(clock)
		if it == nil || it.clock >= end {
			return deleted
		}
		if it.deleted {
			clock = it.end()
			continue
		}
		t := it.root
		if it.clock < clock {
			it = t.split(it, int(clock-it.clock))
		}
		if it.end() > end {
			t.split(it, int(end-it.clock))
		}
		if ch != nil {
			vis, _ := posOf(it)
			ch.del(t.name, vis, it.n)
		}
		setDeleted(it)
		t.cur = cursor{}
		deleted = true
		clock = it.end()
		t.mergeDeleted(it)
	}
	return deleted
}
