package crdttest

import (
	"math/rand/v2"

	"github.com/tandemhq/tandem/crdt"
)

// RichOpKind is the kind of an edit of a generated rich-text trace.
type RichOpKind uint8

// Rich-text trace edits.
const (
	RichInsert RichOpKind = iota // Text at Pos
	RichDelete                   // N positions at Pos
	RichEmbed                    // the embed Value at Pos (a block marker: a block split)
	RichFormat                   // the mark Name = Value (nil: remove) over N positions at Pos, with Expand
	RichAttr                     // the attribute Name = Value of the embed at Pos
)

// RichOp is one edit of a generated rich-text trace.
type RichOp struct {
	Kind   RichOpKind
	Pos, N int
	Text   string
	Name   string
	Value  []byte
	Expand crdt.Expand
}

// RichTrace generates a rich-text editing session of n edits from seed, like
// a person writing a formatted document: mostly typing a character at a
// time at a cursor that moves mostly forward, backspaces, new paragraphs
// (block markers), headings and list items (attributes), bold, italic, links
// and comments over recent words, and removals of marks.
func RichTrace(seed uint64, n int) []RichOp {
	rng := rand.New(rand.NewPCG(seed, 16))
	ops := make([]RichOp, 0, n)
	length, cur := 0, 0
	var blocks []int // rough positions of block markers, for attributes
	ops = append(ops, RichOp{Kind: RichEmbed, Pos: 0, Value: []byte(`{"block":"paragraph"}`)})
	length, cur = 1, 1
	blocks = append(blocks, 0)
	const letters = "etaoinshrdlucmfwypvbgkjqxz      ,."
	for len(ops) < n {
		switch p := rng.IntN(1000); {
		case p < 820:
			c := letters[rng.IntN(len(letters))]
			ops = append(ops, RichOp{Kind: RichInsert, Pos: cur, Text: string(c)})
			length, cur = length+1, cur+1
		case p < 900:
			if cur > 1 {
				ops = append(ops, RichOp{Kind: RichDelete, Pos: cur - 1, N: 1})
				length, cur = length-1, cur-1
			}
		case p < 915:
			ops = append(ops, RichOp{Kind: RichEmbed, Pos: cur, Value: []byte(`{"block":"paragraph"}`)})
			blocks = append(blocks, cur)
			length, cur = length+1, cur+1
		case p < 925:
			if at := blocks[rng.IntN(len(blocks))]; at < length {
				kinds := []string{`"heading"`, `"list_item"`, `"paragraph"`, `"blockquote"`}
				ops = append(ops, RichOp{Kind: RichAttr, Pos: at, Name: "block", Value: []byte(kinds[rng.IntN(len(kinds))])})
			}
		case p < 985:
			k := min(1+rng.IntN(12), cur)
			if k == 0 {
				continue
			}
			marks := []struct {
				name  string
				value string
				exp   crdt.Expand
			}{
				{"bold", "true", crdt.ExpandAfter}, {"italic", "true", crdt.ExpandAfter},
				{"link", `{"href":"https://example.com/x"}`, crdt.ExpandNone},
				{"comment:" + string(rune('a'+rng.IntN(26))), `{"by":"u"}`, crdt.ExpandNone},
			}
			m := marks[rng.IntN(len(marks))]
			var v []byte
			if rng.IntN(6) > 0 {
				v = []byte(m.value)
			}
			ops = append(ops, RichOp{Kind: RichFormat, Pos: cur - k, N: k, Name: m.name, Value: v, Expand: m.exp})
		default:
			cur = 1 + rng.IntN(length)
		}
	}
	return ops
}

// ApplyRich applies op to t as a local edit. Attributes on a position that
// holds no embed (a block marker since deleted) are skipped.
func ApplyRich(t *crdt.Text, op RichOp) error {
	switch op.Kind {
	case RichInsert:
		return t.Insert(op.Pos, op.Text)
	case RichDelete:
		return t.Delete(op.Pos, op.N)
	case RichEmbed:
		return t.InsertEmbed(op.Pos, op.Value)
	case RichFormat:
		return t.Format(op.Pos, op.N, op.Name, op.Value, op.Expand)
	case RichAttr:
		if err := t.SetAttr(op.Pos, op.Name, op.Value); err != nil && !errorsIsNotEmbed(err) {
			return err
		}
	}
	return nil
}
