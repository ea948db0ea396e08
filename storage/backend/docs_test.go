package backend_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/storagetest"
)

// hookLog runs before once, before the first Read: a compaction or a deletion by another node
// that lands between a load's metadata read and its log read.
type hookLog struct {
	backend.Log
	before func()
}

func (h *hookLog) Read(ctx context.Context, doc string, epoch, from, to uint64) ([]backend.Entry, error) {
	if f := h.before; f != nil {
		h.before = nil
		f()
	}
	return h.Log.Read(ctx, doc, epoch, from, to)
}

// hookedDocs opens "doc" in a memory store and appends values to it at epoch 1. It returns the
// store's Docs whose log is hook, another node's Docs over the same store, and the appends'
// sequence numbers.
func hookedDocs(t *testing.T, values ...string) (d, other *backend.Docs, hook *hookLog, seqs []uint64) {
	t.Helper()
	ctx := context.Background()
	m := storagetest.NewMemory()
	other = backend.NewDocs(m.Set(), nil)
	hook = &hookLog{Log: m.Set().Log}
	set := m.Set()
	set.Log = hook
	d = backend.NewDocs(set, nil)
	if _, err := d.Open(ctx, "doc"); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		seq, err := d.Append(ctx, "doc", 1, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	return d, other, hook, seqs
}

func flatten(st backend.State) string {
	parts := []string{}
	if st.Snapshot != nil {
		parts = append(parts, "["+string(st.Snapshot)+"]")
	}
	for _, e := range st.Entries {
		parts = append(parts, string(e.Data))
	}
	return strings.Join(parts, " ")
}

// TestLoadDuringCompaction puts a whole compaction by another node between a load's metadata
// read and its log read: the load must not return the log without the purged entries.
func TestLoadDuringCompaction(t *testing.T) {
	ctx := context.Background()
	d, other, hook, seqs := hookedDocs(t, "a", "b", "c")
	hook.before = func() {
		if err := other.Compact(ctx, "doc", 1, seqs[1], []byte("a b")); err != nil {
			t.Errorf("Compact: %v", err)
		}
	}
	st, err := d.Load(ctx, "doc")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := flatten(st), "[a b] c"; got != want {
		t.Errorf("Load across a compaction = %q; want %q", got, want)
	}
}

// TestLoadDuringDeletion puts a deletion between a load's metadata read and its log read.
func TestLoadDuringDeletion(t *testing.T) {
	ctx := context.Background()
	d, other, hook, _ := hookedDocs(t, "a")
	hook.before = func() {
		if err := other.Delete(ctx, "doc"); err != nil {
			t.Errorf("Delete: %v", err)
		}
	}
	if st, err := d.Load(ctx, "doc"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load across a deletion = %q, %v; want ErrNotFound", flatten(st), err)
	}
}

// churnDoc is a document that another node keeps compacting while this one loads it: every
// read of the log, and the first snapshot reads, are preceded by a compaction.
type churnDoc struct {
	t       *testing.T
	other   *backend.Docs
	appends []string // the contents appended, in order
	seqs    []uint64
	next    int // the next position of seqs to compact at
}

// compact folds the log up to the next entry into a snapshot naming every content up to it.
func (c *churnDoc) compact(ctx context.Context) {
	if c.next >= len(c.seqs) {
		return
	}
	err := c.other.Compact(ctx, "doc", 1, c.seqs[c.next], []byte(strings.Join(c.appends[:c.next+1], " ")))
	if err != nil {
		c.t.Errorf("Compact at %d: %v", c.seqs[c.next], err)
	}
	c.next++
}

// churnLog compacts before every read.
type churnLog struct {
	backend.Log
	c *churnDoc
}

func (l *churnLog) Read(ctx context.Context, doc string, epoch, from, to uint64) ([]backend.Entry, error) {
	l.c.compact(ctx)
	return l.Log.Read(ctx, doc, epoch, from, to)
}

// churnSnapshots compacts before the first n reads of a snapshot: the snapshot the load's
// metadata names is gone when it reads it.
type churnSnapshots struct {
	backend.Snapshots
	c *churnDoc
	n int
}

func (s *churnSnapshots) Get(ctx context.Context, name string) ([]byte, error) {
	if s.n > 0 {
		s.n--
		s.c.compact(ctx)
	}
	return s.Snapshots.Get(ctx, name)
}

// TestLoadUnderConstantCompaction: a cold load finishes however often other nodes compact the
// document while it reads: it reads the log once, and then the snapshot that the metadata names
// once the read is done, with the entries past it. A load that started over whenever the
// metadata changed while it read never finished under a compaction per read (it gave up with
// ErrContended), and outlasted a client's handshake on a loaded cluster
// (TestCluster/CompactionRaceColdLoad).
func TestLoadUnderConstantCompaction(t *testing.T) {
	tests := []struct {
		name          string
		snapshotChurn int // compactions just before the load reads a snapshot
		startSnapshot bool
	}{
		{"a compaction during the log read", 0, false},
		{"a compaction during the log read, from a snapshot", 0, true},
		{"the snapshot replaced before it is read, three times", 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := storagetest.NewMemory()
			c := &churnDoc{t: t, other: backend.NewDocs(m.Set(), nil)}
			set := m.Set()
			set.Log = &churnLog{Log: set.Log, c: c}
			set.Snapshots = &churnSnapshots{Snapshots: set.Snapshots, c: c, n: tt.snapshotChurn}
			d := backend.NewDocs(set, nil)
			if _, err := c.other.Open(ctx, "doc"); err != nil {
				t.Fatal(err)
			}
			for i := range 40 {
				v := fmt.Sprintf("u%d", i)
				seq, err := c.other.Append(ctx, "doc", 1, []byte(v))
				if err != nil {
					t.Fatal(err)
				}
				c.appends, c.seqs = append(c.appends, v), append(c.seqs, seq)
			}
			if tt.startSnapshot {
				c.next = 2
				c.compact(ctx)
			}
			st, err := d.Load(ctx, "doc")
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, want := strings.ReplaceAll(strings.Trim(flatten(st), "[]"), "] ", " "), strings.Join(c.appends, " "); got != want {
				t.Errorf("Load = %q; want every entry, in order: %q", flatten(st), want)
			}
			if len(st.Entries) > 0 && st.Entries[0].Seq <= st.Meta.SnapshotSeq {
				t.Errorf("Load's first entry at %d; its snapshot covers up to %d", st.Entries[0].Seq, st.Meta.SnapshotSeq)
			}
		})
	}
}

