package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/storage/backend"
)

// Run runs the conformance suite against the backend that newSet returns. newSet is called once
// per subtest, and the race subtests call it again for each of their actors (writer, compactors,
// loader), so that a backend shared by several processes can give each actor its own connection.
// It may return the same backend every time, because every subtest works on document IDs and keys
// of its own. The suite bounds each step with a context deadline of
// timeout; zero means 30 s.
func Run(t *testing.T, newSet func(t *testing.T) backend.Set, timeout time.Duration) {
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s backend.Set, more func() backend.Set)
	}{
		{"Log/AppendRead", testAppendRead},
		{"Log/Epochs", testEpochs},
		{"Log/DocIDs", testDocIDs},
		{"Log/PurgeDrop", testPurgeDrop},
		{"Log/LongRead", testLongRead},
		{"Log/ConcurrentAppends", testConcurrentAppends},
		{"Log/CanceledContext", testCanceledContext},
		{"Snapshots", testSnapshots},
		{"Meta/CAS", testMetaCAS},
		{"Meta/ConcurrentCAS", testMetaConcurrentCAS},
		{"Docs/Lifecycle", testDocsLifecycle},
		{"Docs/Bind", testDocsBind},
		{"Docs/CompactionRace", testCompactionRace},
		{"Docs/DeleteRace", testDeleteRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			tc.fn(t, ctx, newSet(t), func() backend.Set { return newSet(t) })
		})
	}
}

// unique returns a name no other run of the suite uses, for backends shared across runs.
func unique(t *testing.T, what string) string {
	return what + "-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + rand.Text()[:8]
}

func appendAll(t *testing.T, ctx context.Context, l backend.Log, doc string, epoch uint64, data ...string) []backend.Entry {
	t.Helper()
	var out []backend.Entry
	for _, d := range data {
		seq, err := l.Append(ctx, doc, epoch, []byte(d))
		if err != nil {
			t.Fatalf("Append(%q, %d, %q): %v", doc, epoch, d, err)
		}
		if len(out) > 0 && seq <= out[len(out)-1].Seq {
			t.Fatalf("Append(%q, %d, %q) = %d; want a position after %d", doc, epoch, d, seq, out[len(out)-1].Seq)
		}
		if seq == 0 {
			t.Fatalf("Append(%q, %d, %q) = 0; positions are never 0", doc, epoch, d)
		}
		out = append(out, backend.Entry{Seq: seq, Data: []byte(d)})
	}
	return out
}

func read(t *testing.T, ctx context.Context, l backend.Log, doc string, epoch, from, to uint64) []backend.Entry {
	t.Helper()
	got, err := l.Read(ctx, doc, epoch, from, to)
	if err != nil {
		t.Fatalf("Read(%q, %d, %d, %d): %v", doc, epoch, from, to, err)
	}
	return got
}

func equalEntries(a, b []backend.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y backend.Entry) bool { return x.Seq == y.Seq && bytes.Equal(x.Data, y.Data) })
}

func show(es []backend.Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%d:%q ", e.Seq, e.Data)
	}
	return strings.TrimSpace(b.String())
}

func testAppendRead(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	doc := unique(t, "doc")
	if got := read(t, ctx, s.Log, doc, 1, 0, 0); len(got) != 0 {
		t.Fatalf("Read of an absent log = %s; want nothing", show(got))
	}
	want := appendAll(t, ctx, s.Log, doc, 1, "a", "bb", "", "dddd")
	tests := []struct {
		from, to uint64
		want     []backend.Entry
	}{
		{0, 0, want},
		{1, 0, want},
		{want[1].Seq, 0, want[1:]},
		{want[1].Seq + 1, 0, want[2:]},
		{want[3].Seq + 1, 0, nil},
		{0, want[1].Seq, want[:2]},
		{want[1].Seq, want[2].Seq, want[1:3]},
		{want[0].Seq + 1, want[1].Seq - 1, nil},
	}
	for _, tc := range tests {
		if got := read(t, ctx, s.Log, doc, 1, tc.from, tc.to); !equalEntries(got, tc.want) {
			t.Errorf("Read(%d, %d) = %s; want %s", tc.from, tc.to, show(got), show(tc.want))
		}
	}
}

