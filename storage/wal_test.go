package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// walEntry is one append of the tests below.
type walEntry struct {
	doc  string
	data string
}

// walEntries returns appends to three documents, interleaved.
func walEntries(n int) []walEntry {
	var out []walEntry
	for i := range n {
		doc := fmt.Sprintf("doc-%d", i%3)
		out = append(out, walEntry{doc, fmt.Sprintf("%s/entry-%d", doc, i/3+1)})
	}
	return out
}

// loggedNotApplied appends entries to a fresh store whose applier is held back, and returns the
// path of a copy of its files taken once every append was acknowledged: what a crash leaves when
// the log holds the acknowledged appends and bbolt none of them yet. base, if not nil, is
// appended first and applied, so that bbolt holds it.
func loggedNotApplied(t *testing.T, base, entries []walEntry) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "tandem.db")
	s := mustOpen(t, src, Options{})
	for _, e := range base {
		mustAppend(t, s, e.doc, e.data)
	}
	if _, _, err := s.Load("doc-0"); err != nil { // waits until bbolt holds base
		t.Fatal(err)
	}
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	s.hooks.beforeApply = func() {
		select {
		case held <- struct{}{}:
		default:
		}
		<-release
	}
	for _, e := range entries {
		mustAppend(t, s, e.doc, e.data)
	}
	<-held // the applier took the groups and waits: bbolt is between commits
	dst := filepath.Join(t.TempDir(), "copy.db")
	copyFile(t, src, dst)
	copyFile(t, walPath(src), walPath(dst))
	close(release)
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantEntries loads every document of entries from s and compares its log with entries.
func wantEntries(t *testing.T, s *Store, entries []walEntry) {
	t.Helper()
	want := make(map[string][]string)
	for _, e := range entries {
		want[e.doc] = append(want[e.doc], e.data)
	}
	for i := range 3 {
		doc := fmt.Sprintf("doc-%d", i)
		st, _ := mustLoad(t, s, doc)
		var got []string
		for j, e := range st.Log {
			if e.Seq != uint64(j+1) {
				t.Errorf("Load(%q): entry %d has seq %d; want %d", doc, j, e.Seq, j+1)
			}
			got = append(got, string(e.Data))
		}
		if !slices.Equal(got, want[doc]) {
			t.Errorf("Load(%q) log = %q; want %q", doc, got, want[doc])
		}
		if st.Meta.LastSeq != uint64(len(want[doc])) {
			t.Errorf("Load(%q) LastSeq = %d; want %d", doc, st.Meta.LastSeq, len(want[doc]))
		}
	}
}

// TestLogReplay: a crash between the log's sync and bbolt's commit loses nothing acknowledged;
// Open writes the log into bbolt, on top of what bbolt already held.
func TestLogReplay(t *testing.T) {
	base, entries := walEntries(6), walEntries(30)[6:]
	path := loggedNotApplied(t, base, entries)
	s := mustOpen(t, path, Options{})
	wantEntries(t, s, append(slices.Clone(base), entries...))
}

// TestLogReplayTwice: a crash after replay committed into bbolt and before the log was emptied
// leaves the same log to replay again, which changes nothing.
func TestLogReplayTwice(t *testing.T) {
	entries := walEntries(30)
	path := loggedNotApplied(t, nil, entries)
	logged, err := os.ReadFile(walPath(path))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(walPath(path), logged, 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, Options{})
	wantEntries(t, s, entries)
	// And a store opened without the log replays it just the same.
	s = reopen(t, s, Options{NoWriteAheadLog: true})
	wantEntries(t, s, entries)
}

