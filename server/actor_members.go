package server

import (
	"slices"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
)

func (a *actor) onJoin(m joinMsg) {
	// Refusals are counted by the connection, which closes with them.
	if err := a.available(); err != nil {
		m.reply <- err
		return
	}
	if len(a.members) >= a.s.cfg.MaxConnsPerDocument {
		m.reply <- errTooManyConns // before anything is stored (admit checks again)
		return
	}
	if m.hello.ClientID == a.self {
		m.reply <- protocol.Errorf(protocol.CloseForbidden, "client id %d is the server's own in this document: draw another", a.self)
		return
	}
	// security: a client ID bound to another subject may not join (auth_bindings.go); onLeave
	// undoes the join. A writable hello binds its ID for good, and is answered only once the
	// binding is stored: nothing reveals the ID (presence, broadcasts, units) while a crash could
	// still undo the binding and let someone else take it.
	changed, err := a.bindings.join(m.c.Subject(), m.hello.ClientID, !m.c.ReadOnly())
	if err != nil {
		m.reply <- err
		return
	}
	if changed {
		a.stopIdle()
		a.bindSeq++
		seq := a.bindSeq
		a.bindJoins = append(a.bindJoins, bindJoin{m: m, seq: seq})
		a.bindings.persist(a.s.store, a.id, func(err error) {
			a.postEvent(event{kind: evBound, index: seq, err: err})
		})
		return
	}
	a.admit(m)
}

// onBound completes the joins whose bindings are stored now (persist seq and before).
func (a *actor) onBound(seq uint64, err error) {
	n := 0
	for n < len(a.bindJoins) && a.bindJoins[n].seq <= seq {
		n++
	}
	joins := slices.Clone(a.bindJoins[:n])
	a.bindJoins = slices.Delete(a.bindJoins, 0, n)
	for _, j := range joins {
		switch {
		case err != nil:
			// The binding is undone in memory too, so that the client's next hello stores it
			// again rather than find it bound and be answered before it is durable.
			a.log.Error("storing client bindings failed: refusing the join", "client", j.m.hello.ClientID, "err", err)
			a.bindings.leave(j.m.hello.ClientID)
			a.bindings.unbind(j.m.hello.ClientID)
			j.m.reply <- bindRefusal(err, j.m.hello.ClientID) // cluster (clusterstore.go)
		case j.m.c.Closing():
			a.bindings.leave(j.m.hello.ClientID)
			j.m.reply <- errGoingAway
		default:
			a.admit(j.m)
		}
	}
	if len(a.members) == 0 && len(a.bindJoins) == 0 {
		a.armIdle()
	}
}

// admit makes the sender of hello m a member and sends it the sync answer. Its client ID is
// already joined to the bindings (onJoin); a refusal here undoes that.
func (a *actor) admit(m joinMsg) {
	refuse := func(err error) {
		a.bindings.leave(m.hello.ClientID)
		m.reply <- err
	}
	if err := a.available(); err != nil {
		refuse(err)
		return
	}
	if len(a.members) >= a.s.cfg.MaxConnsPerDocument {
		refuse(errTooManyConns)
		return
	}
	frame, err := a.syncFrame(m.hello.StateVector)
	if err != nil {
		refuse(err)
		return
	}
	c := m.c
	a.stopIdle()
	a.addMember(c)
	// The joiner sees the document as it is now; where that holds what is not durable yet and
	// must not be seen before it is (relay), the answer waits for it, and so does everything
	// sent to the joiner after it.
	need := a.visibleNeed()
	a.out(c, outFrame{data: frame}, need)
	if f := a.pendingUpdateFrame(); f != nil {
		a.out(c, outFrame{data: f}, need)
	}
	if f := a.awarenessFor(m.hello.ClientID); f != nil {
		a.out(c, outFrame{data: f}, need)
	}
	m.reply <- nil
	a.log.Debug("joined", "client", m.hello.ClientID, "members", len(a.members), "read_only", c.ReadOnly())
}

// seatOf returns c's seat, or nil if c is not joined to the actor.
func (a *actor) seatOf(c member) *room.Seat {
	s := c.Seat()
	if i := int(s.Slot); i < len(a.members) && a.members[i] == c {
		return s
	}
	return nil
}

// isMember reports whether c is joined to the actor.
func (a *actor) isMember(c member) bool { return a.seatOf(c) != nil }

// addMember adds c to the members, at the end.
func (a *actor) addMember(c member) {
	c.Seat().Slot = int32(len(a.members))
	a.members = append(a.members, c)
}

// removeMember takes c, a member, out of the members: the last one takes its slot.
func (a *actor) removeMember(c member) {
	slot := c.Seat().Slot
	last := len(a.members) - 1
	if int(slot) != last {
		moved := a.members[last]
		a.members[slot] = moved
		moved.Seat().Slot = slot
	}
	a.members[last] = nil
	a.members = a.members[:last]
}

