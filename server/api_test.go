package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// TestHTTPErrors is a table of requests that must be refused, each with its status and error code.
func TestHTTPErrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxMessageBytes = 1024
	ts := startServer(t, cfg, nil)
	// One document that exists, for the requests that need one.
	if status, body := do(t, http.MethodPost, ts.base+"/v1/docs/known/edits", "application/json",
		[]byte(`{"root":"body","edits":[{"index":0,"insert":"abc"}]}`)); status != http.StatusOK {
		t.Fatalf("setup edit = %d %s", status, body)
	}
	long := strings.Repeat("x", 129)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"bad id char", "GET", "/v1/docs/a!b", "", 400, "bad_doc_id"},
		{"id too long", "GET", "/v1/docs/" + long, "", 400, "bad_doc_id"},
		{"id too long ws", "GET", "/v1/docs/" + long + "/ws", "", 400, "bad_doc_id"},
		{"dot dot", "GET", "/v1/docs/..x/update", "", 404, "not_found"},
		{"unknown doc", "GET", "/v1/docs/nope", "", 404, "not_found"},
		{"unknown doc update", "GET", "/v1/docs/nope/update", "", 404, "not_found"},
		{"unknown doc delete", "DELETE", "/v1/docs/nope", "", 404, "not_found"},
		{"bad base64", "GET", "/v1/docs/known/update?sv=%21%21", "", 400, "bad_base64"},
		{"not a state vector", "GET", "/v1/docs/known/update?sv=AAAA", "", 400, "bad_state_vector"},
		{"bad json", "POST", "/v1/docs/known/edits", `{"root":`, 400, "bad_json"},
		{"json trailing", "POST", "/v1/docs/known/edits", `{"root":"body","edits":[{"index":0,"insert":"a"}]} {}`, 400, "bad_json"},
		{"unknown field", "POST", "/v1/docs/known/edits", `{"root":"body","edit":[]}`, 400, "bad_json"},
		{"nothing to do", "POST", "/v1/docs/known/edits", `{"root":"body"}`, 400, "bad_edit"},
		{"no root", "POST", "/v1/docs/known/edits", `{"edits":[{"index":0,"insert":"a"}]}`, 400, "bad_edit"},
		{"negative index", "POST", "/v1/docs/known/edits", `{"root":"body","edits":[{"index":-1,"insert":"a"}]}`, 400, "bad_edit"},
		{"empty edit", "POST", "/v1/docs/known/edits", `{"root":"body","edits":[{"index":0}]}`, 400, "bad_edit"},
		{"set and delete", "POST", "/v1/docs/known/edits", `{"map":{"root":"m","set":{"k":1},"delete":["k"]}}`, 400, "bad_edit"},
		{"out of range", "POST", "/v1/docs/known/edits", `{"root":"body","edits":[{"index":4,"insert":"a"}]}`, 422, "out_of_range"},
		{"delete past end", "POST", "/v1/docs/known/edits", `{"root":"body","edits":[{"index":1,"delete":3}]}`, 422, "out_of_range"},
		{"body too big", "POST", "/v1/docs/known/edits", `{"root":"body","edits":[{"index":0,"insert":"` + strings.Repeat("a", 2000) + `"}]}`, 413, "too_large"},
		{"empty update", "POST", "/v1/docs/known/update", "", 400, "empty_body"},
		{"garbage update", "POST", "/v1/docs/known/update", "\x01\xff\xff", 422, "invalid_update"},
		{"bad limit", "GET", "/v1/docs?limit=0", "", 400, "bad_limit"},
		{"bad limit word", "GET", "/v1/docs?limit=ten", "", 400, "bad_limit"},
		{"bad after", "GET", "/v1/docs?after=a/b", "", 400, "bad_after"},
		{"unknown route", "GET", "/v1/nope", "", 404, "not_found"},
		{"method not allowed", "PATCH", "/v1/docs/known", "", 405, "method_not_allowed"},
		{"ws without upgrade", "GET", "/v1/docs/known/ws", "", 400, "bad_handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, ts.base+tc.path, "", []byte(tc.body))
			if status != tc.status {
				t.Fatalf("%s %s = %d %s; want %d", tc.method, tc.path, status, body, tc.status)
			}
			var e errorBody
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if e.Code != tc.code || e.Error == "" {
				t.Errorf("error body = %+v; want code %q and a message", e, tc.code)
			}
		})
	}
	// None of the refused writes changed the document.
	if got := ts.serverText(t, "known", "body"); got != "abc" {
		t.Errorf("text = %q; want %q", got, "abc")
	}
}

