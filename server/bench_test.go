package server

import (
	"context"
	"fmt"
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
