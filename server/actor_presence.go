package server

import (
	"cmp"
	"slices"

	"github.com/tandemhq/tandem/server/internal/relay"
	"github.com/tandemhq/tandem/server/internal/room"
)

// The actor's side of presence across cluster nodes (cluster_presence.go). On a cluster node each
// actor opens its document on the node's relay: the awareness changes it flushes to its members
// go to the other nodes too, and the states the other nodes relay join the next flush, so that
// the members see every node's editors in the same coalesced messages, still stamped with client
// IDs. When another node dies, the relay hands the actor removals for its clients' states, which
// go out like any other. On a single node (s.relay nil) none of this runs.

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

// onRemotePresence: the other nodes' changes go out with the next awareness flush.
func (a *actor) onRemotePresence() {
	if a.remote != nil {
		a.armAwareness()
	}
}

// relayPresence sends the local awareness changes of an interval to the other nodes, and returns
// them with the other nodes' changes added, by client ID. A client with a local entry keeps only
// that one: an awareness message never holds two entries for one client ID.
func (a *actor) relayPresence(changes []room.PresenceEntry) []room.PresenceEntry {
	if a.remote == nil {
		return changes
	}
	if len(changes) > 0 {
		out := make([]relay.Entry, len(changes))
		for i, e := range changes {
			out[i] = relay.Entry{ClientID: e.ClientID, Clock: e.Clock, State: e.State}
		}
		a.remote.Publish(out)
	}
	return mergePresence(changes, a.remote.Flush(), 0)
}

// withRemotePresence returns current, a joiner's view of the local states, with the other nodes'
// states added, but the joiner's own (client except).
func (a *actor) withRemotePresence(current []room.PresenceEntry, except uint64) []room.PresenceEntry {
	if a.remote == nil {
		return current
	}
	return mergePresence(current, a.remote.Current(), except)
}

// mergePresence returns local with remote's entries added, sorted by client ID, leaving out
// client except (when not zero) and the clients local already holds.
func mergePresence(local []room.PresenceEntry, remote []relay.Entry, except uint64) []room.PresenceEntry {
	if len(remote) == 0 {
		return local
	}
	have := make(map[uint64]struct{}, len(local))
	for _, e := range local {
		have[e.ClientID] = struct{}{}
	}
	merged := local
	for _, e := range remote {
		if _, dup := have[e.ClientID]; dup || (except != 0 && e.ClientID == except) {
			continue
		}
		merged = append(merged, room.PresenceEntry{ClientID: e.ClientID, Clock: e.Clock, State: e.State})
	}
	slices.SortFunc(merged, func(x, y room.PresenceEntry) int { return cmp.Compare(x.ClientID, y.ClientID) })
	return merged
}
