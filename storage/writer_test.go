package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ack is what one append's done received.
type ack struct {
	doc  string
	data string
	seq  uint64
	err  error
}

// recorder collects acks from done callbacks.
type recorder struct {
	mu   sync.Mutex
	acks []ack
	wg   sync.WaitGroup
}

func (r *recorder) append(s *Store, doc, data string) {
	r.wg.Add(1)
	s.Append(doc, []byte(data), func(seq uint64, err error) {
		r.mu.Lock()
		r.acks = append(r.acks, ack{doc, data, seq, err})
		r.mu.Unlock()
		r.wg.Done()
	})
}

func (r *recorder) wait() []ack {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.acks)
}

// gateFirstCommit makes the first append commit wait until the returned release is called, and
// returns once that commit is waiting: everything appended meanwhile queues up behind it.
func gateFirstCommit(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	s.hooks.beforeCommit = func() error {
		if calls.Add(1) == 1 {
			close(entered)
			<-gate
		}
		return nil
	}
	s.Append("gate", []byte("first"), func(uint64, error) {})
	<-entered
	return func() { close(gate) }
}

// TestGroupCommitBatches queues appends while a commit is held open: they commit in exactly
// ceil(n/MaxBatch) more transactions, in call order per document.
func TestGroupCommitBatches(t *testing.T) {
	const n, maxBatch, docs = 300, 100, 10
	s, _ := openTest(t, Options{MaxBatch: maxBatch})
	release := gateFirstCommit(t, s)
	var r recorder
	for i := range n {
		r.append(s, fmt.Sprintf("d%d", i%docs), fmt.Sprint(i))
	}
	release()
	acks := r.wait()

	for _, a := range acks {
		var i int
		fmt.Sscan(a.data, &i)
		if want := uint64(i/docs + 1); a.err != nil || a.seq != want {
			t.Errorf("append %s to %s: done(%d, %v); want (%d, nil)", a.data, a.doc, a.seq, a.err, want)
		}
	}
	st := s.Stats()
	want := Stats{Commits: 1 + n/maxBatch, Appends: 1 + n, MaxBatch: maxBatch}
	if st != want {
		t.Errorf("Stats() = %+v; want %+v", st, want)
	}
}

// TestGroupCommitBatchBytes: a commit takes appends up to the byte bound, and always at least one.
func TestGroupCommitBatchBytes(t *testing.T) {
	s, _ := openTest(t, Options{})
	s.maxBatchBytes = 10
	release := gateFirstCommit(t, s)
	var r recorder
	for _, data := range []string{"aaaa", "bbbb", "cccc", "dddd", "eeee", "this one is larger", "ffff"} {
		r.append(s, "doc", data)
	}
	release()
	for _, a := range r.wait() {
		if a.err != nil {
			t.Errorf("append %s: %v", a.data, a.err)
		}
	}
	// The gate's commit, then aaaa+bbbb, cccc+dddd, eeee, the large one alone, ffff.
	if st := s.Stats(); st.Commits != 6 || st.MaxBatch != 2 {
		t.Errorf("Stats() = %+v; want 6 commits, the largest of 2 appends", st)
	}
}

