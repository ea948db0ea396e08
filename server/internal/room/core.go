package room

import (
	"slices"
	"time"
)

// Peer is what a Core knows of a member: a Ledger's Member, the Seat it keeps in the connection,
// the client ID of its hello and its token's subject.
type Peer interface {
	Member
	Seat() *Seat
	ClientID() uint64
	Subject() string
}

// Timer names one of the timers a Core arms (Arm, Disarm) and is told of (Fire).
type Timer uint8

const (
	TimerIdle      Timer = iota // no member nor request for the idle grace: unload
	TimerAwareness              // send the awareness changes of the interval
	TimerSave                   // a failed save's backoff has passed: save again
	TimerFlush                  // a busy document's held frames are due (Linger)
	TimerLoad                   // a failed load's backoff has passed: load again (LoadAgain)
	NumTimers                   // how many timers there are
)

// CoreConfig is what a Core's decisions depend on.
type CoreConfig struct {
	MaxHeld           int           // frames held per member for durability before it is closed
	MaxMembers        int           // members at most; a join past it is refused with Full
	MaxDocBytes       int64         // the document's stored size at most (Fits)
	IdleAfter         time.Duration // unload after this long without members nor requests
	AwarenessInterval time.Duration // awareness changes go out at most once per interval
	Save              SaveConfig
	Load              LoadConfig
}

// LoadConfig is how a document whose load failed loads again. A load fails when storage is
// unreachable for a while (a cluster's NATS servers electing a leader take seconds), so the
// Core has the caller load again after a backoff, while the joins and requests that came meanwhile
// wait, rather than refuse them for the idle grace; only once the waits add up to For does it
// give up: it refuses everything for Grace, then ends, and the next join starts a fresh load.
// The loads and waits are bounded so that a joiner hears a refusal within its client's
// handshake, and storage that fails for good is read a bounded number of times per join.
type LoadConfig struct {
	Backoff    time.Duration // before the second load; each failure doubles it... (zero: no retry)
	MaxBackoff time.Duration // ...up to this
	For        time.Duration // the loads (Loaded.Took) and the waits between them add up to at most this
	Grace      time.Duration // after the last failure, refusals go on this long, then the end (zero: IdleAfter)
}

// Encoders make the frames a Core sends by itself: acknowledgements and awareness messages.
type Encoders[F any] struct {
	Ack       func(seq uint64) F
	Awareness func(entries []PresenceEntry) F
}

// Loaded is what a document's load found.
type Loaded struct {
	Failed    bool  // the load failed: the document refuses everything until it exits
	Exists    bool  // the document is in storage
	Entries   int   // log entries after the snapshot...
	Bytes     int64 // ...and their size
	LastSeq   uint64
	SnapBytes int64 // the snapshot's size
	// HoldFromOthers: client bindings are on (a secret is set), so an update is held from the
	// members of other subjects than its author's until durable (relay after durable).
	HoldFromOthers bool
	// Cluster: the document's log is shared with other nodes, which this one follows from
	// Cursor on (Followed). A save then folds the log up to the cursor at most, and covers no
	// append in flight: the other nodes see only what the log holds, so an update is durable
	// when its append is (a failed append is retried by storage, not healed by a snapshot).
	// The local awareness changes go to the other nodes (Announce) and theirs join the
	// members' (RemotePresence).
	Cluster bool
	Cursor  uint64
	// Took is how long the load took: a failed load is tried again while the loads and the
	// waits between them add up to LoadConfig.For at most.
	Took time.Duration
}

// Applied is an update the caller applied to its document: the facts a Core decides on.
type Applied[M Peer, F any] struct {
	From    M      // the member it came from; the zero M for HTTP, the server's own edits and remote entries
	Seq     uint64 // From's count of updates, acknowledged once durable (0: no acknowledgement)
	Changed bool   // the document changed: the update is stored and relayed
	Data    []byte // the update, appended to the log
	Frame   F      // its frame, relayed to the other members
	// Own: the server's own units (HTTP edits), held from every member until durable.
	Own bool
	// Remote: an entry of another node's log, already durable there: relayed at once, neither
	// appended nor acknowledged, nor counted in the log accounting (each node compacts after its
	// own appends, so that a document's compactions follow its writes and are not made by every
	// node that has it open).
	Remote bool
}

