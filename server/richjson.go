package server

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/tandemhq/tandem/crdt"
)

// Rich text as ProseMirror JSON (docs/richtext.md). A rich Text root is a flat sequence: block
// markers (embeds {"block": TYPE, ...}) open blocks, inline embeds and marked text fill them. The
// tree that GET /v1/docs/{id} returns is derived from it by one pass that keeps a stack of open
// containers (lists, list items, blockquotes), so the same spans always give the same document,
// and what a schema cannot hold is normalised here, never written back.

// pmNode is a ProseMirror node in its JSON form (Node.toJSON).
type pmNode struct {
	Type    string                     `json:"type"`
	Attrs   map[string]json.RawMessage `json:"attrs,omitempty"`
	Content []*pmNode                  `json:"content,omitempty"`
	Text    string                     `json:"text,omitempty"`
	Marks   []pmMark                   `json:"marks,omitempty"`
}

// pmMark is a ProseMirror mark in its JSON form (Mark.toJSON).
type pmMark struct {
	Type  string                     `json:"type"`
	Attrs map[string]json.RawMessage `json:"attrs,omitempty"`
}

// markTypes maps CRDT mark names to the mark types of prosemirror-schema-basic where the two
// differ; every other name is its own type.
var markTypes = map[string]string{"bold": "strong", "italic": "em"}

// commentPrefix starts the mark name of a comment thread (docs/crdt.md section 4.2).
const commentPrefix = "comment:"

// isRich reports whether spans hold an embed or a mark: such a root is returned as a ProseMirror
// document beside its text.
func isRich(spans []crdt.Span) bool {
	for _, s := range spans {
		if s.Embed != nil || len(s.Marks) > 0 {
			return true
		}
	}
	return false
}

// pmMarks converts a span's marks, ordered by CRDT name so that the output is deterministic.
func pmMarks(marks map[string]json.RawMessage) []pmMark {
	if len(marks) == 0 {
		return nil
	}
	names := make([]string, 0, len(marks))
	for n := range marks {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]pmMark, 0, len(names))
	for _, n := range names {
		out = append(out, pmMarkOf(n, marks[n]))
	}
	return out
}

// pmMarkOf converts one mark: its type from markTypes (a comment thread is type comment with
// its thread ID in attrs.id), its attrs the fields of an object value, nothing for true, and
// any other value as attrs.value.
func pmMarkOf(name string, value json.RawMessage) pmMark {
	m := pmMark{Type: name}
	if t, ok := markTypes[name]; ok {
		m.Type = t
	}
	if obj, ok := jsonObject(value); ok {
		m.Attrs = obj
	} else if string(value) != "true" {
		m.Attrs = map[string]json.RawMessage{"value": value}
	}
	if id, ok := strings.CutPrefix(name, commentPrefix); ok {
		m.Type = "comment"
		if m.Attrs == nil {
			m.Attrs = map[string]json.RawMessage{}
		}
		m.Attrs["id"] = jsonString(id)
	}
	return m
}

