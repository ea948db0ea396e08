package jetstream

import (
	"slices"

	"github.com/tandemhq/tandem/storage/backend"
)

// Delivery is one republished entry as a node receives it live: its stream sequence, the
// sequence of the previous entry of the same log (0 for the first), and its bytes.
type Delivery struct {
	Seq  uint64
	Prev uint64
	Data []byte
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
}

// NewFollower returns a follower whose replica holds the log up to last (the snapshot's position,
// or the last entry a load read). maxHeld bounds the deliveries kept while a gap is repaired; a
// delivery beyond it is dropped and read again with the gap. Zero means 1024.
func NewFollower(last uint64, maxHeld int) *Follower {
	if maxHeld <= 0 {
		maxHeld = 1024
	}
	return &Follower{last: last, maxHeld: maxHeld}
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
		return f.drain([]backend.Entry{{Seq: d.Seq, Data: d.Data}})
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
	f.held = nil
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
	if found {
		return
	}
	f.held = slices.Insert(f.held, i, d)
	if len(f.held) > f.maxHeld {
		f.held = f.held[:f.maxHeld] // drop the newest; the repair read covers it
	}
}

// drain appends to apply the held deliveries that now follow the cursor, and forgets those the
// cursor has passed.
func (f *Follower) drain(apply []backend.Entry) Steps {
	for len(f.held) > 0 {
		h := f.held[0]
		switch {
		case h.Seq <= f.last:
			f.held = f.held[1:]
		case h.Prev <= f.last:
			apply = append(apply, backend.Entry{Seq: h.Seq, Data: h.Data})
			f.last = h.Seq
			f.held = f.held[1:]
		default:
			s := f.repair()
			s.Apply = apply
			return s
		}
	}
	f.held = nil
	return Steps{Apply: apply}
}

// repair asks for the read that closes the gap before the oldest held delivery: up to the
// newest held, so that a read reaching it also covers what was dropped in between.
func (f *Follower) repair() Steps {
	if len(f.held) == 0 {
		return Steps{}
	}
	return Steps{Repair: true, RepairFrom: f.last + 1, RepairTo: f.held[len(f.held)-1].Seq}
}
