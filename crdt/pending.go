package crdt

import "slices"

// pendingSet holds what waits for its dependencies: per client, ops ascending
// by clock and not overlapping (as received: the encoder merges those that
// continue each other), and delete ranges naming clocks not yet integrated.
type pendingSet struct {
	ops   map[uint64][]uop
	dels  []delRange
	bound int // an upper bound of the encoded size: the sum of pendingCost and delsCost
}

// pendingCost bounds what op adds to the encoded size of an update: its bytes
// with every index and varint at its widest (8 bytes), a block header of its
// own, and table entries for every client and root it names. Keeping the sum
// of these bounds up to date costs O(1) per op, so that checking
// MaxPendingBytes does not encode the pending set on every Apply: only a
// bound above the limit calls for the exact size.
func pendingCost(op *uop) int {
	const w = maxUvarBytes
	n := 1 + 3*w + 2*w // tag, block header, the author's table entry and its index
	switch op.kind {
	case opText:
		n += w + 1 + w + len(op.root) + 2*w + 4*w // ri, root entry, len, 2 origins with table entries
		if !op.deleted {
			n += w + 4*len(op.content)
		}
	case opMap:
		n += w + 1 + w + len(op.root) + w + len(op.key) + w + w + len(op.value)
	case opSkip:
		n += w
	}
	return n
}

// delsCost bounds the encoded size of delete ranges (with their headers and
// table entries).
func delsCost(ds []delRange) int { return 5*maxUvarBytes + len(ds)*5*maxUvarBytes }

func (p *pendingSet) empty() bool { return len(p.ops) == 0 && len(p.dels) == 0 }

// toUpdate returns the pending set as a canonical update: one block per run of
// consecutive clocks of a client.
func (p *pendingSet) toUpdate() *update {
	u := &update{dels: p.dels}
	clients := make([]uint64, 0, len(p.ops))
	for c := range p.ops {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	for _, c := range clients {
		ops := p.ops[c]
		for i := 0; i < len(ops); {
			j := i + 1
			for j < len(ops) && ops[j].clock == ops[j-1].end() {
				j++
			}
			u.blocks = append(u.blocks, block{client: c, ops: ops[i:j]})
			i = j
		}
	}
	return u
}

// findOp returns the op of ops (ascending, not overlapping) that covers clock.
func findOp(ops []uop, clock uint64) *uop {
	i, _ := slices.BinarySearchFunc(ops, clock, func(o uop, c uint64) int {
		switch {
		case o.end() <= c:
			return -1
		case o.clock > c:
			return 1
		}
		return 0
	})
	if i < len(ops) && ops[i].clock <= clock && clock < ops[i].end() {
		return &ops[i]
	}
	return nil
}

// trimOp returns the part of op at or after clock from (op.end() > from).
func trimOp(client uint64, op uop, from uint64) uop {
	if from <= op.clock {
		return op
	}
	k := from - op.clock
	if op.kind == opText {
		op.left = ID{client, from - 1}
		if !op.deleted {
			op.content = op.content[k:]
		}
	}
	op.clock, op.n = from, op.n-k
	return op
}

// cutOp returns the part of op before clock to (op.clock < to).
func cutOp(op uop, to uint64) uop {
	if to >= op.end() {
		return op
	}
	k := to - op.clock
	if op.kind == opText && !op.deleted {
		op.content = op.content[:k:k]
	}
	op.n = k
	return op
}
