package server

import (
	"slices"
	"sync/atomic"
	"time"
)

// durability tracks which of a document's updates are durable, so that the actor acknowledges an
// update only once it is.
//
// Every update the actor hands to storage gets an index, 1, 2, 3... in the order of Append.
// Storage reports each append as durable or failed, in that order. An update is durable when its
// append is, or when a snapshot that was encoded after it was applied has been saved (the snapshot
// holds the whole document). Durability is a prefix: an update whose append succeeded while an
// earlier one failed is not reported durable until a snapshot covers the failed one, because
// updates may depend on earlier ones and an acknowledgement promises that a reload has them.
//
// A failed append leaves the document in memory ahead of its log; the actor then writes a snapshot
// (with retries), which heals the gap. The zero value is ready: nothing issued, nothing durable.
type durability struct {
	issued  uint64              // index of the last append handed to storage
	done    uint64              // every index <= done has been reported
	early   map[uint64]struct{} // reported indexes above done (reports out of order)
	covered uint64              // every index <= covered is in a saved snapshot
	failed  []uint64            // failed indexes above covered, ascending
}

// issue returns the index of a new append.
func (d *durability) issue() uint64 {
	d.issued++
	return d.issued
}

// report records storage's report for append i. Storage reports a document's appends in order;
// reports out of order are handled too.
func (d *durability) report(i uint64, ok bool) {
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

// cover records that a snapshot holding every update up to index i is durable.
func (d *durability) cover(i uint64) {
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

// durable returns the largest index such that every update up to it is durable.
func (d *durability) durable() uint64 {
	hi := max(d.done, d.covered)
	if len(d.failed) > 0 {
		hi = min(hi, d.failed[0]-1)
	}
	return hi
}

// inFlight reports whether some append has not been reported yet.
func (d *durability) inFlight() bool { return d.done < d.issued }

// gap reports whether a failed append is not yet covered by a snapshot: the log lacks an update
// that the document holds.
func (d *durability) gap() bool { return len(d.failed) > 0 }

// storageTimes forwards the storage writer's timings (storage.Options.ObserveSync and
// ObserveApply) to the server's metrics, which exist only once the store is open.
type storageTimes struct{ m atomic.Pointer[serverMetrics] }

func (t *storageTimes) sync(took time.Duration, appends int) {
	if m := t.m.Load(); m != nil {
		m.commitSyncSecs.ObserveDuration(took)
		m.commitGroup.Observe(float64(appends))
	}
}

func (t *storageTimes) apply(took time.Duration) {
	if m := t.m.Load(); m != nil {
		m.commitApplySecs.ObserveDuration(took)
	}
}
