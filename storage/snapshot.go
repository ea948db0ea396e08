package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Snapshots are stored in chunks, each its own value in the document's snap bucket (schema 2 and
// later).
//
// Schema 1 kept the snapshot as one value beside the document's metadata, in the same leaf. bbolt
// writes a leaf whole, and a value larger than a page makes its leaf one run of contiguous pages: so
// every append, which rewrites the metadata, rewrote the whole snapshot too, and every rewrite needed
// a free run as large as the snapshot. Freed runs were always a little too small for the next,
// larger snapshot of a growing document, so the file grew by about a snapshot per commit (a 13.9 MB
// document in a 248 MB file). In chunks, the metadata's leaf stays small, an append never touches
// the snapshot, and a compaction's writes fit in the space the previous snapshot and the folded log
// freed.
//
// A chunk is sized so that two of them fill one page (snapChunkBytes): bbolt never splits a leaf
// of four entries or fewer, so larger chunks made each leaf a run of 17 or more contiguous pages
// (two to four 32 KiB chunks), which only a free run at least as long could take; the runs freed
// by the log's leaves (which hold its entries, whatever their size) were mostly shorter, and each
// compaction grew the file past them. Leaves of one page fill any free page. Files written with
// other chunk sizes (32 KiB before) read the same: a reader takes the chunks in order, whatever
// their size.
var (
	bucketSnap    = []byte("snap")     // in a document bucket: chunk index (8 bytes, big-endian) -> chunk
	keyLegacySnap = []byte("snapshot") // in a schema 1 document bucket: the whole snapshot
)

// snapChunkBytes returns the size of a snapshot chunk in a file of pageSize pages: two chunks,
// their keys and their element headers fill a leaf page (2016 bytes for 4 KiB pages).
func snapChunkBytes(pageSize int) int {
	const pageHeader, leafElement, keyBytes = 16, 16, 8
	return (pageSize - pageHeader - 2*(leafElement+keyBytes)) / 2
}

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
	chunk := snapChunkBytes(b.Tx().DB().Info().PageSize)
	for i := 0; len(snapshot) > 0; i++ {
		n := min(len(snapshot), chunk)
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
	// Every chunk but the last has the first one's size, and the last is no larger.
	var total int64
	next := uint64(0)
	size, last := 0, 0
	c := sb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 || v == nil || binary.BigEndian.Uint64(k) != next {
			problems = append(problems, fmt.Errorf("snapshot chunk key %x where chunk %d was due", k, next))
		}
		if next == 0 {
			size, last = len(v), len(v)
		}
		if last != size || len(v) == 0 || len(v) > size {
			problems = append(problems, fmt.Errorf("snapshot chunk %d of %d bytes after one of %d (chunks of %d)", next, len(v), last, size))
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