// Core is a document's decisions as one value: fed events (a member joined or left, an update
// applied, an append or a save reported, awareness in, an HTTP request, a timer fired, a
// deletion, the end of a batch), it lists effects in Ready (send a frame to a member, close a
// member, acknowledge, append bytes, save a snapshot, answer a request, arm a timer, the
// document changed, end), which the caller carries out before it calls Advance. It is made of
// the machines of this package: a Ledger (durability and what waits for it), a Saver, a
// Presence, a Linger, and Admit and Settle for the document's life.
//
// A Core does no I/O, starts no goroutine and reads no clock: the time comes in as a value
// where a decision needs it, and timers go out as Arm effects. The caller applies updates to the
// CRDT and encodes frames, and tells the Core the facts (Applied).
//
// M is the caller's member handle, F its frame and W its handle of a waiting HTTP request. A
// Core is not safe for concurrent use: one goroutine (the document's actor) makes every call.
type Core[M Peer, F, W any] struct {
	cfg CoreConfig
	enc Encoders[F]
	led *Ledger[M, F, W]

	saver    *Saver
	saving   SaveInfo // the save in flight
	presence *Presence[M]
	linger   Linger
	armed    [NumTimers]bool

	members []M // each at its seat's Slot

	mode       Mode
	loadFailed bool          // the document never loaded: nothing to save, nothing admitted
	reloading  bool          // a failed load waits for its backoff (TimerLoad) or runs again
	loadSpent  time.Duration // the failed loads and the waits after them, in sum
	loadNext   time.Duration // the next one
	fatal      bool          // a save failed for good while the log lacks updates: exit now
	exists     bool          // the document is in storage or has been written
	holdOthers bool          // Loaded.HoldFromOthers
	own        uint64        // durability index of the last append of the server's own units
	joins      int           // joins waiting for a write of the caller's (client bindings)
	metaWrites int           // other writes to storage in flight (the server's client ID)
	deleting   bool
	deleted    bool
	exited     bool

	// A cluster node's (Loaded.Cluster): where the following of the log stands (Followed),
	// whether another node deleted the document (Gone), the other nodes' awareness states as
	// the relay last told them (RemotePresence) and their changes not sent yet, by client ID.
	cluster       bool
	cursor        uint64
	gone          bool
	remoteCurrent []PresenceEntry
	remoteChanges map[uint64]PresenceEntry
}

// NewCore returns the Core of a document that is loading: feed Load first.
func NewCore[M Peer, F, W any](cfg CoreConfig, enc Encoders[F]) *Core[M, F, W] {
	return &Core[M, F, W]{
		cfg:      cfg,
		enc:      enc,
		led:      NewLedger[M, F, W](cfg.MaxHeld, enc.Ack),
		saver:    NewSaver(cfg.Save),
		presence: NewPresence[M](),
	}
}

// Ready returns the effects listed since the last Advance, in order.
func (c *Core[M, F, W]) Ready() []Effect[M, F, W] { return c.led.ready }

// Advance forgets the effects Ready returned, once carried out.
func (c *Core[M, F, W]) Advance() { c.led.Advance() }

func (c *Core[M, F, W]) emit(e Effect[M, F, W]) { c.led.ready = append(c.led.ready, e) }

// Mode returns what the document is doing with its life.
func (c *Core[M, F, W]) Mode() Mode { return c.mode }

// Members returns how many members the document has.
func (c *Core[M, F, W]) Members() int { return len(c.members) }

// MemberList returns the members, for the caller to carry out SendOthers. It must not modify
// the list, which changes with the next join or leave.
func (c *Core[M, F, W]) MemberList() []M { return c.members }

// Durable returns the durability index up to which every update is durable.
func (c *Core[M, F, W]) Durable() uint64 { return c.led.Durable() }

// OwnDurable reports whether every update of the server's own (Applied.Own) is durable.
func (c *Core[M, F, W]) OwnDurable() bool { return c.own <= c.led.Durable() }

// Issued returns the durability index of the last append.
func (c *Core[M, F, W]) Issued() uint64 { return c.led.Issued() }

// DocBytes returns the document's stored size: snapshot plus log.
func (c *Core[M, F, W]) DocBytes() int64 { return c.saver.DocBytes() }

// Fits reports whether an update of n bytes keeps the document within MaxDocBytes; the caller
// refuses one that does not before it applies it.
func (c *Core[M, F, W]) Fits(n int64) bool { return c.saver.DocBytes()+n <= c.cfg.MaxDocBytes }

// Presence returns the awareness states, to look at (tests, metrics).
func (c *Core[M, F, W]) Presence() *Presence[M] { return c.presence }