// syncFrame returns the sync answer to a hello with state vector svBytes: the snapshot for an empty
// state vector (cached per document version, so that a crowd of joiners costs one encoding), else
// the update the client lacks.
func (a *actor) syncFrame(svBytes []byte) ([]byte, error) {
	var since crdt.StateVector
	if len(svBytes) > 0 {
		sv, err := crdt.DecodeStateVector(svBytes)
		if err != nil {
			return nil, protocol.Errorf(protocol.CloseBadMessage, "hello: bad state vector: %v", err)
		}
		since = sv
	}
	if len(since) == 0 {
		if a.joinFrame != nil && a.joinVersion == a.version {
			a.s.metrics.joinSnapshotHit.Inc()
			return a.joinFrame, nil
		}
		a.joinFrame = protocol.EncodeFrame(0, &protocol.Sync{
			Update:      a.doc.EncodeSnapshot(),
			StateVector: crdt.EncodeStateVector(a.stateVector()),
		})
		a.joinVersion = a.version
		return a.joinFrame, nil
	}
	return protocol.EncodeFrame(0, &protocol.Sync{
		Update:      a.doc.EncodeUpdate(since),
		StateVector: crdt.EncodeStateVector(a.stateVector()),
	}), nil
}

// pendingUpdateFrame returns an update frame holding the units and deletions that wait for their
// dependencies, or nil when none wait. A joiner gets it right after the sync answer, which leaves
// them out: when the dependencies arrive (often from that same joiner, re-sending what a crash lost),
// what is broadcast is the update that carries them, never the units it releases, so a joiner not
// sent them now would never have them.
func (a *actor) pendingUpdateFrame() []byte {
	if v := a.doc.Version(); a.pendingFrame == nil || a.pendingDocVersion != v {
		a.pendingFrame, a.pendingDocVersion = nil, v
		if p := a.doc.PendingUpdate(); p != nil {
			a.pendingFrame = protocol.EncodeFrame(0, &protocol.Update{Data: p})
		}
	}
	return a.pendingFrame
}

// stateVector returns the document's state vector, cached per version. The caller must not modify it.
func (a *actor) stateVector() crdt.StateVector {
	if a.svCache == nil || a.svVersion != a.version {
		a.svCache = a.doc.StateVector()
		a.svVersion = a.version
	}
	return a.svCache
}

func (a *actor) onLeave(c member) {
	if !a.isMember(c) {
		return
	}
	cid := c.ClientID()
	a.removeMember(c)
	a.ledger.Forget(c)
	a.bindings.leave(cid) // security
	if a.presence.Leave(c, cid) {
		a.armAwareness()
	}
	if len(a.members) == 0 {
		a.armIdle()
	}
	a.log.Debug("left", "client", cid, "members", len(a.members))
}

func (a *actor) onAwareness(m awarenessMsg) {
	if a.isMember(m.c) && a.presence.Set(m.c, m.c.ClientID(), m.clock, m.state) {
		a.armAwareness()
	}
}

// armAwareness arms the timer that sends the coalesced awareness changes (flushAwareness).
func (a *actor) armAwareness() {
	if a.awareTimer == nil {
		a.awareTimer = time.NewTimer(a.s.cfg.AwarenessInterval)
	}
}

// flushAwareness sends the awareness changes of the last interval, latest state per client
// (room.Presence), to every member, in one message each: the same bytes for all, except that a
// member whose own client changed gets a copy without its own entry.
func (a *actor) flushAwareness() {
	changes := a.presence.Flush()
	changes = a.relayPresence(changes) // cluster: to and from the other nodes (actor_presence.go)
	if len(changes) == 0 || len(a.members) == 0 {
		return
	}
	entries := awarenessEntries(changes)
	pos := make(map[uint64]int, len(entries))
	for i, e := range entries {
		pos[e.ClientID] = i
	}
	all := protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: entries})
	for _, c := range a.members {
		i, own := pos[c.ClientID()]
		if !own {
			a.out(c, outFrame{data: all}, 0)
			continue
		}
		if len(entries) == 1 {
			continue
		}
		others := make([]protocol.AwarenessEntry, 0, len(entries)-1)
		others = append(others, entries[:i]...)
		others = append(others, entries[i+1:]...)
		a.out(c, outFrame{data: protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: others})}, 0)
	}
	a.s.metrics.awarenessOut.Inc()
}

// awarenessEntries returns the wire form of presence entries.
func awarenessEntries(es []room.PresenceEntry) []protocol.AwarenessEntry {
	out := make([]protocol.AwarenessEntry, len(es))
	for i, e := range es {
		out[i] = protocol.AwarenessEntry{ClientID: e.ClientID, Clock: e.Clock, State: e.State}
	}
	return out
}

// awarenessFor returns the awareness message a joiner gets: every current state but its own, or
// nil when there is none.
func (a *actor) awarenessFor(clientID uint64) []byte {
	current := a.presence.Current(clientID)
	current = a.withRemotePresence(current, clientID) // cluster (actor_presence.go)
	if len(current) == 0 {
		return nil
	}
	return protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: awarenessEntries(current)})
}

func (a *actor) onBroadcast(m broadcastMsg) {
	if !a.isMember(m.c) {
		return
	}
	a.broadcast(outFrame{data: protocol.EncodeFrame(0, &protocol.PeerBroadcast{ClientID: m.c.ClientID(), Payload: m.payload})}, m.c)
}
