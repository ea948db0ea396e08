package crdt_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
)

// richSplitVectors holds the golden vectors of SplitUpdate on rich-text
// updates (embeds, marks, attributes, docs/crdt.md section 4.4), which the
// JavaScript twin reads too; same format as testdata/crdt/split.json.
const richSplitVectors = "../testdata/crdt/split-rich.json"

// richSplitVectorUpdates returns the updates of the rich golden vectors.
func richSplitVectorUpdates(t *testing.T) []splitVector {
	t.Helper()
	var out []splitVector
	add := func(name string, max int, u []byte) {
		out = append(out, splitVector{Name: name, Max: max, Update: hex.EncodeToString(u)})
	}
	a, b := newDoc(t, 5), newDoc(t, 1<<50+3)
	ta := a.Text("body")
	mustDo(t, ta.InsertEmbed(0, []byte(`{"block":"heading","level":1}`)))
	mustDo(t, ta.Insert(1, "héllo wörld, 中文 and 😀 "+strings.Repeat("ab", 20)))
	mustDo(t, ta.InsertEmbed(8, []byte(`{"inline":"image","src":"`+strings.Repeat("x", 12)+`.png"}`)))
	mustDo(t, ta.Format(1, 12, "bold", []byte("true"), crdt.ExpandAfter))
	mustDo(t, ta.Format(3, 30, "comment:c1", []byte(`{"by":"someone"}`), crdt.ExpandNone))
	mustDo(t, ta.SetAttr(0, "level", []byte("2")))
	ua := a.TakeUpdate()
	mustApply(t, b, ua)
	tb := b.Text("body")
	mustDo(t, tb.InsertEmbed(20, []byte(`{"block":"list_item","list":"bullet"}`)))
	mustDo(t, tb.Format(0, 25, "link", []byte(`{"href":"https://example.com/a"}`), crdt.ExpandNone))
	mustDo(t, tb.Format(2, 5, "bold", nil, crdt.ExpandAfter))
	mustDo(t, tb.SetAttr(0, "block", []byte(`"paragraph"`)))
	mustDo(t, tb.Delete(8, 1))                               // the image: a deleted embed is a deleted text item
	mustDo(t, ta.SetAttr(0, "block", []byte(`"list_item"`))) // concurrent: one of them loses
	mustApply(t, a, b.TakeUpdate())
	mustApply(t, b, a.TakeUpdate())
	add("embeds, marks and attributes of one client", 80, ua)
	all := a.EncodeUpdate(nil)
	for _, max := range []int{80, 120, 200} {
		add(fmt.Sprintf("two clients, embeds, marks, attributes, a deleted embed; max %d", max), max, all)
	}
	return out
}

// TestRichSplitUpdateGolden checks SplitUpdate against
// testdata/crdt/split-rich.json; with -update it rewrites the file.
func TestRichSplitUpdateGolden(t *testing.T) {
	if *update {
		vs := richSplitVectorUpdates(t)
		for i := range vs {
			u, _ := hex.DecodeString(vs[i].Update)
			parts, err := crdt.SplitUpdate(u, vs[i].Max)
			if err != nil {
				t.Fatalf("%s: %v", vs[i].Name, err)
			}
			if len(parts) < 2 {
				t.Fatalf("%s: %d parts; a vector should split", vs[i].Name, len(parts))
			}
			for _, p := range parts {
				vs[i].Parts = append(vs[i].Parts, hex.EncodeToString(p))
			}
		}
		b, err := json.MarshalIndent(vs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(richSplitVectors, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(richSplitVectors)
	if err != nil {
		t.Fatal(err)
	}
	var vs []splitVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("%s: %v", richSplitVectors, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s holds no vectors", richSplitVectors)
	}
	for _, v := range vs {
		u, err := hex.DecodeString(v.Update)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		parts, err := crdt.SplitUpdate(u, v.Max)
		if err != nil {
			t.Errorf("%s: SplitUpdate: %v", v.Name, err)
			continue
		}
		got := make([]string, len(parts))
		for i, p := range parts {
			got[i] = hex.EncodeToString(p)
		}
		if strings.Join(got, "\n") != strings.Join(v.Parts, "\n") {
			t.Errorf("%s: SplitUpdate(max %d) =\n%s\nwant\n%s", v.Name, v.Max, strings.Join(got, "\n"), strings.Join(v.Parts, "\n"))
		}
		checkSame(t, v.Name, nil, u, parts)
	}
}