// Saving returns what the save in flight folds and covers (the caller sets Size).
func (c *Core[M, F, W]) Saving() SaveInfo { return c.saving }

// SaveAttempts returns the consecutive failed saves so far.
func (c *Core[M, F, W]) SaveAttempts() int { return c.saver.Attempts() }

// seatOf returns m's seat, or nil if m is not a member.
func (c *Core[M, F, W]) seatOf(m M) *Seat {
	s := m.Seat()
	if i := int(s.Slot); i < len(c.members) && c.members[i] == m {
		return s
	}
	return nil
}

// IsMember reports whether m is a member.
func (c *Core[M, F, W]) IsMember(m M) bool { return c.seatOf(m) != nil }

// Joined makes m, whose hello had client ID cid, a member and sends it frames (the sync answer,
// and what the caller adds to it), then the awareness states of the others. A joiner is shown
// the document as it is now: where that holds what is not durable yet and must not be seen
// before it is (relay after durable), the frames wait for it, and so does everything sent to
// the joiner after them. The caller has admitted the join (AdmitJoin).
func (c *Core[M, F, W]) Joined(m M, cid uint64, frames ...F) {
	c.disarm(TimerIdle)
	m.Seat().Slot = int32(len(c.members))
	c.members = append(c.members, m)
	need := c.visibleNeed()
	for _, f := range frames {
		c.out(m, f, need)
	}
	cur := c.presence.Current(cid)
	cur = mergePresence(cur, c.remoteCurrent, cid)
	if len(cur) > 0 {
		c.out(m, c.enc.Awareness(cur), need)
	}
}

// Leave takes m out of the members, and reports whether it was one.
func (c *Core[M, F, W]) Leave(m M) bool {
	if !c.IsMember(m) {
		return false
	}
	slot := m.Seat().Slot
	last := len(c.members) - 1
	if int(slot) != last {
		moved := c.members[last]
		c.members[slot] = moved
		moved.Seat().Slot = slot
	}
	var zero M
	c.members[last] = zero
	c.members = c.members[:last]
	c.led.Forget(m)
	if c.presence.Leave(m, m.ClientID()) {
		c.arm(TimerAwareness, c.cfg.AwarenessInterval)
	}
	if len(c.members) == 0 {
		c.armIdle()
	}
	return true
}

// Receive counts an update message from m and returns its number, or false when m is not a
// member or an update of its was refused (what it had queued is dropped unread).
func (c *Core[M, F, W]) Receive(m M) (uint64, bool) {
	s := c.seatOf(m)
	if s == nil || s.Refused {
		return 0, false
	}
	s.Received++
	return s.Received, true
}

// Refuse closes m, whose update was refused for err; its later updates are dropped unread.
func (c *Core[M, F, W]) Refuse(m M, err error) {
	if s := c.seatOf(m); s != nil {
		s.Refused = true
	}
	c.emit(Effect[M, F, W]{Kind: Close, Member: m, Refusal: Custom, Err: err})
}

// Apply decides what becomes of an update the caller applied, and returns the durability index
// after which it is durable. A change is appended and relayed to the other members (at once,
// or once durable where relay after durable asks it); the author's acknowledgement (u.Seq) goes
// out once it is durable. An update that changed nothing is neither stored nor relayed; its
// index is that of the last append, so that its acknowledgement keeps the order. A remote entry
// is relayed at once and nothing else.
func (c *Core[M, F, W]) Apply(u Applied[M, F]) uint64 {
	var zero M
	from := u.From != zero
	if u.Remote {
		if u.Changed {
			c.exists = true
			c.relay(u.Frame, 0, u.From, from, false)
		}
		return 0
	}
	index := c.led.Issued()
	if u.Changed {
		index = c.led.Issue()
		c.saver.Appended(int64(len(u.Data)))
		c.exists = true
		c.emit(Effect[M, F, W]{Kind: Append, Index: index, Data: u.Data})
		if c.mode == Run && c.saver.WantCompact() {
			c.startSave(true)
		}
		if u.Own {
			c.own = index
		}
		c.relay(u.Frame, index, u.From, from, u.Own)
	}
	if from && u.Seq > 0 {
		c.led.Pend(u.From, u.Seq, index)
		c.Release()
	}
	return index
}

