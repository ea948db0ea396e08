package crdt_test

import (
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

// richTraceOps is the length of the generated rich-text trace of the benchmarks.
const richTraceOps = 120_000

// replayRich applies a generated rich-text trace as local edits of one
// document, and returns it with the update of every edit when updates is set.
func replayRich(tb testing.TB, ops []crdttest.RichOp, updates bool) (*crdt.Doc, [][]byte) {
	d, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	t := d.Text("body")
	var us [][]byte
	for i, op := range ops {
		if err := crdttest.ApplyRich(t, op); err != nil {
			tb.Fatalf("edit %d %+v: %v", i, op, err)
		}
		if updates {
			if u := d.TakeUpdate(); u != nil {
				us = append(us, u)
			}
		}
	}
	return d, us
}

// BenchmarkRichTrace replays a generated rich-text session of 120,000 edits
// (typing, backspaces, block splits, block attributes, marks and their
// removal): as local edits (replay), as one update per edit applied to
// another replica (apply), and loads its snapshot (load); spans resolves the
// marks of the whole document once. Beside wall time each reports the
// process's CPU time per operation (cpu-ns/op), steadier on a shared machine.
func BenchmarkRichTrace(b *testing.B) {
	ops := crdttest.RichTrace(1, richTraceOps)
	final, us := replayRich(b, ops, true)
	snap := final.EncodeSnapshot()
	b.Run("replay", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			replayRich(b, ops, false)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(len(snap)), "snapshot-bytes")
		b.ReportMetric(float64(final.Text("body").Len()), "doc-len")
	})
	// The same session as plain text: embeds typed as newlines, no marks or
	// attributes, so that the positions are the same.
	var plainOps []crdttest.RichOp
	for _, op := range ops {
		switch op.Kind {
		case crdttest.RichEmbed:
			plainOps = append(plainOps, crdttest.RichOp{Kind: crdttest.RichInsert, Pos: op.Pos, Text: "\n"})
		case crdttest.RichInsert, crdttest.RichDelete:
			plainOps = append(plainOps, op)
		}
	}
	plain, _ := replayRich(b, plainOps, false)
	b.Run("replay-plain", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			replayRich(b, plainOps, false)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(len(plain.EncodeSnapshot())), "snapshot-bytes")
	})
	b.Run("apply", func(b *testing.B) {
		cpu := cpuTime()
		defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			d := fresh(2)
			for _, u := range us {
				if _, err := d.Apply(u); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("load", func(b *testing.B) {
		cpu := cpuTime()
		defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			d := fresh(2)
			if _, err := d.Apply(snap); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		cpu := cpuTime()
		defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			final.EncodeSnapshot()
		}
	})
	b.Run("spans", func(b *testing.B) {
		t := final.Text("body")
		cpu := cpuTime()
		defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			t.Spans()
		}
	})
}

// TestRichTraceReload checks the benchmark's trace: a replica that applies
// its updates, and one that loads its snapshot, equal the author.
func TestRichTraceReload(t *testing.T) {
	n := richTraceOps
	if testing.Short() {
		n = 20_000
	}
	final, us := replayRich(t, crdttest.RichTrace(1, n), true)
	a, l := fresh(2), fresh(3)
	for _, u := range us {
		if _, err := a.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Apply(final.EncodeSnapshot()); err != nil {
		t.Fatal(err)
	}
	if err := crdttest.Compare(final, a, l); err != nil {
		t.Fatal(err)
	}
}
