package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DocState is everything stored for one document, copied out of the transaction that read it.
type DocState struct {
	// Snapshot is the latest snapshot; nil if none yet.
	Snapshot []byte
	// SnapshotSeq is the log position the snapshot covers (entries <= it are folded in).
	SnapshotSeq uint64
	// Log holds the entries after SnapshotSeq, in order; nil if there are none.
	Log []LogEntry
	// Meta is the document's metadata.
	Meta Meta
	// DocMeta holds the caller's metadata keys and values (see PutDocMeta); nil if there are none.
	DocMeta map[string][]byte
}

// LogEntry is one appended entry.
type LogEntry struct {
	Seq  uint64
	Data []byte
	// Foreign marks an entry that no tandem node appended (backend.Entry.Foreign): never in a
	// data file.
	Foreign bool
}

// DocInfo names one document in a listing.
type DocInfo struct {
	ID   string
	Meta Meta
}

// errNoChange rolls back a write transaction that found nothing to do, so that it costs no commit.
var errNoChange = errors.New("storage: no change")

// Load reads docID's snapshot, the log entries after it, its metadata and its caller metadata, in
// one read transaction; the second result reports whether the document exists. Writes still queued
// in the writer are not seen.
func (s *Store) Load(docID string) (DocState, bool, error) {
	if err := validDocID(docID); err != nil {
		return DocState{}, false, fmt.Errorf("storage: load: %w", err)
	}
	var st DocState
	ok, err := s.viewDoc(docID, func(b *bolt.Bucket) error {
		m, err := decodeMeta(b.Get(keyDocMeta))
		if err != nil {
			return err
		}
		st.Meta = m
		st.SnapshotSeq = m.SnapshotSeq
		if m.HasSnapshot {
			if st.Snapshot, err = getSnapshot(b, m.SnapshotBytes); err != nil {
				return err
			}
			if st.Snapshot == nil {
				if m.SnapshotBytes != 0 {
					return fmt.Errorf("%w: snapshot of %d bytes is missing", ErrCorrupt, m.SnapshotBytes)
				}
				st.Snapshot = []byte{}
			}
		}
		log := b.Bucket(bucketLog)
		if log == nil {
			return fmt.Errorf("%w: no log bucket", ErrCorrupt)
		}
		if m.LogEntries > 0 {
			st.Log = make([]LogEntry, 0, min(m.LogEntries, 1<<16))
		}
		c := log.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, err := logSeq(k, v)
			if err != nil {
				return err
			}
			st.Log = append(st.Log, LogEntry{Seq: seq, Data: clone(v)})
		}
		st.DocMeta, err = readKV(b)
		return err
	})
	if err != nil {
		return DocState{}, false, fmt.Errorf("storage: load %q: %w", docID, err)
	}
	return st, ok, nil
}

// logSeq parses a log key; v is its value, nil for a nested bucket (which the log never holds).
func logSeq(k, v []byte) (uint64, error) {
	if len(k) != 8 || v == nil {
		return 0, fmt.Errorf("%w: log key %x is not an 8-byte entry", ErrCorrupt, k)
	}
	return binary.BigEndian.Uint64(k), nil
}

// readKV copies a document's caller metadata out of its bucket.
func readKV(b *bolt.Bucket) (map[string][]byte, error) {
	kv := b.Bucket(bucketKV)
	if kv == nil {
		return nil, fmt.Errorf("%w: no %q bucket", ErrCorrupt, bucketKV)
	}
	var out map[string][]byte
	err := kv.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("%w: metadata key %q is a bucket", ErrCorrupt, k)
		}
		if out == nil {
			out = make(map[string][]byte)
		}
		out[string(k)] = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// Stat returns docID's metadata and whether the document exists.
func (s *Store) Stat(docID string) (Meta, bool, error) {
	if err := validDocID(docID); err != nil {
		return Meta{}, false, fmt.Errorf("storage: stat: %w", err)
	}
	var m Meta
	ok, err := s.viewDoc(docID, func(b *bolt.Bucket) error {
		var err error
		m, err = decodeMeta(b.Get(keyDocMeta))
		return err
	})
	if err != nil {
		return Meta{}, false, fmt.Errorf("storage: stat %q: %w", docID, err)
	}
	return m, ok, nil
}

