package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrateBatchBytes bounds the snapshot bytes one migration transaction moves, and so the memory
// its dirty pages hold.
const migrateBatchBytes = 32 << 20

// migrate brings a schema 1 or 2 file to the current layout: every snapshot stored as one value
// moves into chunks (schema 2's chunks stay as they are: they read the same). The first commit
// raises the schema version and marks the file as migrating, so that an older build refuses the
// file from then on (ErrSchemaTooNew); the documents then move in transactions of at most
// migrateBatchBytes of snapshots each, and the last one removes the mark. A crash on the way
// leaves the mark, and the next Open carries on: a document in either form loads meanwhile.
func migrate(db *bolt.DB) error {
	err := db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		if err := mb.Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion)); err != nil {
			return err
		}
		return mb.Put(keyMigrate, []byte{1})
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var after []byte // the last document moved; the next transaction starts past it
	for done := false; !done; {
		err := db.Update(func(tx *bolt.Tx) error {
			docs := tx.Bucket(bucketDocs)
			c := docs.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			var moved int
			for ; k != nil && moved < migrateBatchBytes; k, v = c.Next() {
				b := docs.Bucket(k)
				if v != nil || b == nil {
					return fmt.Errorf("%w: document %q is not a bucket", ErrCorrupt, k)
				}
				after = clone(k)
				if sk, _ := b.Cursor().Seek(keyLegacySnap); !bytes.Equal(sk, keyLegacySnap) {
					continue
				}
				snap := clone(b.Get(keyLegacySnap))
				if snap == nil {
					return fmt.Errorf("%w: document %q: snapshot key is a bucket", ErrCorrupt, k)
				}
				if err := putSnapshot(b, snap); err != nil {
					return fmt.Errorf("document %q: %w", k, err)
				}
				moved += len(snap)
			}
			if k == nil {
				done = true
				return tx.Bucket(bucketMeta).Delete(keyMigrate)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate to schema %d: %w", SchemaVersion, err)
		}
	}
	return nil
}