func testEpochs(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	doc := unique(t, "doc")
	one := appendAll(t, ctx, s.Log, doc, 1, "one")
	two := appendAll(t, ctx, s.Log, doc, 2, "two")
	if got := read(t, ctx, s.Log, doc, 1, 0, 0); !equalEntries(got, one) {
		t.Errorf("Read(epoch 1) = %s; want %s", show(got), show(one))
	}
	if got := read(t, ctx, s.Log, doc, 2, 0, 0); !equalEntries(got, two) {
		t.Errorf("Read(epoch 2) = %s; want %s", show(got), show(two))
	}
}

func testDocIDs(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	base := unique(t, "doc")
	ids := []string{base + ".a", base + ".a.b", base + "/*>", base + " ü\x00", base + "-", base + "_"}
	want := map[string][]backend.Entry{}
	for _, id := range ids {
		want[id] = appendAll(t, ctx, s.Log, id, 1, "x"+id)
	}
	for _, id := range ids {
		if got := read(t, ctx, s.Log, id, 1, 0, 0); !equalEntries(got, want[id]) {
			t.Errorf("Read(%q) = %s; want %s", id, show(got), show(want[id]))
		}
	}
}

func testPurgeDrop(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	doc, other := unique(t, "doc"), unique(t, "other")
	es := appendAll(t, ctx, s.Log, doc, 1, "a", "b", "c")
	others := appendAll(t, ctx, s.Log, other, 1, "x")
	if err := s.Log.Purge(ctx, doc, 1, es[1].Seq); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if got := read(t, ctx, s.Log, doc, 1, 0, 0); !equalEntries(got, es[1:]) {
		t.Errorf("Read after Purge(below %d) = %s; want %s", es[1].Seq, show(got), show(es[1:]))
	}
	more := appendAll(t, ctx, s.Log, doc, 1, "d")
	if got, want := read(t, ctx, s.Log, doc, 1, 0, 0), append(es[1:], more...); !equalEntries(got, want) {
		t.Errorf("Read after Purge and Append = %s; want %s", show(got), show(want))
	}
	if err := s.Log.Drop(ctx, doc, 1); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	if got := read(t, ctx, s.Log, doc, 1, 0, 0); len(got) != 0 {
		t.Errorf("Read after Drop = %s; want nothing", show(got))
	}
	if got := read(t, ctx, s.Log, other, 1, 0, 0); !equalEntries(got, others) {
		t.Errorf("Read of another document after Purge and Drop = %s; want %s", show(got), show(others))
	}
	if err := s.Log.Drop(ctx, unique(t, "absent"), 1); err != nil {
		t.Errorf("Drop of an absent log: %v", err)
	}
}

// testLongRead reads a log of several hundred entries, interleaved with another document's, from
// and to positions inside it: backends may switch to a batched read past the first few entries.
func testLongRead(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	doc, other := unique(t, "doc"), unique(t, "other")
	var es []backend.Entry
	for i := range 300 {
		es = append(es, appendAll(t, ctx, s.Log, doc, 1, fmt.Sprintf("e%d", i))...)
		if i%50 == 0 {
			appendAll(t, ctx, s.Log, other, 1, fmt.Sprintf("o%d", i))
		}
	}
	tests := []struct {
		from, to uint64
		want     []backend.Entry
	}{
		{0, 0, es},
		{es[5].Seq, 0, es[5:]},
		{es[20].Seq + 1, es[250].Seq, es[21:251]},
		{0, es[299].Seq - 1, es[:299]},
		{es[299].Seq, es[299].Seq, es[299:]},
	}
	for _, tc := range tests {
		if got := read(t, ctx, s.Log, doc, 1, tc.from, tc.to); !equalEntries(got, tc.want) {
			t.Errorf("Read(%d, %d) = %d entries from %d; want %d from %d", tc.from, tc.to, len(got), first(got), len(tc.want), first(tc.want))
		}
	}
}

