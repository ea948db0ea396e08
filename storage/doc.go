// Package storage makes tandem's documents durable in one bbolt file: per document, the latest
// snapshot, the update log after it and a little metadata, written by one group-commit writer.
//
// # What it owns, and what it imports
//
// Storage is bytes in, bytes out. It knows nothing of CRDTs, frames or connections: the document
// actor decides what a snapshot is (it encodes one through crdt) and when to compact; storage swaps
// the bytes atomically. Of tandem's packages it imports only storage/backend (the storage
// contract, standard library only), and of others only bbolt, and must stay that way: an edge to
// crdt would be recorded here, with its reason.
//
// # Layout
//
// The file holds two top-level buckets, and a third once the storage contract has written
// (below):
//
//	meta                    "schema" -> 8-byte big-endian SchemaVersion
//	                        ("migrating" while Open moves an older file to this layout)
//	docs
//	  <document ID>         one bucket per document
//	    "meta"              Meta, encoded as in meta.go (a version byte, flags, varints)
//	    snap                the latest snapshot, present once the document was compacted:
//	                        8-byte big-endian chunk index -> a chunk: two fill a page (2016
//	                        bytes in 4 KiB pages; the last chunk shorter; files written before
//	                        hold 32 KiB chunks, read the same way)
//	    log                 8-byte big-endian sequence number -> one appended entry
//	    kv                  the caller's metadata key -> value (PutDocMeta)
//	contract                the storage contract's stores (Contract, contract.go)
//	  "position"            8-byte big-endian: the last log position handed out, for all logs
//	  "revision"            8-byte big-endian: the last metadata revision handed out
//	  logs
//	    <key>.<epoch>       one bucket per log (backend.Key of the document ID, the epoch):
//	                        8-byte big-endian position -> one appended entry
//	  blobs                 snapshot name -> the whole blob
//	  meta                  metadata key -> 8-byte big-endian revision, then the value
//
// Beside the file, its path with "-wal" appended holds the write-ahead log (wal.go): records of
// appends that are durable and that bbolt may not hold yet.
//
// Sequence numbers are per document, start at 1 and have no gap. Big-endian keys make byte order
// numeric order, so the log reads in order and compaction deletes a prefix. Open creates the layout in
// one commit and fsyncs the directory of a new file; it refuses a file whose schema version is newer
// than SchemaVersion (ErrSchemaTooNew) or that is not a tandem store (ErrCorrupt). Schema 1 stored
// each snapshot as one value under "snapshot" beside the metadata; Open moves such a file to the
// current schema (migrate.go), and why chunks, and of which size, is explained in snapshot.go.
// Schema 2 differs from 3 in its chunks' size alone (32 KiB), which schema 3 reads as they are.
//
// The invariants, checked by Check: the log holds exactly the entries SnapshotSeq+1 .. LastSeq; the
// counts in Meta match the log and the snapshot; a snapshot is stored exactly when Meta.HasSnapshot.
//
// # The storage contract
//
// Contract returns the store as storage/backend's Log, Snapshots and Meta, which backend.Docs
// composes into documents with epochs, compare-and-set compaction and deletion, and client-ID
// bindings; it passes the conformance suite (storagetest.Run, TestContractConformance) with a
// real file, and TestContractDurable reopens the file to show that what was acknowledged stays.
// Its writes join the group commit as folded writes (a refused compare-and-set fails alone), and
// its reads run in read-only transactions. Its buckets are apart from the documents above: a
// document written through Append is not seen through Contract, nor the reverse. The server does
// not use Contract yet; it still calls Append, Load, Compact and Delete. Moving the server onto
// the contract (and so onto any backend, JetStream included) is the next step, and with it the
// question of moving existing files' documents into the contract's buckets. Check does not read
// the contract's buckets, and snapshots there are one value each, not chunks.
//
// # Durability contract
//
// done(seq, nil) from Append means the entry survives a process crash and, given a disk that
// honours fsync, a power loss: it is called only after the entry's record has been written to the
// write-ahead log and the log fdatasynced. bbolt holds the entry a moment later; until then the
// log does, and Open writes every record of the log that bbolt lacks into it (replay) before it
// returns. With Options.NoWriteAheadLog, done is called after the bbolt commit holding the entry
// has returned, after fdatasync of the data pages and then of the meta page. Compact, Delete and
// PutDocMeta give the same guarantee when they return nil: they are bbolt commits either way.
// Options.NoSync drops it (tests only).
//
// A failed commit (done(0, err)) is indeterminate, as with any database: the entry is not
// acknowledged, yet the pages may have reached the disk before the error, so after a crash it may
// be there or not. It is never stored twice or changed. A later commit reuses its sequence number,
// so sequence numbers stay contiguous. A failed write or sync of the log itself (or a failed bbolt
// commit behind it) breaks the store: what reached the disk is unknown, so every later write
// fails, reads return the error, and the next Open replays what the log holds. A caller that keeps going after a failed append holds state
// the log lacks; the actor should write a snapshot (Compact) soon, which heals the gap.
//
// # Group commit
//
// One writer goroutine commits for every document. It takes up to Options.MaxBatch queued appends
// (and at most 64 MiB of their data), optionally waiting Options.MaxBatchDelay for more, and writes
// them to the log in one write and one fdatasync for the lot; whatever queues while a commit runs
// forms the next batch, so batches grow with load without adding latency when idle. A second
// goroutine, the applier (apply.go), writes the batches into bbolt behind the acknowledgements, up
// to 100 ms of them in one transaction. Compact and PutDocMeta join that transaction, in call order
// with the appends around them: each in a commit of its own would cost two more fsyncs (at 100
// documents compacting every 1,000 entries of 50 a second, five a second), and without the log
// every document's appends would wait behind them. A folded write is reported once bbolt has it,
// which may be after appends queued behind it have been acknowledged. One that is refused
// (ErrSeqOutOfRange, a document whose metadata does not decode) fails alone and changes nothing;
// any other error fails the whole transaction. Delete and Check run on the writer too, in call
// order, each in its own transaction, once bbolt holds everything before them; the log is emptied
// first, so that replay never brings back what a Delete removed. The log is emptied too (the
// writer waiting for bbolt) when it passes 32 MiB, and without waiting once it passes 4 MiB at a
// moment bbolt holds all of it; Open and Close cut its file to 1 MiB. Writes to one document
// apply in the order they were called. Stats counts commits (of the log) and appends, and
// StoreCommits those of bbolt.
// With Options.NoWriteAheadLog the writer commits each batch, folded writes included, straight into
// bbolt: one fsync pair per batch on the path of every acknowledgement.
//
// A commit does not write bbolt's freelist (NoFreelistSync): a page less to write and sync per
// commit (about a tenth of a durable append's CPU here). Open rebuilds the freelist by reading
// the file's page headers, a cost that grows with the file. A file written either way opens
// either way.
//
// # Concurrency
//
// Every method of Store is safe for concurrent use. Append never blocks on I/O: it adds to an
// unbounded queue and returns (bounding what each caller has in flight is the caller's job). The
// done callbacks run on the writer goroutine (appends) or the applier (folded writes), one after
// the other: a callback that blocks stalls every document's writes, and one that calls a method
// waiting for the writer or the applier (AppendSync, Compact, Delete, PutDocMeta, Check, Close,
// and the reads) deadlocks it; Append and the Async methods are fine. Reads (Load, Stat, List,
// GetDocMeta) run in the caller's goroutine in bbolt read transactions, in parallel with the
// writer; they first wait until bbolt holds every batch acknowledged before the call, so they see
// every acknowledged append and every write reported done; every byte they return is a copy.
//
// # Caveats
//
//   - The file never shrinks. Space freed by compaction and deletion is reused for later writes, but
//     the file keeps its largest size. Bound each document's log by compacting. A document that keeps
//     growing under compaction needs about twice its snapshot plus its log (the old snapshot is freed
//     only once the new one has committed), and bbolt grows the file 1 MiB past what a commit
//     needs. CompactFile copies a file into a new one holding only live pages, offline.
//   - One process at a time. bbolt locks the file; a second Open, from another process, fails with
//     ErrLocked after Options.LockTimeout instead of hanging.
//   - Long reads hold pages. A read transaction keeps the pages it sees from being reused, and the
//     writer cannot remap the file while one is open. Load copies and returns at once; the initial
//     memory map (Options.InitialMmapBytes, 256 MiB of address space by default) makes remaps rare.
//   - Check stops writes while it reads the whole file.
//   - Deleting a document and writing to it again starts a new document, from sequence 1.
//   - What the tests can show. Crash tests kill the process (SIGKILL) and reopen the file. That
//     proves that no acknowledgement goes out before its commit, but a killed process loses no page
//     cache, so it cannot prove that fsync happens: the fsyncs are the log's and bbolt's, and
//     NoSync is refused outside tests. A power loss cannot be simulated on this machine; the log's
//     tests cut and damage its file where a power loss could (wal_test.go).
package storage
