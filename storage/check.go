package storage

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// maxCheckProblems bounds the problems Check reports, so that a badly damaged file gives a readable
// error.
const maxCheckProblems = 50

// Check verifies the whole file: bbolt's own consistency check (every page reachable or free,
// none twice) and the store's invariants for every document:
//
//   - the metadata decodes, and the log and metadata buckets exist;
//   - log keys are 8-byte sequence numbers running without a gap from SnapshotSeq+1 to LastSeq;
//   - LogEntries and LogBytes match the log, SnapshotBytes the snapshot, and a snapshot is stored
//     exactly when HasSnapshot says so.
//
// A failure wraps ErrCorrupt and lists the problems. Check runs on the writer inside a write
// transaction that it rolls back (bbolt's check is not safe beside a concurrent commit), so writes
// wait while it reads the whole file: use it in tests, tools and at startup, not on a busy store.
func (s *Store) Check() error {
	return s.writeSync("check "+s.path, func() error {
		tx, err := s.db.Begin(true)
		if err != nil {
			return fmt.Errorf("storage: check %s: %w", s.path, err)
		}
		defer func() { _ = tx.Rollback() }()
		if problems := checkTx(tx, true); len(problems) > 0 {
			return fmt.Errorf("storage: check %s: %w: %w", s.path, ErrCorrupt, errors.Join(problems...))
		}
		return nil
	})
}

// checkTx returns the problems in tx (at most maxCheckProblems): bbolt's own, and with layout the
// store's invariants too.
func checkTx(tx *bolt.Tx, layout bool) []error {
	var problems []error
	report := func(err error) {
		if len(problems) < maxCheckProblems {
			problems = append(problems, err)
		}
	}
	for err := range tx.Check() {
		report(err)
	}
	if layout {
		checkLayout(tx, report)
	}
	return problems
}

// checkLayout reports every breach of the store's invariants in tx.
func checkLayout(tx *bolt.Tx, report func(error)) {
	if _, err := checkSchema(tx); err != nil {
		report(err)
		return
	}
	docs := tx.Bucket(bucketDocs)
	_ = docs.ForEach(func(k, v []byte) error {
		if v != nil {
			report(fmt.Errorf("document %q is not a bucket", k))
			return nil
		}
		for _, err := range checkDoc(docs.Bucket(k)) {
			report(fmt.Errorf("document %q: %w", k, err))
		}
		return nil
	})
}

// checkDoc returns the problems of one document bucket.
func checkDoc(b *bolt.Bucket) []error {
	var problems []error
	m, err := decodeMeta(b.Get(keyDocMeta))
	if err != nil {
		return append(problems, err)
	}
	if m.SnapshotSeq > m.LastSeq {
		problems = append(problems, fmt.Errorf("snapshot seq %d after last seq %d", m.SnapshotSeq, m.LastSeq))
	}
	if !m.HasSnapshot && (m.SnapshotSeq != 0 || m.SnapshotBytes != 0) {
		problems = append(problems, fmt.Errorf("no snapshot, but snapshot seq %d and %d bytes", m.SnapshotSeq, m.SnapshotBytes))
	}
	problems = append(problems, checkSnapshot(b, m)...)
	if b.Bucket(bucketKV) == nil {
		problems = append(problems, fmt.Errorf("no %q bucket", bucketKV))
	}
	log := b.Bucket(bucketLog)
	if log == nil {
		return append(problems, fmt.Errorf("no %q bucket", bucketLog))
	}
	var entries int
	var logBytes int64
	want := m.SnapshotSeq + 1
	c := log.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, err := logSeq(k, v)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if seq != want {
			problems = append(problems, fmt.Errorf("log seq %d where %d was due (snapshot seq %d)", seq, want, m.SnapshotSeq))
		}
		want = seq + 1
		entries++
		logBytes += int64(len(v))
	}
	if want-1 != m.LastSeq {
		problems = append(problems, fmt.Errorf("log ends at seq %d, metadata says last seq %d", want-1, m.LastSeq))
	}
	if entries != m.LogEntries || logBytes != m.LogBytes {
		problems = append(problems, fmt.Errorf("log holds %d entries of %d bytes, metadata says %d of %d",
			entries, logBytes, m.LogEntries, m.LogBytes))
	}
	return problems
}
