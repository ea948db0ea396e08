package server

import (
	"slices"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
)

func (a *actor) onJoin(m joinMsg) {
	// Refusals are counted by the connection, which closes with them. The core refuses a join
	// past MaxConnsPerDocument before anything is stored (admit asks again).
	if err := refusalErr(a.core.AdmitJoin(), nil); err != nil {
		m.reply <- err
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
		a.core.JoinWaits()
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
	a.core.JoinsDone(len(joins))
}

// admit makes the sender of hello m a member and sends it the sync answer. Its client ID is
// already joined to the bindings (onJoin); a refusal here undoes that.
func (a *actor) admit(m joinMsg) {
	refuse := func(err error) {
		a.bindings.leave(m.hello.ClientID)
		m.reply <- err
	}
	if err := refusalErr(a.core.AdmitJoin(), nil); err != nil {
		refuse(err)
		return
	}
	frame, err := a.syncFrame(m.hello.StateVector)
	if err != nil {
		refuse(err)
		return
	}
	// The joiner sees the document as it is now, and the awareness states of the others
	// (room.Core.Joined); where that holds what is not durable yet and must not be seen before
	// it is (relay), the answer waits for it, and so does everything sent to the joiner after it.
	if f := a.pendingUpdateFrame(); f != nil {
		a.core.Joined(m.c, m.hello.ClientID, outFrame{data: frame}, outFrame{data: f})
	} else {
		a.core.Joined(m.c, m.hello.ClientID, outFrame{data: frame})
	}
	a.perform()
	m.reply <- nil
	a.log.Debug("joined", "client", m.hello.ClientID, "members", a.core.Members(), "read_only", m.c.ReadOnly())
}

// joinKeepBytes is the size from which a join frame (the sync answer to an empty state vector)
// is kept only once a second joiner asks for it at the same document version. Kept, it costs
// about the snapshot's size for as long as the document stays loaded and unchanged: for a large
// document, the largest part of its memory after its text (BENCHMARKS.md, Storage: reload
// memory). A lone joiner (the usual reload, a reader opening a large document) leaves it garbage
// once written; a crowd costs two encodings instead of one, then shares the second.
const joinKeepBytes = 1 << 20

// syncFrame returns the sync answer to a hello with state vector svBytes: the snapshot for an empty
// state vector, else the update the client lacks. The snapshot is written straight into the frame
// (protocol.EncodeSyncFrame) and kept per document version (joinKeepBytes), so that a crowd of
// joiners costs one or two encodings.
func (a *actor) syncFrame(svBytes []byte) ([]byte, error) {
	var since crdt.StateVector
	if len(svBytes) > 0 {
		sv, err := crdt.DecodeStateVector(svBytes)
		if err != nil {
			return nil, protocol.Errorf(protocol.CloseBadMessage, "hello: bad state vector: %v", err)
		}
		since = sv
	}
	if len(since) != 0 {
		return protocol.EncodeFrame(0, &protocol.Sync{
			Update:      a.doc.EncodeUpdate(since),
			StateVector: crdt.EncodeStateVector(a.stateVector()),
		}), nil
	}
	again := a.joinBuilt && a.joinVersion == a.version
	if again && a.joinFrame != nil {
		a.s.metrics.joinSnapshotHit.Inc()
		return a.joinFrame, nil
	}
	a.joinFrame = nil // an earlier version's: garbage while the new one is encoded
	frame := protocol.EncodeSyncFrame(0, a.doc.AppendSnapshot, crdt.EncodeStateVector(a.stateVector()))
	a.joinBuilt, a.joinVersion = true, a.version
	if again || len(frame) < joinKeepBytes {
		a.joinFrame = frame
	} else {
		a.s.mem.note(noteJoin, int64(len(frame))) // garbage once written (memrelease.go)
	}
	return frame, nil
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
	if !a.core.Leave(c) {
		return
	}
	cid := c.ClientID()
	a.bindings.leave(cid) // security
	a.log.Debug("left", "client", cid, "members", a.core.Members())
}

// onAwareness records a member's awareness state; the core sends the changes of each interval,
// the latest state per client, coalesced (room.Core.Awareness, room.Presence).
func (a *actor) onAwareness(m awarenessMsg) {
	a.core.Awareness(m.c, m.clock, m.state)
}

// awarenessEntries returns the wire form of presence entries.
func awarenessEntries(es []room.PresenceEntry) []protocol.AwarenessEntry {
	out := make([]protocol.AwarenessEntry, len(es))
	for i, e := range es {
		out[i] = protocol.AwarenessEntry{ClientID: e.ClientID, Clock: e.Clock, State: e.State}
	}
	return out
}

func (a *actor) onBroadcast(m broadcastMsg) {
	if !a.core.IsMember(m.c) {
		return
	}
	a.core.Broadcast(m.c, outFrame{data: protocol.EncodeFrame(0, &protocol.PeerBroadcast{ClientID: m.c.ClientID(), Payload: m.payload})})
}