// TestGroupCommitConcurrent has many goroutines append to a few documents with real fsyncs. Each
// document's sequence numbers must run 1..n without gap or duplicate, each goroutine's appends must
// keep their order, and there must be fewer commits than appends.
func TestGroupCommitConcurrent(t *testing.T) {
	const workers, docs, rounds = 16, 4, 40
	s, _ := openTest(t, Options{})
	results := make([][]ack, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				doc := fmt.Sprintf("doc-%d", (w+i)%docs)
				data := fmt.Sprintf("w%d-%d", w, i)
				seq, err := s.AppendSync(context.Background(), doc, []byte(data))
				results[w] = append(results[w], ack{doc, data, seq, err})
			}
		})
	}
	wg.Wait()

	bySeq := make(map[string]map[uint64]string)
	for w, res := range results {
		last := make(map[string]uint64)
		for _, a := range res {
			if a.err != nil {
				t.Fatalf("worker %d: append %s: %v", w, a.data, a.err)
			}
			if a.seq <= last[a.doc] {
				t.Errorf("worker %d: %s got seq %d after %d; want increasing", w, a.doc, a.seq, last[a.doc])
			}
			last[a.doc] = a.seq
			if bySeq[a.doc] == nil {
				bySeq[a.doc] = make(map[uint64]string)
			}
			if prev, dup := bySeq[a.doc][a.seq]; dup {
				t.Errorf("%s seq %d given to %s and %s", a.doc, a.seq, prev, a.data)
			}
			bySeq[a.doc][a.seq] = a.data
		}
	}
	total := 0
	check := func(when string) {
		for doc, seqs := range bySeq {
			st, _ := mustLoad(t, s, doc)
			if len(st.Log) != len(seqs) {
				t.Errorf("%s: %s holds %d entries; want %d", when, doc, len(st.Log), len(seqs))
			}
			for i, e := range st.Log {
				if e.Seq != uint64(i+1) || string(e.Data) != seqs[e.Seq] {
					t.Errorf("%s: %s entry %d = (%d, %q); want (%d, %q)", when, doc, i, e.Seq, e.Data, i+1, seqs[uint64(i+1)])
				}
			}
		}
	}
	for _, seqs := range bySeq {
		total += len(seqs)
	}
	if total != workers*rounds {
		t.Fatalf("%d distinct acks; want %d", total, workers*rounds)
	}
	st := s.Stats()
	t.Logf("%d appends in %d commits (largest batch %d)", st.Appends, st.Commits, st.MaxBatch)
	if st.Appends != workers*rounds || st.Commits >= st.Appends {
		t.Errorf("Stats() = %+v; want %d appends in fewer commits", st, workers*rounds)
	}
	check("before reopen")
	s = reopen(t, s, Options{})
	check("after reopen")
}

// TestFailedCommit (T-DUR-06): a batch whose commit fails gets an error for every append and no
// ack; the next batch commits, and sequence numbers stay contiguous.
func TestFailedCommit(t *testing.T) {
	s, _ := openTest(t, Options{})
	mustAppend(t, s, "a", "a1")
	mustAppend(t, s, "b", "b1")

	injected := errors.New("injected commit failure")
	entered, gate := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	s.hooks.beforeCommit = func() error {
		switch calls.Add(1) {
		case 1: // holds a batch of one while the failing batch queues
			close(entered)
			<-gate
		case 2:
			return injected
		}
		return nil
	}
	var held recorder
	held.append(s, "a", "a2")
	<-entered
	var failed recorder
	for i := range 50 {
		failed.append(s, []string{"a", "b", "c"}[i%3], fmt.Sprint("lost", i))
	}
	close(gate)
	if acks := held.wait(); acks[0].err != nil || acks[0].seq != 2 {
		t.Fatalf("held append: done(%d, %v); want (2, nil)", acks[0].seq, acks[0].err)
	}
	for _, a := range failed.wait() {
		if !errors.Is(a.err, injected) || a.seq != 0 {
			t.Errorf("append %s to %s in the failing batch: done(%d, %v); want (0, injected error)", a.data, a.doc, a.seq, a.err)
		}
	}

	var next recorder
	for i := range 20 {
		next.append(s, []string{"a", "b", "c"}[i%3], fmt.Sprint("next", i))
	}
	want := map[string][]string{"a": {"a1", "a2"}, "b": {"b1"}, "c": nil}
	for i := range 20 {
		doc := []string{"a", "b", "c"}[i%3]
		want[doc] = append(want[doc], fmt.Sprint("next", i))
	}
	for _, a := range next.wait() {
		if a.err != nil {
			t.Errorf("append %s after the failed batch: %v; want no error", a.data, a.err)
		}
	}
	check := func(when string) {
		for doc, data := range want {
			st, _ := mustLoad(t, s, doc)
			if got := entryData(t, st.Log); !slices.Equal(got, data) {
				t.Errorf("%s: %s log = %q; want %q", when, doc, got, data)
			}
		}
	}
	check("before reopen")
	if st := s.Stats(); st.FailedCommits != 1 || st.FailedAppends != 50 {
		t.Errorf("Stats() = %+v; want 1 failed commit, 50 failed appends", st)
	}
	s = reopen(t, s, Options{})
	check("after reopen")
}

