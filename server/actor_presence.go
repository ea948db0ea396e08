package server

import (
	"github.com/tandemhq/tandem/server/internal/relay"
	"github.com/tandemhq/tandem/server/internal/room"
)

// The actor's side of presence across cluster nodes (cluster_presence.go). On a cluster node each
// actor opens its document on the node's relay: the awareness changes its core flushes go to the
// other nodes too (room.Announce), and the states the other nodes relay are handed to the core
// (room.Core.RemotePresence), which merges them into the next flush and into what a joiner is
// shown, so that the members see every node's editors in the same coalesced messages, still
// stamped with client IDs. When another node dies, the relay hands the actor removals for its
// clients' states, which go out like any other. On a single node (s.relay nil) none of this runs.

// evRemotePresence: the other nodes' awareness changes wait in a.remote (relay.Doc.Flush). Its
// value stands apart from the kinds listed with iota in actor.go.
const evRemotePresence eventKind = 64

// openRemote starts relaying the document's presence to and from the other nodes. A failure
// costs only the other nodes' cursors, so it is logged, not fatal.
func (a *actor) openRemote() {
	if a.s.relay == nil || a.loadErr != nil {
		return
	}
	d, err := a.s.relay.Open(a.id, func() { a.postEvent(event{kind: evRemotePresence}) })
	if err != nil {
		a.log.Warn("presence across nodes unavailable for this document", "err", err)
		return
	}
	a.remote = d
}

// closeRemote stops relaying: the other nodes drop this document's local states.
func (a *actor) closeRemote() {
	if a.remote != nil {
		a.remote.Close()
		a.remote = nil
	}
}

// onRemotePresence hands the core the other nodes' changes, and the states the relay holds now.
func (a *actor) onRemotePresence() {
	if a.remote == nil {
		return
	}
	a.core.RemotePresence(presenceEntries(a.remote.Flush()), presenceEntries(a.remote.Current()))
}

// announce carries out room.Announce: the local awareness changes of an interval go to the other
// nodes.
func (a *actor) announce(changes []room.PresenceEntry) {
	if a.remote == nil {
		return
	}
	out := make([]relay.Entry, len(changes))
	for i, e := range changes {
		out[i] = relay.Entry{ClientID: e.ClientID, Clock: e.Clock, State: e.State}
	}
	a.remote.Publish(out)
}

// presenceEntries returns the relay's entries as the core's.
func presenceEntries(es []relay.Entry) []room.PresenceEntry {
	if len(es) == 0 {
		return nil
	}
	out := make([]room.PresenceEntry, len(es))
	for i, e := range es {
		out[i] = room.PresenceEntry{ClientID: e.ClientID, Clock: e.Clock, State: e.State}
	}
	return out
}
