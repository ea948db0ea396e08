package crdttest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
