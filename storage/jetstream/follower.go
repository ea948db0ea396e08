package jetstream

import (
	"slices"
	"sync/atomic"

	"github.com/tandemhq/tandem/storage/backend"
)

// Delivery is one republished entry as a node receives it live: its stream sequence, the
// sequence of the previous entry of the same log (0 for the first), its bytes, and whether no
// node appended it (backend.Entry.Foreign).
type Delivery struct {
	Seq     uint64
	Prev    uint64
	Data    []byte
	Foreign bool
}

// entry returns d as a log entry.
func (d Delivery) entry() backend.Entry {
	return backend.Entry{Seq: d.Seq, Data: d.Data, Foreign: d.Foreign}
}

// Steps is what a Follower asks its owner to do, in this order: apply Apply (in order), then, if
// Repair is set, read the log from RepairFrom to RepairTo and hand the result to Repaired.
type Steps struct {
	// Apply are the entries to apply now, oldest first; each comes right after the one before it
	// (the first right after the cursor before the call).
	Apply []backend.Entry
	// Repair asks for a read of the log's entries in [RepairFrom, RepairTo].
	Repair               bool
	RepairFrom, RepairTo uint64
}

// Follower keeps one node's replica of one log in step with the stream. It takes live deliveries
// in any order, with losses and duplicates, and says which entries to apply and which reads to
// make; it does no I/O, so it is driven by the document's actor and tested by tables.
//
// Its invariant: the cursor (Last) is the sequence of the newest entry applied, and every entry of
// the log up to it has been applied. It moves only through entries it hands out in Apply, and an
// entry is handed out only when its predecessor in the log is at or below the cursor. A delivery
// that shows a gap (its Prev above the cursor) is held, and the gap is read from the log; a read
// that falls short (a lagging server, a failure) leaves the cursor where the read stopped and asks
// again, never past an entry it has not applied. The prototype that advanced past a short read
// diverged.
//
// A Follower is not safe for concurrent use; its owner serialises calls.
type Follower struct {
	last    uint64
	held    []Delivery // deliveries above a gap, by sequence, at most maxHeld
	maxHeld int
	budget  *HeldBudget // the bytes of held deliveries, shared with other followers; nil: none
	// seen is the newest sequence delivered above a gap, held or not: a repair reads up to it,
	// so that a delivery dropped for a bound is read with the gap.
	seen uint64
}

// NewFollower returns a follower whose replica holds the log up to last (the snapshot's position,
// or the last entry a load read). maxHeld bounds the deliveries kept while a gap is repaired, and
// budget, if not nil, the bytes they hold together with those of the other followers sharing it;
// a delivery beyond either is dropped and read again with the gap. Zero maxHeld means 1024. The
// owner calls Close when it stops following, to give the budget back.
func NewFollower(last uint64, maxHeld int, budget *HeldBudget) *Follower {
	if maxHeld <= 0 {
		maxHeld = 1024
	}
	return &Follower{last: last, maxHeld: maxHeld, budget: budget}
}

// HeldBudget bounds the bytes of the deliveries that the followers sharing it hold above their
// gaps, together: a node follows every open document, and a lost stretch of deliveries (a
// reconnection to NATS) opens a gap in many at once. Holding is only a saving (what is dropped is
// read from the log with the gap), so the bound costs reads, never entries. Safe for concurrent
// use.
type HeldBudget struct {
	limit int64
	used  atomic.Int64
}

// NewHeldBudget returns a budget of limit bytes.
func NewHeldBudget(limit int64) *HeldBudget { return &HeldBudget{limit: limit} }

// Used returns the bytes held under the budget.
func (b *HeldBudget) Used() int64 { return b.used.Load() }

func (b *HeldBudget) take(n int) bool {
	if b == nil {
		return true
	}
	for {
		u := b.used.Load()
		if u+int64(n) > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+int64(n)) {
			return true
		}
	}
}

func (b *HeldBudget) give(n int) {
	if b != nil {
		b.used.Add(-int64(n))
	}
}

// Close forgets the held deliveries and gives their bytes back to the budget.
func (f *Follower) Close() { f.forget(0) }

// forget drops the held deliveries from index i on.
func (f *Follower) forget(i int) {
	for _, h := range f.held[i:] {
		f.budget.give(len(h.Data))
	}
	clear(f.held[i:])
	f.held = f.held[:i]
}

// Last returns the cursor: the sequence up to which the replica holds the log.
func (f *Follower) Last() uint64 { return f.last }

// Held returns how many deliveries wait for a gap to be repaired.
func (f *Follower) Held() int { return len(f.held) }

// Deliver takes a live delivery.
func (f *Follower) Deliver(d Delivery) Steps {
	if d.Seq <= f.last {
		return Steps{} // a duplicate, or already read by a repair
	}
	if d.Prev <= f.last {
		f.last = d.Seq
		return f.drain([]backend.Entry{d.entry()})
	}
	f.hold(d)
	return f.repair()
}

// Repaired takes the result of a read the follower asked for (or of any read of the log from
// Last()+1): the log's entries from some sequence on, gapless and oldest first. Entries at or
// below the cursor are skipped. The read is trusted to start right after the cursor: a backend
// read is gapless and starts at the first entry at or after its from.
func (f *Follower) Repaired(entries []backend.Entry) Steps {
	var apply []backend.Entry
	for _, e := range entries {
		if e.Seq <= f.last {
			continue
		}
		apply = append(apply, e)
		f.last = e.Seq
	}
	return f.drain(apply)
}

// Tick asks again for the read of a gap that a short read left open; the owner calls it on a
// timer, so that a gap heals even when no further delivery arrives.
func (f *Follower) Tick() Steps { return f.repair() }

// Reset moves the cursor to last and forgets held deliveries: the owner reloaded the replica
// from a snapshot at last (the log below it was purged by a compaction elsewhere).
func (f *Follower) Reset(last uint64) {
	f.last = last
	f.forget(0)
}

func (f *Follower) hold(d Delivery) {
	i, found := slices.BinarySearchFunc(f.held, d.Seq, func(h Delivery, seq uint64) int {
		switch {
		case h.Seq < seq:
			return -1
		case h.Seq > seq:
			return 1
		}
		return 0
	})
	f.seen = max(f.seen, d.Seq)
	if found || (i == len(f.held) && len(f.held) >= f.maxHeld) || !f.budget.take(len(d.Data)) {
		return // the repair read, up to seen, covers it
	}
	f.held = slices.Insert(f.held, i, d)
	if len(f.held) > f.maxHeld {
		f.forget(f.maxHeld) // drop the newest; the repair read covers it
	}
}

// drain appends to apply the held deliveries that now follow the cursor, and forgets those the
// cursor has passed.
func (f *Follower) drain(apply []backend.Entry) Steps {
	n := 0
	for _, h := range f.held {
		if h.Seq > f.last && h.Prev > f.last {
			break
		}
		if h.Seq > f.last {
			apply = append(apply, h.entry())
			f.last = h.Seq
		}
		f.budget.give(len(h.Data))
		n++
	}
	if n > 0 {
		f.held = f.held[:copy(f.held, f.held[n:])]
		clear(f.held[len(f.held) : len(f.held)+n])
	}
	s := f.repair()
	s.Apply = apply
	return s
}

// repair asks for the read that closes the gap above the cursor: up to the newest sequence
// delivered above it, so that a read reaching it also covers what was dropped in between.
func (f *Follower) repair() Steps {
	if f.seen <= f.last {
		return Steps{}
	}
	return Steps{Repair: true, RepairFrom: f.last + 1, RepairTo: f.seen}
}
