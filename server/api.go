package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/crdt"
)

// List paging bounds.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// apiRoutes adds the document API under /v1.
func (s *Server) apiRoutes(r chi.Router) {
	r.Get("/docs", s.handleList)
	r.Get("/docs/{id}", s.handleGetDoc)
	r.Delete("/docs/{id}", s.handleDeleteDoc)
	r.Get("/docs/{id}/ws", s.handleWS)
	r.Get("/docs/{id}/update", s.handleGetUpdate)
	r.Post("/docs/{id}/update", s.handlePostUpdate)
	r.Post("/docs/{id}/edits", s.handlePostEdits)
	r.Put("/docs/{id}", s.handleSeed)          // seed.go
	r.Get("/docs/{id}/access", s.handleAccess) // access.go
	r.Options("/docs/{id}/access", s.handleAccessPreflight)
	r.Get("/revocations", s.handleListRevocations) // security: revoke.go
	r.Post("/revocations", s.handleRevoke)
}

// docRequest validates the document ID of the path and authorizes the caller. On failure it has
// answered the request and returns ok false.
func (s *Server) docRequest(w http.ResponseWriter, r *http.Request) (id string, who principal, ok bool) {
	id = chi.URLParam(r, "id")
	if !auth.ValidDocumentID(id) {
		s.refuse(reasonBadDocID)
		writeError(w, http.StatusBadRequest, "bad_doc_id", "document IDs are 1 to 128 characters of letters, digits, '.', '_', '-' and ':'")
		return "", principal{}, false
	}
	who, err := s.authorize(r, id)
	if err != nil {
		s.refuseErr(err)
		s.writeHTTPError(w, err)
		return "", principal{}, false
	}
	if s.isClosing() {
		s.writeHTTPError(w, ErrShuttingDown)
		return "", principal{}, false
	}
	return id, who, true
}

// writerRequest is docRequest for a request that changes the document: it also refuses a caller
// who may only read.
func (s *Server) writerRequest(w http.ResponseWriter, r *http.Request) (id string, who principal, ok bool) {
	if id, who, ok = s.docRequest(w, r); ok && !who.Role.CanWrite() {
		s.refuseErr(errReadOnly)
		s.writeHTTPError(w, errReadOnly)
		return "", principal{}, false
	}
	return id, who, ok
}

