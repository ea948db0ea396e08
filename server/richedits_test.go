package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// postEdits posts a JSON edit request to doc and returns the status and body.
func (ts *testServer) postEdits(t *testing.T, doc, body string) (int, []byte) {
	t.Helper()
	return do(t, http.MethodPost, ts.base+"/v1/docs/"+doc+"/edits", "application/json", []byte(body))
}

// richBody reads GET /v1/docs/{id} and returns its rich document of root as compact JSON
// ("" if the root is not rich), and the summary.
func (ts *testServer) richBody(t *testing.T, doc, root string) (string, map[string]json.RawMessage) {
	t.Helper()
	var sum map[string]json.RawMessage
	getJSON(t, ts.base+"/v1/docs/"+doc, http.StatusOK, &sum)
	var rich map[string]json.RawMessage
	if r, ok := sum["rich"]; ok {
		if err := json.Unmarshal(r, &rich); err != nil {
			t.Fatal(err)
		}
	}
	if r, ok := rich[root]; ok {
		return string(compactJSON(t, r)), sum
	}
	return "", sum
}

// TestHTTPRichEdits builds a formatted document through the JSON edits API on a real server, with
// an editor connected: the editor receives the embeds, marks and attributes, and GET
// /v1/docs/{id} returns the ProseMirror document beside the text. Marks then grow (bold) or not
// (link) as their expand says, and come off.
func TestHTTPRichEdits(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "rich-edit"
	e := ts.editor(t, doc, 61)
	if status, body := ts.postEdits(t, doc, `{"root":"body","edits":[
		{"index":0,"embed":{"block":"heading","level":1}},
		{"index":1,"insert":"Title"},
		{"index":6,"embed":{"block":"paragraph"}},
		{"index":7,"insert":"hello world"},
		{"index":7,"length":5,"format":{"bold":true}},
		{"index":13,"length":5,"format":{"link":{"href":"https://example.com"},"comment:c1":true}},
		{"index":0,"attrs":{"level":2}}]}`); status != http.StatusOK {
		t.Fatalf("edit = %d %s", status, body)
	}
	const wantText = "\uFFFCTitle\uFFFChello world"
	if err := e.Pump(0, func() bool { return e.Text("body") == wantText }); err != nil {
		t.Fatalf("editor: %v (text %q)", err, e.Text("body"))
	}
	got, sum := ts.richBody(t, doc, "body")
	want := `{"type":"doc","content":[` +
		`{"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"Title"}]},` +
		`{"type":"paragraph","content":[{"type":"text","text":"hello","marks":[{"type":"strong"}]},{"type":"text","text":" "},` +
		`{"type":"text","text":"world","marks":[{"type":"link","attrs":{"href":"https://example.com"}},{"type":"comment","attrs":{"id":"c1"}}]}]}]}`
	if got != want {
		t.Errorf("rich body = %s\nwant %s", got, want)
	}
	var texts map[string]string
	if err := json.Unmarshal(sum["texts"], &texts); err != nil || texts["body"] != wantText {
		t.Errorf("texts = %s (%v); want body %q", sum["texts"], err, wantText)
	}
	// The editor's replica renders the same document: the server sent every mark and attribute.
	if b, _ := json.Marshal(richDoc(e.Doc.Text("body").Spans())); string(b) != want {
		t.Errorf("editor's rich body = %s\nwant %s", b, want)
	}

	// Typing at the end of the bold word is bold; at the end of the link it is not. Then the
	// first two letters lose their bold.
	if status, body := ts.postEdits(t, doc, `{"root":"body","edits":[
		{"index":12,"insert":"!"},
		{"index":19,"insert":"?"},
		{"index":7,"length":2,"format":{"bold":null}}]}`); status != http.StatusOK {
		t.Fatalf("edit = %d %s", status, body)
	}
	got, _ = ts.richBody(t, doc, "body")
	want = `{"type":"doc","content":[` +
		`{"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"Title"}]},` +
		`{"type":"paragraph","content":[{"type":"text","text":"he"},{"type":"text","text":"llo!","marks":[{"type":"strong"}]},{"type":"text","text":" "},` +
		`{"type":"text","text":"world","marks":[{"type":"link","attrs":{"href":"https://example.com"}},{"type":"comment","attrs":{"id":"c1"}}]},{"type":"text","text":"?"}]}]}`
	if got != want {
		t.Errorf("after typing, rich body = %s\nwant %s", got, want)
	}
}

// TestHTTPRichEditsLists writes two ordered lists with nothing between them through the JSON
// edits API, the second one's start set afterwards as an attribute of its first item's marker:
// GET /v1/docs/{id} returns two lists, the second starting at 3 (docs/prosemirror.md section 1.1).
func TestHTTPRichEditsLists(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "rich-lists"
	if status, body := ts.postEdits(t, doc, `{"root":"body","edits":[
		{"index":0,"embed":{"block":"list_item","list":"ordered"}},
		{"index":1,"insert":"a"},
		{"index":2,"embed":{"block":"list_item","list":"ordered","listStart":true}},
		{"index":3,"insert":"b"},
		{"index":4,"embed":{"block":"list_item","list":"ordered"}},
		{"index":5,"insert":"c"},
		{"index":2,"attrs":{"listAttrs":{"order":3}}}]}`); status != http.StatusOK {
		t.Fatalf("edit = %d %s", status, body)
	}
	item := func(text string) string {
		return `{"type":"list_item","content":[{"type":"paragraph","content":[{"type":"text","text":"` + text + `"}]}]}`
	}
	want := `{"type":"doc","content":[` +
		`{"type":"ordered_list","content":[` + item("a") + `]},` +
		`{"type":"ordered_list","attrs":{"order":3},"content":[` + item("b") + `,` + item("c") + `]}]}`
	if got, _ := ts.richBody(t, doc, "body"); got != want {
		t.Errorf("rich body = %s\nwant %s", got, want)
	}
}

