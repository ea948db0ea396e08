package crdt_test

import (
	"encoding/hex"
	"fmt"
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
	checkSplitGolden(t, richSplitVectors, richSplitVectorUpdates)
}