// Relay after durable (DESIGN.md, "Identity and crashes"). A unit relayed before it is durable
// can be lost in a crash while another replica holds it. The server's own units are held from
// everyone until durable (a restarted server would issue their clocks again with other
// content); with client bindings on, a unit is held from the members of other subjects than its
// author's (after a crash they would send it back and be refused as forgers). The same rule
// covers what a joiner or an HTTP reader is shown (visibleNeed).
func (c *Core[M, F, W]) relay(f F, index uint64, from M, hasFrom, own bool) {
	need := uint64(0)
	if own || c.holdOthers {
		need = index
	}
	if len(c.led.held) == 0 && need <= c.led.Durable() {
		// Nothing is held for anyone, and nothing need be: every member gets f now (Out).
		if len(c.members) > 1 || len(c.members) == 1 && (!hasFrom || c.members[0] != from) {
			c.emit(Effect[M, F, W]{Kind: SendOthers, Member: from, Frame: f})
		}
		return
	}
	for _, m := range c.members {
		if hasFrom && m == from {
			continue
		}
		n := need
		if n > 0 && !own && hasFrom && m.Subject() == from.Subject() {
			n = 0
		}
		c.out(m, f, n)
	}
}

// visibleNeed returns the durability index up to which the document must be durable before its
// present content may be shown to a joiner or an HTTP reader (0: at once): with bindings on,
// every update handed to storage; without, the server's own units.
func (c *Core[M, F, W]) visibleNeed() uint64 {
	switch {
	case c.holdOthers:
		return c.led.Issued()
	case c.own > c.led.Durable():
		return c.own
	}
	return 0
}

// out sends f to m once every update up to durability index need is durable, and after every
// frame held for m before it; a member with more frames held than MaxHeld is closed (Overflow).
func (c *Core[M, F, W]) out(m M, f F, need uint64) {
	switch c.led.Out(m, f, need) {
	case Now:
		c.emit(Effect[M, F, W]{Kind: Send, Member: m, Frame: f})
	case Over:
		c.emit(Effect[M, F, W]{Kind: Overflow, Member: m})
	}
}

// Broadcast relays f, which carries no document content, from member m to the other members.
func (c *Core[M, F, W]) Broadcast(m M, f F) {
	if !c.IsMember(m) {
		return
	}
	for _, o := range c.members {
		if o != m {
			c.out(o, f, 0)
		}
	}
}

// Awareness records the awareness state member m sent at clock (empty: a removal); the change
// goes out with the next interval's.
func (c *Core[M, F, W]) Awareness(m M, clock uint64, state []byte) {
	if c.IsMember(m) && c.presence.Set(m, m.ClientID(), clock, state) {
		c.arm(TimerAwareness, c.cfg.AwarenessInterval)
	}
}

// flushAwareness sends the awareness changes of the last interval, latest state per client, to
// every member, in one message each: the same frame for all, except that a member whose own
// client changed gets one without its own entry.
//
// On a cluster node the local changes go to the other nodes first (Announce), and the other
// nodes' changes (RemotePresence) join them.
func (c *Core[M, F, W]) flushAwareness() {
	changes := c.presence.Flush()
	if c.cluster {
		if len(changes) > 0 {
			c.emit(Effect[M, F, W]{Kind: Announce, Presence: changes})
		}
		changes = c.takeRemoteChanges(changes)
	}
	if len(changes) == 0 || len(c.members) == 0 {
		return
	}
	all := c.enc.Awareness(changes)
	for _, m := range c.members {
		cid := m.ClientID()
		i, own := slices.BinarySearchFunc(changes, cid, func(e PresenceEntry, id uint64) int {
			switch {
			case e.ClientID < id:
				return -1
			case e.ClientID > id:
				return 1
			}
			return 0
		})
		if !own {
			c.out(m, all, 0)
			continue
		}
		if len(changes) == 1 {
			continue
		}
		others := make([]PresenceEntry, 0, len(changes)-1)
		others = append(others, changes[:i]...)
		others = append(others, changes[i+1:]...)
		c.out(m, c.enc.Awareness(others), 0)
	}
	c.emit(Effect[M, F, W]{Kind: AwarenessOut})
}

// Release lists what is due now that durability may have moved: that the document changed, the
// acknowledgements and held frames, then the HTTP answers, whose going may let the document go
// idle. The caller feeds it after a run of storage reports (AppendReported, SaveEnded), once, so
// that a member gets one cumulative acknowledgement for them.
func (c *Core[M, F, W]) Release() {
	from := len(c.led.ready)
	c.led.Release()
	for _, e := range c.led.ready[from:] {
		if e.Kind == AnswerWrite || e.Kind == AnswerRead {
			if c.led.Writes() == 0 && len(c.members) == 0 {
				c.armIdle()
			}
			return
		}
	}
}
