package storage

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// step is one write in a round-trip scenario.
type step func(t *testing.T, s *Store)

func appendData(doc string, data ...string) step {
	return func(t *testing.T, s *Store) {
		t.Helper()
		for _, d := range data {
			mustAppend(t, s, doc, d)
		}
	}
}

func compact(doc, snapshot string, upto uint64) step {
	return func(t *testing.T, s *Store) {
		t.Helper()
		if err := s.Compact(doc, []byte(snapshot), upto); err != nil {
			t.Fatalf("Compact(%q, %q, %d) = %v; want no error", doc, snapshot, upto, err)
		}
	}
}

func deleteDoc(doc string) step {
	return func(t *testing.T, s *Store) {
		t.Helper()
		if err := s.Delete(doc); err != nil {
			t.Fatalf("Delete(%q) = %v; want no error", doc, err)
		}
	}
}

func putMeta(doc, key string, value []byte) step {
	return func(t *testing.T, s *Store) {
		t.Helper()
		if err := s.PutDocMeta(doc, key, value); err != nil {
			t.Fatalf("PutDocMeta(%q, %q, %q) = %v; want no error", doc, key, value, err)
		}
	}
}

// entries returns log entries with the given data, numbered from first.
func entries(first uint64, data ...string) []LogEntry {
	out := make([]LogEntry, len(data))
	for i, d := range data {
		out[i] = LogEntry{Seq: first + uint64(i), Data: []byte(d)}
	}
	return out
}

