package storage

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/storagetest"
)

// TestContractConformance runs the storage contract's conformance suite against a store in a real
// bbolt file, with fsync on.
func TestContractConformance(t *testing.T) {
	s, _ := openTest(t, Options{})
	storagetest.Run(t, func(*testing.T) backend.Set { return s.Contract() }, 0)
}

// TestContractDurable writes through the contract, reopens the file and checks that everything
// acknowledged is there, and that positions and revisions go on growing past the old ones.
func TestContractDurable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, path := openTest(t, Options{})
	set := s.Contract()
	docs := backend.NewDocs(set, nil)
	m, err := docs.Open(ctx, "doc.one")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var seqs []uint64
	for _, v := range []string{"a", "b", "c"} {
		seq, err := docs.Append(ctx, "doc.one", m.Epoch, []byte(v))
		if err != nil {
			t.Fatalf("Append(%q): %v", v, err)
		}
		seqs = append(seqs, seq)
	}
	if err := docs.Compact(ctx, "doc.one", m.Epoch, seqs[1], []byte("ab")); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if err := docs.Bind(ctx, "doc.one", m.Epoch, 7, "alice"); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	want, err := docs.Load(ctx, "doc.one")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	_, lastRev, err := set.Meta.Get(ctx, "doc."+backend.Key("doc.one"))
	if err != nil {
		t.Fatalf("Meta.Get: %v", err)
	}

	s = reopen(t, s, Options{})
	set = s.Contract()
	docs = backend.NewDocs(set, nil)
	got, err := docs.Load(ctx, "doc.one")
	if err != nil {
		t.Fatalf("Load after reopen: %v", err)
	}
	if string(got.Snapshot) != "ab" || got.Meta.SnapshotSeq != seqs[1] || got.Meta.Rev != want.Meta.Rev ||
		len(got.Entries) != 1 || got.Entries[0].Seq != seqs[2] || string(got.Entries[0].Data) != "c" {
		t.Errorf("Load after reopen = %+v; want %+v", got, want)
	}
	if err := docs.Bind(ctx, "doc.one", m.Epoch, 7, "bob"); !errors.Is(err, backend.ErrBound) {
		t.Errorf("Bind(7, bob) after reopen: %v; want ErrBound", err)
	}
	seq, err := docs.Append(ctx, "doc.one", m.Epoch, []byte("d"))
	if err != nil || seq <= seqs[2] {
		t.Errorf("Append after reopen = %d, %v; want a position after %d", seq, err, seqs[2])
	}
	rev, err := set.Meta.Create(ctx, "test.after", []byte("x"))
	if err != nil || rev <= lastRev {
		t.Errorf("Create after reopen = revision %d, %v; want one after %d", rev, err, lastRev)
	}
	if ids, err := docs.List(ctx); err != nil || !slices.Equal(ids, []string{"doc.one"}) {
		t.Errorf("List after reopen = %q, %v; want [doc.one]", ids, err)
	}
	want, err = docs.Load(ctx, "doc.one")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	// CompactFile copies the contract's buckets too.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "compact.db")
	if _, _, err := CompactFile(path, dst, 0); err != nil {
		t.Fatalf("CompactFile: %v", err)
	}
	c := mustOpen(t, dst, Options{})
	got, err = backend.NewDocs(c.Contract(), nil).Load(ctx, "doc.one")
	if err != nil || string(got.Snapshot) != "ab" || !slices.EqualFunc(got.Entries, want.Entries, func(a, b backend.Entry) bool {
		return a.Seq == b.Seq && string(a.Data) == string(b.Data)
	}) {
		t.Errorf("Load from the compacted file = %+v, %v; want %+v", got, err, want)
	}
}

// TestContractApart checks that the contract's data and the store's documents do not see each
// other, and that Check accepts a file holding both.
func TestContractApart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, _ := openTest(t, Options{})
	if _, err := s.AppendSync(ctx, "plain", []byte("p")); err != nil {
		t.Fatalf("AppendSync: %v", err)
	}
	set := s.Contract()
	if _, err := set.Log.Append(ctx, "plain", 1, []byte("c")); err != nil {
		t.Fatalf("Log.Append: %v", err)
	}
	if got, err := set.Log.Read(ctx, "plain", 1, 0, 0); err != nil || len(got) != 1 || string(got[0].Data) != "c" {
		t.Errorf("Log.Read = %v, %v; want only the contract's entry", got, err)
	}
	infos, err := s.List("", 0)
	if err != nil || len(infos) != 1 || infos[0].ID != "plain" || infos[0].Meta.LastSeq != 1 {
		t.Errorf("List = %+v, %v; want the one document appended to by AppendSync", infos, err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestContractAfterClose checks that every call fails once the store is closed.
func TestContractAfterClose(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, Options{NoSync: true})
	set := s.Contract()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := set.Log.Append(ctx, "d", 1, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v; want ErrClosed", err)
	}
	if _, err := set.Log.Read(ctx, "d", 1, 0, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v; want ErrClosed", err)
	}
	if _, err := set.Meta.Create(ctx, "k.a", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Create after Close: %v; want ErrClosed", err)
	}
}

// TestContractSharesGroupCommit checks that the contract's writes join the appends' group commit:
// an append and a contract write queued together commit in one transaction, and a refused
// compare-and-set in that transaction fails alone.
func TestContractSharesGroupCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The writer waits (up to an hour) until it holds three writes, then commits them together.
	s, _ := openTest(t, Options{MaxBatch: 3, MaxBatchDelay: time.Hour, NoSync: true})
	set := s.Contract()
	appended := make(chan error, 1)
	s.Append("plain", []byte("p"), func(_ uint64, err error) { appended <- err })
	created := make(chan error, 1)
	go func() {
		_, err := set.Meta.Create(ctx, "test.a", []byte("1"))
		created <- err
	}()
	// The Update refers to a revision the key never had, whether it commits before or after the
	// Create: refused either way.
	if _, err := set.Meta.Update(ctx, "test.a", []byte("2"), 12345); !errors.Is(err, backend.ErrConflict) {
		t.Errorf("Update at a revision the key never had: %v; want ErrConflict", err)
	}
	if err := <-appended; err != nil {
		t.Errorf("Append: %v", err)
	}
	if err := <-created; err != nil {
		t.Errorf("Create: %v", err)
	}
	if st := s.Stats(); st.Commits != 1 || st.Appends != 1 || st.Ops != 1 || st.FailedCommits != 0 {
		t.Errorf("Stats = %+v; want one commit holding the append and the create", st)
	}
	if v, _, err := set.Meta.Get(ctx, "test.a"); err != nil || string(v) != "1" {
		t.Errorf("Get = %q, %v; want \"1\"", v, err)
	}
}