// TestLogTornTail: a log cut anywhere (a crash in the middle of a group's write, which was never
// acknowledged), or followed by garbage, or with a damaged record, yields exactly the records
// before the damage, and a file that passes Check.
func TestLogTornTail(t *testing.T) {
	entries := walEntries(12)
	path := loggedNotApplied(t, nil, entries)
	logged, err := os.ReadFile(walPath(path))
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// ends[i] is where record i ends in the file.
	var ends []int
	off := walDataOffset
	for i, e := range entries {
		rec, _ := appendWALRecord(nil, 1, e.doc, uint64(i/3+1), []byte(e.data))
		if !bytes.Equal(logged[off:off+len(rec)], rec) {
			t.Fatalf("record %d is not where expected", i)
		}
		off += len(rec)
		ends = append(ends, off)
	}
	whole := func(n int) int { // records that end at or before n
		k := 0
		for k < len(ends) && ends[k] <= n {
			k++
		}
		return k
	}
	type variant struct {
		name string
		log  []byte
		keep int
	}
	var variants []variant
	for _, cut := range []int{walDataOffset, walDataOffset + 1, ends[0] - 1, ends[0], ends[0] + 3, ends[5] - 1, ends[5], ends[10] + 17, ends[11] - 1, ends[11]} {
		variants = append(variants, variant{fmt.Sprintf("cut at %d", cut), logged[:cut], whole(cut)})
	}
	garbage := append(slices.Clone(logged[:ends[11]]), bytes.Repeat([]byte{0x5a}, 300)...)
	variants = append(variants, variant{"garbage after the last record", garbage, 12})
	zeros := append(slices.Clone(logged[:ends[7]]), make([]byte, 300)...)
	variants = append(variants, variant{"zeros after record 8", zeros, 8})
	flipped := slices.Clone(logged[:ends[11]])
	flipped[ends[6]-2] ^= 1 // inside record 6's entry
	variants = append(variants, variant{"a damaged record", flipped, 6})
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "torn.db")
			if err := os.WriteFile(p, db, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(walPath(p), v.log, 0o600); err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, p, Options{})
			wantEntries(t, s, entries[:v.keep])
			// Writing on continues each document's log from what replay kept.
			mustAppend(t, s, "doc-0", "after")
			s = reopen(t, s, Options{})
			st, _ := mustLoad(t, s, "doc-0")
			if n := len(st.Log); n == 0 || string(st.Log[n-1].Data) != "after" || st.Log[n-1].Seq != uint64(n) {
				t.Errorf("after the crash, doc-0's log = %v; want its entries then %q", st.Log, "after")
			}
		})
	}
}

// TestLogOldEpochIgnored: records left in the file from before the log was emptied are never
// replayed, even where they would apply (here to a document deleted since).
func TestLogOldEpochIgnored(t *testing.T) {
	s, path := openTest(t, Options{})
	for _, e := range walEntries(9) {
		mustAppend(t, s, e.doc, e.data)
	}
	s = reopen(t, s, Options{}) // Close empties the log; its records stay in the file
	if err := s.Delete("doc-1"); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, Options{})
	if _, ok := mustLoad(t, s, "doc-1"); ok {
		t.Errorf("Load(doc-1) after Delete and reopen found the document; want it gone")
	}
	if info, err := os.Stat(walPath(path)); err != nil || info.Size() <= walDataOffset {
		t.Fatalf("log file: %v, %v; want old records left in it", info, err)
	}
}

// TestLogWriteFails: once a write to the log fails, the store takes no more writes (what reached
// the disk is unknown), and reopening it keeps every acknowledged append.
func TestLogWriteFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	entries := walEntries(6)
	for _, e := range entries {
		mustAppend(t, s, e.doc, e.data)
	}
	if err := s.wal.f.Close(); err != nil { // the next write fails
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := s.AppendSync(t.Context(), "doc-0", []byte("lost")); err == nil {
			t.Fatalf("append %d after a failed log write = nil; want an error", i)
		}
	}
	if err := s.Compact("doc-0", []byte("snap"), 1); err == nil {
		t.Errorf("Compact after a failed log write = nil; want an error")
	}
	if err := s.Close(); err == nil {
		t.Errorf("Close after a failed log write = nil; want the error")
	}
	s = mustOpen(t, path, Options{})
	wantEntries(t, s, entries)
	mustAppend(t, s, "doc-0", "again")
}

// TestLogNotAFile: a log file that is not one is refused, not overwritten.
func TestLogNotAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	if err := os.WriteFile(walPath(path), bytes.Repeat([]byte("x"), 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			_ = s.Close()
		}
		t.Fatalf("Open with a foreign -wal file = %v; want ErrCorrupt", err)
	}
}