// TestRoundTrip runs write scenarios, then compares every document's whole state with what is
// expected, before and after reopening the file. The clock stands still, so every time is clockStart.
func TestRoundTrip(t *testing.T) {
	now := clockStart
	logMeta := func(entries, bytes int, last uint64) Meta {
		return Meta{Created: now, Updated: now, LogEntries: entries, LogBytes: int64(bytes), LastSeq: last}
	}
	tests := []struct {
		name  string
		steps []step
		want  map[string]*DocState // nil: the document does not exist
	}{
		{
			name:  "appends",
			steps: []step{appendData("a", "one", "two", ""), appendData("b", "x")},
			want: map[string]*DocState{
				"a": {Log: entries(1, "one", "two", ""), Meta: logMeta(3, 6, 3)},
				"b": {Log: entries(1, "x"), Meta: logMeta(1, 1, 1)},
				"c": nil,
			},
		},
		{
			name:  "compact a prefix",
			steps: []step{appendData("a", "1", "22", "333", "4444"), compact("a", "S12", 2)},
			want: map[string]*DocState{"a": {
				Snapshot: []byte("S12"), SnapshotSeq: 2, Log: entries(3, "333", "4444"),
				Meta: Meta{Created: now, Updated: now, Compacted: now, LogEntries: 2, LogBytes: 7,
					HasSnapshot: true, SnapshotBytes: 3, SnapshotSeq: 2, LastSeq: 4},
			}},
		},
		{
			name:  "compact everything, then append",
			steps: []step{appendData("a", "1", "22"), compact("a", "S", 2), appendData("a", "333")},
			want: map[string]*DocState{"a": {
				Snapshot: []byte("S"), SnapshotSeq: 2, Log: entries(3, "333"),
				Meta: Meta{Created: now, Updated: now, Compacted: now, LogEntries: 1, LogBytes: 3,
					HasSnapshot: true, SnapshotBytes: 1, SnapshotSeq: 2, LastSeq: 3},
			}},
		},
		{
			name: "compact twice, second at the same position",
			steps: []step{appendData("a", "1", "2", "3"), compact("a", "first", 1), compact("a", "second", 2),
				compact("a", "again", 2)},
			want: map[string]*DocState{"a": {
				Snapshot: []byte("again"), SnapshotSeq: 2, Log: entries(3, "3"),
				Meta: Meta{Created: now, Updated: now, Compacted: now, LogEntries: 1, LogBytes: 1,
					HasSnapshot: true, SnapshotBytes: 5, SnapshotSeq: 2, LastSeq: 3},
			}},
		},
		{
			name:  "empty snapshot of a new document",
			steps: []step{compact("a", "", 0)},
			want: map[string]*DocState{"a": {
				Snapshot: []byte{},
				Meta:     Meta{Created: now, Updated: now, Compacted: now, HasSnapshot: true},
			}},
		},
		{
			name:  "delete",
			steps: []step{appendData("a", "1"), appendData("b", "2"), compact("a", "s", 1), deleteDoc("a"), deleteDoc("never")},
			want: map[string]*DocState{
				"a": nil,
				"b": {Log: entries(1, "2"), Meta: logMeta(1, 1, 1)},
			},
		},
		{
			name:  "delete, then write again from seq 1",
			steps: []step{appendData("a", "1", "2"), deleteDoc("a"), appendData("a", "new")},
			want:  map[string]*DocState{"a": {Log: entries(1, "new"), Meta: logMeta(1, 3, 1)}},
		},
		{
			name: "document metadata",
			steps: []step{putMeta("a", "client:7", []byte("alice")), putMeta("a", "client:9", []byte("bob")),
				putMeta("a", "gone", []byte("x")), putMeta("a", "gone", nil), putMeta("a", "empty", []byte{}),
				putMeta("b", "never", nil), appendData("a", "u")},
			want: map[string]*DocState{
				"a": {Log: entries(1, "u"), Meta: logMeta(1, 1, 1),
					DocMeta: map[string][]byte{"client:7": []byte("alice"), "client:9": []byte("bob"), "empty": {}}},
				"b": nil,
			},
		},
		{
			name:  "document metadata goes with the document",
			steps: []step{putMeta("a", "k", []byte("v")), deleteDoc("a"), appendData("a", "u")},
			want:  map[string]*DocState{"a": {Log: entries(1, "u"), Meta: logMeta(1, 1, 1)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Now: func() time.Time { return now }}
			s, _ := openTest(t, opts)
			for _, st := range tt.steps {
				st(t, s)
			}
			checkDocs := func(when string) {
				t.Helper()
				for id, want := range tt.want {
					got, ok := mustLoad(t, s, id)
					if want == nil {
						if ok {
							t.Errorf("%s: Load(%q) = %+v, true; want no document", when, id, got)
						}
						continue
					}
					if !ok || !reflect.DeepEqual(got, *want) {
						t.Errorf("%s: Load(%q) = %+v, %t;\nwant %+v, true", when, id, got, ok, *want)
					}
					m, ok, err := s.Stat(id)
					if err != nil || !ok || m != want.Meta {
						t.Errorf("%s: Stat(%q) = %+v, %t, %v; want %+v, true, nil", when, id, m, ok, err, want.Meta)
					}
					for k, v := range want.DocMeta {
						got, ok, err := s.GetDocMeta(id, k)
						if err != nil || !ok || string(got) != string(v) {
							t.Errorf("%s: GetDocMeta(%q, %q) = %q, %t, %v; want %q, true, nil", when, id, k, got, ok, err, v)
						}
					}
				}
			}
			checkDocs("before reopen")
			s = reopen(t, s, opts)
			checkDocs("after reopen")
		})
	}
}

func TestMetaTimes(t *testing.T) {
	clock := newFakeClock(time.Second)
	s, _ := openTest(t, Options{Now: clock.Now})
	mustAppend(t, s, "a", "1") // clockStart + 1 s
	mustAppend(t, s, "a", "2") // + 2 s
	if err := s.Compact("a", []byte("s"), 1); err != nil {
		t.Fatal(err) // + 3 s
	}
	mustAppend(t, s, "a", "3") // + 4 s
	m, _, err := s.Stat("a")
	if err != nil {
		t.Fatal(err)
	}
	at := func(n int) time.Time { return clockStart.Add(time.Duration(n) * time.Second) }
	if !m.Created.Equal(at(1)) || !m.Compacted.Equal(at(3)) || !m.Updated.Equal(at(4)) {
		t.Errorf("Stat(a) times = created %v, compacted %v, updated %v; want %v, %v, %v",
			m.Created, m.Compacted, m.Updated, at(1), at(3), at(4))
	}
}

