package crdt

import "slices"

// The pending set's two B+ trees (its ops, pendingtree.go, and its delete
// ranges, pendingdel.go) keep each node's entries in a slice that grows by
// doubling up to the tree's fan-out and is split when full. These do that
// slice work for both; each tree logs the node before it calls them and
// counts the bytes they add.

// growEntries returns ents with room for one more entry: ents itself when
// it has room, else a copy in an array twice as large, at most fan. The old
// array stays as it was, for a rollback.
func growEntries[E any](ents []E, fan int) []E {
	if len(ents) < cap(ents) {
		return ents
	}
	grown := make([]E, len(ents), min(max(2*len(ents), 1), fan))
	copy(grown, ents)
	return grown
}

// splitEntries puts e at index i of the full ents, moving entries into r
// (empty, with room for them): all of them when e goes to the front, which
// then stays alone (entries that come in descending order fill their nodes
// rather than leave each half full), else the upper half. It returns the
// two.
func splitEntries[E any](ents, r []E, i int, e E) (left, right []E) {
	if i == 0 {
		r = append(r, ents...)
		clear(ents[1:])
		ents = ents[:1]
		ents[0] = e
		return ents, r
	}
	h := len(ents) / 2
	r = append(r, ents[h:]...)
	clear(ents[h:])
	ents = ents[:h]
	if i <= h {
		return slices.Insert(ents, i, e), r
	}
	return ents, slices.Insert(r, i-h, e)
}