func first(es []backend.Entry) uint64 {
	if len(es) == 0 {
		return 0
	}
	return es[0].Seq
}

func testConcurrentAppends(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	doc := unique(t, "doc")
	const writers, each = 4, 25
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				d := fmt.Sprintf("w%d-%d", w, i)
				seq, err := s.Log.Append(ctx, doc, 1, []byte(d))
				if err != nil {
					errs <- fmt.Errorf("Append(%q): %w", d, err)
					return
				}
				mu.Lock()
				if prev, dup := acked[seq]; dup {
					errs <- fmt.Errorf("Append(%q) = %d, already the position of %q", d, seq, prev)
				}
				acked[seq] = d
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := read(t, ctx, s.Log, doc, 1, 0, 0)
	if len(got) != writers*each {
		t.Fatalf("Read returned %d entries; want %d", len(got), writers*each)
	}
	for i, e := range got {
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Fatalf("Read: position %d after %d; want increasing", e.Seq, got[i-1].Seq)
		}
		if acked[e.Seq] != string(e.Data) {
			t.Errorf("Read: entry %d = %q; want %q", e.Seq, e.Data, acked[e.Seq])
		}
	}
}

func testCanceledContext(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	doc := unique(t, "doc")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Log.Append(canceled, doc, 1, []byte("x")); err == nil {
		t.Errorf("Append with a canceled context: nil error; want one")
	}
}

func testSnapshots(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	name := backend.Key(unique(t, "doc")) + "/1/5-x"
	if _, err := s.Snapshots.Get(ctx, name); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get of an absent snapshot: %v; want ErrNotFound", err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB: several chunks, beyond one message
	for _, data := range [][]byte{[]byte("small"), {}, big} {
		if err := s.Snapshots.Put(ctx, name, data); err != nil {
			t.Fatalf("Put(%d bytes): %v", len(data), err)
		}
		got, err := s.Snapshots.Get(ctx, name)
		if err != nil {
			t.Fatalf("Get after Put(%d bytes): %v", len(data), err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("Get after Put(%d bytes) returned %d bytes, not the same", len(data), len(got))
		}
	}
	if err := s.Snapshots.Delete(ctx, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Snapshots.Get(ctx, name); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after Delete: %v; want ErrNotFound", err)
	}
	if err := s.Snapshots.Delete(ctx, name); err != nil {
		t.Errorf("Delete of an absent snapshot: %v", err)
	}
}

func testMetaCAS(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	prefix := "test." + backend.Key(unique(t, "k")) + "."
	key := prefix + "a"
	if _, _, err := s.Meta.Get(ctx, key); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get of an absent key: %v; want ErrNotFound", err)
	}
	rev1, err := s.Meta.Create(ctx, key, []byte("v1"))
	if err != nil || rev1 == 0 {
		t.Fatalf("Create = %d, %v; want a revision", rev1, err)
	}
	if _, err := s.Meta.Create(ctx, key, []byte("v1'")); !errors.Is(err, backend.ErrExists) {
		t.Errorf("second Create: %v; want ErrExists", err)
	}
	rev2, err := s.Meta.Update(ctx, key, []byte("v2"), rev1)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("Update(rev %d) = %d, %v; want a later revision", rev1, rev2, err)
	}
	if _, err := s.Meta.Update(ctx, key, []byte("v2'"), rev1); !errors.Is(err, backend.ErrConflict) {
		t.Errorf("Update at a stale revision: %v; want ErrConflict", err)
	}
	v, rev, err := s.Meta.Get(ctx, key)
	if err != nil || string(v) != "v2" || rev != rev2 {
		t.Errorf("Get = %q, %d, %v; want \"v2\", %d", v, rev, err, rev2)
	}
	if _, err := s.Meta.Create(ctx, prefix+"b", nil); err != nil {
		t.Fatalf("Create(b): %v", err)
	}
	keys, err := s.Meta.Keys(ctx, prefix)
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{prefix + "a", prefix + "b"}) {
		t.Errorf("Keys(%q) = %q, %v; want a and b", prefix, keys, err)
	}
	if err := s.Meta.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := s.Meta.Get(ctx, key); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after Delete: %v; want ErrNotFound", err)
	}
	if _, err := s.Meta.Update(ctx, key, []byte("v3"), rev2); !errors.Is(err, backend.ErrConflict) {
		t.Errorf("Update of a deleted key: %v; want ErrConflict", err)
	}
	if _, err := s.Meta.Create(ctx, key, []byte("v4")); err != nil {
		t.Errorf("Create after Delete: %v", err)
	}
	keys, err = s.Meta.Keys(ctx, prefix)
	if err != nil || len(keys) != 2 {
		t.Errorf("Keys after Delete and Create = %q, %v; want 2 keys", keys, err)
	}
	if err := s.Meta.Delete(ctx, prefix+"absent"); err != nil {
		t.Errorf("Delete of an absent key: %v", err)
	}
}

