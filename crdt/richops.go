package crdt

import "sort"

// The rich-text ops of an update (docs/crdt.md section 4.4): embeds (kind 3),
// marks (kind 4) and attributes (kind 5). None merges with a neighbour; each
// takes one clock.

// opEmbed is the wire kind of an embed. Decoded, an embed is an opText op of
// one item with embed set, so that placement, pending and validation treat it
// as the text item it is.
const opEmbed opKind = 3

// Tag bits of the rich ops.
const (
	tagRemove = 0x08 // mark: remove
)

// appendAnchor writes an anchor: its kind, then its ID for Before and After.
func appendAnchor(b []byte, kind RelPosKind, id ID, ci func(uint64) uint64) []byte {
	b = append(b, byte(kind))
	if kind == RelBefore || kind == RelAfter {
		b = appendUv(appendUv(b, ci(id.Client)), id.Clock)
	}
	return b
}

// appendRichOp writes an embed, a mark or an attribute op.
func appendRichOp(b []byte, op *uop, ci func(uint64) uint64, ri func(RootKind, string) uint64) []byte {
	switch op.kind {
	case opText: // an embed
		b = appendTextHead(b, byte(opEmbed), op, ci, ri)
		b = appendUv(b, uint64(len(op.embed)))
		return append(b, op.embed...)
	case opMark:
		tag := byte(opMark)
		if op.value == nil {
			tag |= tagRemove
		}
		b = append(b, tag)
		b = appendUv(b, ri(KindText, op.root))
		b = appendAnchor(b, op.sk, op.left, ci)
		b = appendAnchor(b, op.ek, op.right, ci)
		b = appendStr(b, op.key)
		b = appendUv(b, op.lamport)
		if op.value != nil {
			b = appendUv(b, uint64(len(op.value)))
			b = append(b, op.value...)
		}
		return b
	case opAttr:
		b = append(b, byte(opAttr))
		b = appendUv(b, ri(KindText, op.root))
		b = appendUv(appendUv(b, ci(op.left.Client)), op.left.Clock)
		b = appendStr(b, op.key)
		b = appendUv(b, op.lamport)
		b = appendUv(b, uint64(len(op.value)))
		return append(b, op.value...)
	}
	panic("crdt: appendRichOp of a plain op")
}

// decodeAnchor reads an anchor.
func decodeAnchor(t *tables) (RelPosKind, ID) {
	r := t.r
	k := RelPosKind(r.byte1())
	switch {
	case r.err != nil:
		return 0, ID{}
	case k == RelBefore || k == RelAfter:
		return k, t.id()
	case k == RelStart || k == RelEnd:
		return k, ID{}
	}
	r.fail("anchor kind %d", k)
	return 0, ID{}
}

// decodeRichOp reads the fields of an embed, a mark or an attribute op whose
// tag is tag into op, client's at clock.
func decodeRichOp(t *tables, op *uop, tag byte, client, clock uint64) {
	r := t.r
	op.n = 1
	switch op.kind {
	case opEmbed:
		if tag&^(tagKindMask|tagLeft|tagRight) != 0 {
			r.fail("op tag 0x%02x", tag)
			return
		}
		op.kind = opText
		op.root = t.root(KindText)
		if tag&tagLeft != 0 {
			op.left = t.id()
		}
		if tag&tagRight != 0 {
			op.right = t.id()
		}
		op.embed = decodeValue(r)
		op.content = []rune{objectReplacement}
	case opMark:
		if tag&^(tagKindMask|tagRemove) != 0 {
			r.fail("op tag 0x%02x", tag)
			return
		}
		op.root = t.root(KindText)
		op.sk, op.left = decodeAnchor(t)
		op.ek, op.right = decodeAnchor(t)
		op.key = r.str(MaxKeyBytes)
		op.lamport = r.uv()
		switch {
		case r.err != nil:
			return
		case op.sk == RelEnd || op.ek == RelStart:
			r.fail("mark from %d to %d", op.sk, op.ek)
		case op.key == "":
			r.fail("empty mark name")
		case op.lamport == 0:
			r.fail("lamport 0")
		}
		if tag&tagRemove == 0 {
			op.value = decodeValue(r)
		}
	case opAttr:
		if tag != byte(opAttr) {
			r.fail("op tag 0x%02x", tag)
			return
		}
		op.root = t.root(KindText)
		op.left = t.id()
		op.key = r.str(MaxKeyBytes)
		op.lamport = r.uv()
		if r.err == nil && op.lamport == 0 {
			r.fail("lamport 0")
		}
		op.value = decodeValue(r)
	}
	if (op.left.Client == client && op.left.Clock >= clock) || (op.right.Client == client && op.right.Clock >= clock) {
		r.fail("origin of (%d,%d) names itself or a later clock", client, clock)
	}
}