// TestHTTPPlainSummaryUnchanged checks that a Text root without embeds or marks is returned as
// before: its text, and no rich document.
func TestHTTPPlainSummaryUnchanged(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	if status, body := ts.postEdits(t, "plain", `{"root":"body","edits":[{"index":0,"insert":"just text"}]}`); status != http.StatusOK {
		t.Fatalf("edit = %d %s", status, body)
	}
	got, sum := ts.richBody(t, "plain", "body")
	if got != "" || sum["rich"] != nil {
		t.Errorf("plain document summary has rich = %s", sum["rich"])
	}
	if string(sum["texts"]) != `{"body":"just text"}` {
		t.Errorf("texts = %s", sum["texts"])
	}
}

// TestHTTPRichEditChecks is a table of rich edit requests against the document "\uFFFCab" (a
// paragraph marker, then text): each is refused with its status and code, or accepted. Each
// index counts in the text that the previous edits of the request leave.
func TestHTTPRichEditChecks(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	for i, tc := range []struct {
		name, edits string
		status      int
		code        string
	}{
		{"format and insert in one edit", `{"index":0,"insert":"x","format":{"bold":true},"length":1}`, 400, "bad_edit"},
		{"insert and embed in one edit", `{"index":0,"insert":"x","embed":{"inline":"hard_break"}}`, 400, "bad_edit"},
		{"format without length", `{"index":0,"format":{"bold":true}}`, 400, "bad_edit"},
		{"format without marks", `{"index":0,"length":1,"format":{}}`, 400, "bad_edit"},
		{"empty mark name", `{"index":0,"length":1,"format":{"":true}}`, 400, "bad_edit"},
		{"bad expand", `{"index":0,"length":1,"format":{"bold":true},"expand":"sideways"}`, 400, "bad_edit"},
		{"length without format", `{"index":0,"length":1,"insert":"x"}`, 400, "bad_edit"},
		{"expand without format", `{"index":0,"expand":"after","insert":"x"}`, 400, "bad_edit"},
		{"empty attrs", `{"index":0,"attrs":{}}`, 400, "bad_edit"},
		{"format past the end", `{"index":2,"length":2,"format":{"bold":true}}`, 422, "out_of_range"},
		{"attrs past the end", `{"index":3,"attrs":{"level":1}}`, 422, "out_of_range"},
		{"attrs on text", `{"index":1,"attrs":{"level":1}}`, 422, "not_embed"},
		{"attrs on what was the embed", `{"index":0,"insert":"zz"},{"index":0,"attrs":{"level":1}}`, 422, "not_embed"},
		{"attrs on the embed moved", `{"index":0,"insert":"zz"},{"index":2,"attrs":{"block":"heading"}}`, 200, ""},
		{"attrs on an embed of the request", `{"index":3,"embed":{"inline":"image"}},{"index":3,"attrs":{"src":"a.png"}}`, 200, ""},
		{"attrs after the embed's deletion", `{"index":0,"delete":1},{"index":0,"attrs":{"level":1}}`, 422, "not_embed"},
		{"format over a request's insert", `{"index":3,"insert":"cd"},{"index":1,"length":4,"format":{"italic":true},"expand":"both"}`, 200, ""},
	} {
		doc := fmt.Sprintf("checks-%d", i)
		t.Run(tc.name, func(t *testing.T) {
			if status, body := ts.postEdits(t, doc, `{"root":"body","edits":[{"index":0,"embed":{"block":"paragraph"}},{"index":1,"insert":"ab"}]}`); status != http.StatusOK {
				t.Fatalf("setup = %d %s", status, body)
			}
			status, body := ts.postEdits(t, doc, `{"root":"body","edits":[`+tc.edits+`]}`)
			if status != tc.status {
				t.Fatalf("edits %s = %d %s; want %d", tc.edits, status, body, tc.status)
			}
			if tc.code == "" {
				return
			}
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Code != tc.code {
				t.Errorf("error body = %s; want code %q", body, tc.code)
			}
			if got := ts.serverText(t, doc, "body"); got != "\uFFFCab" {
				t.Errorf("refused edits changed the text to %q", got)
			}
		})
	}
}

// TestHTTPSeedRich seeds a document with rich content through PUT /v1/docs/{id}, which takes the
// edits of POST /v1/docs/{id}/edits: the first seed creates it, the second changes nothing.
func TestHTTPSeedRich(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	seed := []byte(`{"root":"body","edits":[
		{"index":0,"embed":{"block":"heading","level":1}},{"index":1,"insert":"Notes"},
		{"index":6,"embed":{"block":"list_item","list":"ordered"}},{"index":7,"insert":"first"},
		{"index":7,"length":5,"format":{"italic":true}}]}`)
	for i, want := range []int{http.StatusCreated, http.StatusOK} {
		if status, body := do(t, http.MethodPut, ts.base+"/v1/docs/seeded", "application/json", seed); status != want {
			t.Fatalf("seed %d = %d %s; want %d", i, status, body, want)
		}
	}
	got, _ := ts.richBody(t, "seeded", "body")
	want := `{"type":"doc","content":[{"type":"heading","attrs":{"level":1},"content":[{"type":"text","text":"Notes"}]},` +
		`{"type":"ordered_list","content":[{"type":"list_item","content":[{"type":"paragraph","content":[{"type":"text","text":"first","marks":[{"type":"em"}]}]}]}]}]}`
	if got != want {
		t.Errorf("seeded rich body = %s\nwant %s", got, want)
	}
}