// entryData returns the data of log entries, checking that their sequence numbers are contiguous.
func entryData(t *testing.T, log []LogEntry) []string {
	t.Helper()
	var out []string
	for i, e := range log {
		if i > 0 && e.Seq != log[i-1].Seq+1 {
			t.Errorf("log seq %d follows %d; want contiguous", e.Seq, log[i-1].Seq)
		}
		out = append(out, string(e.Data))
	}
	return out
}

// TestRefusedAppendInBatch: an append refused for its own input fails alone; the rest of its batch
// commits exactly once.
func TestRefusedAppendInBatch(t *testing.T) {
	s, _ := openTest(t, Options{})
	release := gateFirstCommit(t, s)
	var r recorder
	for i := range 100 {
		doc := "a"
		if i == 50 {
			doc = ""
		}
		r.append(s, doc, fmt.Sprint(i))
	}
	release()
	var seq uint64
	for _, a := range r.wait() {
		if a.doc == "" {
			if !errors.Is(a.err, ErrInvalidDocID) {
				t.Errorf("append with an empty id: done(%d, %v); want ErrInvalidDocID", a.seq, a.err)
			}
			continue
		}
		seq++
		if a.err != nil || a.seq != seq {
			t.Errorf("append %s: done(%d, %v); want (%d, nil)", a.data, a.seq, a.err, seq)
		}
	}
	if st, _ := mustLoad(t, s, "a"); len(st.Log) != 99 {
		t.Errorf("a holds %d entries; want 99", len(st.Log))
	}
}