// testMetaConcurrentCAS increments one counter from several goroutines with read, update and retry
// on conflict: compare-and-set must lose no increment.
func testMetaConcurrentCAS(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	key := "test." + backend.Key(unique(t, "counter"))
	if _, err := s.Meta.Create(ctx, key, []byte("0")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					v, rev, err := s.Meta.Get(ctx, key)
					if err != nil {
						errs <- err
						return
					}
					n, _ := strconv.Atoi(string(v))
					_, err = s.Meta.Update(ctx, key, []byte(strconv.Itoa(n+1)), rev)
					if errors.Is(err, backend.ErrConflict) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, _, err := s.Meta.Get(ctx, key)
	if err != nil || string(v) != strconv.Itoa(workers*each) {
		t.Errorf("counter = %q, %v; want %d", v, err, workers*each)
	}
}

func testDocsLifecycle(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	d := backend.NewDocs(s, nil)
	doc := unique(t, "doc") + ".with.dots"
	if _, err := d.Load(ctx, doc); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Load of an absent document: %v; want ErrNotFound", err)
	}
	m, err := d.Open(ctx, doc)
	if err != nil || m.Epoch != 1 || m.SnapshotSeq != 0 {
		t.Fatalf("Open = %+v, %v; want epoch 1, no snapshot", m, err)
	}
	if again, err := d.Open(ctx, doc); err != nil || again.Epoch != 1 || again.Rev != m.Rev {
		t.Errorf("second Open = %+v, %v; want the same record %+v", again, err, m)
	}
	es := appendAll(t, ctx, s.Log, doc, 1, "a", "b", "c")
	st, err := d.Load(ctx, doc)
	if err != nil || st.Snapshot != nil || !equalEntries(st.Entries, es) {
		t.Fatalf("Load = snapshot %q, entries %s, %v; want entries %s", st.Snapshot, show(st.Entries), err, show(es))
	}
	if err := d.Compact(ctx, doc, 1, es[1].Seq, []byte("ab")); err != nil {
		t.Fatalf("Compact(%d): %v", es[1].Seq, err)
	}
	st, err = d.Load(ctx, doc)
	if err != nil || string(st.Snapshot) != "ab" || st.Meta.SnapshotSeq != es[1].Seq || !equalEntries(st.Entries, es[2:]) {
		t.Fatalf("Load after Compact = snapshot %q at %d, entries %s, %v; want \"ab\" at %d, %s",
			st.Snapshot, st.Meta.SnapshotSeq, show(st.Entries), err, es[1].Seq, show(es[2:]))
	}
	if got := read(t, ctx, s.Log, doc, 1, 0, 0); !equalEntries(got, es[2:]) {
		t.Errorf("log after Compact = %s; want only %s", show(got), show(es[2:]))
	}
	if err := d.Compact(ctx, doc, 1, es[0].Seq, []byte("a")); !errors.Is(err, backend.ErrStale) {
		t.Errorf("Compact at an older position: %v; want ErrStale", err)
	}
	if err := d.Compact(ctx, doc, 1, es[2].Seq, []byte("abc")); err != nil {
		t.Fatalf("second Compact: %v", err)
	}
	if _, err := s.Snapshots.Get(ctx, st.Meta.Snapshot); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("the replaced snapshot %s: %v; want ErrNotFound", st.Meta.Snapshot, err)
	}
	if ids, err := d.List(ctx); err != nil || !slices.Contains(ids, doc) {
		t.Errorf("List = %q, %v; want it to contain %q", ids, err, doc)
	}
	if err := d.Delete(ctx, doc); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := d.Load(ctx, doc); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load after Delete: %v; want ErrNotFound", err)
	}
	if _, ok, err := d.Stat(ctx, doc); ok || err != nil {
		t.Errorf("Stat after Delete = %t, %v; want false, nil", ok, err)
	}
	if err := d.Delete(ctx, doc); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("second Delete: %v; want ErrNotFound", err)
	}
	if ids, err := d.List(ctx); err != nil || slices.Contains(ids, doc) {
		t.Errorf("List after Delete = %q, %v; want it without %q", ids, err, doc)
	}
	if err := d.Compact(ctx, doc, 1, es[2].Seq+1, []byte("x")); !errors.Is(err, backend.ErrDeleted) {
		t.Errorf("Compact of a deleted epoch: %v; want ErrDeleted", err)
	}
	appendAll(t, ctx, s.Log, doc, 1, "late") // a writer that has not heard of the deletion
	m, err = d.Open(ctx, doc)
	if err != nil || m.Epoch != 2 {
		t.Fatalf("Open after Delete = %+v, %v; want epoch 2", m, err)
	}
	st, err = d.Load(ctx, doc)
	if err != nil || st.Snapshot != nil || len(st.Entries) != 0 {
		t.Errorf("Load of the recreated document = snapshot %q, entries %s, %v; want it empty", st.Snapshot, show(st.Entries), err)
	}
}