// TestReadFrom: a follower's read from its cursor gets the entries past it, or the snapshot that
// replaced them and the entries past the snapshot; nothing for an epoch not written yet;
// ErrDeleted for an epoch deleted.
func TestReadFrom(t *testing.T) {
	tests := []struct {
		name    string
		history func(ctx context.Context, d *backend.Docs, seqs []uint64) error // after a b c d at epoch 1
		epoch   uint64
		from    int // index into the entries: read from the position of entry from (len: past the last)
		want    string
		wantErr error
	}{
		{"from the start", nil, 1, 0, "a b c d", nil},
		{"from the middle", nil, 1, 2, "c d", nil},
		{"past the end", nil, 1, 4, "", nil},
		{"past the snapshot", func(ctx context.Context, d *backend.Docs, s []uint64) error {
			return d.Compact(ctx, "doc", 1, s[1], []byte("a b"))
		}, 1, 2, "c d", nil},
		{"folded by a snapshot", func(ctx context.Context, d *backend.Docs, s []uint64) error {
			return d.Compact(ctx, "doc", 1, s[2], []byte("a b c"))
		}, 1, 1, "[a b c] d", nil},
		{"an epoch not written yet", func(ctx context.Context, d *backend.Docs, s []uint64) error {
			return d.Delete(ctx, "doc")
		}, 2, 0, "", nil},
		{"a deleted epoch", func(ctx context.Context, d *backend.Docs, s []uint64) error {
			return d.Delete(ctx, "doc")
		}, 1, 0, "", backend.ErrDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			d := backend.NewDocs(storagetest.NewMemory().Set(), nil)
			if _, err := d.Open(ctx, "doc"); err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, v := range []string{"a", "b", "c", "d"} {
				seq, err := d.Append(ctx, "doc", 1, []byte(v))
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, seq)
			}
			if tt.history != nil {
				if err := tt.history(ctx, d, seqs); err != nil {
					t.Fatal(err)
				}
			}
			from := seqs[len(seqs)-1] + 1
			if tt.from < len(seqs) {
				from = seqs[tt.from]
			}
			st, err := d.ReadFrom(ctx, "doc", tt.epoch, from)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadFrom = %q, %v; want %v", flatten(st), err, tt.wantErr)
				}
				return
			}
			if err != nil || flatten(st) != tt.want {
				t.Fatalf("ReadFrom(%d) = %q, %v; want %q", from, flatten(st), err, tt.want)
			}
		})
	}
}

// conflictMeta fails the first n Updates with ErrConflict after applying a rival's write, as a
// busy document's metadata would.
type conflictMeta struct {
	backend.Meta
	rival func()
	n     int
}

func (c *conflictMeta) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if c.n > 0 {
		c.n--
		c.rival()
	}
	return c.Meta.Update(ctx, key, value, rev)
}

