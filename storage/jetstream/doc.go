// Package jetstream stores tandem's documents in NATS JetStream, so that several tandem nodes
// share them: it implements the storage contract of storage/backend (Log, Snapshots, Meta) over a
// stream, an object store and a KV bucket, and provides the Follower with which a node keeps its
// replica of a document in step with the stream.
//
// # What it owns, and what it imports
//
// It imports storage/backend (the contract it implements) and the NATS client
// (github.com/nats-io/nats.go and its jetstream package), nothing else of tandem's: it is bytes in,
// bytes out, like the bbolt store. The NATS server module is imported only by the test harness in
// natstest. internal/layout enforces both edges.
//
// # Resources
//
// Open creates them, or checks and updates them, under a prefix ("tandem" unless configured):
//
//	stream   tandem_updates     subjects tandem.u.<key>.<epoch>, R3, file storage, duplicate
//	                            window 2 min, direct gets off, republished to tandem.r.<key>.<epoch>
//	KV       tandem_meta        doc.<key> and bind.<key>.<epoch>.<clientID> (backend.Docs), history 1
//	objects  tandem_snapshots   <key>/<epoch>/<seq>-<random>, one object per snapshot, chunked
//
// <key> is the document ID in unpadded base64url (backend.Key): IDs may contain dots, NATS's token
// separator. Direct gets are turned off on all three streams, including the ones nats.go creates
// behind the KV bucket and the object store: a direct get may be answered by a replica that lags,
// which would make a log read fall short, and a compare-and-set, or the snapshot a load settles
// on after its read of the log, decide on a stale value. Every read goes to the stream's leader.
// For the same reason Snapshots.Get does not use the object store's Get, whose ordered consumer
// may sit on a replica that has not yet stored every chunk of a fresh snapshot (its read ends
// early and fails the digest check): it reads the chunks from the leader, one request each, and
// checks size and digest itself.
//
// # What an acknowledgement means
//
// Log.Append returns a sequence only after JetStream's publish acknowledgement: the entry is
// stored on a quorum of the stream's replicas (two of three). Whether it is also on disk depends on
// the servers: only with sync_interval: always (server.Options.SyncAlways) is every write synced
// before the acknowledgement; the default syncs every two minutes and can lose acknowledged
// entries when several servers lose power together (nats-server issue 7564, Jepsen's analysis of
// 2.12.1). natstest runs with sync always, and production must too (docs/cluster.md).
//
// # Epochs
//
// A log is a subject per document and epoch. Deleting a document (backend.Docs.Delete) moves its
// metadata to the next epoch before it purges the old subject, so an append still in flight lands
// in a subject that no load reads again: a deleted document cannot come back.
//
// # Following
//
// The stream republishes every stored entry on core NATS with Nats-Sequence and
// Nats-Last-Sequence, the previous sequence of the same subject. Backend.Follow hands these to the
// owner, which feeds a Follower; the Follower applies them in log order, holds what arrives
// above a gap, asks for the gap to be read, and never moves its cursor past an entry it has not
// applied.
//
// # Concurrency
//
// Backend, Log, Snapshots and Meta are safe for concurrent use. A Follower is not: one owner (the
// document's actor) drives it.
//
// # Caveats
//
//   - Log.Read reads the first eight entries one request each (the next message of the subject,
//     from the leader), then the rest through an ephemeral consumer made for the read and deleted
//     after it, falling back to requests from the leader if the consumer lags or loses a delivery.
//     Each long read thus makes a consumer: the server's default limit of consumers per stream
//     (1,000) bounds the long reads in flight at once.
//   - Stream sequences are stream-wide: a document's positions are increasing, not contiguous.
//   - Every replica of the stream stores every document; a purge by subject and a subject-filtered
//     stream info grow with the number of subjects. Neither is on the append path.
//   - The appender's context bounds an append. When the stream has no quorum, an append fails with
//     a timeout or "no responders" and is not acknowledged; it may still be stored later if the
//     request reached a leader, and a retry within the duplicate window is stored once.
package jetstream