// TestHTTPEditSeenByEditor checks that an HTTP edit reaches a connected editor at once and is in
// the document's summary, with map values.
func TestHTTPEditSeenByEditor(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "api-edit"
	e := ts.editor(t, doc, 41)
	if err := e.Insert("body", 0, "world"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	status, body := do(t, http.MethodPost, ts.base+"/v1/docs/"+doc+"/edits", "application/json",
		[]byte(`{"root":"body","edits":[{"index":0,"insert":"hello "},{"index":11,"insert":"!"}],
		  "map":{"root":"meta","set":{"title":"Greeting","n":3}}}`))
	if status != http.StatusOK {
		t.Fatalf("edit = %d %s", status, body)
	}
	var wr writeResponse
	if err := json.Unmarshal(body, &wr); err != nil || wr.StateVector == "" {
		t.Fatalf("edit body %s: %v", body, err)
	}
	if err := e.Pump(0, func() bool { return e.Text("body") == "hello world!" }); err != nil {
		t.Fatalf("editor: %v (text %q)", err, e.Text("body"))
	}
	if v, ok := e.Doc.Map("meta").Get("title"); !ok || string(v) != `"Greeting"` {
		t.Errorf("editor map title = %s, %v", v, ok)
	}
	var sum docSummary
	getJSON(t, ts.base+"/v1/docs/"+doc, http.StatusOK, &sum)
	if sum.Texts["body"] != "hello world!" || string(sum.Maps["meta"]["n"]) != "3" || sum.Connections != 1 || sum.Updated == nil {
		t.Errorf("summary = %+v", sum)
	}
	if sum.StateVector != wr.StateVector {
		t.Errorf("summary state vector %q; the edit answered %q", sum.StateVector, wr.StateVector)
	}
	// A map deletion.
	status, body = do(t, http.MethodPost, ts.base+"/v1/docs/"+doc+"/edits", "application/json",
		[]byte(`{"map":{"root":"meta","delete":["n","absent"]}}`))
	if status != http.StatusOK {
		t.Fatalf("map delete = %d %s", status, body)
	}
	if err := e.Pump(0, func() bool { _, ok := e.Doc.Map("meta").Get("n"); return !ok }); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPUpdateRoundTrip posts a binary update, reads updates back by state vector, and lists
// documents page by page.
func TestHTTPUpdateRoundTrip(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	d, _ := crdt.NewDoc(51, crdt.Config{})
	_ = d.Text("body").Insert(0, "first")
	first := d.TakeUpdate()
	svFirst := d.StateVector()
	_ = d.Text("body").Insert(5, " second")
	second := d.TakeUpdate()
	for _, u := range [][]byte{first, second} {
		if status, body := do(t, http.MethodPost, ts.base+"/v1/docs/bin/update", "application/octet-stream", u); status != http.StatusOK {
			t.Fatalf("post update = %d %s", status, body)
		}
	}
	// Posting the same update again is harmless.
	if status, body := do(t, http.MethodPost, ts.base+"/v1/docs/bin/update", "application/octet-stream", second); status != http.StatusOK {
		t.Fatalf("post update again = %d %s", status, body)
	}
	sv := base64.RawURLEncoding.EncodeToString(crdt.EncodeStateVector(svFirst))
	status, upd := do(t, http.MethodGet, ts.base+"/v1/docs/bin/update?sv="+sv, "", nil)
	if status != http.StatusOK {
		t.Fatalf("get update = %d %s", status, upd)
	}
	r, _ := crdt.NewDoc(52, crdt.Config{})
	if _, err := r.Apply(first); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(upd); err != nil {
		t.Fatal(err)
	}
	if got := r.Text("body").String(); got != "first second" {
		t.Errorf("first + update since = %q; want %q", got, "first second")
	}
	if want := d.EncodeUpdate(svFirst); !bytes.Equal(upd, want) {
		t.Errorf("update since = %x; want %x", upd, want)
	}

	// Listing, two per page.
	for _, id := range []string{"a1", "a2", "a3"} {
		if status, body := do(t, http.MethodPost, ts.base+"/v1/docs/"+id+"/update", "", first); status != http.StatusOK {
			t.Fatalf("post %s = %d %s", id, status, body)
		}
	}
	var ids []string
	after := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("too many pages")
		}
		var lr listResponse
		getJSON(t, ts.base+"/v1/docs?limit=2&after="+after, http.StatusOK, &lr)
		if len(lr.Documents) > 2 {
			t.Fatalf("page of %d; want at most 2", len(lr.Documents))
		}
		for _, d := range lr.Documents {
			ids = append(ids, d.ID)
			if d.SizeBytes == 0 || d.Updated.IsZero() {
				t.Errorf("listed %+v; want size and time", d)
			}
		}
		if lr.Next == "" {
			break
		}
		after = lr.Next
	}
	if got, want := strings.Join(ids, ","), "a1,a2,a3,bin"; got != want {
		t.Errorf("listed %s; want %s", got, want)
	}
}