// TestCompactFileNeedsReplay: CompactFile refuses a file whose log holds appends (they would be
// left behind), and copies it once Open has written them in.
func TestCompactFileNeedsReplay(t *testing.T) {
	entries := walEntries(9)
	path := loggedNotApplied(t, nil, entries)
	if _, _, err := CompactFile(path, filepath.Join(t.TempDir(), "a.db"), 0); !errors.Is(err, ErrNeedsReplay) {
		t.Fatalf("CompactFile() of a file with a full log = %v; want ErrNeedsReplay", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "b.db")
	if _, _, err := CompactFile(path, dst, 0); err != nil {
		t.Fatalf("CompactFile() after Open replayed the log = %v; want no error", err)
	}
	wantEntries(t, mustOpen(t, dst, Options{}), entries)
}

// TestObserveTimings: the writer reports each group it made durable with its appends, and the
// applier each bbolt commit behind the log.
func TestObserveTimings(t *testing.T) {
	var mu sync.Mutex
	var syncs, appends, applies int
	s, _ := openTest(t, Options{
		ObserveSync: func(took time.Duration, n int) {
			mu.Lock()
			defer mu.Unlock()
			syncs++
			appends += n
		},
		ObserveApply: func(took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			applies++
		},
	})
	for _, e := range walEntries(5) {
		mustAppend(t, s, e.doc, e.data)
	}
	mustLoad(t, s, "doc-0") // waits for the applier
	mu.Lock()
	defer mu.Unlock()
	if syncs != 5 || appends != 5 || applies == 0 {
		t.Errorf("observed %d syncs of %d appends and %d applies; want 5 of 5 and at least 1", syncs, appends, applies)
	}
}

// TestReadWaitsForItsDocument: while bbolt lacks a document's acknowledged appends, a read of it
// waits for them and sees them; a read of another document does not wait for them.
func TestReadWaitsForItsDocument(t *testing.T) {
	s, _ := openTest(t, Options{})
	mustAppend(t, s, "doc-1", "applied")
	mustLoad(t, s, "doc-1") // bbolt holds it
	release := make(chan struct{})
	s.hooks.beforeApply = func() { <-release }
	mustAppend(t, s, "doc-0", "logged")
	// The applier is held with doc-0's group: a read of doc-1 must not wait for it (it would
	// hang here).
	if st, ok := mustLoad(t, s, "doc-1"); !ok || len(st.Log) != 1 || string(st.Log[0].Data) != "applied" {
		t.Fatalf("Load(doc-1) = %v, %t; want its one entry", st.Log, ok)
	}
	got := make(chan DocState, 1)
	go func() {
		st, _, err := s.Load("doc-0")
		if err != nil {
			t.Error(err)
		}
		got <- st
	}()
	close(release)
	if st := <-got; len(st.Log) != 1 || string(st.Log[0].Data) != "logged" {
		t.Errorf("Load(doc-0) = %v; want the acknowledged entry", st.Log)
	}
}

// TestLogRewound: once the log holds walRewindBytes and bbolt holds all of it, the writer empties
// it and writes on from the file's start, so that the file stays near that size under steady
// writing; Close cuts it to walKeepBytes. A crash after such an emptying replays only the records
// written since, and loses nothing acknowledged.
func TestLogRewound(t *testing.T) {
	big := string(bytes.Repeat([]byte("x"), 64<<10))
	t.Run("bounded", func(t *testing.T) {
		s, path := openTest(t, Options{NoSync: true})
		var largest int64
		const n = 3 * walRewindBytes / (64 << 10) // three times the size past which it empties
		for i := range n {
			mustAppend(t, s, "doc", big)
			if i%8 == 7 {
				if _, _, err := s.Stat("doc"); err != nil { // waits until bbolt holds the appends
					t.Fatal(err)
				}
			}
			info, err := os.Stat(walPath(path))
			if err != nil {
				t.Fatal(err)
			}
			largest = max(largest, info.Size())
		}
		if limit := int64(walRewindBytes + 2*walGrowBytes); largest > limit {
			t.Errorf("log file reached %d bytes for %d bytes of appends; want at most %d", largest, n*len(big), limit)
		}
		s = reopen(t, s, Options{NoSync: true})
		if info, err := os.Stat(walPath(path)); err != nil || info.Size() != walKeepBytes {
			t.Errorf("log file after Close: %v, %v; want %d bytes", info, err, walKeepBytes)
		}
		if st, _ := mustLoad(t, s, "doc"); len(st.Log) != n {
			t.Errorf("Load(doc) after reopen: %d entries; want %d", len(st.Log), n)
		}
	})
	t.Run("crash after an emptying", func(t *testing.T) {
		var base []walEntry
		for range walRewindBytes/len(big) + 1 {
			base = append(base, walEntry{"doc-0", big})
		}
		entries := walEntries(9)
		dst := loggedNotApplied(t, base, entries)
		if got, err := loggedRecords(dst); err != nil || got != len(entries) {
			t.Fatalf("log holds %d records (%v); want the %d written since it was emptied", got, err, len(entries))
		}
		s := mustOpen(t, dst, Options{})
		wantEntries(t, s, append(base, entries...))
	})
}
