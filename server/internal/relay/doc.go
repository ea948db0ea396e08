// Package relay carries live cursors (awareness states) between the nodes of a tandem cluster,
// over core NATS subjects: each node publishes its editors' awareness changes per document,
// stamped with their client IDs and with the node, and holds the states the other nodes publish,
// so that the document's actor relays them to its own editors as it relays theirs.
//
// # What it owns, what it imports
//
// relay owns the presence messages between nodes (their subjects and encoding, wire.go), the
// heartbeat, the decision of which remote states are live (Table, Nodes: values, tested as
// tables), and the NATS subscriptions that feed them (Relay, Doc). It imports the standard
// library and the NATS client only: the awareness states are opaque bytes, the actor converts
// them to and from frames (internal/layout keeps it so).
//
// Presence is ephemeral and at most once: nothing here is stored in JetStream, and a lost
// message costs a cursor at most until the next change, the next full exchange (FullEvery), or
// the client's own renewal (docs/protocol.md §6).
//
// # Why heartbeats
//
// A node that dies without a word (killed, cut off) never sends the removals of its clients'
// states. Every node beats on <prefix>.awhb once per Heartbeat; a node silent for longer than
// Expiry is taken for dead, and every open document drops the states it set and hands the actor
// removals for them. A node that closes says goodbye, and its states go at once. A node is a node
// ID plus an instance drawn at start, so a node restarted under the same ID is a new sender: its
// predecessor's states expire without waiting for the new one.
//
// # Invariants
//
//   - A node never handles its own messages (NATS echoes them to the same connection).
//   - A state belongs to the node that set it last: a removal or the death of another node leaves
//     it alone. A client that moved to another node keeps its cursor through the first one's death.
//   - Memory is bounded whatever the other nodes send: at most MaxNodes nodes are tracked,
//     each document holds at most MaxClientsPerNode states per node and MaxClients in all, no
//     state beyond MaxStateBytes, and the outgoing queue holds at most QueueMessages (a full one
//     drops: presence is at most once). A malformed message is counted and ignored.
//   - A removal the relay makes (a node died, left or closed the document) carries the clock of
//     the state it removes: editors ignore only entries below the last clock they saw of a client
//     (docs/protocol.md §6), so they apply it, and apply the state again if its node comes back
//     with it (a node cut off for a moment). One clock above would hide that state until the
//     client changes it.
//
// # Concurrency
//
// Relay and Doc are safe for concurrent use: NATS delivers on its own goroutines, the actor
// publishes and flushes on its own. Table and Nodes are not; Doc and Relay guard them. A Relay's
// mutex is never taken while a Doc's is held. Relay has two goroutines (the sender and the
// ticker); Close waits for them.
//
// The subjects and the encoding are described in wire.go, the behaviour in docs/cluster.md
// ("Presence across nodes").
package relay