// isRichOp reports whether op is written by appendRichOp.
func isRichOp(op *uop) bool {
	return op.kind == opMark || op.kind == opAttr || (op.kind == opText && op.embed != nil)
}

// richOpSize returns the encoded size of a rich op, but its table indexes,
// and calls ref with every client it names (its root is a Text one).
func richOpSize(op *uop, ref func(client uint64)) int {
	n := 1 // tag
	id := func(o ID) {
		ref(o.Client)
		n += uvLen(o.Clock)
	}
	switch op.kind {
	case opText:
		if op.left.Client != 0 {
			id(op.left)
		}
		if op.right.Client != 0 {
			id(op.right)
		}
		n += uvLen(uint64(len(op.embed))) + len(op.embed)
	case opMark:
		n += 2 // anchor kinds
		if op.sk == RelBefore || op.sk == RelAfter {
			id(op.left)
		}
		if op.ek == RelBefore || op.ek == RelAfter {
			id(op.right)
		}
		n += uvLen(uint64(len(op.key))) + len(op.key) + uvLen(op.lamport)
		if op.value != nil {
			n += uvLen(uint64(len(op.value))) + len(op.value)
		}
	case opAttr:
		id(op.left)
		n += uvLen(uint64(len(op.key))) + len(op.key) + uvLen(op.lamport) + uvLen(uint64(len(op.value))) + len(op.value)
	}
	return n
}

// op returns the update op of a mark or attribute unit.
func (u richUnit) op() uop {
	if m := u.mark; m != nil {
		return uop{kind: opMark, clock: m.clock, n: 1, root: m.root.name, left: m.start.id, right: m.end.id,
			sk: m.start.kind, ek: m.end.kind, key: m.name, lamport: m.lamport, value: m.value}
	}
	a := u.attr
	return uop{kind: opAttr, clock: a.clock, n: 1, root: a.root.name, left: a.target, key: a.key,
		lamport: a.lamport, value: a.value}
}

// richOps is clientState.ops for a client with marks or attributes: its
// text runs, assignments and rich units merged by clock.
func (cs *clientState) richOps(from uint64, out []uop) []uop {
	clock := from
	ai := sort.Search(len(cs.asgs), func(i int) bool { return cs.asgs[i].clock >= from })
	ri := sort.Search(len(cs.rich), func(i int) bool { return cs.rich[i].clock() >= from })
	emit := func(op uop) {
		if op.clock > clock {
			out = appendOp(cs.id, out, uop{kind: opSkip, clock: clock, n: op.clock - clock})
		}
		out = appendOp(cs.id, out, op)
		clock = op.end()
	}
	// emitUnits emits the assignments and rich units below limit, by clock.
	emitUnits := func(limit uint64) {
		for {
			ac, rc := limit, limit
			if ai < len(cs.asgs) {
				ac = min(ac, cs.asgs[ai].clock)
			}
			if ri < len(cs.rich) {
				rc = min(rc, cs.rich[ri].clock())
			}
			switch {
			case ac < rc:
				a := cs.asgs[ai]
				ai++
				if !a.lost {
					emit(uop{kind: opMap, clock: a.clock, n: 1, root: a.root.name, key: a.key, lamport: a.lamport, value: a.value})
				}
			case rc < limit:
				u := cs.rich[ri]
				ri++
				if u.attr == nil || !u.attr.lost {
					emit(u.op())
				}
			default:
				return
			}
		}
	}
	cs.items.each(from, func(it *item) bool {
		emitUnits(it.clock)
		emit(cs.runOp(it, max(clock, from)))
		return true
	})
	emitUnits(cs.next)
	if cs.next > clock {
		out = appendOp(cs.id, out, uop{kind: opSkip, clock: clock, n: cs.next - clock})
	}
	return out
}