// TestDelete deletes a document with an editor connected: the editor gets 4404, the document is
// gone from storage and from the API, and a later write starts it afresh.
func TestDelete(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	const doc = "doomed"
	e := ts.editor(t, doc, 61)
	if err := e.Insert("body", 0, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	if status, body := do(t, http.MethodDelete, ts.base+"/v1/docs/"+doc, "", nil); status != http.StatusNoContent {
		t.Fatalf("delete = %d %s", status, body)
	}
	cl, err := e.ExpectClose(0)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Code != int(protocol.CloseDocumentDeleted) || cl.Message == nil || cl.Message.Code != protocol.CloseDocumentDeleted {
		t.Errorf("editor closed with %v; want error message and 4404", cl)
	}
	if _, ok, err := ts.inner.Stat(doc); ok || err != nil {
		t.Errorf("Stat after delete = %v, %v; want not found", ok, err)
	}
	getJSON(t, ts.base+"/v1/docs/"+doc, http.StatusNotFound, nil)
	// Deleting again: not found.
	if status, _ := do(t, http.MethodDelete, ts.base+"/v1/docs/"+doc, "", nil); status != http.StatusNotFound {
		t.Errorf("second delete = %d; want 404", status)
	}
	// A new editor starts an empty document of the same name.
	f := ts.editor(t, doc, 62)
	if got := f.Text("body"); got != "" {
		t.Errorf("after delete, new editor sees %q; want empty", got)
	}
}

func TestHealthReadyMetricsStatic(t *testing.T) {
	ts := startServer(t, testConfig(t), nil)
	for _, tc := range []struct{ path, want string }{
		{"/healthz", `"ok"`},
		{"/readyz", `"ready"`},
		{"/metrics", "tandem_connections 0"},
		{"/metrics", `tandem_refusals_total{reason="origin"} 0`},
		{"/", "<title>"},
	} {
		status, body := do(t, http.MethodGet, ts.base+tc.path, "", nil)
		if status != http.StatusOK || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s = %d %.200s; want 200 containing %q", tc.path, status, body, tc.want)
		}
	}
	ts.shutdown(t)
	rec := httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz after shutdown = %d; want 503", rec.Code)
	}
	rec = httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("healthz after shutdown = %d; want 200", rec.Code)
	}
	rec = httptest.NewRecorder()
	ts.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/docs/x/update", strings.NewReader("x")))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("write after shutdown = %d %s; want 503", rec.Code, rec.Body)
	}
}

// TestDocumentTooLarge checks the document size limit on both paths.
func TestDocumentTooLarge(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxDocumentBytes = 2000
	ts := startServer(t, cfg, nil)
	e := ts.editor(t, "big", 71)
	if err := e.Insert("body", 0, strings.Repeat("a", 1500)); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	status, body := do(t, http.MethodPost, ts.base+"/v1/docs/big/edits", "application/json",
		[]byte(fmt.Sprintf(`{"root":"body","edits":[{"index":0,"insert":%q}]}`, strings.Repeat("b", 600))))
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("edit past the limit = %d %s; want 413", status, body)
	}
	if err := e.Insert("body", 0, strings.Repeat("c", 600)); err != nil {
		t.Fatal(err)
	}
	cl, err := e.ExpectClose(0)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Code != int(protocol.CloseDocumentTooLarge) {
		t.Errorf("update past the limit: closed with %v; want 4413", cl)
	}
	if got := len(ts.serverText(t, "big", "body")); got != 1500 {
		t.Errorf("server text has %d bytes; want 1500", got)
	}
}