// List returns up to limit documents whose IDs sort after after (byte order), in ID order; limit
// <= 0 means no limit. Pass the last ID of one page as after to get the next; "" starts at the
// beginning.
func (s *Store) List(after string, limit int) ([]DocInfo, error) {
	var out []DocInfo
	err := s.view(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		c := docs.Cursor()
		var k, v []byte
		if after == "" {
			k, v = c.First()
		} else if k, v = c.Seek([]byte(after)); k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			b := docs.Bucket(k)
			if v != nil || b == nil {
				return fmt.Errorf("%w: document %q is not a bucket", ErrCorrupt, k)
			}
			m, err := decodeMeta(b.Get(keyDocMeta))
			if err != nil {
				return fmt.Errorf("document %q: %w", k, err)
			}
			out = append(out, DocInfo{ID: string(k), Meta: m})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: list after %q: %w", after, err)
	}
	return out, nil
}

// Compact stores snapshot as covering every log entry <= uptoSeq and deletes those entries, in one
// transaction: a crash leaves either the old state or the new one. Entries after uptoSeq stay, so
// appends that raced with the caller's snapshot are kept. uptoSeq must lie between the current
// snapshot's position and the last sequence number (ErrSeqOutOfRange). Compacting a document that
// does not exist creates it (with uptoSeq 0). Compact runs on the writer, after the writes queued
// before it; the store keeps a reference to snapshot until it returns.
func (s *Store) Compact(docID string, snapshot []byte, uptoSeq uint64) error {
	ch := make(chan error, 1)
	s.CompactAsync(docID, snapshot, uptoSeq, func(err error) { ch <- err })
	return <-ch
}

// CompactAsync is Compact that returns at once. done is called exactly once: from the writer
// goroutine when the compaction has committed or failed, or from the caller's goroutine before
// CompactAsync returns if the arguments are refused or the store is closed. done must not block. The
// store keeps a reference to snapshot until done is called.
func (s *Store) CompactAsync(docID string, snapshot []byte, uptoSeq uint64, done func(error)) {
	if err := validDocID(docID); err != nil {
		done(fmt.Errorf("storage: compact: %w", err))
		return
	}
	if len(snapshot) > MaxValueBytes {
		done(fmt.Errorf("storage: compact %q: %w: snapshot of %d bytes (max %d)", docID, ErrTooLarge, len(snapshot), MaxValueBytes))
		return
	}
	s.writeFolded(fmt.Sprintf("compact %q up to %d", docID, uptoSeq), len(snapshot), func(b *batchTx) error {
		return s.compact(b, docID, snapshot, uptoSeq)
	}, done)
}

// compact writes the compaction inside the group commit's transaction b.
func (s *Store) compact(b *batchTx, docID string, snapshot []byte, uptoSeq uint64) error {
	// Check first, so that a refusal leaves no trace (not even a new document or its time stamp).
	cur, err := b.meta(docID)
	if err != nil {
		return refusal{err}
	}
	if uptoSeq > cur.LastSeq {
		return refusal{fmt.Errorf("%w: the last seq is %d", ErrSeqOutOfRange, cur.LastSeq)}
	}
	if uptoSeq < cur.SnapshotSeq {
		return refusal{fmt.Errorf("%w: the snapshot already covers %d", ErrSeqOutOfRange, cur.SnapshotSeq)}
	}
	d, err := b.doc(docID)
	if err != nil {
		return err
	}
	m := &d.meta

	// Delete the covered entries. bbolt can skip keys when a cursor deletes while it iterates,
	// so collect the keys first.
	var keys [][]byte
	var freed int64
	c := d.log.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, err := logSeq(k, v)
		if err != nil {
			return refusal{err}
		}
		if seq > uptoSeq {
			break
		}
		keys = append(keys, clone(k))
		freed += int64(len(v))
	}
	for _, k := range keys {
		if err := d.log.Delete(k); err != nil {
			return err
		}
	}
	if err := putSnapshot(d.b, snapshot); err != nil {
		return err
	}
	m.LogEntries -= len(keys)
	m.LogBytes -= freed
	m.HasSnapshot = true
	m.SnapshotSeq = uptoSeq
	m.SnapshotBytes = int64(len(snapshot))
	m.Compacted = b.now
	if s.hooks.beforeCompactCommit != nil {
		return s.hooks.beforeCompactCommit()
	}
	return nil
}

