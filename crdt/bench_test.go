package crdt_test

import (
	"runtime"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// benchTraces returns the sequential traces, or a synthetic one without them.
func benchTraces(b *testing.B) []*crdttest.Trace {
	b.Helper()
	var ts []*crdttest.Trace
	for _, f := range crdttest.TraceFiles("sequential_traces") {
		t, err := crdttest.LoadTrace(f)
		if err != nil {
			b.Fatal(err)
		}
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		ts = append(ts, crdttest.Typing(1, 100_000))
	}
	return ts
}

// replay applies a sequential trace as local edits of one document.
func replay(tb testing.TB, t *crdttest.Trace) *crdt.Doc {
	d, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	txt := d.Text("body")
	if t.StartContent != "" {
		if err := txt.Insert(0, t.StartContent); err != nil {
			tb.Fatal(err)
		}
	}
	replayInto(tb, d, t)
	return d
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkReplay replays each sequential trace as one user's local edits and
// reports the heap the document holds, its snapshot size and the size of the
// update holding everything.
func BenchmarkReplay(b *testing.B) {
	for _, t := range benchTraces(b) {
		b.Run(t.Name, func(b *testing.B) {
			var d *crdt.Doc
			for b.Loop() {
				d = replay(b, t)
			}
			b.StopTimer()
			if got := d.Text("body").String(); got != t.EndContent {
				b.Fatalf("replay of %s: text of %d bytes differs from endContent (%d bytes)", t.Name, len(got), len(t.EndContent))
			}
			before := heapInUse()
			d = nil
			after := heapInUse()
			d = replay(b, t)
			held := heapInUse() - after
			_ = before
			b.ReportMetric(float64(held), "heap-bytes")
			b.ReportMetric(float64(len(d.EncodeSnapshot())), "snapshot-bytes")
			b.ReportMetric(float64(len(d.EncodeUpdate(nil))), "update-bytes")
			runtime.KeepAlive(d)
		})
	}
}

// BenchmarkLoadSnapshot loads each trace's snapshot into an empty document.
func BenchmarkLoadSnapshot(b *testing.B) {
	for _, t := range benchTraces(b) {
		snap := replay(b, t).EncodeSnapshot()
		b.Run(t.Name, func(b *testing.B) {
			b.SetBytes(int64(len(snap)))
			for b.Loop() {
				d, _ := crdt.NewDoc(2, crdt.Config{})
				if _, err := d.Apply(snap); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeSnapshot encodes each trace's document as a snapshot.
func BenchmarkEncodeSnapshot(b *testing.B) {
	for _, t := range benchTraces(b) {
		d := replay(b, t)
		b.Run(t.Name, func(b *testing.B) {
			for b.Loop() {
				d.EncodeSnapshot()
			}
		})
	}
}

// BenchmarkMerge merges two replicas that made thousands of concurrent edits
// each (synthetic typing from a common text), both ways.
func BenchmarkMerge(b *testing.B) {
	base := fresh(1)
	base.Text("body").Insert(0, crdttest.Typing(1, 2000).EndContent)
	start := base.EncodeSnapshot()
	mk := func(client, seed uint64) *crdt.Doc {
		d := fresh(client)
		if _, err := d.Apply(start); err != nil {
			b.Fatal(err)
		}
		txt := d.Text("body")
		for _, x := range crdttest.Typing(seed, 5000).Txns {
			for _, p := range x.Patches {
				// The synthetic trace starts from an empty text: shift it into the common one.
				pos := min(p.Pos, txt.Len())
				if p.Del > 0 {
					txt.Delete(pos, min(p.Del, txt.Len()-pos))
				}
				if p.Ins != "" {
					txt.Insert(pos, p.Ins)
				}
			}
		}
		return d
	}
	x, y := mk(2, 2), mk(3, 3)
	snapX, snapY := x.EncodeSnapshot(), y.EncodeSnapshot()
	toY, toX := x.EncodeUpdate(y.StateVector()), y.EncodeUpdate(x.StateVector())
	b.ReportMetric(float64(len(toY)+len(toX)), "update-bytes")
	for b.Loop() {
		b.StopTimer()
		x, y := fresh(2), fresh(3)
		x.Apply(snapX)
		y.Apply(snapY)
		b.StartTimer()
		if _, err := x.Apply(toX); err != nil {
			b.Fatal(err)
		}
		if _, err := y.Apply(toY); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTyping types one character at a time at the end of a run, and
// backspaces now and then: the steady state of an editor.
func BenchmarkTyping(b *testing.B) {
	d := fresh(1)
	txt := d.Text("body")
	txt.Insert(0, crdttest.Typing(1, 20000).EndContent)
	pos := txt.Len() / 2
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%10 == 9 {
			pos--
			txt.Delete(pos, 1)
		} else {
			txt.Insert(pos, "x")
			pos++
		}
		i++
	}
}

// BenchmarkApplyKeystroke applies remote one-character updates, as an editor
// does for a peer that types.
func BenchmarkApplyKeystroke(b *testing.B) {
	benchKeystroke(b, func(d *crdt.Doc, u []byte) error {
		_, err := d.Apply(u)
		return err
	})
}

// BenchmarkIntegrateKeystroke is BenchmarkApplyKeystroke without the change
// list, as a server applies the updates of a typing client.
func BenchmarkIntegrateKeystroke(b *testing.B) {
	benchKeystroke(b, (*crdt.Doc).Integrate)
}

func benchKeystroke(b *testing.B, apply func(d *crdt.Doc, u []byte) error) {
	src := fresh(1)
	txt := src.Text("body")
	txt.Insert(0, crdttest.Typing(1, 20000).EndContent)
	base := src.TakeUpdate()
	dst := fresh(2)
	dst.Apply(base)
	pos := txt.Len() / 2
	var us [][]byte
	for i := 0; i < 10000; i++ {
		txt.Insert(pos+i, "x")
		us = append(us, src.TakeUpdate())
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(us) {
			b.StopTimer()
			dst = fresh(2)
			dst.Apply(base)
			i = 0
			b.StartTimer()
		}
		if err := apply(dst, us[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMergeHistory applies each trace's full update (its whole history,
// what a client that was offline since the start catches up with) to an
// empty document; BenchmarkLoadSnapshot is the same state from a snapshot.
func BenchmarkMergeHistory(b *testing.B) {
	for _, t := range benchTraces(b) {
		upd := replay(b, t).EncodeUpdate(nil)
		b.Run(t.Name, func(b *testing.B) {
			b.SetBytes(int64(len(upd)))
			for b.Loop() {
				d, _ := crdt.NewDoc(2, crdt.Config{})
				if _, err := d.Apply(upd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