// TestCompactOrder checks each outcome of a compaction that loses a compare-and-set race: a rival
// snapshot at a later position makes it stale (its blob deleted, nothing purged); one at an
// earlier position makes it retry and win; a deletion fences it.
func TestCompactOrder(t *testing.T) {
	tests := []struct {
		name      string
		rival     func(ctx context.Context, d *backend.Docs, seqs []uint64) error
		wantErr   error
		wantState string
	}{
		{"rival later", func(ctx context.Context, d *backend.Docs, s []uint64) error {
			return d.Compact(ctx, "doc", 1, s[2], []byte("a b c"))
		}, backend.ErrStale, "[a b c] d"},
		{"rival earlier", func(ctx context.Context, d *backend.Docs, s []uint64) error {
			return d.Compact(ctx, "doc", 1, s[0], []byte("a"))
		}, nil, "[a b] c d"},
		{"deleted", func(ctx context.Context, d *backend.Docs, s []uint64) error {
			return d.Delete(ctx, "doc")
		}, backend.ErrDeleted, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := storagetest.NewMemory()
			other := backend.NewDocs(m.Set(), nil)
			var seqs []uint64
			cm := &conflictMeta{Meta: m.Set().Meta}
			cm.rival = func() {
				if err := tc.rival(ctx, other, seqs); err != nil {
					t.Errorf("rival: %v", err)
				}
			}
			set := m.Set()
			set.Meta = cm
			d := backend.NewDocs(set, nil)
			if _, err := d.Open(ctx, "doc"); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"a", "b", "c", "d"} {
				seq, err := d.Append(ctx, "doc", 1, []byte(v))
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, seq)
			}
			cm.n = 1
			err := d.Compact(ctx, "doc", 1, seqs[1], []byte("a b"))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Compact(%d) = %v; want %v", seqs[1], err, tc.wantErr)
			}
			st, err := d.Load(ctx, "doc")
			got := flatten(st)
			if errors.Is(err, backend.ErrNotFound) {
				got = ""
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tc.wantState {
				t.Errorf("Load = %q; want %q", got, tc.wantState)
			}
			// No blob but the one the metadata names survives.
			var names []string
			if st.Meta.Snapshot != "" {
				names = append(names, st.Meta.Snapshot)
			}
			if blobs := m.Blobs(); !slices.Equal(blobs, names) {
				t.Errorf("snapshot blobs %q; want only %q", blobs, names)
			}
		})
	}
}

// TestOpenEpoch: a writer that expects the document at an epoch creates it only there, and never
// once a deletion moved the document past it.
func TestOpenEpoch(t *testing.T) {
	tests := []struct {
		name    string
		history func(ctx context.Context, d *backend.Docs) error // what happened before
		epoch   uint64
		want    uint64 // the epoch the document lives at afterwards; 0: ErrDeleted
	}{
		{"absent, epoch 1: created", nil, 1, 1},
		{"absent, epoch 2", nil, 2, 0},
		{"live at 1", func(ctx context.Context, d *backend.Docs) error {
			_, err := d.Open(ctx, "doc")
			return err
		}, 1, 1},
		{"deleted at 1: tombstone at 2", func(ctx context.Context, d *backend.Docs) error {
			if _, err := d.Open(ctx, "doc"); err != nil {
				return err
			}
			return d.Delete(ctx, "doc")
		}, 1, 0},
		{"deleted, epoch 2: created", func(ctx context.Context, d *backend.Docs) error {
			if _, err := d.Open(ctx, "doc"); err != nil {
				return err
			}
			return d.Delete(ctx, "doc")
		}, 2, 2},
		{"deleted and created again at 2", func(ctx context.Context, d *backend.Docs) error {
			if _, err := d.Open(ctx, "doc"); err != nil {
				return err
			}
			if err := d.Delete(ctx, "doc"); err != nil {
				return err
			}
			_, err := d.Open(ctx, "doc")
			return err
		}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			d := backend.NewDocs(storagetest.NewMemory().Set(), nil)
			if tt.history != nil {
				if err := tt.history(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			before, existed, err := d.Stat(ctx, "doc")
			if err != nil {
				t.Fatal(err)
			}
			m, err := d.OpenEpoch(ctx, "doc", tt.epoch)
			if tt.want == 0 {
				if !errors.Is(err, backend.ErrDeleted) {
					t.Fatalf("OpenEpoch(%d) = %+v, %v; want ErrDeleted", tt.epoch, m, err)
				}
				after, exists, err := d.Stat(ctx, "doc")
				if err != nil || exists != existed || after.Rev != before.Rev {
					t.Errorf("after OpenEpoch: %+v, %t, %v; want the document as before (%+v, %t)", after, exists, err, before, existed)
				}
				return
			}
			if err != nil || m.Epoch != tt.want || m.Deleted {
				t.Fatalf("OpenEpoch(%d) = %+v, %v; want the document at epoch %d", tt.epoch, m, err, tt.want)
			}
			if got, ok, err := d.Stat(ctx, "doc"); err != nil || !ok || got.Epoch != tt.want || got.Rev != m.Rev {
				t.Errorf("Stat = %+v, %t, %v; want %+v", got, ok, err, m)
			}
		})
	}
}

func Example() {
	ctx := context.Background()
	docs := backend.NewDocs(storagetest.NewMemory().Set(), nil)
	m, _ := docs.Open(ctx, "notes/2026")
	a, _ := docs.Append(ctx, "notes/2026", m.Epoch, []byte("update 1"))
	_, _ = docs.Append(ctx, "notes/2026", m.Epoch, []byte("update 2"))
	_ = docs.Compact(ctx, "notes/2026", m.Epoch, a, []byte("snapshot of update 1"))
	st, _ := docs.Load(ctx, "notes/2026")
	fmt.Printf("snapshot %q at %d, then %d entry\n", st.Snapshot, st.Meta.SnapshotSeq, len(st.Entries))
	// Output: snapshot "snapshot of update 1" at 1, then 1 entry
}
