package room

import "slices"

// Durability tracks which of a document's updates are durable, so that the actor acknowledges an
// update only once it is.
//
// Every update the actor hands to storage gets an index, 1, 2, 3... in the order of the appends.
// Storage reports each append as durable or failed, in that order. An update is durable when its
// append is, or when a snapshot that was encoded after it was applied has been saved (the snapshot
// holds the whole document). Durability is a prefix: an update whose append succeeded while an
// earlier one failed is not reported durable until a snapshot covers the failed one, because
// updates may depend on earlier ones and an acknowledgement promises that a reload has them.
//
// A failed append leaves the document in memory ahead of its log; the actor then writes a snapshot
// (with retries), which heals the gap. The zero value is ready: nothing issued, nothing durable.
type Durability struct {
	issued  uint64              // index of the last append handed to storage
	done    uint64              // every index <= done has been reported
	early   map[uint64]struct{} // reported indexes above done (reports out of order)
	covered uint64              // every index <= covered is in a saved snapshot
	failed  []uint64            // failed indexes above covered, ascending
}

// Issue returns the index of a new append.
func (d *Durability) Issue() uint64 {
	d.issued++
	return d.issued
}

// Issued returns the index of the last append handed to storage (0 before the first).
func (d *Durability) Issued() uint64 { return d.issued }

// Report records storage's report for append i. Storage reports a document's appends in order;
// reports out of order are handled too.
func (d *Durability) Report(i uint64, ok bool) {
	switch {
	case i == d.done+1:
		d.done++
		for len(d.early) > 0 {
			if _, ok := d.early[d.done+1]; !ok {
				break
			}
			delete(d.early, d.done+1)
			d.done++
		}
	case i > d.done:
		if d.early == nil {
			d.early = make(map[uint64]struct{})
		}
		d.early[i] = struct{}{}
	}
	if !ok && i > d.covered {
		n := len(d.failed)
		for n > 0 && d.failed[n-1] > i {
			n--
		}
		d.failed = slices.Insert(d.failed, n, i)
	}
}

// Cover records that a snapshot holding every update up to index i is durable.
func (d *Durability) Cover(i uint64) {
	if i <= d.covered {
		return
	}
	d.covered = i
	n := 0
	for n < len(d.failed) && d.failed[n] <= i {
		n++
	}
	d.failed = d.failed[n:]
}

// Durable returns the largest index such that every update up to it is durable.
func (d *Durability) Durable() uint64 {
	hi := max(d.done, d.covered)
	if len(d.failed) > 0 {
		hi = min(hi, d.failed[0]-1)
	}
	return hi
}

// InFlight reports whether some append has not been reported yet.
func (d *Durability) InFlight() bool { return d.done < d.issued }

// Gap reports whether a failed append is not yet covered by a snapshot: the log lacks an update
// that the document holds.
func (d *Durability) Gap() bool { return len(d.failed) > 0 }