// TestAppendFromDone appends from inside a done callback, as a caller chaining writes might.
func TestAppendFromDone(t *testing.T) {
	s, _ := openTest(t, Options{})
	finished := make(chan uint64, 1)
	var next func(seq uint64, err error)
	next = func(seq uint64, err error) {
		if err != nil || seq == 100 {
			finished <- seq
			return
		}
		s.Append("chain", []byte("x"), next)
	}
	s.Append("chain", []byte("x"), next)
	select {
	case seq := <-finished:
		if seq != 100 {
			t.Errorf("chain stopped at seq %d; want 100", seq)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("appending from done did not finish within 30 s")
	}
}

// TestWritesKeepCallOrder queues appends, a compaction, a metadata put and a deletion without waiting:
// each applies after the writes called before it.
func TestWritesKeepCallOrder(t *testing.T) {
	s, _ := openTest(t, Options{MaxBatchDelay: 50 * time.Millisecond})
	release := gateFirstCommit(t, s)
	var r recorder
	for i := range 3 {
		r.append(s, "a", fmt.Sprint(i))
	}
	compacted := make(chan error, 1)
	s.CompactAsync("a", []byte("snap"), 3, func(err error) { compacted <- err })
	r.append(s, "a", "after-snapshot")
	put := make(chan error, 1)
	s.PutDocMetaAsync("b", "k", []byte("v"), func(err error) { put <- err })
	r.append(s, "b", "b1")
	go release()
	if err := s.Delete("b"); err != nil { // queued after b1's append, whenever the gate opens
		t.Fatal(err)
	}
	if err := <-compacted; err != nil {
		t.Fatalf("CompactAsync(a, snap, 3) = %v; want no error (the 3 appends before it committed first)", err)
	}
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	r.wait()
	if st, ok := mustLoad(t, s, "b"); ok {
		t.Errorf("b = %+v; want it deleted after its append and metadata", st)
	}
	st, _ := mustLoad(t, s, "a")
	if string(st.Snapshot) != "snap" || st.SnapshotSeq != 3 || !slices.Equal(entryData(t, st.Log), []string{"after-snapshot"}) {
		t.Errorf("a = %+v; want snapshot at 3 and one entry after it", st)
	}
}

// TestFoldedWrites: compactions and metadata puts queued between appends join the appends' commit
// (one transaction, one fsync pair), apply in call order, and one that is refused fails alone.
func TestFoldedWrites(t *testing.T) {
	s, _ := openTest(t, Options{})
	release := gateFirstCommit(t, s)
	var r recorder
	r.append(s, "a", "1")
	r.append(s, "a", "2")
	compacted, refused, put := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	s.CompactAsync("a", []byte("snap"), 2, func(err error) { compacted <- err })
	s.CompactAsync("b", []byte("snap"), 5, func(err error) { refused <- err })
	s.PutDocMetaAsync("a", "k", []byte("v"), func(err error) { put <- err })
	r.append(s, "a", "3")
	r.append(s, "b", "1")
	release()
	for _, a := range r.wait() {
		if a.err != nil {
			t.Errorf("append %s to %s: %v; want no error", a.data, a.doc, a.err)
		}
	}
	if err := <-compacted; err != nil {
		t.Errorf("CompactAsync(a, snap, 2) = %v; want no error", err)
	}
	if err := <-refused; !errors.Is(err, ErrSeqOutOfRange) {
		t.Errorf("CompactAsync(b, snap, 5) = %v; want ErrSeqOutOfRange", err)
	}
	if err := <-put; err != nil {
		t.Errorf("PutDocMetaAsync(a, k, v) = %v; want no error", err)
	}
	if st := s.Stats(); st.Commits != 2 || st.Ops != 2 || st.Appends != 5 {
		t.Errorf("Stats() = %+v; want 2 commits (the gate's, then everything), 2 ops, 5 appends", st)
	}
	s = reopen(t, s, Options{})
	a, _ := mustLoad(t, s, "a")
	if string(a.Snapshot) != "snap" || a.SnapshotSeq != 2 || !slices.Equal(entryData(t, a.Log), []string{"3"}) ||
		string(a.DocMeta["k"]) != "v" {
		t.Errorf("a = %+v; want the snapshot at 2, entry 3 after it, k = v", a)
	}
	b, _ := mustLoad(t, s, "b")
	if b.Snapshot != nil || !slices.Equal(entryData(t, b.Log), []string{"1"}) {
		t.Errorf("b = %+v; want no snapshot and its one entry", b)
	}
}

// TestFoldedWritesAloneRefused: a batch of folded writes that all change nothing (refused, or a
// metadata delete on a document that does not exist) costs no commit.
func TestFoldedWritesAloneRefused(t *testing.T) {
	s, _ := openTest(t, Options{})
	if err := s.Compact("none", []byte("snap"), 3); !errors.Is(err, ErrSeqOutOfRange) {
		t.Errorf("Compact(none, snap, 3) = %v; want ErrSeqOutOfRange", err)
	}
	if err := s.PutDocMeta("none", "k", nil); err != nil {
		t.Errorf("PutDocMeta(none, k, nil) = %v; want no error", err)
	}
	if st := s.Stats(); st.Commits != 0 || st.FailedCommits != 0 {
		t.Errorf("Stats() = %+v; want no commit", st)
	}
	if _, ok := mustLoad(t, s, "none"); ok {
		t.Errorf("Load(none) found a document; want none")
	}
}

// waitForWriter returns once every write queued so far has run.
func waitForWriter(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Delete("wait-for-writer"); err != nil {
		t.Fatal(err)
	}
}

func TestMaxBatchDelay(t *testing.T) {
	tests := []struct {
		name        string
		maxBatch    int
		delay       time.Duration
		n           int
		wantCommits uint64
	}{
		{"one batch", 0, time.Second, 10, 1},
		{"split by MaxBatch", 4, 200 * time.Millisecond, 10, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, Options{MaxBatch: tt.maxBatch, MaxBatchDelay: tt.delay})
			var r recorder
			for i := range tt.n {
				r.append(s, "a", fmt.Sprint(i))
			}
			for _, a := range r.wait() {
				if a.err != nil {
					t.Fatal(a.err)
				}
			}
			if st := s.Stats(); st.Commits != tt.wantCommits {
				t.Errorf("Stats().Commits = %d for %d appends within the delay; want %d", st.Commits, tt.n, tt.wantCommits)
			}
		})
	}
}