// jsonObject decodes v as a JSON object, reporting false for any other value.
func jsonObject(v json.RawMessage) (map[string]json.RawMessage, bool) {
	if len(v) == 0 || v[0] != '{' {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(v, &obj); err != nil {
		return nil, false
	}
	return obj, true
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// embedValue is an embed's effective value as an object: its JSON with each winning attribute
// replacing its key (docs/crdt.md section 4.3). A value that is not an object reports false.
func embedValue(s crdt.Span) (map[string]json.RawMessage, bool) {
	obj, ok := jsonObject(s.Embed)
	if !ok {
		return nil, false
	}
	for k, v := range s.Attrs {
		obj[k] = v
	}
	return obj, true
}

// stringField returns obj[key] if it is a JSON string.
func stringField(obj map[string]json.RawMessage, key string) (string, bool) {
	var s string
	if v, ok := obj[key]; !ok || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// attrsWithout returns obj without the given keys and without null values (null unsets an
// attribute by convention), nil when nothing is left.
func attrsWithout(obj map[string]json.RawMessage, drop ...string) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for k, v := range obj {
		if string(v) == "null" || slices.Contains(drop, k) {
			continue
		}
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		out[k] = v
	}
	return out
}

// richBlock is a block marker's effective value and the inline content up to the next marker.
type richBlock struct {
	kind    string
	attrs   map[string]json.RawMessage // the marker's keys but block and parents
	parents []string
	inline  []*pmNode
}

// pmInline converts a non-block span to inline nodes: text with marks, or an inline embed
// ({"inline": TYPE, ...} becomes a node of that type, its other keys attrs). An embed that is
// neither a block marker nor an inline object becomes an "embed" node holding its value.
func pmInline(s crdt.Span) *pmNode {
	if s.Embed == nil {
		return &pmNode{Type: "text", Text: s.Insert, Marks: pmMarks(s.Marks)}
	}
	n := &pmNode{Marks: pmMarks(s.Marks)}
	if obj, ok := embedValue(s); ok {
		if t, ok := stringField(obj, "inline"); ok && t != "" {
			n.Type, n.Attrs = t, attrsWithout(obj, "inline")
			return n
		}
	}
	v := s.Embed
	if obj, ok := embedValue(s); ok {
		v, _ = json.Marshal(obj) // an object of raw values always encodes
	}
	n.Type, n.Attrs = "embed", map[string]json.RawMessage{"value": v}
	return n
}

// richBlocks splits spans into blocks at block markers. Content before the first marker is an
// implicit paragraph, present when it is not empty or there is no marker at all.
func richBlocks(spans []crdt.Span) []richBlock {
	var blocks []richBlock
	cur := &richBlock{kind: "paragraph"}
	implicit := true
	for _, s := range spans {
		if s.Embed != nil {
			if obj, ok := embedValue(s); ok {
				if kind, ok := stringField(obj, "block"); ok && kind != "" {
					if !implicit || len(cur.inline) > 0 {
						blocks = append(blocks, *cur)
					}
					implicit = false
					cur = &richBlock{kind: kind, attrs: attrsWithout(obj, "block", "parents")}
					if p, ok := obj["parents"]; ok {
						_ = json.Unmarshal(p, &cur.parents) // not a list of strings: no parents
					}
					continue
				}
			}
		}
		if s.Embed == nil && s.Insert == "" {
			continue
		}
		cur.inline = append(cur.inline, pmInline(s))
	}
	return append(blocks, *cur)
}

// pmFrame is an open container while the tree is built.
type pmFrame struct {
	node *pmNode
	kind string // "list", "list_item", "blockquote" or a container type of the application's
	list string // a list's kind: "bullet", "ordered" or "task"
}

// pmWant is a container that a block needs around it.
type pmWant struct {
	kind  string
	list  string // for a list: the kind wanted, "" for any
	fresh bool   // a new container even if one of its kind is open (each list item its own)
}

// listType is the node type of a list of the given kind.
func listType(kind string) string {
	switch kind {
	case "ordered":
		return "ordered_list"
	case "task":
		return "task_list"
	}
	return "bullet_list"
}

// richDoc builds the ProseMirror document of a rich Text root from its spans.
func richDoc(spans []crdt.Span) *pmNode {
	doc := &pmNode{Type: "doc"}
	var stack []pmFrame
	parent := func() *pmNode {
		if len(stack) == 0 {
			return doc
		}
		return stack[len(stack)-1].node
	}
	// add appends a child, keeping a list item's first child a paragraph as the list schema
	// requires.
	add := func(p, child *pmNode) {
		if (p.Type == "list_item" || p.Type == "task_item") && len(p.Content) == 0 && child.Type != "paragraph" {
			p.Content = append(p.Content, &pmNode{Type: "paragraph"})
		}
		p.Content = append(p.Content, child)
	}
	for _, b := range richBlocks(spans) {
		var want []pmWant
		for _, p := range b.parents {
			if p == "list_item" {
				want = append(want, pmWant{kind: "list"}, pmWant{kind: "list_item"})
			} else {
				want = append(want, pmWant{kind: p})
			}
		}
		leaf := &pmNode{Type: b.kind, Attrs: b.attrs, Content: b.inline}
		own := -1 // the container that takes the marker's attributes, if not the leaf
		switch b.kind {
		case "list_item":
			list, _ := stringField(b.attrs, "list")
			if list == "" {
				list = "bullet"
			}
			want = append(want, pmWant{kind: "list", list: list}, pmWant{kind: "list_item", fresh: true})
			leaf, own = &pmNode{Type: "paragraph", Content: b.inline}, len(want)-1
		case "blockquote":
			// Consecutive quoted blocks share one blockquote, as consecutive items share a list.
			want = append(want, pmWant{kind: "blockquote"})
			leaf, own = &pmNode{Type: "paragraph", Content: b.inline}, len(want)-1
		case "code_block":
			leaf.Content = codeContent(b.inline)
		}
		keep := 0
		for keep < len(stack) && keep < len(want) {
			f, w := stack[keep], want[keep]
			if w.fresh || f.kind != w.kind || (w.list != "" && w.list != f.list) {
				break
			}
			keep++
		}
		stack = stack[:keep]
		for i := keep; i < len(want); i++ {
			w := want[i]
			f := pmFrame{kind: w.kind}
			switch w.kind {
			case "list":
				f.list = w.list
				if f.list == "" {
					f.list = "bullet"
				}
				f.node = &pmNode{Type: listType(f.list)}
			case "list_item":
				f.node = &pmNode{Type: "list_item"}
				if len(stack) > 0 && stack[len(stack)-1].list == "task" {
					f.node.Type = "task_item"
				}
			default:
				f.node = &pmNode{Type: w.kind}
			}
			if i == own {
				f.node.Attrs = attrsWithout(b.attrs, "list")
			}
			add(parent(), f.node)
			stack = append(stack, f)
		}
		add(parent(), leaf)
	}
	return doc
}

// codeContent is a code block's inline content as its schema holds it: text without marks,
// hard breaks as newlines, other inline nodes left out.
func codeContent(inline []*pmNode) []*pmNode {
	var sb strings.Builder
	for _, n := range inline {
		switch n.Type {
		case "text":
			sb.WriteString(n.Text)
		case "hard_break":
			sb.WriteByte('\n')
		}
	}
	if sb.Len() == 0 {
		return nil
	}
	return []*pmNode{{Type: "text", Text: sb.String()}}
}