func testDocsBind(t *testing.T, ctx context.Context, s backend.Set, _ func() backend.Set) {
	d := backend.NewDocs(s, nil)
	doc := unique(t, "doc")
	m, err := d.Open(ctx, doc)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := d.Bind(ctx, doc, m.Epoch, 42, "alice"); err != nil {
		t.Fatalf("Bind(42, alice): %v", err)
	}
	if err := d.Bind(ctx, doc, m.Epoch, 42, "alice"); err != nil {
		t.Errorf("Bind(42, alice) again: %v", err)
	}
	if err := d.Bind(ctx, doc, m.Epoch, 42, "bob"); !errors.Is(err, backend.ErrBound) {
		t.Errorf("Bind(42, bob): %v; want ErrBound", err)
	}
	if err := d.Bind(ctx, doc, m.Epoch, 43, "bob"); err != nil {
		t.Errorf("Bind(43, bob): %v", err)
	}
	if err := d.Delete(ctx, doc); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	m, err = d.Open(ctx, doc)
	if err != nil {
		t.Fatalf("Open after Delete: %v", err)
	}
	if err := d.Bind(ctx, doc, m.Epoch, 42, "bob"); err != nil {
		t.Errorf("Bind(42, bob) in the new epoch: %v", err)
	}
}

