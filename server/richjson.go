package server

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/tandemhq/tandem/crdt"
)

// Rich text as ProseMirror JSON (docs/richtext.md). A rich Text root is a flat sequence: block
// markers (embeds {"block": TYPE, ...}) open textblocks, inline embeds and marked text fill them.
// The tree that GET /v1/docs/{id} returns is derived from the spans alone, as the JavaScript
// binding derives its editor's document (client-js/src/bindings/prosemirror-mapping.js): one pass
// keeps a stack of open containers and builds a tree of frames, a second turns frames into nodes,
// grouping list items into lists and unwrapping what the list schema would refuse. Nothing is
// written back.

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

// markRank orders the marks of prosemirror-schema-basic as its schema does; other marks follow,
// by CRDT name, so that the output is deterministic (ProseMirror sorts marks by rank on load).
var markRank = map[string]int{"link": 1, "italic": 2, "bold": 3, "code": 4}

// pmMarks converts a span's marks. A mark whose value is null or false is no mark.
func pmMarks(marks map[string]json.RawMessage) []pmMark {
	names := make([]string, 0, len(marks))
	for n, v := range marks {
		if s := string(v); s != "null" && s != "false" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := markRank[names[i]], markRank[names[j]]
		if ri == 0 {
			ri = len(markRank) + 1
		}
		if rj == 0 {
			rj = len(markRank) + 1
		}
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	out := make([]pmMark, 0, len(names))
	for _, n := range names {
		out = append(out, pmMarkOf(n, marks[n]))
	}
	return out
}

// pmMarkOf converts one mark: its type from markTypes (a comment thread is type comment with
// its thread ID in attrs.id), its attrs the fields of an object value, none for any other value.
func pmMarkOf(name string, value json.RawMessage) pmMark {
	m := pmMark{Type: name}
	if t, ok := markTypes[name]; ok {
		m.Type = t
	}
	if obj, ok := jsonObject(value); ok && len(obj) > 0 {
		m.Attrs = obj
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

// reservedKeys are the keys of a marker that are not node attributes (docs/richtext.md section 1).
var reservedKeys = []string{"block", "inline", "parents", "fresh", "list", "listAttrs", "listStart", "paragraph"}

// containers are the block types whose marker opens a container holding a paragraph, rather than
// a textblock.
var containers = map[string]bool{"list_item": true, "blockquote": true}

// pmFrame is a container or a textblock while the tree is built: containers hold frames,
// textblocks inline nodes.
type pmFrame struct {
	typ   string
	attrs map[string]json.RawMessage
	list  string // a list item's list kind
	// listAttrs and listStart are a list item's: the attributes of the list it opens, when it is
	// the list's first item, and whether it starts a new list after one of its kind.
	listAttrs map[string]json.RawMessage
	listStart bool
	children  []*pmFrame
	text      bool // a textblock
	inline    []crdt.Span
}

// richDoc builds the ProseMirror document of a rich Text root from its spans: a tree of frames,
// each marker opening a textblock (inside a new container for a container type) under the
// containers that its parents name, reusing the open ones that match; then the nodes, list items
// grouped in lists and containers whose content the schema would refuse unwrapped.
func richDoc(spans []crdt.Span) *pmNode {
	root := &pmFrame{}
	var stack []*pmFrame
	var block *pmFrame
	top := func() *pmFrame {
		if len(stack) == 0 {
			return root
		}
		return stack[len(stack)-1]
	}
	open := func(marker map[string]json.RawMessage) {
		if marker == nil {
			block = &pmFrame{typ: "paragraph", text: true}
			root.children = append(root.children, block)
			return
		}
		var parents []string
		if p, ok := marker["parents"]; ok {
			var raw []json.RawMessage
			_ = json.Unmarshal(p, &raw) // not a list: no parents
			for _, r := range raw {
				var s string
				if json.Unmarshal(r, &s) == nil {
					parents = append(parents, s)
				}
			}
		}
		fresh := -1 // how many open containers the marker may reuse; -1: all that match
		if f, ok := marker["fresh"]; ok {
			var n float64
			if json.Unmarshal(f, &n) == nil && n >= 0 {
				fresh = int(n)
			}
		}
		keep := 0
		for keep < len(parents) && keep < len(stack) && (fresh < 0 || keep < fresh) && stack[keep].typ == parents[keep] {
			keep++
		}
		stack = stack[:keep]
		for _, p := range parents[keep:] {
			f := &pmFrame{typ: p}
			if p == "list_item" {
				f.list = "bullet"
			}
			top().children = append(top().children, f)
			stack = append(stack, f)
		}
		name, _ := stringField(marker, "block")
		attrs := attrsWithout(marker, reservedKeys...)
		if containers[name] {
			f := &pmFrame{typ: name, attrs: attrs}
			if name == "list_item" {
				f.list, _ = stringField(marker, "list")
				if f.list == "" {
					f.list = "bullet"
				}
				la, _ := jsonObject(marker["listAttrs"])
				f.listAttrs = attrsWithout(la)
				f.listStart = string(marker["listStart"]) == "true"
			}
			top().children = append(top().children, f)
			stack = append(stack, f)
			pa, _ := jsonObject(marker["paragraph"])
			block = &pmFrame{typ: "paragraph", attrs: attrsWithout(pa), text: true}
		} else {
			block = &pmFrame{typ: name, attrs: attrs, text: true}
		}
		top().children = append(top().children, block)
	}
	for _, s := range spans {
		if s.Embed != nil {
			if obj, ok := embedValue(s); ok {
				if kind, ok := stringField(obj, "block"); ok && kind != "" {
					open(obj)
					continue
				}
			}
		}
		if s.Embed == nil && s.Insert == "" {
			continue
		}
		if block == nil {
			open(nil)
		}
		block.inline = append(block.inline, s)
	}
	if block == nil {
		open(nil)
	}
	return &pmNode{Type: "doc", Content: buildNodes(root.children)}
}

// listType and itemType are the node types of a list of the given kind and of its items.
func listType(kind string) (list, item string) {
	switch kind {
	case "ordered":
		return "ordered_list", "list_item"
	case "task":
		return "task_list", "task_item"
	}
	return "bullet_list", "list_item"
}

// buildNodes turns frames into nodes: consecutive list items of one kind share a list, unless an
// item's marker starts a new one (listStart), the list's attributes being those its first item's
// marker carries (listAttrs); a list
// item whose first child would not be a paragraph (the list schema's "paragraph block*") and a
// container left empty are unwrapped, their children taking their place.
func buildNodes(frames []*pmFrame) []*pmNode {
	var out []*pmNode
	for i := 0; i < len(frames); i++ {
		f := frames[i]
		switch {
		case f.text:
			out = append(out, textblock(f))
		case f.typ == "list_item":
			listT, itemT := listType(f.list)
			var items []*pmNode
			flush := func() {
				if len(items) > 0 {
					out = append(out, &pmNode{Type: listT, Attrs: f.listAttrs, Content: items})
					items = nil
				}
			}
			j := i
			for ; j < len(frames) && !frames[j].text && frames[j].typ == "list_item" && frames[j].list == f.list && (j == i || !frames[j].listStart); j++ {
				kids := buildNodes(frames[j].children)
				if len(kids) == 0 || kids[0].Type != "paragraph" {
					flush()
					out = append(out, kids...)
					continue
				}
				items = append(items, &pmNode{Type: itemT, Attrs: frames[j].attrs, Content: kids})
			}
			i = j - 1
			flush()
		default:
			kids := buildNodes(f.children)
			if len(kids) == 0 {
				continue
			}
			out = append(out, &pmNode{Type: f.typ, Attrs: f.attrs, Content: kids})
		}
	}
	return out
}

// textblock builds one textblock. A horizontal rule is a leaf: with text after its marker (after
// a merge), it shows as a paragraph. A code block holds text alone: its marks are left out, and
// inline objects become U+FFFC.
func textblock(f *pmFrame) *pmNode {
	n := &pmNode{Type: f.typ, Attrs: f.attrs}
	if f.typ == "horizontal_rule" {
		if len(f.inline) == 0 {
			return n
		}
		n = &pmNode{Type: "paragraph"}
	}
	if f.typ == "code_block" {
		var sb strings.Builder
		for _, s := range f.inline {
			if s.Embed != nil {
				sb.WriteRune('\uFFFC')
			} else {
				sb.WriteString(s.Insert)
			}
		}
		if sb.Len() > 0 {
			n.Content = []*pmNode{{Type: "text", Text: sb.String()}}
		}
		return n
	}
	for _, s := range f.inline {
		n.Content = append(n.Content, pmInline(s))
	}
	return n
}

// pmInline converts a span of a textblock: text with its marks, or an inline object
// ({"inline": TYPE, ...} becomes a node of that type, its other keys attrs). An embed that is
// neither a block marker nor an inline object becomes an "embed" node holding its value, so that
// it round-trips (a binding shows it as U+FFFC).
func pmInline(s crdt.Span) *pmNode {
	if s.Embed == nil {
		return &pmNode{Type: "text", Text: s.Insert, Marks: pmMarks(s.Marks)}
	}
	n := &pmNode{Marks: pmMarks(s.Marks)}
	obj, isObj := embedValue(s)
	if t, ok := stringField(obj, "inline"); isObj && ok && t != "" {
		n.Type, n.Attrs = t, attrsWithout(obj, reservedKeys...)
		return n
	}
	v := s.Embed
	if isObj {
		v, _ = json.Marshal(obj) // an object of raw values always encodes
	}
	n.Type, n.Attrs = "embed", map[string]json.RawMessage{"value": v}
	return n
}