// Delete removes everything stored for docID: snapshot, log, metadata and caller metadata. Deleting
// a document that does not exist is not an error. A later write creates the document afresh, with
// sequence numbers from 1 again. Delete runs on the writer, after the writes queued before it.
func (s *Store) Delete(docID string) error {
	if err := validDocID(docID); err != nil {
		return fmt.Errorf("storage: delete: %w", err)
	}
	return s.writeSync(fmt.Sprintf("delete %q", docID), func() error {
		err := s.db.Update(func(tx *bolt.Tx) error {
			err := tx.Bucket(bucketDocs).DeleteBucket([]byte(docID))
			if errors.Is(err, berrors.ErrBucketNotFound) {
				return errNoChange
			}
			return err
		})
		if errors.Is(err, errNoChange) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("storage: delete %q: %w", docID, err)
		}
		s.ops.Add(1)
		return nil
	})
}

// GetDocMeta returns the value stored under key for docID by PutDocMeta, and whether there is one.
//
// Document metadata is a small key/value map per document for the caller's own bookkeeping (which
// subject owns a client ID, the server's own client ID for the document). It is loaded with the
// document (DocState.DocMeta) and deleted with it; it is not meant for large values.
func (s *Store) GetDocMeta(docID, key string) ([]byte, bool, error) {
	if err := validDocID(docID); err != nil {
		return nil, false, fmt.Errorf("storage: get metadata: %w", err)
	}
	var out []byte
	_, err := s.viewDoc(docID, func(b *bolt.Bucket) error {
		kv := b.Bucket(bucketKV)
		if kv == nil {
			return fmt.Errorf("%w: no %q bucket", ErrCorrupt, bucketKV)
		}
		out = clone(kv.Get([]byte(key)))
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("storage: get metadata %q of %q: %w", key, docID, err)
	}
	return out, out != nil, nil
}

// PutDocMeta durably stores value under key for docID, creating the document if it does not exist;
// a nil value deletes the key instead. It runs on the writer, after the writes queued before it, and
// returns once committed.
func (s *Store) PutDocMeta(docID, key string, value []byte) error {
	ch := make(chan error, 1)
	s.PutDocMetaAsync(docID, key, value, func(err error) { ch <- err })
	return <-ch
}

// PutDocMetaAsync is PutDocMeta that returns at once; done is called as for CompactAsync.
func (s *Store) PutDocMetaAsync(docID, key string, value []byte, done func(error)) {
	if err := validDocID(docID); err != nil {
		done(fmt.Errorf("storage: put metadata: %w", err))
		return
	}
	if key == "" || len(key) > MaxDocMetaKeyBytes {
		done(fmt.Errorf("storage: put metadata of %q: %w: %d bytes (want 1 to %d)", docID, ErrInvalidKey, len(key), MaxDocMetaKeyBytes))
		return
	}
	if len(value) > MaxValueBytes {
		done(fmt.Errorf("storage: put metadata %q of %q: %w: %d bytes (max %d)", key, docID, ErrTooLarge, len(value), MaxValueBytes))
		return
	}
	s.writeFolded(fmt.Sprintf("put metadata %q of %q", key, docID), len(value), func(b *batchTx) error {
		if value == nil && b.open[docID] == nil && b.docs.Bucket([]byte(docID)) == nil {
			return nil // deleting from a document that does not exist: nothing to do
		}
		d, err := b.doc(docID)
		if errors.Is(err, ErrCorrupt) {
			return refusal{err}
		}
		if err != nil {
			return err
		}
		kv := d.b.Bucket(bucketKV)
		if kv == nil {
			return refusal{fmt.Errorf("%w: no %q bucket", ErrCorrupt, bucketKV)}
		}
		if value == nil {
			return kv.Delete([]byte(key))
		}
		return kv.Put([]byte(key), value)
	}, done)
}
