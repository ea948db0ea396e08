package room

import (
	"slices"
	"time"
)

// Member is what a Ledger knows of a connection: a comparable handle, and whether it is closing
// (a closing member's held frames are dropped rather than held further). Closing is read only
// when a frame would be held, never on the way of a frame sent at once.
type Member interface {
	comparable
	Closing() bool
}

// EffectKind says what an Effect asks of the caller.
type EffectKind uint8

const (
	// Send: send Frame to Member now, after everything sent to it before.
	Send EffectKind = iota + 1
	// Overflow: Member has more frames held than its limit; close it as a slow consumer. Its held
	// frames are dropped (its client resyncs by state vector once it reconnects).
	Overflow
	// AnswerWrite: the HTTP write Waiter waited for is durable; answer it.
	AnswerWrite
	// AnswerRead: what the HTTP read Waiter was shown is durable; answer it.
	AnswerRead
	// Changed: the document's durable content moved on (Durable grew) since the last Changed:
	// the place for a change notification. It comes first in what one Release lists.
	Changed

	// The kinds below come from a Core only.

	// Close: close Member with Refusal (Custom: with Err, the caller's own reason).
	Close
	// Reply: answer the request Waiter with Refusal: it is refused, or the document closed.
	Reply
	// Append: hand Data to storage's log as the append of durability index Index; report it back
	// with AppendReported.
	Append
	// Save: encode a snapshot of the document as it is now and hand it to storage with the
	// Core's Saving info (the caller sets its Size); report it back with SaveEnded. Compact says
	// it is a compaction (the log passed a threshold).
	Save
	// Remove: delete the document from storage; report it back with Removed.
	Remove
	// Arm: (re)start Timer to fire After from now; feed Fire when it does. Arming a timer that
	// runs replaces it.
	Arm
	// Disarm: stop Timer.
	Disarm
	// Flush: write what the caller holds for its members (Linger).
	Flush
	// AwarenessOut: awareness changes went out to the members (a place for a metric).
	AwarenessOut
	// SendOthers: send Frame to every member (Core.MemberList) but Member (the zero M: to every
	// member), now, as a Send to each would. A Core lists it for a relay that holds nothing back
	// from anyone, the common case, instead of a Send per member.
	SendOthers
	// Announce: Presence holds the local awareness changes of an interval, for the other nodes
	// of a cluster (Loaded.Cluster); it comes before the members' awareness messages.
	Announce
	// LoadAgain: a failed load's backoff has passed: load the document from storage again and
	// feed Load what it found. Until then, the caller takes no new message (Loading).
	LoadAgain
	// End: the document's life is over (Refusal says why): the caller ends its loop. The Close
	// and Reply effects for what is still connected or waiting follow it.
	End
)

// Effect is one thing a Ledger or a Core asks its caller to do, in the order of Ready.
type Effect[M Member, F, W any] struct {
	Kind    EffectKind
	Refusal Refusal       // Close, Reply, Exit
	Timer   Timer         // Arm, Disarm
	Compact bool          // Save
	Member  M             // Send, Overflow, Close
	Frame   F             // Send
	Waiter  W             // AnswerWrite, AnswerRead, Reply
	Err     error         // Close with Custom: the caller's reason
	Index   uint64        // Append
	After   time.Duration // Arm
	Data    []byte        // Append
	// Presence: Announce's awareness changes, by client ID (a nil State is a removal).
	Presence []PresenceEntry
}

type pendingAck struct {
	seq   uint64 // the member's count of updates, acknowledged as one
	index uint64 // durability index the update needs
}

type heldFrame[F any] struct {
	f    F
	need uint64
}

type waiting[W any] struct {
	need uint64
	w    W
}

// Ledger holds what waits for durability (its embedded Durability): each member's
// acknowledgements, the frames held back from members until what they carry is durable (relay
// after durable), and the HTTP writes and reads answered only once durable. Release finds what
// became due and lists it, in order, as effects (Ready) for the caller to carry out (then
// Advance).
//
// A member that has frames held keeps every later frame behind them, acks included, so that its
// frames keep their order. A member that has none and is sent a frame that needs nothing more
// than is durable gets it at once (Out returns Now): the common case costs a map lookup.
type Ledger[M Member, F, W any] struct {
	Durability

	maxHeld int                  // frames held per member before Overflow
	ack     func(seq uint64) F   // encodes an acknowledgement
	acking  map[M][]pendingAck   // updates waiting to be durable, in order; no empty lists
	held    map[M][]heldFrame[F] // frames waiting for durability, in order; no empty lists
	writes  []waiting[W]         // HTTP writes, by need
	reads   []waiting[W]         // HTTP reads, by need
	ready   []Effect[M, F, W]    // what Release found due, until Advance
	changed uint64               // Durable when Changed was last listed
}

// NewLedger returns an empty ledger that holds at most maxHeld frames per member and encodes
// acknowledgements with ack.
func NewLedger[M Member, F, W any](maxHeld int, ack func(seq uint64) F) *Ledger[M, F, W] {
	return &Ledger[M, F, W]{
		maxHeld: maxHeld,
		ack:     ack,
		acking:  make(map[M][]pendingAck),
		held:    make(map[M][]heldFrame[F]),
	}
}