// testCompactionRace runs a writer, two compactors that compact one document at the positions
// they loaded, and a loader that cold-loads it again and again. Every load must hold every entry
// acknowledged before it started, in order, and the snapshot position must never go backwards.
func testCompactionRace(t *testing.T, ctx context.Context, s backend.Set, more func() backend.Set) {
	d := backend.NewDocs(s, nil)
	doc := unique(t, "doc")
	if _, err := d.Open(ctx, doc); err != nil {
		t.Fatalf("Open: %v", err)
	}
	const appends = 60
	var mu sync.Mutex
	var acked []string // in append order
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	done := make(chan struct{})
	flatten := func(st backend.State) []string {
		var out []string
		if len(st.Snapshot) > 0 {
			out = strings.Split(string(st.Snapshot), ",")
		}
		for _, e := range st.Entries {
			out = append(out, string(e.Data))
		}
		return out
	}
	wg.Go(func() {
		defer close(done)
		for i := range appends {
			v := fmt.Sprintf("e%d", i)
			if _, err := d.Append(ctx, doc, 1, []byte(v)); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			acked = append(acked, v)
			mu.Unlock()
		}
	})
	for range 2 {
		d := backend.NewDocs(more(), nil)
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				st, err := d.Load(ctx, doc)
				if errors.Is(err, backend.ErrContended) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("compactor Load: %w", err)
					return
				}
				if len(st.Entries) == 0 {
					continue
				}
				seq := st.Entries[len(st.Entries)-1].Seq
				err = d.Compact(ctx, doc, 1, seq, []byte(strings.Join(flatten(st), ",")))
				if err != nil && !errors.Is(err, backend.ErrStale) && !errors.Is(err, backend.ErrContended) {
					errs <- fmt.Errorf("Compact(%d): %w", seq, err)
					return
				}
			}
		})
	}
	loader := backend.NewDocs(more(), nil)
	wg.Go(func() {
		var lastSnap uint64
		for {
			select {
			case <-done:
				return
			default:
			}
			mu.Lock()
			before := slices.Clone(acked)
			mu.Unlock()
			st, err := loader.Load(ctx, doc)
			if errors.Is(err, backend.ErrContended) {
				continue
			}
			if err != nil {
				errs <- fmt.Errorf("loader Load: %w", err)
				return
			}
			got := flatten(st)
			if len(got) < len(before) || !slices.Equal(got[:len(before)], before) {
				errs <- fmt.Errorf("cold load = %q; want it to start with every acknowledged entry %q", got, before)
				return
			}
			if st.Meta.SnapshotSeq < lastSnap {
				errs <- fmt.Errorf("snapshot position went back from %d to %d", lastSnap, st.Meta.SnapshotSeq)
				return
			}
			lastSnap = st.Meta.SnapshotSeq
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := d.Load(ctx, doc)
	if err != nil {
		t.Fatalf("final Load: %v", err)
	}
	if got := flatten(st); !slices.Equal(got, acked) {
		t.Errorf("final Load = %q; want %q", got, acked)
	}
}

// testDeleteRace deletes a document while a writer that holds its epoch keeps appending: nothing
// the writer appends may ever show in a later load.
func testDeleteRace(t *testing.T, ctx context.Context, s backend.Set, more func() backend.Set) {
	d := backend.NewDocs(s, nil)
	deleter := backend.NewDocs(more(), nil)
	doc := unique(t, "doc")
	m, err := d.Open(ctx, doc)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	deleted := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		// Appends before, during and after the deletion, all with the epoch the writer opened.
		for i, late := 0, 0; late < 10; i++ {
			if _, err := d.Append(ctx, doc, m.Epoch, []byte(fmt.Sprintf("old%d", i))); err != nil {
				errs <- err
				return
			}
			select {
			case <-deleted:
				late++
			default:
			}
		}
	})
	wg.Go(func() {
		defer close(deleted)
		if _, err := deleter.Append(ctx, doc, m.Epoch, []byte("first")); err != nil {
			errs <- err
			return
		}
		if err := deleter.Delete(ctx, doc); err != nil {
			errs <- fmt.Errorf("Delete: %w", err)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := d.Load(ctx, doc); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Load after Delete: %v; want ErrNotFound", err)
	}
	m2, err := d.Open(ctx, doc)
	if err != nil || m2.Epoch <= m.Epoch {
		t.Fatalf("Open after Delete = %+v, %v; want an epoch after %d", m2, err, m.Epoch)
	}
	if _, err := d.Append(ctx, doc, m.Epoch, []byte("stale")); err != nil {
		t.Fatalf("stale Append: %v", err)
	}
	st, err := d.Load(ctx, doc)
	if err != nil || len(st.Entries) != 0 || st.Snapshot != nil {
		t.Errorf("Load of the recreated document = %s, snapshot %q, %v; want nothing of the deleted epoch", show(st.Entries), st.Snapshot, err)
	}
}