// listEntry is one document in GET /v1/docs.
type listEntry struct {
	ID        string    `json:"id"`
	SizeBytes int64     `json:"sizeBytes"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// listResponse is the body of GET /v1/docs. Next is the after of the next page, empty on the last.
type listResponse struct {
	Documents []listEntry `json:"documents"`
	Next      string      `json:"next,omitempty"`
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	who, err := s.authorize(r, "")
	if err != nil {
		s.refuseErr(err)
		s.writeHTTPError(w, err)
		return
	}
	q := r.URL.Query()
	after := q.Get("after")
	if after != "" && !auth.ValidDocumentID(after) {
		writeError(w, http.StatusBadRequest, "bad_after", "after must be a document ID")
		return
	}
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			writeError(w, http.StatusBadRequest, "bad_limit", fmt.Sprintf("limit must be an integer from 1 to %d", maxListLimit))
			return
		}
		limit = n
	}
	docs, next, err := s.listAllowed(r.Context(), who, after, limit) // security: only the token's documents (auth.go)
	if err != nil {
		s.writeHTTPError(w, fmt.Errorf("server: list: %w", err))
		return
	}
	resp := listResponse{Documents: make([]listEntry, 0, len(docs)), Next: next}
	for _, d := range docs {
		resp.Documents = append(resp.Documents, listEntry{
			ID:        d.ID,
			SizeBytes: d.Meta.SnapshotBytes + d.Meta.LogBytes,
			Created:   d.Meta.Created,
			Updated:   d.Meta.Updated,
		})
	}
	writeJSON(w, http.StatusOK, resp)
}

// docSummary is the body of GET /v1/docs/{id}.
type docSummary struct {
	ID string `json:"id"`
	// Texts holds the text of every Text root, by name.
	Texts map[string]string `json:"texts"`
	// Rich holds, for every Text root with an embed or a mark, its content as a ProseMirror
	// document (richjson.go, docs/richtext.md); its text stays in Texts.
	Rich map[string]*pmNode `json:"rich,omitempty"`
	// Maps holds the values of every Map root, by root name, then key.
	Maps map[string]map[string]json.RawMessage `json:"maps"`
	// StateVector is the document's state vector (docs/crdt.md, 0x03 format), base64url without
	// padding: pass it as sv to GET /v1/docs/{id}/update to get what changed since.
	StateVector string `json:"stateVector"`
	// SizeBytes is what the document stores: snapshot plus update log.
	SizeBytes int64 `json:"sizeBytes"`
	// Updated is when the document's last write became durable; absent if never.
	Updated *time.Time `json:"updated,omitempty"`
	// Connections is the number of editors connected now.
	Connections int `json:"connections"`
}

// summary describes the document for GET /v1/docs/{id}.
func (a *actor) summary() *docSummary {
	sum := &docSummary{
		ID:          a.id,
		Texts:       map[string]string{},
		Maps:        map[string]map[string]json.RawMessage{},
		StateVector: encodeSV(crdt.EncodeStateVector(a.stateVector())),
		SizeBytes:   a.docBytes(),
		Connections: a.core.Members(),
	}
	for _, root := range a.doc.Roots() {
		switch root.Kind {
		case crdt.KindText:
			t := a.doc.Text(root.Name)
			sum.Texts[root.Name] = t.String()
			if spans := t.Spans(); isRich(spans) {
				if sum.Rich == nil {
					sum.Rich = map[string]*pmNode{}
				}
				sum.Rich[root.Name] = richDoc(spans)
			}
		case crdt.KindMap:
			m := a.doc.Map(root.Name)
			vals := map[string]json.RawMessage{}
			for _, k := range m.Keys() {
				if v, ok := m.Get(k); ok {
					vals[k] = v
				}
			}
			sum.Maps[root.Name] = vals
		}
	}
	if !a.updated.IsZero() {
		t := a.updated.UTC()
		sum.Updated = &t
	}
	return sum
}

// encodeSV encodes state vector bytes for JSON and URLs: base64url without padding.
func encodeSV(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decodeSV decodes the sv parameter: base64url, padded or not; empty means the empty state vector.
func decodeSV(s string) (crdt.StateVector, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, &httpError{status: http.StatusBadRequest, code: "bad_base64", msg: "sv is not base64url"}
	}
	if len(b) == 0 {
		return nil, nil
	}
	sv, err := crdt.DecodeStateVector(b)
	if err != nil {
		return nil, &httpError{status: http.StatusBadRequest, code: "bad_state_vector", msg: "sv is not a state vector: " + err.Error()}
	}
	return sv, nil
}

// known returns errNotFound for a document that is neither open nor stored, without loading it.
func (s *Server) known(id string) error {
	a, err := s.docs.get(id, false)
	if err != nil || a != nil {
		return err
	}
	_, ok, err := s.store.Stat(id)
	if err != nil {
		return fmt.Errorf("server: stat %q: %w", id, err)
	}
	if !ok {
		return errNotFound
	}
	return nil
}

// read asks the document's actor for a read. A document that is neither open nor stored is not
// found, without loading anything.
func (s *Server) read(ctx context.Context, id string, m func(reply chan readResult) message) (readResult, error) {
	if err := s.known(id); err != nil {
		return readResult{}, err
	}
	res, _, err := call(ctx, s.docs, id, true, m)
	if err != nil {
		return readResult{}, err
	}
	return res, res.err
}

func (s *Server) handleGetDoc(w http.ResponseWriter, r *http.Request) {
	id, _, ok := s.docRequest(w, r)
	if !ok {
		return
	}
	res, err := s.read(r.Context(), id, func(reply chan readResult) message { return readMsg{reply: reply} })
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res.summary)
}

func (s *Server) handleGetUpdate(w http.ResponseWriter, r *http.Request) {
	id, _, ok := s.docRequest(w, r)
	if !ok {
		return
	}
	since, err := decodeSV(r.URL.Query().Get("sv"))
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	res, err := s.read(r.Context(), id, func(reply chan readResult) message {
		return readMsg{update: true, since: since, reply: reply}
	})
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(res.update)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.update)
}

// writeResponse is the body of a successful write.
type writeResponse struct {
	// StateVector is the document's state vector once the write is durable, base64url.
	StateVector string `json:"stateVector"`
}

// readBody reads a request body of at most max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(max)))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &httpError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("body exceeds %d bytes", max)}
	}
	if err != nil {
		return nil, &httpError{status: http.StatusBadRequest, code: "bad_body", msg: "reading the body failed"}
	}
	return b, nil
}

func (s *Server) handlePostUpdate(w http.ResponseWriter, r *http.Request) {
	id, who, ok := s.docRequest(w, r)
	if !ok {
		return
	}
	if m, ok := s.writeBody(w, r, who, true, false); ok {
		s.write(w, r, id, m)
	}
}

// writeBody reads the body of an HTTP write: an update (binary) or JSON edits, and returns the
// actor message that carries it (ifAbsent: only into a document without content, PUT's seeding).
// A body it refuses is answered, and counted, here.
func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, who principal, binary, ifAbsent bool) (func(reply chan writeResult) message, bool) {
	body, err := readBody(w, r, s.cfg.MaxMessageBytes)
	if err != nil {
		s.refuseErr(err)
		s.writeHTTPError(w, err)
		return nil, false
	}
	if binary {
		if len(body) == 0 {
			writeError(w, http.StatusBadRequest, "empty_body", "the body must hold an update")
			return nil, false
		}
		return func(reply chan writeResult) message {
			return httpUpdateMsg{who: who, data: body, reply: reply, ifAbsent: ifAbsent}
		}, true
	}
	req, err := parseEditRequest(body)
	if err != nil {
		s.writeHTTPError(w, err)
		return nil, false
	}
	return func(reply chan writeResult) message {
		return httpEditMsg{who: who, req: req, reply: reply, ifAbsent: ifAbsent}
	}, true
}

// write sends a write to the document's actor (starting it: a write may create the document) and
// answers once it is durable.
func (s *Server) write(w http.ResponseWriter, r *http.Request, id string, m func(reply chan writeResult) message) {
	res, _, err := call(r.Context(), s.docs, id, true, m)
	if err == nil {
		err = res.err
	}
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, writeResponse{StateVector: encodeSV(res.sv)})
}

func (s *Server) handlePostEdits(w http.ResponseWriter, r *http.Request) {
	id, who, ok := s.docRequest(w, r)
	if !ok {
		return
	}
	if m, ok := s.writeBody(w, r, who, false, false); ok {
		s.write(w, r, id, m)
	}
}

func (s *Server) handleDeleteDoc(w http.ResponseWriter, r *http.Request) {
	id, _, ok := s.writerRequest(w, r)
	if !ok {
		return
	}
	if err := s.known(id); err != nil {
		s.writeHTTPError(w, err)
		return
	}
	res, _, err := call(r.Context(), s.docs, id, true, func(reply chan error) message { return deleteMsg{reply: reply} })
	if err == nil {
		err = res
	}
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// editRequest is the body of POST /v1/docs/{id}/edits: text edits to one Text root, applied in
// order (each index relative to the text the previous edit left), and map changes to one Map root.
//
//	{"root": "body", "edits": [{"index": 0, "delete": 0, "insert": "hi"}],
//	 "map": {"root": "meta", "set": {"title": "Notes"}, "delete": ["draft"]}}
type editRequest struct {
	Root  string     `json:"root"`
	Edits []textEdit `json:"edits"`
	Map   *mapEdit   `json:"map"`
}

// textEdit is one edit of a Text root at Index (positions count code points, an embed one):
// delete Delete positions, then insert Insert or the embed Embed there; or set the marks of
// Format over Length positions; or set the attributes Attrs of the embed at Index
// (richedits.go, docs/richtext.md).
type textEdit struct {
	Index  int    `json:"index"`
	Delete int    `json:"delete"`
	Insert string `json:"insert"`
	// Embed is the JSON value of an embed to insert (a block marker, an inline object).
	Embed json.RawMessage `json:"embed"`
	// Length is how many positions Format covers.
	Length int `json:"length"`
	// Format maps mark names to values; null removes the mark.
	Format map[string]json.RawMessage `json:"format"`
	// Expand is "none", "before", "after" or "both"; empty means the name's default.
	Expand string `json:"expand"`
	// Attrs maps attribute keys of the embed at Index to values.
	Attrs map[string]json.RawMessage `json:"attrs"`
}

// mapEdit sets and deletes keys of one Map root. A key may not be both set and deleted.
type mapEdit struct {
	Root   string                     `json:"root"`
	Set    map[string]json.RawMessage `json:"set"`
	Delete []string                   `json:"delete"`
}

func badEdit(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, code: "bad_edit", msg: fmt.Sprintf(format, args...)}
}

// parseEditRequest decodes and checks an edit request on its own (checks against the document's
// text come later, in the actor).
func parseEditRequest(body []byte) (*editRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req editRequest
	if err := dec.Decode(&req); err != nil {
		return nil, &httpError{status: http.StatusBadRequest, code: "bad_json", msg: "bad JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &httpError{status: http.StatusBadRequest, code: "bad_json", msg: "bad JSON: data after the object"}
	}
	if len(req.Edits) == 0 && req.Map == nil {
		return nil, badEdit("nothing to do: give edits, map or both")
	}
	if len(req.Edits) > 0 && !validRootName(req.Root) {
		return nil, badEdit("root must name a Text root (1 to %d bytes)", crdt.MaxRootNameBytes)
	}
	for i := range req.Edits {
		if err := req.Edits[i].validate(i); err != nil {
			return nil, err
		}
	}
	if m := req.Map; m != nil {
		if !validRootName(m.Root) {
			return nil, badEdit("map.root must name a Map root (1 to %d bytes)", crdt.MaxRootNameBytes)
		}
		if len(m.Set) == 0 && len(m.Delete) == 0 {
			return nil, badEdit("map: nothing to set or delete")
		}
		for k, v := range m.Set {
			if len(k) > crdt.MaxKeyBytes {
				return nil, badEdit("map.set: key of %d bytes (max %d)", len(k), crdt.MaxKeyBytes)
			}
			if len(v) > crdt.MaxValueBytes {
				return nil, badEdit("map.set[%q]: value of %d bytes (max %d)", k, len(v), crdt.MaxValueBytes)
			}
		}
		for _, k := range m.Delete {
			if _, ok := m.Set[k]; ok {
				return nil, badEdit("map: key %q is both set and deleted", k)
			}
			if len(k) > crdt.MaxKeyBytes {
				return nil, badEdit("map.delete: key of %d bytes (max %d)", len(k), crdt.MaxKeyBytes)
			}
		}
	}
	return &req, nil
}

func validRootName(s string) bool {
	return len(s) >= 1 && len(s) <= crdt.MaxRootNameBytes && utf8.ValidString(s)
}

// check verifies the text edits against the document: each must fall inside the text that the
// previous ones leave.
func (e *editRequest) check(doc *crdt.Doc) error {
	if len(e.Edits) == 0 {
		return nil
	}
	return checkEdits(doc.Text(e.Root), e.Edits)
}

// size estimates how many bytes the edits add to the document.
func (e *editRequest) size() int {
	n := 0
	for _, ed := range e.Edits {
		n += ed.size()
	}
	if e.Map != nil {
		for k, v := range e.Map.Set {
			n += len(k) + len(v) + 16
		}
		for _, k := range e.Map.Delete {
			n += len(k) + 16
		}
	}
	return n
}

// apply makes the edits in doc (checked before).
func (e *editRequest) apply(doc *crdt.Doc) error {
	if len(e.Edits) > 0 {
		t := doc.Text(e.Root)
		for i, ed := range e.Edits {
			if err := ed.apply(t); err != nil {
				return fmt.Errorf("edits[%d]: %w", i, err)
			}
		}
	}
	if m := e.Map; m != nil {
		mp := doc.Map(m.Root)
		keys := make([]string, 0, len(m.Set))
		for k := range m.Set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := mp.Set(k, m.Set[k]); err != nil {
				return fmt.Errorf("map.set[%q]: %w", k, err)
			}
		}
		for _, k := range m.Delete {
			if _, ok := mp.Get(k); !ok {
				continue
			}
			if err := mp.Delete(k); err != nil {
				return fmt.Errorf("map.delete[%q]: %w", k, err)
			}
		}
	}
	return nil
}
