package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Snapshots are stored in chunks, each its own value in the document's snap bucket (schema 2).
//
// Schema 1 kept the snapshot as one value beside the document's metadata, in the same leaf. bbolt
// writes a leaf whole, and a value larger than a page makes its leaf one run of contiguous pages: so
// every append, which rewrites the metadata, rewrote the whole snapshot too, and every rewrite needed
// a free run as large as the snapshot. Freed runs were always a little too small for the next,
// larger snapshot of a growing document, so the file grew by about a snapshot per commit (a 13.9 MB
// document in a 248 MB file). In chunks, the metadata's leaf stays small, an append never touches
// the snapshot, and a compaction's writes are runs of a few dozen pages that fit in the space the
// previous snapshot and the folded log entries freed.
const snapChunkBytes = 32 << 10

var (
	bucketSnap    = []byte("snap")     // in a document bucket: chunk index (8 bytes, big-endian) -> chunk
	keyLegacySnap = []byte("snapshot") // in a schema 1 document bucket: the whole snapshot
)

// putSnapshot replaces the snapshot stored in document bucket b, in either form, by snapshot in
// chunks. The caller updates the metadata.
func putSnapshot(b *bolt.Bucket, snapshot []byte) error {
	if err := deleteSnapshot(b); err != nil {
		return err
	}
	sb, err := b.CreateBucket(bucketSnap)
	if err != nil {
		return fmt.Errorf("snapshot bucket: %w", err)
	}
	sb.FillPercent = 1 // written once, in key order
	for i := 0; len(snapshot) > 0; i++ {
		n := min(len(snapshot), snapChunkBytes)
		if err := sb.Put(seqKey(uint64(i)), snapshot[:n]); err != nil {
			return fmt.Errorf("snapshot chunk %d: %w", i, err)
		}
		snapshot = snapshot[n:]
	}
	return nil
}

// deleteSnapshot removes the snapshot of document bucket b, in either form, if there is one.
func deleteSnapshot(b *bolt.Bucket) error {
	if b.Bucket(bucketSnap) != nil {
		if err := b.DeleteBucket(bucketSnap); err != nil {
			return fmt.Errorf("delete snapshot: %w", err)
		}
	}
	if k, _ := b.Cursor().Seek(keyLegacySnap); bytes.Equal(k, keyLegacySnap) {
		if err := b.Delete(keyLegacySnap); err != nil {
			return fmt.Errorf("delete snapshot: %w", err)
		}
	}
	return nil
}

// getSnapshot copies the snapshot of document bucket b out of the transaction, in whichever form it
// is stored; size (the metadata's SnapshotBytes) sizes the copy. It returns nil if there is none
// (and, in chunks, a non-nil empty slice for an empty snapshot).
func getSnapshot(b *bolt.Bucket, size int64) ([]byte, error) {
	sb := b.Bucket(bucketSnap)
	if sb == nil {
		return clone(b.Get(keyLegacySnap)), nil
	}
	if size < 0 || size > MaxValueBytes {
		return nil, fmt.Errorf("%w: snapshot of %d bytes", ErrCorrupt, size)
	}
	// Sized from the metadata, within reason: a damaged count must not allocate gigabytes.
	out := make([]byte, 0, min(size, 256<<20))
	c := sb.Cursor()
	next := uint64(0)
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 || v == nil || binary.BigEndian.Uint64(k) != next {
			return nil, fmt.Errorf("%w: snapshot chunk key %x where chunk %d was due", ErrCorrupt, k, next)
		}
		out = append(out, v...)
		next++
	}
	return out, nil
}

// checkSnapshot returns the problems of document bucket b's snapshot against its metadata m.
func checkSnapshot(b *bolt.Bucket, m Meta) []error {
	var problems []error
	if k, v := b.Cursor().Seek(keyLegacySnap); bytes.Equal(k, keyLegacySnap) && v != nil {
		problems = append(problems, fmt.Errorf("snapshot stored in the schema 1 form"))
	}
	sb := b.Bucket(bucketSnap)
	if (sb != nil) != m.HasSnapshot {
		return append(problems, fmt.Errorf("snapshot stored is %t, metadata says %t", sb != nil, m.HasSnapshot))
	}
	if sb == nil {
		return problems
	}
	var total int64
	next := uint64(0)
	last := snapChunkBytes
	c := sb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 || v == nil || binary.BigEndian.Uint64(k) != next {
			problems = append(problems, fmt.Errorf("snapshot chunk key %x where chunk %d was due", k, next))
		}
		if last != snapChunkBytes || len(v) == 0 || len(v) > snapChunkBytes {
			problems = append(problems, fmt.Errorf("snapshot chunk %d of %d bytes after one of %d", next, len(v), last))
		}
		last = len(v)
		total += int64(len(v))
		next++
	}
	if total != m.SnapshotBytes {
		problems = append(problems, fmt.Errorf("snapshot is %d bytes, metadata says %d", total, m.SnapshotBytes))
	}
	return problems
}
