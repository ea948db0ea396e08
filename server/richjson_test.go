package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemhq/tandem/crdt"
)

var update = flag.Bool("update", false, "rewrite the expected documents of testdata/prosemirror/cases.json")

// richCase is one case of testdata/prosemirror/cases.json: a Text root's spans, in the form the
// golden scenarios print them (docs/crdt.md section 4.5), and the ProseMirror document they
// render as (docs/richtext.md).
type richCase struct {
	Name  string            `json:"name"`
	Spans []json.RawMessage `json:"spans"`
	Doc   json.RawMessage   `json:"doc"`
}

// spanOf decodes one span of a case.
func spanOf(t *testing.T, raw json.RawMessage) crdt.Span {
	t.Helper()
	var s struct {
		Insert *string                    `json:"insert"`
		Embed  json.RawMessage            `json:"embed"`
		Attrs  map[string]json.RawMessage `json:"attrs"`
		Marks  map[string]json.RawMessage `json:"marks"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("span %s: %v", raw, err)
	}
	if (s.Insert == nil) == (s.Embed == nil) {
		t.Fatalf("span %s: want insert or embed", raw)
	}
	sp := crdt.Span{Embed: s.Embed, Attrs: s.Attrs, Marks: s.Marks}
	if s.Insert != nil {
		sp.Insert = *s.Insert
	}
	return sp
}

// TestRichDocCases renders every case of testdata/prosemirror/cases.json, the file that the
// JavaScript binding reads too, and compares the whole document.
func TestRichDocCases(t *testing.T) {
	path := filepath.Join("..", "testdata", "prosemirror", "cases.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []richCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			spans := make([]crdt.Span, 0, len(tc.Spans))
			for _, raw := range tc.Spans {
				spans = append(spans, spanOf(t, raw))
			}
			got, err := json.Marshal(richDoc(spans))
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				cases[i].Doc = got
				return
			}
			if !bytes.Equal(got, compactJSON(t, tc.Doc)) {
				t.Errorf("richDoc(%s)\n= %s\nwant %s", tc.Spans, got, tc.Doc)
			}
		})
	}
	if *update {
		var b bytes.Buffer
		b.WriteString("[\n")
		for i, c := range cases {
			line, _ := json.Marshal(c)
			b.WriteString("  ")
			b.Write(line)
			if i < len(cases)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString("]\n")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func compactJSON(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.Bytes()
}
