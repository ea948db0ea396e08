// Package room holds what a document's actor decides, as values without goroutines, clocks or
// I/O. Core is all of it as one type: fed events, it lists effects. It is made of smaller
// machines, each tested on its own: when an update is durable (Durability), what waits for that
// and what it releases once it is (Ledger: acknowledgements, frames held back from other
// subjects, HTTP answers, that the document changed), which awareness states go out at the next
// interval (Presence), when held frames are written (Linger), when the document saves a
// snapshot and what a save's report changes (Saver), and what the document's life needs next:
// serve, save, delete or exit (Settle, Admit).
//
// # The core's events and effects
//
// The actor feeds a Core what happened: the load's report (Load; a failed one is tried again
// after a backoff, LoadAgain, while the Core is Loading and the caller takes no message); a join admitted or not
// (AdmitJoin, Joined, JoinWaits, JoinsDone) and a member gone (Leave); an update applied, with
// the facts of its application (Receive, then Apply with an Applied, or Refuse); an entry of
// another node's log (Apply with Applied.Remote: relayed, neither appended nor acknowledged),
// where the following of the log stands (Followed), a deletion seen on another node (Gone) and
// the other nodes' awareness states (RemotePresence), on a cluster node (Loaded.Cluster);
// storage's reports (AppendReported, SaveEnded, MetaWritten, Removed, then Release); awareness
// and broadcasts in; HTTP requests (Request, then Apply and WaitWrite; RequestRead, then Read);
// a timer fired (Fire, with the time as a value); the end of a batch (EndBatch, with the time);
// a deletion (Delete), a shutdown (Stop); and, whenever it waits for the next event, Settle.
// The Core lists what to do in Ready: send a frame to a member (or to every member but one),
// close a member with a reason, append bytes to the log, save a snapshot, delete from storage,
// answer a waiting request, arm or disarm a timer, write held frames, the local awareness
// changes for the other nodes (Announce), that the document changed, that its life ended.
//
// # What it owns, what it imports
//
// room owns those decisions and nothing else. It imports only the standard library: the CRDT,
// the wire format, the sockets and storage stay with the actor (server/actor.go), which applies
// and encodes updates, feeds the Core the facts (an update changed the document, an append
// reported, a save ended, a member gone) and the time as a value where a decision depends on
// it, and carries out what it returns: frames to send, acks, answers, a save to start, a timer
// to arm. The encoders of the frames the Core makes itself (acknowledgements, awareness
// messages) are the caller's (Encoders). The dependency direction (internal/layout) keeps it
// that way.
//
// # The manner of etcd-io/raft's Ready loop
//
// A Core (and a Ledger within it) collects what became due in a list of effects (Ready); the
// caller carries them out, in order, and calls Advance, which empties the list and keeps its
// memory, so that a steady stream of updates costs no allocation. An effect for a member names
// it; a member is whatever comparable value the caller uses for a connection (the actor uses
// its connection).
//
// # Concurrency
//
// Nothing here is safe for concurrent use. One goroutine (the document's actor) owns each value
// and makes every call.
//
// # Invariants
//
//   - Durability is a prefix: an index is durable only when every index before it is, by its own
//     append or by a snapshot that covers it (Durability).
//   - An acknowledgement is released only once the update it counts is durable; acks to a member
//     keep their order and are cumulative (Ledger).
//   - A frame held for a member is released only once what it needs is durable, and after every
//     frame held for that member before it; a member with more held frames than its limit is
//     reported for closing instead of being held more (Ledger).
//   - An actor exits only once nothing it handed to storage is in flight, and, unloading or
//     stopping, once what the log lacks is in a snapshot or the save was abandoned (Settle).
package room
