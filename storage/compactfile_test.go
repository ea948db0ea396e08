package storage

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"
)

// TestCompactFile: a file left large by heavy writing and a deleted document is copied into one
// that holds only the live pages; the copy opens, passes Check and loads every document as it was.
func TestCompactFile(t *testing.T) {
	s, src := openTest(t, Options{NoSync: true})
	snapshot := heavyWriting(t, s, "big", 4<<20, 16<<10, 1<<20)
	mustAppend(t, s, "big", "tail")
	heavyWriting(t, s, "gone", 2<<20, 16<<10, 1<<20)
	deleteDoc("gone")(t, s)
	if err := s.PutDocMeta("big", "owner", []byte("ann")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "compact.db")
	before, after, err := CompactFile(src, dst, 0)
	if err != nil {
		t.Fatalf("CompactFile() = %v; want no error", err)
	}
	if before != fileSize(src) || after != fileSize(dst) {
		t.Errorf("CompactFile() sizes = %d, %d; want the files' sizes, %d and %d", before, after, fileSize(src), fileSize(dst))
	}
	if live := int64(len(snapshot)) + 1<<20; after > live+live/4 {
		t.Errorf("compacted file is %d bytes (from %d); want at most %d for %d bytes of data", after, before, live+live/4, live)
	}

	c := mustOpen(t, dst, Options{NoSync: true})
	st, ok := mustLoad(t, c, "big")
	if !ok || !bytes.Equal(st.Snapshot, snapshot) || len(st.Log) != 1 || string(st.Log[0].Data) != "tail" ||
		string(st.DocMeta["owner"]) != "ann" {
		t.Errorf("Load(big) from the copy: found %t, snapshot %d bytes, log %d entries, owner %q; want %d bytes, [tail], ann",
			ok, len(st.Snapshot), len(st.Log), st.DocMeta["owner"], len(snapshot))
	}
	if _, ok := mustLoad(t, c, "gone"); ok {
		t.Errorf("Load(gone) from the copy found the deleted document")
	}
	mustAppend(t, c, "big", "more") // the copy takes writes

	// Refusals: an existing destination, a file a store holds open.
	if _, _, err := CompactFile(src, dst, 0); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CompactFile() onto an existing file = %v; want fs.ErrExist", err)
	}
	if _, _, err := CompactFile(dst, filepath.Join(t.TempDir(), "x.db"), 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Errorf("CompactFile() of a file open in a store = %v; want ErrLocked", err)
	}
}
