package storage

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// heavyWriting appends entries of entryBytes to doc until the document (its snapshot plus its log)
// holds docBytes, compacting whenever the log passes compactBytes with a snapshot as large as the
// whole document, as the server's actor does for a document that keeps growing. It returns the
// last snapshot.
func heavyWriting(t *testing.T, s *Store, doc string, docBytes, entryBytes, compactBytes int) []byte {
	t.Helper()
	entry := bytes.Repeat([]byte("e"), entryBytes)
	var snapshot []byte
	var size, logBytes int
	var seq uint64
	for size < docBytes {
		seq = mustAppend(t, s, doc, string(entry))
		size += entryBytes
		logBytes += entryBytes
		if logBytes >= compactBytes {
			snapshot = bytes.Repeat([]byte{byte('a' + seq%26)}, size)
			if err := s.Compact(doc, snapshot, seq); err != nil {
				t.Fatalf("Compact(%q, %d bytes, %d) = %v; want no error", doc, size, seq, err)
			}
			logBytes = 0
		}
	}
	return snapshot
}

// TestFileGrowthUnderCompaction: a document that keeps growing and is compacted again and again
// (each snapshot larger than the last) keeps the file within a small multiple of what it holds,
// and the file holds it after a reopen.
func TestFileGrowthUnderCompaction(t *testing.T) {
	const (
		docBytes     = 12 << 20
		entryBytes   = 16 << 10
		compactBytes = 1 << 20
	)
	s, path := openTest(t, Options{NoSync: true})
	// A second document written meanwhile, as on a server with other editors.
	mustAppend(t, s, "other", "x")
	snapshot := heavyWriting(t, s, "big", docBytes, entryBytes, compactBytes)
	s = reopen(t, s, Options{NoSync: true})

	st, ok := mustLoad(t, s, "big")
	if !ok || !bytes.Equal(st.Snapshot, snapshot) {
		t.Fatalf("Load(big) after reopen: snapshot of %d bytes, found %v; want the last one, %d bytes", len(st.Snapshot), ok, len(snapshot))
	}
	live := int64(len(st.Snapshot)) + st.Meta.LogBytes
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("file %d bytes for a document of %d (%.2fx)", fi.Size(), live, float64(fi.Size())/float64(live))
	if limit := 3 * live; fi.Size() > limit {
		t.Errorf("file is %d bytes for a document of %d (snapshot %d, log %d); want at most %d",
			fi.Size(), live, len(st.Snapshot), st.Meta.LogBytes, limit)
	}

	// Writing on after the reopen reuses the file's free pages: it does not grow further.
	before := fi.Size()
	heavyWriting(t, s, "big", 2*docBytes/3, entryBytes, compactBytes)
	if fi, err = os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if fi.Size() > before+before/4 {
		t.Errorf("file grew from %d to %d bytes writing %s again; want at most %d",
			before, fi.Size(), fmt.Sprint(2*docBytes/3), before+before/4)
	}
}
