package crdt

import "fmt"

// DebugStats describes the internal shape of d, for tests.
func DebugStats(d *Doc) string {
	runs, deleted, leaves := 0, 0, 0
	for _, t := range d.texts {
		for l := t.firstLeaf; l != nil; l = l.next {
			leaves++
			for _, it := range l.items {
				runs++
				if it.deleted {
					deleted++
				}
			}
		}
	}
	return fmt.Sprintf("runs %d (deleted %d) leaves %d", runs, deleted, leaves)
}

// CheckPending checks the pending set's invariants: its bound is the sum of
// the costs of what it holds and is at least the exact encoded size, which
// PendingBytes reports; ops are ascending, not overlapping, and above the
// state vector.
func CheckPending(d *Doc) error {
	if d.pending.empty() {
		if d.PendingBytes() != 0 {
			return fmt.Errorf("empty pending set of %d bytes", d.PendingBytes())
		}
		return nil
	}
	sum := delsCost(d.pending.dels)
	for c, ops := range d.pending.ops {
		if len(ops) == 0 {
			return fmt.Errorf("client %d: empty pending list", c)
		}
		for i := range ops {
			sum += pendingCost(&ops[i])
			if i > 0 && ops[i].clock < ops[i-1].end() {
				return fmt.Errorf("client %d: pending ops overlap or are not ascending", c)
			}
		}
		if ops[0].clock < d.clock(c) {
			return fmt.Errorf("client %d: pending op at %d below the clock %d", c, ops[0].clock, d.clock(c))
		}
	}
	exact := len(encodeUpdate(d.pending.toUpdate()))
	if sum != d.pending.bound {
		return fmt.Errorf("pending bound %d, the sum of costs is %d", d.pending.bound, sum)
	}
	if exact > d.pending.bound {
		return fmt.Errorf("pending bound %d below the exact size %d", d.pending.bound, exact)
	}
	if got := d.PendingBytes(); got != exact {
		return fmt.Errorf("PendingBytes() = %d; the encoding has %d", got, exact)
	}
	return nil
}
