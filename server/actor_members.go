package server

import (
	"slices"
	"sort"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
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
			j.m.reply <- errStorage
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
	a.addMember(c, m.hello.ClientID)
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
func (a *actor) seatOf(c member) *seat { return a.seats[c] }

// isMember reports whether c is joined to the actor.
func (a *actor) isMember(c member) bool { return a.seats[c] != nil }

// addMember adds c, whose hello gave clientID, to the members, at the end.
func (a *actor) addMember(c member, clientID uint64) {
	a.seats[c] = &seat{slot: len(a.members), clientID: clientID}
	a.members = append(a.members, c)
}

// removeMember takes c, a member, out of the members: the last one takes its slot.
func (a *actor) removeMember(c member) {
	s := a.seats[c]
	last := len(a.members) - 1
	if s.slot != last {
		moved := a.members[last]
		a.members[s.slot] = moved
		a.seats[moved].slot = s.slot
	}
	a.members[last] = nil
	a.members = a.members[:last]
	delete(a.seats, c)
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
	s := a.seatOf(c)
	if s == nil {
		return
	}
	cid := s.clientID
	a.removeMember(c)
	a.ledger.Forget(c)
	a.bindings.leave(cid) // security
	if e := a.aware[cid]; e != nil && e.owner == c && e.state != nil {
		e.state = nil
		e.clock++
		a.markAware(cid)
	}
	if len(a.members) == 0 {
		a.armIdle()
	}
	a.log.Debug("left", "client", cid, "members", len(a.members))
}

func (a *actor) onAwareness(m awarenessMsg) {
	s := a.seatOf(m.c)
	if s == nil {
		return
	}
	cid := s.clientID
	e := a.aware[cid]
	if len(m.state) == 0 {
		if e == nil || e.owner != m.c || e.state == nil {
			return
		}
		e.state = nil
		e.clock = max(m.clock, e.clock+1)
		a.markAware(cid)
		return
	}
	if e == nil {
		e = &awareEntry{}
		a.aware[cid] = e
	} else if e.owner == m.c && m.clock <= e.clock {
		return // stale
	}
	e.owner, e.clock, e.state = m.c, m.clock, m.state
	a.markAware(cid)
}

// markAware schedules client cid's awareness state for the next coalesced message.
func (a *actor) markAware(cid uint64) {
	a.awareDirty[cid] = struct{}{}
	if a.awareTimer == nil {
		a.awareTimer = time.NewTimer(a.s.cfg.AwarenessInterval)
	}
}

// flushAwareness sends the awareness changes of the last interval, latest state per client, to
// every member, in one message each: the same bytes for all, except that a member whose own client
// changed gets a copy without its own entry.
func (a *actor) flushAwareness() {
	if len(a.awareDirty) == 0 {
		return
	}
	entries := make([]protocol.AwarenessEntry, 0, len(a.awareDirty))
	for cid := range a.awareDirty {
		e := a.aware[cid]
		if e == nil {
			continue
		}
		entries = append(entries, protocol.AwarenessEntry{ClientID: cid, Clock: e.clock, State: e.state})
		if e.state == nil {
			delete(a.aware, cid)
		}
	}
	clear(a.awareDirty)
	if len(entries) == 0 || len(a.members) == 0 {
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].ClientID < entries[j].ClientID })
	pos := make(map[uint64]int, len(entries))
	for i, e := range entries {
		pos[e.ClientID] = i
	}
	all := protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: entries})
	for _, c := range a.members {
		i, own := pos[a.seats[c].clientID]
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

// awarenessFor returns the awareness message a joiner gets: every current state but its own, or
// nil when there is none.
func (a *actor) awarenessFor(clientID uint64) []byte {
	var entries []protocol.AwarenessEntry
	for cid, e := range a.aware {
		if cid != clientID && e.state != nil {
			entries = append(entries, protocol.AwarenessEntry{ClientID: cid, Clock: e.clock, State: e.state})
		}
	}
	if len(entries) == 0 {
		return nil
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].ClientID < entries[j].ClientID })
	return protocol.EncodeFrame(0, &protocol.PeerAwareness{Entries: entries})
}

func (a *actor) onBroadcast(m broadcastMsg) {
	s := a.seatOf(m.c)
	if s == nil {
		return
	}
	a.broadcast(outFrame{data: protocol.EncodeFrame(0, &protocol.PeerBroadcast{ClientID: s.clientID, Payload: m.payload})}, m.c)
}
