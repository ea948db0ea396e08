package crdt_test

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/tandemhq/tandem/crdt"
)

// heavyDoc builds the document that tandem-bench's heavy mode writes (BENCHMARKS.md section 4):
// updates of 16 KiB of random lowercase text, spaces and newlines, each inserted at a random
// place, 15 MB in all.
func heavyDoc(b *testing.B) *crdt.Doc {
	b.Helper()
	const (
		updates     = 916
		updateBytes = 16 << 10
		letters     = "abcdefghijklmnopqrstuvwxyz     \n"
	)
	rng := rand.New(rand.NewPCG(1, 0x68656176))
	d := fresh(1)
	txt := d.Text("body")
	buf := make([]byte, updateBytes)
	for range updates {
		for i := range buf {
			buf[i] = letters[rng.IntN(len(letters))]
		}
		if err := txt.Insert(rng.IntN(txt.Len()+1), string(buf)); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// BenchmarkHeavyDocument measures a 15 MB document written as heavy writing writes it: loading
// its snapshot (with the heap the loaded document then holds, against the text's length), and
// encoding it as a snapshot and as an update. B/op is what each allocates on the way.
func BenchmarkHeavyDocument(b *testing.B) {
	d := heavyDoc(b)
	snap := d.EncodeSnapshot()
	textBytes := len(d.Text("body").String())
	b.Run("Load", func(b *testing.B) {
		b.SetBytes(int64(len(snap)))
		b.ReportAllocs()
		var l *crdt.Doc
		for b.Loop() {
			l, _ = crdt.NewDoc(2, crdt.Config{})
			if _, err := l.Apply(snap); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		l = nil
		before := heapInUse()
		l, _ = crdt.NewDoc(2, crdt.Config{})
		if _, err := l.Apply(snap); err != nil {
			b.Fatal(err)
		}
		held := heapInUse() - before
		runtime.KeepAlive(l)
		b.ReportMetric(float64(held), "heap-bytes")
		b.ReportMetric(float64(held)/float64(textBytes), "heap/text")
		b.ReportMetric(float64(len(snap)), "snapshot-bytes")
	})
	b.Run("EncodeSnapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.EncodeSnapshot()
		}
	})
	b.Run("EncodeUpdate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.EncodeUpdate(nil)
		}
	})
}
