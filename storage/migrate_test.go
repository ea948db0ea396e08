package storage

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// v1Doc is a document as schema 1 stored it: the snapshot as one value beside the metadata.
type v1Doc struct {
	id       string
	snapshot []byte // nil: none
	log      []string
	kv       map[string]string
}

// putV1Doc writes d in the schema 1 layout; chunked writes it in the 32 KiB chunks of schema 2
// instead, as a schema 2 file holds them and as a migration by a schema 2 build that was cut short
// leaves some documents.
func putV1Doc(t *testing.T, tx *bolt.Tx, d v1Doc, chunked bool) {
	t.Helper()
	b, err := tx.Bucket(bucketDocs).CreateBucket([]byte(d.id))
	if err != nil {
		t.Fatal(err)
	}
	log, err := b.CreateBucket(bucketLog)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := b.CreateBucket(bucketKV)
	if err != nil {
		t.Fatal(err)
	}
	m := Meta{Created: clockStart, Updated: clockStart}
	if d.snapshot != nil {
		m.HasSnapshot, m.SnapshotBytes, m.SnapshotSeq, m.LastSeq = true, int64(len(d.snapshot)), 3, 3
		if chunked {
			err = putChunks32K(b, d.snapshot)
		} else {
			err = b.Put(keyLegacySnap, d.snapshot)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range d.log {
		m.LastSeq++
		m.LogEntries++
		m.LogBytes += int64(len(e))
		if err := log.Put(seqKey(m.LastSeq), []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range d.kv {
		if err := kv.Put([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(keyDocMeta, encodeMeta(m)); err != nil {
		t.Fatal(err)
	}
}

// putChunks32K stores snapshot in document bucket b as a schema 2 build did: in 32 KiB chunks.
func putChunks32K(b *bolt.Bucket, snapshot []byte) error {
	sb, err := b.CreateBucket(bucketSnap)
	if err != nil {
		return err
	}
	for i := 0; len(snapshot) > 0; i++ {
		n := min(len(snapshot), 32<<10)
		if err := sb.Put(seqKey(uint64(i)), snapshot[:n]); err != nil {
			return err
		}
		snapshot = snapshot[n:]
	}
	return nil
}

// TestOpenMigratesSchema1: a schema 1 file opens, its snapshots move into chunks, every document
// loads as it was, and the file then says the current schema. A schema 2 file (32 KiB chunks)
// opens as it is and says the current schema. A migration cut short (the mark still there,
// some documents moved) carries on at the next Open.
func TestOpenMigratesSchema1(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes: three chunks
	docs := []v1Doc{
		{id: "big", snapshot: big, log: []string{"after"}, kv: map[string]string{"owner": "ann"}},
		{id: "empty-snapshot", snapshot: []byte{}},
		{id: "log-only", log: []string{"one", "two"}},
		{id: "small", snapshot: []byte("snap"), log: []string{"x"}},
	}
	tests := []struct {
		name    string
		version uint64
		mark    bool
		moved   map[string]bool // documents already in chunks
	}{
		{name: "schema 1", version: 1},
		{name: "cut short", version: SchemaVersion, mark: true, moved: map[string]bool{"big": true}},
		{name: "cut short by a schema 2 build", version: 2, mark: true, moved: map[string]bool{"big": true}},
		{name: "schema 2", version: 2, moved: map[string]bool{"big": true, "empty-snapshot": true, "small": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			writeBolt(t, path, func(tx *bolt.Tx) error {
				mb, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				if err := mb.Put(keySchema, binary.BigEndian.AppendUint64(nil, tt.version)); err != nil {
					return err
				}
				if tt.mark {
					if err := mb.Put(keyMigrate, []byte{1}); err != nil {
						return err
					}
				}
				if _, err := tx.CreateBucket(bucketDocs); err != nil {
					return err
				}
				for _, d := range docs {
					putV1Doc(t, tx, d, tt.moved[d.id])
				}
				return nil
			})

			s := mustOpen(t, path, Options{NoSync: true})
			if err := s.Check(); err != nil {
				t.Fatalf("Check() after migrating = %v; want no error", err)
			}
			s = reopen(t, s, Options{NoSync: true})
			for _, d := range docs {
				st, ok := mustLoad(t, s, d.id)
				if !ok {
					t.Fatalf("Load(%q) found nothing; want the document", d.id)
				}
				if !bytes.Equal(st.Snapshot, d.snapshot) || (st.Snapshot == nil) != (d.snapshot == nil) {
					t.Errorf("Load(%q).Snapshot = %d bytes (nil %t); want %d (nil %t)",
						d.id, len(st.Snapshot), st.Snapshot == nil, len(d.snapshot), d.snapshot == nil)
				}
				var got []string
				for _, e := range st.Log {
					got = append(got, string(e.Data))
				}
				if len(got) != len(d.log) {
					t.Errorf("Load(%q).Log = %q; want %q", d.id, got, d.log)
				}
				for k, v := range d.kv {
					if string(st.DocMeta[k]) != v {
						t.Errorf("Load(%q).DocMeta[%q] = %q; want %q", d.id, k, st.DocMeta[k], v)
					}
				}
			}
			err := s.view(func(tx *bolt.Tx) error {
				mb := tx.Bucket(bucketMeta)
				if v := binary.BigEndian.Uint64(mb.Get(keySchema)); v != SchemaVersion {
					t.Errorf("schema version after Open = %d; want %d", v, SchemaVersion)
				}
				if mb.Get(keyMigrate) != nil {
					t.Errorf("migration mark still present after Open")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
