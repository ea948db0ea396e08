package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"unicode/utf8"

	"github.com/tandemhq/tandem/crdt"
)

// The edits of POST /v1/docs/{id}/edits on a Text root (docs/richtext.md): replacements (delete,
// then insert text or an embed), marks over a range, attributes of an embed. Each index is
// relative to the text the previous edits leave, so that a request reads as a script.

// expands names the expand values of the JSON API.
var expands = map[string]crdt.Expand{
	"none":   crdt.ExpandNone,
	"before": crdt.ExpandBefore,
	"after":  crdt.ExpandAfter,
	"both":   crdt.ExpandBoth,
}

// growingMarks are the mark names that grow at their end unless the edit says otherwise
// (docs/crdt.md section 4.2: bold and the like grow, links and comments do not).
var growingMarks = map[string]bool{"bold": true, "italic": true, "underline": true, "strike": true, "code": true}

// expandOf returns the expand a format edit writes for name.
func (e *textEdit) expandOf(name string) crdt.Expand {
	if e.Expand != "" {
		return expands[e.Expand]
	}
	if growingMarks[name] {
		return crdt.ExpandAfter
	}
	return crdt.ExpandNone
}

// validate checks edit i on its own: one kind of edit, with valid names and values.
func (e *textEdit) validate(i int) error {
	if e.Index < 0 || e.Delete < 0 || e.Length < 0 {
		return badEdit("edits[%d]: index, delete and length must not be negative", i)
	}
	replace := e.Delete > 0 || e.Insert != "" || e.Embed != nil
	kinds := 0
	for _, is := range []bool{replace, e.Format != nil, e.Attrs != nil} {
		if is {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return badEdit("edits[%d]: neither deletes, inserts, formats nor sets attributes", i)
	case kinds > 1:
		return badEdit("edits[%d]: give one of delete/insert/embed, format or attrs", i)
	case e.Insert != "" && e.Embed != nil:
		return badEdit("edits[%d]: insert and embed together: give one per edit", i)
	case e.Embed != nil && len(e.Embed) > crdt.MaxValueBytes:
		return badEdit("edits[%d]: embed of %d bytes (max %d)", i, len(e.Embed), crdt.MaxValueBytes)
	case e.Length > 0 && e.Format == nil:
		return badEdit("edits[%d]: length is for format", i)
	case e.Expand != "" && e.Format == nil:
		return badEdit("edits[%d]: expand is for format", i)
	}
	if e.Format != nil {
		if len(e.Format) == 0 || e.Length == 0 {
			return badEdit("edits[%d]: format needs at least one mark and a length of at least 1", i)
		}
		if _, ok := expands[e.Expand]; !ok && e.Expand != "" {
			return badEdit("edits[%d]: expand must be none, before, after or both", i)
		}
		for name, v := range e.Format {
			if name == "" || len(name) > crdt.MaxKeyBytes || !utf8.ValidString(name) {
				return badEdit("edits[%d]: format: mark name of %d bytes (1 to %d)", i, len(name), crdt.MaxKeyBytes)
			}
			if len(v) > crdt.MaxValueBytes {
				return badEdit("edits[%d]: format[%q]: value of %d bytes (max %d)", i, name, len(v), crdt.MaxValueBytes)
			}
		}
	}
	if e.Attrs != nil {
		if len(e.Attrs) == 0 {
			return badEdit("edits[%d]: attrs: nothing to set", i)
		}
		for k, v := range e.Attrs {
			if len(k) > crdt.MaxKeyBytes || !utf8.ValidString(k) {
				return badEdit("edits[%d]: attrs: key of %d bytes (max %d)", i, len(k), crdt.MaxKeyBytes)
			}
			if len(v) > crdt.MaxValueBytes {
				return badEdit("edits[%d]: attrs[%q]: value of %d bytes (max %d)", i, k, len(v), crdt.MaxValueBytes)
			}
		}
	}
	return nil
}

// size estimates how many bytes the edit adds to the document.
func (e *textEdit) size() int {
	n := len(e.Insert) + len(e.Embed) + 16
	for k, v := range e.Format {
		n += len(k) + len(v) + 16
	}
	for k, v := range e.Attrs {
		n += len(k) + len(v) + 16
	}
	return n
}

// sortedKeys returns the keys of m in ascending order, so that edits apply deterministically.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// apply makes the edit in t (checked before).
func (e *textEdit) apply(t *crdt.Text) error {
	if e.Delete > 0 {
		if err := t.Delete(e.Index, e.Delete); err != nil {
			return err
		}
	}
	if e.Insert != "" {
		if err := t.Insert(e.Index, e.Insert); err != nil {
			return err
		}
	}
	if e.Embed != nil {
		if err := t.InsertEmbed(e.Index, e.Embed); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(e.Format) {
		v := e.Format[name]
		if string(v) == "null" {
			v = nil // removes the mark
		}
		if err := t.Format(e.Index, e.Length, name, v, e.expandOf(name)); err != nil {
			return fmt.Errorf("format[%q]: %w", name, err)
		}
	}
	for _, key := range sortedKeys(e.Attrs) {
		if err := t.SetAttr(e.Index, key, e.Attrs[key]); err != nil {
			return fmt.Errorf("attrs[%q]: %w", key, err)
		}
	}
	return nil
}

// editPiece is a stretch of the text while a request is checked: positions of the text before
// the request (from at), or positions the request inserted (an embed, or code points).
type editPiece struct {
	orig  bool
	at, n int
	embed bool
}

// editModel follows a request's edits over the text they start from, without changing it, so
// that each edit is checked against the text the previous ones leave: ranges, and that
// attributes name an embed.
type editModel struct {
	t      *crdt.Text
	pieces []editPiece
	n      int
}

// cut splits the piece holding pos so that a piece starts there, and returns that piece's index.
func (m *editModel) cut(pos int) int {
	for i, at := 0, 0; i < len(m.pieces); i++ {
		p := m.pieces[i]
		switch {
		case at == pos:
			return i
		case pos < at+p.n:
			left, right := p, p
			left.n = pos - at
			right.n -= left.n
			right.at += left.n
			m.pieces = append(m.pieces[:i], append([]editPiece{left, right}, m.pieces[i+1:]...)...)
			return i + 1
		}
		at += p.n
	}
	return len(m.pieces)
}

// isEmbed reports whether position pos holds an embed.
func (m *editModel) isEmbed(pos int) bool {
	p := m.pieces[m.cut(pos)]
	if !p.orig {
		return p.embed
	}
	spans, err := m.t.Slice(p.at, 1)
	return err == nil && len(spans) == 1 && spans[0].Embed != nil
}

// replace deletes del positions at pos and inserts p there (n == 0: nothing).
func (m *editModel) replace(pos, del int, p editPiece) {
	i := m.cut(pos)
	j := m.cut(pos + del)
	var ins []editPiece
	if p.n > 0 {
		ins = []editPiece{p}
	}
	m.pieces = append(m.pieces[:i], append(ins, m.pieces[j:]...)...)
	m.n += p.n - del
}

// checkEdits checks edits in order against t: every range inside the text that the previous
// edits leave, every attribute on an embed.
func checkEdits(t *crdt.Text, edits []textEdit) error {
	m := &editModel{t: t, n: t.Len()}
	if m.n > 0 {
		m.pieces = []editPiece{{orig: true, n: m.n}}
	}
	for i, ed := range edits {
		outOfRange := func(what string, n int) error {
			return &httpError{status: http.StatusUnprocessableEntity, code: "out_of_range",
				msg: fmt.Sprintf("edits[%d]: index %d, %s %d: the text has %d positions there", i, ed.Index, what, n, m.n)}
		}
		switch {
		case ed.Format != nil:
			if ed.Index > m.n || ed.Length > m.n-ed.Index {
				return outOfRange("length", ed.Length)
			}
		case ed.Attrs != nil:
			if ed.Index >= m.n {
				return outOfRange("attrs at", ed.Index)
			}
			if !m.isEmbed(ed.Index) {
				return &httpError{status: http.StatusUnprocessableEntity, code: "not_embed",
					msg: fmt.Sprintf("edits[%d]: attrs: position %d holds no embed", i, ed.Index)}
			}
		default:
			if ed.Index > m.n || ed.Delete > m.n-ed.Index {
				return outOfRange("delete", ed.Delete)
			}
			p := editPiece{n: utf8.RuneCountInString(ed.Insert)}
			if ed.Embed != nil {
				p = editPiece{n: 1, embed: true}
			}
			m.replace(ed.Index, ed.Delete, p)
		}
	}
	return nil
}
