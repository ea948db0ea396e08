package crdttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tandemhq/tandem/crdt"
)

// expands names the Expand values in scenario commands.
var expands = map[string]crdt.Expand{
	"none": crdt.ExpandNone, "before": crdt.ExpandBefore, "after": crdt.ExpandAfter, "both": crdt.ExpandBoth,
}

// execRich runs the rich-text commands: embed, format, unformat, attr, spans.
func (r *Runner) execRich(c *Command, d *crdt.Doc, name string, fail func(error) error) error {
	a := c.args
	switch c.Name {
	case "embed":
		pos, err := atoi(a[2])
		if err != nil {
			return err
		}
		return fail(d.Text(a[1].val).InsertEmbed(pos, []byte(c.rest)))
	case "format", "unformat":
		pos, err := atoi(a[2])
		if err != nil {
			return err
		}
		n, err := atoi(a[3])
		if err != nil {
			return err
		}
		exp, ok := expands[a[5].raw]
		if !ok {
			return fmt.Errorf("expand %q: want none, before, after or both", a[5].raw)
		}
		var v json.RawMessage
		if c.Name == "format" {
			v = []byte(c.rest)
		}
		return fail(d.Text(a[1].val).Format(pos, n, a[4].val, v, exp))
	case "attr":
		pos, err := atoi(a[2])
		if err != nil {
			return err
		}
		return fail(d.Text(a[1].val).SetAttr(pos, a[3].val, []byte(c.rest)))
	case "spans":
		r.emit(name+" "+a[1].raw, SpansJSON(d.Text(a[1].val).Spans()))
	}
	return nil
}

// SpansJSON writes spans as the scenarios print them (docs/crdt.md section
// 4.5): a JSON array, object keys sorted by their UTF-8 bytes, values as
// stored, empty maps left out.
func SpansJSON(spans []crdt.Span) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range spans {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		sep := ""
		if s.Embed != nil {
			if len(s.Attrs) > 0 {
				b.WriteString(`"attrs":`)
				writeObject(&b, s.Attrs)
				sep = ","
			}
			b.WriteString(sep + `"embed":`)
			b.Write(s.Embed)
		} else {
			b.WriteString(`"insert":` + Quote(s.Insert))
		}
		if len(s.Marks) > 0 {
			b.WriteString(`,"marks":`)
			writeObject(&b, s.Marks)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String()
}

func writeObject(b *strings.Builder, m map[string]json.RawMessage) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(Quote(k) + ":")
		b.Write(m[k])
	}
	b.WriteByte('}')
}

// cell is one visible position of a text with its formatting, to check the
// rich changes an Apply reports.
type cell struct {
	r     rune
	embed string
	marks map[string]string
	attrs map[string]string
	fresh bool // inserted by the change: its formatting is read, not derived
}

func (c cell) equal(o cell) bool {
	return c.r == o.r && c.embed == o.embed && maps.Equal(c.marks, o.marks) && maps.Equal(c.attrs, o.attrs)
}

// cells expands spans into one cell per position.
func cells(spans []crdt.Span) []cell {
	var out []cell
	conv := func(m map[string]json.RawMessage) map[string]string {
		if len(m) == 0 {
			return nil
		}
		o := make(map[string]string, len(m))
		for k, v := range m {
			o[k] = string(v)
		}
		return o
	}
	for _, s := range spans {
		marks := conv(s.Marks)
		if s.Embed != nil {
			out = append(out, cell{r: '\uFFFC', embed: string(s.Embed), marks: marks, attrs: conv(s.Attrs)})
			continue
		}
		for _, r := range s.Insert {
			out = append(out, cell{r: r, marks: marks})
		}
	}
	return out
}

