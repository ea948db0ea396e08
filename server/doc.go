// Package server is tandem's server: the HTTP API, the WebSocket endpoint /v1/docs/{id}/ws, one
// actor per open document, and the metrics, over one storage file.
//
// # What it owns, what it imports
//
// server owns the routes (chi), the sessions of WebSocket connections (client ID, subject, role,
// token, membership: session.go), the document actors and their registry, the limits and the
// metrics. The WebSocket transport (handshake, bare sockets, poller, frames, send queues,
// keepalive, slow consumers, the close handshake) is server/internal/transport's, which the
// sessions reach only through its transport.Conn methods; its package documentation draws a
// connection's life. It imports crdt (to apply and encode updates), protocol (frames and close
// codes), storage (the bbolt file; or, with Config.Storage, any backend of the storage contract
// in storage/backend, through contractstore.go) and client-js (the embedded editor, served at /). Nothing imports it but cmd/tandem. docs/server.md is the operator's manual;
// docs/protocol.md the wire protocol it speaks.
//
// # A cluster node
//
// With Config.Cluster the server is one node of several sharing one NATS JetStream
// (docs/cluster.md): cluster.go holds the node's readiness check, heartbeats and metrics;
// clusterstore.go the store over the JetStream backend (per-node server client ID, client-ID
// bindings checked across nodes, appends retried until stored, deletion notices); and
// actor_follow.go the following of a document's log by its actor (a jetstream.Follower fed by
// the republished entries and by reads of the log, whose entries are applied and relayed to the
// node's connections without being appended again). The actor's hooks into it are startFollow
// (after the load), stopFollow (at exit), followSave (a save's position) and bindRefusal (a join
// whose binding another node holds).
//
// # Following one update
//
// A connection's reader (the transport's) reads a binary message (at most
// Config.MaxMessageBytes) and hands it to the session (conn.message), which applies the rate
// limits; protocol.DecodeFrame decodes it, and the reader posts it to the document's actor. The actor
// applies it to its crdt.Doc (a refused update closes the connection with 4422 and changes
// nothing), encodes its frame once, and tells the document's core (room.Core.Apply) what
// happened; the core lists the append of the same bytes (carried out with storage.Append) and
// the frame for every other connection (with a token secret, for connections of other subjects
// only once durable: see the relay comment in actor_update.go). When storage reports the append
// durable (a callback that posts to the actor's mailbox), the actor tells the core, which lists
// the author's ack: acknowledgements never run ahead of durability.
//
// # The actor and its decisions
//
// What the actor decides lives in server/internal/room as one value, room.Core, without
// goroutines, clocks or I/O, tested as scenarios (events in, effects out), in the manner of
// etcd-io/raft's Ready loop. It is made of room's smaller machines: when an update is durable
// and what that releases (room.Ledger: acks, frames held back from other subjects, HTTP answers,
// and that the document changed), which awareness states go out (room.Presence), when held
// frames are written (room.Linger), when to save and what a save's report means (room.Saver),
// and what the document's life needs next (room.Settle, room.Admit). The actor is the thin loop
// that runs it: take a message or an event, do what needs the CRDT, the wire format, storage or
// security (apply and encode, client bindings, the server's client ID), feed the core the facts,
// carry out its Ready list (actor.perform: send, close, append, save, delete, answer, arm a
// timer, end), Advance. actor.go: the loop, its mailbox, perform and the end; actor_members.go:
// joins, leaves, awareness; actor_update.go: updates; actor_http.go: the HTTP requests;
// actor_save.go: storage's reports and saves; actor_load.go: the load. It knows a connection
// through the few methods it calls (send, hold, flush, closeWith, Closing, and the session's
// client ID, subject and role).
//
// # Concurrency
//
//   - One goroutine per open document (actor.run) owns everything mutable about the document: the
//     crdt.Doc, the joined connections, awareness states, pending acks, the cached join answer, the
//     log accounting and the timers. Everything reaches it as a message on its bounded inbox, or,
//     for storage reports, through a mailbox that never blocks (storage callbacks must not).
//     Every send to an inbox also selects on the actor's done channel and the sender's context.
//   - The actor never blocks on I/O. It writes to connections through their queues (conn.send,
//     that is transport.Conn.Send, never blocks) and to storage through asynchronous calls
//     (Append, CompactAsync, PutDocMetaAsync); the deletion, whose storage call is synchronous,
//     runs in a helper goroutine the actor waits for. It reads storage once, before it serves
//     anything: the load.
//   - Each connection has a reader and a writer (server/internal/transport), each a goroutine
//     only while it has work. After gorilla's handshake the frames are the server's own
//     (server/internal/wsframe). The writer runs while the connection's queue holds frames and
//     writes them all, control frames included, in one writev per pass: nothing else writes to
//     the socket. The reader, on Linux, is started by the transport's poller (one epoll instance
//     per Server, sockets armed one-shot) when bytes arrive, reads while there are bytes,
//     re-arms and exits; one-shot arming makes sure a connection never has two readers, so its
//     messages reach the actor in order. Elsewhere, and for TLS, the reader is a goroutine per
//     connection with the same code. One goroutine per Server (the transport's keepalive
//     scanner) walks the connections every tenth of PongWait (a sixth of PresenceWait if
//     shorter), pings them and closes a peer silent for PongWait, or for PresenceWait if it
//     shows a presence.
//     The outbound queue is bounded in messages and bytes; a connection that would
//     overflow it, whose socket takes no byte for WriteTimeout, or that answers no ping for
//     PongWait is a slow consumer and is closed with 1013 after the frame being written, so that
//     a client that reads again gets the code (it resyncs by state vector, so nothing is lost).
//     Incoming messages that do not arrive whole grow in chunks of one server-wide budget
//     (MaxPartialMessageBytes; wsframe.Budget), and a frame begun that stalls is dropped after
//     FrameStallTimeout. docs/server.md, "Resource model", lists every bound.
//   - The registry maps document IDs to actors under one mutex, get-or-create. An actor that exits
//     removes itself first, then answers what is left in its inbox with errRetry, so that a late
//     request starts a fresh actor, which loads the document again.
//   - Locks: Server.mu (closing, HTTP servers), registry.mu, the transport's Hub.mu
//     (connections), Conn.mu (queue) and poller.mu (its table and epoll instance), actor.evMu
//     (mailbox), warner.mu, denyList.mu (revocations), connAuth.mu (a connection's current
//     token), notifier.mu (the observer's queue). None is held while another is taken, and none
//     while talking to an actor.
//   - Goroutines and their owners: actors (registry.wg, waited by Shutdown), deletions
//     (actor.bg), the observer's goroutine (notifier.run, with an Observe hook only;
//     notifier.close, called by Shutdown once the actors have ended), and the transport's:
//     connection writers (waited by the connection's end), connections, the poller's goroutine
//     and the readers it starts, the keepalive scanner (all ended by transport.Hub.Shutdown,
//     which Shutdown calls).
//
// # Invariants
//
//   - An update is acknowledged only after it is durable: its append is reported, or a snapshot
//     encoded after it was applied is stored (see room.Durability). Acks are cumulative and count
//     update messages per connection, as docs/protocol.md says.
//   - Nothing a crash could lose is shown to someone who could not send it back (DESIGN.md,
//     "Identity and crashes"; room.Core's relay): the server's own units (HTTP edits) leave the process
//     only once durable, so its client ID may outlive its clocks; with client bindings on, an
//     update reaches other subjects' connections, joiners and HTTP readers only once durable; and
//     a writable hello is answered only once its client ID's binding is stored.
//   - A document is never served before its load completed; a failed load poisons the actor
//     and it never writes, so an empty document is never saved over a real one. It loads again
//     after a backoff (100 ms doubling to 2 s, while the loads and waits stay within 8 s) while
//     the joins and requests that came meanwhile wait in its inbox; once those retries are spent
//     it refuses every join and request with 1011/500 and exits after a 1 s grace; the next
//     request tries the load again (actor_load.go, room.LoadConfig).
//   - A document with no connections is snapshotted and unloaded after Config.IdleUnloadAfter. A
//     failing save is retried with exponential backoff Config.SaveRetries times; then the actor
//     unloads anyway (its log is durable), or, if appends failed too (the log lacks updates),
//     closes its connections with 1011 so that their clients resend what was never acknowledged.
//   - Shutdown: stop accepting, close every socket with 1001, stop every actor (each finishes its
//     writes and saves a snapshot), close storage.
//
// # Authorization
//
// authorize (every upgrade and HTTP call) and authorizeUpdate (every update, before it is applied)
// are the hooks where tokens, roles and client-ID bindings are checked; verifyToken also consults
// the deny list (revoke.go), on every upgrade, HTTP call and auth message (refresh.go), which
// replaces a connection's token. GET /v1/docs/{id}/access (access.go) tells a browser what an
// upgrade would decide. An embedder's Authenticate hook stands beside or in place of the token
// check, and its Authorize hook after the document pattern (hooks.go). While the server runs open
// (no token secret, no Authenticate hook), every caller is the anonymous writer. The read-only
// role is already honoured: a reader's
// update closes its connection with 4403 and changes nothing. Roles are auth.Role (read, write,
// admin) and document IDs are checked with auth.ValidDocumentID: the server has no copy of either.
//
// # Metrics
//
// Each Server has its own Prometheus registry (server/internal/metrics, on
// prometheus/client_golang), served at /metrics unless Config.OmitMetricsRoute: the server's
// metrics, every one named tandem_*, with the Go runtime and process collectors. Every refusal is
// counted by reason. An application registers the tandem_* metrics into its own registry with
// Server.MetricsCollector, or serves Server.MetricsRegistry itself.
//
// # Hooks for embedders
//
// Config.Hooks (hooks.go) carries an embedding application's Authenticate, Authorize and Observe
// hooks; docs/server.md, "Embedding", is their manual. The observer is fed at one seam: an actor
// calls notifier.durable once per batch of storage reports (actor.drainEvents: the document's
// "changed" effect, from which "created" follows) and notifier.deleted when storage has deleted
// the document (actor.onDeleted); neither waits, and the notifier (observe.go) debounces and
// delivers on its own goroutine.
package server
