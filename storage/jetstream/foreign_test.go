package jetstream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// TestForeignEntries: an entry that a node appended is told from one that something else
// published on the log's subject, by every way a node reads the log: live deliveries, direct reads
// (the first directReads entries) and a consumer's (the rest).
func TestForeignEntries(t *testing.T) {
	nc, js := connect(t)
	b := openBackend(t, js, natstest.Prefix(t))
	l := (*Log)(b)
	const doc = "foreign"
	var (
		mu  sync.Mutex
		got []Delivery
	)
	sub, err := b.Follow(nc, doc, 1, func(d Delivery) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var want []backend.Entry
	for i := range 3 * directReads {
		data := fmt.Appendf(nil, "entry %d", i)
		if i%3 == 1 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ack, err := js.Publish(ctx, b.Subject(doc, 1), data)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, backend.Entry{Seq: ack.Sequence, Data: data, Foreign: true})
			continue
		}
		seq, _ := appendRetry(t, l, doc, 1, data)
		want = append(want, backend.Entry{Seq: seq, Data: data})
	}
	same := func(a, b backend.Entry) bool {
		return a.Seq == b.Seq && string(a.Data) == string(b.Data) && a.Foreign == b.Foreign
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	read, err := l.Read(ctx, doc, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(read, want, same) {
		t.Errorf("Read = %v, want %v", read, want)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	live := make([]backend.Entry, 0, len(got))
	for _, d := range got {
		live = append(live, d.entry())
	}
	if !slices.EqualFunc(live, want, same) {
		t.Errorf("deliveries = %v, want %v", live, want)
	}
}
