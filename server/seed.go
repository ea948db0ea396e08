package server

import (
	"mime"
	"net/http"
)

// Seeding. Every collaborative editor meets the same trap: each client that opens an empty
// document types the initial content into it, and two clients opening it at once each add their
// own copy. The cure is to seed on the server, once: PUT /v1/docs/{id} applies its content only if
// the document has none, and says which happened. The document's actor takes writes one at a
// time, so the test and the write are one step: of any number of racing seeders, exactly one gets
// 201 {"created": true}; the others get 200 {"created": false} and change nothing, and neither is
// an error, so a client may seed every time it opens a document.
//
// The body is what POST /v1/docs/{id}/edits takes (JSON text edits and map changes), or, with
// Content-Type application/octet-stream, an update as POST /v1/docs/{id}/update takes it.

// seedResponse is the body of PUT /v1/docs/{id}.
type seedResponse struct {
	// Created: this request's content made the document; false: it had content already, and
	// nothing was changed.
	Created bool `json:"created"`
	// StateVector is the document's state vector afterwards, base64url.
	StateVector string `json:"stateVector"`
}

func (s *Server) handleSeed(w http.ResponseWriter, r *http.Request) {
	id, who, ok := s.writerRequest(w, r)
	if !ok {
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	build, ok := s.writeBody(w, r, who, mt == "application/octet-stream", true)
	if !ok {
		return
	}
	res, _, err := call(r.Context(), s.docs, id, true, build)
	if err == nil {
		err = res.err
	}
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	status := http.StatusCreated
	if res.existed {
		status = http.StatusOK
	}
	writeJSON(w, status, seedResponse{Created: !res.existed, StateVector: encodeSV(res.sv)})
}