// Outcome is what Out decided for a frame.
type Outcome uint8

const (
	Now     Outcome = iota // send the frame now
	Held                   // the ledger holds it until what it needs is durable
	Dropped                // the member is closing: the frame and those held before it are dropped
	Over                   // the member has too many frames held: close it (they are dropped)
)

// Out decides when frame f goes to member m: once every update up to durability index need is
// durable, and after every frame held for m before it.
func (l *Ledger[M, F, W]) Out(m M, f F, need uint64) Outcome {
	q, waiting := l.held[m]
	if !waiting && need <= l.Durable() {
		return Now
	}
	if m.Closing() {
		delete(l.held, m)
		return Dropped
	}
	if len(q) >= l.maxHeld {
		delete(l.held, m)
		return Over
	}
	l.held[m] = append(q, heldFrame[F]{f: f, need: need})
	return Held
}

// Pend records member m's update number seq, durable once index is: its acknowledgement goes out
// from a later Release.
func (l *Ledger[M, F, W]) Pend(m M, seq, index uint64) {
	l.acking[m] = append(l.acking[m], pendingAck{seq: seq, index: index})
}

// WaitWrite holds w until durability index i is durable, and reports false; if it already is,
// it reports true and holds nothing (the caller answers now).
func (l *Ledger[M, F, W]) WaitWrite(i uint64, w W) bool {
	if i <= l.Durable() {
		return true
	}
	l.writes = append(l.writes, waiting[W]{need: i, w: w})
	return false
}

// WaitRead holds w until durability index need is durable, and reports false; if it already
// is, it reports true and holds nothing.
func (l *Ledger[M, F, W]) WaitRead(need uint64, w W) bool {
	if need <= l.Durable() {
		return true
	}
	l.reads = append(l.reads, waiting[W]{need: need, w: w})
	return false
}

// Writes returns how many HTTP writes wait; Reads how many HTTP reads.
func (l *Ledger[M, F, W]) Writes() int { return len(l.writes) }

// Reads returns how many HTTP reads wait for durability.
func (l *Ledger[M, F, W]) Reads() int { return len(l.reads) }

// Forget drops what the ledger holds for member m, which is gone.
func (l *Ledger[M, F, W]) Forget(m M) {
	delete(l.acking, m)
	delete(l.held, m)
}

// Release lists, as effects, what is due now that Durable has moved: that it moved (Changed),
// each member's cumulative acknowledgement (behind the frames held for it), the held frames whose needs are met, then the
// HTTP writes and reads.
func (l *Ledger[M, F, W]) Release() {
	d := l.Durable()
	if d > l.changed {
		l.changed = d
		l.ready = append(l.ready, Effect[M, F, W]{Kind: Changed})
	}
	for m, pending := range l.acking {
		n := 0
		for n < len(pending) && pending[n].index <= d {
			n++
		}
		if n == 0 {
			continue
		}
		seq := pending[n-1].seq
		if n == len(pending) {
			delete(l.acking, m) // the list goes with it: an idle member keeps none
		} else {
			l.acking[m] = append(pending[:0], pending[n:]...)
		}
		l.emitOut(m, l.ack(seq))
	}
	for m, q := range l.held {
		n := 0
		for n < len(q) && q[n].need <= d {
			l.ready = append(l.ready, Effect[M, F, W]{Kind: Send, Member: m, Frame: q[n].f})
			n++
		}
		if n == len(q) {
			delete(l.held, m)
		} else if n > 0 {
			clear(q[:n])
			l.held[m] = q[n:]
		}
	}
	l.writes = l.answer(l.writes, d, AnswerWrite)
	l.reads = l.answer(l.reads, d, AnswerRead)
}

// emitOut lists f for m as Out would decide it with need 0.
func (l *Ledger[M, F, W]) emitOut(m M, f F) {
	switch l.Out(m, f, 0) {
	case Now:
		l.ready = append(l.ready, Effect[M, F, W]{Kind: Send, Member: m, Frame: f})
	case Over:
		l.ready = append(l.ready, Effect[M, F, W]{Kind: Overflow, Member: m})
	}
}

func (l *Ledger[M, F, W]) answer(q []waiting[W], d uint64, kind EffectKind) []waiting[W] {
	n := 0
	for n < len(q) && q[n].need <= d {
		l.ready = append(l.ready, Effect[M, F, W]{Kind: kind, Waiter: q[n].w})
		n++
	}
	if n == 0 {
		return q
	}
	return slices.Delete(q, 0, n)
}

// Ready returns the effects Release listed, in order. They stay listed until Advance.
func (l *Ledger[M, F, W]) Ready() []Effect[M, F, W] { return l.ready }

// Advance forgets the effects Ready returned, once carried out, keeping the list's memory.
func (l *Ledger[M, F, W]) Advance() {
	clear(l.ready)
	l.ready = l.ready[:0]
}

// TakeWaiters returns the HTTP writes and reads still waiting, and forgets them: the document is
// closing, and the caller answers them with the cause.
func (l *Ledger[M, F, W]) TakeWaiters() (writes, reads []W) {
	for _, w := range l.writes {
		writes = append(writes, w.w)
	}
	for _, r := range l.reads {
		reads = append(reads, r.w)
	}
	l.writes, l.reads = nil, nil
	return writes, reads
}
