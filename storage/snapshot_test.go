package storage

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestSnapshotChunksFillPages: a compaction stores its snapshot in chunks two of which fill one
// page, so that every leaf of the snapshot but the last is a single page (any free page can take
// it, and no run of contiguous pages is needed), and the snapshot reads back whole and passes Check.
func TestSnapshotChunksFillPages(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		chunks int // for 4 KiB pages
	}{
		{"empty", 0, 0},
		{"one byte", 1, 1},
		{"one chunk exactly", 2016, 1},
		{"one byte more", 2017, 2},
		{"a page's worth", 4032, 2},
		{"100 KB", 100_000, 50},
		{"1 MiB", 1 << 20, 521},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, Options{NoSync: true})
			snapshot := make([]byte, tt.size)
			for i := range snapshot {
				snapshot[i] = byte(i * 7 / 3)
			}
			mustAppend(t, s, "doc", "entry")
			if err := s.Compact("doc", snapshot, 1); err != nil {
				t.Fatal(err)
			}
			st, _ := mustLoad(t, s, "doc")
			if !bytes.Equal(st.Snapshot, snapshot) {
				t.Fatalf("Load: snapshot of %d bytes; want the %d written", len(st.Snapshot), len(snapshot))
			}
			if err := s.Check(); err != nil {
				t.Fatalf("Check() = %v; want no error", err)
			}
			err := s.db.View(func(tx *bolt.Tx) error {
				pageSize := tx.DB().Info().PageSize
				sb := tx.Bucket(bucketDocs).Bucket([]byte("doc")).Bucket(bucketSnap)
				chunk := snapChunkBytes(pageSize)
				var n int
				c := sb.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if want := min(chunk, tt.size-n*chunk); len(v) != want {
						t.Errorf("chunk %d is %d bytes; want %d", n, len(v), want)
					}
					n++
				}
				if pageSize == 4096 && n != tt.chunks {
					t.Errorf("%d chunks; want %d", n, tt.chunks)
				}
				// bbolt never splits a leaf of four entries or fewer: the last leaf may hold up to
				// four chunks, on two pages.
				if st := sb.Stats(); st.LeafOverflowN > 1 {
					t.Errorf("the snapshot's %d leaves take %d pages beyond their first; want at most 1 (one page each but the last)",
						st.LeafPageN, st.LeafOverflowN)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSnapshotChunksOfAnotherSize: a snapshot stored in chunks of another size (the 32 KiB of
// earlier builds) loads and passes Check, and the next compaction rewrites it in page-sized
// chunks; chunks of uneven sizes are reported as corrupt.
func TestSnapshotChunksOfAnotherSize(t *testing.T) {
	const oldChunk = 32 << 10
	snapshot := bytes.Repeat([]byte("0123456789"), 10_000) // 100,000 bytes: four chunks of 32 KiB
	put := func(sizes ...int) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketDocs).Bucket([]byte("doc"))
			if err := deleteSnapshot(b); err != nil {
				return err
			}
			sb, err := b.CreateBucket(bucketSnap)
			if err != nil {
				return err
			}
			rest := snapshot
			for i, n := range sizes {
				if err := sb.Put(seqKey(uint64(i)), rest[:n]); err != nil {
					return err
				}
				rest = rest[n:]
			}
			return nil
		}
	}
	tests := []struct {
		name  string
		sizes []int
		want  string // Check's complaint; "" for none
	}{
		{"32 KiB chunks", []int{oldChunk, oldChunk, oldChunk, len(snapshot) - 3*oldChunk}, ""},
		{"one chunk", []int{len(snapshot)}, ""},
		{"a short chunk inside", []int{oldChunk, 1000, oldChunk, len(snapshot) - 2*oldChunk - 1000}, "snapshot chunk 2 of 32768 bytes after one of 1000"},
		{"a last chunk too long", []int{1000, 1000, len(snapshot) - 2000}, "snapshot chunk 2 of 98000 bytes after one of 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, Options{NoSync: true})
			mustAppend(t, s, "doc", "entry")
			if err := s.Compact("doc", snapshot, 1); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(put(tt.sizes...)); err != nil {
				t.Fatal(err)
			}
			err := s.Check()
			if tt.want != "" {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Check() = %v; want ErrCorrupt naming %q", err, tt.want)
				}
				if err := s.db.Update(put(len(snapshot))); err != nil { // whole again for the cleanup's Check
					t.Fatal(err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check() = %v; want no error", err)
			}
			if st, _ := mustLoad(t, s, "doc"); !bytes.Equal(st.Snapshot, snapshot) {
				t.Fatalf("Load: snapshot of %d bytes; want the %d written", len(st.Snapshot), len(snapshot))
			}
			mustAppend(t, s, "doc", "more")
			if err := s.Compact("doc", snapshot, 2); err != nil {
				t.Fatal(err)
			}
			err = s.db.View(func(tx *bolt.Tx) error {
				v := tx.Bucket(bucketDocs).Bucket([]byte("doc")).Bucket(bucketSnap).Get(seqKey(0))
				if want := snapChunkBytes(tx.DB().Info().PageSize); len(v) != want {
					t.Errorf("after a compaction, chunk 0 is %d bytes; want %d", len(v), want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(); err != nil {
				t.Fatalf("Check() after the compaction = %v; want no error", err)
			}
		})
	}
}
