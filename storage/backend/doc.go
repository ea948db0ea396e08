// Package backend is the contract between tandem's documents and the stores that hold them: a
// per-document update log (Log), snapshot blobs (Snapshots) and metadata with compare-and-set
// (Meta), and Docs, which composes the three in the orders that keep them safe together.
//
// # What it owns, and what it imports
//
// It imports only the standard library. A backend implements Log, Snapshots and Meta
// (storage/jetstream does it over NATS JetStream; the bbolt store does it over buckets of its own,
// storage.Store.Contract) and passes the conformance suite in storage/storagetest. Entries and blobs are opaque
// bytes, as everywhere in storage: the document actor decides what a snapshot is.
//
// # Keys and names
//
// A document ID is written as its unpadded base64url form (Key) wherever it becomes part of a
// name, because IDs may contain dots, NATS's token separator:
//
//	doc.<key>                        DocMeta as JSON (a tombstone after deletion)
//	bind.<key>.<epoch>.<clientID>    the subject the client ID is bound to
//	<key>/<epoch>/<seq>-<random>     a snapshot blob covering the log up to <seq>
//
// # Invariants
//
//   - The snapshot named in DocMeta covers the log (doc, Epoch) up to SnapshotSeq; the log holds
//     every entry after it. Compaction purges the log only after the metadata names the new
//     snapshot, and a load reads the metadata again after its read of the log and takes the
//     snapshot it names then, with the entries read past it, so a load never misses an entry.
//   - SnapshotSeq never decreases within an epoch: compaction compare-and-sets it upwards only.
//   - Epochs only grow. Deletion leaves a tombstone holding the next epoch; a document created
//     again starts there. A writer of an old epoch can never make its entries visible again.
//
// # Concurrency
//
// Every method is safe for concurrent use, also by several processes sharing one backend: all
// coordination goes through Meta's compare-and-set, never through memory.
//
// # Caveats
//
//   - An append that races a deletion may be acknowledged to its writer and then never read: the
//     deletion is ordered after it. Its bytes stay in the dead epoch's log until something drops that
//     log again.
//   - A compaction or deletion that fails after its compare-and-set leaves unread entries or blobs
//     behind; they cost space, never correctness.
package backend
