package storage

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openTest opens a store in a new temporary directory. Cleanup checks it and closes it.
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tandem.db")
	return mustOpen(t, path, opts), path
}

// mustOpen opens path. Cleanup runs Check and closes the store, unless the test closed it first.
func mustOpen(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%q) = %v; want no error", path, err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Check() = %v; want no error", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v; want no error", err)
		}
	})
	return s
}

// reopen closes s and opens its file again, to prove that what was acknowledged is on disk.
func reopen(t testing.TB, s *Store, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v; want no error", err)
	}
	return mustOpen(t, s.Path(), opts)
}

// fakeClock is an injected clock: each call returns the previous time plus step.
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

var clockStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFakeClock(step time.Duration) *fakeClock {
	return &fakeClock{t: clockStart, step: step}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// mustAppend appends synchronously and fails the test on error.
func mustAppend(t testing.TB, s *Store, docID string, data string) uint64 {
	t.Helper()
	seq, err := s.AppendSync(t.Context(), docID, []byte(data))
	if err != nil {
		t.Fatalf("AppendSync(%q, %q) = %v; want no error", docID, data, err)
	}
	return seq
}

// mustLoad loads docID and fails the test on error.
func mustLoad(t testing.TB, s *Store, docID string) (DocState, bool) {
	t.Helper()
	st, ok, err := s.Load(docID)
	if err != nil {
		t.Fatalf("Load(%q) = %v; want no error", docID, err)
	}
	return st, ok
}
