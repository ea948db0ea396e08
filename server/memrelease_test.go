package server

import (
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandemhq/tandem/crdt"
)

// TestMemRelease drives the release schedule on fake time: notes under the threshold do nothing,
// one at the threshold releases releaseDelay later, notes meanwhile are covered by it, a note
// soon after a release waits for releaseEvery, and stop cancels what is scheduled.
func TestMemRelease(t *testing.T) {
	type step struct {
		after time.Duration // fake time that passes before the note
		note  int64         // bytes noted; 0: none
		want  int           // releases done after the note and the time
	}
	for _, tc := range []struct {
		name     string
		minBytes int64
		steps    []step
	}{
		{"under the threshold", 100, []step{{0, 99, 0}, {time.Minute, 0, 0}}},
		{"never", -1, []step{{0, 1 << 30, 0}, {time.Minute, 0, 0}}},
		{"after the delay", 100, []step{
			{0, 100, 0},
			{releaseDelay - time.Millisecond, 0, 0},
			{time.Millisecond, 0, 1},
			{time.Minute, 0, 1},
		}},
		{"coalesced", 100, []step{
			{0, 100, 0},
			{releaseDelay / 2, 5000, 0}, // covered by the release scheduled
			{releaseDelay / 2, 0, 1},
			{time.Minute, 0, 1},
		}},
		{"at most once per releaseEvery", 100, []step{
			{0, 100, 0},
			{releaseDelay, 0, 1},
			{time.Second, 100, 1}, // 2 s after the first note: waits until releaseEvery after the release
			{releaseEvery - time.Second - time.Millisecond, 0, 1},
			{time.Millisecond, 0, 2},
			{releaseEvery, 100, 2}, // long after: the delay only
			{releaseDelay, 0, 3},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var released atomic.Int32
				r := newMemRelease(tc.minBytes, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
				r.free = func() { released.Add(1) }
				for i, s := range tc.steps {
					time.Sleep(s.after)
					if s.note != 0 {
						r.note(noteLoad, s.note)
					}
					synctest.Wait()
					if got := int(released.Load()); got != s.want {
						t.Fatalf("step %d (after %v, note %d): %d releases; want %d", i, s.after, s.note, got, s.want)
					}
				}
				r.stop()
			})
		})
	}
}

// TestMemReleaseStop checks that stop cancels a scheduled release and that notes after it do
// nothing.
func TestMemReleaseStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var released atomic.Int32
		r := newMemRelease(1, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		r.free = func() { released.Add(1) }
		r.note(noteJoin, 10)
		r.stop()
		r.note(noteJoin, 10)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := released.Load(); got != 0 {
			t.Errorf("%d releases after stop; want 0", got)
		}
	})
}

// TestReleaseAfterLoad checks that loading a document of at least ReleaseMemoryAfterBytes asks for
// a release, and so does writing its join answer when that is as large; a smaller document, and a
// kept join answer, do not.
func TestReleaseAfterLoad(t *testing.T) {
	cfg := testConfig(t)
	cfg.ReleaseMemoryAfterBytes = 2 << 10
	ts := startServer(t, cfg, nil)
	for _, tc := range []struct {
		doc         string
		textBytes   int
		wantLoad    int // notes of the load
		wantWritten int // notes of writes: the join answer, when it reaches the threshold
	}{
		{"small", 1 << 10, 0, 0},
		{"large", 32 << 10, 1, 1}, // its join answer (under joinKeepBytes) is kept: no note for it
	} {
		d, err := crdt.NewDoc(900, crdt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Repeat("0123456789abcdef", tc.textBytes/16)
		if err := d.Text("body").Insert(0, text); err != nil {
			t.Fatal(err)
		}
		if err := ts.inner.Compact(tc.doc, d.EncodeUpdate(nil), 0); err != nil {
			t.Fatal(err)
		}
		load, written, join := ts.mem.notes(noteLoad), ts.mem.notes(noteWritten), ts.mem.notes(noteJoin)
		e := ts.editor(t, tc.doc, 901)
		if got := e.Text("body"); got != text {
			t.Fatalf("%s: loaded text of %d bytes; want %d", tc.doc, len(got), len(text))
		}
		if big := len(e.LastSync.Update) >= int(cfg.ReleaseMemoryAfterBytes); big != (tc.wantWritten > 0) {
			t.Fatalf("%s: join answer of %d bytes against the threshold %d: the test needs another size", tc.doc, len(e.LastSync.Update), cfg.ReleaseMemoryAfterBytes)
		}
		// The ack is written after the join answer, and after its write was reported.
		if err := e.Insert("body", 0, "x"); err != nil {
			t.Fatal(err)
		}
		if err := e.WaitAcked(0); err != nil {
			t.Fatal(err)
		}
		if got := ts.mem.notes(noteLoad) - load; got != tc.wantLoad {
			t.Errorf("%s (%d bytes of text): %d release notes of the load; want %d", tc.doc, tc.textBytes, got, tc.wantLoad)
		}
		if got := ts.mem.notes(noteWritten) - written; got != tc.wantWritten {
			t.Errorf("%s (%d bytes of text): %d release notes of writes; want %d", tc.doc, tc.textBytes, got, tc.wantWritten)
		}
		if got := ts.mem.notes(noteJoin) - join; got != 0 {
			t.Errorf("%s: %d release notes of join answers; want 0 (kept)", tc.doc, got)
		}
	}
}
