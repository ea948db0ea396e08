package jetstream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// TestForeignEntries: an entry that a node appended is told from one that something else
// published on the log's subject, by every way a node reads the log: live deliveries, direct reads
// (the first directReads entries) and a consumer's (the rest). Without an entry key the header
// marks a node's entry; with one, only the entry's signature does: a header copied from another
// log's entry, or signed under another key, does not; and only a node's entries are delivered
// live (for each of the others the owner is told, and reads what the stream holds).
func TestForeignEntries(t *testing.T) {
	// A forgery publishes data on the log's subject with a header made by mark (nil: none).
	type forgery struct {
		name string
		mark func(b *Backend, subj string, data []byte) []string
	}
	none := forgery{"no header", func(*Backend, string, []byte) []string { return nil }}
	unsigned := forgery{"unsigned header", func(*Backend, string, []byte) []string { return []string{"1"} }}
	otherLog := forgery{"another log's signature", func(b *Backend, subj string, data []byte) []string {
		_, mark := b.entryID(b.Subject("other", 1), data)
		return []string{mark}
	}}
	otherKey := forgery{"another key's signature", func(b *Backend, subj string, data []byte) []string {
		o := &Backend{prefix: b.prefix, entryKey: []byte("another key of 32 bytes or more..")}
		_, mark := o.entryID(subj, data)
		return []string{mark}
	}}
	garbage := forgery{"garbage header", func(*Backend, string, []byte) []string { return []string{"zz"} }}
	cases := []struct {
		name    string
		key     []byte
		foreign []forgery // taken for what they are: foreign
		trusted []forgery // taken for a node's entries
	}{
		{"unsigned", nil, []forgery{none}, []forgery{unsigned, garbage}},
		{"signed", []byte("the nodes' entry key, 32 bytes..."), []forgery{none, unsigned, otherLog, otherKey, garbage}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, js := connect(t)
			b := openBackendConfig(t, js, Config{Prefix: natstest.Prefix(t), EntryKey: tc.key})
			l := (*Log)(b)
			const doc = "foreign"
			var (
				mu      sync.Mutex
				got     []Delivery
				skipped int
			)
			sub, err := b.Follow(nc, doc, 1, func(d Delivery) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, d)
			}, func() {
				mu.Lock()
				defer mu.Unlock()
				skipped++
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sub.Unsubscribe() })
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			publish := func(f forgery, data []byte) uint64 {
				t.Helper()
				subj := b.Subject(doc, 1)
				msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{}}
				if h := f.mark(b, subj, data); h != nil {
					msg.Header[EntryHeader] = h
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ack, err := js.PublishMsg(ctx, msg)
				if err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				return ack.Sequence
			}
			forgeries := append(slices.Clone(tc.foreign), tc.trusted...)
			var want []backend.Entry
			for i := range 3 * directReads {
				data := fmt.Appendf(nil, "entry %d", i)
				if i%2 == 1 {
					f := forgeries[(i/2)%len(forgeries)]
					seq := publish(f, data)
					want = append(want, backend.Entry{Seq: seq, Data: data, Foreign: slices.ContainsFunc(tc.foreign, func(x forgery) bool { return x.name == f.name })})
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
			wantLive, wantSkipped := want, 0
			if tc.key != nil {
				wantLive = slices.DeleteFunc(slices.Clone(want), func(e backend.Entry) bool { return e.Foreign })
				wantSkipped = len(want) - len(wantLive)
			}
			for deadline := time.Now().Add(30 * time.Second); ; {
				mu.Lock()
				n, k := len(got), skipped
				mu.Unlock()
				if (n >= len(wantLive) && k >= wantSkipped) || time.Now().After(deadline) {
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
			if !slices.EqualFunc(live, wantLive, same) {
				t.Errorf("deliveries = %v, want %v", live, wantLive)
			}
			if skipped != wantSkipped || b.UnsignedDeliveries() != uint64(wantSkipped) {
				t.Errorf("skipped %d deliveries, counted %d; want %d", skipped, b.UnsignedDeliveries(), wantSkipped)
			}
		})
	}
}

// TestForgedAheadOfAppend: something with publish rights sends a node's update to the log before
// the node appends it, with the message ID the append would have without an entry key. Unsigned,
// the append is taken for a retry of it (JetStream's duplicate window) and answered with its
// sequence: the node's entry is stored without the node's header, foreign for the others. Signed,
// the ID is the signature, which the forger cannot make: the node's entry is stored as its own.
func TestForgedAheadOfAppend(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
		// nodes: whether the entry read back at the append's sequence is the node's.
		nodes bool
	}{
		{"unsigned", nil, false},
		{"signed", []byte("the nodes' entry key, 32 bytes..."), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, js := connect(t)
			b := openBackendConfig(t, js, Config{Prefix: natstest.Prefix(t), EntryKey: tc.key})
			const doc = "ahead"
			subj := b.Subject(doc, 1)
			data := []byte("an update a client sent to its node")
			unsigned := &Backend{prefix: b.prefix}
			id, _ := unsigned.entryID(subj, data)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data}, jetstream.WithMsgID(id))
			if err != nil {
				t.Fatal(err)
			}
			seq, _ := appendRetry(t, (*Log)(b), doc, 1, data)
			if got := seq != ack.Sequence; got != tc.nodes {
				t.Errorf("append stored apart from the forged message: %v; want %v", got, tc.nodes)
			}
			read, err := (*Log)(b).Read(ctx, doc, 1, seq, seq)
			if err != nil {
				t.Fatal(err)
			}
			if len(read) != 1 || read[0].Foreign == tc.nodes {
				t.Errorf("read back at the append's sequence %d: %+v; want one entry, the node's: %v", seq, read, tc.nodes)
			}
		})
	}
}

// BenchmarkEntrySignature: what signing an entry costs a node's append, and checking it a read
// (the same sum), for a keystroke's update and for an entry near the largest.
func BenchmarkEntrySignature(b *testing.B) {
	bk := &Backend{prefix: "tandem", entryKey: []byte("the nodes' entry key, 32 bytes...")}
	subj := bk.Subject("a document", 1)
	for _, n := range []int{64, 1 << 20} {
		data := make([]byte, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			_, mark := bk.entryID(subj, data)
			h := nats.Header{EntryHeader: []string{mark}}
			for b.Loop() {
				if bk.foreign(subj, h, data) {
					b.Fatal("a node's entry taken for foreign")
				}
			}
		})
	}
}
