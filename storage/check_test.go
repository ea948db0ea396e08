package storage

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckFindsBrokenInvariants breaks one invariant at a time behind the store's back and expects
// Check to name it.
func TestCheckFindsBrokenInvariants(t *testing.T) {
	docBucket := func(tx *bolt.Tx, id string) *bolt.Bucket { return tx.Bucket(bucketDocs).Bucket([]byte(id)) }
	setMeta := func(tx *bolt.Tx, id string, edit func(*Meta)) error {
		b := docBucket(tx, id)
		m, err := decodeMeta(b.Get(keyDocMeta))
		if err != nil {
			return err
		}
		edit(&m)
		return b.Put(keyDocMeta, encodeMeta(m))
	}
	tests := []struct {
		name    string
		corrupt func(tx *bolt.Tx) error
		want    string
	}{
		{"gap in the log", func(tx *bolt.Tx) error {
			return docBucket(tx, "a").Bucket(bucketLog).Delete(seqKey(4))
		}, "log seq 5 where 4 was due"},
		{"entry the snapshot covers", func(tx *bolt.Tx) error {
			return docBucket(tx, "a").Bucket(bucketLog).Put(seqKey(1), []byte("old"))
		}, "log seq 1 where 3 was due"},
		{"last seq beyond the log", func(tx *bolt.Tx) error {
			return setMeta(tx, "a", func(m *Meta) { m.LastSeq++ })
		}, "log ends at seq 5, metadata says last seq 6"},
		{"wrong byte count", func(tx *bolt.Tx) error {
			return setMeta(tx, "a", func(m *Meta) { m.LogBytes++ })
		}, "log holds 3 entries of 3 bytes, metadata says 3 of 4"},
		{"snapshot missing", func(tx *bolt.Tx) error {
			return docBucket(tx, "a").DeleteBucket(bucketSnap)
		}, "snapshot stored is false, metadata says true"},
		{"snapshot size", func(tx *bolt.Tx) error {
			return docBucket(tx, "a").Bucket(bucketSnap).Put(seqKey(0), []byte("longer snapshot"))
		}, "snapshot is 15 bytes, metadata says 4"},
		{"snapshot chunk missing", func(tx *bolt.Tx) error {
			return docBucket(tx, "a").Bucket(bucketSnap).Put(seqKey(2), []byte("more"))
		}, "snapshot chunk key 0000000000000002 where chunk 1 was due"},
		{"snapshot in the schema 1 form", func(tx *bolt.Tx) error {
			return docBucket(tx, "a").Put(keyLegacySnap, []byte("snap"))
		}, "snapshot stored in the schema 1 form"},
		{"bad log key", func(tx *bolt.Tx) error {
			return docBucket(tx, "b").Bucket(bucketLog).Put([]byte("x"), []byte("y"))
		}, `log key 78 is not an 8-byte entry`},
		{"bad metadata", func(tx *bolt.Tx) error {
			return docBucket(tx, "b").Put(keyDocMeta, []byte{7})
		}, "document meta"},
		{"value among documents", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketDocs).Put([]byte("stray"), []byte("v"))
		}, `document "stray" is not a bucket`},
		{"no kv bucket", func(tx *bolt.Tx) error {
			return docBucket(tx, "b").DeleteBucket(bucketKV)
		}, `no "kv" bucket`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "tandem.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			appendData("a", "1", "2", "3", "4", "5")(t, s)
			compact("a", "snap", 2)(t, s)
			appendData("b", "1")(t, s)
			if err := s.Check(); err != nil {
				t.Fatalf("Check() before breaking = %v; want no error", err)
			}
			if err := s.db.Update(tt.corrupt); err != nil {
				t.Fatal(err)
			}
			err = s.Check()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check() = %v; want ErrCorrupt naming %q", err, tt.want)
			}
		})
	}
}
