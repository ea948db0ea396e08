package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/tandemhq/tandem/crdt"
)

// BenchmarkActorUpdate measures the actor's work per typed character: apply to the CRDT, hand to
// (in-memory) storage, encode once and queue for every other member, acknowledge. Sockets are not
// involved (the members have none; their queues are emptied as the benchmark goes). The observed
// case adds an embedder's Observe hook (observe.go), which each durable update reports to.
func BenchmarkActorUpdate(b *testing.B) {
	for _, bc := range []struct {
		members  int
		observed bool
	}{{1, false}, {10, false}, {100, false}, {10, true}} {
		name := fmt.Sprintf("members=%d", bc.members)
		if bc.observed {
			name += ",observed"
		}
		members := bc.members
		b.Run(name, func(b *testing.B) {
			cfg := Config{SendQueueMessages: 1 << 30, SendQueueBytes: 1 << 40, CompactLogEntries: 1 << 30, CompactLogBytes: 1 << 50}
			if bc.observed {
				cfg.Hooks.Observe = func(DocEvent) {}
			}
			s := newActorTestServer(b, cfg, newMemStore())
			conns := make([]*conn, members)
			var a *actor
			for i := range conns {
				conns[i] = newConn(s, nil, "bench", anonymous)
				conns[i].clientID = uint64(100 + i)
				var err error
				a, err = s.docs.join(context.Background(), conns[i], helloFor(uint64(100+i)))
				if err != nil {
					b.Fatal(err)
				}
			}
			// Typing: one character per update, at the end of the text.
			d, _ := crdt.NewDoc(100, crdt.Config{})
			updates := make([][]byte, b.N)
			for i := range updates {
				_ = d.Text("body").Insert(i, "x")
				updates[i] = d.TakeUpdate()
			}
			emptyQueues := func() {
				for _, c := range conns {
					c.t.TakeQueued()
				}
			}
			emptyQueues()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i, u := range updates {
				if err := a.post(context.Background(), updateMsg{c: conns[0], data: u, at: start}); err != nil {
					b.Fatal(err)
				}
				if i%1024 == 1023 {
					emptyQueues()
				}
			}
			// Wait for the last one to be handled.
			done := make(chan struct{})
			_ = a.post(context.Background(), funcMsg{fn: func(*actor) { close(done) }})
			<-done
			b.StopTimer()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.docs.stopAll(ctx); err != nil {
				b.Fatal(err)
			}
			if err := s.changes.close(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// benchTextDoc returns a document written as tandem-bench's heavy mode writes (BENCHMARKS.md,
// Storage): 16 KiB updates of random letters, spaces and newlines, each inserted at a random
// place, until the text holds textBytes.
func benchTextDoc(b *testing.B, textBytes int) *crdt.Doc {
	b.Helper()
	const letters = "abcdefghijklmnopqrstuvwxyz     \n"
	rng := rand.New(rand.NewPCG(1, 0x68656176))
	d, _ := crdt.NewDoc(1, crdt.Config{})
	txt := d.Text("body")
	buf := make([]byte, min(textBytes, 16<<10))
	for txt.Len() < textBytes {
		for i := range buf {
			buf[i] = letters[rng.IntN(len(letters))]
		}
		if err := txt.Insert(rng.IntN(txt.Len()+1), string(buf)); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// BenchmarkJoinSnapshot measures the sync answer to a joiner with an empty state vector when it is
// built (the document changed since the last one): the snapshot encoded into its frame. B/op is
// what it allocates; 15MB is the document heavy writing leaves (an 8.75 MB snapshot).
func BenchmarkJoinSnapshot(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"64KB", 64 << 10}, {"15MB", 916 * 16 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			s := newActorTestServer(b, Config{}, newMemStore())
			a := newActor(s, "bench")
			a.doc = benchTextDoc(b, size.bytes)
			b.ReportAllocs()
			for b.Loop() {
				a.version++ // a new version: the frame is built
				if _, err := a.syncFrame(nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemRelease measures one return of free memory to the system (memRelease's
// debug.FreeOSMemory: a full collection) while the document heavy writing leaves is loaded, and
// after its load's garbage.
func BenchmarkMemRelease(b *testing.B) {
	d := benchTextDoc(b, 916*16<<10)
	snap := d.EncodeSnapshot()
	l, _ := crdt.NewDoc(2, crdt.Config{})
	if _, err := l.Apply(snap); err != nil {
		b.Fatal(err)
	}
	d, snap = nil, nil
	for b.Loop() {
		debug.FreeOSMemory()
	}
	runtime.KeepAlive(l)
}