func TestAppendSyncContext(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.AppendSync(ctx, "a", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendSync(cancelled) = %v; want context.Canceled", err)
	}
	waitForWriter(t, s)
	if _, ok := mustLoad(t, s, "a"); ok {
		t.Errorf("AppendSync with a cancelled context stored the entry")
	}
}

// fold is the test's stand-in for a CRDT: a document's state is its snapshot followed by its log
// entries, one per line. A snapshot is the state it replaces.
func fold(st DocState) string {
	var b strings.Builder
	b.Write(st.Snapshot)
	for _, e := range st.Log {
		b.Write(e.Data)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestCompactUnderConcurrentAppends compacts repeatedly while appends continue: entries after the
// snapshot's position survive, every state after a compaction extends the one before, and the final
// state, reloaded, equals every acknowledged entry in sequence order.
func TestCompactUnderConcurrentAppends(t *testing.T) {
	const workers, rounds = 4, 150
	s, _ := openTest(t, Options{})
	var mu sync.Mutex
	acked := make(map[uint64]string)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				data := fmt.Sprintf("w%d-%d", w, i)
				seq, err := s.AppendSync(context.Background(), "doc", []byte(data))
				if err != nil {
					t.Errorf("append %s: %v", data, err)
					return
				}
				mu.Lock()
				acked[seq] = data
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	compactions := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(2 * time.Millisecond):
		}
		before, ok := mustLoad(t, s, "doc")
		if !ok {
			continue
		}
		state := fold(before)
		if err := s.Compact("doc", []byte(state), before.Meta.LastSeq); err != nil {
			t.Fatalf("Compact(doc, state, %d) = %v", before.Meta.LastSeq, err)
		}
		compactions++
		after, _ := mustLoad(t, s, "doc")
		if !strings.HasPrefix(fold(after), state) {
			t.Fatalf("state after compaction at %d does not extend the state before it", before.Meta.LastSeq)
		}
		if len(after.Log) > 0 && after.Log[0].Seq != before.Meta.LastSeq+1 {
			t.Fatalf("after compaction at %d the log starts at %d", before.Meta.LastSeq, after.Log[0].Seq)
		}
	}
	if compactions < 3 {
		t.Errorf("%d compactions ran during the appends; want at least 3", compactions)
	}

	var want strings.Builder
	for seq := uint64(1); seq <= workers*rounds; seq++ {
		data, ok := acked[seq]
		if !ok {
			t.Fatalf("no ack for seq %d", seq)
		}
		want.WriteString(data + "\n")
	}
	// One more append after the last compaction, so that the reload has a log to replay too.
	mustAppend(t, s, "doc", "tail")
	want.WriteString("tail\n")
	for _, when := range []string{"before reopen", "after reopen"} {
		st, _ := mustLoad(t, s, "doc")
		if got := fold(st); got != want.String() {
			t.Errorf("%s: folded state is %d bytes, want %d; differs", when, len(got), want.Len())
		}
		if when == "before reopen" {
			s = reopen(t, s, Options{})
		}
	}
}