func TestCompactRefuses(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		upto    uint64
		wantErr error
	}{
		{"beyond the last seq", "a", 5, ErrSeqOutOfRange},
		{"behind the snapshot", "a", 1, ErrSeqOutOfRange},
		{"new document, seq 1", "new", 1, ErrSeqOutOfRange},
		{"empty id", "", 0, ErrInvalidDocID},
		{"long id", strings.Repeat("x", MaxDocIDBytes+1), 0, ErrInvalidDocID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, Options{Now: newFakeClock(time.Second).Now})
			appendData("a", "1", "2", "3", "4")(t, s)
			compact("a", "s", 2)(t, s)
			before, _ := mustLoad(t, s, "a")
			err := s.Compact(tt.doc, []byte("bad"), tt.upto)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Compact(%.10q, bad, %d) = %v; want %v", tt.doc, tt.upto, err, tt.wantErr)
			}
			after, _ := mustLoad(t, s, "a")
			if !reflect.DeepEqual(after, before) {
				t.Errorf("after a refused Compact: %+v; want unchanged %+v", after, before)
			}
			if _, ok := mustLoad(t, s, "new"); ok {
				t.Errorf("a refused Compact created a document")
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	s, _ := openTest(t, Options{})
	long := strings.Repeat("x", MaxDocIDBytes+1)
	for _, id := range []string{"", long} {
		name := fmt.Sprintf("%d-byte id", len(id))
		if _, err := s.AppendSync(t.Context(), id, []byte("x")); !errors.Is(err, ErrInvalidDocID) {
			t.Errorf("%s: AppendSync = %v; want ErrInvalidDocID", name, err)
		}
		if _, _, err := s.Load(id); !errors.Is(err, ErrInvalidDocID) {
			t.Errorf("%s: Load = %v; want ErrInvalidDocID", name, err)
		}
		if _, _, err := s.Stat(id); !errors.Is(err, ErrInvalidDocID) {
			t.Errorf("%s: Stat = %v; want ErrInvalidDocID", name, err)
		}
		if err := s.Delete(id); !errors.Is(err, ErrInvalidDocID) {
			t.Errorf("%s: Delete = %v; want ErrInvalidDocID", name, err)
		}
		if err := s.PutDocMeta(id, "k", nil); !errors.Is(err, ErrInvalidDocID) {
			t.Errorf("%s: PutDocMeta = %v; want ErrInvalidDocID", name, err)
		}
		if _, _, err := s.GetDocMeta(id, "k"); !errors.Is(err, ErrInvalidDocID) {
			t.Errorf("%s: GetDocMeta = %v; want ErrInvalidDocID", name, err)
		}
	}
	for _, key := range []string{"", long} {
		if err := s.PutDocMeta("a", key, []byte("v")); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("PutDocMeta(a, %d-byte key) = %v; want ErrInvalidKey", len(key), err)
		}
	}
	if _, ok := mustLoad(t, s, "a"); ok {
		t.Errorf("refused writes created a document")
	}
	if st := s.Stats(); st.FailedAppends != 2 || st.Appends != 0 || st.Commits != 0 {
		t.Errorf("Stats() = %+v; want 2 failed appends and no commit", st)
	}
}

