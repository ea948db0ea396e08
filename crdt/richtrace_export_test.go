package crdt_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

var flagRichTraceOut = flag.String("richtrace-out", "", "write the benchmarks' generated rich-text trace to this file as JSON lines (bench/rich-vs.mjs replays it)")

// richTraceLine is one edit of the exported trace. Kind is i (insert Text), d
// (delete N), e (embed Value), f (mark Name = Value over N, null removes,
// with Expand: none, before, after or both) or a (attribute Name = Value of
// the embed at P).
type richTraceLine struct {
	Kind   string          `json:"k"`
	Pos    int             `json:"p"`
	N      int             `json:"n,omitempty"`
	Text   string          `json:"t,omitempty"`
	Name   string          `json:"name,omitempty"`
	Value  json.RawMessage `json:"v,omitempty"`
	Expand string          `json:"x,omitempty"`
}

// TestRichTraceExport writes the rich-text trace of BenchmarkRichTrace for
// other libraries to replay, with -richtrace-out FILE:
//
//	go test ./crdt -run TestRichTraceExport -richtrace-out /tmp/rich-trace.jsonl
//
// The attributes the replay skips (their position no longer holds an embed)
// are left out, and the last line holds the replayed text's length and its
// spans, for the replays to check themselves against. Without the flag it
// checks that every line encodes.
func TestRichTraceExport(t *testing.T) {
	n := richTraceOps
	if *flagRichTraceOut == "" {
		n = 2_000
	}
	d, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	text := d.Text("body")
	var lines []richTraceLine
	for i, op := range crdttest.RichTrace(1, n) {
		l := richTraceLine{Pos: op.Pos, N: op.N, Text: op.Text, Name: op.Name, Value: op.Value}
		switch op.Kind {
		case crdttest.RichInsert:
			l.Kind = "i"
		case crdttest.RichDelete:
			l.Kind = "d"
		case crdttest.RichEmbed:
			l.Kind = "e"
		case crdttest.RichFormat:
			l.Kind = "f"
			if op.Value == nil {
				l.Value = json.RawMessage("null")
			}
			l.Expand = [...]string{"none", "before", "after", "both"}[op.Expand]
		case crdttest.RichAttr:
			l.Kind = "a"
			l.N = 0
			if err := text.SetAttr(op.Pos, op.Name, op.Value); errors.Is(err, crdt.ErrNotEmbed) {
				continue
			}
		}
		if op.Kind != crdttest.RichAttr {
			if err := crdttest.ApplyRich(text, op); err != nil {
				t.Fatalf("edit %d %+v: %v", i, op, err)
			}
		}
		lines = append(lines, l)
	}
	out := os.Stdout
	if *flagRichTraceOut != "" {
		f, err := os.Create(*flagRichTraceOut)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out = f
	} else {
		f, err := os.CreateTemp(t.TempDir(), "rich")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	end := struct {
		Len    int    `json:"len"`
		Spans  int    `json:"spans"`
		Embeds int    `json:"embeds"`
		Text   string `json:"text"`
		Final  bool   `json:"final"`
	}{Len: text.Len(), Final: true}
	for _, s := range text.Spans() {
		end.Spans++
		if s.Embed != nil {
			end.Embeds++
			end.Text += "\n"
		} else {
			end.Text += s.Insert
		}
	}
	if err := enc.Encode(end); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}
