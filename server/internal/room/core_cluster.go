package room

import (
	"cmp"
	"slices"
)

// A cluster node's decisions (Loaded.Cluster). Every node with editors on a document runs a
// Core over its own replica and follows the document's shared log; the caller does the
// following and the relay of presence between nodes (I/O), and tells the Core the facts:
// an entry of the log applied (Apply with Applied.Remote), where the following stands
// (Followed), a deletion seen on another node (Gone), the other nodes' awareness states
// (RemotePresence). The Core decides what they mean for the members and for saves.

// Followed records that the replica holds every entry of the log up to seq (the follower's
// cursor): a save folds the log no further.
func (c *Core[M, F, W]) Followed(seq uint64) { c.cursor = seq }

// Cursor returns the position Followed last recorded.
func (c *Core[M, F, W]) Cursor() uint64 { return c.cursor }

// Gone records that the document was deleted on another node (or its log moved to another
// epoch): it closes now, its members and waiting requests with Deleted, and saves nothing (a
// save would bring it back). It reports false, and changes nothing, when the deletion is this
// node's own (Delete), which finishes as it does on a single node.
func (c *Core[M, F, W]) Gone() bool {
	if c.mode == Delete {
		return false
	}
	c.gone = true
	c.disarm(TimerIdle)
	return true
}

// RemotePresence records what the other nodes' relay holds: their awareness changes since it
// was last asked (a nil State is a removal), which go to the members with the next interval's
// local changes, and every state it holds now, which a joiner is shown beside the local ones.
// Neither holds a client with a local state (the relay leaves those out: the local one wins).
func (c *Core[M, F, W]) RemotePresence(changes, current []PresenceEntry) {
	c.remoteCurrent = current
	if len(changes) == 0 {
		return
	}
	if c.remoteChanges == nil {
		c.remoteChanges = make(map[uint64]PresenceEntry, len(changes))
	}
	for _, e := range changes {
		c.remoteChanges[e.ClientID] = e // latest per client
	}
	c.arm(TimerAwareness, c.cfg.AwarenessInterval)
}

// takeRemoteChanges returns local, an interval's local changes, with the other nodes' changes
// since the last interval added, and forgets those.
func (c *Core[M, F, W]) takeRemoteChanges(local []PresenceEntry) []PresenceEntry {
	if len(c.remoteChanges) == 0 {
		return local
	}
	remote := make([]PresenceEntry, 0, len(c.remoteChanges))
	for _, e := range c.remoteChanges {
		remote = append(remote, e)
	}
	clear(c.remoteChanges)
	return mergePresence(local, remote, 0)
}

// byClient orders presence entries by client ID.
func byClient(e PresenceEntry, id uint64) int { return cmp.Compare(e.ClientID, id) }

// mergePresence returns local (sorted by client ID) with remote's entries added, by client ID, leaving out client
// except (when not zero) and the clients local holds: an awareness message never holds two
// entries for one client, and a local state wins. It returns local itself when nothing is
// added, a new slice otherwise.
func mergePresence(local, remote []PresenceEntry, except uint64) []PresenceEntry {
	var merged []PresenceEntry
	for _, e := range remote {
		if except != 0 && e.ClientID == except {
			continue
		}
		if _, held := slices.BinarySearchFunc(local, e.ClientID, byClient); held {
			continue
		}
		if merged == nil {
			merged = make([]PresenceEntry, len(local), len(local)+len(remote))
			copy(merged, local)
		}
		merged = append(merged, e)
	}
	if merged == nil {
		return local
	}
	slices.SortFunc(merged, func(x, y PresenceEntry) int { return cmp.Compare(x.ClientID, y.ClientID) })
	return merged
}