// checkRichChange checks that the edits, formats and attributes of c turn
// before into after: the positions c inserted take their formatting from
// after (docs/crdt.md section 4.5); every other position must come out right.
func checkRichChange(before, after []cell, c crdt.Change) error {
	cur := slices.Clone(before)
	for _, e := range c.Edits {
		if e.Pos+e.Delete > len(cur) {
			return fmt.Errorf("edit %+v out of range", e)
		}
		var ins []cell
		for _, r := range e.Insert {
			ins = append(ins, cell{r: r, fresh: true})
		}
		cur = slices.Concat(cur[:e.Pos], ins, cur[e.Pos+e.Delete:])
	}
	if len(cur) != len(after) {
		return fmt.Errorf("edits give %d positions, the text has %d", len(cur), len(after))
	}
	for i := range cur {
		if cur[i].fresh {
			cur[i] = after[i]
		} else {
			cur[i].marks, cur[i].attrs = maps.Clone(cur[i].marks), maps.Clone(cur[i].attrs)
		}
	}
	for _, f := range c.Formats {
		if f.Pos < 0 || f.Len <= 0 || f.Pos+f.Len > len(cur) {
			return fmt.Errorf("format %+v out of range", f)
		}
		for i := f.Pos; i < f.Pos+f.Len; i++ {
			if f.Value == nil {
				delete(cur[i].marks, f.Name)
				continue
			}
			if cur[i].marks == nil {
				cur[i].marks = map[string]string{}
			}
			cur[i].marks[f.Name] = string(f.Value)
		}
	}
	for _, a := range c.Attrs {
		if a.Pos < 0 || a.Pos >= len(cur) || cur[a.Pos].embed == "" {
			return fmt.Errorf("attribute %+v not on an embed", a)
		}
		if cur[a.Pos].attrs == nil {
			cur[a.Pos].attrs = map[string]string{}
		}
		cur[a.Pos].attrs[a.Key] = string(a.Value)
	}
	for i := range cur {
		if len(cur[i].marks) == 0 {
			cur[i].marks = nil
		}
		if len(cur[i].attrs) == 0 {
			cur[i].attrs = nil
		}
		if !cur[i].equal(after[i]) {
			return fmt.Errorf("position %d: the reported changes give %+v, the text has %+v (formats %+v, attrs %+v)", i, cur[i], after[i], c.Formats, c.Attrs)
		}
	}
	return nil
}

// Random rich edits draw from these.
var (
	richEmbeds = []string{`{"block":"paragraph"}`, `{"block":"heading","level":1}`, `{"block":"list_item","list":"bullet"}`,
		`{"inline":"image","src":"a.png"}`, `{"inline":"hard_break"}`}
	richMarks = []struct {
		name   string
		expand string
		values []string
	}{
		{"bold", "after", []string{"true"}},
		{"italic", "after", []string{"true"}},
		{"link", "none", []string{`{"href":"a"}`, `{"href":"b"}`}},
		{"comment:1", "none", []string{`{"by":"x"}`}},
		{"comment:2", "none", []string{`{"by":"y"}`}},
	}
	richAttrs = []struct{ key, value string }{{"level", "2"}, {"level", "3"}, {"block", `"heading"`}, {"parents", `["list_item"]`}}
)

// richEdit makes a random embed, mark, unmark or attribute edit on replica r.
func (s *Sim) richEdit(r int, root string, t *crdt.Text) error {
	rng := s.ops
	n := t.Len()
	switch p := rng.IntN(100); {
	case p < 30 || n == 0:
		pos, v := rng.IntN(n+1), richEmbeds[rng.IntN(len(richEmbeds))]
		s.record("embed r%d %s %d %s", r, root, pos, v)
		return t.InsertEmbed(pos, []byte(v))
	case p < 80:
		m := richMarks[rng.IntN(len(richMarks))]
		pos := rng.IntN(n)
		k := 1 + rng.IntN(min(n-pos, 12))
		if p < 65 {
			v := m.values[rng.IntN(len(m.values))]
			s.record("format r%d %s %d %d %s %s %s", r, root, pos, k, Quote(m.name), m.expand, v)
			return t.Format(pos, k, m.name, []byte(v), expands[m.expand])
		}
		s.record("unformat r%d %s %d %d %s %s", r, root, pos, k, Quote(m.name), m.expand)
		return t.Format(pos, k, m.name, nil, expands[m.expand])
	default:
		var at []int
		pos := 0
		for _, sp := range t.Spans() {
			if sp.Embed != nil {
				at = append(at, pos)
				pos++
			} else {
				pos += utf8.RuneCountInString(sp.Insert)
			}
		}
		if len(at) == 0 {
			return nil
		}
		a := richAttrs[rng.IntN(len(richAttrs))]
		pos = at[rng.IntN(len(at))]
		s.record("attr r%d %s %d %s %s", r, root, pos, Quote(a.key), a.value)
		return t.SetAttr(pos, a.key, []byte(a.value))
	}
}

func errorsIsNotEmbed(err error) bool { return errors.Is(err, crdt.ErrNotEmbed) }
