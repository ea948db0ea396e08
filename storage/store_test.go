package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesSchema(t *testing.T) {
	s, path := openTest(t, Options{})
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Stat(%q) after Open = %v; want the file", path, err)
	}
	s = reopen(t, s, Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v; want no error", err)
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open(%q) = %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keySchema)
		if got := binary.BigEndian.Uint64(v); got != SchemaVersion {
			t.Errorf("schema version = %d; want %d", got, SchemaVersion)
		}
		if tx.Bucket(bucketDocs) == nil {
			t.Errorf("bucket %q missing", bucketDocs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeBolt creates a bbolt file at path and lets fn fill it.
func writeBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("bolt.Open(%q) = %v", path, err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatalf("fill %q: %v", path, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefuses(t *testing.T) {
	schema := func(version []byte) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketDocs); err != nil {
				return err
			}
			return b.Put(keySchema, version)
		}
	}
	tests := []struct {
		name    string
		fill    func(tx *bolt.Tx) error // nil: write raw instead
		raw     []byte
		opts    Options
		wantErr error // nil: any error
	}{
		{name: "newer schema", fill: schema(binary.BigEndian.AppendUint64(nil, SchemaVersion+1)), wantErr: ErrSchemaTooNew},
		{name: "schema zero", fill: schema(binary.BigEndian.AppendUint64(nil, 0)), wantErr: ErrCorrupt},
		{name: "short schema", fill: schema([]byte{1}), wantErr: ErrCorrupt},
		{name: "foreign buckets", fill: func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("someone-else"))
			return err
		}, wantErr: ErrCorrupt},
		{name: "no docs bucket", fill: func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return b.Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion))
		}, wantErr: ErrCorrupt},
		{name: "not a bbolt file", raw: []byte("this is not a database, just some text that is long enough")},
		{name: "negative option", fill: func(*bolt.Tx) error { return nil }, opts: Options{MaxBatch: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tandem.db")
			if tt.fill != nil {
				writeBolt(t, path, tt.fill)
			} else if err := os.WriteFile(path, tt.raw, 0o600); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil error; want an error", path)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Open(%q) = %v; want %v", path, err, tt.wantErr)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Errorf("Open(%q) failed but changed the file", path)
			}
		})
	}
}

func TestOpenSchemaTooNewMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	writeBolt(t, path, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, binary.BigEndian.AppendUint64(nil, 7))
	})
	_, err := Open(path, Options{})
	want := "storage: open " + path + ": schema version is newer than this build: file has version 7, this build reads up to 3"
	if err == nil || err.Error() != want {
		t.Errorf("Open() = %v; want %q", err, want)
	}
}

func TestClose(t *testing.T) {
	s, _ := openTest(t, Options{})
	mustAppend(t, s, "doc", "a")
	for i := range 3 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close() #%d = %v; want no error", i+1, err)
		}
	}

	var calls int
	var gotErr error
	s.Append("doc", []byte("b"), func(seq uint64, err error) {
		calls++
		gotErr = err
	})
	if calls != 1 || !errors.Is(gotErr, ErrClosed) {
		t.Errorf("Append after Close: done called %d times with %v; want once with ErrClosed", calls, gotErr)
	}
	if _, err := s.AppendSync(t.Context(), "doc", []byte("b")); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendSync after Close = %v; want ErrClosed", err)
	}
	calls = 0
	for name, err := range map[string]error{
		"Compact":    s.Compact("doc", []byte("s"), 1),
		"Delete":     s.Delete("doc"),
		"PutDocMeta": s.PutDocMeta("doc", "k", []byte("v")),
		"Check":      s.Check(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
	if _, _, err := s.Load("doc"); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close = %v; want ErrClosed", err)
	}
	if _, _, err := s.Stat("doc"); !errors.Is(err, ErrClosed) {
		t.Errorf("Stat after Close = %v; want ErrClosed", err)
	}
	if _, err := s.List("", 0); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close = %v; want ErrClosed", err)
	}
}

// TestCloseFlushes queues appends behind a long batch delay and closes at once: Close must commit
// them all, without waiting for the delay, and every done must have run when it returns.
func TestCloseFlushes(t *testing.T) {
	opts := Options{MaxBatchDelay: time.Hour}
	s, _ := openTest(t, opts)
	const n = 100
	results := make([]error, n)
	seqs := make([]uint64, n)
	called := make([]int, n)
	for i := range n {
		s.Append("doc", []byte{byte(i)}, func(seq uint64, err error) {
			seqs[i], results[i] = seq, err
			called[i]++
		})
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v; want no error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close() took %v; want it not to wait for MaxBatchDelay", d)
	}
	for i := range n {
		if called[i] != 1 || results[i] != nil || seqs[i] != uint64(i+1) {
			t.Fatalf("append %d: done called %d times with (%d, %v); want once with (%d, nil)", i, called[i], seqs[i], results[i], i+1)
		}
	}
	s = mustOpen(t, s.Path(), opts)
	st, _ := mustLoad(t, s, "doc")
	if len(st.Log) != n {
		t.Errorf("after reopen: %d entries; want %d", len(st.Log), n)
	}
}

func TestFileBytes(t *testing.T) {
	s, _ := openTest(t, Options{})
	before, err := s.FileBytes()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		mustAppend(t, s, "doc", string(make([]byte, 4096)))
	}
	after, err := s.FileBytes()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("FileBytes() = %d after 80 KiB of appends; want more than %d", after, before)
	}
}

// TestOpenEitherFreelist: commits write no freelist (NoFreelistSync), and a file whose freelist
// another bbolt writer synced opens and keeps working; so does the file written after it.
func TestOpenEitherFreelist(t *testing.T) {
	s, path := openTest(t, Options{NoSync: true})
	if _, err := s.AppendSync(context.Background(), "a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A writer that syncs the freelist, with freed pages on it.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open(%q) = %v", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("scratch"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), make([]byte, 64<<10))
	})
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("scratch")) })
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path, Options{NoSync: true})
	if _, err := s.AppendSync(context.Background(), "a", []byte("two")); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, Options{NoSync: true})
	st, ok, err := s.Load("a")
	if err != nil || !ok {
		t.Fatalf("Load(a) = %v, %v; want the document", ok, err)
	}
	var got []string
	for _, e := range st.Log {
		got = append(got, string(e.Data))
	}
	if len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("log after a freelist-synced writer = %q; want [one two]", got)
	}
}