func TestList(t *testing.T) {
	s, _ := openTest(t, Options{Now: func() time.Time { return clockStart }})
	ids := []string{"b", "a", "team-1", "c", "team-2", "a:b"}
	for i, id := range ids {
		for range i + 1 {
			mustAppend(t, s, id, "x")
		}
	}
	// Byte order: "a" < "a:b" < "b" < "c" < "team-1" < "team-2".
	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, []string{"a", "a:b", "b", "c", "team-1", "team-2"}},
		{"", 2, []string{"a", "a:b"}},
		{"a:b", 2, []string{"b", "c"}},
		{"c", 2, []string{"team-1", "team-2"}},
		{"team-2", 2, nil},
		{"bb", -1, []string{"c", "team-1", "team-2"}},
		{"team-", 1, []string{"team-1"}},
		{"zzz", 10, nil},
	}
	for _, tt := range tests {
		got, err := s.List(tt.after, tt.limit)
		if err != nil {
			t.Fatalf("List(%q, %d) = %v", tt.after, tt.limit, err)
		}
		var gotIDs []string
		for _, d := range got {
			gotIDs = append(gotIDs, d.ID)
		}
		if !reflect.DeepEqual(gotIDs, tt.want) {
			t.Errorf("List(%q, %d) = %q; want %q", tt.after, tt.limit, gotIDs, tt.want)
		}
	}
	all, err := s.List("", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		m, _, err := s.Stat(d.ID)
		if err != nil || d.Meta != m {
			t.Errorf("List: %q has meta %+v; Stat says %+v, %v", d.ID, d.Meta, m, err)
		}
	}
	if all[0].Meta.LastSeq != 2 || all[5].Meta.LastSeq != 5 {
		t.Errorf("List: a has LastSeq %d, team-2 has %d; want 2 and 5", all[0].Meta.LastSeq, all[5].Meta.LastSeq)
	}
}

// TestLoadCopiesOut keeps what Load returned while later writes reuse the pages it was read from.
func TestLoadCopiesOut(t *testing.T) {
	s, _ := openTest(t, Options{})
	big := strings.Repeat("y", 10000)
	appendData("a", "first", big, "third")(t, s)
	compact("a", "snap-one", 1)(t, s)
	putMeta("a", "k", []byte("value"))(t, s)
	got, _ := mustLoad(t, s, "a")
	want, _ := mustLoad(t, s, "a")

	for i := range 200 {
		mustAppend(t, s, "a", strings.Repeat(fmt.Sprint(i%10), 500))
	}
	compact("a", strings.Repeat("z", 20000), 150)(t, s)
	deleteDoc("a")(t, s)
	for i := range 100 {
		mustAppend(t, s, "b", strings.Repeat(fmt.Sprint(i%10), 700))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("a state from Load changed after later writes")
	}
}

// TestCompactionBoundsFile (T-DUR-10, scaled down): with a compaction every 1000 entries, the log
// stays bounded and the file reaches a steady size. bbolt never shrinks a file, but it reuses the
// pages that compaction frees.
func TestCompactionBoundsFile(t *testing.T) {
	const total, every = 40000, 1000
	s, _ := openTest(t, Options{NoSync: true})
	entry := strings.Repeat("u", 100)
	snapshot := strings.Repeat("s", 20000)
	var sizeAtHalf int64
	for i := 1; i <= total; i++ {
		seq := uint64(i)
		if i%every != 0 {
			s.Append("doc", []byte(entry), nil)
			continue
		}
		if got := mustAppend(t, s, "doc", entry); got != seq {
			t.Fatalf("append %d got seq %d", i, got)
		}
		if err := s.Compact("doc", []byte(snapshot), seq); err != nil {
			t.Fatal(err)
		}
		if i == total/2 {
			var err error
			if sizeAtHalf, err = s.FileBytes(); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, _, err := s.Stat("doc")
	if err != nil {
		t.Fatal(err)
	}
	if m.LogEntries != 0 || m.LastSeq != total {
		t.Errorf("Stat(doc) = %d entries, last seq %d; want 0 and %d", m.LogEntries, m.LastSeq, total)
	}
	size, err := s.FileBytes()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("file: %d KiB after %d entries, %d KiB after %d", sizeAtHalf>>10, total/2, size>>10, total)
	// The file's high-water mark is one compaction cycle at its largest: the old snapshot and a
	// full log beside the new snapshot, when bbolt commits the cycle's entries in one commit and
	// the compaction in the next. Behind the write-ahead log, how the cycle's entries split
	// between bbolt's commits depends on timing, so that mark may first be reached in either
	// half; a file that reused no page would be 40 cycles of it.
	cycle := float64(2*len(snapshot) + 2*every*len(entry))
	if float64(size) > max(1.2*float64(sizeAtHalf), 1.5*cycle) {
		t.Errorf("file grew from %d to %d bytes between %d and %d entries; want at most 1.2x, or %.0f bytes (one compaction cycle)",
			sizeAtHalf, size, total/2, total, 1.5*cycle)
	}
}
